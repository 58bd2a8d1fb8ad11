package merge

import (
	"errors"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Rendering without reflection.
//
// text/template executes a tree by reflection: every field is a
// reflect.Value, every function (html/template's escapers included) a
// reflect.Value.Call. For a mail merge that is most of the CPU a message
// costs, run twice per row (the preflight and the send). LoadTemplate
// therefore compiles each tree that uses only what rows need, text, actions
// printing columns through this package's functions and html/template's
// escapers, and if/else, into a compiledTemplate: a list of steps that
// call the same functions directly. A tree using anything else (range,
// with, variables, defined templates, other escapers) is not compiled and
// runs as before.
//
// The compiled form must print exactly what text/template would: the
// escapers below mirror html/template's (html.go and url.go in its source),
// and FuzzCompiledSameAsTemplate renders random templates both ways. A
// compiled run that meets any error gives up (errNotCompiled), and the row
// is rendered again by text/template, so every error a row can cause is
// still text/template's own, word for word.

// errNotCompiled is what a compiled run returns instead of an error: the
// row is rendered again by text/template, which reports it.
var errNotCompiled = errors.New("merge: the compiled template gave up; render with text/template")

// valueKind is the kind of value a compiled expression yields.
type valueKind uint8

const (
	stringValue valueKind = iota // a string
	urlValue                     // an html/template URL, as inline returns
	boolValue                    // a bool, as eq, ne and not return
	anyValue                     // one of those, known only when it runs (and, or)
	rowValue                     // the row itself: . or $
)

// value is what a compiled expression yields.
type value struct {
	s    string
	b    bool
	kind valueKind // stringValue, urlValue or boolValue
}

// String returns v as fmt.Sprint prints it, which is how text/template
// prints a value and html/template's escapers read one.
func (v value) String() string {
	if v.kind == boolValue {
		return strconv.FormatBool(v.b)
	}
	return v.s
}

// truth reports whether v is true as text/template's if, and, or and not
// judge it: a non-empty string, a true bool.
func (v value) truth() bool {
	if v.kind == boolValue {
		return v.b
	}
	return v.s != ""
}

// iface returns v as text/template passes it to a function taking any.
func (v value) iface() any {
	switch v.kind {
	case boolValue:
		return v.b
	case urlValue:
		return htmltemplate.URL(v.s)
	}
	return v.s
}

// compiledRun is one run of a compiled template, for one row.
type compiledRun struct {
	t    *Template
	data map[string]string
	row  any // data, as the functions taking the row receive it
}

// expr is a compiled expression; eval is nil for the row itself.
type expr struct {
	eval func(r *compiledRun) (value, error)
	kind valueKind
}

// step is one step of a compiled template: text printed as it is, a value
// printed, or an if.
type step struct {
	text        []byte
	print       func(r *compiledRun) (value, error)
	cond        func(r *compiledRun) (value, error)
	then, other []step
}

// compiledTemplate is a template tree compiled to run without reflection.
type compiledTemplate struct {
	steps []step
}

// execute runs c for data, writing to w, and returns errNotCompiled on
// any error (see the comment at the top).
func (c *compiledTemplate) execute(t *Template, w *renderWriter, data map[string]string) error {
	r := &compiledRun{t: t, data: data, row: data}
	if err := runSteps(c.steps, r, w); err != nil {
		return errNotCompiled
	}
	return nil
}

func runSteps(steps []step, r *compiledRun, w *renderWriter) error {
	for i := range steps {
		s := &steps[i]
		switch {
		case s.print != nil:
			v, err := s.print(r)
			if err != nil {
				return err
			}
			if _, err := w.WriteString(v.String()); err != nil {
				return err
			}
		case s.cond != nil:
			v, err := s.cond(r)
			if err != nil {
				return err
			}
			branch := s.other
			if v.truth() {
				branch = s.then
			}
			if err := runSteps(branch, r, w); err != nil {
				return err
			}
		default:
			if _, err := w.Write(s.text); err != nil {
				return err
			}
		}
	}
	return nil
}

// compileTree compiles tree, or returns nil when it uses something the
// compiled form does not do. With html, tree must be one html/template has
// escaped: every action must end in one of the escapers compiled here, or
// the tree is not compiled, so that nothing unescaped can be printed.
func compileTree(tree *parse.Tree, html bool) *compiledTemplate {
	if tree == nil || tree.Root == nil {
		return nil
	}
	c := &compiler{html: html}
	steps, ok := c.list(tree.Root)
	if !ok {
		return nil
	}
	return &compiledTemplate{steps: steps}
}

// compiler compiles one tree.
type compiler struct {
	html bool // the tree is html/template's: actions must end in an escaper
}

func (c *compiler) list(l *parse.ListNode) ([]step, bool) {
	if l == nil {
		return nil, true
	}
	var steps []step
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			steps = append(steps, step{text: n.Text})
		case *parse.CommentNode:
		case *parse.ActionNode:
			if c.html && !endsInEscaper(n.Pipe) {
				return nil, false
			}
			e, ok := c.pipe(n.Pipe)
			if !ok || e.kind == rowValue {
				return nil, false
			}
			steps = append(steps, step{print: e.eval})
		case *parse.IfNode:
			cond, ok := c.pipe(n.Pipe)
			if !ok || cond.kind == rowValue {
				return nil, false
			}
			then, ok1 := c.list(n.List)
			other, ok2 := c.list(n.ElseList)
			if !ok1 || !ok2 {
				return nil, false
			}
			steps = append(steps, step{cond: cond.eval, then: then, other: other})
		default:
			return nil, false
		}
	}
	return steps, true
}

