package merge

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// textWidth is the column plain text generated from HTML is wrapped at,
// so that it stays within 78 octets a line when it is ASCII (RFC 5322
// section 2.1.1) and reads well where lines are not reflowed.
const textWidth = 76

// HTMLToText returns a plain-text rendering of an HTML document, for the
// text/plain part of a message whose template has only HTML: headings and
// paragraphs as blocks separated by blank lines (h1 and h2 underlined),
// list items as "- " or "1. " lines, table rows as lines, links as
// "text <url>", images by their alt text, and no markup, script, style or
// hidden preheader left. Lines are wrapped at 76 columns, never inside a
// word or URL, and end in LF.
func HTMLToText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		// html.Parse fails only when its reader does.
		return ""
	}
	var w textWriter
	w.node(doc)
	w.block(0)
	return strings.TrimRight(w.out.String(), "\n") + "\n"
}

// textWriter builds plain text from HTML nodes: inline text gathers in
// line, with white space collapsed as a browser does, until a block ends
// it; the line is then wrapped into out.
type textWriter struct {
	out    strings.Builder
	line   strings.Builder
	space  bool   // white space is pending before the next word of line
	breaks int    // line breaks pending before the next block: 1 or 2
	first  string // prefix for the first line of the next block: a list marker
	indent string // prefix for every other line: list nesting
	pre    int    // depth of <pre> elements
	lists  []int  // for each open list: 0 for <ul>, else the next number
	lines  int    // lines flushed so far, to tell whether line was
}

// node writes n and its children.
func (w *textWriter) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.DocumentNode:
		w.children(n)
		return
	case html.ElementNode:
	default:
		return
	}
	if hidden(n) {
		return
	}
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style, atom.Template, atom.Title, atom.Noscript:
		return
	case atom.Br:
		w.lineBreak()
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.text(alt)
		}
	case atom.A:
		w.link(n)
	case atom.H1, atom.H2:
		w.block(2)
		start := w.mark()
		w.children(n)
		title := strings.TrimSpace(w.since(start))
		w.block(1)
		if title != "" {
			mark := "="
			if n.DataAtom == atom.H2 {
				mark = "-"
			}
			w.line.WriteString(strings.Repeat(mark, min(utf8.RuneCountInString(title), textWidth)))
		}
		w.block(2)
	case atom.P, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Address, atom.Figure, atom.Dl:
		w.block(2)
		w.children(n)
		w.block(2)
	case atom.Hr:
		w.block(2)
		w.line.WriteString("----")
		w.block(2)
	case atom.Pre:
		w.block(2)
		w.pre++
		w.children(n)
		w.flush()
		w.pre--
		w.block(2)
	case atom.Ul, atom.Ol:
		w.block(2)
		next := 0
		if n.DataAtom == atom.Ol {
			next = 1
			if s, err := strconv.Atoi(attr(n, "start")); err == nil {
				next = s
			}
		}
		w.lists = append(w.lists, next)
		w.children(n)
		w.lists = w.lists[:len(w.lists)-1]
		w.block(2)
	case atom.Li:
		w.block(1)
		marker := "- "
		if k := len(w.lists) - 1; k >= 0 && w.lists[k] > 0 {
			marker = strconv.Itoa(w.lists[k]) + ". "
			w.lists[k]++
		}
		saved := w.indent
		w.first = w.indent + marker
		w.indent += strings.Repeat(" ", len(marker))
		w.children(n)
		w.block(1)
		w.indent = saved
	case atom.Tr, atom.Div, atom.Table, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Main, atom.Nav, atom.Aside, atom.Center, atom.Dt, atom.Dd, atom.Figcaption, atom.Caption, atom.Form:
		w.block(1)
		w.children(n)
		w.block(1)
	case atom.Td, atom.Th:
		// Cells of a row share its line, two spaces apart.
		if w.line.Len() > 0 {
			w.line.WriteString("  ")
			w.space = false
		}
		w.children(n)
	default:
		w.children(n)
	}
}

func (w *textWriter) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

// link writes a link's content followed by its URL in angle brackets,
// or the URL alone when the content says nothing else.
func (w *textWriter) link(n *html.Node) {
	href := strings.TrimSpace(attr(n, "href"))
	start := w.mark()
	w.children(n)
	if href == "" || strings.HasPrefix(href, "#") || hasScheme(href, "javascript") || hasScheme(href, "cid") {
		return
	}
	text := strings.TrimSpace(w.since(start))
	if text != href && "mailto:"+text != href && strings.TrimSuffix(href, "/") != text {
		w.space = true
		w.text("<" + href + ">")
	}
}

