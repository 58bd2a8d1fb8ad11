package merge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRows(t *testing.T) {
	tests := []struct {
		in   string
		want []RowRange
		err  string
	}{
		{"2-50,75,80-", []RowRange{{2, 50}, {75, 75}, {80, math.MaxInt}}, ""},
		{" 3 , 5-6 ", []RowRange{{3, 3}, {5, 6}}, ""},
		{"1", nil, "rows start at 2"},
		{"9-4", nil, "backwards"},
		{"x", nil, "not a row number"},
		{"2-y", nil, "not a row number"},
		{",", nil, "no row given"},
	}
	for _, tt := range tests {
		got, err := ParseRows(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRows(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRows(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in   string
		want Condition
		err  bool
	}{
		{"city=Lisbon", Condition{"city", "Lisbon", false}, false},
		{"city!=Lisbon", Condition{"city", "Lisbon", true}, false},
		{"note=a=b", Condition{"note", "a=b", false}, false},
		{"cc=", Condition{"cc", "", false}, false},
		{"=x", Condition{}, true},
		{"city", Condition{}, true},
	}
	for _, tt := range tests {
		got, err := ParseCondition(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseCondition(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestBatchSelection(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	// Row 6 has the wrong number of fields; row 7 has no address.
	csv := "email,city\na@example.org,Lisbon\nb@example.org,Porto\nc@example.org,Lisbon\nd@example.org,Faro\nbroken\n,Lisbon\ng@example.org,Lisbon\n"
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nSubject: {{.city}}\n\nHi\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rows  string
		where []string
		want  string // row numbers, "!" after an invalid one
	}{
		{"", nil, "2 3 4 5 6! 7! 8"},
		{"3-4,8-", nil, "3 4 8"},
		{"2-5", []string{"city=Lisbon"}, "2 4"},
		{"", []string{"city!=Lisbon"}, "3 5 6!"},
		{"", []string{"city=Lisbon", "email!=c@example.org"}, "2 6! 7! 8"},
		{"7", nil, "7!"},
	}
	for _, tt := range tests {
		b := &Batch{Template: tmpl, Data: data}
		if tt.rows != "" {
			if b.Select.Rows, err = ParseRows(tt.rows); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range tt.where {
			c, err := ParseCondition(w)
			if err != nil {
				t.Fatal(err)
			}
			b.Select.Where = append(b.Select.Where, c)
		}
		var got []string
		err := b.Each(context.Background(), func(it *Item) error {
			s := strconv.Itoa(it.Row)
			if it.Err != nil {
				s += "!"
			}
			got = append(got, s)
			return nil
		})
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("rows %q where %q: got %q (%v), want %q", tt.rows, tt.where, strings.Join(got, " "), err, tt.want)
		}
	}
	b := &Batch{Template: tmpl, Data: data, Select: Selection{Where: []Condition{{Column: "town", Value: "x"}}}}
	err = b.Each(context.Background(), func(*Item) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `column "town"`) || !strings.Contains(err.Error(), "city") {
		t.Errorf("where on a missing column: %v", err)
	}
}

func TestBatchDuplicates(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	csv := "email,cc\na@example.org,boss@example.org\nb@example.org,boss@example.org\nA@example.org,boss@example.org\na@example.org,carol@example.org\n"
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nCc: {{.cc}}\nSubject: s\n\nHi\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{Template: tmpl, Data: data}
	var got []string
	dups := map[int]Duplicate{}
	err = b.Each(context.Background(), func(it *Item) error {
		s := strconv.Itoa(it.Row)
		if it.DuplicateOf != 0 {
			dups[it.Row] = Duplicate{Of: it.DuplicateOf, KeyHash: it.KeyHash, Conflict: it.Err != nil}
		}
		switch {
		case it.Err != nil:
			s += " invalid: " + it.Err.Error()
		case it.DuplicateOf != 0:
			s += " duplicate of " + strconv.Itoa(it.DuplicateOf)
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Row 4 repeats row 2 exactly (addresses compare without case); row 5
	// has row 2's To but another Cc, which the journal could not tell apart.
	want := []string{"2", "3", "4 duplicate of 2", "5 invalid: " + data + ":5: same To as row 2 but other Cc or Bcc recipients"}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || !strings.HasPrefix(got[3], want[3]) {
		t.Fatalf("got %q\nwant %q", got, want)
	}

	// A second pass trusts the first's duplicates, and notices a row that changed.
	b.Duplicates = dups
	if err := os.WriteFile(data, []byte(strings.Replace(csv, "A@example.org", "z@example.org", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var second []string
	b.Each(context.Background(), func(it *Item) error {
		if it.Err != nil {
			second = append(second, strconv.Itoa(it.Row)+" "+it.Err.Error())
		}
		return nil
	})
	if len(second) != 2 || !strings.Contains(second[0], "4: the row changed since the first pass") || !strings.Contains(second[1], "5: same To as row 2") {
		t.Errorf("second pass errors %q", second)
	}
}

// TestBatchRenderersAgree walks 3000 rows, some invalid and some repeated,
// rendered one at a time and on several goroutines: the items come in the
// same order with the same content; an error from fn or a cancelled
// context stops the walk at once, with no goroutine left behind.
func TestBatchRenderersAgree(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := range 3000 {
		switch {
		case i%97 == 5:
			fmt.Fprintf(&csv, "p%d@example.org,\n", i) // empty name: invalid
		case i%89 == 7:
			fmt.Fprintf(&csv, "p%d@example.org,again\n", i-1) // same To as the row before
		default:
			fmt.Fprintf(&csv, "p%d@example.org,Name %d\n", i, i)
		}
	}
	if err := os.WriteFile(data, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nSubject: for {{.name}}\n\nHi {{.name}}\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	walk := func(renderers int) []string {
		var got []string
		b := &Batch{Template: tmpl, Data: data, Renderers: renderers}
		err := b.Each(context.Background(), func(it *Item) error {
			s := fmt.Sprintf("%d %s dup=%d", it.Row, it.Key, it.DuplicateOf)
			if it.Err != nil {
				s += " err=" + it.Err.Error()
			} else {
				s += " " + it.Message.Subject
			}
			got = append(got, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	one := walk(1)
	if len(one) != 3000 {
		t.Fatalf("%d items, want 3000", len(one))
	}
	for _, n := range []int{2, 8} {
		if many := walk(n); strings.Join(many, "\n") != strings.Join(one, "\n") {
			t.Fatalf("%d renderers disagree with one", n)
		}
	}

	before := runtime.NumGoroutine()
	stop := errors.New("stop")
	seen := 0
	b := &Batch{Template: tmpl, Data: data, Renderers: 4}
	if err := b.Each(context.Background(), func(*Item) error {
		if seen++; seen == 100 {
			return stop
		}
		return nil
	}); err != stop || seen != 100 {
		t.Fatalf("stopped by fn: %v after %d items", err, seen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	seen = 0
	if err := b.Each(ctx, func(*Item) error {
		if seen++; seen == 50 {
			cancel()
		}
		return nil
	}); !errors.Is(err, context.Canceled) || seen != 50 {
		t.Fatalf("cancelled: %v after %d items", err, seen)
	}
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after the walks, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSelectionMatchesNothing (issue 12): a selection that picks no row is
// a *SelectionError saying what the file holds, never a pass of 0 rows;
// a file with a header and no rows is ErrNoRows.
func TestSelectionMatchesNothing(t *testing.T) {
	dir := t.TempDir()
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nSubject: s\n\nHi\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	five := "email,city\na@example.org,London\nb@example.org, london \nc@example.org,Porto\nd@example.org,London\ne@example.org,Faro\n"
	tests := []struct {
		name  string
		data  string
		rows  string
		where []string
		want  *SelectionError // nil: want ErrNoRows
		err   string
	}{
		{name: "rows beyond the file", data: five, rows: "9-12",
			want: &SelectionError{FirstRow: 2, LastRow: 6, AtEnd: true},
			err:  "d.csv: no row matches rows 9-12; the file has rows 2-6"},
		{name: "value differs in case", data: five, where: []string{"city=london"},
			want: &SelectionError{FirstRow: 2, LastRow: 6, AtEnd: true, Near: []NearValue{{Condition{Column: "city", Value: "london"}, "London"}}},
			err:  `d.csv: no row matches city=london; the file has rows 2-6; "London" in column "city" differs from "london" only in case or spaces`},
		{name: "rows and a value", data: five, rows: "2-3,6-", where: []string{"city=Lisbon", "email!=x@example.org"},
			want: &SelectionError{FirstRow: 2, LastRow: 6, AtEnd: true},
			err:  "d.csv: no row matches rows 2-3,6- and city=Lisbon and email!=x@example.org; the file has rows 2-6"},
		{name: "rows before the end, blank", data: "email\na@example.org\n\n\n\nb@example.org\n", rows: "3-4",
			want: &SelectionError{FirstRow: 2, LastRow: 6},
			err:  "d.csv: no row matches rows 3-4"},
		{name: "header only", data: "email,city\n", err: "d.csv: the file has no rows below its header row"},
		{name: "header and blank lines", data: "email,city\n\n,\n \n", err: "the file has no rows below its header row"},
		{name: "header only, with a selection", data: "email,city\n", rows: "2-", err: "the file has no rows below its header row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(dir, "d.csv")
			if err := os.WriteFile(data, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			b := &Batch{Template: tmpl, Data: data}
			if tt.rows != "" {
				if b.Select.Rows, err = ParseRows(tt.rows); err != nil {
					t.Fatal(err)
				}
			}
			for _, w := range tt.where {
				c, err := ParseCondition(w)
				if err != nil {
					t.Fatal(err)
				}
				b.Select.Where = append(b.Select.Where, c)
			}
			for _, renderers := range []int{1, 4} {
				b.Renderers = renderers
				calls := 0
				stats, err := b.Validate(context.Background(), false, func(*Item, []byte) error { calls++; return nil })
				if calls != 0 || stats.Rows != 0 {
					t.Errorf("fn called %d times, stats %+v", calls, stats)
				}
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				var se *SelectionError
				if tt.want == nil {
					if !errors.Is(err, ErrNoRows) || errors.As(err, &se) {
						t.Errorf("error %v: want ErrNoRows", err)
					}
					continue
				}
				if !errors.As(err, &se) {
					t.Fatalf("error %v: want a *SelectionError", err)
				}
				want := *tt.want
				want.File, want.Select = data, b.Select
				if !reflect.DeepEqual(*se, want) {
					t.Errorf("SelectionError = %+v\nwant             %+v", *se, want)
				}
			}
		})
	}
}

// TestBatchCSVLineEndsAndQuotes (issue 11 #4) reads, through a batch as
// check and send do, files that used to lose rows without a word.
func TestBatchCSVLineEndsAndQuotes(t *testing.T) {
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nSubject: s\n\nHi {{.name}}\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		data     string
		want     string // row numbers, "!" after an invalid one, "?" after one with a warning
		warnings int
	}{
		{"CR line ends", "email,name\rann@example.com,Ann\rbo@example.org,Bo\r", "2 3", 0},
		{"stray quotes merge three rows", "email,name\na@example.com,\"Ann\nb@example.com,Bob\nc@example.com,Cy\"\nd@example.com,Di\n", "2? 3", 1},
		{"a quoted field over lines that are no rows", "email,name\na@example.com,\"Ann\nLee\"\n", "2", 0},
		{"an unclosed quote costs one row", "email,name\na@example.com,\"Ann\nb@example.com,Bob\nc@example.com,Cy\n", "2! 3 4", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(data, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			b := &Batch{Template: tmpl, Data: data}
			var got []string
			stats, err := b.Validate(context.Background(), false, func(it *Item, _ []byte) error {
				s := strconv.Itoa(it.Row)
				if it.Err != nil {
					s += "!"
				}
				if it.Record != nil && it.Record.Warning != nil {
					s += "?"
					var sq *StrayQuoteError
					if w := it.Record.Warning; w.Row != it.Row || w.File != data || !errors.As(w, &sq) || sq.Lines != 3 {
						t.Errorf("row %d: warning %v, want a *StrayQuoteError of 3 lines for the row", it.Row, w)
					}
				}
				got = append(got, s)
				return nil
			})
			if err != nil || strings.Join(got, " ") != tt.want || stats.Warnings != tt.warnings {
				t.Errorf("got %q, %d warnings (%v); want %q, %d warnings", strings.Join(got, " "), stats.Warnings, err, tt.want, tt.warnings)
			}
		})
	}
}
