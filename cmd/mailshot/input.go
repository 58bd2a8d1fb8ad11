package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/mailshot/mailshot/merge"
)

// inputFlags are the flags every command that reads data and a template shares.
type inputFlags struct {
	template    string
	data        string
	sheet       string
	delimiter   string
	attachments string
	rows        string
	where       stringList
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

// Set appends one value.
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.template, "t", "", "template `DIR` (holds message.txt, optional message.html, images)")
	fs.StringVar(&f.template, "template", "", "same as -t")
	fs.StringVar(&f.data, "d", "", "recipients `FILE` (.csv, .tsv or .xlsx)")
	fs.StringVar(&f.data, "data", "", "same as -d")
	fs.StringVar(&f.sheet, "sheet", "", "XLSX sheet `NAME` (default: the first sheet)")
	fs.StringVar(&f.delimiter, "delimiter", "", "CSV field delimiter: ',' ';' or 'tab' (default: detected from the header)")
	fs.StringVar(&f.attachments, "attachments", "", "`DIR` that {{attach ...}} paths resolve under (default: the template directory)")
	fs.StringVar(&f.rows, "rows", "", "take only these spreadsheet `ROWS`, e.g. 2-50,75,80- (row 1 is the header)")
	fs.Var(&f.where, "where", "take only rows where `COLUMN=VALUE` (exact), or COLUMN!=VALUE; repeat to combine")
}

// batch checks the flags and loads the template.
func (f *inputFlags) batch() (*merge.Batch, error) {
	if f.template == "" || f.data == "" {
		return nil, usageError{errors.New("both -t DIR (template) and -d FILE (data) are required")}
	}
	var delim rune
	switch strings.ToLower(f.delimiter) {
	case "":
	case "tab", `\t`, "\t":
		delim = '\t'
	default:
		r, n := utf8.DecodeRuneInString(f.delimiter)
		if n != len(f.delimiter) || r == '"' || r == '\r' || r == '\n' {
			return nil, usageError{fmt.Errorf("--delimiter %q: give one character such as ';' or the word tab", f.delimiter)}
		}
		delim = r
	}
	if _, err := os.Stat(f.data); err != nil {
		return nil, withHint(fmt.Errorf("data file: %w", err), "-d names the CSV or XLSX file of recipients")
	}
	tpl, err := merge.LoadTemplate(f.template, merge.TemplateOptions{AttachmentsDir: f.attachments})
	if err != nil {
		return nil, withHint(err, "a template directory holds message.txt (headers, a blank line, the text) and optionally message.html; see templates/announcement")
	}
	var sel merge.Selection
	if f.rows != "" {
		if sel.Rows, err = merge.ParseRows(f.rows); err != nil {
			return nil, usageError{err}
		}
	}
	for _, w := range f.where {
		c, err := merge.ParseCondition(w)
		if err != nil {
			return nil, usageError{err}
		}
		sel.Where = append(sel.Where, c)
	}
	return &merge.Batch{
		Template: tpl,
		Data:     f.data,
		Options:  merge.DataOptions{Delimiter: delim, Sheet: f.sheet},
		Select:   sel,
	}, nil
}

// name is a short label for the template and data, used in file names.
func (f *inputFlags) name() string {
	base := func(p string) string {
		p = filepath.Base(filepath.Clean(p))
		return strings.TrimSuffix(p, filepath.Ext(p))
	}
	return base(f.template) + "-" + base(f.data)
}

// bulkThreshold is the number of messages above which a batch counts as
// bulk mail, which Gmail and Yahoo accept only with one-click unsubscribe.
const bulkThreshold = 100

// summarizeRows is the line that ends check and preview, and send's
// preflight: the counts, and a warning when a bulk batch lacks one-click
// unsubscribe.
func summarizeRows(s merge.Stats) string {
	line := fmt.Sprintf("%d rows: %d valid, %d invalid, %d duplicate-recipient warnings",
		s.Rows, s.Valid(), s.Invalid, s.Duplicates)
	if s.Valid() > bulkThreshold && s.NoUnsubscribe > 0 {
		line += fmt.Sprintf("\nwarning: %d of %d messages have no List-Unsubscribe header; Gmail and Yahoo require one-click unsubscribe from bulk senders:"+
			"\n  add List-Unsubscribe: {{unsubscribe \"https://example.org/unsubscribe?id=\" .id}} to message.txt (see README)",
			s.NoUnsubscribe, s.Valid())
	}
	return line
}

// printRow prints what a person must know of a row: why it is invalid, or
// that it repeats an earlier row's recipients.
func printRow(w io.Writer, data string, it *merge.Item) {
	switch {
	case it.Err != nil:
		fmt.Fprintln(w, it.Err)
	case it.DuplicateOf != 0:
		fmt.Fprintf(w, "%s:%d: warning: same recipients as row %d (%s)\n", data, it.Row, it.DuplicateOf, it.Key)
	}
}
