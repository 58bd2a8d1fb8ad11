package merge

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// csvBufferSize is the read buffer of a CSV file; the delimiter is detected
// from the header line within its first csvBufferSize bytes.
const csvBufferSize = 64 << 10

// errRecordTooLong stops a CSV reader from buffering a record without end,
// typically after an opening quote that is never closed.
var errRecordTooLong = errors.New("merge: CSV record too long")

// csvReader is the RecordReader of a CSV file as RFC 4180 defines it: fields
// separated by a delimiter, optionally enclosed in double quotes, inside which
// delimiters, line breaks and doubled quotes ("") are data. The text must be
// UTF-8, with or without a byte order mark.
type csvReader struct {
	file    string    // the file's name in records and errors
	closer  io.Closer // the open file; nil when reading from memory
	in      *recordLimitReader
	csv     *csv.Reader
	bom     int64 // length of the byte order mark skipped before the header
	columns *Columns

	// extraLines counts the line breaks inside the quoted fields of the
	// records read so far: a spreadsheet shows a record on one row, so a
	// record's row number is its first line's number minus extraLines.
	extraLines int
	// lastRow is the row number of the last record read.
	lastRow int
	// err is the error that ended reading, returned from then on.
	err error
}

// openCSV opens the CSV file at path, named name in errors, and reads its
// header row. A zero delim is detected from the header line, falling back
// to fallback.
func openCSV(path, name string, delim, fallback rune, limits dataLimits) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	r, err := newCSVReader(f, name, delim, fallback, limits)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// newCSVReader reads CSV data from in, named name in errors, up to and
// including its header row.
func newCSVReader(in io.Reader, name string, delim, fallback rune, limits dataLimits) (*csvReader, error) {
	if delim != 0 && !isValidDelimiter(delim) {
		return nil, fmt.Errorf("merge: %s: %q cannot separate CSV fields", name, delim)
	}
	lr := &recordLimitReader{r: in, max: limits.csvRecord + csvBufferSize}
	lr.limit = lr.max
	br := bufio.NewReaderSize(lr, csvBufferSize)
	r := &csvReader{file: name, in: lr}

	start, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(start, []byte("\xef\xbb\xbf")):
		br.Discard(3)
		r.bom = 3
	case bytes.HasPrefix(start, []byte("\xff\xfe")), bytes.HasPrefix(start, []byte("\xfe\xff")):
		return nil, fmt.Errorf("merge: %s: the file is UTF-16 text; save it as CSV UTF-8", name)
	}
	if delim == 0 {
		head, _ := br.Peek(csvBufferSize)
		delim = detectDelimiter(head, fallback)
	}

	// br is at least 4096 bytes large, so csv.NewReader uses it as it is.
	r.csv = csv.NewReader(br)
	r.csv.Comma = delim
	r.csv.FieldsPerRecord = -1

	for {
		fields, row, err := r.read()
		if err == io.EOF {
			return nil, fmt.Errorf("merge: %s: the file is empty; its first row must name the columns", name)
		}
		if rerr := (*RowError)(nil); errors.As(err, &rerr) {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if err != nil {
			return nil, err
		}
		if isBlankRow(fields) {
			continue
		}
		for i, f := range fields {
			if !utf8.ValidString(f) {
				return nil, fmt.Errorf("merge: %w", &RowError{File: name, Row: row,
					Err: fmt.Errorf("the name of column %s %w", columnLabel(i), errNotUTF8)})
			}
		}
		cols, err := newColumns(name, row, fields)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		r.columns = cols
		return r, nil
	}
}

// errNotUTF8 explains a field that is not UTF-8 text.
var errNotUTF8 = errors.New("is not valid UTF-8 text; save the file as CSV UTF-8")

// Columns returns the column names of the header row.
func (r *csvReader) Columns() *Columns { return r.columns }

// Next returns the next non-blank record, io.EOF after the last one, or a
// *RowError for a record that is not a well-formed row of the table.
func (r *csvReader) Next() (*Record, error) {
	for {
		fields, row, err := r.read()
		if err != nil {
			return nil, err
		}
		if isBlankRow(fields) {
			continue
		}
		names := r.columns.Names()
		if len(fields) != len(names) {
			return nil, &RowError{File: r.file, Row: row,
				Err: fmt.Errorf("the row has %s but the header has %s", quantity(len(fields), "field"), quantity(len(names), "column"))}
		}
		for i, f := range fields {
			if !utf8.ValidString(f) {
				return nil, &RowError{File: r.file, Row: row, Column: names[i], Err: errNotUTF8}
			}
		}
		return &Record{File: r.file, Row: row, Columns: r.columns, Values: fields}, nil
	}
}

