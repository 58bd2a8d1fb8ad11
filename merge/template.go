package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"
)

// TemplateOptions configures LoadTemplate.
type TemplateOptions struct {
	// AttachmentsDir is the directory {{attach PATH}} finds files in.
	// "": the template directory.
	AttachmentsDir string
	// MaxFileSize is the largest file, in bytes, that inline or attach
	// accept. 0: 18 MiB, which base64 makes about 24 MB.
	MaxFileSize int64
	// MaxMessageSize is the most octets a rendered message may take:
	// header values, bodies, and its files in base64. A row that makes a
	// larger one is invalid (*LimitError). 0: 25 MiB, the limit of most
	// mail servers.
	MaxMessageSize int64
	// MaxIterations is the most times the loops of a template (range, and
	// templates that call themselves) may run for one message; past it
	// the row is invalid (*LimitError). 0: one million.
	MaxIterations int64
}

// Template is a message template: a directory holding message.txt, header
// fields and a plain-text body, and optionally message.html, an HTML body,
// with the images and files they use beside them.
//
// message.txt starts with header fields, one "Name: value" per line (a line
// starting with white space continues the one before), then a blank line,
// then the text body. From, To (or Cc or Bcc) and Subject are required;
// Cc, Bcc, Reply-To, List-Unsubscribe and any other field may follow. Date,
// Message-ID, MIME-Version and Content-* are written by the Composer.
// Header values and the text body are text/template templates; message.html
// is an html/template template, so values are escaped for HTML there. Each
// header value is a template of its own: an action cannot span fields.
//
// Templates see the row: {{.email}}, or {{index . "First Name"}} for a
// column name that is not an identifier. Besides text/template's own
// functions (if, eq, printf, urlquery and so on) they can call:
//
//	default DEFAULT VALUE  VALUE, or DEFAULT when VALUE is empty or blank:
//	                       {{default "friend" .name}}, {{.name | default "friend"}}
//	upper S, lower S       S in upper or lower case
//	title S                S with the first letter of each word upper-cased
//	trim S                 S without leading and trailing white space
//	index . "Column"       the cell of a column whose name is not an identifier
//	address [NAME] EMAIL   one mailbox for From, To, Cc, Bcc or Reply-To, with
//	                       the name quoted or encoded whatever it holds, and
//	                       EMAIL checked to be exactly one address:
//	                       To: {{address .name .email}}
//	inline PATH            message.html only: a cid: URL for the image PATH
//	                       under the template directory, which the message
//	                       carries once however often it is used:
//	                       <img src="{{inline "logo.png"}}">
//	attach PATH            bodies only: attaches the file PATH under
//	                       TemplateOptions.AttachmentsDir, once per message,
//	                       and prints nothing: {{attach .certificate}}
//
// A column the data lacks makes every row invalid, wherever the template
// names it, even in a branch not taken; templates never print "<no value>".
// CheckColumns reports such a column once, with the place the template
// names it and the data's column it most likely means.
// An action that prints a cell must print something: an empty cell there
// makes the row invalid, unless the action calls default, which is how a
// template says empty is fine ({{default "" .middle}}). Conditions are not
// affected: {{if .vip}} tests an empty cell as false. PATH may not leave its
// directory: no "..", no absolute path, no symbolic link pointing out.
// Files the template names literally are read and base64-encoded once, when
// it is loaded; files named by a column are read for each message.
//
// Rendering is bounded: message.txt and message.html must be regular files
// of at most 4 MiB, inline and attach take only regular files, and a row
// whose message grows past TemplateOptions.MaxMessageSize, or whose loops
// run past MaxIterations, is invalid (*LimitError). RenderContext stops
// soon after its context is done, even in a loop that prints nothing.
//
// A Template is safe for concurrent use by multiple goroutines.
type Template struct {
	dir            string
	attachDir      string
	maxFileSize    int64
	maxMessageSize int64
	maxIterations  int64
	textFile       string // message.txt's path
	htmlFile       string // message.html's path

	headers []*headerTemplate
	text    *texttemplate.Template // nil: no text body
	html    *htmltemplate.Template // nil: no HTML body
	columns []string               // columns the template names
	uses    map[string]position    // where each column is first named

	// textAlways and htmlAlways are the columns the bodies print as they
	// are on every render, checked before executing (see rewrite).
	textAlways, htmlAlways []string

	// textCompiled and htmlCompiled are the bodies compiled to run
	// without reflection (see template_exec.go), or nil.
	textCompiled, htmlCompiled *compiledTemplate

	// textSize and htmlSize are how much room to make when rendering
	// the bodies: their templates' sizes plus a quarter.
	textSize, htmlSize int

	// known holds the address fields without actions, encoded once.
	known knownFields
	// files holds the files the template names literally, read and
	// base64-encoded once by LoadTemplate; read-only afterwards.
	files map[fileKey]*Part
	// atDomain holds, for each inline file in files, its copy for the
	// last From domain an inline image was put at (see inline).
	atDomain map[*Part]*atomic.Pointer[domainPart]
	// states maps the row map of each message being rendered to its
	// renderState, for inline and attach.
	states sync.Map
}

