package merge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// testComposer returns a Composer whose output depends only on the message.
func testComposer() *Composer {
	n := 0
	return &Composer{
		Now: func() time.Time { return time.Date(2026, 5, 4, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600)) },
		NewMessageID: func(domain string) string {
			return "golden-message@" + domain
		},
		NewBoundary: func() string {
			n++
			return fmt.Sprintf("=_golden-boundary-%d", n)
		},
	}
}

// wire is a composed message as independent parsers (net/mail,
// mime/multipart, mime/quotedprintable, encoding/base64) read it back.
type wire struct {
	header      mail.Header
	structure   string               // e.g. multipart/alternative[text/plain,text/html]
	text, html  string               // decoded bodies
	inline      map[string]*wirePart // by Content-ID
	attachments []*wirePart
}

type wirePart struct {
	contentType, filename, disposition string
	data                               []byte
}

// parseWire parses raw and checks what must hold for every message: CRLF
// line ends, no line over 998 octets, folded header lines starting with
// white space, MIME-Version, no Bcc.
func parseWire(t *testing.T, raw []byte) *wire {
	t.Helper()
	checkLines(t, raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	if v := msg.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", v)
	}
	if _, ok := msg.Header["Bcc"]; ok {
		t.Errorf("message has a Bcc header")
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{header: msg.Header, inline: map[string]*wirePart{}}
	w.structure = w.entity(t, textproto.MIMEHeader(msg.Header), body, "")
	return w
}

// checkLines checks that every line of raw ends in CRLF, that no line is
// longer than 998 octets, and that the header section is well formed.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	inHeader := true
	for i, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			t.Fatalf("line %d does not end in CRLF: %q", i+1, line)
		}
		content := line[:len(line)-2]
		if bytes.ContainsAny(content, "\r\n") {
			t.Fatalf("line %d holds a bare CR or LF: %q", i+1, line)
		}
		if len(content) > maxLineLength {
			t.Fatalf("line %d is %d octets long", i+1, len(content))
		}
		if inHeader {
			switch {
			case len(content) == 0:
				inHeader = false
			case content[0] == ' ' || content[0] == '\t':
				if len(bytes.TrimSpace(content)) == 0 {
					t.Fatalf("header line %d is only white space", i+1)
				}
			case bytes.IndexByte(content, ':') <= 0:
				t.Fatalf("header line %d is not a field: %q", i+1, content)
			}
			for _, c := range content {
				if c >= 0x80 {
					t.Fatalf("header line %d is not ASCII: %q", i+1, content)
				}
			}
		}
	}
}

// entity decodes one MIME entity, recording bodies and files in w, and
// returns its structure. parent is the media type of the enclosing
// multipart.
func (w *wire) entity(t *testing.T, h textproto.MIMEHeader, body []byte, parent string) string {
	t.Helper()
	ctype := h.Get("Content-Type")
	if ctype == "" {
		ctype = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if mediaType == "multipart/related" && params["type"] != "text/html" {
			t.Errorf("multipart/related has type %q, want text/html", params["type"])
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var children []string
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", mediaType, err)
			}
			data, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("%s: %v", mediaType, err)
			}
			children = append(children, w.entity(t, p.Header, data, mediaType))
		}
		return mediaType + "[" + strings.Join(children, ",") + "]"
	}

	var data []byte
	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		if data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
			t.Fatalf("%s: quoted-printable: %v", mediaType, err)
		}
	case "base64":
		for _, line := range strings.Split(string(body), "\r\n") {
			if len(line) > base64LineLength {
				t.Errorf("%s: base64 line of %d characters", mediaType, len(line))
			}
		}
		if data, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", "")); err != nil {
			t.Fatalf("%s: base64: %v", mediaType, err)
		}
	case "7bit", "":
		for _, c := range body {
			if c >= 0x80 || c == 0 {
				t.Fatalf("%s: 7bit body holds octet %#x", mediaType, c)
			}
		}
		data = body
	default:
		t.Fatalf("%s: unexpected Content-Transfer-Encoding %q", mediaType, cte)
	}

	disposition, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	switch {
	case mediaType == "text/plain" && disposition == "":
		if params["charset"] != "utf-8" {
			t.Errorf("text/plain charset = %q", params["charset"])
		}
		w.text = string(data)
	case mediaType == "text/html" && disposition == "":
		if params["charset"] != "utf-8" {
			t.Errorf("text/html charset = %q", params["charset"])
		}
		w.html = string(data)
	case disposition == "inline":
		if parent != "multipart/related" {
			t.Errorf("inline %s outside multipart/related", mediaType)
		}
		id := h.Get("Content-ID")
		if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") {
			t.Fatalf("inline part has Content-ID %q", id)
		}
		w.inline[id[1:len(id)-1]] = &wirePart{mediaType, dparams["filename"], disposition, data}
	case disposition == "attachment":
		w.attachments = append(w.attachments, &wirePart{mediaType, dparams["filename"], disposition, data})
	default:
		t.Fatalf("unexpected part %s with disposition %q", mediaType, disposition)
	}
	return mediaType
}

