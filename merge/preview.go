package merge

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Preview writes messages into a directory for a person to look at, without
// sending anything:
//
//	0002-ada.lovelace_example.com.eml        the message as it would be sent
//	0002-ada.lovelace_example.com.html       its page: From, To, Cc, Reply-To,
//	                                         Subject, List-Unsubscribe and the
//	                                         other headers, links to its
//	                                         attachments, and a switch between
//	                                         its HTML and text parts
//	0002-ada.lovelace_example.com.body.html  its HTML body, cid: URLs pointing
//	                                         into images/
//	images/3f2a….png                         each inline image, once per content
//	files/9c1e…/agenda.pdf                   each attachment, once per content
//	index.html, index-2.html, …              the messages, PageSize a page, the
//	                                         one selected shown beside the list;
//	                                         a search box finds a message on
//	                                         any page (search.js)
//	.mailshot-preview                        marks the directory as a preview's
//	                                         and names every file it wrote
//
// Every page works opened straight from disk (file://). The directory is
// the preview's own: NewPreview refuses one that holds files no preview
// wrote, and removes what an earlier preview wrote before writing anything.
// Directories are created 0700 and files 0600, since they hold the
// recipients' data, and no file is ever written over.
//
// Memory does not grow with the number of messages: each message's files
// are written by Add, and the index is spooled to disk until Close writes
// its pages. A Preview is safe for concurrent use; Close must be called to
// write the index.
type Preview struct {
	// PageSize is the number of messages an index page lists; 0 means
	// DefaultPreviewPageSize. Set it before Close.
	PageSize int

	dir string
	out *previewDir

	mu     sync.Mutex
	spool  *os.File
	w      *bufio.Writer
	enc    *json.Encoder
	count  int
	images map[[16]byte]string // written inline images by content
	files  map[string]string   // written attachments by content and name
	closed bool
}

// DefaultPreviewPageSize is the number of messages an index page lists
// unless Preview.PageSize says otherwise.
const DefaultPreviewPageSize = 500

// Names of the directories and files of a preview other than a message's.
const (
	previewImages = "images"
	previewFiles  = "files"
	previewSpool  = ".index-rows" // the index rows until Close
	previewSearch = "search.js"
)

// NewPreview starts a preview in dir. It creates dir (0700) when it does
// not exist; it takes an empty dir or one that an earlier preview wrote,
// whose files it removes first, and refuses any other with a
// *PreviewDirError wrapping ErrNotPreviewDir. inputs are the files and
// directories the run reads (the template directory, the data file, the
// attachments directory): when dir is one of them or holds one, compared by
// file identity through symbolic links and "..", it returns a
// *PreviewDirError wrapping ErrPreviewHoldsInput.
func NewPreview(dir string, inputs ...string) (*Preview, error) {
	out, err := openPreviewDir(dir, inputs)
	if err != nil {
		var de *PreviewDirError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, fmt.Errorf("preview folder %s: %w", dir, err)
	}
	p := &Preview{dir: dir, out: out, images: map[[16]byte]string{}, files: map[string]string{}}
	p.spool, err = out.create(previewSpool)
	if err != nil {
		out.close()
		return nil, p.errorf(err)
	}
	p.w = bufio.NewWriter(p.spool)
	p.enc = json.NewEncoder(p.w)
	return p, nil
}

// errorf wraps err, which happened writing the preview.
func (p *Preview) errorf(err error) error {
	return fmt.Errorf("preview folder %s: %w", p.dir, err)
}

// Add writes m, whose composed form is eml, into the preview, and lists it
// in the index.
func (p *Preview) Add(m *Message, eml []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("preview: Add after Close")
	}
	name := previewName(m)
	if err := p.out.writeFile(name+".eml", eml); err != nil {
		return p.errorf(err)
	}
	page := messagePage{
		Row:     m.Row,
		To:      addressList(m.To),
		Cc:      addressList(m.Cc),
		Bcc:     addressList(m.Bcc),
		ReplyTo: addressList(m.ReplyTo),
		Subject: m.Subject,
		Headers: m.Headers,
		Eml:     name + ".eml",
		Text:    m.Text,

		HasTextPart: m.Text != "",
	}
	if m.From != nil {
		page.From = addressList([]*mail.Address{m.From})
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "List-Unsubscribe") {
			page.HasUnsubscribe = true
		}
	}
	if m.HTML != "" {
		body, err := p.body(m)
		if err != nil {
			return p.errorf(err)
		}
		page.Body = name + ".body.html"
		if err := p.out.writeFile(page.Body, body); err != nil {
			return p.errorf(err)
		}
	}
	row := indexRow{Row: m.Row, Name: name, To: page.To, Subject: m.Subject}
	if row.To == "" {
		row.To = strings.Join(m.Recipients(), ", ")
	}
	for _, part := range m.Attachments {
		link, err := p.writeAttachment(part)
		if err != nil {
			return p.errorf(err)
		}
		page.Attachments = append(page.Attachments, link)
		row.Files = append(row.Files, link.Name)
	}
	f, err := p.out.create(name + ".html")
	if err != nil {
		return p.errorf(err)
	}
	bw := bufio.NewWriter(f)
	err = previewTemplates.ExecuteTemplate(bw, "message", page)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p.errorf(err)
	}
	if err := p.enc.Encode(row); err != nil {
		return p.errorf(err)
	}
	p.count++
	return nil
}