// headerKind says how a header field's value is checked and stored.
type headerKind int

const (
	otherHeader headerKind = iota
	fromHeader
	toHeader
	ccHeader
	bccHeader
	replyToHeader
	subjectHeader
)

// headerTemplate is one header field of message.txt.
type headerTemplate struct {
	name    string // as message.txt spells it
	kind    headerKind
	where   string // file:line
	tmpl    *texttemplate.Template
	columns []string // columns the value names
	always  []string // columns printed as they are, checked before executing
	// compiled is tmpl compiled to run without reflection, or nil.
	compiled *compiledTemplate
	// constant, for a value without actions, holds it as set into a
	// message once by LoadTemplate; rendering copies it from there.
	constant *Message
}

// rawHeader is a header field as message.txt holds it.
type rawHeader struct {
	name  string
	value string // the template, continuation lines included
	line  int    // line number of the field name
	col   int    // byte offset of the value in its line
}

// LoadTemplate reads and parses the template in dir, and reads the files it
// names literally. Its errors name the file and line at fault.
func LoadTemplate(dir string, opts TemplateOptions) (*Template, error) {
	t := &Template{dir: dir, attachDir: opts.AttachmentsDir, maxFileSize: opts.MaxFileSize,
		maxMessageSize: opts.MaxMessageSize, maxIterations: opts.MaxIterations}
	if t.attachDir == "" {
		t.attachDir = dir
	}
	if t.maxFileSize <= 0 {
		t.maxFileSize = defaultMaxFileSize
	}
	if t.maxMessageSize <= 0 {
		t.maxMessageSize = defaultMaxMessageSize
	}
	if t.maxIterations <= 0 {
		t.maxIterations = defaultMaxIterations
	}
	textPath := filepath.Join(dir, "message.txt")
	t.textFile = textPath
	src, err := readTemplateFile(textPath)
	if err != nil {
		return nil, err
	}
	headers, body, bodyLine, err := splitMessage(textPath, src)
	if err != nil {
		return nil, err
	}
	info := &templateInfo{}
	if err := t.parseHeaders(textPath, headers, info); err != nil {
		return nil, err
	}

	htmlPath := filepath.Join(dir, "message.html")
	t.htmlFile = htmlPath
	htmlSrc, err := readTemplateFile(htmlPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		htmlSrc = ""
	case err != nil:
		return nil, err
	default:
		t.htmlSize = len(htmlSrc) + len(htmlSrc)/4
		t.html, err = htmltemplate.New(htmlPath).Option("missingkey=error").Funcs(t.funcs(htmlContext)).Parse(htmlSrc)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		var trees []*parse.Tree
		for _, tt := range t.html.Templates() {
			trees = append(trees, tt.Tree)
		}
		_, t.htmlAlways = info.rewrite(t.html.Name(), trees)
		addTicks(trees, htmlPath)
	}

	if strings.TrimSpace(body) != "" || t.html == nil {
		// Pad the body with the lines before it so that errors give
		// message.txt's own line numbers, then take the padding out.
		pad := strings.Repeat("\n", bodyLine-1)
		t.textSize = len(body) + len(body)/4
		t.text, err = texttemplate.New(textPath).Option("missingkey=error").Funcs(t.funcs(textContext)).Parse(pad + body)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if nodes := t.text.Tree.Root.Nodes; len(nodes) > 0 {
			if text, ok := nodes[0].(*parse.TextNode); ok {
				text.Text = bytes.TrimPrefix(text.Text, []byte(pad))
			}
		}
		_, t.textAlways = info.rewrite(t.text.Name(), textTrees(t.text))
		addTicks(textTrees(t.text), textPath)
	}

	t.columns, t.uses = info.columns, info.uses
	if err := t.loadFiles(info.files); err != nil {
		return nil, err
	}
	if t.html != nil {
		// html/template escapes a template when it first runs it: run it
		// now, on an empty row, to report escaping problems here. The
		// run stops at its first output or loop.
		row := map[string]string{}
		key := reflect.ValueOf(row).UnsafePointer()
		st := &renderState{ctx: context.Background(), file: htmlPath}
		t.states.Store(key, st)
		err := t.html.Execute(&renderWriter{st: st}, row)
		t.states.Delete(key)
		var escErr *htmltemplate.Error
		if errors.As(err, &escErr) {
			return nil, fmt.Errorf("merge: %w", err)
		}
		// Escaped now: its tree holds html/template's escapers.
		t.htmlCompiled = compileTree(t.html.Tree, true)
	}
	if t.text != nil {
		t.textCompiled = compileTree(t.text.Tree, false)
	}
	for _, h := range t.headers {
		if h.constant == nil {
			h.compiled = compileTree(h.tmpl.Tree, false)
		}
	}
	return t, nil
}

