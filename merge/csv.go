package merge

import (
	"bufio"
	"bytes"
	"context"
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
// UTF-8, with or without a byte order mark. Lines end in LF or CRLF, or in
// CR alone when the file's first lines do (old Mac and Excel exports).
type csvReader struct {
	ctx     context.Context
	file    string    // the file's name in records and errors
	closer  io.Closer // the open file; nil when reading from memory
	in      *recordLimitReader
	head    *bufio.Reader // the input after the byte order mark
	tee     *csvTee       // what the csv.Reader read, from the current record on
	crOnly  bool          // lone CRs end lines
	csv     *csv.Reader
	columns *Columns
	record  *recordingReader // the digest being recorded, or nil

	// offBase is the offset in the file of the csv.Reader's first byte;
	// lineBase is the number of lines before its first line.
	offBase  int64
	lineBase int
	// nextLine is the csv.Reader's line number at its input offset.
	nextLine int
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
// to fallback. What is read is recorded in record, or checked against
// verify, when either is set.
func openCSV(ctx context.Context, path, name string, delim, fallback rune, limits dataLimits, record, verify *dataDigest) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	var in io.Reader = f
	var rr *recordingReader
	switch {
	case verify != nil:
		in = newVerifyingReader(f, verify)
	case record != nil:
		rr = newRecordingReader(f, record)
		in = rr
	}
	r, err := newCSVReader(ctx, in, name, delim, fallback, limits)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer, r.record = f, rr
	return r, nil
}

// newCSVReader reads CSV data from in, named name in errors, up to and
// including its header row.
func newCSVReader(ctx context.Context, in io.Reader, name string, delim, fallback rune, limits dataLimits) (*csvReader, error) {
	if delim != 0 && !isValidDelimiter(delim) {
		return nil, fmt.Errorf("merge: %s: %q cannot separate CSV fields", name, delim)
	}
	// csv.Reader's own buffer reads up to 4 kB ahead as well.
	lr := &recordLimitReader{r: in, max: limits.csvRecord + csvBufferSize + 4<<10}
	lr.limit = lr.max
	br := bufio.NewReaderSize(lr, csvBufferSize)
	r := &csvReader{ctx: ctx, file: name, in: lr, head: br}

	start, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(start, []byte("\xef\xbb\xbf")):
		br.Discard(3)
		r.offBase = 3
	case bytes.HasPrefix(start, []byte("\xff\xfe")), bytes.HasPrefix(start, []byte("\xfe\xff")):
		return nil, fmt.Errorf("merge: %s: the file is UTF-16 text; save it as CSV UTF-8", name)
	}
	head, _ := br.Peek(csvBufferSize)
	// A file whose first 64 kB hold a CR but no LF ends its lines in CR.
	r.crOnly = bytes.IndexByte(head, '\r') >= 0 && bytes.IndexByte(head, '\n') < 0
	if r.crOnly {
		head = bytes.ReplaceAll(head, []byte("\r"), []byte("\n"))
	}
	if delim == 0 {
		delim = detectDelimiter(head, fallback)
	}
	r.restart(br, delim)

	for {
		fields, row, _, err := r.read()
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

// restart makes a new csv.Reader read from src, which begins at offset
// offBase of the file and at line lineBase+1.
func (r *csvReader) restart(src io.Reader, delim rune) {
	if r.crOnly {
		src = &crReader{r: src}
	}
	r.tee = &csvTee{r: src, base: r.offBase}
	r.csv = csv.NewReader(r.tee)
	r.csv.Comma = delim
	r.csv.FieldsPerRecord = -1
	r.nextLine = 1
}

// errNotUTF8 explains a field that is not UTF-8 text.
var errNotUTF8 = errors.New("is not valid UTF-8 text; save the file as CSV UTF-8")

// Columns returns the column names of the header row.
func (r *csvReader) Columns() *Columns { return r.columns }

// Next returns the next non-blank record, io.EOF after the last one, or a
// *RowError for a record that is not a well-formed row of the table.
func (r *csvReader) Next() (*Record, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		fields, row, lines, err := r.read()
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
		rec := &Record{File: r.file, Row: row, Columns: r.columns, Values: fields}
		if lines > 1 {
			rec.Warning = r.strayQuote(rec, lines)
		}
		return rec, nil
	}
}

// Close closes the file.
func (r *csvReader) Close() error {
	r.err = errors.New("merge: read after close")
	if r.record != nil {
		r.record.finish()
		r.record = nil
	}
	if r.closer == nil {
		return nil
	}
	err := r.closer.Close()
	r.closer = nil
	return err
}

// read reads the next record, blank or not, and returns its fields, its
// row number and the number of lines it took. A malformed record is a
// *RowError after which reading may go on; any other error ends reading.
//
// A quoted field that is not closed by the end of the file, or within the
// record limit, makes its first line an invalid row, and reading goes on
// with the line after it: a stray quote costs one row, never the rows
// after it.
func (r *csvReader) read() (fields []string, row, lines int, err error) {
	if r.err != nil {
		return nil, 0, 0, r.err
	}
	start := r.csv.InputOffset()
	r.tee.forget(r.offBase + start)
	fields, err = r.csv.Read()
	// Allow the next record its own csvRecord bytes past this one's end.
	r.in.limit = r.offBase + r.csv.InputOffset() + r.in.max
	var perr *csv.ParseError
	switch {
	case err == nil:
	case errors.As(err, &perr) && errors.Is(perr.Err, csv.ErrQuote) && perr.Line > perr.StartLine && r.atEOF():
		row, rerr := r.recover(start, describeParseError(perr, r.csv.Comma))
		return nil, row, 1, rerr
	case errors.As(err, &perr):
		row = r.lineBase + perr.StartLine - r.extraLines
		r.extraLines += perr.Line - perr.StartLine
		r.nextLine = perr.Line + 1
		r.lastRow = row
		return nil, row, perr.Line - perr.StartLine + 1, &RowError{File: r.file, Row: row, Err: describeParseError(perr, r.csv.Comma)}
	case err == io.EOF:
		r.err = io.EOF
		return nil, 0, 0, err
	case errors.Is(err, errRecordTooLong):
		row, rerr := r.recover(start, fmt.Errorf("the row is longer than %s; is a closing quote missing?", limitSize(r.in.max-csvBufferSize-4<<10)))
		return nil, row, 1, rerr
	default:
		r.err = fmt.Errorf("merge: %s: %w", r.file, err)
		return nil, 0, 0, r.err
	}
	first, _ := r.csv.FieldPos(0)
	last, _ := r.csv.FieldPos(len(fields) - 1)
	// A line break inside a quoted field reaches the field as "\n" (CRLF
	// included), so the record ends that many lines after its last field
	// begins.
	end := last + strings.Count(fields[len(fields)-1], "\n")
	row = r.lineBase + first - r.extraLines
	r.extraLines += end - first
	r.nextLine = end + 1
	r.lastRow = row
	return fields, row, end - first + 1, nil
}

// atEOF reports whether everything of the input has been parsed.
func (r *csvReader) atEOF() bool {
	return r.tee.eof && r.tee.buffered(r.offBase+r.csv.InputOffset()) == 0
}

// recover handles a record that swallowed the rest of the file or outgrew
// the limit, beginning at offset start of the csv.Reader: it reports the
// record's first line as an invalid row and restarts reading at the next
// line, from the bytes the tee kept and the input not yet read.
func (r *csvReader) recover(start int64, why error) (int, error) {
	kept := r.tee.from(r.offBase + start)
	line := r.nextLine
	// Skip the blank lines csv.Reader skipped before the record.
	for len(kept) > 0 && (kept[0] == '\n' || kept[0] == '\r') {
		if kept[0] == '\n' {
			line++
		}
		kept = kept[1:]
	}
	cut := bytes.IndexByte(kept, '\n')
	if cut < 0 {
		cut = len(kept) - 1 // the record is the file's last line
	}
	rest := bytes.Clone(kept[cut+1:])
	row := r.lineBase + line - r.extraLines
	r.lastRow = row
	consumed := r.offBase + start + int64(len(r.tee.from(r.offBase+start))-len(rest))
	r.lineBase += line
	r.offBase = consumed
	r.in.limit = consumed + int64(len(rest)) + r.in.max
	r.restart(io.MultiReader(bytes.NewReader(rest), r.head), r.csv.Comma)
	return row, &RowError{File: r.file, Row: row, Err: why}
}

// strayQuote returns a warning for a record of lines lines whose quoted
// field's continuation lines each look like a row of their own (they hold
// as many delimiters as a row), which is what a stray quote that a later
// one closes makes of several rows; nil if it has none.
func (r *csvReader) strayQuote(rec *Record, lines int) *RowError {
	names := r.columns.Names()
	if len(names) < 2 {
		return nil
	}
	delim := string(r.csv.Comma)
	for i, v := range rec.Values {
		parts := strings.Split(v, "\n")
		if len(parts) < 2 {
			continue
		}
		looks := true
		for _, p := range parts[1:] {
			if strings.Count(p, delim) < len(names)-1 {
				looks = false
				break
			}
		}
		if looks {
			return &RowError{File: r.file, Row: rec.Row, Column: names[i], Err: &StrayQuoteError{Lines: lines}}
		}
	}
	return nil
}

// StrayQuoteError is the cause of a Record's Warning for a quoted field
// that runs over lines which each look like a row of their own: a quote
// that does not belong there, closed by another one some rows further down,
// makes one row of several, and the recipients on the lines it swallowed
// get nothing.
type StrayQuoteError struct {
	Lines int // the lines the record took
}

func (e *StrayQuoteError) Error() string {
	return fmt.Sprintf("a quoted field runs over %d lines that look like rows of their own; is a quote missing or out of place?", e.Lines)
}

// csvTee passes the csv.Reader's input through and keeps what it read from
// the start of the current record on, so that a record that swallowed the
// rest of the file can be read again line by line. What it keeps is
// bounded by the record limit.
type csvTee struct {
	r    io.Reader
	buf  []byte
	base int64 // offset of buf[0]
	eof  bool  // r returned io.EOF
}

func (t *csvTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// forget drops what was read before offset off.
func (t *csvTee) forget(off int64) {
	if k := off - t.base; k > 0 && k <= int64(len(t.buf)) {
		t.buf = t.buf[k:]
		t.base = off
		if cap(t.buf) > 1<<20 && len(t.buf) < cap(t.buf)/4 {
			t.buf = bytes.Clone(t.buf)
		}
	}
}

// from returns what was read from offset off on.
func (t *csvTee) from(off int64) []byte {
	if k := off - t.base; k >= 0 && k <= int64(len(t.buf)) {
		return t.buf[k:]
	}
	return nil
}

// buffered returns the bytes read past offset off.
func (t *csvTee) buffered(off int64) int64 { return t.base + int64(len(t.buf)) - off }

// crReader turns every CR into LF, for files whose lines end in CR alone.
type crReader struct{ r io.Reader }

func (c *crReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
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