// crlf returns s with every line break as CRLF, as a message carries it.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

var cidURL = regexp.MustCompile(`cid:([^"'\s)>]+)`)

// checkWire checks that w, parsed from m's composition, says what m says.
func checkWire(t *testing.T, w *wire, m *Message) {
	t.Helper()
	from, err := w.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != m.From.Address || from[0].Name != m.From.Name {
		t.Errorf("From = %v (%v), want %v", from, err, m.From)
	}
	for name, want := range map[string][]*mail.Address{"To": m.To, "Cc": m.Cc, "Reply-To": m.ReplyTo} {
		got, err := w.header.AddressList(name)
		if len(want) == 0 {
			if err != mail.ErrHeaderNotPresent {
				t.Errorf("%s = %v, want no such header", name, got)
			}
			continue
		}
		if err != nil || len(got) != len(want) {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
			continue
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Address != want[i].Address {
				t.Errorf("%s[%d] = %q <%s>, want %q <%s>", name, i, got[i].Name, got[i].Address, want[i].Name, want[i].Address)
			}
		}
	}
	var dec mime.WordDecoder
	if subject, err := dec.DecodeHeader(w.header.Get("Subject")); err != nil || subject != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", subject, err, m.Subject)
	}
	for _, f := range m.Headers {
		if got, err := dec.DecodeHeader(w.header.Get(f.Name)); err != nil || got != f.Value {
			t.Errorf("%s decodes to %q (%v), want %q", f.Name, got, err, f.Value)
		}
	}
	if got := w.header.Get("Message-ID"); got != "<"+m.MessageID+">" || !strings.HasSuffix(m.MessageID, "@"+domainOf(m.From.Address)) {
		t.Errorf("Message-ID = %q; MessageID = %q", got, m.MessageID)
	}
	if date, err := w.header.Date(); err != nil || !date.Equal(m.Date) {
		t.Errorf("Date = %v (%v), want %v", date, err, m.Date)
	}
	// A single-part message gets a final line break.
	single := !strings.HasPrefix(w.structure, "multipart/")
	wantText := m.Text
	if wantText == "" && m.HTML != "" {
		wantText = HTMLToText(m.HTML)
	}
	if w.text != crlf(wantText) && !(single && w.text == crlf(wantText)+"\r\n" && !strings.HasSuffix(wantText, "\n")) {
		t.Errorf("text body decodes to\n%q\nwant\n%q", w.text, crlf(wantText))
	}
	if w.html != crlf(m.HTML) && !(single && w.html == crlf(m.HTML)+"\r\n" && !strings.HasSuffix(m.HTML, "\n")) {
		t.Errorf("HTML body decodes to\n%q\nwant\n%q", w.html, crlf(m.HTML))
	}
	used := map[string]bool{}
	for _, match := range cidURL.FindAllStringSubmatch(w.html, -1) {
		used[match[1]] = true
		if w.inline[match[1]] == nil {
			t.Errorf("HTML refers to %s, which no part has as its Content-ID", match[0])
		}
	}
	if len(w.inline) != len(m.Inline) {
		t.Errorf("%d inline parts, want %d", len(w.inline), len(m.Inline))
	}
	for _, p := range m.Inline {
		got := w.inline[p.ContentID]
		switch {
		case got == nil:
			t.Errorf("no inline part with Content-ID %s", p.ContentID)
		case !used[p.ContentID]:
			t.Errorf("inline part %s is not used by the HTML", p.ContentID)
		case got.filename != p.Filename || got.contentType != p.ContentType || !bytes.Equal(got.data, p.Content):
			t.Errorf("inline part %s: %s %s, %d bytes; want %s %s, %d bytes", p.ContentID, got.filename, got.contentType, len(got.data), p.Filename, p.ContentType, len(p.Content))
		}
	}
	if len(w.attachments) != len(m.Attachments) {
		t.Fatalf("%d attachments, want %d", len(w.attachments), len(m.Attachments))
	}
	for i, p := range m.Attachments {
		got := w.attachments[i]
		if got.filename != p.Filename || !strings.HasPrefix(p.ContentType, got.contentType) || !bytes.Equal(got.data, p.Content) {
			t.Errorf("attachment %d: %s %s, %d bytes; want %s %s, %d bytes", i, got.filename, got.contentType, len(got.data), p.Filename, p.ContentType, len(p.Content))
		}
	}
}

