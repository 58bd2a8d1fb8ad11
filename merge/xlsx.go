package merge

import (
	"archive/zip"
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
	file    string // the file's name in records and errors
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
// header row of the named sheet ("" for the first one).
func openXLSX(path, name, sheet string, limits dataLimits) (*xlsxReader, error) {
	if err := checkPackage(path, name, limits); err != nil {
		return nil, err
	}
	book, err := excelize.OpenFile(path, excelize.Options{
		UnzipSizeLimit:    limits.xlsxUnzip,
		UnzipXMLSizeLimit: limits.xlsxUnzipXML,
		// Format 14, the system's short date and the format Excel gives a
		// date typed in, depends on a locale the reader does not know:
		// show it, and the date in format 22, unambiguously.
		ShortDatePattern: "yyyy-mm-dd",
	})
	if err != nil {
		if book != nil {
			book.Close()
		}
		return nil, fmt.Errorf("merge: %s: cannot read the workbook: %w", name, err)
	}
	r := &xlsxReader{file: name, book: book}
	if err := r.start(sheet); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// checkPackage refuses a workbook whose parts unpack to more than limits
// allow, before excelize unpacks any: a zip bomb is an error, not an
// exhausted memory or disk. The sizes come from the zip directory. It then
// unpacks every part once, to nowhere, so that a part that is damaged (its
// CRC-32 does not match) or unpacks to more than its entry declares is an
// error too: excelize ignores both and would read a shorter sheet.
func checkPackage(path, name string, limits dataLimits) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		if isCompoundFile(path) {
			return fmt.Errorf("merge: %s: the workbook is encrypted or in the Excel 97-2003 format; save it as .xlsx without a password", name)
		}
		return fmt.Errorf("merge: %s: not an XLSX workbook: %w", name, err)
	}
	defer z.Close()
	var total, inMemory uint64
	for _, f := range z.File {
		size := f.UncompressedSize64
		if size > uint64(limits.xlsxUnzip) || total+size > uint64(limits.xlsxUnzip) {
			return fmt.Errorf("merge: %s: the workbook unpacks to more than %d bytes; it is broken or a zip bomb", name, limits.xlsxUnzip)
		}
		total += size
		// Like excelize, count worksheets and the shared strings beyond
		// xlsxUnzipXML bytes as unpacked to temporary files, the rest as
		// held in memory.
		part := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		spilled := (strings.HasPrefix(part, "xl/worksheets/sheet") || part == "xl/sharedstrings.xml") &&
			size > uint64(limits.xlsxUnzipXML)
		if !spilled {
			inMemory += size
			if inMemory > uint64(limits.xlsxInMemory) {
				return fmt.Errorf("merge: %s: the workbook's parts other than its sheets unpack to more than %d bytes; it is broken or a zip bomb", name, limits.xlsxInMemory)
			}
		}
	}
	for _, f := range z.File {
		if err := checkPart(f); err != nil {
			return fmt.Errorf("merge: %s: the workbook is damaged: %s: %w", name, f.Name, err)
		}
	}
	return nil
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

// checkPart unpacks f to nowhere; archive/zip checks its size and CRC-32.
func checkPart(f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
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
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("merge: %s: %w", r.file, err)
	}
	return nil
}
