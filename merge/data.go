package merge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// RecordReader yields the recipient rows of a data file one at a time. It is
// streamed: the memory it holds does not grow with the number of rows.
//
// The header row (the first row that is not blank) names the columns; every
// Record returned by Next has exactly one value per column. Blank rows are
// skipped but keep their place in the row numbering, so Record.Row is always
// the row number a spreadsheet shows.
type RecordReader interface {
	// Columns returns the column names of the header row.
	Columns() *Columns
	// Next returns the next recipient row. It returns io.EOF after the last
	// row, and a *RowError for a row that cannot be read as a recipient (a
	// wrong number of fields, a broken quote, text that is not UTF-8); the
	// caller may then call Next again to go on with the following row, or
	// stop. Any other error means the file cannot be read further.
	// Each Record is newly allocated and the caller may keep it.
	Next() (*Record, error)
	// Close releases the file and any temporary files.
	Close() error
}

// DataOptions configures how OpenData reads a data file.
type DataOptions struct {
	// Delimiter separates the fields of a CSV file. Zero means detect it from
	// the header line: the one of ',', ';' and tab that occurs most often
	// outside quotes there, and ',' (tab for .tsv files) when none does.
	// It must be zero for XLSX files.
	Delimiter rune
	// Sheet names the worksheet of an XLSX file to read; "" means the first
	// sheet of the workbook. It must be "" for CSV files.
	Sheet string
	// Name is how the file is named in records and errors; "" means the path
	// as given to OpenData.
	Name string

	// limits replaces defaultDataLimits(); nil, except for tests.
	limits *dataLimits
	// record, when not nil, receives the digest of the bytes read; verify,
	// when not nil, is the digest of an earlier pass that every byte read
	// must match. Both are nil except in a send's two passes.
	record, verify *dataDigest
}

// dataLimits bounds what a hostile or broken data file can make a reader
// allocate, so that it fails with an error instead of exhausting memory,
// disk or time.
type dataLimits struct {
	// csvRecord is the most bytes one CSV record (all its lines) may take.
	csvRecord int64
	// xlsxUnzip is the most bytes the parts of an XLSX file that are read
	// may unpack to, as their sizes declare and as they are actually read.
	xlsxUnzip int64
	// xlsxUnzipXML is the size above which excelize unpacks a worksheet or
	// the shared string table to a temporary file instead of memory
	// (excelize's Options.UnzipXMLSizeLimit).
	xlsxUnzipXML int64
	// xlsxInMemory is the most bytes the parts that excelize holds in memory
	// (everything but the worksheets and shared strings it spills to disk)
	// may unpack to, all together.
	xlsxInMemory int64
	// xlsxCell is the most bytes of markup one cell or one shared string
	// may take.
	xlsxCell int64
	// xlsxRow is the most bytes of markup one row may take, and the most
	// bytes its values may add up to, shared strings included.
	xlsxRow int64
	// xlsxSheetHead is the most bytes of markup a worksheet may hold before
	// its rows, and the shared string table before its first string.
	xlsxSheetHead int64
	// xlsxStrings is the most items the shared string table may hold:
	// excelize keeps an index entry for each.
	xlsxStrings int
}

// defaultDataLimits returns limits generous for any real recipient list:
// Excel's own limits (1,048,576 rows, 32,767 characters a cell) fit within
// them, and reading within them stays well under 200 MB of memory.
func defaultDataLimits() dataLimits {
	return dataLimits{
		csvRecord:     4 << 20,
		xlsxUnzip:     1 << 30,
		xlsxUnzipXML:  1 << 20,
		xlsxInMemory:  32 << 20,
		xlsxCell:      1 << 20,
		xlsxRow:       4 << 20,
		xlsxSheetHead: 16 << 20,
		xlsxStrings:   1 << 20,
	}
}