// render loads the template in dir and renders one row.
func render(t testing.TB, dir string, opts TemplateOptions, columns []string, values ...string) *Message {
	t.Helper()
	tmpl, err := LoadTemplate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(&Record{File: "recipients.csv", Row: 2, Columns: NewColumns(columns), Values: values})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var sampleColumns = []string{"email", "name", "First Name", "city", "ticket", "date", "token"}

func TestComposeGolden(t *testing.T) {
	attachments := TemplateOptions{AttachmentsDir: "testdata/attachments"}
	fullColumns := []string{"email", "name", "First Name", "cc", "year", "certificate", "vip"}
	tests := []struct {
		name      string
		dir       string
		opts      TemplateOptions
		columns   []string
		values    []string
		structure string
		// files maps file names in the message to their sources, whose
		// bytes the decoded parts must equal.
		files map[string]string
	}{{
		name:      "announcement",
		dir:       "../templates/announcement",
		columns:   sampleColumns,
		values:    []string{"tom@example.com", `Tom "T-Bone" <Tommy> & Co`, "Tom", "Lisbon 🌊", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83"},
		structure: "multipart/alternative[text/plain,multipart/related[text/html,image/png]]",
		files:     map[string]string{"logo.png": "../templates/announcement/logo.png"},
	}, {
		name:      "announcement-cyrillic",
		dir:       "../templates/announcement",
		columns:   sampleColumns,
		values:    []string{"dmitri.ivanov@example.org", "Дмитрий Иванов", "Дмитрий", "Москва", "1010", "2026-05-08", "b85d156d4bd0033a13278b7d2d24e2ed"},
		structure: "multipart/alternative[text/plain,multipart/related[text/html,image/png]]",
		files:     map[string]string{"logo.png": "../templates/announcement/logo.png"},
	}, {
		name:      "full-vip",
		dir:       "testdata/templates/full",
		opts:      attachments,
		columns:   fullColumns,
		values:    []string{"zoe.mueller@example.org", "Zoë Müller", "Zoë", "boss@example.org", "2026", "Zertifikat Zoë.pdf", "yes"},
		structure: "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png,image/png]],application/pdf,application/pdf]",
		files: map[string]string{
			"logo.png": "testdata/templates/full/logo.png", "badge.png": "testdata/templates/full/badge.png",
			"agenda.pdf": "testdata/attachments/agenda.pdf", "Zertifikat Zoë.pdf": "testdata/attachments/Zertifikat Zoë.pdf",
		},
	}, {
		name:      "full",
		dir:       "testdata/templates/full",
		opts:      attachments,
		columns:   fullColumns,
		values:    []string{"ada.lovelace@example.com", "Ada Lovelace", "Ada", "", "2026", "cert-ada.pdf", ""},
		structure: "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],application/pdf,application/pdf]",
		files: map[string]string{
			"logo.png": "testdata/templates/full/logo.png", "agenda.pdf": "testdata/attachments/agenda.pdf",
			"cert-ada.pdf": "testdata/attachments/cert-ada.pdf",
		},
	}, {
		name:      "textonly",
		dir:       "testdata/templates/textonly",
		columns:   []string{"email", "name", "vip", "code", "nick"},
		values:    []string{"grace.hopper@example.org", "grace hopper", "", "cobol-59", ""},
		structure: "text/plain",
	}, {
		name:      "htmlonly",
		dir:       "testdata/templates/htmlonly",
		columns:   []string{"email", "name"},
		values:    []string{"ada@example.com", "Ada <Countess> & \"Lovelace\""},
		structure: "multipart/alternative[text/plain,text/html]",
	}, {
		name:    "headers",
		dir:     "testdata/templates/headers",
		columns: []string{"email", "name", "subject"},
		values: []string{"wang.xiaoming@example.org", "王小明",
			"A subject that is long enough to need folding, with a word that is not ASCII (naïve) and an emoji 🎟 near the end of it all"},
		structure: "text/plain",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := render(t, tt.dir, tt.opts, tt.columns, tt.values...)
			var b bytes.Buffer
			if err := testComposer().Compose(&b, m); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", tt.name+".eml")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("composed message differs from %s (run go test -update to accept):\n%s", golden, b.Bytes())
			}
			checkPieces(t, m, b.Bytes())

			w := parseWire(t, b.Bytes())
			if w.structure != tt.structure {
				t.Errorf("structure = %s, want %s", w.structure, tt.structure)
			}
			checkWire(t, w, m)
			var parts []*wirePart
			for _, p := range w.inline {
				parts = append(parts, p)
			}
			parts = append(parts, w.attachments...)
			if len(parts) != len(tt.files) {
				t.Errorf("%d files in the message, want %d", len(parts), len(tt.files))
			}
			for _, p := range parts {
				src, ok := tt.files[p.filename]
				if !ok {
					t.Errorf("unexpected file %q", p.filename)
					continue
				}
				want, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.data, want) {
					t.Errorf("%s decodes to %d bytes that differ from %s", p.filename, len(p.data), src)
				}
			}
		})
	}
}

