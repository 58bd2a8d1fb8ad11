package merge

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// listTree returns every file and directory under dir, as slash paths
// relative to it, with its permission bits; the marker is left out.
func listTree(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." || rel == previewMarker {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(tree map[string]fs.FileMode) []string {
	var out []string
	for n := range tree {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestPreviewPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	writePreview(t, dir, 4, previewMessages(t))
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("%s is %v, want 0700", dir, perm)
	}
	for name, mode := range listTree(t, dir) {
		want := fs.FileMode(0o600)
		if mode.IsDir() {
			want = 0o700
		}
		if mode.Perm() != want {
			t.Errorf("%s is %v, want %v", name, mode.Perm(), want)
		}
	}
}

// TestPreviewRerun runs a preview twice into one directory: the second
// run leaves none of the first one's files, and keeps what a person put
// there in between.
func TestPreviewRerun(t *testing.T) {
	msgs := previewMessages(t)
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 2, msgs) // several pages, search.js, files/, images/
	// A file of the person's own, in the directory and in one of the
	// preview's.
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "images", "keep.txt")
	if err := os.WriteFile(keep, []byte("mine too"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The second run has the text-only message alone.
	writePreview(t, dir, 2, msgs[len(msgs)-1:])
	want := []string{
		"0010-hidden.person_example.net.eml", "0010-hidden.person_example.net.html",
		"images", "images/keep.txt", "index.html", "notes.txt",
	}
	if got := names(listTree(t, dir)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after the second run:\n got %q\nwant %q", got, want)
	}
	for path, content := range map[string]string{mine: "mine", keep: "mine too"} {
		if b, err := os.ReadFile(path); err != nil || string(b) != content {
			t.Errorf("%s: %q, %v", path, b, err)
		}
	}

	// A third run, like the first, writes images/ again beside keep.txt.
	writePreview(t, dir, 2, msgs)
	if _, err := os.Stat(filepath.Join(dir, "search.js")); err != nil {
		t.Error(err)
	}
}

func TestPreviewRefusesForeignDir(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"a file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "index.html"), []byte("my site"), 0o644)
		}},
		{"a directory", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, "photos"), 0o755)
		}},
		{"a marker of another kind", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, previewMarker), []byte("index.html\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "index.html"), []byte("my site"), 0o644)
		}},
		{"a marker that is a link", func(t *testing.T, dir string) {
			elsewhere := filepath.Join(t.TempDir(), "marker")
			os.WriteFile(elsewhere, []byte(previewMarkerHead+"index.html\n"), 0o644)
			os.Symlink(elsewhere, filepath.Join(dir, previewMarker))
			os.WriteFile(filepath.Join(dir, "index.html"), []byte("my site"), 0o644)
		}},
		{"a marker that is a directory", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, previewMarker), 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before := snapshot(t, dir)
			_, err := NewPreview(dir)
			var de *PreviewDirError
			if !errors.Is(err, ErrNotPreviewDir) || !errors.As(err, &de) || de.Dir != dir {
				t.Fatalf("NewPreview: %v, want a *PreviewDirError for ErrNotPreviewDir", err)
			}
			if !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "hint") || strings.Contains(err.Error(), "--") {
				t.Errorf("error %q", err)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the directory changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot describes everything under dir: names, modes and contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := os.Lstat(path)
		b.WriteString(path + " " + info.Mode().String())
		if info.Mode().IsRegular() {
			c, _ := os.ReadFile(path)
			b.WriteString(" " + string(c))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// TestPreviewRemovesOnlyItsOwn gives a preview a directory whose marker
// names files that are not the preview's to remove: outside the
// directory, through a link, or the marker itself.
func TestPreviewRemovesOnlyItsOwn(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	victim := filepath.Join(outside, "victim.txt")
	os.WriteFile(victim, []byte("keep me"), 0o644)

	dir := filepath.Join(base, "out")
	os.Mkdir(dir, 0o700)
	// images/ is now a link to a directory outside; a file of its name
	// is in the marker, as are ".." paths and an absolute one.
	os.Symlink(outside, filepath.Join(dir, "images"))
	os.Symlink(victim, filepath.Join(dir, "link.txt"))
	marker := previewMarkerHead + strings.Join([]string{
		"images/victim.txt", "../outside/victim.txt", victim, "link.txt", "images/", previewMarker,
	}, "\n") + "\n"
	os.WriteFile(filepath.Join(dir, previewMarker), []byte(marker), 0o600)

	_, err := NewPreview(dir)
	if err != nil {
		t.Logf("NewPreview: %v", err) // refusing is fine too
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside is gone or changed: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "link.txt")); err != nil {
		t.Errorf("a link the preview did not make was removed: %v", err)
	}
}

// TestPreviewNeverOverwrites puts a file of the person's own where the
// next preview will write one: the preview fails rather than write over it.
func TestPreviewNeverOverwrites(t *testing.T) {
	msgs := previewMessages(t)[:1]
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 0, msgs)
	// The preview's list of its files no longer names the .eml, and the
	// person has put a file of their own under its name.
	mine := filepath.Join(dir, previewName(msgs[0])+".eml")
	os.Remove(mine)
	os.WriteFile(filepath.Join(dir, previewMarker), []byte(previewMarkerHead), 0o600)
	os.WriteFile(mine, []byte("my own message"), 0o644)

	p, err := NewPreview(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Add(msgs[0], []byte("From: x@example.com\r\n\r\nhi\r\n"))
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("Add over a file of the person's own: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "my own message" {
		t.Errorf("the person's file now holds %q", b)
	}
}

// TestPreviewRefusesInputs gives a preview an output directory that is, or
// holds, one of the run's inputs, named in every way that hides it.
func TestPreviewRefusesInputs(t *testing.T) {
	base := t.TempDir()
	tpl := filepath.Join(base, "tpl")
	os.Mkdir(tpl, 0o755)
	os.WriteFile(filepath.Join(tpl, "message.txt"), []byte("From: a@example.com\n\nhi\n"), 0o644)
	data := filepath.Join(base, "data", "people.csv")
	os.Mkdir(filepath.Dir(data), 0o755)
	os.WriteFile(data, []byte("email\na@example.com\n"), 0o644)
	os.Symlink(filepath.Join(base, "data"), filepath.Join(base, "datalink"))
	os.Symlink(data, filepath.Join(base, "people-link.csv"))
	os.Mkdir(filepath.Join(base, "sub"), 0o755)
	os.Symlink(base, filepath.Join(base, "sub", "up")) // base/sub/up -> base

	tests := []struct {
		name   string
		out    string
		inputs []string
		holds  bool
	}{
		{"the template directory", tpl, []string{tpl, data}, true},
		{"the template directory, by ..", filepath.Join(base, "data", "..", "tpl"), []string{tpl}, true},
		{"the data file's directory", filepath.Join(base, "data"), []string{tpl, data}, true},
		{"a parent of every input", base, []string{tpl, data}, true},
		{"the data file's directory, by a link", filepath.Join(base, "datalink"), []string{data}, true},
		{"a directory holding the data behind a link", filepath.Join(base, "data"), []string{filepath.Join(base, "people-link.csv")}, true},
		{"a directory holding a link to the data", base, []string{filepath.Join(base, "people-link.csv")}, true},
		{"the data's directory, the input named through a link and ..", filepath.Join(base, "data"), []string{filepath.Join(base, "sub", "up", "data", "..", "data", "people.csv")}, true},
		{"the data file itself", data, []string{data}, true},
		{"a new directory beside the inputs", filepath.Join(base, "preview"), []string{tpl, data}, false},
		{"a new directory inside the template's", filepath.Join(tpl, "preview"), []string{tpl, data}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, base)
			p, err := NewPreview(tt.out, tt.inputs...)
			if !tt.holds {
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				os.RemoveAll(tt.out)
				return
			}
			var de *PreviewDirError
			if !errors.Is(err, ErrPreviewHoldsInput) || !errors.As(err, &de) || de.Input == "" {
				t.Fatalf("NewPreview(%s): %v, want a *PreviewDirError for ErrPreviewHoldsInput", tt.out, err)
			}
			if after := snapshot(t, base); after != before {
				t.Errorf("the inputs changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestPreviewRefusesItsOwnFileAsInput: a preview's directory whose
// earlier file is now an input (a data file saved among the previews, or a
// hard link to one) is refused, not cleaned.
func TestPreviewRefusesItsOwnFileAsInput(t *testing.T) {
	msgs := previewMessages(t)[:1]
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	writePreview(t, dir, 0, msgs)
	eml := filepath.Join(dir, previewName(msgs[0])+".eml")
	link := filepath.Join(base, "kept.eml")
	if err := os.Link(eml, link); err != nil {
		t.Skip(err)
	}
	_, err := NewPreview(dir, link)
	if !errors.Is(err, ErrPreviewHoldsInput) {
		t.Fatalf("NewPreview: %v, want ErrPreviewHoldsInput", err)
	}
	if _, err := os.Stat(eml); err != nil {
		t.Errorf("the input was removed: %v", err)
	}
}