// Close writes the index pages and, when there is more than one, search.js.
func (p *Preview) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.writeIndex()
	if cerr := p.spool.Close(); err == nil {
		err = cerr
	}
	if rerr := p.out.remove(previewSpool); err == nil {
		err = rerr
	}
	if cerr := p.out.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p.errorf(err)
	}
	return nil
}

// writeIndex writes the index pages from the spooled rows.
func (p *Preview) writeIndex() error {
	if err := p.w.Flush(); err != nil {
		return err
	}
	if _, err := p.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	size := p.PageSize
	if size <= 0 {
		size = DefaultPreviewPageSize
	}
	pages := max(1, (p.count+size-1)/size)
	var search *bufio.Writer
	if pages > 1 {
		f, err := p.out.create(previewSearch)
		if err != nil {
			return err
		}
		defer f.Close()
		search = bufio.NewWriter(f)
		search.WriteString("mailshotSearch([\n")
	}
	dec := json.NewDecoder(bufio.NewReader(p.spool))
	rows := make([]indexRow, 0, min(size, p.count))
	listed := 0 // rows in search.js
	for n := 1; n <= pages; n++ {
		rows = rows[:0]
		for len(rows) < size && dec.More() {
			var r indexRow
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("reading back the index: %w", err)
			}
			rows = append(rows, r)
			if search != nil {
				entry, _ := json.Marshal([]any{r.Row, r.To, r.Subject, n})
				if listed > 0 {
					search.WriteString(",\n")
				}
				search.Write(entry)
				listed++
			}
		}
		page := indexPage{Page: n, Pages: pages, Total: p.count, Rows: rows, Nav: pageNav(n, pages)}
		if n > 1 {
			page.Prev = indexFile(n - 1)
		}
		if n < pages {
			page.Next = indexFile(n + 1)
		}
		if len(rows) > 0 {
			page.First = rows[0].Name + ".html"
			page.FirstRow, page.LastRow = rows[0].Row, rows[len(rows)-1].Row
		}
		if err := p.writePage(indexFile(n), page); err != nil {
			return err
		}
	}
	if read := (pages-1)*size + len(rows); read != p.count && p.count > 0 {
		return fmt.Errorf("reading back the index: %d of %d rows", read, p.count)
	}
	if search != nil {
		search.WriteString("\n]);\n")
		if err := search.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writePage writes one index page into the file name.
func (p *Preview) writePage(name string, page indexPage) error {
	f, err := p.out.create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = previewTemplates.ExecuteTemplate(bw, "index", page)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// body returns the page that shows m's HTML body in a browser: its HTML
// with cid: URLs rewritten to image files under images/, written there
// once. It starts with a UTF-8 byte order mark, which tells a browser the
// encoding of a file without moving the body's doctype.
func (p *Preview) body(m *Message) ([]byte, error) {
	var b strings.Builder
	b.WriteString("\uFEFF")
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
// unless it is there already, and returns its path relative to the
// preview directory.
func (p *Preview) writeImage(part *Part) (string, error) {
	sum := part.digest()
	key := [16]byte(sum[:16])
	if rel, ok := p.images[key]; ok {
		return rel, nil
	}
	if len(p.images) == 0 {
		if err := p.out.mkdir(previewImages); err != nil {
			return "", err
		}
	}
	rel := previewImages + "/" + hex.EncodeToString(key[:]) + imageExtension(part)
	if err := p.out.writeFile(rel, part.Content); err != nil {
		return "", err
	}
	p.images[key] = rel
	return rel, nil
}

// writeAttachment writes an attachment as files/DIGEST/NAME, once for each
// content and name, and returns the link to it.
func (p *Preview) writeAttachment(part *Part) (fileLink, error) {
	sum := part.digest()
	dir := previewFiles + "/" + hex.EncodeToString(sum[:16])
	name := safeFileName(part.Filename)
	link := fileLink{
		Name: part.Filename,
		Href: previewFiles + "/" + hex.EncodeToString(sum[:16]) + "/" + url.PathEscape(name),
		Size: sizeText(len(part.Content)),
	}
	if link.Name == "" {
		link.Name = name
	}
	key := dir + "/" + name
	if _, ok := p.files[key]; ok {
		return link, nil
	}
	if len(p.files) == 0 {
		if err := p.out.mkdir(previewFiles); err != nil {
			return fileLink{}, err
		}
	}
	if !p.hasDir(dir) {
		if err := p.out.mkdir(dir); err != nil {
			return fileLink{}, err
		}
	}
	if err := p.out.writeFile(key, part.Content); err != nil {
		return fileLink{}, err
	}
	p.files[key] = dir
	return link, nil
}

// hasDir reports whether an attachment was written into dir already.
func (p *Preview) hasDir(dir string) bool {
	for _, d := range p.files {
		if d == dir {
			return true
		}
	}
	return false
}

// safeFileName returns name as a file name that is safe in any file
// system and leads nowhere else: no separators, no control characters, no
// leading dot, at most 120 bytes.
func safeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '/' || r == '\\' || r == ':' || r == utf8.RuneError || unicode.IsControl(r) {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > 120 {
			break
		}
		b.WriteRune(r)
	}
	s := strings.TrimLeft(b.String(), ". ")
	if s == "" {
		return "attachment"
	}
	return s
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

// addressList returns addresses as a person reads them: "Name <address>"
// or the bare address, separated by commas.
func addressList(list []*mail.Address) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		if a.Name != "" {
			parts = append(parts, a.Name+" <"+a.Address+">")
		} else {
			parts = append(parts, a.Address)
		}
	}
	return strings.Join(parts, ", ")
}
