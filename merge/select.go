package merge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Selection picks rows of a data file: by spreadsheet row number and by the
// values of columns. The zero Selection picks every row.
type Selection struct {
	// Rows lists the row ranges to take; empty means every row.
	Rows []RowRange
	// Where lists conditions every picked row meets.
	Where []Condition
}

// RowRange is an inclusive range of spreadsheet row numbers; Last is
// math.MaxInt for an open range ("80-").
type RowRange struct{ First, Last int }

// Condition compares one column of a row with a value, exactly.
type Condition struct {
	Column string
	Value  string
	Not    bool // true for column!=value
}

// ParseRows parses a list of spreadsheet row numbers and ranges such as
// "2-50,75,80-". Row 1 is the header, so the first recipient row is 2.
func ParseRows(s string) ([]RowRange, error) {
	var out []RowRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		first, last, isRange := strings.Cut(part, "-")
		r := RowRange{}
		var err error
		if r.First, err = strconv.Atoi(strings.TrimSpace(first)); err != nil {
			return nil, fmt.Errorf("merge: rows %q: %q is not a row number or range like 2-50 or 80-", s, part)
		}
		switch {
		case !isRange:
			r.Last = r.First
		case strings.TrimSpace(last) == "":
			r.Last = math.MaxInt
		default:
			if r.Last, err = strconv.Atoi(strings.TrimSpace(last)); err != nil {
				return nil, fmt.Errorf("merge: rows %q: %q is not a row number or range like 2-50 or 80-", s, part)
			}
		}
		if r.First < 2 || r.Last < r.First {
			return nil, fmt.Errorf("merge: rows %q: %q: rows start at 2 (row 1 is the header) and a range must not run backwards", s, part)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("merge: rows %q: no row given", s)
	}
	return out, nil
}

// ParseCondition parses "column=value" or "column!=value". The value may
// be empty ("cc=" picks rows whose cc is empty).
func ParseCondition(s string) (Condition, error) {
	if col, val, ok := strings.Cut(s, "!="); ok && strings.TrimSpace(col) != "" {
		return Condition{Column: strings.TrimSpace(col), Value: val, Not: true}, nil
	}
	if col, val, ok := strings.Cut(s, "="); ok && strings.TrimSpace(col) != "" {
		return Condition{Column: strings.TrimSpace(col), Value: val}, nil
	}
	return Condition{}, fmt.Errorf("merge: where %q: write column=value or column!=value", s)
}

// ErrNoSuchColumn is the cause of the *RowError for a Condition on a
// column the data's header does not have.
var ErrNoSuchColumn = errors.New("a condition names a column the data lacks")

// check reports a condition on a column the data lacks.
func (s *Selection) check(file string, cols *Columns) error {
	for _, c := range s.Where {
		if cols.Index(c.Column) < 0 {
			return &RowError{File: file, Row: 1, Column: c.Column,
				Err: fmt.Errorf("%w; the columns are %s", ErrNoSuchColumn, quoteList(cols.Names()))}
		}
	}
	return nil
}

// pickRow reports whether row number n is among s.Rows.
func (s *Selection) pickRow(n int) bool {
	if len(s.Rows) == 0 {
		return true
	}
	for _, r := range s.Rows {
		if n >= r.First && n <= r.Last {
			return true
		}
	}
	return false
}

// past reports whether every row from n on lies beyond s.Rows, so reading
// can stop.
func (s *Selection) past(n int) bool {
	if len(s.Rows) == 0 {
		return false
	}
	for _, r := range s.Rows {
		if n <= r.Last {
			return false
		}
	}
	return true
}

// pick reports whether rec meets every condition.
func (s *Selection) pick(rec *Record) bool {
	for _, c := range s.Where {
		v, _ := rec.Field(c.Column)
		if (v == c.Value) == c.Not {
			return false
		}
	}
	return true
}

// ErrNoRows is the cause of the error for a data file that has a header
// row but no rows below it.
var ErrNoRows = errors.New("the file has no rows below its header row")

// SelectionError reports a Selection that picked none of a data file's
// rows, with what a person needs to correct it.
type SelectionError struct {
	File   string    // the data file
	Select Selection // the selection
	// FirstRow and LastRow are the first and last data rows read; reading
	// stops early when the selection's rows lie behind it.
	FirstRow, LastRow int
	// AtEnd says that LastRow is the file's last row.
	AtEnd bool
	// Near lists, for the column=value conditions no row met, a value
	// some row has that differs from the one wanted only in case or in
	// surrounding spaces.
	Near []NearValue
}

// NearValue is a value of a column that meets a Condition but for case or
// surrounding spaces.
type NearValue struct {
	Condition Condition
	Value     string
}

// Error says what selected nothing and what the file holds:
// `people.csv: no row matches city=london; "London" differs only in case`.
func (e *SelectionError) Error() string {
	var what []string
	if len(e.Select.Rows) > 0 {
		what = append(what, "rows "+FormatRows(e.Select.Rows))
	}
	for _, c := range e.Select.Where {
		what = append(what, c.String())
	}
	msg := fmt.Sprintf("%s: no row matches %s", e.File, strings.Join(what, " and "))
	if e.AtEnd {
		if e.FirstRow == e.LastRow {
			msg += fmt.Sprintf("; the file's only row is %d", e.FirstRow)
		} else {
			msg += fmt.Sprintf("; the file has rows %d-%d", e.FirstRow, e.LastRow)
		}
	}
	for _, n := range e.Near {
		msg += fmt.Sprintf("; %q in column %q differs from %q only in case or spaces", n.Value, n.Condition.Column, n.Condition.Value)
	}
	return msg
}

// String formats c as ParseCondition reads it.
func (c Condition) String() string {
	if c.Not {
		return c.Column + "!=" + c.Value
	}
	return c.Column + "=" + c.Value
}

// FormatRows formats row ranges as ParseRows reads them: "2-50,75,80-".
func FormatRows(rows []RowRange) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		switch {
		case r.First == r.Last:
			parts[i] = strconv.Itoa(r.First)
		case r.Last == math.MaxInt:
			parts[i] = strconv.Itoa(r.First) + "-"
		default:
			parts[i] = strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last)
		}
	}
	return strings.Join(parts, ",")
}
