package merge

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// passesBatch writes a template that attaches a file named by each row,
// and a data file: rows 2 and 4 valid, row 3 without an address, row 5 a
// duplicate of row 2.
func passesBatch(t *testing.T) (b *Batch, files string) {
	t.Helper()
	files = t.TempDir()
	tpl := writeTemplate(t, map[string]string{
		"message.txt": "From: x@example.org\nTo: {{.email}}\nSubject: s\n\nHi {{.email}}{{attach .file}}\n",
	})
	tmpl, err := LoadTemplate(tpl, TemplateOptions{AttachmentsDir: files})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(files, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(t.TempDir(), "d.csv")
	csv := "email,file\na@example.org,a.txt\n,a.txt\nb@example.org,b.txt\nA@example.org,a.txt\n"
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Batch{Template: tmpl, Data: data}, files
}

func TestValidateCountsAndComposes(t *testing.T) {
	b, _ := passesBatch(t)
	var rows []string
	stats, err := b.Validate(context.Background(), true, func(it *Item, eml []byte) error {
		switch {
		case it.Err != nil:
			rows = append(rows, fmt.Sprintf("%d invalid %q", it.Row, it.Key))
			if eml != nil {
				t.Errorf("row %d: invalid with a message", it.Row)
			}
		default:
			m, err := mail.ReadMessage(strings.NewReader(string(eml)))
			if err != nil {
				t.Fatalf("row %d: composed message does not parse: %v", it.Row, err)
			}
			rows = append(rows, fmt.Sprintf("%d to %s dup %d", it.Row, m.Header.Get("To"), it.DuplicateOf))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2 to <a@example.org> dup 0",
		fmt.Sprintf("3 invalid %q", "invalid row 3 of "+filepath.Base(b.Data)),
		"4 to <b@example.org> dup 0",
		"5 to <A@example.org> dup 2",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if stats != (Stats{Rows: 4, Invalid: 1, Duplicates: 1, NoUnsubscribe: 3}) || stats.Valid() != 3 {
		t.Errorf("stats %+v", stats)
	}
}

// TestPreflightThenEach runs both passes of a send: the second sees what
// the first checked, rows invalid in the first come again invalid, a row
// that turns invalid in between stops it, and a data file changed since
// the preflight is noticed.
func TestPreflightThenEach(t *testing.T) {
	b, files := passesBatch(t)
	ctx := context.Background()
	seen := 0
	checked, stats, err := b.Preflight(ctx, func(*Item) error { seen++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if seen != 4 || stats.Invalid != 1 {
		t.Fatalf("preflight saw %d rows, stats %+v", seen, stats)
	}
	var rows []string
	kept := map[int][]Piece{} // msg is fn's to keep: later messages leave it alone
	copies := map[int]string{}
	err = checked.Each(ctx, func(it *Item, msg []Piece) error {
		var eml []byte
		for _, p := range msg {
			eml = append(eml, p.Octets...)
		}
		rows = append(rows, fmt.Sprintf("%d:%v:%d:%d", it.Row, it.Err != nil, it.DuplicateOf, len(eml)))
		if msg != nil {
			kept[it.Row], copies[it.Row] = msg, string(eml)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for row, msg := range kept {
		var eml []byte
		for _, p := range msg {
			eml = append(eml, p.Octets...)
		}
		if string(eml) != copies[row] {
			t.Errorf("the message of row %d changed after its call", row)
		}
	}
	if len(rows) != 4 || !strings.HasPrefix(rows[1], "3:true:0:0") || !strings.HasPrefix(rows[3], "5:false:2:") {
		t.Errorf("second pass: %v", rows)
	}
	if err := checked.Unchanged(); err != nil {
		t.Errorf("Unchanged on an untouched file: %v", err)
	}

	// A file a valid row attaches disappears between the passes.
	os.Remove(filepath.Join(files, "b.txt"))
	err = checked.Each(ctx, func(*Item, []Piece) error { return nil })
	var re *RowError
	if !errors.As(err, &re) || re.Row != 4 || !strings.Contains(err.Error(), "valid when checked") {
		t.Errorf("second pass with a row turned invalid: %v", err)
	}

	// The data file is saved again: the same bytes at a new time are
	// the data that was checked.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(b.Data, later, later); err != nil {
		t.Fatal(err)
	}
	if err := checked.Unchanged(); err != nil {
		t.Errorf("Unchanged after the file was saved unchanged: %v", err)
	}
}

// editInPlace replaces old by new (of the same length) in the file at
// path and restores the file's modification time, as a careful editor or a
// sync tool can: size, inode and time all stay as they were.
func editInPlace(t *testing.T, path, old, new string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), old, new, 1)
	if len(old) != len(new) || edited == string(data) {
		t.Fatalf("edit %q -> %q does not apply", old, new)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(edited), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestSameSizeEditBetweenPasses: an address is changed between the passes
// without changing the file's size or time. The second pass stops before
// the changed row reaches the sender, and Unchanged says so.
func TestSameSizeEditBetweenPasses(t *testing.T) {
	for _, ext := range []string{".csv", ".xlsx"} {
		t.Run(ext, func(t *testing.T) {
			b, _ := passesBatch(t)
			if ext == ".xlsx" {
				b.Data = strings.TrimSuffix(b.Data, ".csv") + ".xlsx"
				rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "email", "file") + xlsxHeaderRow(2, "a@example.org", "a.txt") +
					xlsxHeaderRow(3, "b@example.org", "b.txt")}}}.writeStored(t, b.Data)
			}
			ctx := context.Background()
			checked, _, err := b.Preflight(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			editInPlace(t, b.Data, "b@example.org", "e@example.org")
			if err := checked.Unchanged(); !errors.Is(err, ErrDataChanged) {
				t.Errorf("Unchanged after a same-size edit: %v", err)
			}
			var sent []string
			err = checked.Each(ctx, func(it *Item, _ []Piece) error {
				if it.Message != nil {
					sent = append(sent, MessageKey(it.Message))
				}
				return nil
			})
			if !errors.Is(err, ErrDataChanged) {
				t.Errorf("second pass after a same-size edit: %v", err)
			}
			for _, k := range sent {
				if strings.Contains(k, "e@example.org") {
					t.Errorf("the second pass gave the unchecked address %s to send", k)
				}
			}
		})
	}
}

// TestPreflightNoticesDataSavedMeanwhile: the data file is edited while
// the preflight reads it; the preflight says so, and gives nothing to send
// from.
func TestPreflightNoticesDataSavedMeanwhile(t *testing.T) {
	b, _ := passesBatch(t)
	saved := false
	checked, _, err := b.Preflight(context.Background(), func(*Item) error {
		if !saved {
			saved = true
			editInPlace(t, b.Data, "b@example.org", "e@example.org")
		}
		return nil
	})
	if !errors.Is(err, ErrDataChanged) || checked != nil {
		t.Errorf("Preflight with the data edited meanwhile: %v, %v", checked, err)
	}
}
