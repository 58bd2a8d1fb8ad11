package merge

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// chromium is Debian's Chromium, which the browser tests drive.
const chromium = "/usr/bin/chromium"

// needChromium skips the test when Chromium is missing, unless
// MAILSHOT_HARNESS=1 asks for every test to run.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatalf("MAILSHOT_HARNESS=1 but %s is missing: apt-get install chromium", chromium)
		}
		t.Skipf("%s is missing; apt-get install chromium to run this test", chromium)
	}
}

// runChromium runs headless Chromium with args and returns what it printed.
func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%.3000s", err, stderr.String())
	}
	return out
}

// checkPage is a page the test writes beside the index. It opens
// index.html in a frame and, page by page of the index, clicks every
// message: it checks that the row is then the one marked, that the message
// page shows the headers, that every image of the HTML part decoded, and
// that the switch shows the text part. Then it searches for a message on
// another page and follows the link found. No script of the data's may
// have run (window.pwned). It puts the outcome in its title, which
// --dump-dom prints.
const checkPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>running</title></head>
<body>
<iframe id="index" src="index.html" style="width:1200px;height:800px"></iframe>
<script>
var done = false;
function fail(why) { if (!done) { done = true; document.title = "FAIL " + why; } }
function wait(cond, then, what) {
  var tries = 0;
  (function poll() {
    if (done) return;
    var ok = false;
    try { ok = cond(); } catch (e) { return fail(what + ": " + e); }
    if (ok) return then();
    if (++tries > 400) return fail("timeout: " + what);
    setTimeout(poll, 25);
  })();
}
function shown(el) { return el && el.ownerDocument.defaultView.getComputedStyle(el).display !== "none"; }
var index = document.getElementById("index");
var messages = 0, images = 0, switched = 0, attachments = 0, pages = 0;
var headers = ["From", "To", "Subject", "List-Unsubscribe"];

function checkIndexPage() {
  var doc = index.contentDocument;
  pages++;
  var frame = doc.querySelector("iframe[name=message]");
  var links = doc.querySelectorAll("a.open");
  if (!frame || links.length === 0) return fail("no message frame or links on " + doc.URL);
  var i = 0;
  function next() {
    if (i === links.length) {
      var more = doc.querySelector("a[rel=next]");
      if (!more) return search();
      var url = more.href;
      more.click();
      return wait(function () { return index.contentDocument.URL === url && index.contentDocument.readyState === "complete"; }, checkIndexPage, "next page " + url);
    }
    var link = links[i++], want = link.href, row = link.closest("tr");
    link.click();
    wait(function () {
      var d = frame.contentDocument;
      return d && d.URL === want && d.readyState === "complete";
    }, function () {
      var marked = doc.querySelectorAll("tr.selected");
      if (marked.length !== 1 || marked[0] !== row) return fail("row " + row.id + " clicked, " + marked.length + " marked");
      var d = frame.contentDocument;
      var ths = Array.prototype.map.call(d.querySelectorAll(".head th"), function (th) { return th.textContent; });
      for (var h = 0; h < headers.length; h++) {
        if (ths.indexOf(headers[h]) < 0) return fail(want + " shows no " + headers[h] + " (" + ths + ")");
      }
      attachments += d.querySelectorAll(".files a").length;
      var body = d.getElementById("html"), text = d.getElementById("text");
      function afterBody() {
        if (body && text) {
          if (!shown(body) || shown(text)) return fail(want + ": HTML part not shown first");
          d.querySelector("label[for=show-text]").click();
          if (shown(body) || !shown(text)) return fail(want + ": the switch does not show the text");
          switched++;
        } else if (text && !shown(text)) {
          return fail(want + ": text part hidden");
        }
        messages++;
        next();
      }
      if (!body) return afterBody();
      wait(function () {
        var b = body.contentDocument;
        return b && b.readyState === "complete" && b.URL.indexOf(".body.html") > 0;
      }, function () {
        var imgs = body.contentDocument.images;
        for (var k = 0; k < imgs.length; k++) {
          if (!imgs[k].complete || imgs[k].naturalWidth === 0) {
            return fail("image " + imgs[k].getAttribute("src") + " in " + want + " did not render");
          }
        }
        if (body.contentDocument.body.textContent.trim() === "") return fail("empty body " + want);
        images += imgs.length;
        afterBody();
      }, "body of " + want);
    }, "loading " + want);
  }
  next();
}

