package merge

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// xlsxReader is the RecordReader of one worksheet of an Office Open XML
// workbook (ECMA-376), read row by row with excelize's streaming iterator.
// Cell values are as the spreadsheet shows them: excelize applies each
// cell's number format (dates, times, percentages, thousands separators),
// prints general numbers with at most 15 significant digits as Excel does,
// and gives formulas their cached value; a formula without one is empty
// and its row's Warning says so.
type xlsxReader struct {
	ctx     context.Context
	file    string // the file's name in records and errors
	dir     string // the private temporary directory; "" once removed
	book    *excelize.File
	rows    *excelize.Rows
	columns *Columns
	// formulas finds the cells holding a formula but no value, nil when
	// the sheet has none.
	formulas *unsavedFormulas
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
	var formulas *unsavedFormulas
	if book.unsavedFormulas {
		if formulas, err = openUnsavedFormulas(ctx, book.path, book.sheet); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", name, err)
		}
		defer func() {
			if err != nil && formulas != nil {
				formulas.Close()
			}
		}()
	}
	f, err := openWorkbook(ctx, book.path, dir, limits)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("merge: %s: cannot read the workbook: %w", name, err)
	}
	r := &xlsxReader{ctx: ctx, file: name, book: f, dir: dir, formulas: formulas}
	formulas = nil // r.Close closes it
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
	cells, unsaved, err := r.read()
	if err == io.EOF {
		return fmt.Errorf("merge: %s: sheet %q is empty; its first row must name the columns", r.file, name)
	}
	if err != nil {
		return err
	}
	if len(unsaved) > 0 {
		e := &UnsavedFormulaError{}
		for _, c := range unsaved {
			e.Cells = append(e.Cells, columnLetters(c)+strconv.Itoa(r.row))
		}
		return fmt.Errorf("merge: %w", &RowError{File: r.file, Row: r.row, Err: e})
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
// value in a column the header does not name. A row with cells that hold a
// formula but no value has a Warning whose cause is an
// *UnsavedFormulaError.
func (r *xlsxReader) Next() (*Record, error) {
	cells, unsaved, err := r.read()
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
	rec := &Record{File: r.file, Row: r.row, Columns: r.columns, Values: values}
	var e *UnsavedFormulaError
	for _, c := range unsaved {
		if c >= len(names) {
			continue // empty, in no column: nothing reads it
		}
		if e == nil {
			e = &UnsavedFormulaError{}
		}
		e.Cells = append(e.Cells, columnLetters(c)+strconv.Itoa(r.row))
		e.Columns = append(e.Columns, names[c])
	}
	if e != nil {
		rec.Warning = &RowError{File: r.file, Row: r.row, Err: e}
		if len(e.Columns) == 1 {
			rec.Warning.Column = e.Columns[0]
		}
	}
	return rec, nil
}

// read returns the cells of the next row that is not blank, with the
// columns (0 for A) of its cells that hold a formula but no value, or
// io.EOF. A row whose cells are all empty but such formulas is not blank.
func (r *xlsxReader) read() ([]string, []int, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	for r.rows.Next() {
		if err := r.ctx.Err(); err != nil {
			return nil, nil, err
		}
		r.row++
		cells, err := r.rows.Columns()
		if err != nil {
			r.err = fmt.Errorf("merge: %s:%d: %w", r.file, r.row, err)
			return nil, nil, r.err
		}
		var unsaved []int
		if r.formulas != nil {
			if unsaved, err = r.formulas.in(r.row); err != nil {
				r.err = fmt.Errorf("merge: %s:%d: %w", r.file, r.row, err)
				return nil, nil, r.err
			}
		}
		if !isBlankRow(cells) || len(unsaved) > 0 {
			return cells, unsaved, nil
		}
	}
	if err := r.rows.Error(); err != nil {
		r.err = fmt.Errorf("merge: %s: after row %d: %w", r.file, r.row, err)
		return nil, nil, r.err
	}
	r.err = io.EOF
	return nil, nil, r.err
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
	if r.formulas != nil {
		errs = append(errs, r.formulas.Close())
		r.formulas = nil
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

// UnsavedFormulaError is the cause of a Record's Warning, or of the header
// row's error, for cells of an XLSX worksheet that hold a formula but no
// value. Workbooks keep each formula's last calculated value beside it;
// one written by a program that does not calculate formulas (a library
// generating it) and never opened and saved in one that does has none, so
// such cells read as empty.
type UnsavedFormulaError struct {
	Cells   []string // the cells ("C5"), in column order
	Columns []string // the names of their columns, as Cells; none for the header row
}

// Error says which cells and what to do, as `cell C5 holds a formula
// whose value was never saved: open the file in a spreadsheet program and
// save it, or export CSV`.
func (e *UnsavedFormulaError) Error() string {
	const fix = ": open the file in a spreadsheet program and save it, or export CSV"
	switch n := len(e.Cells); n {
	case 0:
		return "a formula's value was never saved" + fix
	case 1:
		return "cell " + e.Cells[0] + " holds a formula whose value was never saved" + fix
	default:
		return "cells " + strings.Join(e.Cells[:n-1], ", ") + " and " + e.Cells[n-1] +
			" hold formulas whose values were never saved" + fix
	}
}

// unsavedFormula returns a *RowError for rec when one of its cells in
// columns, the columns a template uses, holds a formula but no value (as
// its Warning says), naming the first such column; otherwise nil. A
// template must not print, test or default such a cell: its value is not
// empty, only unknown.
func unsavedFormula(rec *Record, columns []string) error {
	if rec.Warning == nil {
		return nil
	}
	var all *UnsavedFormulaError
	if !errors.As(rec.Warning.Err, &all) {
		return nil
	}
	used := &UnsavedFormulaError{}
	for i, col := range all.Columns {
		for _, c := range columns {
			if c == col {
				used.Cells = append(used.Cells, all.Cells[i])
				used.Columns = append(used.Columns, col)
				break
			}
		}
	}
	if len(used.Cells) == 0 {
		return nil
	}
	return &RowError{File: rec.File, Row: rec.Row, Column: used.Columns[0], Err: used}
}

// unsavedFormulas reads a worksheet part a second time, row by row in step
// with excelize's iterator, for the cells that hold a formula (<f>) but no
// value (<v>, or <is> for inline text). It holds one row's cells at a time;
// the scan of prepareWorkbook has already bounded every row and cell.
type unsavedFormulas struct {
	zr   *zip.ReadCloser
	part io.ReadCloser
	d    *xml.Decoder
	row  int   // the row last read; 0 before the first
	cols []int // the columns (0 for A) of its cells with a formula but no value
	done bool  // no row follows
}

// openUnsavedFormulas opens the worksheet part named part (as the package
// names it; case and separators may differ) of the workbook at path.
func openUnsavedFormulas(ctx context.Context, path, part string) (*unsavedFormulas, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	for _, f := range zr.File {
		if !strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), part) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			zr.Close()
			return nil, err
		}
		var total int64
		p := &partReader{ctx: ctx, r: rc, limit: 1<<63 - 1, total: &total, max: 1<<63 - 1}
		return &unsavedFormulas{zr: zr, part: rc, d: xml.NewDecoder(p)}, nil
	}
	zr.Close()
	return nil, fmt.Errorf("no part %s in the prepared workbook", part)
}

