package main

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs a mailshot command line as main would and returns what it
// printed and its exit status.
func runCLI(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, strings.NewReader(""), &out, &errOut)
	status = exitStatus(err, &errOut)
	return out.String(), errOut.String(), status
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckSamples(t *testing.T) {
	for _, data := range []string{"../../samples/recipients.csv", "../../samples/recipients.xlsx"} {
		t.Run(filepath.Ext(data), func(t *testing.T) {
			out, errOut, status := runCLI(t, context.Background(), "check", "-t", "../../templates/announcement", "-d", data)
			if status != exitOK {
				t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, out, errOut)
			}
			if !strings.Contains(out, "12 rows: 12 valid, 0 invalid") {
				t.Errorf("summary missing:\n%s", out)
			}
		})
	}
}

func TestCheckReportsEveryInvalidRow(t *testing.T) {
	dir := t.TempDir()
	data := writeFile(t, dir, "people.csv", "email,name,code\n"+
		"ok@example.org,Ok Person,A1\n"+ // row 2: valid
		"not-an-address,Bad Address,A2\n"+ // row 3: address does not parse
		"empty@example.org,,A3\n"+ // row 4: empty field printed
		"\"inject@example.org\",\"Eve\r\nBcc: victim@example.com\",A4\n"+ // row 5: header injection
		"ok@example.org,Ok Again,A5\n"+ // row 6: duplicate of row 2
		"short@example.org,Short\n") // row 7: wrong number of fields
	out, errOut, status := runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", data)
	if status != exitInvalid {
		t.Fatalf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", status, exitInvalid, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []struct {
		row     string
		pattern string
	}{
		{"3", `^` + regexp.QuoteMeta(data) + `:3: column "email": .*`},
		{"4", `^` + regexp.QuoteMeta(data) + `:4: column "name": .*empty`},
		{"5", `^` + regexp.QuoteMeta(data) + `:5: column "name": .*`},
		{"6", `^` + regexp.QuoteMeta(data) + `:6: warning: same recipients as row 2`},
		{"7", `^` + regexp.QuoteMeta(data) + `:7: .*`},
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("got %d lines, want %d (one per problem row and a summary):\n%s", len(lines), len(want)+1, out)
	}
	for i, w := range want {
		if !regexp.MustCompile(w.pattern).MatchString(lines[i]) {
			t.Errorf("row %s: line %q does not match %s", w.row, lines[i], w.pattern)
		}
		if strings.ContainsAny(lines[i], "\r") {
			t.Errorf("row %s: line carries a CR: %q", w.row, lines[i])
		}
	}
	if got := lines[len(lines)-1]; got != "6 rows: 2 valid, 4 invalid, 1 duplicate-recipient warnings" {
		t.Errorf("summary = %q", got)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"check"}, "-t DIR"},
		{[]string{"check", "-t", "testdata/plain", "-d", "nonexistent.csv"}, "nonexistent.csv"},
		{[]string{"check", "-t", "testdata/plain", "-d", "x.csv", "extra"}, "unexpected argument"},
		{[]string{"preview", "-t", "testdata/plain", "-d", "x.csv"}, "-o OUTDIR"},
		{[]string{"send", "-t", "testdata/plain", "-d", "x.csv"}, "--smtp URL"},
		{[]string{"send", "-t", "testdata/plain", "-d", "x.csv", "--smtp", "smtp://u:pw@example.org"}, "password"},
		{[]string{"send", "-t", "testdata/plain", "-d", "x.csv", "--smtp", "smtp://example.org", "--rate", "fast"}, "rate"},
		{[]string{"report"}, "--journal FILE"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, status := runCLI(t, context.Background(), tt.args...)
			if status != exitInvalid {
				t.Errorf("status %d, want %d", status, exitInvalid)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr does not mention %q:\n%s", tt.want, errOut)
			}
			if strings.Contains(errOut, "pw@") {
				t.Errorf("stderr repeats the password from the URL:\n%s", errOut)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"check", "preview", "send", "report"} {
		out, errOut, status := runCLI(t, context.Background(), cmd, "-h")
		if status != exitOK || errOut != "" || !strings.Contains(out, "Usage: mailshot "+cmd) {
			t.Errorf("%s -h: status %d, stderr %q, stdout:\n%s", cmd, status, errOut, out)
		}
	}
}