// OpenData opens the recipient data file at path and reads its header row.
// The file's extension chooses the format: .csv, .tsv and .txt are read as
// CSV (RFC 4180), .xlsx as an Office Open XML workbook (ECMA-376). Errors in
// the header row (an empty or duplicated column name) are reported here, as
// a *RowError wrapped with the package prefix.
//
// XLSX values are the text the spreadsheet shows: numbers and dates in their
// cells' number formats, general numbers to 15 significant digits (so never
// 0.30000000000000004), formulas as the value last calculated and saved with
// the file. The one format that depends on the reader's locale, the system
// short date Excel gives a typed-in date, shows as yyyy-mm-dd.
func OpenData(path string, opts DataOptions) (RecordReader, error) {
	return OpenDataContext(context.Background(), path, opts)
}

// OpenDataContext is OpenData with a context: opening and reading the file
// stop soon after ctx is done (Next returns ctx's error), and every
// temporary file is removed on the way out.
func OpenDataContext(ctx context.Context, path string, opts DataOptions) (RecordReader, error) {
	name := opts.Name
	if name == "" {
		name = path
	}
	limits := defaultDataLimits()
	if opts.limits != nil {
		limits = *opts.limits
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".csv", ".tsv", ".txt":
		if opts.Sheet != "" {
			return nil, fmt.Errorf("merge: %s: a sheet name (%q) applies only to .xlsx files", name, opts.Sheet)
		}
		fallback := ','
		if ext == ".tsv" {
			fallback = '\t'
		}
		r, err := openCSV(ctx, path, name, opts.Delimiter, fallback, limits, opts.record, opts.verify)
		if err != nil {
			return nil, err
		}
		return r, nil
	case ".xlsx":
		if opts.Delimiter != 0 {
			return nil, fmt.Errorf("merge: %s: a delimiter (%q) applies only to CSV files", name, opts.Delimiter)
		}
		r, err := openXLSX(ctx, path, name, opts.Sheet, limits, opts.record, opts.verify)
		if err != nil {
			return nil, err
		}
		return r, nil
	case ".xls", ".xlsm", ".xlsb", ".ods", ".numbers":
		return nil, fmt.Errorf("merge: %s: cannot read %s files; save the sheet as .xlsx or as CSV UTF-8 (.csv)", name, ext)
	case "":
		return nil, fmt.Errorf("merge: %s: the file name has no extension to tell its type; use .csv, .tsv, .txt or .xlsx", name)
	default:
		return nil, fmt.Errorf("merge: %s: unknown data file type %q; use .csv, .tsv, .txt or .xlsx", name, ext)
	}
}

// newColumns checks the names of a header row found at row of file and
// returns them as Columns. Names are trimmed of surrounding spaces; an empty
// or repeated name is an error naming the column.
func newColumns(file string, row int, header []string) (*Columns, error) {
	names := make([]string, len(header))
	seen := make(map[string]int, len(header))
	for i, h := range header {
		n := strings.TrimSpace(h)
		switch first, dup := seen[n]; {
		case n == "":
			return nil, &RowError{File: file, Row: row,
				Err: fmt.Errorf("the header has no name for column %s", columnLabel(i))}
		case dup:
			return nil, &RowError{File: file, Row: row, Column: n,
				Err: fmt.Errorf("the header names columns %s and %s alike; column names must be unique", columnLabel(first), columnLabel(i))}
		}
		seen[n] = i
		names[i] = n
	}
	if len(names) == 0 {
		return nil, &RowError{File: file, Row: row, Err: errors.New("the header row has no columns")}
	}
	return NewColumns(names), nil
}

// isBlankRow reports whether every field is empty or white space: such a row is
// skipped, like an empty line.
func isBlankRow(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// columnLabel names the column at index i (zero-based) both by number and by
// its spreadsheet letters: "3 (C)".
func columnLabel(i int) string {
	return strconv.Itoa(i+1) + " (" + columnLetters(i) + ")"
}

// columnLetters returns the spreadsheet letters of the column at index i
// (zero-based): A, B, ..., Z, AA, AB, ...
func columnLetters(i int) string {
	var b [8]byte
	n := len(b)
	for i++; i > 0; i = (i - 1) / 26 {
		n--
		b[n] = byte('A' + (i-1)%26)
	}
	return string(b[n:])
}