// text adds inline text, collapsing white space unless inside <pre>.
func (w *textWriter) text(s string) {
	if w.pre > 0 {
		for i, l := range strings.Split(s, "\n") {
			if i > 0 {
				w.lineBreak()
			}
			w.line.WriteString(l)
		}
		return
	}
	for i, word := range strings.FieldsFunc(s, isHTMLSpace) {
		if (i > 0 || w.space || startsWithSpace(s)) && w.line.Len() > 0 {
			w.line.WriteByte(' ')
		}
		w.space = false
		w.line.WriteString(word)
	}
	if r, _ := utf8.DecodeLastRuneInString(s); s != "" && isHTMLSpace(r) {
		w.space = true
	}
}

// lineBreak ends the current line without ending the block.
func (w *textWriter) lineBreak() {
	w.flush()
	w.out.WriteByte('\n')
	w.breaks = 0
}

// block ends the current block and asks for n line breaks (1: a new
// line, 2: a blank line) before the next one.
func (w *textWriter) block(n int) {
	w.flush()
	w.breaks = max(w.breaks, n)
}

// flush writes the pending line, wrapped, after the pending breaks.
func (w *textWriter) flush() {
	line := strings.TrimRightFunc(w.line.String(), unicode.IsSpace)
	w.line.Reset()
	w.space = false
	if strings.TrimSpace(line) == "" {
		return
	}
	if w.out.Len() > 0 {
		for range w.breaks {
			w.out.WriteByte('\n')
		}
		if w.breaks == 0 && !strings.HasSuffix(w.out.String(), "\n") {
			w.out.WriteByte('\n')
		}
	}
	w.breaks = 0
	w.lines++
	prefix := w.indent
	if w.first != "" {
		prefix, w.first = w.first, ""
	}
	if w.pre > 0 {
		w.out.WriteString(prefix + line)
		return
	}
	w.wrap(prefix, strings.TrimLeftFunc(line, unicode.IsSpace))
}

// wrap writes line as lines of at most textWidth columns where words
// allow, the first after prefix and the others after w.indent.
func (w *textWriter) wrap(prefix, line string) {
	col := utf8.RuneCountInString(prefix)
	w.out.WriteString(prefix)
	startCol := col
	for i, word := range strings.Split(line, " ") {
		n := utf8.RuneCountInString(word)
		if i > 0 {
			if col+1+n > textWidth && col > startCol {
				w.out.WriteByte('\n')
				w.out.WriteString(w.indent)
				col = utf8.RuneCountInString(w.indent)
				startCol = col
			} else {
				w.out.WriteByte(' ')
				col++
			}
		}
		w.out.WriteString(word)
		col += n
	}
}

// hidden reports whether n is hidden from readers, as the preheader text
// of many HTML emails is: the hidden attribute or display:none.
func hidden(n *html.Node) bool {
	if _, ok := attrOK(n, "hidden"); ok {
		return true
	}
	style := strings.ToLower(strings.Join(strings.Fields(attr(n, "style")), ""))
	return strings.Contains(style, "display:none")
}

func attr(n *html.Node, name string) string {
	v, _ := attrOK(n, name)
	return v
}

func attrOK(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// hasScheme reports whether the URL u has the scheme, in any case.
func hasScheme(u, scheme string) bool {
	return len(u) > len(scheme) && u[len(scheme)] == ':' && strings.EqualFold(u[:len(scheme)], scheme)
}

// isHTMLSpace reports whether r is white space that HTML collapses, or a
// no-break space, which plain text need not keep.
func isHTMLSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\u00a0':
		return true
	}
	return false
}

// textMark is a place in a textWriter's output.
type textMark struct{ lines, offset int }

func (w *textWriter) mark() textMark { return textMark{w.lines, w.line.Len()} }

// since returns the inline text written since m, or "" when a block has
// ended the line since.
func (w *textWriter) since(m textMark) string {
	if w.lines != m.lines {
		return ""
	}
	return w.line.String()[m.offset:]
}

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isHTMLSpace(r)
}
