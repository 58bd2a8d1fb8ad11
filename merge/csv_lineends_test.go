package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// FuzzCSVLineEnds checks that a file reads the same whatever its line ends
// (LF, CRLF or CR alone), stray and unclosed quotes included: the same
// rows with the same numbers, values, errors and warnings. An unclosed
// quote costs at most the lines it opens, never the rows after its line.
func FuzzCSVLineEnds(f *testing.F) {
	for _, seed := range []string{
		"email,name\nann@example.com,Ann\nbo@example.org,Bo\n",
		"email,name\na@example.com,\"Ann\nb@example.com,Bob\nc@example.com,Cy\"\nd@example.com,Di\n",
		"email,name\na@example.com,\"Ann\nb@example.com,Bob\nc@example.com,Cy\n",
		"a;b\n\"x\n\ny\";2\n\n3;\"4\"\"5\"\n",
		"a,b\n1,\"x\"y\n2,3\n\"open",
		"\ufeffa\tb\n1\t2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		in = strings.ReplaceAll(in, "\r", "")
		var results []string
		for _, nl := range []string{"\n", "\r\n", "\r"} {
			results = append(results, readAll(strings.ReplaceAll(in, "\n", nl)))
		}
		if results[1] != results[0] || results[2] != results[0] {
			t.Fatalf("LF, CRLF and CR read differently:\nLF:   %s\nCRLF: %s\nCR:   %s", results[0], results[1], results[2])
		}
		// The line after an unclosed quote's line is read again.
		body := strings.ReplaceAll(in, "\"", "")
		open := "a,b,c\n" + body + "\n1,\"x\nz,z,z\n"
		want := fmt.Sprintf(" %d:%q", strings.Count(open, "\n"), "z|z|z")
		if got := readAll(open); !strings.HasSuffix(got, want) {
			t.Fatalf("the line after an unclosed quote was lost: %s; want it to end in %s", got, want)
		}
	})
}

// readAll reads CSV data with the default limits and describes every
// result: row numbers, values, whether a row is invalid, and warnings.
func readAll(data string) string {
	r, err := newCSVReader(context.Background(), bytes.NewReader([]byte(data)), "f.csv", 0, ',', defaultDataLimits())
	if err != nil {
		var rerr *RowError
		if errors.As(err, &rerr) {
			return fmt.Sprintf("error at row %d", rerr.Row)
		}
		return "error"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q:", r.Columns().Names())
	for range len(data) + 2 {
		rec, err := r.Next()
		var rerr *RowError
		switch {
		case err == io.EOF:
			return b.String()
		case errors.As(err, &rerr):
			fmt.Fprintf(&b, " %d!", rerr.Row)
			if strings.Contains(rerr.Error(), "field") {
				b.WriteString("fields")
			}
		case err != nil:
			fmt.Fprintf(&b, " end: %v", err != nil)
			return b.String()
		default:
			fmt.Fprintf(&b, " %d:%q", rec.Row, strings.Join(rec.Values, "|"))
			if rec.Warning != nil {
				b.WriteString("?")
			}
		}
	}
	return b.String() + " (no EOF)"
}