// readTemplateFile reads a template file, which must be a regular file of
// at most maxTemplateFileSize octets of UTF-8, without a byte order mark and
// with LF line ends. It looks before it opens, so that a FIFO cannot block it.
func readTemplateFile(path string) (string, error) {
	b, err := readRegularFile(path, maxTemplateFileSize)
	if err != nil {
		return "", fmt.Errorf("merge: template: %w", err)
	}
	s := strings.TrimPrefix(string(b), "\uFEFF")
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("merge: %s: not UTF-8 text", path)
	}
	return strings.ReplaceAll(s, "\r\n", "\n"), nil
}

// splitMessage splits message.txt into its header fields and its body,
// which starts on line bodyLine.
func splitMessage(path, src string) (headers []rawHeader, body string, bodyLine int, err error) {
	line := 0
	for len(src) > 0 {
		line++
		text, rest, _ := strings.Cut(src, "\n")
		switch {
		case strings.TrimSpace(text) == "":
			if len(headers) == 0 {
				return nil, "", 0, fmt.Errorf("merge: %s:%d: message.txt must start with header fields such as \"Subject: ...\"", path, line)
			}
			return headers, rest, line + 1, nil
		case text[0] == ' ' || text[0] == '\t':
			if len(headers) == 0 {
				return nil, "", 0, fmt.Errorf("merge: %s:%d: continuation line before any header field", path, line)
			}
			headers[len(headers)-1].value += "\n" + text
		default:
			name, value, ok := strings.Cut(text, ":")
			if !ok {
				return nil, "", 0, fmt.Errorf("merge: %s:%d: expected a header field like \"Subject: ...\", or a blank line before the body", path, line)
			}
			if !validHeaderName(name) {
				return nil, "", 0, fmt.Errorf("merge: %s:%d: %q is not a valid header field name", path, line, name)
			}
			headers = append(headers, rawHeader{name: name, value: value, line: line, col: len(name) + 1})
		}
		src = rest
	}
	if len(headers) == 0 {
		return nil, "", 0, fmt.Errorf("merge: %s: no header fields", path)
	}
	return headers, "", line + 1, nil
}