// checkPieces composes m in pieces and compares them with eml, what
// Compose wrote: the same octets, and shared pieces exactly where the
// template's own files go, each holding the template's one copy of them.
func checkPieces(t *testing.T, m *Message, eml []byte) {
	t.Helper()
	pieces, err := testComposer().ComposePieces(m)
	if err != nil {
		t.Fatal(err)
	}
	var joined []byte
	var shared [][]byte
	for _, p := range pieces {
		joined = append(joined, p.Octets...)
		if p.Shared {
			shared = append(shared, p.Octets)
		}
		if len(p.Octets) == 0 && !p.Shared {
			t.Errorf("an empty piece of the message's own in %d", len(pieces))
		}
	}
	if !bytes.Equal(joined, eml) {
		t.Fatalf("pieces joined differ from the message Compose wrote:\n%s", joined)
	}
	var want [][]byte
	for _, p := range append(append([]*Part(nil), m.Inline...), m.Attachments...) {
		if p.encoded != nil {
			want = append(want, p.encoded)
		}
	}
	if len(shared) != len(want) {
		t.Fatalf("%d shared pieces, want %d (the template's own files)", len(shared), len(want))
	}
	for i := range want {
		if unsafe.SliceData(shared[i]) != unsafe.SliceData(want[i]) || len(shared[i]) != len(want[i]) {
			t.Errorf("shared piece %d is not the template's copy of its file", i)
		}
	}
}

