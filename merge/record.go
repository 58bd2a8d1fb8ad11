// Package merge turns rows of recipient data and a message template into
// complete, personalised RFC 5322 messages: it reads CSV and XLSX files,
// renders text/template and html/template bodies, builds the MIME tree and
// writes previews. It knows nothing about SMTP or sockets.
package merge

import (
	"fmt"
	"strconv"
)

// Columns holds the column names of a data file's header row and finds a
// column's position by name. One Columns is shared by every Record of a file.
type Columns struct {
	names []string
	index map[string]int
}

// NewColumns returns the Columns for a header row. When a name appears more
// than once, lookups by name find its first occurrence.
func NewColumns(names []string) *Columns {
	c := &Columns{names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		if _, dup := c.index[n]; !dup {
			c.index[n] = i
		}
	}
	return c
}

// Names returns the column names in file order. The caller must not modify it.
func (c *Columns) Names() []string { return c.names }

// Index returns the position of the named column, or -1 if there is none.
func (c *Columns) Index(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	return -1
}

// Record is one recipient row of a data file.
type Record struct {
	// File names the data file, as given by the user, for messages.
	File string
	// Row is the spreadsheet's own row number: the header is row 1 and the
	// first recipient is row 2.
	Row int
	// Columns names the values.
	Columns *Columns
	// Values holds one cell per column, as the spreadsheet shows it.
	Values []string
	// Warning, when not nil, says why the row, though well-formed, may not
	// be what the file's author meant: its cause is a *StrayQuoteError
	// when a quoted field runs over lines that look like rows of their own.
	// The row is still valid; the caller should show the warning.
	Warning *RowError
}

// Field returns the value of the named column and whether the column exists.
func (r *Record) Field(name string) (string, bool) {
	i := r.Columns.Index(name)
	if i < 0 || i >= len(r.Values) {
		return "", false
	}
	return r.Values[i], true
}

// RowError reports a problem with one row of the data, in the form
// `FILE:ROW: column "x": reason`, the line check prints for every invalid row.
type RowError struct {
	File   string // data file name as given by the user
	Row    int    // spreadsheet row number (header is row 1)
	Column string // column concerned, or "" when the problem is the whole row
	Err    error  // what is wrong, phrased so a person knows what to fix
}

// Error formats the error as FILE:ROW: column "x": reason.
func (e *RowError) Error() string {
	loc := e.File + ":" + strconv.Itoa(e.Row)
	if e.Column != "" {
		return fmt.Sprintf("%s: column %q: %v", loc, e.Column, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

// Unwrap returns the underlying error.
func (e *RowError) Unwrap() error { return e.Err }