// escaper returns the html/template escaper compiled here by the name
// html/template gives it in an escaped tree, or nil.
func escaper(name string) func(value) value {
	switch name {
	case "_html_template_htmlescaper",
		"_html_template_attrescaper",   // the same for all but HTML values, which rows never hold
		"_html_template_rcdataescaper": // likewise
		return htmlEscaper
	case "_html_template_urlescaper":
		return func(v value) value { return value{s: processURL(v.String(), v.kind == urlValue)} }
	case "_html_template_urlnormalizer":
		return func(v value) value { return value{s: processURL(v.String(), true)} }
	case "_html_template_urlfilter":
		return urlFilter
	}
	return nil
}

// endsInEscaper reports whether p's last command is an escaper compiled here.
func endsInEscaper(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && escaper(id.Ident) != nil
}

func (c *compiler) pipe(p *parse.PipeNode) (expr, bool) {
	if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) == 0 {
		return expr{}, false
	}
	var prev *expr
	for _, cmd := range p.Cmds {
		e, ok := c.command(cmd, prev)
		if !ok {
			return expr{}, false
		}
		prev = &e
	}
	return *prev, true
}

// command compiles cmd; prev, if not nil, is the value piped into it.
func (c *compiler) command(cmd *parse.CommandNode, prev *expr) (expr, bool) {
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		args := make([]expr, 0, len(cmd.Args))
		for _, a := range cmd.Args[1:] {
			e, ok := c.arg(a)
			if !ok {
				return expr{}, false
			}
			args = append(args, e)
		}
		return c.call(id.Ident, args, prev)
	}
	if len(cmd.Args) != 1 || prev != nil {
		return expr{}, false
	}
	return c.arg(cmd.Args[0])
}

func (c *compiler) arg(n parse.Node) (expr, bool) {
	switch n := n.(type) {
	case *parse.StringNode:
		v := value{s: n.Text}
		return expr{kind: stringValue, eval: func(*compiledRun) (value, error) { return v, nil }}, true
	case *parse.BoolNode:
		v := value{b: n.True, kind: boolValue}
		return expr{kind: boolValue, eval: func(*compiledRun) (value, error) { return v, nil }}, true
	case *parse.FieldNode:
		if len(n.Ident) == 1 {
			return column(n.Ident[0]), true
		}
	case *parse.VariableNode:
		switch {
		case len(n.Ident) == 1 && n.Ident[0] == "$":
			return expr{kind: rowValue}, true
		case len(n.Ident) == 2 && n.Ident[0] == "$":
			return column(n.Ident[1]), true
		}
	case *parse.DotNode:
		return expr{kind: rowValue}, true
	case *parse.PipeNode:
		return c.pipe(n)
	}
	return expr{}, false
}

// column is the expression for the cell of col: .col, $.col, or index.
func column(col string) expr {
	return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
		v, ok := r.data[col]
		if !ok {
			return value{}, errNotCompiled
		}
		return value{s: v}, nil
	}}
}

