package merge

import (
	"bytes"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkHeaderLines checks one encoded header field: CRLF only at line ends,
// continuation lines starting with a space and holding more than white
// space, no line over 998 octets, ASCII only. It returns the unfolded
// value (RFC 5322 section 2.2.3).
func checkHeaderLines(t *testing.T, field []byte, name string) string {
	t.Helper()
	if !bytes.HasSuffix(field, []byte("\r\n")) {
		t.Fatalf("field does not end in CRLF: %q", field)
	}
	lines := strings.Split(string(field[:len(field)-2]), "\r\n")
	for i, line := range lines {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR or LF in line %d: %q", i, line)
		}
		if len(line) > maxLineLength {
			t.Fatalf("line %d is %d octets long", i, len(line))
		}
		if i > 0 && (line == "" || line[0] != ' ' || strings.TrimSpace(line) == "") {
			t.Fatalf("continuation line %d is %q", i, line)
		}
		for j := 0; j < len(line); j++ {
			if line[j] >= 0x80 || line[j] < ' ' && line[j] != '\t' {
				t.Fatalf("line %d holds octet %#x: %q", i, line[j], line)
			}
		}
	}
	unfolded := strings.Join(lines, "")
	prefix := name + ":"
	if !strings.HasPrefix(unfolded, prefix) {
		t.Fatalf("field does not start with %q: %q", prefix, unfolded)
	}
	return strings.TrimPrefix(strings.TrimPrefix(unfolded, prefix), " ")
}

func TestEncodeUnstructured(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Hello world", "Hello world"},
		{"", ""},
		{"Grüße aus Zürich", "=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?utf-8?q?Z=C3=BCrich?="},
		{"Zoë Zoë", "=?utf-8?q?Zo=C3=AB_Zo=C3=AB?="},
		{"Zoë  x", "=?utf-8?q?Zo=C3=AB_?= x"},
		{"é  à", "=?utf-8?b?w6kgIMOg?="},
		{"王小明", "=?utf-8?b?546L5bCP5piO?="},
		{"a =?utf-8?q?x?= b", "a =?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?= b"},
		{"tab\there", "=?utf-8?q?tab=09here?="},
	}
	for _, tt := range tests {
		got := encodeUnstructured("Subject", tt.in)
		if got != tt.want {
			t.Errorf("encodeUnstructured(%q) = %q, want %q", tt.in, got, tt.want)
		}
		var dec mime.WordDecoder
		if back, err := dec.DecodeHeader(got); err != nil || back != tt.in {
			t.Errorf("%q decodes to %q (%v), want %q", got, back, err, tt.in)
		}
	}
}

func TestAppendHeaderRejects(t *testing.T) {
	for _, v := range []string{"a\r\nBcc: x@example.com", "a\nb", "a\rb", "a\x00", "\x7f"} {
		if b, err := appendHeader([]byte("kept"), "Subject", v); err == nil || string(b) != "kept" {
			t.Errorf("appendHeader(%q) = %q, %v", v, b, err)
		}
	}
	for _, name := range []string{"", "Bad Name", "Bad:Name", "Ünï", strings.Repeat("X", 80)} {
		if _, err := appendHeader(nil, name, "v"); err == nil {
			t.Errorf("appendHeader accepted the name %q", name)
		}
	}
	if _, err := appendHeader(nil, "X-Long", strings.Repeat("x", 1000)); err == nil {
		t.Errorf("appendHeader accepted a word longer than a line")
	}
}