// parseHeaders parses each header field's value as a template and checks
// that the template has the fields a message needs.
func (t *Template) parseHeaders(path string, headers []rawHeader, info *templateInfo) error {
	seen := make(map[headerKind]bool)
	for _, raw := range headers {
		h := &headerTemplate{name: raw.name, where: fmt.Sprintf("%s:%d", path, raw.line)}
		switch canon := textproto.CanonicalMIMEHeaderKey(raw.name); canon {
		case "From":
			h.kind = fromHeader
		case "To":
			h.kind = toHeader
		case "Cc":
			h.kind = ccHeader
		case "Bcc":
			h.kind = bccHeader
		case "Reply-To":
			h.kind = replyToHeader
		case "Subject":
			h.kind = subjectHeader
		case "Date", "Message-Id":
			return fmt.Errorf("merge: %s: the %s header is set when the message is composed", h.where, raw.name)
		default:
			if why := reservedHeader(raw.name); why != "" {
				return fmt.Errorf("merge: %s: the %s header %s", h.where, raw.name, why)
			}
		}
		if h.kind != otherHeader {
			if seen[h.kind] {
				return fmt.Errorf("merge: %s: a second %s header", h.where, raw.name)
			}
			seen[h.kind] = true
		}
		// Pad the value with the lines and columns before it, so that
		// errors point into message.txt; the padding is white space,
		// which unfolding and trimming take out again.
		pad := strings.Repeat("\n", raw.line-1) + strings.Repeat(" ", raw.col)
		tmpl, err := texttemplate.New(path).Option("missingkey=error").Funcs(t.funcs(headerContext)).Parse(pad + raw.value)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		trees := textTrees(tmpl)
		for _, tree := range trees {
			removeNewlines(tree.Root)
		}
		h.tmpl = tmpl
		h.columns, h.always = info.rewrite(tmpl.Name(), trees)
		addTicks(trees, path)
		if len(h.columns) == 0 && isConstant(tmpl.Tree) {
			// A value without actions is checked now, once.
			var b strings.Builder
			if err := tmpl.Execute(&b, nil); err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			h.constant = &Message{}
			if err := h.set(h.constant, strings.Trim(b.String(), " \t")); err != nil {
				return fmt.Errorf("merge: %s: %s header: %w", h.where, raw.name, err)
			}
		}
		t.headers = append(t.headers, h)
	}
	switch {
	case !seen[fromHeader]:
		return fmt.Errorf("merge: %s: no From header", path)
	case !seen[toHeader] && !seen[ccHeader] && !seen[bccHeader]:
		return fmt.Errorf("merge: %s: no To, Cc or Bcc header", path)
	case !seen[subjectHeader]:
		return fmt.Errorf("merge: %s: no Subject header", path)
	}
	for _, h := range t.headers {
		switch c := h.constant; {
		case c == nil:
		case h.kind == fromHeader && c.From != nil:
			t.known.from = newKnownField("From", []*mail.Address{c.From})
		case h.kind == replyToHeader:
			t.known.replyTo = newKnownField("Reply-To", c.ReplyTo)
		}
	}
	return nil
}

// textTrees returns the parse trees of t and its associated templates.
func textTrees(t *texttemplate.Template) []*parse.Tree {
	var trees []*parse.Tree
	for _, tt := range t.Templates() {
		trees = append(trees, tt.Tree)
	}
	return trees
}

// isConstant reports whether tree holds only text.
func isConstant(tree *parse.Tree) bool {
	if tree == nil || tree.Root == nil {
		return true
	}
	for _, n := range tree.Root.Nodes {
		if _, ok := n.(*parse.TextNode); !ok {
			return false
		}
	}
	return true
}

// Columns returns the names of the columns the template names, in order of
// first use. Render reports a row invalid when its data lacks any of them.
func (t *Template) Columns() []string { return t.columns }

// Render renders the template for one row of data, as RenderContext does
// with a context that is never done.
func (t *Template) Render(rec *Record) (*Message, error) {
	return t.RenderContext(context.Background(), rec)
}

// RenderContext renders the template for one row of data. Every problem
// with the row, such as a column the data lacks (*UnknownColumnError), an
// empty cell printed, a header value holding a line break, an address that
// does not parse or a message past a limit of TemplateOptions
// (*LimitError), is a *RowError naming the row and, where it can, the
// column at fault. When ctx is done before rendering ends, it stops within
// a few thousand loop iterations or one write, and returns an error that
// wraps ctx.Err() and is not a *RowError.
func (t *Template) RenderContext(ctx context.Context, rec *Record) (*Message, error) {
	m, err := t.render(ctx, rec, true)
	if errors.Is(err, errNotCompiled) {
		// Let text/template say what is wrong (see template_exec.go).
		m, err = t.render(ctx, rec, false)
	}
	return m, err
}