// call compiles a call of the function name with args, and prev piped in
// as its last argument. Like text/template, it computes prev first, then
// args from left to right (and and or stop at the first that decides).
func (c *compiler) call(name string, args []expr, prev *expr) (expr, bool) {
	all := args
	if prev != nil {
		all = append(all, *prev)
	}
	kinds := func(want ...valueKind) bool {
		if len(all) != len(want) {
			return false
		}
		for i, k := range want {
			if all[i].kind != k {
				return false
			}
		}
		return true
	}
	allString := func(min int) bool {
		if len(all) < min {
			return false
		}
		for _, a := range all {
			if a.kind != stringValue {
				return false
			}
		}
		return true
	}
	noRow := func(min int) bool {
		if len(all) < min {
			return false
		}
		for _, a := range all {
			if a.kind == rowValue {
				return false
			}
		}
		return true
	}
	ca := &callArgs{args: args, prev: prev}
	// values computes all the arguments.
	values := func(r *compiledRun) ([]value, error) {
		vals := make([]value, len(all))
		return vals, ca.eval(r, vals)
	}
	str := func(f func(s []string) (string, error)) (expr, bool) {
		n := len(all)
		return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
			var vb [4]value
			vals := vb[:0]
			if n > len(vb) {
				vals = make([]value, 0, n)
			}
			vals = vals[:n]
			if err := ca.eval(r, vals); err != nil {
				return value{}, err
			}
			s := make([]string, n)
			for i, v := range vals {
				s[i] = v.s
			}
			out, err := f(s)
			return value{s: out}, err
		}}, true
	}
	one := func(f func(string) string) (expr, bool) {
		if !allString(1) || len(all) != 1 {
			return expr{}, false
		}
		a := all[0]
		return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
			v, err := a.eval(r)
			return value{s: f(v.s)}, err
		}}, true
	}

	if esc := escaper(name); esc != nil {
		if !c.html || !noRow(1) || len(all) != 1 {
			return expr{}, false
		}
		a := all[0]
		return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
			v, err := a.eval(r)
			if err != nil {
				return value{}, err
			}
			return esc(v), nil
		}}, true
	}
	switch name {
	case "default":
		if !allString(2) || len(all) != 2 {
			return expr{}, false
		}
		return str(func(s []string) (string, error) { return defaultValue(s[0], s[1]), nil })
	case "upper":
		return one(strings.ToUpper)
	case "lower":
		return one(strings.ToLower)
	case "trim":
		return one(strings.TrimSpace)
	case "title":
		return one(title)
	case "index":
		if !kinds(rowValue, stringValue) {
			return expr{}, false
		}
		col := all[1]
		return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
			name, err := col.eval(r)
			if err != nil {
				return value{}, err
			}
			v, ok := r.data[name.s]
			if !ok {
				return value{}, errNotCompiled
			}
			return value{s: v}, nil
		}}, true
	case "address":
		if !allString(2) {
			return expr{}, false
		}
		return str(func(s []string) (string, error) { return address(s[0], s[1], s[2:]...) })
	case "unsubscribe":
		if !allString(1) {
			return expr{}, false
		}
		return str(func(s []string) (string, error) { return unsubscribe(s[0], s[1:]...) })
	case "_required":
		if len(all) != 2 || all[0].kind != stringValue || all[1].kind == rowValue {
			return expr{}, false
		}
		return expr{kind: all[1].kind, eval: func(r *compiledRun) (value, error) {
			// The piped value first, as text/template does: with attach
			// on both sides the order of the attachments depends on it.
			var vals [2]value
			if err := ca.eval(r, vals[:]); err != nil {
				return value{}, err
			}
			name, out := vals[0], vals[1]
			if out.kind == stringValue && strings.TrimSpace(out.s) == "" {
				_, err := required(name.s, out.s)
				return value{}, err
			}
			return out, nil
		}}, true
	case "inline", "attach":
		if !kinds(rowValue, stringValue, stringValue) {
			return expr{}, false
		}
		kind := stringValue
		if name == "inline" {
			kind = urlValue
		}
		return expr{kind: kind, eval: func(r *compiledRun) (value, error) {
			vals, err := values(r)
			if err != nil {
				return value{}, err
			}
			if name == "attach" {
				out, err := r.t.attach(r.row, vals[1].s, vals[2].s)
				return value{s: out}, err
			}
			out, err := r.t.inline(r.row, vals[1].s, vals[2].s)
			return value{s: string(out), kind: urlValue}, err
		}}, true
	case "urlquery", "html", "js":
		if !noRow(1) {
			return expr{}, false
		}
		escape := map[string]func(...any) string{
			"urlquery": texttemplate.URLQueryEscaper,
			"html":     texttemplate.HTMLEscaper,
			"js":       texttemplate.JSEscaper,
		}[name]
		return expr{kind: stringValue, eval: func(r *compiledRun) (value, error) {
			vals, err := values(r)
			if err != nil {
				return value{}, err
			}
			in := make([]any, len(vals))
			for i, v := range vals {
				in[i] = v.iface()
			}
			return value{s: escape(in...)}, nil
		}}, true
	case "eq", "ne":
		if !comparable(all) || len(all) < 2 || name == "ne" && len(all) != 2 {
			return expr{}, false
		}
		return expr{kind: boolValue, eval: func(r *compiledRun) (value, error) {
			vals, err := values(r)
			if err != nil {
				return value{}, err
			}
			eq := false
			for _, v := range vals[1:] {
				if v.s == vals[0].s && v.b == vals[0].b {
					eq = true
					break
				}
			}
			return value{b: eq == (name == "eq"), kind: boolValue}, nil
		}}, true
	case "not":
		if !noRow(1) || len(all) != 1 {
			return expr{}, false
		}
		a := all[0]
		return expr{kind: boolValue, eval: func(r *compiledRun) (value, error) {
			v, err := a.eval(r)
			return value{b: !v.truth(), kind: boolValue}, err
		}}, true
	case "and", "or":
		if !noRow(1) {
			return expr{}, false
		}
		kind := all[0].kind
		for _, a := range all {
			if a.kind != kind {
				kind = anyValue
			}
		}
		decides := name == "or" // the truth that ends the evaluation
		return expr{kind: kind, eval: func(r *compiledRun) (value, error) {
			var last value
			if prev != nil {
				v, err := prev.eval(r)
				if err != nil {
					return value{}, err
				}
				last = v
			}
			for _, a := range args {
				v, err := a.eval(r)
				if err != nil {
					return value{}, err
				}
				if v.truth() == decides {
					return v, nil
				}
				if prev == nil {
					last = v
				}
			}
			return last, nil
		}}, true
	}
	return expr{}, false
}

