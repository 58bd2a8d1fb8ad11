package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// previewInputs copies the announcement template and the sample data into
// a new directory and returns the template directory and the data file.
func previewInputs(t *testing.T) (base, tpl, data string) {
	t.Helper()
	base = t.TempDir()
	tpl = filepath.Join(base, "announcement")
	if err := os.CopyFS(tpl, os.DirFS("../../templates/announcement")); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(base, "data", "recipients.csv")
	os.Mkdir(filepath.Dir(data), 0o755)
	b, err := os.ReadFile("../../samples/recipients.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return base, tpl, data
}

// tree describes every file under dir, with its mode and size.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := os.Lstat(path)
		rel, _ := filepath.Rel(dir, path)
		lines = append(lines, rel+" "+info.Mode().String()+" "+strings.Repeat("#", int(min(info.Size(), 40))))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestPreviewRefusesAnInputAsOutput(t *testing.T) {
	base, tpl, data := previewInputs(t)
	os.Symlink(tpl, filepath.Join(base, "tpl-link"))
	tests := []struct {
		name, out string
		args      []string
	}{
		{"the template directory", tpl, nil},
		{"the template directory through a link", filepath.Join(base, "tpl-link"), nil},
		{"the template directory through ..", filepath.Join(base, "data", "..", "announcement"), nil},
		{"the data file's directory", filepath.Join(base, "data"), nil},
		{"a directory above every input", base, nil},
		{"the attachments directory", filepath.Join(base, "data"), []string{"--attachments", filepath.Join(base, "data")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tree(t, base)
			args := append([]string{"preview", "-t", tpl, "-d", data, "-o", tt.out}, tt.args...)
			_, errOut, status := runCLI(t, context.Background(), args...)
			if status != exitInvalid || !strings.Contains(errOut, "the input") ||
				!strings.Contains(errOut, "hint: give -o a folder apart from the template") {
				t.Errorf("status %d, stderr:\n%s", status, errOut)
			}
			if after := tree(t, base); after != before {
				t.Errorf("the inputs changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
}

func TestPreviewRefusesAForeignFolder(t *testing.T) {
	_, tpl, data := previewInputs(t)
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "index.html"), []byte("my own page"), 0o644)
	before := tree(t, out)
	_, errOut, status := runCLI(t, context.Background(), "preview", "-t", tpl, "-d", data, "-o", out)
	if status != exitInvalid || !strings.Contains(errOut, "holds files that no preview wrote") ||
		!strings.Contains(errOut, "hint: give -o a new or empty folder") {
		t.Errorf("status %d, stderr:\n%s", status, errOut)
	}
	if after := tree(t, out); after != before {
		t.Errorf("the folder changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "index.html")); string(b) != "my own page" {
		t.Errorf("index.html now holds %q", b)
	}
}

// TestPreviewRunsAgainIntoItsFolder previews every row, then two: the
// second run leaves only the two rows' files, 0600 in a 0700 folder.
func TestPreviewRunsAgainIntoItsFolder(t *testing.T) {
	base, tpl, data := previewInputs(t)
	out := filepath.Join(base, "preview")
	for _, args := range [][]string{nil, {"--rows", "3-4"}} {
		stdout, errOut, status := runCLI(t, context.Background(), append([]string{"preview", "-t", tpl, "-d", data, "-o", out}, args...)...)
		if status != exitOK {
			t.Fatalf("preview %q: status %d\n%s\n%s", args, status, stdout, errOut)
		}
	}
	var got []string
	err := filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700 | fs.ModeDir
		}
		if info.Mode() != want {
			t.Errorf("%s is %v, want %v", path, info.Mode(), want)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(out, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, g := range got {
		if strings.HasSuffix(g, ".eml") {
			rows = append(rows, g[:4])
		}
	}
	if strings.Join(rows, " ") != "0003 0004" {
		t.Errorf("after the second run, files for rows %q, want 0003 0004:\n%s", rows, strings.Join(got, "\n"))
	}
	for _, stale := range []string{"0002-ada.lovelace_example.com.html", "0005-lukasz_zolw.test.body.html"} {
		if _, err := os.Stat(filepath.Join(out, stale)); err == nil {
			t.Errorf("%s is left from the first run", stale)
		}
	}
}
