package merge

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Preview writes messages into a directory for a person to look at, without
// sending anything:
//
//	0002-ada.lovelace_example.com.eml    the message as it would be sent
//	0002-ada.lovelace_example.com.html   its HTML body (or its text), with
//	                                     cid: URLs pointing into images/
//	images/3f2a….png                     each inline image, once per content
//	index.html                           every message (row, to, subject);
//	                                     the one clicked shows beside the list
//
// Every page works opened straight from disk (file://). index.html is
// written as messages are added, so memory does not grow with their number.
// A Preview is safe for concurrent use; Close must be called to finish
// index.html.
type Preview struct {
	dir string

	mu      sync.Mutex
	index   *os.File
	w       *bufio.Writer
	count   int
	started bool // the head of index.html is written
}

// previewImages is the directory, under a preview's, for inline images.
const previewImages = "images"

// NewPreview creates dir (and its parents) when needed and starts writing
// a preview into it.
func NewPreview(dir string) (*Preview, error) {
	if err := os.MkdirAll(filepath.Join(dir, previewImages), 0o755); err != nil {
		return nil, fmt.Errorf("merge: preview: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return nil, fmt.Errorf("merge: preview: %w", err)
	}
	return &Preview{dir: dir, index: f, w: bufio.NewWriter(f)}, nil
}

// Add writes m, whose composed form is eml, into the preview, and lists it
// in index.html.
func (p *Preview) Add(m *Message, eml []byte) error {
	p.mu.Lock()
	closed := p.index == nil
	p.mu.Unlock()
	if closed {
		return errors.New("merge: preview: Add after Close")
	}
	name := previewName(m)
	if err := os.WriteFile(filepath.Join(p.dir, name+".eml"), eml, 0o644); err != nil {
		return fmt.Errorf("merge: preview: %w", err)
	}
	page, err := p.page(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".html"), page, 0o644); err != nil {
		return fmt.Errorf("merge: preview: %w", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index == nil {
		return errors.New("merge: preview: Add after Close")
	}
	if !p.started {
		p.writeHead(name + ".html")
	}
	p.count++
	fmt.Fprintf(p.w, "<tr><td>%d</td><td>%s</td><td><a href=\"%s.html\" target=\"message\">%s</a></td><td>%s</td><td><a href=\"%[3]s.eml\">.eml</a></td></tr>\n",
		m.Row, html.EscapeString(decodedAddresses(m)), html.EscapeString(name), html.EscapeString(orNone(m.Subject)), fileCount(m))
	return p.writeError()
}

// Close finishes index.html.
func (p *Preview) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index == nil {
		return nil
	}
	if !p.started {
		p.writeHead("")
	}
	fmt.Fprintf(p.w, "</tbody></table>\n<p>%d message%s.</p>\n</div>\n</body>\n</html>\n", p.count, plural(p.count))
	err := p.w.Flush()
	if cerr := p.index.Close(); err == nil {
		err = cerr
	}
	p.index = nil
	if err != nil {
		return fmt.Errorf("merge: preview: %w", err)
	}
	return nil
}

// writeError returns the sticky error of the index writer, if any.
func (p *Preview) writeError() error {
	// bufio.Writer keeps its first error and returns it from every
	// later call; an empty write asks for it.
	if _, err := p.w.Write(nil); err != nil {
		return fmt.Errorf("merge: preview: index.html: %w", err)
	}
	return nil
}

// writeHead writes the start of index.html; first is the page to show
// beside the list, or "".
func (p *Preview) writeHead(first string) {
	p.started = true
	p.w.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mailshot preview</title>
<style>
body { margin: 0; display: flex; height: 100vh; font: 14px/1.4 system-ui, sans-serif; }
#list { flex: 0 0 45%; overflow: auto; border-right: 1px solid #ccc; }
#list table { border-collapse: collapse; width: 100%; }
#list th, #list td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
#list th { position: sticky; top: 0; background: #f6f6f6; }
#list p { padding: 0 8px; color: #555; }
iframe { flex: 1; order: 1; border: 0; height: 100vh; }
</style>
</head>
<body>
`)
	if first != "" {
		fmt.Fprintf(p.w, "<iframe name=\"message\" title=\"message\" sandbox=\"allow-same-origin\" src=\"%s\"></iframe>\n", html.EscapeString(first))
	}
	p.w.WriteString(`<div id="list">
<table>
<thead><tr><th>Row</th><th>To</th><th>Subject</th><th>Files</th><th>Message</th></tr></thead>
<tbody>
`)
}

// page returns the page that shows m's body in a browser: its HTML with
// cid: URLs rewritten to image files under images/, written there once; or
// its text. It starts with a UTF-8 byte order mark, which tells a browser
// the encoding of a file without moving an HTML body's doctype.
func (p *Preview) page(m *Message) ([]byte, error) {
	var b strings.Builder
	b.WriteString("\uFEFF")
	if m.HTML == "" {
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n</head>\n<body>\n<pre style=\"white-space: pre-wrap; font: 14px/1.4 monospace\">%s</pre>\n</body>\n</html>\n",
			html.EscapeString(m.Subject), html.EscapeString(m.Text))
		return []byte(b.String()), nil
	}
	var pairs []string
	for _, part := range m.Inline {
		file, err := p.writeImage(part)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, "cid:"+part.ContentID, file)
	}
	strings.NewReplacer(pairs...).WriteString(&b, m.HTML)
	return []byte(b.String()), nil
}

// writeImage writes an inline image under images/, named by its content,
// unless it is already there, and returns its path relative to the
// preview directory.
func (p *Preview) writeImage(part *Part) (string, error) {
	sum := part.digest()
	rel := previewImages + "/" + hex.EncodeToString(sum[:16]) + imageExtension(part)
	path := filepath.Join(p.dir, filepath.FromSlash(rel))
	if info, err := os.Stat(path); err == nil && info.Size() == int64(len(part.Content)) {
		return rel, nil
	}
	// Write to a temporary name and rename, so that another message
	// writing the same image never sees half of it.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*")
	if err != nil {
		return "", fmt.Errorf("merge: preview: %w", err)
	}
	_, err = tmp.Write(part.Content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("merge: preview: %w", err)
	}
	return rel, nil
}

// imageExtension returns the file extension for an inline image: its own
// when it is plain, else one for its media type.
func imageExtension(part *Part) string {
	ext := strings.ToLower(filepath.Ext(part.Filename))
	if len(ext) > 1 && len(ext) <= 6 && strings.Trim(ext[1:], "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
		return ext
	}
	switch part.ContentType {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/svg+xml":
		return ".svg"
	}
	return ""
}

// previewName returns the base name of m's files: its row number and its
// first recipient's address, made safe for any file system, like
// "0002-ada.lovelace_example.com".
func previewName(m *Message) string {
	addr := "no-recipient"
	if len(m.To) > 0 {
		addr = m.To[0].Address
	} else if r := m.Recipients(); len(r) > 0 {
		addr = r[0]
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf("%04d-", m.Row))
	for i := 0; i < len(addr) && i < 80; i++ {
		switch c := addr[i]; {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// decodedAddresses returns m's To addresses as a person reads them, or its
// other recipients when it has none.
func decodedAddresses(m *Message) string {
	var parts []string
	for _, a := range m.To {
		if a.Name != "" {
			parts = append(parts, a.Name+" <"+a.Address+">")
		} else {
			parts = append(parts, a.Address)
		}
	}
	if len(parts) == 0 {
		parts = m.Recipients()
	}
	return strings.Join(parts, ", ")
}

// fileCount describes m's attachments for the index.
func fileCount(m *Message) string {
	if n := len(m.Attachments); n > 0 {
		return strconv.Itoa(n) + " attachment" + plural(n)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(no subject)"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