func TestPreviewWritesOneParsableMessagePerRow(t *testing.T) {
	out := t.TempDir()
	stdout, errOut, status := runCLI(t, context.Background(), "preview", "-t", "../../templates/announcement", "-d", "../../samples/recipients.csv", "-o", out)
	if status != exitOK {
		t.Fatalf("status %d\n%s\n%s", status, stdout, errOut)
	}
	emls, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(emls) != 12 {
		t.Fatalf("%d .eml files, want 12", len(emls))
	}
	for _, p := range emls {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) != 1 {
			t.Fatalf("%s: To %v: %v", p, to, err)
		}
		// The file is named from its row and address.
		name := strings.NewReplacer("@", "_").Replace(to[0].Address)
		if !strings.Contains(filepath.Base(p), name) {
			t.Errorf("%s is not named after its recipient %s", p, to[0].Address)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}
	// --limit writes fewer files but still validates every row.
	out2 := t.TempDir()
	stdout, _, status = runCLI(t, context.Background(), "preview", "-t", "../../templates/announcement", "-d", "../../samples/recipients.xlsx", "-o", out2, "--limit", "3")
	emls, _ = filepath.Glob(filepath.Join(out2, "*.eml"))
	if status != exitOK || len(emls) != 3 || !strings.Contains(stdout, "12 rows") {
		t.Errorf("--limit 3: status %d, %d files, output %q", status, len(emls), stdout)
	}
}

func TestCheckWarnsWhenABulkBatchHasNoUnsubscribe(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{bulkThreshold, bulkThreshold + 1} {
		data := peopleCSV(t, dir, n)
		out, _, status := runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", data)
		warned := strings.Contains(out, "no List-Unsubscribe header")
		if status != exitOK || warned != (n > bulkThreshold) {
			t.Errorf("%d rows: status %d, warned %v:\n%s", n, status, warned, out)
		}
	}
	// The announcement template has one: no warning however many rows.
	var b strings.Builder
	b.WriteString("email,name,First Name,city,ticket,date,token\n")
	for i := range bulkThreshold + 5 {
		b.WriteString(fmt.Sprintf("p%s%c@example.org,N,F,C,%s,2026-01-01,%032x\n", strings.Repeat("x", i%7), 'a'+i%26, strings.Repeat("1", 1+i%5), i))
	}
	data := writeFile(t, dir, "ann.csv", b.String())
	out, _, status := runCLI(t, context.Background(), "check", "-t", "../../templates/announcement", "-d", data)
	if status != exitOK {
		t.Errorf("check of the announcement: status %d:\n%s", status, out)
	}
	if strings.Contains(out, "List-Unsubscribe") {
		t.Errorf("warned although the template sets List-Unsubscribe:\n%s", out)
	}
}

func TestRowsAndWhereSelectRowsForEveryCommand(t *testing.T) {
	csv := "../../samples/recipients.csv"
	tpl := "../../templates/announcement"
	tests := []struct {
		args []string
		want string // rows written by preview, in order
	}{
		{[]string{"--rows", "2-4,12-"}, "0002 0003 0004 0012 0013"},
		{[]string{"--where", "date=2026-05-05"}, "0004 0005"},
		{[]string{"--rows", "2-6", "--where", "date!=2026-05-04"}, "0004 0005 0006"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := t.TempDir()
			_, errOut, status := runCLI(t, context.Background(), append([]string{"preview", "-t", tpl, "-d", csv, "-o", out}, tt.args...)...)
			if status != exitOK {
				t.Fatalf("status %d\n%s", status, errOut)
			}
			emls, _ := filepath.Glob(filepath.Join(out, "*.eml"))
			var rows []string
			for _, p := range emls {
				rows = append(rows, filepath.Base(p)[:4])
			}
			if got := strings.Join(rows, " "); got != tt.want {
				// The expected rows follow samples/recipients.csv.
				t.Errorf("previewed rows %q, want %q", got, tt.want)
			}
		})
	}
	_, errOut, status := runCLI(t, context.Background(), "check", "-t", tpl, "-d", csv, "--where", "town=Lisbon")
	if status != exitInvalid || !strings.Contains(errOut, `column "town"`) {
		t.Errorf("--where on a missing column: status %d\n%s", status, errOut)
	}
	_, errOut, status = runCLI(t, context.Background(), "check", "-t", tpl, "-d", csv, "--rows", "1-3")
	if status != exitInvalid || !strings.Contains(errOut, "header") {
		t.Errorf("--rows 1-3: status %d\n%s", status, errOut)
	}
}