// callArgs are the arguments of a call: args, then prev piped in.
type callArgs struct {
	args []expr
	prev *expr
}

// eval computes the arguments into vals (as many as args, plus prev),
// prev first, as text/template does; the row (eval nil) is left zero.
func (a *callArgs) eval(r *compiledRun, vals []value) error {
	if a.prev != nil {
		v, err := a.prev.eval(r)
		if err != nil {
			return err
		}
		vals[len(a.args)] = v
	}
	for i, e := range a.args {
		if e.eval == nil {
			continue
		}
		v, err := e.eval(r)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	return nil
}

// comparable reports whether eq and ne can compare args as text/template
// would without an error: all strings (URLs are strings to it), or all
// bools.
func comparable(args []expr) bool {
	for _, a := range args {
		switch {
		case a.kind == boolValue && args[0].kind == boolValue:
		case (a.kind == stringValue || a.kind == urlValue) && (args[0].kind == stringValue || args[0].kind == urlValue):
		default:
			return false
		}
	}
	return true
}

// htmlEscaper is html/template's htmlEscaper (and attrEscaper and
// rcdataEscaper) for a value that is not of type HTML: it replaces NUL,
// both quotation marks, the ampersand, plus, less-than and greater-than.
// html/template decodes runes first, but all of these are ASCII, which
// never occurs inside another rune's encoding, so going byte by byte finds
// the same ones.
func htmlEscaper(v value) value {
	s := v.String()
	i := strings.IndexAny(s, "\x00\"&'+<>")
	if i < 0 {
		return value{s: s}
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	written := 0
	for ; i < len(s); i++ {
		var repl string
		switch s[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		b.WriteString(s[written:i])
		b.WriteString(repl)
		written = i + 1
	}
	b.WriteString(s[written:])
	return value{s: b.String()}
}

// urlFilter is html/template's urlFilter: a URL value passes, a string
// passes unless it has a scheme other than http, https and mailto, in
// which case it becomes "#ZgotmplZ".
func urlFilter(v value) value {
	s := v.String()
	if v.kind == urlValue {
		return value{s: s}
	}
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		if !strings.EqualFold(protocol, "http") && !strings.EqualFold(protocol, "https") && !strings.EqualFold(protocol, "mailto") {
			return value{s: "#ZgotmplZ"}
		}
	}
	return value{s: s}
}

// processURL is html/template's urlProcessor for s: it percent-encodes
// every octet but letters, digits and "-._~"; with norm (normalizing, or
// s a URL value) it also leaves the reserved characters and valid escapes.
func processURL(s string, norm bool) string {
	var b []byte
	written := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '!', '#', '$', '&', '*', '+', ',', '/', ':', ';', '=', '?', '@', '[', ']':
			if norm {
				continue
			}
		case '-', '.', '_', '~':
			continue
		case '%':
			if norm && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				continue
			}
		default:
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				continue
			}
		}
		if b == nil {
			b = make([]byte, 0, len(s)+16)
		}
		const hex = "0123456789abcdef"
		b = append(b, s[written:i]...)
		b = append(b, '%', hex[c>>4], hex[c&15])
		written = i + 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[written:]...))
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