// render is RenderContext; with compiled, it runs the compiled form of
// each template that has one, and returns errNotCompiled if one of them
// meets an error.
func (t *Template) render(ctx context.Context, rec *Record, compiled bool) (*Message, error) {
	rowError := func(column string, err error) error {
		return &RowError{File: rec.File, Row: rec.Row, Column: column, Err: err}
	}
	for _, col := range t.columns {
		if _, ok := rec.Field(col); !ok {
			if rec.Columns.Index(col) >= 0 {
				return nil, rowError(col, errShortRow)
			}
			return nil, rowError(col, t.unknownColumn(col, rec.Columns))
		}
	}
	data := make(map[string]string, len(rec.Values))
	for i, name := range rec.Columns.Names() {
		if _, dup := data[name]; !dup && i < len(rec.Values) {
			data[name] = rec.Values[i]
		}
	}
	for _, col := range t.columns {
		v := data[col]
		if strings.IndexByte(v, 0) >= 0 {
			return nil, rowError(col, errors.New("contains a NUL byte"))
		}
		if !utf8.ValidString(v) {
			return nil, rowError(col, errors.New("is not valid UTF-8"))
		}
	}
	if err := unsavedFormula(rec, t.columns); err != nil {
		return nil, err
	}

	st := &renderState{ctx: ctx, maxSize: t.maxMessageSize, maxSteps: t.maxIterations}
	key := reflect.ValueOf(data).UnsafePointer()
	t.states.Store(key, st)
	defer t.states.Delete(key)

	m := &Message{Row: rec.Row}
	w := &renderWriter{st: st}
	st.file = t.textFile
	for _, h := range t.headers {
		if h.constant != nil {
			h.copyConstant(m)
			continue
		}
		w.b.Reset()
		if err := t.execute(h.tmpl, h.compiled, compiled, w, data, h.always); err != nil {
			return nil, t.execError(ctx, rec, err)
		}
		if err := h.set(m, strings.Trim(w.b.String(), " \t")); err != nil {
			return nil, rowError(h.blame(data), fmt.Errorf("%s header: %w", h.name, err))
		}
	}
	m.addOneClickUnsubscribe()
	if m.From != nil {
		st.idDomain = domainOf(m.From.Address)
	}
	if len(m.Recipients()) == 0 {
		var cols []string
		for _, h := range t.headers {
			if h.kind == toHeader || h.kind == ccHeader || h.kind == bccHeader {
				cols = append(cols, h.columns...)
			}
		}
		return nil, rowError(lastOrEmpty(cols), errors.New("no recipient: To, Cc and Bcc are all empty"))
	}
	if t.text != nil {
		w := &renderWriter{st: st}
		w.b.Grow(t.textSize)
		if err := t.execute(t.text, t.textCompiled, compiled, w, data, t.textAlways); err != nil {
			return nil, t.execError(ctx, rec, err)
		}
		m.Text = w.b.String()
	}
	if t.html != nil {
		st.file = t.htmlFile
		w := &renderWriter{st: st}
		w.b.Grow(t.htmlSize)
		if err := t.execute(t.html, t.htmlCompiled, compiled, w, data, t.htmlAlways); err != nil {
			return nil, t.execError(ctx, rec, err)
		}
		m.HTML = w.b.String()
	}
	m.Inline, m.Attachments = st.inline, st.attachments
	m.known = &t.known
	// Encode the header fields once now, so that Compose cannot fail on
	// what the data holds.
	if err := m.encodeHeader(); err != nil {
		return nil, rowError("", err)
	}
	return m, nil
}

// execute executes tmpl, a text or HTML template, for data into w, and
// fails as the _required command would when one of always, the columns it
// prints as they are at its top (see rewrite), is empty or blank. Such a
// row is invalid; the template runs all the same, so that a problem of an
// action before is the one reported, as when every action checked itself.
// With useCompiled, it runs c, tmpl's compiled form, if tmpl has one.
func (t *Template) execute(tmpl interface {
	Execute(io.Writer, any) error
}, c *compiledTemplate, useCompiled bool, w *renderWriter, data map[string]string, always []string) error {
	blank := printable(data, always)
	if c != nil && useCompiled {
		if err := c.execute(t, w, data); err != nil {
			return err
		}
	} else if err := tmpl.Execute(w, data); err != nil {
		return err
	}
	return blank
}