// search finds SEARCH from the last page, follows the link found, and
// checks that the row it leads to is marked and shown.
function search() {
  var doc = index.contentDocument;
  var box = doc.getElementById("search");
  box.value = SEARCH;
  box.dispatchEvent(new Event("input"));
  wait(function () { return doc.querySelectorAll("#found a").length > 0; }, function () {
    var found = doc.querySelectorAll("#found a");
    if (found.length !== 1) return fail(found.length + " found for " + SEARCH);
    var url = found[0].href;
    found[0].click();
    wait(function () {
      var d = index.contentDocument, sel = d.querySelector("tr.selected"), f = d.querySelector("iframe[name=message]");
      return d.URL === url && d.readyState === "complete" && sel && "#" + sel.id === FOUND_ROW &&
        f.contentDocument && f.contentDocument.URL === sel.querySelector("a.open").href;
    }, finish, "following " + url);
  }, "search for " + SEARCH);
}

function finish() {
  if (window.pwned) return fail("a script from the data ran");
  done = true;
  document.title = "OK pages=" + pages + " messages=" + messages + " images=" + images +
    " switched=" + switched + " attachments=" + attachments;
}
index.onload = function () { index.onload = null; checkIndexPage(); };
</script>
</body></html>
`

// TestPreviewInChromium opens a preview of three index pages in headless
// Chromium, straight from disk, and clicks through it as a person would.
func TestPreviewInChromium(t *testing.T) {
	needChromium(t)
	msgs := previewMessages(t)
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 4, msgs)
	images, switched, attachments := 0, 0, 0
	for _, m := range msgs {
		seen := map[string]bool{}
		if m.HTML != "" {
			for _, part := range m.Inline {
				// Each use of an image counts once per <img>.
				n := bytes.Count([]byte(m.HTML), []byte("cid:"+part.ContentID))
				if !seen[part.ContentID] {
					images += n
					seen[part.ContentID] = true
				}
			}
			if m.Text != "" {
				switched++
			}
		}
		attachments += len(m.Attachments)
	}
	last := msgs[len(msgs)-1] // on the last page
	page := bytes.Replace([]byte(checkPage), []byte("SEARCH"), []byte(`"hidden.person"`), -1)
	page = bytes.Replace(page, []byte("FOUND_ROW"), []byte(fmt.Sprintf(`"#r%d"`, last.Row)), 1)
	// Search from page 1, where the last message is not: open the
	// index's first page again at the end of the clicks.
	page = bytes.Replace(page, []byte("if (!more) return search();"),
		[]byte(`if (!more) { var first = new URL("index.html", doc.URL).href; index.contentDocument.location = first; return wait(function () { return index.contentDocument.URL === first && index.contentDocument.readyState === "complete"; }, search, "back to page 1"); }`), 1)
	check := filepath.Join(dir, "check.html")
	if err := os.WriteFile(check, page, 0o600); err != nil {
		t.Fatal(err)
	}
	out := runChromium(t,
		// Lets check.html look into the frames of index.html, which a
		// browser otherwise keeps apart as file:// pages. index.html
		// itself needs nothing of the kind.
		"--allow-file-access-from-files",
		"--virtual-time-budget=60000", "--dump-dom", "file://"+check)
	title := regexp.MustCompile(`<title>(.*?)</title>`).FindSubmatch(out)
	t.Logf("check page: %s", title)
	want := fmt.Sprintf("OK pages=3 messages=%d images=%d switched=%d attachments=%d", len(msgs), images, switched, attachments)
	if title == nil || string(title[1]) != want {
		t.Errorf("check page says %q, want %q\nDOM:\n%.3000s", title, want, out)
	}
}

// TestPreviewIndexDOM loads index.html alone, as a person opens it, and
// reads the DOM Chromium built from it: every row listed, the first
// marked, the hostile row's text shown as text, no script of the data's.
func TestPreviewIndexDOM(t *testing.T) {
	needChromium(t)
	msgs := previewMessages(t)
	dir := filepath.Join(t.TempDir(), "out")
	writePreview(t, dir, 0, msgs)
	out := runChromium(t, "--virtual-time-budget=5000", "--dump-dom", "file://"+filepath.Join(dir, "index.html"))
	rows := regexp.MustCompile(`<tr id="r(\d+)"`).FindAllSubmatch(out, -1)
	if len(rows) != len(msgs) {
		t.Errorf("the DOM has %d message rows, want %d", len(rows), len(msgs))
	}
	for _, want := range []string{
		`<tr id="r2" class="selected" aria-current="true">`,
		`&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;window.top.pwned=1`,
		`<title>mailshot preview</title>`,
		`<iframe name="message" title="message" sandbox="allow-same-origin" src="0002-ada.lovelace_example.com.html">`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the DOM lacks %s", want)
		}
	}
	if n := bytes.Count(out, []byte("<script")); n != 1 {
		t.Errorf("the DOM has %d scripts, want the index's own", n)
	}
	if bytes.Contains(out, []byte("<svg")) || bytes.Contains(out, []byte("<img")) {
		t.Errorf("markup from the data became elements:\n%.3000s", out)
	}
}
