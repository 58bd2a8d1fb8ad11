package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mailshot/mailshot/samples"
	"github.com/mailshot/mailshot/templates"
)

// starterFiles returns the files mailshot init writes: the announcement
// template and the sample recipients, by name.
func starterFiles() (map[string][]byte, error) {
	files := map[string][]byte{"recipients.csv": samples.RecipientsCSV}
	err := fs.WalkDir(templates.Announcement, "announcement", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templates.Announcement, p)
		files[path.Base(p)] = b
		return err
	})
	return files, err
}

func runInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("init", stderr, "mailshot init DIR",
		"Writes a ready-to-edit template (message.txt, message.html, logo.png) and a sample\n"+
			"recipients.csv into DIR, which may exist but must not hold any of those files.")
	if err := parseCommandLine(fset, args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return usageError{errors.New("init needs one directory: mailshot init DIR")}
	}
	dir := fset.Arg(0)
	files, err := starterFiles()
	if err != nil {
		return err
	}
	// Refuse before writing anything, so a refusal leaves DIR as it was.
	var exist []string
	for name := range files {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			exist = append(exist, name)
		}
	}
	if len(exist) > 0 {
		return withHint(fmt.Errorf("init: %s already holds %s", dir, strings.Join(exist, ", ")),
			"mailshot init never overwrites files; choose a new or empty directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	for name, content := range files {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		_, err = f.Write(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	d := shellQuote(dir)
	data := shellQuote(filepath.Join(dir, "recipients.csv"))
	fmt.Fprintf(stdout, "wrote %s: message.txt, message.html, logo.png, recipients.csv\n\nnext:\n", dir)
	fmt.Fprintf(stdout, "  mailshot check   -t %s -d %s\n", d, data)
	fmt.Fprintf(stdout, "  mailshot preview -t %s -d %s -o %s\n", d, data, shellQuote(filepath.Join(dir, "preview")))
	fmt.Fprintf(stdout, "  mailshot send    -t %s -d %s --smtp smtp://you@example.org@smtp.example.org:587 --test-to you@example.org\n", d, data)
	return nil
}
