package merge

import (
	"slices"
	"strconv"
	"text/template/parse"
)

// LoadTemplate walks every parse tree once, before any execution, to learn
// which columns the template uses and which files it names, and to change
// the tree in three ways, so that rendering needs no per-message parsing:
//
//   - An action that prints a value taken from a column, like {{.name}} or
//     {{upper (index . "First Name")}}, gets a final "_required COLUMN"
//     command, which fails when the printed value is empty or blank. Actions
//     that call default (which is how a template says empty is fine) or
//     attach (which prints nothing) are left alone, as are the conditions of
//     if, with and range, so {{if .vip}} still tests an empty cell.
//   - Calls of inline and attach get $ (the row, which finds the message
//     being rendered) and the name of the column the path comes from, so
//     that a problem with the file is reported against that column.
//   - Calls of address get the names of the columns its name and email
//     come from, for the same reason.
//
// An action at the top of the executed tree (outside any if, with, range
// or defined template) that prints a column as it is, like {{.name}} or
// {{index . "First Name"}}, runs on every render, so instead of a
// _required command its column is listed (rewriter.always) and checked
// once before the template executes: the same error, without a call
// through reflection for every such action of every message.

// fileRef is a file a template names literally, as in {{inline "logo.png"}}.
type fileRef struct {
	kind  fileKind
	path  string
	where string // file:line:column of the call
}

// templateInfo gathers what walking a template's trees teaches.
type templateInfo struct {
	columns []string            // columns named statically, in order of first use
	uses    map[string]position // where each column is first named
	files   []fileRef           // files named literally
}

// rewriter walks the trees of one template (a header, the text body or the
// HTML body).
type rewriter struct {
	info    *templateInfo
	tree    *parse.Tree
	columns []string          // columns this template names
	vars    map[string]string // variable name -> column it was set from
	main    bool              // tree is the one executed, not a defined one
	depth   int               // if, with and range around the current node
	always  []string          // columns printed as they are on every execution
}

// rewrite walks and changes trees as described above, and returns the
// columns they name and the columns the tree named main prints as they
// are on every execution, which the caller checks before executing it.
func (info *templateInfo) rewrite(main string, trees []*parse.Tree) (columns, always []string) {
	r := &rewriter{info: info, vars: make(map[string]string)}
	for _, tree := range trees {
		if tree != nil && tree.Root != nil {
			r.tree, r.main = tree, tree.Name == main
			r.list(tree.Root, true)
		}
	}
	return r.columns, r.always
}

// printedColumn returns the column an action prints as it is, {{.col}}
// or {{index . "col"}}, or "".
func printedColumn(p *parse.PipeNode) string {
	if len(p.Decl) > 0 || len(p.Cmds) != 1 {
		return ""
	}
	c := p.Cmds[0]
	if f, ok := c.Args[0].(*parse.FieldNode); ok && len(c.Args) == 1 && len(f.Ident) == 1 {
		return f.Ident[0]
	}
	return indexColumn(c, true)
}

// addColumn notes that n names the column col.
func (r *rewriter) addColumn(col string, n parse.Node) {
	if _, ok := r.info.uses[col]; !ok {
		if r.info.uses == nil {
			r.info.uses = make(map[string]position)
		}
		r.info.uses[col] = nodePosition(r.tree, n)
	}
	if !slices.Contains(r.columns, col) {
		r.columns = append(r.columns, col)
	}
	if !slices.Contains(r.info.columns, col) {
		r.info.columns = append(r.info.columns, col)
	}
}

// list walks a list of nodes; dot says whether dot is the row there.
func (r *rewriter) list(l *parse.ListNode, dot bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			r.pipe(n.Pipe, dot)
			if col := printedColumn(n.Pipe); r.main && r.depth == 0 && col != "" {
				if !slices.Contains(r.always, col) {
					r.always = append(r.always, col)
				}
			} else if len(n.Pipe.Decl) == 0 && !calls(n.Pipe, "default", "attach") {
				if col := r.firstColumn(n.Pipe, dot); col != "" {
					n.Pipe.Cmds = append(n.Pipe.Cmds, newCommand(n.Pos, newIdentifier(n.Pos, "_required"), newString(n.Pos, col)))
				}
			}
		case *parse.IfNode:
			r.branch(&n.BranchNode, dot, dot)
		case *parse.WithNode:
			r.branch(&n.BranchNode, dot, false)
		case *parse.RangeNode:
			r.branch(&n.BranchNode, dot, false)
		case *parse.TemplateNode:
			r.pipe(n.Pipe, dot)
		}
	}
}

// branch walks an if, with or range; inner says whether dot is the row in
// its body (with and range change dot; their else keeps it).
func (r *rewriter) branch(b *parse.BranchNode, dot, inner bool) {
	r.depth++
	defer func() { r.depth-- }()
	r.pipe(b.Pipe, dot)
	r.list(b.List, inner)
	r.list(b.ElseList, dot)
}

func (r *rewriter) pipe(p *parse.PipeNode, dot bool) {
	if p == nil {
		return
	}
	for i, c := range p.Cmds {
		for _, a := range c.Args {
			r.arg(a, dot)
		}
		var prev *parse.CommandNode
		if i > 0 {
			prev = p.Cmds[i-1]
		}
		r.call(c, prev, dot)
	}
	if len(p.Decl) > 0 {
		col := r.firstColumn(p, dot)
		for _, v := range p.Decl {
			r.vars[v.Ident[0]] = col
		}
	}
}

