package merge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// sampleRows are rows like samples/recipients.csv's, among them names with
// non-ASCII letters, quotes, angle brackets and an emoji.
var sampleRows = [][]string{
	{"ada.lovelace@example.com", "Ada Lovelace", "Ada", "London", "1001", "2026-05-04", "4d70cefa831b9a61f892ae8c1f878d0c"},
	{"zoe.mueller@example.org", "Zoë Müller", "Zoë", "Zürich", "1002", "2026-05-04", "5c443bf99d7e6d8cca917302ed4ab6e9"},
	{"tom@example.com", `Tom "T-Bone" <Tommy> & Co`, "Tom", "Austin", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83"},
	{"ines.ribeiro@example.org", "Inês Ribeiro", "Inês", "Lisbon 🌊", "1007", "2026-05-07", "a0008704f647d5685d0c87ff31f99188"},
	{"wang.xiaoming@example.org", "王小明", "小明", "北京", "1005", "2026-05-06", "c1302e4c10ae388c7d32b3eb0b342db8"},
}

// hostileRow is a row whose cells try to become markup or script in every
// page of a preview; scripts that ran would set the title of the page
// that opened the preview, or window.top.pwned.
var hostileRow = []string{
	"mallory@example.com",
	`</td></tr></table><script>window.top.pwned=1;top.document.title="PWNED"</script>`,
	`<img src=x onerror="window.top.pwned=1">`,
	`"><svg onload="window.top.pwned=1">`,
	"6666",
	"2026-05-09",
	"9d2c5b0e7a4f41c3b8e6d1f0a2c4e6b8",
}

// fullColumns are the columns of testdata/templates/full.
var fullColumns = []string{"email", "name", "First Name", "cc", "year", "certificate", "vip"}

// previewMessages renders the messages of the sample preview: the
// announcement for sampleRows and hostileRow, the full template (Cc, Bcc,
// Reply-To, List-Unsubscribe, two attachments) for two rows, and one
// text-only message.
func previewMessages(t testing.TB) []*Message {
	t.Helper()
	ann, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := LoadTemplate("testdata/templates/full", TemplateOptions{AttachmentsDir: "testdata/attachments"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*Message
	render := func(tmpl *Template, columns, values []string) {
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: len(msgs) + 2, Columns: NewColumns(columns), Values: values})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for _, row := range sampleRows {
		render(ann, sampleColumns, row)
	}
	render(ann, sampleColumns, hostileRow)
	render(full, fullColumns, []string{"zoe.mueller@example.org", "Zoë Müller", "Zoë", "boss@example.org", "2026", "Zertifikat Zoë.pdf", "yes"})
	render(full, fullColumns, []string{"ada.lovelace@example.com", "Ada Lovelace", "Ada", "", "2026", "cert-ada.pdf", ""})
	msgs = append(msgs, &Message{
		Row:     len(msgs) + 2,
		From:    &mail.Address{Address: "events@example.org"},
		Bcc:     []*mail.Address{{Address: "Hidden.Person@Example.NET"}},
		Subject: "Plain <text> & more",
		Text:    "Just text, with <angle brackets> & ampersands.\n",
	})
	return msgs
}

// writePreview writes msgs into a preview in dir, pageSize messages a page.
func writePreview(t testing.TB, dir string, pageSize int, msgs []*Message, inputs ...string) {
	t.Helper()
	p, err := NewPreview(dir, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	p.PageSize = pageSize
	c := testComposer()
	for _, m := range msgs {
		var b bytes.Buffer
		if err := c.Compose(&b, m); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(m, b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// python3 returns the path of python3, which reads the pages back as an
// independent HTML parser; the test skips without it.
func python3(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatal("MAILSHOT_HARNESS=1 but python3 is missing")
		}
		t.Skip("python3 is missing")
	}
	return path
}

// pageReader is a Python program that reads a preview page with Python's
// own HTML parser and prints, as JSON, what a person sees in it: the rows
// of its tables as text, its links, frames and scripts.
const pageReader = `
import json, sys
from html.parser import HTMLParser

class Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = {"title": "", "rows": [], "links": [], "frames": [], "scripts": 0, "pre": [], "selected": []}
        self.row = None
        self.cell = None
        self.where = []
        self.link = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.where.append(tag)
        if tag == "tr":
            self.row = []
            if "selected" in (a.get("class") or "").split():
                self.out["selected"].append(a.get("id"))
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "a":
            self.link = [a.get("href"), ""]
        elif tag == "iframe":
            self.out["frames"].append(a.get("src"))
        elif tag == "script":
            self.out["scripts"] += 1
        elif tag == "pre":
            self.out["pre"].append("")
    def handle_endtag(self, tag):
        while self.where and self.where.pop() != tag:
            pass
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.out["rows"].append(self.row)
            self.row = None
        elif tag == "a" and self.link:
            self.out["links"].append(self.link)
            self.link = None
    def handle_data(self, data):
        if "title" in self.where:
            self.out["title"] += data
        if "script" in self.where or "style" in self.where:
            return
        if self.cell is not None:
            self.cell += data
        if self.link is not None:
            self.link[1] += data
        if "pre" in self.where:
            self.out["pre"][-1] += data

pages = {}
for path in sys.argv[1:]:
    r = Reader()
    r.feed(open(path, encoding="utf-8-sig").read())
    pages[path] = r.out
json.dump(pages, sys.stdout)
`

// readPage is what pageReader found in a page.
type readPage struct {
	Title    string
	Rows     [][]string
	Links    [][2]string
	Frames   []string
	Scripts  int
	Pre      []string
	Selected []string
}

// readBack reads the page at path with Python's HTML parser.
func readBack(t *testing.T, path string) readPage {
	t.Helper()
	return readBackAll(t, path)[path]
}

// readBackAll reads the pages at paths with Python's HTML parser, at once.
func readBackAll(t *testing.T, paths ...string) map[string]readPage {
	t.Helper()
	out, err := exec.Command(python3(t), append([]string{"-c", pageReader}, paths...)...).Output()
	if err != nil {
		t.Fatalf("reading %s back: %v", paths, err)
	}
	var pages map[string]readPage
	if err := json.Unmarshal(out, &pages); err != nil {
		t.Fatal(err)
	}
	return pages
}

// headerRows returns the rows a message page must show above the body.
func headerRows(m *Message) [][]string {
	rows := [][]string{{"From", addressList([]*mail.Address{m.From})}, {"To", addressList(m.To)}}
	if len(m.Cc) > 0 {
		rows = append(rows, []string{"Cc", addressList(m.Cc)})
	}
	if len(m.Bcc) > 0 {
		rows = append(rows, []string{"Bcc", addressList(m.Bcc) + " (envelope only: not in the message)"})
	}
	if len(m.ReplyTo) > 0 {
		rows = append(rows, []string{"Reply-To", addressList(m.ReplyTo)})
	}
	rows = append(rows, []string{"Subject", m.Subject})
	unsubscribe := false
	for _, h := range m.Headers {
		rows = append(rows, []string{h.Name, h.Value})
		unsubscribe = unsubscribe || h.Name == "List-Unsubscribe"
	}
	if !unsubscribe {
		rows = append(rows, []string{"List-Unsubscribe", "(none)"})
	}
	return rows
}

func TestPreview(t *testing.T) {
	msgs := previewMessages(t)
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 0, msgs)
	logo, err := os.ReadFile("../templates/announcement/logo.png")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "index.html")}
	for _, m := range msgs {
		paths = append(paths, filepath.Join(dir, previewName(m)+".html"))
	}
	pages := readBackAll(t, paths...)
	index := pages[paths[0]]
	if len(index.Rows) != len(msgs)+1 {
		t.Fatalf("index.html has %d table rows, want a head and %d messages", len(index.Rows), len(msgs))
	}
	if want := []string{"r2"}; fmt.Sprint(index.Selected) != fmt.Sprint(want) {
		t.Errorf("index.html marks %v as selected, want %v", index.Selected, want)
	}
	if index.Scripts != 1 {
		t.Errorf("index.html has %d scripts, want its own one", index.Scripts)
	}
	for i, m := range msgs {
		name := previewName(m)
		w := parseWire(t, mustRead(t, filepath.Join(dir, name+".eml")))
		checkWire(t, w, m)

		// The index lists the message with what it shows.
		var files []string
		for _, a := range m.Attachments {
			files = append(files, a.Filename)
		}
		want := []string{fmt.Sprint(m.Row), addressList(m.To), m.Subject, strings.Join(files, ", "), ".eml"}
		if len(m.To) == 0 {
			want[1] = strings.Join(m.Recipients(), ", ")
		}
		if got := index.Rows[i+1]; fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("index row %d:\n got %q\nwant %q", i+1, got, want)
		}

		// The message page shows the headers, the attachments and the parts.
		page := pages[filepath.Join(dir, name+".html")]
		if got, want := page.Rows, headerRows(m); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("%s.html headers:\n got %q\nwant %q", name, got, want)
		}
		if page.Scripts != 0 {
			t.Errorf("%s.html has %d scripts", name, page.Scripts)
		}
		if m.Text != "" && (len(page.Pre) != 1 || page.Pre[0] != m.Text) {
			t.Errorf("%s.html text part %q, want %q", name, page.Pre, m.Text)
		}
		for _, a := range m.Attachments {
			found := false
			for _, l := range page.Links {
				if l[1] != a.Filename {
					continue
				}
				found = true
				// The link leads to the file, whatever its name.
				path, err := urlPath(l[0])
				if err != nil {
					t.Fatal(err)
				}
				if got := mustRead(t, filepath.Join(dir, path)); !bytes.Equal(got, a.Content) {
					t.Errorf("%s.html: %s links to %s, which is not the attachment", name, a.Filename, l[0])
				}
			}
			if !found {
				t.Errorf("%s.html has no link to %s: %q", name, a.Filename, page.Links)
			}
		}
		if m.HTML == "" {
			if len(page.Frames) != 0 {
				t.Errorf("%s.html of a text message has frames %q", name, page.Frames)
			}
			continue
		}
		if len(page.Frames) != 1 || page.Frames[0] != name+".body.html" {
			t.Fatalf("%s.html frames %q, want the body", name, page.Frames)
		}
		body := mustRead(t, filepath.Join(dir, name+".body.html"))
		if !bytes.HasPrefix(body, []byte("\uFEFF")) {
			t.Errorf("%s.body.html does not start with a byte order mark", name)
		}
		if bytes.Contains(body, []byte("cid:")) {
			t.Errorf("%s.body.html still has cid: URLs", name)
		}
		srcs := regexp.MustCompile(`src="(images/[0-9a-f]{32}\.png)"`).FindAllSubmatch(body, -1)
		distinct := map[string]bool{}
		for _, s := range srcs {
			distinct[string(s[1])] = true
		}
		if len(distinct) != len(m.Inline) {
			t.Fatalf("%s.body.html links %d images, want %d", name, len(distinct), len(m.Inline))
		}
		if i < len(sampleRows) && !bytes.Equal(mustRead(t, filepath.Join(dir, string(srcs[0][1]))), logo) {
			t.Errorf("%s is not the logo", srcs[0][1])
		}
	}
	images, _ := os.ReadDir(filepath.Join(dir, "images"))
	if len(images) != 2 { // the logo once; the full template's badge
		t.Errorf("%d files in images/, want 2", len(images))
	}
	if _, err := os.Stat(filepath.Join(dir, "search.js")); err == nil {
		t.Errorf("search.js written for a one-page index")
	}
	for _, leftover := range []string{previewSpool} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
			t.Errorf("%s left behind", leftover)
		}
	}
}

