package merge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// xlsxReader is the RecordReader of one worksheet of an Office Open XML
// workbook (ECMA-376), read row by row with excelize's streaming iterator.
// Cell values are as the spreadsheet shows them: excelize applies each
// cell's number format (dates, times, percentages, thousands separators),
// prints general numbers with at most 15 significant digits as Excel does,
// and gives formulas their cached value.
type xlsxReader struct {
	ctx     context.Context
	file    string // the file's name in records and errors
	dir     string // the private temporary directory; "" once removed
	book    *excelize.File
	rows    *excelize.Rows
	columns *Columns
	// row is the number of the last row read: excelize's iterator stops at
	// every row number, including those absent from the file.
	row int
	// err is the error that ended reading, returned from then on.
	err error
}

// openXLSX opens the workbook at path, named name in errors, and reads the
// header row of the named sheet ("" for the first one). The workbook is
// first copied into a private temporary directory (its bytes recorded in
// record or checked against verify), checked against limits, and cut down
// to the parts the sheet needs; excelize then reads that copy, its own
// temporary files in the same directory, which Close removes, as does every
// error return.
func openXLSX(ctx context.Context, path, name, sheet string, limits dataLimits, record, verify *dataDigest) (_ *xlsxReader, err error) {
	dir, err := newTempDir()
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	src, err := snapshotWorkbook(ctx, path, name, dir, limits, record, verify)
	if err != nil {
		return nil, err
	}
	book, err := prepareWorkbook(ctx, src, name, sheet, limits)
	if err != nil {
		return nil, err
	}
	os.Remove(src)
	f, err := openWorkbook(ctx, book, dir, limits)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("merge: %s: cannot read the workbook: %w", name, err)
	}
	r := &xlsxReader{ctx: ctx, file: name, book: f, dir: dir}
	if err := r.start(sheet); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// isCompoundFile reports whether the file at path is an OLE compound file,
// the container of .xls workbooks and of encrypted .xlsx ones.
func isCompoundFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [8]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
}

// start finds the sheet and reads its header row: the first row that is not
// blank. Blank cells at the end of the header row do not make columns.
func (r *xlsxReader) start(sheet string) error {
	sheets := r.book.GetSheetList()
	if len(sheets) == 0 {
		return fmt.Errorf("merge: %s: the workbook has no sheets", r.file)
	}
	name := sheets[0]
	if sheet != "" {
		name = findSheet(sheets, sheet)
		if name == "" {
			quoted := make([]string, len(sheets))
			for i, s := range sheets {
				quoted[i] = fmt.Sprintf("%q", s)
			}
			return fmt.Errorf("merge: %s: there is no sheet %q; the sheets are %s", r.file, sheet, strings.Join(quoted, ", "))
		}
	}
	rows, err := r.book.Rows(name)
	if err != nil {
		return fmt.Errorf("merge: %s: sheet %q: %w", r.file, name, err)
	}
	r.rows = rows
	cells, err := r.read()
	if err == io.EOF {
		return fmt.Errorf("merge: %s: sheet %q is empty; its first row must name the columns", r.file, name)
	}
	if err != nil {
		return err
	}
	for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
		cells = cells[:len(cells)-1]
	}
	cols, err := newColumns(r.file, r.row, cells)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	r.columns = cols
	return nil
}

// findSheet returns the name in sheets that is want, or failing that equal
// to want but for case as Excel treats sheet names, or "" if none is.
func findSheet(sheets []string, want string) string {
	for _, s := range sheets {
		if s == want {
			return s
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(s, want) {
			return s
		}
	}
	return ""
}

// Columns returns the column names of the header row.
func (r *xlsxReader) Columns() *Columns { return r.columns }

// Next returns the next row that is not blank, its short end padded with
// empty values, io.EOF after the last row, or a *RowError for a row with a
// value in a column the header does not name.
func (r *xlsxReader) Next() (*Record, error) {
	cells, err := r.read()
	if err != nil {
		return nil, err
	}
	names := r.columns.Names()
	for i := len(names); i < len(cells); i++ {
		if strings.TrimSpace(cells[i]) != "" {
			return nil, &RowError{File: r.file, Row: r.row,
				Err: fmt.Errorf("cell %s%d holds a value, but the header names no column %s", columnLetters(i), r.row, columnLetters(i))}
		}
	}
	values := cells[:min(len(cells), len(names))]
	if len(values) < len(names) {
		values = make([]string, len(names))
		copy(values, cells)
	}
	for i, v := range values {
		if !utf8.ValidString(v) {
			return nil, &RowError{File: r.file, Row: r.row, Column: names[i], Err: errors.New("is not valid UTF-8 text")}
		}
	}
	return &Record{File: r.file, Row: r.row, Columns: r.columns, Values: values}, nil
}

// read returns the cells of the next row that is not blank, or io.EOF.
func (r *xlsxReader) read() ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	for r.rows.Next() {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		r.row++
		cells, err := r.rows.Columns()
		if err != nil {
			r.err = fmt.Errorf("merge: %s:%d: %w", r.file, r.row, err)
			return nil, r.err
		}
		if !isBlankRow(cells) {
			return cells, nil
		}
	}
	if err := r.rows.Error(); err != nil {
		r.err = fmt.Errorf("merge: %s: after row %d: %w", r.file, r.row, err)
		return nil, r.err
	}
	r.err = io.EOF
	return nil, r.err
}

// Close closes the workbook and removes the temporary files excelize made.
func (r *xlsxReader) Close() error {
	r.err = errors.New("merge: read after close")
	var errs []error
	if r.rows != nil {
		errs = append(errs, r.rows.Close())
		r.rows = nil
	}
	if r.book != nil {
		errs = append(errs, r.book.Close())
		r.book = nil
	}
	if r.dir != "" {
		errs = append(errs, os.RemoveAll(r.dir))
		r.dir = ""
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("merge: %s: %w", r.file, err)
	}
	return nil
}
