package merge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A preview owns its output directory. The directory holds a marker file,
// previewMarker, whose first line says a preview wrote the directory and
// whose other lines name, one a line, every file and directory the preview
// created in it. The name is written to the marker before the file is
// created, so that a preview stopped half-way still knows its files. The
// next preview into the directory removes those and nothing else; it
// refuses a directory that holds files but no marker.

// previewMarker is the name of the file that marks a preview's directory.
const previewMarker = ".mailshot-preview"

// previewMarkerHead is the marker's first line.
const previewMarkerHead = "mailshot preview 1\n"

// ErrNotPreviewDir means that a preview's output directory holds files and
// was not written by a preview, so a preview will not write into it.
var ErrNotPreviewDir = errors.New("holds files that no preview wrote")

// ErrPreviewHoldsInput means that a preview's output directory is one of
// the run's inputs or holds one.
var ErrPreviewHoldsInput = errors.New("is or holds an input")

// PreviewDirError reports an output directory that a preview refuses.
type PreviewDirError struct {
	Dir   string // the output directory as given
	Input string // the input it is or holds; empty for ErrNotPreviewDir
	Err   error  // ErrNotPreviewDir or ErrPreviewHoldsInput
}

// Error says which folder and why, without the layers it passed through.
func (e *PreviewDirError) Error() string {
	if e.Input != "" {
		if sameDir(e.Dir, e.Input) {
			return fmt.Sprintf("preview folder %s is the input %s", e.Dir, e.Input)
		}
		return fmt.Sprintf("preview folder %s holds the input %s", e.Dir, e.Input)
	}
	return fmt.Sprintf("preview folder %s %v", e.Dir, e.Err)
}

// Unwrap returns ErrNotPreviewDir or ErrPreviewHoldsInput.
func (e *PreviewDirError) Unwrap() error { return e.Err }

// sameDir reports whether a and b name the same existing file.
func sameDir(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}

// previewDir is an output directory a preview owns, opened as an os.Root
// so that no name, and no symbolic link planted in it, leads outside.
type previewDir struct {
	root   *os.Root
	marker *os.File // the marker, open for appending names
	inputs []os.FileInfo
}

// openPreviewDir makes dir ready for a new preview: it creates dir (0700)
// when it does not exist, adopts it when it is empty, and when a preview
// wrote it, removes every file that preview created. inputs are the files
// and directories the run reads; dir may be none of them and hold none.
func openPreviewDir(dir string, inputs []string) (*previewDir, error) {
	if err := checkNotInput(dir, inputs); err != nil {
		return nil, err
	}
	fresh := false
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		fresh = true
	case err != nil:
		return nil, err
	default:
		fresh = len(entries) == 0
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	d := &previewDir{root: root}
	for _, in := range inputs {
		if info, err := os.Stat(in); err == nil {
			d.inputs = append(d.inputs, info)
		}
	}
	if !fresh {
		if err := d.clean(dir); err != nil {
			root.Close()
			return nil, err
		}
	}
	// Start a new marker: the old one, if any, named only files that
	// clean has removed.
	f, err := root.OpenFile(previewMarker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.WriteString(previewMarkerHead)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		root.Close()
		return nil, err
	}
	d.marker = f
	return d, nil
}

// checkNotInput returns a *PreviewDirError when dir is one of inputs or
// holds one, comparing files by identity (os.SameFile), so that neither a
// symbolic link nor ".." hides it.
func checkNotInput(dir string, inputs []string) error {
	dirInfo, err := os.Stat(dir)
	if err != nil {
		return nil // a directory yet to be made holds nothing
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		// The input's own place, and where its links lead.
		var places []string
		if real, err := filepath.EvalSymlinks(in); err == nil {
			places = append(places, real)
		}
		if parent, err := filepath.EvalSymlinks(filepath.Dir(in)); err == nil {
			places = append(places, filepath.Join(parent, filepath.Base(in)))
		}
		for _, p := range places {
			abs, err := filepath.Abs(p)
			if err != nil {
				continue
			}
			for q := abs; ; q = filepath.Dir(q) {
				if info, err := os.Stat(q); err == nil && os.SameFile(info, dirInfo) {
					return &PreviewDirError{Dir: dir, Input: in, Err: ErrPreviewHoldsInput}
				}
				if filepath.Dir(q) == q {
					break
				}
			}
		}
	}
	return nil
}

// clean removes the files that the last preview into the directory
// created, after checking that one did.
func (d *previewDir) clean(dir string) error {
	info, err := d.root.Lstat(previewMarker)
	if err != nil || !info.Mode().IsRegular() {
		return &PreviewDirError{Dir: dir, Err: ErrNotPreviewDir}
	}
	list, err := d.root.ReadFile(previewMarker)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(list, []byte(previewMarkerHead)) {
		return &PreviewDirError{Dir: dir, Err: ErrNotPreviewDir}
	}
	var files, dirs []string
	sc := bufio.NewScanner(bytes.NewReader(list[len(previewMarkerHead):]))
	for sc.Scan() {
		name, isDir := strings.CutSuffix(sc.Text(), "/")
		if !filepath.IsLocal(name) || name == previewMarker || name == "." {
			continue // not a name a preview writes
		}
		if isDir {
			dirs = append(dirs, name)
		} else {
			files = append(files, name)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, name := range files {
		info, err := d.root.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue // replaced since: not ours to remove
		}
		for _, in := range d.inputs {
			if os.SameFile(info, in) {
				return &PreviewDirError{Dir: dir, Input: filepath.Join(dir, name), Err: ErrPreviewHoldsInput}
			}
		}
		if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// Directories deepest first; one that still holds something another
	// hand put there stays.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, name := range dirs {
		if info, err := d.root.Lstat(name); err == nil && info.IsDir() {
			d.root.Remove(name)
		}
	}
	return nil
}

// record appends name to the marker; a directory's name ends in "/".
func (d *previewDir) record(name string) error {
	_, err := d.marker.WriteString(name + "\n")
	return err
}

// mkdir creates the directory name, 0700, unless it is there already.
func (d *previewDir) mkdir(name string) error {
	if info, err := d.root.Lstat(name); err == nil {
		if !info.IsDir() {
			return fmt.Errorf("%s is in the way", name)
		}
		return d.record(name + "/")
	}
	if err := d.record(name + "/"); err != nil {
		return err
	}
	return d.root.Mkdir(name, 0o700)
}

// create creates the new file name, 0600, open for reading and writing,
// and records it; it never opens a file that is there already.
func (d *previewDir) create(name string) (*os.File, error) {
	if err := d.record(name); err != nil {
		return nil, err
	}
	return d.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// writeFile creates the new file name holding data.
func (d *previewDir) writeFile(name string, data []byte) error {
	f, err := d.create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove removes the file name, which the preview created.
func (d *previewDir) remove(name string) error {
	return d.root.Remove(name)
}

// close closes the marker and the directory.
func (d *previewDir) close() error {
	err := d.marker.Close()
	if cerr := d.root.Close(); err == nil {
		err = cerr
	}
	return err
}