// urlPath returns the file path a relative URL of a preview page names.
func urlPath(ref string) (string, error) {
	u, err := url.PathUnescape(ref)
	if err != nil {
		return "", err
	}
	return filepath.FromSlash(u), nil
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPreviewEscapes checks the raw bytes of every page for the hostile
// row's markup: html/template must have escaped all of it.
func TestPreviewEscapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 3, previewMessages(t))
	pages, _ := filepath.Glob(filepath.Join(dir, "*.html"))
	pages = append(pages, filepath.Join(dir, "search.js"))
	for _, p := range pages {
		b := mustRead(t, p)
		for _, bad := range []string{"<script>window", "<img src=x", "<svg", "onload=\"", "onerror=\""} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s holds %q unescaped", filepath.Base(p), bad)
			}
		}
	}
}

func TestPreviewPages(t *testing.T) {
	msgs := previewMessages(t) // 9 messages, rows 2 to 10
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 4, msgs)
	tests := []struct {
		file    string
		rows    string // the rows listed
		nav     string // the page links
		heading string
	}{
		{"index.html", "2 3 4 5", "1 2 3 next ›", "9 messages; page 1 of 3, rows 2 to 5"},
		{"index-2.html", "6 7 8 9", "‹ previous 1 2 3 next ›", "9 messages; page 2 of 3, rows 6 to 9"},
		{"index-3.html", "10", "‹ previous 1 2 3", "9 messages; page 3 of 3, rows 10 to 10"},
	}
	for _, tt := range tests {
		page := readBack(t, filepath.Join(dir, tt.file))
		var rows []string
		for _, r := range page.Rows[1:] {
			rows = append(rows, r[0])
		}
		if got := strings.Join(rows, " "); got != tt.rows {
			t.Errorf("%s lists rows %q, want %q", tt.file, got, tt.rows)
		}
		var nav []string
		for _, l := range page.Links {
			if strings.HasPrefix(l[0], "index") && !strings.Contains(l[1], "page ›") {
				nav = append(nav, l[1])
			}
		}
		// The current page is no link.
		current := strings.TrimPrefix(strings.TrimSuffix(tt.file, ".html"), "index-")
		if current == "index" {
			current = "1"
		}
		got := strings.Join(nav, " ")
		want := strings.Replace(tt.nav, current+" ", "", 1)
		if strings.HasSuffix(want, " "+current) {
			want = strings.TrimSuffix(want, " "+current)
		}
		if got != want {
			t.Errorf("%s page links %q, want %q", tt.file, got, want)
		}
		b := mustRead(t, filepath.Join(dir, tt.file))
		if !bytes.Contains(b, []byte(tt.heading)) {
			t.Errorf("%s lacks %q", tt.file, tt.heading)
		}
		if want := []string{"r" + rows[0]}; fmt.Sprint(page.Selected) != fmt.Sprint(want) {
			t.Errorf("%s marks %v selected, want %v", tt.file, page.Selected, want)
		}
	}
	// search.js lists every message with its page, as JSON inside one call.
	js := string(mustRead(t, filepath.Join(dir, "search.js")))
	inner, ok := strings.CutPrefix(js, "mailshotSearch(")
	inner, ok2 := strings.CutSuffix(inner, ");\n")
	if !ok || !ok2 {
		t.Fatalf("search.js is not one mailshotSearch call:\n%s", js)
	}
	var entries [][4]any
	if err := json.Unmarshal([]byte(inner), &entries); err != nil {
		t.Fatalf("search.js: %v\n%s", err, js)
	}
	if len(entries) != len(msgs) {
		t.Fatalf("search.js lists %d messages, want %d", len(entries), len(msgs))
	}
	for i, e := range entries {
		m := msgs[i]
		want := [4]any{float64(m.Row), addressList(m.To), m.Subject, float64(i/4 + 1)}
		if m.To == nil {
			want[1] = strings.Join(m.Recipients(), ", ")
		}
		if fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("search.js entry %d = %v, want %v", i, e, want)
		}
	}
}

