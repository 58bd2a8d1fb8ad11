package merge

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// The functions templates can call are documented with Template.

// funcContext says which part of a template functions are for.
type funcContext int

const (
	headerContext funcContext = iota // header values in message.txt
	textContext                      // the body of message.txt
	htmlContext                      // message.html
)

// funcs returns the functions for templates of context ctx. The names of
// functions that LoadTemplate adds arguments to must not change.
func (t *Template) funcs(ctx funcContext) map[string]any {
	fm := map[string]any{
		"default":   defaultValue,
		"upper":     strings.ToUpper,
		"lower":     strings.ToLower,
		"title":     title,
		"trim":      strings.TrimSpace,
		"index":     rowIndex,
		"address":   address,
		"_required": required,
		"_tick":     t.tick,
	}
	if ctx != headerContext {
		fm["attach"] = t.attach
	} else {
		fm["unsubscribe"] = unsubscribe
	}
	if ctx == htmlContext {
		fm["inline"] = t.inline
	}
	return fm
}

// errNoColumn is the error for a column the data lacks.
var errNoColumn = errors.New("no such column in the data")

// errEmptyCell is the error for an empty cell a template prints.
var errEmptyCell = errors.New("empty cell")

// fieldError is an error about the value of one column, which Render turns
// into a *RowError for that column.
type fieldError struct {
	column string
	err    error
}

func (e *fieldError) Error() string { return fmt.Sprintf("column %q: %v", e.column, e.err) }
func (e *fieldError) Unwrap() error { return e.err }

// columnError returns err as a *fieldError about column, or err itself
// when column is "".
func columnError(column string, err error) error {
	if column == "" {
		return err
	}
	return &fieldError{column, err}
}

// emptyCellError returns the error for an empty cell in column, telling a
// person how to fix it. A column of addresses gets no {{default}}: a
// stand-in address would mail someone else.
func emptyCellError(column string) error {
	if isAddressColumn(column) {
		return fmt.Errorf("%w: this row has no address; fill it in, or leave such rows out with --where '%s!='", errEmptyCell, column)
	}
	return fmt.Errorf("%w: fill it in, or write {{default \"...\" %s}} in the template", errEmptyCell, columnExpr(column))
}

// isAddressColumn reports whether a column's name says it holds email
// addresses.
func isAddressColumn(column string) bool {
	c := strings.ToLower(column)
	return strings.Contains(c, "mail") || strings.Contains(c, "address") || c == "to" || c == "cc" || c == "bcc"
}

// columnExpr returns how a template names column: .name or
// (index . "First Name").
func columnExpr(column string) string {
	for i, r := range column {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			return fmt.Sprintf("(index . %q)", column)
		}
	}
	return "." + column
}

// required fails when v, the value an action prints, is an empty or blank
// string, naming column, the column it comes from. LoadTemplate appends it
// to such actions.
func required(column string, v any) (any, error) {
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return v, &fieldError{column, emptyCellError(column)}
	}
	return v, nil
}

