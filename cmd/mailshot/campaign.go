package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
)

// campaign is what a journal is about, written as its first line by the
// run that creates it: the template and data it sends, and how the rows
// were selected. A later send with the same journal must be the same
// campaign, or say explicitly that it sends other data under it.
type campaign struct {
	Template    string    `json:"template"` // absolute, symbolic links resolved
	Data        string    `json:"data"`
	Sheet       string    `json:"sheet,omitempty"`
	Delimiter   string    `json:"delimiter,omitempty"`
	Attachments string    `json:"attachments,omitempty"`
	Rows        string    `json:"rows,omitempty"`
	Where       []string  `json:"where,omitempty"`
	TemplateSum string    `json:"template_sha256"` // of the template directory's files
	Version     string    `json:"mailshot"`
	Started     time.Time `json:"started"`
}

// newCampaign describes the campaign the input flags name.
func newCampaign(in *inputFlags) (*campaign, error) {
	c := &campaign{
		Sheet: in.sheet, Delimiter: in.delimiter, Rows: in.rows, Where: slices.Clone([]string(in.where)),
		Version: mailshotVersion(), Started: time.Now().UTC().Truncate(time.Second),
	}
	var err error
	if c.Template, err = canonicalPath(in.template); err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	if c.Data, err = canonicalPath(in.data); err != nil {
		return nil, fmt.Errorf("data file: %w", err)
	}
	if in.attachments != "" {
		if c.Attachments, err = canonicalPath(in.attachments); err != nil {
			return nil, fmt.Errorf("attachments directory: %w", err)
		}
	}
	if c.TemplateSum, err = hashTree(c.Template); err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	return c, nil
}

// canonicalPath is the absolute form of p with symbolic links resolved:
// the same file has the same name from any directory.
func canonicalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// hashTree returns a SHA-256, in hex, of the names and contents of the
// regular files under dir, hidden ones left out, so that a later run can
// tell whether a template changed.
func hashTree(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%d:%s\n", len(rel), filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mailshotVersion is the module version this binary was built from, or
// "(devel)".
func mailshotVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// defaultJournal is where a campaign's journal lives unless --journal says
// otherwise: beside the data file (beside the template directory when the
// data is inside it, as in the starter kit), named after the data and the template,
// with a hash of their full names, so the same campaign finds it from any
// directory and no other campaign does.
func (c *campaign) defaultJournal() string {
	id := c.Template + "\x00" + c.Data
	if c.Sheet != "" {
		id += "\x00" + c.Sheet // another sheet of one workbook is another campaign
	}
	sum := sha256.Sum256([]byte(id))
	base := func(p string) string { return strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) }
	dir := filepath.Dir(c.Data)
	if rel, err := filepath.Rel(c.Template, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		// The data is in the template directory, as in the starter kit;
		// nothing is written among a template's files, so the journal
		// goes beside that directory.
		dir = filepath.Dir(c.Template)
	}
	return filepath.Join(dir,
		fmt.Sprintf("%s.%s-%s.journal.jsonl", base(c.Data), base(c.Template), hex.EncodeToString(sum[:4])))
}

// errOtherCampaign is the cause of refusing a journal that states another
// campaign.
var errOtherCampaign = errors.New("the journal belongs to another campaign")

// readCampaign decodes a journal's header, or returns nil when it has none.
func readCampaign(raw json.RawMessage) (*campaign, error) {
	if raw == nil {
		return nil, nil
	}
	var c campaign
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("the journal's campaign header: %w", err)
	}
	return &c, nil
}

// match checks that c, this run's campaign, may use a journal that states
// old: the same template directory, and the same data unless otherData.
// The error says what differs, for one line.
func (c *campaign) match(old *campaign, journalPath string, otherData bool) error {
	switch {
	case old.Template != c.Template:
		return withHint(fmt.Errorf("%s: %w: its template is %s, not %s", journalPath, errOtherCampaign, old.Template, c.Template),
			"for a new campaign, leave out --journal or name a new file with --journal NEW")
	case old.Data != c.Data && !otherData:
		return withHint(fmt.Errorf("%s: %w: its data is %s, not %s", journalPath, errOtherCampaign, old.Data, c.Data),
			"for a new campaign, leave out --journal or name a new file with --journal NEW; to send these rows under that journal (rows not sent, fixed), add --other-data")
	case old.Data == c.Data && old.Sheet != c.Sheet && !otherData:
		return withHint(fmt.Errorf("%s: %w: its sheet is %q, not %q", journalPath, errOtherCampaign, old.Sheet, c.Sheet),
			"for a new campaign, leave out --journal or name a new file with --journal NEW")
	}
	return nil
}

// sameFile reports whether two paths name one file.
func sameFile(a, b string) bool {
	ia, err1 := os.Stat(a)
	ib, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ia, ib)
}

// legacyJournal is the name earlier versions gave a journal by default, in
// the current directory.
func (f *inputFlags) legacyJournal() string { return f.name() + ".journal.jsonl" }

// journalCampaign is a journal's campaign, for report.
func journalCampaign(r *journal.Report) (*campaign, error) { return readCampaign(r.Campaign) }