// Close closes the file.
func (r *csvReader) Close() error {
	r.err = errors.New("merge: read after close")
	if r.closer == nil {
		return nil
	}
	err := r.closer.Close()
	r.closer = nil
	return err
}

// read reads the next record, blank or not, and returns its fields and its
// row number. A malformed record is a *RowError after which reading may go
// on; any other error ends reading.
func (r *csvReader) read() (fields []string, row int, err error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	fields, err = r.csv.Read()
	// Allow the next record its own csvRecord bytes past this one's end.
	r.in.limit = r.bom + r.csv.InputOffset() + r.in.max
	var perr *csv.ParseError
	switch {
	case err == nil:
	case errors.As(err, &perr):
		row = perr.StartLine - r.extraLines
		r.extraLines += perr.Line - perr.StartLine
		r.lastRow = row
		return nil, row, &RowError{File: r.file, Row: row, Err: describeParseError(perr, r.csv.Comma)}
	case err == io.EOF:
		r.err = io.EOF
		return nil, 0, err
	case errors.Is(err, errRecordTooLong):
		where := "the first row"
		if r.lastRow > 0 {
			where = fmt.Sprintf("the row after row %d", r.lastRow)
		}
		r.err = fmt.Errorf("merge: %s: %s is longer than %d bytes; is a closing quote missing?", r.file, where, r.in.max-csvBufferSize)
		return nil, 0, r.err
	default:
		r.err = fmt.Errorf("merge: %s: %w", r.file, err)
		return nil, 0, r.err
	}
	first, _ := r.csv.FieldPos(0)
	last, _ := r.csv.FieldPos(len(fields) - 1)
	// A line break inside a quoted field reaches the field as "\n" (CRLF
	// included), so the record ends that many lines after its last field
	// begins.
	end := last + strings.Count(fields[len(fields)-1], "\n")
	row = first - r.extraLines
	r.extraLines += end - first
	r.lastRow = row
	return fields, row, nil
}

// describeParseError says what is wrong with a malformed record in words
// that tell the person editing the file what to fix.
func describeParseError(e *csv.ParseError, delim rune) error {
	at := fmt.Sprintf("line %d, byte %d of the file", e.Line, e.Column)
	switch {
	case errors.Is(e.Err, csv.ErrBareQuote):
		return fmt.Errorf(`a " appears inside a field that does not begin with one (%s); enclose the field in double quotes and double each " inside it`, at)
	case errors.Is(e.Err, csv.ErrQuote):
		return fmt.Errorf(`a quoted field is not closed, or text follows its closing quote before the next %q (%s); double each " inside a quoted field`, delim, at)
	default:
		return fmt.Errorf("%w (%s)", e.Err, at)
	}
}

// detectDelimiter returns the one of ',', ';' and tab that occurs most often
// outside quotes in the first non-blank line of head, or fallback when none
// does. Ties go to the earlier of ',', ';' and tab.
func detectDelimiter(head []byte, fallback rune) rune {
	candidates := [...]rune{',', ';', '\t'}
	var counts [len(candidates)]int
	quoted, seen := false, false
scan:
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			if seen {
				break scan
			}
		case c == ',':
			counts[0]++
		case c == ';':
			counts[1]++
		case c == '\t':
			counts[2]++
		}
		if c != ' ' && c != '\r' && c != '\n' {
			seen = true
		}
	}
	best, most := fallback, 0
	for i, n := range counts {
		if n > most {
			best, most = candidates[i], n
		}
	}
	return best
}

// isValidDelimiter reports whether encoding/csv accepts d as a delimiter.
func isValidDelimiter(d rune) bool {
	return d != '"' && d != '\r' && d != '\n' && d != utf8.RuneError && utf8.ValidRune(d)
}

// quantity formats n and noun, in the plural when n is not 1.
func quantity(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// recordLimitReader fails a read that goes beyond limit bytes from the start
// of the stream; the CSV reader moves limit forward after every record.
type recordLimitReader struct {
	r     io.Reader
	n     int64 // bytes read so far
	limit int64 // bytes that may be read in all
	max   int64 // bytes one record and the read buffer may take
}

func (l *recordLimitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errRecordTooLong
	}
	if rest := l.limit - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