func TestComposeStructure(t *testing.T) {
	png := newPart("dot.png", "image/png", []byte("\x89PNG\r\n\x1a\nnot really"))
	png.ContentID = "dot@mailshot"
	pdf := newPart("a.pdf", "application/pdf", []byte("%PDF-1.4"))
	from := &mail.Address{Address: "me@example.org"}
	to := []*mail.Address{{Address: "you@example.com"}}
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"text", Message{Text: "hi\n"}, "text/plain"},
		{"empty", Message{}, "text/plain"},
		{"html", Message{HTML: "<p>hi</p>"}, "multipart/alternative[text/plain,text/html]"},
		{"text+html", Message{Text: "hi", HTML: "<p>hi</p>"}, "multipart/alternative[text/plain,text/html]"},
		{"html+inline", Message{HTML: `<img src="cid:dot@mailshot">`, Inline: []*Part{png}}, "multipart/alternative[text/plain,multipart/related[text/html,image/png]]"},
		{"text+attachment", Message{Text: "hi", Attachments: []*Part{pdf}}, "multipart/mixed[text/plain,application/pdf]"},
		{"all", Message{Text: "hi", HTML: `<img src="cid:dot@mailshot">`, Inline: []*Part{png}, Attachments: []*Part{pdf, pdf}},
			"multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],application/pdf,application/pdf]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			m.From, m.To, m.Subject = from, to, "structure"
			var b bytes.Buffer
			if err := testComposer().Compose(&b, &m); err != nil {
				t.Fatal(err)
			}
			w := parseWire(t, b.Bytes())
			if w.structure != tt.want {
				t.Errorf("structure = %s, want %s", w.structure, tt.want)
			}
			checkWire(t, w, &m)
		})
	}
}

func TestComposeEncodings(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"short ASCII", "Hello\nworld\n", "7bit"},
		{"CRLF", "Hello\r\nworld\r\n", "7bit"},
		{"non-ASCII", "Grüße\n", "quoted-printable"},
		{"long line", strings.Repeat("word ", 20) + "\n", "quoted-printable"},
		{"trailing space", "Hello \nworld\n", "quoted-printable"},
		{"control", "bell\a\n", "quoted-printable"},
		{"line of 998", strings.Repeat("x", 998), "quoted-printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{From: &mail.Address{Address: "a@example.org"}, To: []*mail.Address{{Address: "b@example.com"}}, Text: tt.text, HTML: tt.text}
			var b bytes.Buffer
			if err := testComposer().Compose(&b, m); err != nil {
				t.Fatal(err)
			}
			w := parseWire(t, b.Bytes())
			checkWire(t, w, m)
			if got := strings.Count(b.String(), "Content-Transfer-Encoding: "+tt.want+"\r\n"); got != 2 {
				t.Errorf("%d parts in %s, want 2:\n%s", got, tt.want, b.String())
			}
		})
	}
}