func TestPreviewNav(t *testing.T) {
	tests := []struct {
		n, pages int
		want     string
	}{
		{1, 1, ""},
		{1, 2, "[1] 2"},
		{5, 20, "1 2 3 4 [5] 6 7 8 … 20"},
		{1, 20, "[1] 2 3 4 … 20"},
		{20, 20, "1 … 17 18 19 [20]"},
		{10, 20, "1 … 7 8 9 [10] 11 12 13 … 20"},
	}
	for _, tt := range tests {
		var parts []string
		for _, l := range pageNav(tt.n, tt.pages) {
			switch {
			case l.Current:
				parts = append(parts, "["+l.Label+"]")
			case l.File == "":
				parts = append(parts, l.Label)
			default:
				if l.File != indexFile(atoiMust(t, l.Label)) {
					t.Errorf("link %s leads to %s", l.Label, l.File)
				}
				parts = append(parts, l.Label)
			}
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("pageNav(%d, %d) = %q, want %q", tt.n, tt.pages, got, tt.want)
		}
	}
}

func atoiMust(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPreviewGolden pins the markup of a message page (the full template:
// Cc, Bcc, Reply-To, other headers, attachments, both parts) and of an
// index page. go test ./merge -run PreviewGolden -update rewrites them.
func TestPreviewGolden(t *testing.T) {
	msgs := previewMessages(t)
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 4, msgs)
	for _, tt := range []struct{ file, golden string }{
		{previewName(msgs[6]) + ".html", "message.html"},
		{previewName(msgs[8]) + ".html", "message-text.html"},
		{"index-2.html", "index-2.html"},
	} {
		got := mustRead(t, filepath.Join(dir, tt.file))
		golden := filepath.Join("testdata", "preview", tt.golden)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s; run go test ./merge -run PreviewGolden -update and review the diff", tt.file, golden)
		}
	}
}

func TestPreviewEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	p, err := NewPreview(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	index := mustRead(t, filepath.Join(dir, "index.html"))
	if !bytes.Contains(index, []byte("<p>0 messages</p>")) || bytes.Contains(index, []byte("<iframe")) {
		t.Errorf("index.html of an empty preview:\n%s", index)
	}
	if err := p.Add(&Message{Row: 2, To: []*mail.Address{{Address: "a@example.com"}}}, nil); err == nil {
		t.Errorf("Add after Close succeeded")
	}
}

func TestPreviewName(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Row: 2, To: []*mail.Address{{Address: "Alice@Example.com"}}}, "0002-alice_example.com"},
		{Message{Row: 123456, To: []*mail.Address{{Address: `"a/b\c..d"@x.test`}}}, "123456-_a_b_c..d__x.test"},
		{Message{Row: 3, Cc: []*mail.Address{{Address: "c@example.com"}}}, "0003-c_example.com"},
		{Message{Row: 4}, "0004-no-recipient"},
		{Message{Row: 5, To: []*mail.Address{{Address: strings.Repeat("x", 200) + "@example.com"}}}, "0005-" + strings.Repeat("x", 80)},
	}
	for _, tt := range tests {
		if got := previewName(&tt.m); got != tt.want {
			t.Errorf("previewName(%v) = %q, want %q", tt.m.To, got, tt.want)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"agenda.pdf", "agenda.pdf"},
		{"Zertifikat Zoë.pdf", "Zertifikat Zoë.pdf"},
		{"../../etc/passwd", "_.._etc_passwd"},
		{`..\..\boot.ini`, "_.._boot.ini"},
		{".hidden", "hidden"},
		{"", "attachment"},
		{"...", "attachment"},
		{"a\x00b\nc\u202e.pdf", "a_b_c\u202e.pdf"},
		{"C:report.pdf", "C_report.pdf"},
		{strings.Repeat("é", 100), strings.Repeat("é", 60)},
		{strings.Repeat("0", 120) + "\xe8", strings.Repeat("0", 120)},
		{strings.Repeat("0", 119) + "\x01\x02", strings.Repeat("0", 119) + "_"},
	}
	for _, tt := range tests {
		if got := safeFileName(tt.in); got != tt.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSizeText(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 bytes"}, {999, "999 bytes"}, {1000, "1 kB"}, {25_400, "25 kB"}, {999_499, "999 kB"}, {1_250_000, "1.2 MB"}} {
		if got := sizeText(tt.n); got != tt.want {
			t.Errorf("sizeText(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// FuzzSafeFileName checks that an attachment's name, whatever it is,
// becomes one local file name of valid UTF-8 and at most 120 bytes.
func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{"agenda.pdf", "Zertifikat Zoë.pdf", "../../etc/passwd", `..\x`, "", "...", "a\x00b", "C:x", "\xff\xfe", strings.Repeat("é", 100), strings.Repeat("0", 120) + "\xe8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := safeFileName(name)
		if got == "" || len(got) > 120 || !utf8.ValidString(got) || !filepath.IsLocal(got) ||
			filepath.Base(got) != got || strings.HasPrefix(got, ".") || strings.ContainsAny(got, "/\\:\x00") {
			t.Errorf("safeFileName(%q) = %q", name, got)
		}
	})
}

// FuzzPreviewMarker gives a preview a directory whose marker lists
// anything at all: the preview never removes a file outside it.
func FuzzPreviewMarker(f *testing.F) {
	for _, s := range []string{"index.html\n", "../outside.txt\n", "images/\n../\n", "/etc/passwd\n", "link/outside.txt\n", ".\n..\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside.txt")
		os.WriteFile(outside, []byte("keep"), 0o600)
		dir := filepath.Join(base, "out")
		os.Mkdir(dir, 0o700)
		os.Symlink(base, filepath.Join(dir, "link"))
		os.WriteFile(filepath.Join(dir, previewMarker), []byte(previewMarkerHead+list), 0o600)
		if p, err := NewPreview(dir); err == nil {
			p.Close()
		}
		if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
			t.Errorf("marker %q: the file outside is gone or changed (%q, %v)", list, b, err)
		}
	})
}