// FuzzHeaderEncoding checks the header encoders on any input: values with
// a line break or control character are refused; everything else comes out
// as lines of at most 998 octets, ending in CRLF, with no bare CR or LF,
// that decode back to the input.
func FuzzHeaderEncoding(f *testing.F) {
	for _, seed := range []string{
		"Hello", "", " ", "Grüße aus Zürich", "王小明 🎟", "=?utf-8?q?x?=", "a?=b", "a\r\nBcc: evil@example.net",
		"x\ny", "\x00", "tab\tbed", strings.Repeat("word ", 300), strings.Repeat("é", 600), strings.Repeat("x", 1200),
		`"quoted \" string" <not@address>`, "\xff\xfe", "a  b   c", "ends with space ",
	} {
		f.Add(seed, "Ada \"The\" <Countess> & Co")
	}
	f.Fuzz(func(t *testing.T, value, name string) {
		// Unstructured text, such as Subject.
		if err := checkHeaderText(value); err != nil {
			if _, err := appendHeader(nil, "Subject", value); err == nil {
				t.Fatalf("appendHeader accepted %q", value)
			}
			m := &Message{From: &mail.Address{Address: "a@example.org"}, To: []*mail.Address{{Address: "b@example.org"}}, Subject: value}
			if _, err := m.appendHeaders(nil); err == nil {
				t.Fatalf("appendHeaders accepted the subject %q", value)
			}
		} else {
			field, err := appendHeader(nil, "Subject", encodeUnstructured("Subject", value))
			if err != nil {
				t.Fatalf("cannot encode %q: %v", value, err)
			}
			got := checkHeaderLines(t, field, "Subject")
			var dec mime.WordDecoder
			back, err := dec.DecodeHeader(got)
			// Readers drop white space around a value.
			if err != nil || strings.Trim(back, " \t") != strings.Trim(value, " \t") {
				t.Fatalf("%q encodes to %q, which decodes to %q (%v)", value, field, back, err)
			}
		}

		// A display name in an address list.
		addrs := []*mail.Address{{Name: name, Address: "ada@example.com"}, {Name: value, Address: "bob@example.org"}}
		m := &Message{From: addrs[0], To: addrs, Text: "x"}
		header, err := m.appendHeaders(nil)
		nameOK := checkHeaderText(name) == nil && checkHeaderText(value) == nil
		if err != nil {
			if nameOK && len(name) < 500 && len(value) < 500 {
				t.Fatalf("cannot encode the names %q, %q: %v", name, value, err)
			}
			return
		}
		if !nameOK {
			t.Fatalf("appendHeaders accepted the names %q, %q", name, value)
		}
		fields := bytes.SplitAfter(header, []byte("\r\n"))
		var to []byte
		for i := 0; i < len(fields); i++ {
			if bytes.HasPrefix(fields[i], []byte("To:")) {
				to = fields[i]
				for i+1 < len(fields) && len(fields[i+1]) > 0 && fields[i+1][0] == ' ' {
					i++
					to = append(to, fields[i]...)
				}
			}
		}
		list, err := mail.ParseAddressList(checkHeaderLines(t, to, "To"))
		if err != nil || len(list) != 2 {
			t.Fatalf("To %q does not parse: %v", to, err)
		}
		for i, a := range list {
			if want := addrs[i].Name; a.Name != want && utf8.ValidString(want) && strings.TrimSpace(want) == want {
				t.Fatalf("name %q reads back as %q from %q", want, a.Name, to)
			}
		}
	})
}

// FuzzEncodeWords checks that encoded-words are at most 75 octets, never
// split a character, and decode back to the input.
func FuzzEncodeWords(f *testing.F) {
	for _, seed := range []string{"", "a", "Grüße", "王小明🎟", strings.Repeat("é", 100), "=?_ \t", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := encodeWords(s)
		for _, w := range strings.Split(enc, " ") {
			if len(w) > maxEncodedWord {
				t.Fatalf("encoded-word of %d octets: %q", len(w), w)
			}
		}
		if !utf8.ValidString(s) {
			return // the decoder checks nothing, but the words are still short
		}
		var dec mime.WordDecoder
		back, err := dec.DecodeHeader(enc)
		if err != nil || back != s {
			t.Fatalf("%q encodes to %q, which decodes to %q (%v)", s, enc, back, err)
		}
		for _, w := range strings.Split(enc, " ") {
			if w == "" {
				continue
			}
			one, err := dec.Decode(w)
			if err != nil || !utf8.ValidString(one) {
				t.Fatalf("word %q alone decodes to %q (%v): a character is split", w, one, err)
			}
		}
	})
}

