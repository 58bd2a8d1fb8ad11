package merge

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// OneClickThreshold is how many messages may go out without an https
// List-Unsubscribe before a Linter warns: Gmail and Yahoo ask anyone who
// sends them bulk mail for one-click unsubscribe (RFC 8058), and a mailto:
// URL alone does not give it.
const OneClickThreshold = 100

// Warning is something about a template or its messages that does not
// stop a message being sent but harms how it is delivered or shown.
type Warning struct {
	// Where is "file:line" for a template problem, or "" for one about
	// the messages.
	Where string
	// Code names the kind of warning, for scripts: one of the Lint*
	// constants.
	Code string
	// Text says what is wrong, in one line.
	Text string
	// Rows is how many messages have the problem, and FirstRow the
	// spreadsheet row of the first; zero for template problems.
	Rows, FirstRow int
}

// String formats w as one line: "where: text" or "text".
func (w Warning) String() string {
	if w.Where != "" {
		return w.Where + ": " + w.Text
	}
	return w.Text
}

// Warning codes.
const (
	LintLocalImage     = "local-image"     // <img src> names a file that is not carried by inline
	LintNoOneClick     = "no-one-click"    // List-Unsubscribe without an https URL, in bulk
	LintEmptySubject   = "empty-subject"   // a message whose Subject is empty
	LintTextLacksLinks = "text-lacks-link" // the text part lacks a link of the HTML part
)

// Lint checks the template's own files for mistakes that rendering does
// not catch: an <img> in message.html whose src names a file beside the
// template (or any relative URL) instead of going through inline, which
// leaves the image broken in every mailbox. Each warning names
// message.html and its line.
func (t *Template) Lint() ([]Warning, error) {
	path := filepath.Join(t.dir, "message.html")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("merge: lint: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxTemplateLint))
	if err != nil {
		return nil, fmt.Errorf("merge: lint: %w", err)
	}
	return lintImages(path, string(src)), nil
}

// maxTemplateLint is how much of message.html Lint reads.
const maxTemplateLint = 8 << 20

// lintImages returns a warning for each <img> in the HTML template src,
// read from path, whose src is a relative URL written out, not made by a
// template action such as inline.
func lintImages(path, src string) []Warning {
	var out []Warning
	z := html.NewTokenizer(strings.NewReader(src))
	line := 1
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		raw := string(z.Raw())
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			tok := z.Token()
			if tok.DataAtom == atom.Img {
				for _, a := range tok.Attr {
					if a.Key == "src" && localURL(a.Val) {
						msg := fmt.Sprintf("<img src=%q> points at a file, which a mailbox cannot show; write src=\"{{inline %q}}\" to carry it in the message", a.Val, a.Val)
						out = append(out, Warning{Where: fmt.Sprintf("%s:%d", path, line), Code: LintLocalImage, Text: msg})
					}
				}
			}
		}
		line += strings.Count(raw, "\n")
	}
}

// localURL reports whether u, an src attribute as the template holds it,
// is a relative URL: no scheme, no "//" and no template action.
func localURL(u string) bool {
	u = strings.TrimSpace(u)
	if u == "" || strings.Contains(u, "{{") || strings.HasPrefix(u, "//") {
		return false
	}
	if i := strings.IndexAny(u, ":/?#"); i > 0 && u[i] == ':' {
		return false // a scheme: cid:, https:, data:
	}
	return true
}

// Linter checks the messages of a run for what harms their delivery, and
// reports each problem once with how many messages have it. Add every
// valid message, then call Warnings. A Linter is not safe for concurrent
// use.
type Linter struct {
	noHTTPS, noHTTPSFirst int
	empty, emptyFirst     int
	lacks, lacksFirst     int
	lacking               []string // links the first such text lacks
	linksChecked          int      // messages whose links were compared
}

// linkSample is how many messages with both parts Linter compares the
// links of before it stops, unless one of them lacks a link: the parts
// come from one template, so what the first thousand rows do not show is
// rare, and reading the HTML of every message would cost each message of a
// large run more than composing it. Once one lacks a link, every message
// is compared, so the count in the warning is exact.
const linkSample = 1000

// Add checks m, a rendered message: a List-Unsubscribe with no https
// URL, an empty Subject, and a hand-written text part that lacks a link
// of the HTML part (typically the unsubscribe link of the footer).
func (l *Linter) Add(m *Message) {
	count := func(n, first *int) {
		if *n == 0 {
			*first = m.Row
		}
		*n++
	}
	if v, ok := m.Header("List-Unsubscribe"); ok && !strings.Contains(strings.ToLower(v), "<https://") {
		count(&l.noHTTPS, &l.noHTTPSFirst)
	}
	if strings.TrimSpace(m.Subject) == "" {
		count(&l.empty, &l.emptyFirst)
	}
	if m.Text != "" && m.HTML != "" && (l.lacks > 0 || l.linksChecked < linkSample) {
		l.linksChecked++
		if missing := missingLinks(m.Text, m.HTML); len(missing) > 0 {
			if l.lacks == 0 {
				l.lacking = missing
			}
			count(&l.lacks, &l.lacksFirst)
		}
	}
}

// Warnings returns what Add found, one warning for each kind of problem.
func (l *Linter) Warnings() []Warning {
	var out []Warning
	if l.noHTTPS > OneClickThreshold {
		out = append(out, Warning{Code: LintNoOneClick, Rows: l.noHTTPS, FirstRow: l.noHTTPSFirst,
			Text: fmt.Sprintf("%d messages have a List-Unsubscribe without an https URL, so no one-click unsubscribe (RFC 8058), which Gmail and Yahoo require of bulk senders; add an https URL beside the mailto: one", l.noHTTPS)})
	}
	if l.empty > 0 {
		out = append(out, Warning{Code: LintEmptySubject, Rows: l.empty, FirstRow: l.emptyFirst,
			Text: fmt.Sprintf("%d messages have an empty Subject (the first: row %d); spam filters count that against a message", l.empty, l.emptyFirst)})
	}
	if l.lacks > 0 {
		out = append(out, Warning{Code: LintTextLacksLinks, Rows: l.lacks, FirstRow: l.lacksFirst,
			Text: fmt.Sprintf("in %d messages (the first: row %d) the text part lacks links the HTML part has: %s", l.lacks, l.lacksFirst, strings.Join(l.lacking, ", "))})
	}
	return out
}

// missingLinks returns the links of the HTML document htmlSrc that text
// does not hold.
func missingLinks(text, htmlSrc string) []string {
	var missing []string
	for _, link := range htmlLinks(htmlSrc) {
		if !strings.Contains(text, link) {
			missing = append(missing, link)
		}
	}
	return missing
}

// htmlLinks returns the http, https and mailto URLs that the links of an
// HTML document point at, each once, in document order. It reads the
// document as a stream of tags rather than parsing it into a tree: Linter
// looks at every message of a run, and only the start tags of <a> matter.
func htmlLinks(src string) []string {
	z := html.NewTokenizer(strings.NewReader(src))
	var links []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			return links
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			if len(name) != 1 || name[0] != 'a' {
				continue
			}
			for more {
				var key, val []byte
				key, val, more = z.TagAttr()
				if string(key) != "href" {
					continue
				}
				href := strings.TrimSpace(string(val))
				if (hasScheme(href, "http") || hasScheme(href, "https") || hasScheme(href, "mailto")) && !slices.Contains(links, href) {
					links = append(links, href)
				}
				break // the first href counts, as in a parsed document
			}
		}
	}
}