// printable checks, as the _required command would, that none of
// columns, printed on every execution of a template, is empty or blank.
func printable(data map[string]string, columns []string) error {
	for _, col := range columns {
		if v := data[col]; strings.TrimSpace(v) == "" {
			return &fieldError{col, emptyCellError(col)}
		}
	}
	return nil
}

// execError turns an error from executing a template into a *RowError, or,
// when ctx is done, into an error wrapping ctx.Err().
func (t *Template) execError(ctx context.Context, rec *Record, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("merge: %s:%d: rendering stopped: %w", rec.File, rec.Row, ctx.Err())
	}
	if errors.Is(err, errNotCompiled) {
		return err
	}
	var le *LimitError
	if errors.As(err, &le) {
		return &RowError{File: rec.File, Row: rec.Row, Err: le}
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &RowError{File: rec.File, Row: rec.Row, Column: fe.column, Err: fe.err}
	}
	return &RowError{File: rec.File, Row: rec.Row, Err: err}
}

// set checks value, the rendered value of h, and stores it in m.
func (h *headerTemplate) set(m *Message, value string) error {
	if err := checkHeaderText(value); err != nil {
		return err
	}
	var err error
	switch h.kind {
	case fromHeader:
		var list []*mail.Address
		if list, err = parseAddressList(value); err == nil && len(list) != 1 {
			err = errors.New("must hold exactly one address")
		}
		if err == nil {
			m.From = list[0]
		}
	case toHeader:
		m.To, err = parseAddressList(value)
	case ccHeader:
		m.Cc, err = parseAddressList(value)
	case bccHeader:
		m.Bcc, err = parseAddressList(value)
	case replyToHeader:
		m.ReplyTo, err = parseAddressList(value)
	case subjectHeader:
		m.Subject = value
	default:
		if value == "" {
			return nil
		}
		if asciiHeader(h.name) {
			if err := checkASCIIHeader(value); err != nil {
				return err
			}
		}
		m.Headers = append(m.Headers, HeaderField{Name: h.name, Value: value})
	}
	return err
}

// copyConstant sets in m what h.set set in h.constant, with addresses
// of m's own, so that changing one message's cannot change another's.
func (h *headerTemplate) copyConstant(m *Message) {
	c := h.constant
	switch h.kind {
	case fromHeader:
		a := *c.From
		m.From = &a
	case toHeader:
		m.To = copyAddresses(c.To)
	case ccHeader:
		m.Cc = copyAddresses(c.Cc)
	case bccHeader:
		m.Bcc = copyAddresses(c.Bcc)
	case replyToHeader:
		m.ReplyTo = copyAddresses(c.ReplyTo)
	case subjectHeader:
		m.Subject = c.Subject
	default:
		m.Headers = append(m.Headers, c.Headers...)
	}
}

// copyAddresses returns a copy of list, addresses included.
func copyAddresses(list []*mail.Address) []*mail.Address {
	if list == nil {
		return nil
	}
	out := make([]*mail.Address, len(list))
	for i, a := range list {
		c := *a
		out[i] = &c
	}
	return out
}

// blame returns the column most likely at fault when h's value is refused:
// the first whose cell could not be in a header, else the last it names.
func (h *headerTemplate) blame(data map[string]string) string {
	for _, col := range h.columns {
		if checkHeaderText(data[col]) != nil {
			return col
		}
	}
	return lastOrEmpty(h.columns)
}

func lastOrEmpty(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[len(list)-1]
}

// parseAddressList parses an address header's value (RFC 5322 section
// 3.4); an empty value is an empty list.
func parseAddressList(value string) ([]*mail.Address, error) {
	if value == "" {
		return nil, nil
	}
	list, err := mail.ParseAddressList(value)
	if err != nil {
		return nil, fmt.Errorf("%q is not a list of email addresses (%v); write {{address .name .email}} to make one from columns", value, err)
	}
	for _, a := range list {
		if a.Address, err = normalizeAddress(a.Address); err != nil {
			return nil, err
		}
		if err := checkHeaderText(a.Name); err != nil {
			return nil, fmt.Errorf("the display name of %s %w", a.Address, err)
		}
	}
	return list, nil
}

// quoteList formats names as a comma-separated list of quoted strings.
func quoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}