// defaultValue returns v, or def when v is empty or blank.
func defaultValue(def, v string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// title returns s with the first letter of each word upper-cased and the
// rest left alone, so "o'brien-smith" becomes "O'Brien-Smith".
func title(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		if !(prev == '_' || unicode.IsLetter(prev) || unicode.IsDigit(prev) || unicode.IsMark(prev)) {
			r = unicode.ToTitle(r)
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// rowIndex replaces text/template's index: it returns the cell of
// column in record, or an error naming the column when the data lacks it.
func rowIndex(record any, column string) (string, error) {
	m, ok := record.(map[string]string)
	if !ok {
		return "", fmt.Errorf("index: the first argument must be the row, as in {{index . %q}}", column)
	}
	v, ok := m[column]
	if !ok {
		return "", &fieldError{column, errNoColumn}
	}
	return v, nil
}

// address formats a mailbox from a display name (optional) and an email
// address, through net/mail so that any name is quoted or RFC 2047-encoded
// as needed. nameColumn and emailColumn name the columns its values come
// from (added by LoadTemplate).
func address(nameColumn, emailColumn string, args ...string) (string, error) {
	var name, email string
	switch len(args) {
	case 1:
		email = args[0]
	case 2:
		name, email = args[0], args[1]
	default:
		return "", fmt.Errorf("address takes an email address, or a name and an email address, not %d values", len(args))
	}
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	if email == "" {
		return "", columnError(emailColumn, emptyCellError(emailColumn))
	}
	if err := checkHeaderText(name); err != nil {
		return "", columnError(nameColumn, fmt.Errorf("the name %w", err))
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" {
		if list, lerr := mail.ParseAddressList(strings.ReplaceAll(email, ";", ",")); lerr == nil && len(list) > 1 {
			return "", columnError(emailColumn, fmt.Errorf("%q holds %d addresses, and address takes one: give the others a Cc column (Cc: {{.cc}}), or each its own row", email, len(list)))
		}
		return "", columnError(emailColumn, fmt.Errorf("%q is not an email address", email))
	}
	norm, err := normalizeAddress(a.Address)
	if err != nil {
		return "", columnError(emailColumn, err)
	}
	return (&mail.Address{Name: name, Address: norm}).String(), nil
}

// renderState collects the files a message being rendered uses, and
// counts what it has cost against its limits (see template_limits.go).
type renderState struct {
	inline      []*Part
	attachments []*Part
	idDomain    string // the right side of inline parts' Content-IDs: the From address's domain, or ""

	ctx             context.Context // the render stops when it is done
	file            string          // the template file being rendered, for errors
	size, maxSize   int64           // octets of the message so far, and the most it may have
	steps, maxSteps int64           // loop iterations so far, and the most there may be
}

// addPart counts p, about to be added to the message, at its base64 size:
// 76-character lines and their CRLFs (RFC 2045 section 6.8).
func (st *renderState) addPart(p *Part) error {
	n := int64(len(p.Content)+2) / 3 * 4
	return st.grow(n + (n/76+1)*2)
}

// state returns the renderState of the message whose row is record: Render
// registers it under the row's map for the time of rendering.
func (t *Template) state(record any) (*renderState, error) {
	if m, ok := record.(map[string]string); ok {
		if st, ok := t.states.Load(reflect.ValueOf(m).UnsafePointer()); ok {
			return st.(*renderState), nil
		}
	}
	return nil, errors.New("$ must be the row: call it outside {{template}} or pass the row to the template")
}

// inline embeds the image path in the message and returns its cid: URL
// (RFC 2392). column names the column path comes from, or is "".
//
// A Content-ID is world-unique (RFC 2045 section 7) when its right side
// is a domain the sender holds: the message gets a copy of the template's
// shared Part whose Content-ID is the hash of the image at the From
// address's domain. The messages of one domain share that copy (see
// inlineAt), which, like every Part of a template's own file, must not be
// modified. Messages without a From keep the shared Part's Content-ID
// under "mailshot".
func (t *Template) inline(record any, column, path string) (htmltemplate.URL, error) {
	st, err := t.state(record)
	if err != nil {
		return "", fmt.Errorf("inline: %w", err)
	}
	p, err := t.usedFile(inlineFile, column, path)
	if err != nil {
		return "", err
	}
	if st.idDomain != "" {
		p = t.inlineAt(p, st.idDomain)
	}
	if !slices.ContainsFunc(st.inline, func(q *Part) bool { return q.ContentID == p.ContentID }) {
		if err := st.addPart(p); err != nil {
			return "", err
		}
		st.inline = append(st.inline, p)
	}
	return htmltemplate.URL("cid:" + p.ContentID), nil
}

// attach attaches the file path to the message and returns "". column
// names the column path comes from, or is "".
func (t *Template) attach(record any, column, path string) (string, error) {
	st, err := t.state(record)
	if err != nil {
		return "", fmt.Errorf("attach: %w", err)
	}
	p, err := t.usedFile(attachFile, column, path)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(st.attachments, func(q *Part) bool { return q.Filename == p.Filename && q.digest() == p.digest() }) {
		if err := st.addPart(p); err != nil {
			return "", err
		}
		st.attachments = append(st.attachments, p)
	}
	return "", nil
}

// usedFile returns the file path of kind for inline or attach, with errors
// about the column it comes from.
func (t *Template) usedFile(kind fileKind, column, path string) (*Part, error) {
	path = strings.TrimSpace(path)
	if path == "" && column != "" {
		return nil, &fieldError{column, emptyCellError(column)}
	}
	p, err := t.file(kind, path)
	if err != nil {
		return nil, columnError(column, fmt.Errorf("%s: %w", kind, err))
	}
	return p, nil
}

// unsubscribe returns <URL> for a List-Unsubscribe header (RFC 2369): base
// followed by each value, query-escaped. The URL must be https (for
// one-click unsubscribe, RFC 8058) or mailto. A space is "+" only in the
// query of an https URL, where form decoding reads it as one; in a mailto:
// URL (RFC 6068 section 5) and in a path it is %20, since there "+" is a
// plus sign.
func unsubscribe(base string, values ...string) (string, error) {
	plusIsSpace := strings.HasPrefix(strings.ToLower(base), "https:") && strings.Contains(base, "?")
	var b strings.Builder
	b.WriteString(base)
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return "", errors.New("unsubscribe: a value for the URL is empty, so the link could not name the recipient")
		}
		v = url.QueryEscape(v)
		if !plusIsSpace {
			// QueryEscape writes a plus sign as %2B: every + left is a space.
			v = strings.ReplaceAll(v, "+", "%20")
		}
		b.WriteString(v)
	}
	u, err := url.Parse(b.String())
	if err != nil || (u.Scheme != "https" && u.Scheme != "mailto") || (u.Scheme == "https" && u.Host == "") {
		return "", fmt.Errorf("unsubscribe: %q is not an https: or mailto: URL", base)
	}
	return "<" + u.String() + ">", nil
}
