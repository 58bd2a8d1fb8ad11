package main

import (
	"context"
	"strings"
	"testing"
)

// A misspelt column is one error with the template's file, line and column
// and a suggestion, however many rows there are; a selection that matches
// nothing is an error with a hint, never "0 rows".
func TestMistakesSaidOnce(t *testing.T) {
	dir := t.TempDir()
	tpl := copyTemplate(t, dir, "t")
	writeFile(t, tpl, "message.txt", strings.Replace(string(plainMessage), "{{.name}}", "{{.nmae}}", 1))
	data := peopleCSV(t, dir, 2000)
	out, errOut, status := runCLI(t, context.Background(), "check", "-t", tpl, "-d", data)
	all := out + errOut
	if status != exitInvalid || strings.Count(all, "nmae") != 1 || !strings.Contains(all, `did you mean "name"?`) ||
		!strings.Contains(all, "message.txt:") {
		t.Errorf("misspelt column: %d, %d lines\n%.2000s", status, strings.Count(all, "\n"), all)
	}
	city := writeFile(t, dir, "city.csv", "email,name,code,city\na@example.org,A,1,London\nb@example.org,B,2,Paris\n")
	_, errOut, status = runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", city, "--where", "city=london")
	if status != exitInvalid || !strings.Contains(errOut, `"London"`) || !strings.Contains(errOut, "hint:") {
		t.Errorf("--where city=london: %d\n%s", status, errOut)
	}
	_, errOut, status = runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", city, "--rows", "9-12")
	if status != exitInvalid || !strings.Contains(errOut, "rows 2-3") {
		t.Errorf("--rows 9-12: %d\n%s", status, errOut)
	}
	empty := writeFile(t, dir, "empty.csv", "email,name,code\n")
	_, errOut, status = runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", empty)
	if status != exitInvalid {
		t.Errorf("header only: %d\n%s", status, errOut)
	}
}
