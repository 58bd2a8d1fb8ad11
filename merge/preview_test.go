package merge

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sampleRows are rows like samples/recipients.csv's, among them names with
// non-ASCII letters, quotes, angle brackets and an emoji.
var sampleRows = [][]string{
	{"ada.lovelace@example.com", "Ada Lovelace", "Ada", "London", "1001", "2026-05-04"},
	{"zoe.mueller@example.org", "Zoë Müller", "Zoë", "Zürich", "1002", "2026-05-04"},
	{"tom@example.com", `Tom "T-Bone" <Tommy> & Co`, "Tom", "Austin", "1006", "2026-05-06"},
	{"ines.ribeiro@example.org", "Inês Ribeiro", "Inês", "Lisbon 🌊", "1007", "2026-05-07"},
	{"wang.xiaoming@example.org", "王小明", "小明", "北京", "1005", "2026-05-06"},
}

// writeSamplePreview renders sampleRows with the announcement template, plus
// one text-only message, into a preview in a new directory.
func writeSamplePreview(t *testing.T) (dir string, msgs []*Message) {
	t.Helper()
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "out")
	p, err := NewPreview(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := testComposer()
	add := func(m *Message) {
		var b bytes.Buffer
		if err := c.Compose(&b, m); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(m, b.Bytes()); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for i, row := range sampleRows {
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: i + 2, Columns: NewColumns(sampleColumns), Values: row})
		if err != nil {
			t.Fatal(err)
		}
		add(m)
	}
	add(&Message{
		Row:     len(sampleRows) + 2,
		From:    &mail.Address{Address: "events@example.org"},
		Bcc:     []*mail.Address{{Address: "Hidden.Person@Example.NET"}},
		Subject: "Plain <text> & more",
		Text:    "Just text, with <angle brackets> & ampersands.\n",
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, msgs
}

func TestPreview(t *testing.T) {
	dir, msgs := writeSamplePreview(t)
	logo, err := os.ReadFile("../templates/announcement/logo.png")
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{
		"0002-ada.lovelace_example.com", "0003-zoe.mueller_example.org", "0004-tom_example.com",
		"0005-ines.ribeiro_example.org", "0006-wang.xiaoming_example.org", "0007-hidden.person_example.net",
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range wantNames {
		m := msgs[i]
		eml, err := os.ReadFile(filepath.Join(dir, name+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		w := parseWire(t, eml)
		checkWire(t, w, m)

		page, err := os.ReadFile(filepath.Join(dir, name+".html"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(page, []byte("\uFEFF")) {
			t.Errorf("%s.html does not start with a byte order mark", name)
		}
		if m.HTML != "" {
			if bytes.Contains(page, []byte("cid:")) {
				t.Errorf("%s.html still has cid: URLs", name)
			}
			srcs := regexp.MustCompile(`src="(images/[0-9a-f]{32}\.png)"`).FindAllSubmatch(page, -1)
			if len(srcs) != 1 {
				t.Fatalf("%s.html has %d image links, want 1", name, len(srcs))
			}
			img, err := os.ReadFile(filepath.Join(dir, string(srcs[0][1])))
			if err != nil || !bytes.Equal(img, logo) {
				t.Errorf("%s is not the logo (%v)", srcs[0][1], err)
			}
		} else if !bytes.Contains(page, []byte("Just text, with &lt;angle brackets&gt; &amp; ampersands.")) {
			t.Errorf("%s.html does not show the escaped text:\n%s", name, page)
		}
		row := fmt.Sprintf(`<tr><td>%d</td>`, m.Row)
		if !bytes.Contains(index, []byte(row)) || !bytes.Contains(index, []byte(`href="`+name+`.html" target="message"`)) || !bytes.Contains(index, []byte(`href="`+name+`.eml"`)) {
			t.Errorf("index.html does not list %s", name)
		}
	}
	images, _ := os.ReadDir(filepath.Join(dir, "images"))
	if len(images) != 1 {
		t.Errorf("%d files in images/, want the logo once", len(images))
	}
	for _, want := range []string{
		`Tom &#34;T-Bone&#34; &lt;Tommy&gt; &amp; Co &lt;tom@example.com&gt;`,
		"Lisbon 🌊: your ticket 1007 for 2026-05-07",
		"Plain &lt;text&gt; &amp; more",
		`<iframe name="message" title="message" sandbox="allow-same-origin" src="0002-ada.lovelace_example.com.html">`,
		"<p>6 messages.</p>",
	} {
		if !bytes.Contains(index, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	if n := bytes.Count(index, []byte("<tr><td>")); n != len(wantNames) {
		t.Errorf("index.html lists %d messages, want %d", n, len(wantNames))
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
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil || !bytes.Contains(index, []byte("<p>0 messages.</p>")) || bytes.Contains(index, []byte("<iframe")) {
		t.Errorf("index.html of an empty preview: %s (%v)", index, err)
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

// chromium is Debian's Chromium, which TestPreviewInChromium drives.
const chromium = "/usr/bin/chromium"

// checkPage is a page the test writes beside index.html. It opens
// index.html in a frame, clicks through every message link, and for each
// message page checks that it loaded and that every image decoded; then it
// puts the outcome in its title, which --dump-dom prints.
const checkPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>running</title></head>
<body>
<iframe id="index" src="index.html" style="width:1200px;height:800px"></iframe>
<script>
function fail(why) { document.title = "FAIL " + why; }
function wait(cond, then, what) {
  var tries = 0;
  (function poll() {
    var ok = false;
    try { ok = cond(); } catch (e) { return fail(what + ": " + e); }
    if (ok) return then();
    if (++tries > 200) return fail("timeout: " + what);
    setTimeout(poll, 25);
  })();
}
var index = document.getElementById("index");
index.onload = function () {
  var doc = index.contentDocument;
  var links = doc.querySelectorAll('a[target="message"]');
  var frame = doc.querySelector('iframe[name="message"]');
  if (!frame) return fail("no message frame");
  var pages = 0, images = 0, i = 0;
  function next() {
    if (i === links.length) {
      document.title = "OK pages=" + pages + " images=" + images;
      return;
    }
    var link = links[i++];
    var want = link.href;
    link.click();
    wait(function () {
      var d = frame.contentDocument;
      return d && d.URL === want && d.readyState === "complete";
    }, function () {
      var d = frame.contentDocument, imgs = d.images;
      for (var k = 0; k < imgs.length; k++) {
        if (!imgs[k].complete || imgs[k].naturalWidth === 0) {
          return fail("image " + imgs[k].getAttribute("src") + " in " + want + " did not render");
        }
      }
      if (!d.body || d.body.textContent.trim() === "") return fail("empty page " + want);
      pages++;
      images += imgs.length;
      next();
    }, "loading " + want);
  }
  next();
};
</script>
</body></html>
`

// TestPreviewInChromium opens a preview in headless Chromium, straight from
// disk, and checks that index.html shows every message with its images.
func TestPreviewInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatalf("MAILSHOT_HARNESS=1 but %s is missing: apt-get install chromium", chromium)
		}
		t.Skipf("%s is missing; apt-get install chromium to run this test", chromium)
	}
	dir, msgs := writeSamplePreview(t)
	images := 0
	for _, m := range msgs {
		if m.HTML != "" {
			images++ // the announcement shows the logo once
		}
	}
	check := filepath.Join(dir, "check.html")
	if err := os.WriteFile(check, []byte(checkPage), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		// Lets check.html look into the frames of index.html, which a
		// browser otherwise keeps apart as file:// pages. index.html
		// itself needs nothing of the kind.
		"--allow-file-access-from-files",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=20000", "--dump-dom",
		"file://"+check)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	title := regexp.MustCompile(`<title>(.*?)</title>`).FindSubmatch(out)
	want := fmt.Sprintf("OK pages=%d images=%d", len(msgs), images)
	if title == nil || string(title[1]) != want {
		t.Errorf("check page says %q, want %q\nDOM:\n%.2000s\nstderr:\n%.2000s", title, want, out, stderr.String())
	}
}