// TestHeaderCasesGolden composes one message for each header case that
// mail clients used to read differently, compares it with its golden file
// (go test -update rewrites them), and checks what Python's email package
// (default policy) reads: no defect, and each value as it was given.
func TestHeaderCasesGolden(t *testing.T) {
	longName := "Zertifikat für Zoë Müller – Teilnahme am Mailshot Community Day 2026 in Zürich.pdf"
	base := func() *Message {
		return &Message{
			From:    &mail.Address{Name: "Mailshot Events", Address: "events@example.org"},
			To:      []*mail.Address{{Name: "Ada Lovelace", Address: "ada@example.com"}},
			Subject: "Hello",
			Text:    "Hello Ada,\n\nsee you soon.\n",
		}
	}
	tests := []struct {
		name   string
		edit   func(m *Message)
		check  func(t *testing.T, m *Message, raw []byte, py *pyMessage)
		header string // a header line the message must hold
	}{{
		name: "encoded-word-name",
		edit: func(m *Message) {
			m.From.Name = "=?utf-8?q?Your_Bank?="
			m.To[0].Name = "Ada =?iso-8859-1?q?x?= Lovelace"
		},
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if got := py.Names["From"]; len(got) != 1 || got[0] != "=?utf-8?q?Your_Bank?=" {
				t.Errorf("Python reads the From name as %q", got)
			}
			if got := py.Names["To"]; len(got) != 1 || got[0] != m.To[0].Name {
				t.Errorf("Python reads the To name as %q", got)
			}
		},
	}, {
		name: "attachment-long-name",
		edit: func(m *Message) {
			m.Attachments = []*Part{{Filename: longName, ContentType: "application/pdf", Content: []byte("%PDF-1.4\n")}}
		},
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if len(py.Files) != 1 || py.Files[0] != longName {
				t.Errorf("Python reads the file names %q", py.Files)
			}
			if !bytes.Contains(raw, []byte(`name="=?utf-8?q?Zertifikat_f=C3=BCr_Zo=C3=AB`)) {
				t.Errorf("no RFC 2047 name= parameter")
			}
			if !bytes.Contains(raw, []byte(`filename*1*=`)) {
				t.Errorf("no RFC 2231 continuation")
			}
		},
	}, {
		name: "attachment-quotes",
		edit: func(m *Message) {
			m.Attachments = []*Part{{Filename: `report "x" \final\.pdf`, ContentType: "application/pdf", Content: []byte("%PDF-1.4\n")}}
		},
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if len(py.Files) != 1 || py.Files[0] != m.Attachments[0].Filename {
				t.Errorf("Python reads the file names %q", py.Files)
			}
			if bytes.Contains(raw, []byte(`\`)) {
				t.Errorf("a backslash is left in the message, where some readers cut the name")
			}
		},
	}, {
		name: "subject-first-line",
		edit: func(m *Message) { m.Subject = "Ünïcödé Ünïcödé Ünïcödé Ünïcödé: your ticket" },
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if py.Headers["Subject"] != m.Subject {
				t.Errorf("Python reads Subject %q", py.Headers["Subject"])
			}
		},
	}, {
		name: "subject-long-word",
		edit: func(m *Message) { m.Subject = "Link: https://example.org/" + strings.Repeat("abcdefghij", 30) },
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if py.Headers["Subject"] != m.Subject {
				t.Errorf("Python reads Subject %q", py.Headers["Subject"])
			}
		},
	}, {
		name:   "empty-subject",
		edit:   func(m *Message) { m.Subject = "" },
		header: "\r\nSubject:\r\n",
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if s, ok := py.Headers["Subject"]; !ok || s != "" {
				t.Errorf("Python reads Subject %q, %v", s, ok)
			}
		},
	}, {
		name: "qp-from",
		edit: func(m *Message) {
			m.Text = "Dear Zoë,\n\nFrom the team, thanks.\n" + strings.Repeat("y", 75) + "From here on\n"
		},
		header: "\r\n=46rom the team, thanks.\r\n",
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if bytes.Contains(raw, []byte("\nFrom ")) {
				t.Errorf("a line starts with From")
			}
			if len(py.Text) != 1 || strings.ReplaceAll(py.Text[0], "\r\n", "\n") != m.Text {
				t.Errorf("Python reads the text %q", py.Text)
			}
		},
	}, {
		name:   "7bit-from",
		edit:   func(m *Message) { m.Text = "Hi,\nFrom now on we meet on Mondays.\n" },
		header: "Content-Transfer-Encoding: quoted-printable\r\n",
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if len(py.Text) != 1 || strings.ReplaceAll(py.Text[0], "\r\n", "\n") != m.Text {
				t.Errorf("Python reads the text %q", py.Text)
			}
		},
	}, {
		name:   "cjk-base64",
		edit:   func(m *Message) { m.Text = strings.Repeat("您好，这是一封测试邮件。", 8) + "\n" },
		header: "Content-Transfer-Encoding: base64\r\n",
		check: func(t *testing.T, m *Message, raw []byte, py *pyMessage) {
			if len(py.Text) != 1 || strings.ReplaceAll(py.Text[0], "\r\n", "\n") != m.Text {
				t.Errorf("Python reads the text %q", py.Text)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := base()
			tt.edit(m)
			var b bytes.Buffer
			if err := testComposer().Compose(&b, m); err != nil {
				t.Fatal(err)
			}
			raw := b.Bytes()
			golden := filepath.Join("testdata", "golden", "header-"+tt.name+".eml")
			if *update {
				if err := os.WriteFile(golden, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want) {
				t.Errorf("composed message differs from %s (run go test -update to accept):\n%s", golden, raw)
			}
			checkLines(t, raw)
			header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			for i, line := range bytes.Split(header, []byte("\r\n")) {
				if len(line) > foldLength {
					t.Errorf("header line %d is %d octets: %q", i+1, len(line), line)
				}
				if bytes.Contains(line, []byte("=?")) && len(line) > encodedLineLength {
					t.Errorf("header line %d with an encoded-word is %d octets: %q", i+1, len(line), line)
				}
			}
			if tt.header != "" && !bytes.Contains(raw, []byte(tt.header)) {
				t.Errorf("the message does not hold %q:\n%s", tt.header, raw)
			}
			w := parseWire(t, raw)
			checkWire(t, w, m)
			tt.check(t, m, raw, pyParse(t, raw))
		})
	}
}