// arg notes the columns an argument names and walks nested pipelines.
func (r *rewriter) arg(n parse.Node, dot bool) {
	switch n := n.(type) {
	case *parse.FieldNode:
		if dot {
			r.addColumn(n.Ident[0], n)
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			r.addColumn(n.Ident[1], n)
		}
	case *parse.ChainNode:
		r.arg(n.Node, dot)
	case *parse.PipeNode:
		r.pipe(n, dot)
	}
}

// call rewrites a call of one of the functions that need to know more
// than their arguments; prev is the command whose value is piped into c.
func (r *rewriter) call(c *parse.CommandNode, prev *parse.CommandNode, dot bool) {
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok {
		return
	}
	args := c.Args[1:]
	// sources are the nodes c's values come from, the piped one last.
	sources := args
	if prev != nil {
		sources = append(slices.Clone(args), prev)
	}
	switch id.Ident {
	case "index":
		if col := indexColumn(c, dot); col != "" {
			r.addColumn(col, c.Args[2])
		}
	case "inline", "attach":
		kind := inlineFile
		if id.Ident == "attach" {
			kind = attachFile
		}
		if s, ok := lastOf(args).(*parse.StringNode); ok && len(args) == 1 && prev == nil {
			where, _ := r.tree.ErrorContext(c)
			r.info.files = append(r.info.files, fileRef{kind, s.Text, where})
		}
		col := r.columnOf(lastOf(sources), dot)
		c.Args = append([]parse.Node{id, newDollar(c.Pos), newString(c.Pos, col)}, args...)
	case "address":
		var nameCol, emailCol string
		switch len(sources) {
		case 1:
			emailCol = r.columnOf(sources[0], dot)
		case 2:
			nameCol, emailCol = r.columnOf(sources[0], dot), r.columnOf(sources[1], dot)
		}
		c.Args = append([]parse.Node{id, newString(c.Pos, nameCol), newString(c.Pos, emailCol)}, args...)
	}
}

func lastOf(nodes []parse.Node) parse.Node {
	if len(nodes) == 0 {
		return nil
	}
	return nodes[len(nodes)-1]
}

// indexColumn returns the column of {{index . "Column"}} or
// {{index $ "Column"}}, or "".
func indexColumn(c *parse.CommandNode, dot bool) string {
	if id, ok := c.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "index" || len(c.Args) != 3 {
		return ""
	}
	s, ok := c.Args[2].(*parse.StringNode)
	if !ok {
		return ""
	}
	switch n := c.Args[1].(type) {
	case *parse.DotNode:
		if dot {
			return s.Text
		}
	case *parse.VariableNode:
		if len(n.Ident) == 1 && n.Ident[0] == "$" {
			return s.Text
		}
	}
	return ""
}

// columnOf returns the first column whose value node n is computed from,
// or "" when it uses none.
func (r *rewriter) columnOf(n parse.Node, dot bool) string {
	switch n := n.(type) {
	case *parse.FieldNode:
		if dot {
			return n.Ident[0]
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			if len(n.Ident) > 1 {
				return n.Ident[1]
			}
			return ""
		}
		return r.vars[n.Ident[0]]
	case *parse.ChainNode:
		return r.columnOf(n.Node, dot)
	case *parse.PipeNode:
		return r.firstColumn(n, dot)
	case *parse.CommandNode:
		if col := indexColumn(n, dot); col != "" {
			return col
		}
		for _, a := range n.Args {
			if col := r.columnOf(a, dot); col != "" {
				return col
			}
		}
	}
	return ""
}

// firstColumn returns the first column pipeline p uses, or "".
func (r *rewriter) firstColumn(p *parse.PipeNode, dot bool) string {
	for _, c := range p.Cmds {
		if col := r.columnOf(c, dot); col != "" {
			return col
		}
	}
	return ""
}

// calls reports whether pipeline p calls any of the functions names.
func calls(p *parse.PipeNode, names ...string) bool {
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			switch a := a.(type) {
			case *parse.IdentifierNode:
				if slices.Contains(names, a.Ident) {
					return true
				}
			case *parse.PipeNode:
				if calls(a, names...) {
					return true
				}
			case *parse.ChainNode:
				if p, ok := a.Node.(*parse.PipeNode); ok && calls(p, names...) {
					return true
				}
			}
		}
	}
	return false
}

// removeNewlines deletes the line breaks from the text of a header
// template, unfolding it (RFC 5322 section 2.2.3); line breaks only ever
// get into a header value from data, and are refused there.
func removeNewlines(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			n.Text = slices.DeleteFunc(n.Text, func(c byte) bool { return c == '\n' || c == '\r' })
		case *parse.IfNode:
			removeNewlines(n.List)
			removeNewlines(n.ElseList)
		case *parse.WithNode:
			removeNewlines(n.List)
			removeNewlines(n.ElseList)
		case *parse.RangeNode:
			removeNewlines(n.List)
			removeNewlines(n.ElseList)
		}
	}
}

func newCommand(pos parse.Pos, args ...parse.Node) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args}
}

func newIdentifier(pos parse.Pos, name string) *parse.IdentifierNode {
	return parse.NewIdentifier(name).SetPos(pos)
}

func newString(pos parse.Pos, s string) *parse.StringNode {
	return &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(s), Text: s}
}

func newDollar(pos parse.Pos) *parse.VariableNode {
	return &parse.VariableNode{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{"$"}}
}
