package merge

import (
	"fmt"
	"strings"
	"text/template/parse"
)

// Rendering is bounded three ways, so that no template and no row can take
// all memory or hold a run that was told to stop:
//
//   - Every byte a template prints goes through a renderWriter, which fails
//     once the message (headers, bodies and the base64 of its files) would
//     be larger than TemplateOptions.MaxMessageSize, or once the context is
//     done.
//   - A loop can run without printing anything ({{range 1000000000}}{{end}}),
//     and so can a template that calls itself. LoadTemplate therefore starts
//     the body of every range, and every template a file defines, with
//     {{$_mailshot_tick := _tick $}}: a declaration, so that it prints
//     nothing and html/template leaves it alone. _tick counts the
//     iterations of the message being rendered against
//     TemplateOptions.MaxIterations and checks the context.
//   - Template files are read only when they are regular files, and only up
//     to maxTemplateFileSize.
//
// _tick finds the message through $, the row. A template that a file
// defines and calls with other data ({{template "t" .name}}) has another $;
// loops inside it are not counted, though what they print still is.

const (
	// defaultMaxMessageSize is TemplateOptions.MaxMessageSize when it is
	// zero: the limit of most mail servers and providers.
	defaultMaxMessageSize = 25 << 20
	// defaultMaxIterations is TemplateOptions.MaxIterations when it is
	// zero: far more than a message needs, under a second of work.
	defaultMaxIterations = 1_000_000
	// maxTemplateFileSize is the largest message.txt or message.html.
	maxTemplateFileSize = 4 << 20
	// tickVariable is the variable _tick's value is declared as.
	tickVariable = "$_mailshot_tick"
	// ctxCheckEvery is how many iterations pass between two looks at the
	// context.
	ctxCheckEvery = 1024
)

// LimitError is the error for a message whose rendering went past a limit
// of TemplateOptions: its size, or the iterations of its loops. Render
// returns it inside a *RowError, since what is rendered depends on the row.
// A LimitError is comparable, so that a caller can report an error that
// every row repeats once.
type LimitError struct {
	// File is the template file that was being rendered.
	File string
	// Iterations says the limit was on loop iterations; else it was on the
	// message's size in octets.
	Iterations bool
	// Limit is the limit passed.
	Limit int64
}

func (e *LimitError) Error() string {
	if e.Iterations {
		return fmt.Sprintf("%s: the template's loops ran more than %d times for one message", e.File, e.Limit)
	}
	return fmt.Sprintf("%s: the rendered message is larger than %d octets", e.File, e.Limit)
}

// grow counts n more octets of the message being rendered, and fails when
// the message would be too large or the context is done.
func (st *renderState) grow(n int64) error {
	if err := st.ctx.Err(); err != nil {
		return err
	}
	st.size += n
	if st.size > st.maxSize {
		return &LimitError{File: st.file, Limit: st.maxSize}
	}
	return nil
}

// renderWriter is where a template of one message renders: a
// strings.Builder that stops growing at the message's limit.
type renderWriter struct {
	st *renderState
	b  strings.Builder
}

func (w *renderWriter) Write(p []byte) (int, error) {
	if err := w.st.grow(int64(len(p))); err != nil {
		return 0, err
	}
	return w.b.Write(p)
}

func (w *renderWriter) WriteString(s string) (int, error) {
	if err := w.st.grow(int64(len(s))); err != nil {
		return 0, err
	}
	return w.b.WriteString(s)
}

// tick counts one iteration of a loop, or one call of a template a file
// defines, for the message whose row is record, and fails when there have
// been too many or the context is done. It prints nothing.
func (t *Template) tick(record any) (string, error) {
	st, err := t.state(record)
	if err != nil {
		return "", nil // not the row: see the comment at the top
	}
	st.steps++
	if st.steps > st.maxSteps {
		return "", &LimitError{File: st.file, Iterations: true, Limit: st.maxSteps}
	}
	if st.steps%ctxCheckEvery == 0 {
		if err := st.ctx.Err(); err != nil {
			return "", err
		}
	}
	return "", nil
}

// addTicks starts the body of every range in trees, and the root of every
// tree but the one named main, with a call of _tick (see the comment at the
// top).
func addTicks(trees []*parse.Tree, main string) {
	for _, tree := range trees {
		if tree == nil || tree.Root == nil {
			continue
		}
		tickList(tree.Root)
		if tree.Name != main {
			tree.Root.Nodes = append([]parse.Node{newTick(tree.Root.Pos)}, tree.Root.Nodes...)
		}
	}
}

// tickList adds a tick to the body of every range in l.
func tickList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.IfNode:
			tickList(n.List)
			tickList(n.ElseList)
		case *parse.WithNode:
			tickList(n.List)
			tickList(n.ElseList)
		case *parse.RangeNode:
			tickList(n.List)
			tickList(n.ElseList)
			if n.List != nil {
				n.List.Nodes = append([]parse.Node{newTick(n.List.Pos)}, n.List.Nodes...)
			}
		}
	}
}

// newTick returns the action {{$_mailshot_tick := _tick $}}.
func newTick(pos parse.Pos) *parse.ActionNode {
	pipe := &parse.PipeNode{
		NodeType: parse.NodePipe,
		Pos:      pos,
		Decl:     []*parse.VariableNode{{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{tickVariable}}},
		Cmds:     []*parse.CommandNode{newCommand(pos, newIdentifier(pos, "_tick"), newDollar(pos))},
	}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: pipe}
}
