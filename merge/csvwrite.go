package merge

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
)

// RecordWriter writes records as CSV (RFC 4180, UTF-8, CRLF) with their
// original columns followed by extra columns, so that rows taken out of a
// data file, such as the recipients a send could not reach, can be edited
// and read back with OpenData.
type RecordWriter struct {
	w     *csv.Writer
	width int
}

// NewRecordWriter writes the header row: columns, then extra. An extra
// column whose name the data already uses gets a "mailshot_" prefix.
func NewRecordWriter(w io.Writer, columns, extra []string) (*RecordWriter, error) {
	header := slices.Clone(columns)
	for _, e := range extra {
		if slices.Contains(columns, e) {
			e = "mailshot_" + e
		}
		header = append(header, e)
	}
	rw := &RecordWriter{w: csv.NewWriter(w), width: len(columns)}
	rw.w.UseCRLF = true
	if err := rw.w.Write(header); err != nil {
		return nil, fmt.Errorf("merge: write csv: %w", err)
	}
	return rw, nil
}

// Write writes one row: rec's values (padded or cut to the header's
// columns) and then extra.
func (rw *RecordWriter) Write(rec *Record, extra ...string) error {
	row := make([]string, rw.width, rw.width+len(extra))
	copy(row, rec.Values)
	if err := rw.w.Write(append(row, extra...)); err != nil {
		return fmt.Errorf("merge: write csv: %w", err)
	}
	return nil
}

// Flush writes buffered rows and reports any error from writing.
func (rw *RecordWriter) Flush() error {
	rw.w.Flush()
	if err := rw.w.Error(); err != nil {
		return fmt.Errorf("merge: write csv: %w", err)
	}
	return nil
}
