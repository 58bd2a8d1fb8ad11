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
		return nil, withHint(err, "a template directory holds message.txt (headers, a blank line, the text) and optionally message.html; mailshot init DIR writes one to start from")
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
	line := fmt.Sprintf("%s: %d valid, %d invalid, %d duplicate-recipient warnings",
		count(s.Rows, "row"), s.Valid(), s.Invalid, s.Duplicates)
	if s.Warnings > 0 {
		line += fmt.Sprintf(", %d rows read with a warning", s.Warnings)
	}
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
	var uf *merge.UnsavedFormulaError
	if it.Record != nil && it.Record.Warning != nil && !errors.As(it.Err, &uf) { // else the error says it
		fmt.Fprintf(w, "%s:%d: warning: %v\n", it.Record.Warning.File, it.Row, it.Record.Warning.Err)
	}
	switch {
	case it.Err != nil:
		fmt.Fprintln(w, it.Err)
	case it.DuplicateOf != 0:
		fmt.Fprintf(w, "%s:%d: warning: same recipients as row %d (%s)\n", data, it.Row, it.DuplicateOf, it.Key)
	}
}

// shownRows is how many rows' problems are printed one by one; the rest
// are counted.
const shownRows = 20

// rowPrinter prints what a person must know of the rows of a pass, each
// mistake once: a template's mistake (a column the data lacks) once
// whatever the number of rows, the first shownRows rows' problems line by
// line, and the rest as counts by column in Flush.
type rowPrinter struct {
	w     io.Writer
	data  string
	shown int
	said  map[merge.UnknownColumnError]bool
	more  map[string]int // rows not shown, by what is wrong
	order []string
}

func newRowPrinter(w io.Writer, data string) *rowPrinter {
	return &rowPrinter{w: w, data: data, said: make(map[merge.UnknownColumnError]bool), more: make(map[string]int)}
}

// Row prints, or counts, what is wrong with one row.
func (p *rowPrinter) Row(it *merge.Item) {
	if it.Err == nil && it.DuplicateOf == 0 && (it.Record == nil || it.Record.Warning == nil) {
		return
	}
	var unknown *merge.UnknownColumnError
	if errors.As(it.Err, &unknown) {
		if !p.said[*unknown] {
			p.said[*unknown] = true
			fmt.Fprintln(p.w, unknown)
		}
		return
	}
	if p.shown < shownRows {
		p.shown++
		printRow(p.w, p.data, it)
		return
	}
	what := "duplicate recipients"
	var re *merge.RowError
	switch {
	case errors.As(it.Err, &re) && re.Column != "":
		what = fmt.Sprintf("column %q", re.Column)
	case it.Err != nil:
		what = "other problems"
	case it.DuplicateOf == 0:
		what = "warnings"
	}
	if p.more[what] == 0 {
		p.order = append(p.order, what)
	}
	p.more[what]++
}

// Flush prints the counts of the rows not shown.
func (p *rowPrinter) Flush() {
	if len(p.order) == 0 {
		return
	}
	n := 0
	var parts []string
	for _, what := range p.order {
		n += p.more[what]
		parts = append(parts, fmt.Sprintf("%s %d", what, p.more[what]))
	}
	fmt.Fprintf(p.w, "%s: and %d more rows: %s (mailshot check -d %s --rows N-M shows them)\n", p.data, n, strings.Join(parts, ", "), shellQuote(p.data))
	clear(p.more)
	p.order = p.order[:0]
}
