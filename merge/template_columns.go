package merge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"
	"unicode"
)

// UnknownColumnError is the error for a column a template names that the
// data lacks, usually a misspelt one: {{.tikcet}}. It is a mistake in the
// template or the data's header, the same for every row: CheckColumns
// reports it once, before any row is rendered, and Render returns it inside
// each row's *RowError. Two UnknownColumnErrors about the same mistake are
// equal (compare *err), so a caller can say it once however many rows
// repeat it.
type UnknownColumnError struct {
	// File is the template file that names the column.
	File string
	// Line and Col locate its first use: 1-based, Col counted in bytes.
	Line, Col int
	// Name is the column as the template names it.
	Name string
	// Suggestion is the data's column most like Name (differing in case,
	// or by a letter or two), or "" when none is close.
	Suggestion string

	columns string // the data's columns, quoted, for Error when no suggestion
}

func (e *UnknownColumnError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Col)
	}
	fmt.Fprintf(&b, "no column %q in the data", e.Name)
	switch {
	case e.Suggestion != "":
		fmt.Fprintf(&b, "; did you mean %q?", e.Suggestion)
	case e.columns != "":
		fmt.Fprintf(&b, "; the columns are %s", e.columns)
	}
	return b.String()
}

// Unwrap returns the cause shared by every error about a column the data
// lacks.
func (e *UnknownColumnError) Unwrap() error { return errNoColumn }

// CheckColumns reports every column the template names that cols lacks,
// once each, as *UnknownColumnError (joined with errors.Join when there is
// more than one). Call it with the data's header before rendering rows:
// Render would report the same mistake again for every row.
func (t *Template) CheckColumns(cols *Columns) error {
	var errs []error
	for _, col := range t.columns {
		if cols.Index(col) < 0 {
			errs = append(errs, t.unknownColumn(col, cols))
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// unknownColumn returns the error for column col, which cols lacks.
func (t *Template) unknownColumn(col string, cols *Columns) *UnknownColumnError {
	pos := t.uses[col]
	e := &UnknownColumnError{File: pos.file, Line: pos.line, Col: pos.col, Name: col, Suggestion: suggestColumn(col, cols.Names())}
	if e.Suggestion == "" {
		e.columns = quoteList(cols.Names())
	}
	return e
}

// errShortRow is the error for a row without a cell in a column the
// template names: the row ends before it.
var errShortRow = errors.New("no cell: the row ends before this column")

// position is a place in a template file.
type position struct {
	file      string
	line, col int // 1-based; col in bytes
}

// nodePosition returns where n is in the file tree was parsed from.
func nodePosition(tree *parse.Tree, n parse.Node) position {
	loc, _ := tree.ErrorContext(n) // "file:line:byte", byte 0-based
	i := strings.LastIndexByte(loc, ':')
	j := strings.LastIndexByte(loc[:max(i, 0)], ':')
	if i < 0 || j < 0 {
		return position{file: loc}
	}
	line, _ := strconv.Atoi(loc[j+1 : i])
	b, _ := strconv.Atoi(loc[i+1:])
	return position{file: loc[:j], line: line, col: b + 1}
}

// suggestColumn returns the column of columns most like name: one that
// differs only in case, else the nearest by edit distance (insertions,
// deletions, substitutions and swaps of adjacent letters, ignoring case)
// when it is at most a quarter of name's length, or 1. It returns ""
// when none is that close.
func suggestColumn(name string, columns []string) string {
	for _, c := range columns {
		if strings.EqualFold(c, name) {
			return c
		}
	}
	a := []rune(strings.ToLower(name))
	best, bestDist := "", max(1, len(a)/4)+1
	for _, c := range columns {
		b := []rune(strings.ToLower(c))
		if d := editDistance(a, b); d < bestDist && d < len(b) && !allSpace(c) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance returns the optimal string alignment distance between a and
// b: the fewest insertions, deletions, substitutions and transpositions of
// adjacent runes that turn one into the other.
func editDistance(a, b []rune) int {
	// Three rows of the usual matrix: two back, one back, this one.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// allSpace reports whether s is empty or only white space.
func allSpace(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) }) < 0
}