// in returns the columns of row's cells that hold a formula but no value.
// Rows must be asked for in increasing order; the slice is valid until the
// next call.
func (u *unsavedFormulas) in(row int) ([]int, error) {
	for !u.done && u.row < row {
		if err := u.next(); err != nil {
			return nil, err
		}
	}
	if u.row == row {
		return u.cols, nil
	}
	return nil, nil
}

// next reads the next row of the sheet, numbered as excelize numbers it.
func (u *unsavedFormulas) next() error {
	u.cols = u.cols[:0]
	var (
		inRow, inCell  bool
		formula, value bool
		col            int
	)
	for {
		tok, err := u.d.RawToken()
		if err == io.EOF {
			u.done = true
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				if n, err := strconv.Atoi(xmlAttr(t, "r")); err == nil && n > 0 {
					u.row = n
				} else {
					u.row++
				}
				inRow, col = true, 0
			case "c":
				if !inRow {
					break
				}
				inCell, formula, value = true, false, false
				if c, ok := cellColumn(xmlAttr(t, "r")); ok {
					col = c
				} else {
					col++
				}
			case "f":
				formula = formula || inCell
			case "v", "is":
				value = value || inCell
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "c":
				if inCell && formula && !value {
					u.cols = append(u.cols, col-1)
				}
				inCell = false
			case "row":
				if inRow {
					return nil
				}
			case "sheetData":
				u.done = true
				return nil
			}
		}
	}
}

// Close closes the part and the workbook.
func (u *unsavedFormulas) Close() error {
	return errors.Join(u.part.Close(), u.zr.Close())
}