func TestComposeRejects(t *testing.T) {
	good := func() *Message {
		return &Message{
			From:    &mail.Address{Name: "Me", Address: "me@example.org"},
			To:      []*mail.Address{{Name: "You", Address: "you@example.com"}},
			Subject: "hello",
			Text:    "hi",
		}
	}
	tests := []struct {
		name   string
		change func(m *Message)
	}{
		{"no From", func(m *Message) { m.From = nil }},
		{"no recipients", func(m *Message) { m.To = nil }},
		{"CRLF in Subject", func(m *Message) { m.Subject = "hi\r\nBcc: evil@example.net" }},
		{"LF in Subject", func(m *Message) { m.Subject = "hi\nBcc: evil@example.net" }},
		{"CR in Subject", func(m *Message) { m.Subject = "hi\rBcc: evil@example.net" }},
		{"NUL in Subject", func(m *Message) { m.Subject = "hi\x00" }},
		{"LF in display name", func(m *Message) { m.To[0].Name = "You\nBcc: evil@example.net" }},
		{"LF in address", func(m *Message) { m.To[0].Address = "you@example.com\nBcc: evil@example.net" }},
		{"address without @", func(m *Message) { m.To[0].Address = "you" }},
		{"non-ASCII domain", func(m *Message) { m.To[0].Address = "you@bücher.example" }},
		{"bad Bcc", func(m *Message) { m.Bcc = []*mail.Address{{Address: "x\r\n"}} }},
		{"LF in other header", func(m *Message) { m.Headers = []HeaderField{{"X-Tag", "a\nb"}} }},
		{"bad header name", func(m *Message) { m.Headers = []HeaderField{{"X Tag", "a"}} }},
		{"Bcc in Headers", func(m *Message) { m.Headers = []HeaderField{{"bcc", "evil@example.net"}} }},
		{"Content-Type in Headers", func(m *Message) { m.Headers = []HeaderField{{"Content-Type", "text/html"}} }},
		{"non-ASCII List-Unsubscribe", func(m *Message) { m.Headers = []HeaderField{{"List-Unsubscribe", "<https://example.org/ü>"}} }},
		{"bad Message-ID", func(m *Message) { m.MessageID = "no at sign" }},
		{"Message-ID with brackets", func(m *Message) { m.MessageID = "<a@b>" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(m)
			var b bytes.Buffer
			err := testComposer().Compose(&b, m)
			if err == nil {
				t.Fatalf("Compose accepted the message:\n%s", b.String())
			}
			if b.Len() != 0 {
				t.Errorf("Compose wrote %d bytes before failing", b.Len())
			}
			if !strings.HasPrefix(err.Error(), "merge: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// The unchanged message is fine, and Bcc is not written.
	m := good()
	m.Bcc = []*mail.Address{{Address: "hidden@example.net"}}
	var b bytes.Buffer
	if err := testComposer().Compose(&b, m); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hidden@example.net") {
		t.Errorf("the Bcc address is in the message:\n%s", b.String())
	}
	if got := strings.Join(m.Recipients(), ","); got != "you@example.com,hidden@example.net" {
		t.Errorf("Recipients() = %s", got)
	}
}

func TestComposeDefaults(t *testing.T) {
	var c Composer
	ids := map[string]bool{}
	boundaries := map[string]bool{}
	for i := 0; i < 20; i++ {
		m := &Message{From: &mail.Address{Address: "me@mail.example.org"}, To: []*mail.Address{{Address: "you@example.com"}}, Text: "hi", HTML: "<p>hi</p>"}
		var b bytes.Buffer
		before := time.Now().Add(-time.Second)
		if err := c.Compose(&b, m); err != nil {
			t.Fatal(err)
		}
		w := parseWire(t, b.Bytes())
		checkWire(t, w, m)
		if !strings.HasSuffix(m.MessageID, "@mail.example.org") || ids[m.MessageID] {
			t.Errorf("Message-ID %q is repeated or not under the From domain", m.MessageID)
		}
		ids[m.MessageID] = true
		if m.Date.Before(before) {
			t.Errorf("Date %v is not now", m.Date)
		}
		_, params, _ := mime.ParseMediaType(w.header.Get("Content-Type"))
		if boundaries[params["boundary"]] || !strings.HasPrefix(params["boundary"], "=_") {
			t.Errorf("boundary %q is repeated or does not start with =_", params["boundary"])
		}
		boundaries[params["boundary"]] = true
	}
}

func TestHeaderFolding(t *testing.T) {
	var names []*mail.Address
	for i := 0; i < 12; i++ {
		names = append(names, &mail.Address{Name: fmt.Sprintf("Person Number %d, Esq.", i), Address: fmt.Sprintf("person%d@example.com", i)})
	}
	names = append(names, &mail.Address{Name: "Zoë Müller-Lüdenscheidt von und zu Großbritannien", Address: "zoe@example.org"})
	m := &Message{
		From:    &mail.Address{Name: "Ünïcödé Sender", Address: "me@example.org"},
		To:      names,
		Subject: strings.Repeat("Folding is where a long header is split over lines. ", 5) + "Ελληνικά και 日本語のテキスト",
		Headers: []HeaderField{
			{"X-Long-Token", strings.Repeat("x", 990)},
			{"X-Encoded-Looking", "=?utf-8?q?not_really?="},
			{"List-Unsubscribe", "<mailto:unsubscribe@example.org?subject=unsubscribe>, <https://example.org/unsubscribe?id=" + strings.Repeat("0123456789", 8) + ">"},
		},
		Text: "hi",
	}
	var b bytes.Buffer
	if err := testComposer().Compose(&b, m); err != nil {
		t.Fatal(err)
	}
	w := parseWire(t, b.Bytes())
	checkWire(t, w, m)
	header, _, _ := strings.Cut(b.String(), "\r\n\r\n")
	for _, line := range strings.Split(header, "\r\n") {
		// Lines may pass 78 octets only when a single word does.
		if len(line) > foldLength && strings.Contains(strings.TrimLeft(line, " "), " ") && !strings.HasPrefix(line, "X-Long-Token") {
			// The first line keeps its first word beside the colon.
			name, rest, _ := strings.Cut(line, ": ")
			if strings.Contains(rest, " ") || name == "" {
				t.Errorf("line of %d octets could have been folded: %q", len(line), line)
			}
		}
	}
}

// pyEmailScript parses the message in argv[1] with Python's email package
// (default policy) and prints, as JSON, every defect it records, the
// decoded Subject, the display names of From, To and Reply-To, the file
// names of the parts and the decoded text of the text parts.
const pyEmailScript = `
import sys, json, email, email.policy
msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
out = {"defects": [], "headers": {}, "names": {}, "files": [], "text": [], "types": []}
for part in msg.walk():
    out["types"].append(part.get_content_type())
    out["defects"] += [repr(d) for d in part.defects]
    for k, v in part.items():
        out["defects"] += ["%s: %r" % (k, d) for d in getattr(v, "defects", ())]
    fn = part.get_filename()
    if fn is not None:
        out["files"].append(fn)
    if part.get_content_maintype() == "text":
        out["text"].append(part.get_content())
for k in ("Subject", "List-Unsubscribe", "Content-ID"):
    if msg[k] is not None:
        out["headers"][k] = str(msg[k])
for k in ("From", "To", "Reply-To"):
    if msg[k] is not None:
        out["names"][k] = [a.display_name for a in msg[k].addresses]
json.dump(out, sys.stdout)
`

// pyMessage is what Python's email package reads in a message.
type pyMessage struct {
	Defects []string            `json:"defects"`
	Headers map[string]string   `json:"headers"`
	Names   map[string][]string `json:"names"`
	Files   []string            `json:"files"`
	Text    []string            `json:"text"`
	Types   []string            `json:"types"`
}

// pyParse parses raw with Python's email package, default policy, and
// fails the test if it records any defect. Without python3 the test is
// skipped, unless MAILSHOT_HARNESS=1.
func pyParse(t *testing.T, raw []byte) *pyMessage {
	t.Helper()
	py := "/usr/bin/python3" // the system's, without a version manager's shim
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			if os.Getenv("MAILSHOT_HARNESS") == "1" {
				t.Fatal("MAILSHOT_HARNESS=1 but there is no python3")
			}
			t.Skip("no python3")
		}
	}
	path := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pyEmailScript, path).Output()
	if err != nil {
		t.Fatalf("python3 email: %v", err)
	}
	var m pyMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("python3 email: %v: %s", err, out)
	}
	var defects []string
	for _, d := range m.Defects {
		// The RFC 2047 name= parameter of a file with a name that is not
		// plain ASCII is what older Outlook reads (Thunderbird writes it
		// too). Python decodes it, and notes that RFC 2047 does not allow
		// encoded-words in a quoted string; RFC 2231 filename* is the
		// standard form, beside it. These two notes alone are accepted.
		if bytes.Contains(raw, []byte(`name="=?utf-8?`)) &&
			(d == "Content-Type: InvalidHeaderDefect('encoded word inside quoted string')" ||
				d == "Content-Type: InvalidHeaderDefect('missing trailing whitespace after encoded-word')") {
			continue
		}
		defects = append(defects, d)
	}
	if len(defects) > 0 {
		t.Errorf("Python's email package finds defects: %v\n%s", defects, raw)
	}
	return &m
}

