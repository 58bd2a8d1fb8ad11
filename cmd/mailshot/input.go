package main

import (
	"bytes"
	"context"
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

// validation counts what a pass over the data found.
type validation struct {
	rows, invalid, duplicates int
	noUnsubscribe             int // valid messages without List-Unsubscribe
}

func (v validation) summary() string {
	s := fmt.Sprintf("%d rows: %d valid, %d invalid, %d duplicate-recipient warnings",
		v.rows, v.rows-v.invalid, v.invalid, v.duplicates)
	if valid := v.rows - v.invalid; valid > bulkThreshold && v.noUnsubscribe > 0 {
		s += fmt.Sprintf("\nwarning: %d of %d messages have no List-Unsubscribe header; Gmail and Yahoo require one-click unsubscribe from bulk senders:"+
			"\n  add List-Unsubscribe: {{unsubscribe \"https://example.org/unsubscribe?id=\" .id}} to message.txt (see README)",
			v.noUnsubscribe, valid)
	}
	return s
}

// validate renders every row and, when compose is set, composes it,
// printing each invalid row and each duplicate as one line to out. It calls
// each (if not nil) for every row: for a valid one with the composed message
// (nil without compose), which is only valid during the call; for an
// invalid one (it.Err set) with nil. Render alone finds every problem the
// data can cause (it reads the files and encodes the header); Compose only
// writes what Render checked.
func validate(ctx context.Context, b *merge.Batch, out io.Writer, compose bool, each func(it *merge.Item, eml []byte) error) (validation, error) {
	var v validation
	composer := &merge.Composer{}
	var buf bytes.Buffer
	err := b.Each(ctx, func(it *merge.Item) error {
		v.rows++
		if it.Err == nil && compose {
			buf.Reset()
			if err := composer.Compose(&buf, it.Message); err != nil {
				it.Err = &merge.RowError{File: b.Data, Row: it.Row, Err: err}
			}
		}
		var eml []byte
		switch {
		case it.Err != nil:
			v.invalid++
			fmt.Fprintln(out, it.Err)
		case it.DuplicateOf != 0:
			v.duplicates++
			fmt.Fprintf(out, "%s:%d: warning: same recipients as row %d (%s)\n", b.Data, it.Row, it.DuplicateOf, it.Key)
			fallthrough
		default:
			if compose {
				eml = buf.Bytes()
			}
		}
		if it.Err == nil {
			if _, ok := it.Message.Header("List-Unsubscribe"); !ok {
				v.noUnsubscribe++
			}
		}
		if each != nil {
			return each(it, eml)
		}
		return nil
	})
	return v, err
}
