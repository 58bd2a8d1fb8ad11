package merge

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// defaultMaxFileSize is the largest file a template may inline or attach
// when TemplateOptions.MaxFileSize is zero: most mail servers refuse
// messages of 25 MB, and base64 adds a third.
const defaultMaxFileSize = 18 << 20

// fileKind says what a template uses a file for, and so where it is found.
type fileKind int

const (
	inlineFile fileKind = iota // {{inline PATH}}: under the template directory
	attachFile                 // {{attach PATH}}: under the attachments directory
)

func (k fileKind) String() string {
	if k == inlineFile {
		return "inline"
	}
	return "attach"
}

// disposition returns the Content-Disposition of a file of kind k
// (RFC 2183).
func (k fileKind) disposition() string {
	if k == inlineFile {
		return "inline"
	}
	return "attachment"
}

// fileKey identifies a file a template uses.
type fileKey struct {
	kind fileKind
	path string // cleaned, slash-separated, relative to the kind's root
}

// errPathEscapes is the error for a path that could leave its root.
var errPathEscapes = errors.New("must be a relative path inside the directory, without \"..\"")

// cleanFilePath returns the key for PATH as a template gives it to inline or
// attach, or why it is not acceptable: it must be relative and stay inside
// its root lexically; os.Root keeps symbolic links inside it too.
func cleanFilePath(kind fileKind, path string) (fileKey, error) {
	if path == "" {
		return fileKey{}, errors.New("empty file name")
	}
	if strings.IndexByte(path, 0) >= 0 || !filepath.IsLocal(path) {
		return fileKey{}, fmt.Errorf("%q %w", path, errPathEscapes)
	}
	for _, elem := range strings.Split(filepath.ToSlash(path), "/") {
		if elem == ".." {
			return fileKey{}, fmt.Errorf("%q %w", path, errPathEscapes)
		}
	}
	return fileKey{kind, filepath.ToSlash(filepath.Clean(path))}, nil
}

// root returns the directory files of kind are found in.
func (t *Template) root(kind fileKind) string {
	if kind == inlineFile {
		return t.dir
	}
	return t.attachDir
}

// file returns the Part for the file PATH of kind: from the files read
// when the template was loaded, or else read now.
func (t *Template) file(kind fileKind, path string) (*Part, error) {
	key, err := cleanFilePath(kind, path)
	if err != nil {
		return nil, err
	}
	if p, ok := t.files[key]; ok {
		return p, nil
	}
	return t.readFile(key)
}

// readFile reads the file key names from its root, refusing to follow a
// symbolic link out of it, and returns it as a Part. It must be a regular
// file, which it checks before opening it so that a FIFO cannot block.
// Inline files must be images and get a Content-ID derived from their
// content.
func (t *Template) readFile(key fileKey) (*Part, error) {
	root := t.root(key.kind)
	name := filepath.Join(root, key.path)
	rel := filepath.FromSlash(key.path)
	unwrap := func(err error) error {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, unwrap(err)
	}
	defer r.Close()
	info, err := r.Stat(rel)
	if err != nil {
		return nil, unwrap(err)
	}
	if err := checkRegular(name, info, t.maxFileSize); err != nil {
		return nil, err
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, unwrap(err)
	}
	defer f.Close()
	content, err := readOpened(f, name, t.maxFileSize)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(key.path)
	p := newPart(base, contentType(base, content), content)
	if key.kind == inlineFile {
		if !strings.HasPrefix(p.ContentType, "image/") {
			return nil, fmt.Errorf("%s: %s is not an image; attach it instead", name, p.ContentType)
		}
		p.ContentID = contentIDLocal(p) + "@mailshot"
	}
	return p, nil
}

// contentIDLocal returns the left side of the Content-ID of the inline
// image p: 24 hex digits of its SHA-256, the same for the same image in
// every message. Render puts it at the From address's domain.
func contentIDLocal(p *Part) string {
	sum := p.digest()
	return hex.EncodeToString(sum[:12])
}

// contentType returns the media type of a file: by its extension, or by
// sniffing its first bytes when the extension says nothing.
func contentType(name string, content []byte) string {
	ext := strings.ToLower(filepath.Ext(name))
	// The common types first, so the result does not depend on the
	// machine's mime.types.
	switch ext {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".svg":
		return "image/svg+xml"
	case ".pdf":
		return "application/pdf"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".ics":
		return "text/calendar; charset=utf-8"
	case ".zip":
		return "application/zip"
	case ".docx":
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case ".xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ".pptx":
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return sniffContentType(content)
}

// sniffContentType recognises a few file formats by their signatures.
func sniffContentType(content []byte) string {
	for _, sig := range []struct {
		prefix, ctype string
	}{
		{"\x89PNG\r\n\x1a\n", "image/png"},
		{"\xff\xd8\xff", "image/jpeg"},
		{"GIF87a", "image/gif"},
		{"GIF89a", "image/gif"},
		{"%PDF-", "application/pdf"},
		{"PK\x03\x04", "application/zip"},
	} {
		if bytes.HasPrefix(content, []byte(sig.prefix)) {
			return sig.ctype
		}
	}
	if len(content) >= 12 && string(content[:4]) == "RIFF" && string(content[8:12]) == "WEBP" {
		return "image/webp"
	}
	return "application/octet-stream"
}

// loadFiles reads the files the template names literally, once, and keeps
// them with their base64 encoding for every message.
func (t *Template) loadFiles(refs []fileRef) error {
	t.files = make(map[fileKey]*Part)
	t.atDomain = make(map[*Part]*atomic.Pointer[domainPart])
	for _, ref := range refs {
		key, err := cleanFilePath(ref.kind, ref.path)
		if err == nil {
			if _, ok := t.files[key]; ok {
				continue
			}
			var p *Part
			if p, err = t.readFile(key); err == nil {
				p.encoded = encodeBase64Lines(p.Content)
				p.header = newPartHeader(p, key.kind.disposition())
				if key.kind == inlineFile {
					t.atDomain[p] = new(atomic.Pointer[domainPart])
				}
				t.files[key] = p
				continue
			}
		}
		return fmt.Errorf("merge: %s: %s %q: %w", ref.where, ref.kind, ref.path, err)
	}
	return nil
}

// domainPart is an inline file's Part with its Content-ID at domain.
type domainPart struct {
	domain string
	part   *Part
}

// inlineAt returns the inline file p with its Content-ID at domain: for a
// file of the template's own, the copy made for the last domain asked
// for when that is domain (the From domain is the same for every message
// of most templates), else a new copy, which is kept for next time.
func (t *Template) inlineAt(p *Part, domain string) *Part {
	last := t.atDomain[p]
	if last != nil {
		if d := last.Load(); d != nil && d.domain == domain {
			return d.part
		}
	}
	own := *p // several renders share p: change only a copy
	own.ContentID = contentIDLocal(p) + "@" + domain
	own.header = nil
	if last != nil {
		own.header = newPartHeader(&own, inlineFile.disposition())
		last.Store(&domainPart{domain, &own})
	}
	return &own
}