// TestKnownAddressFields: the From and Reply-To a template gives every
// message alike are encoded once, at load, and appear as Compose would
// encode them; a message whose From or Reply-To changed after rendering
// gets its own.
func TestKnownAddressFields(t *testing.T) {
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.known.from == nil || tmpl.known.replyTo == nil {
		t.Fatalf("known fields %+v: the announcement's From and Reply-To have no actions", tmpl.known)
	}
	row := []string{"tom@example.com", "Tom", "Tom", "Lisbon", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83"}
	render := func() *Message {
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: 2, Columns: NewColumns(sampleColumns), Values: row})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	header := func(m *Message) mail.Header {
		var b bytes.Buffer
		if err := testComposer().Compose(&b, m); err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(&b)
		if err != nil {
			t.Fatal(err)
		}
		return msg.Header
	}
	h := header(render())
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].String() != `"Mailshot Events" <events@example.org>` {
		t.Errorf("From %v, %v", from, err)
	}
	rt, err := h.AddressList("Reply-To")
	if err != nil || len(rt) != 1 || rt[0].String() != `"Mailshot Events Desk" <desk@example.org>` {
		t.Errorf("Reply-To %v, %v", rt, err)
	}
	// Fields encoded anew equal the known ones, byte for byte.
	for _, k := range []*knownField{tmpl.known.from, tmpl.known.replyTo} {
		name := "From"
		if k == tmpl.known.replyTo {
			name = "Reply-To"
		}
		fresh, err := appendAddressField(nil, name, k.list)
		if err != nil || !bytes.Equal(fresh, k.field) {
			t.Errorf("%s: known %q, encoded now %q, %v", name, k.field, fresh, err)
		}
	}

	m := render()
	m.From.Name = "Zoë"
	m.ReplyTo = append(m.ReplyTo, &mail.Address{Address: "second@example.org"})
	h = header(m)
	from, err = h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë" {
		t.Errorf("From after a change: %v, %v", from, err)
	}
	if rt, err := h.AddressList("Reply-To"); err != nil || len(rt) != 2 {
		t.Errorf("Reply-To after a change: %v, %v", rt, err)
	}
	m = render()
	m.From.Address = "bad address@example.org"
	if err := testComposer().Compose(io.Discard, m); err == nil {
		t.Error("a From changed to a bad address was composed")
	}
}

// TestSharedPartHeader checks the header fields of a template's own files,
// built once: messages of one From domain share the inline image's Part and
// its fields, which are what Compose builds without them, and a Part
// changed after Render gets fields of its own.
func TestSharedPartHeader(t *testing.T) {
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	render := func(row int) *Message {
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: row, Columns: NewColumns(sampleColumns),
			Values: []string{fmt.Sprintf("p%d@example.com", row), "P", "P", "Rome", "1", "today", fmt.Sprintf("%032x", row)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Inline) != 1 {
			t.Fatalf("Inline = %v, want the logo", m.Inline)
		}
		return m
	}
	compose := func(m *Message) string {
		var b bytes.Buffer
		if err := testComposer().Compose(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	m := render(2)
	p := m.Inline[0]
	if render(3).Inline[0] != p || p.header == nil || !p.header.holds(p, "inline") {
		t.Fatalf("two messages from one domain do not share the logo's Part and header fields: %+v", p)
	}
	built := compose(m)
	fresh := *p
	fresh.header = nil
	m.Inline[0] = &fresh
	if got := compose(m); got != built {
		t.Errorf("with the header fields built once:\n%s\nbuilt by Compose:\n%s", built, got)
	}
	fresh.Filename, fresh.ContentType = "badge.gif", "image/gif"
	fresh.header = p.header
	got := compose(m)
	w := parseWire(t, []byte(got))
	if part := w.inline[p.ContentID]; part == nil || part.filename != "badge.gif" || part.contentType != "image/gif" {
		t.Errorf("after the Part changed, the inline part is %+v:\n%s", part, got)
	}
	// The Content-ID alone changed.
	fresh = *p
	fresh.ContentID = "other-logo@example.org"
	if got := compose(m); !strings.Contains(got, "\r\nContent-ID: <other-logo@example.org>\r\n") ||
		strings.Contains(got, "Content-ID: <"+p.ContentID+">") {
		t.Errorf("after the Content-ID changed, the message is:\n%s", got)
	}
	// The inline image's Part attached: its fields as an attachment.
	m.Inline[0] = p
	m.Attachments = append(m.Attachments, p)
	got = compose(m)
	w = parseWire(t, []byte(got))
	if len(w.attachments) != 1 || w.attachments[0].disposition != "attachment" || w.attachments[0].filename != p.Filename {
		t.Errorf("the logo attached: attachments %+v:\n%s", w.attachments, got)
	}
	if n := strings.Count(got, "Content-ID: <"+p.ContentID+">"); n != 1 {
		t.Errorf("the logo's Content-ID appears %d times, want once (the inline part's):\n%s", n, got)
	}
}
