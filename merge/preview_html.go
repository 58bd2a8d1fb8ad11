package merge

import (
	"html/template"
	"strconv"
)

// The pages a preview writes, every one through html/template, so that no
// value from the data can become markup or script: index pages (the list
// of messages, beside a frame that shows the one selected) and a page per
// message (its headers, attachments, and its HTML or text part). The
// message's own HTML body is the one thing written as it is: it is the
// email, shown in a sandboxed frame that runs no script.

// indexRow is one message as the index lists it; it is also what the
// preview spools to disk until Close writes the index pages.
type indexRow struct {
	Row     int      `json:"r"`
	Name    string   `json:"n"` // base name of the message's files
	To      string   `json:"t"`
	Subject string   `json:"s"`
	Files   []string `json:"f,omitempty"` // attachment names
}

// indexPage is one page of the index.
type indexPage struct {
	Page, Pages int
	Total       int // messages on every page
	Prev, Next  string
	Nav         []navLink
	Rows        []indexRow
	First       string // the page of the message shown first; "" when none
	FirstRow    int
	LastRow     int
}

// navLink is an entry of an index page's page links; File is "" for a gap.
type navLink struct {
	Label   string
	File    string
	Current bool
}

// messagePage is what a message's page shows.
type messagePage struct {
	Row                         int
	From, To, Cc, Bcc, ReplyTo  string
	Subject                     string
	Headers                     []HeaderField
	Attachments                 []fileLink
	Eml                         string // the .eml file
	Body                        string // the HTML body's page; "" when none
	Text                        string
	HasUnsubscribe, HasTextPart bool
}

// fileLink is an attachment as a message page links it.
type fileLink struct {
	Name, Href, Size string
}

// indexFile returns the file name of index page n (from 1).
func indexFile(n int) string {
	if n == 1 {
		return "index.html"
	}
	return "index-" + strconv.Itoa(n) + ".html"
}

// pageNav returns the page links of page n of pages: the first and last,
// and those near n.
func pageNav(n, pages int) []navLink {
	if pages <= 1 {
		return nil
	}
	var out []navLink
	gap := false
	for i := 1; i <= pages; i++ {
		if i == 1 || i == pages || i >= n-3 && i <= n+3 {
			out = append(out, navLink{Label: strconv.Itoa(i), File: indexFile(i), Current: i == n})
			gap = false
		} else if !gap {
			out = append(out, navLink{Label: "…"})
			gap = true
		}
	}
	return out
}

// sizeText says how large n bytes are, as a person reads it.
func sizeText(n int) string {
	switch {
	case n < 1000:
		return strconv.Itoa(n) + " bytes"
	case n < 1000*1000:
		return strconv.Itoa((n+500)/1000) + " kB"
	default:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
}

var previewTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"indexFile": indexFile,
}).Parse(`
{{define "index"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mailshot preview{{if gt .Pages 1}}, page {{.Page}} of {{.Pages}}{{end}}</title>
<style>
body { margin: 0; display: flex; height: 100vh; font: 14px/1.4 system-ui, sans-serif; }
#list { flex: 0 0 45%; overflow: auto; border-right: 1px solid #ccc; }
#list header { padding: 6px 8px; background: #fafafa; border-bottom: 1px solid #ddd; }
#list header p { margin: 0 0 4px; color: #444; }
nav a, nav span { display: inline-block; min-width: 1.6em; padding: 0 3px; text-align: center; }
nav .current { font-weight: bold; background: #e8e8e8; border-radius: 3px; }
#search { width: 100%; box-sizing: border-box; margin-top: 4px; padding: 4px 6px; font: inherit; }
#found a { display: block; padding: 1px 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#found p { margin: 4px 0 0; color: #555; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { position: sticky; top: 0; background: #f6f6f6; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f4f8ff; }
tr.selected, tr.selected:hover { background: #fff1bf; box-shadow: inset 4px 0 #e0a000; }
td.files { color: #555; font-size: 90%; }
iframe { flex: 1; order: 1; border: 0; height: 100vh; }
</style>
</head>
<body data-page="{{.Page}}" data-pages="{{.Pages}}">
{{with .First}}<iframe name="message" title="message" sandbox="allow-same-origin" src="{{.}}"></iframe>
{{end}}<div id="list">
<header>
<p>{{.Total}} message{{if ne .Total 1}}s{{end}}{{if gt .Pages 1}}; page {{.Page}} of {{.Pages}}, rows {{.FirstRow}} to {{.LastRow}}{{end}}</p>
{{if .Nav}}<nav>{{if .Prev}}<a href="{{.Prev}}" rel="prev">‹ previous</a>{{end}}
{{range .Nav}}{{if .Current}}<span class="current" aria-current="page">{{.Label}}</span>{{else if .File}}<a href="{{.File}}">{{.Label}}</a>{{else}}<span>{{.Label}}</span>{{end}}
{{end}}{{if .Next}}<a href="{{.Next}}" rel="next">next ›</a>{{end}}</nav>
{{end}}<input id="search" type="search" placeholder="Find: row, address or subject{{if gt .Pages 1}} on every page{{end}}" aria-label="find a message">
<div id="found"></div>
</header>
<table>
<thead><tr><th>Row</th><th>To</th><th>Subject</th><th>Files</th><th>Message</th></tr></thead>
<tbody>
{{range $i, $r := .Rows}}<tr id="r{{.Row}}"{{if eq $i 0}} class="selected" aria-current="true"{{end}}><td>{{.Row}}</td><td>{{.To}}</td><td><a class="open" href="{{.Name}}.html" target="message">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td><td class="files">{{range $j, $f := .Files}}{{if $j}}, {{end}}{{$f}}{{end}}</td><td><a href="{{.Name}}.eml">.eml</a></td></tr>
{{end}}</tbody>
</table>
{{if .Next}}<p><a href="{{.Next}}" rel="next">next page ›</a></p>{{end}}
</div>
<script>
(function () {
  "use strict";
  var body = document.body;
  var page = Number(body.getAttribute("data-page"));
  var pages = Number(body.getAttribute("data-pages"));
  var frame = document.querySelector("iframe[name=message]");
  var tbody = document.querySelector("#list tbody");
  var selected = tbody.querySelector("tr.selected");

  function select(tr, load) {
    if (!tr) return;
    if (selected) {
      selected.classList.remove("selected");
      selected.removeAttribute("aria-current");
    }
    selected = tr;
    tr.classList.add("selected");
    tr.setAttribute("aria-current", "true");
    if (load && frame) frame.src = tr.querySelector("a.open").href;
    tr.scrollIntoView({block: "nearest"});
  }
  function step(tr, dir) {
    do {
      tr = dir > 0 ? tr.nextElementSibling : tr.previousElementSibling;
    } while (tr && tr.hidden);
    return tr;
  }
  tbody.addEventListener("click", function (e) {
    var tr = e.target.closest("tr");
    if (!tr) return;
    var a = e.target.closest("a");
    if (a && !a.classList.contains("open")) return;
    e.preventDefault();
    select(tr, true);
    history.replaceState(null, "", "#" + tr.id);
  });
  function fromHash() {
    var tr = location.hash.length > 1 ? document.getElementById(location.hash.slice(1)) : null;
    if (tr && tr.parentNode === tbody) select(tr, true);
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || !selected) return;
    var next = null;
    if (e.key === "ArrowDown" || e.key === "j") next = step(selected, 1);
    if (e.key === "ArrowUp" || e.key === "k") next = step(selected, -1);
    if (next) {
      e.preventDefault();
      select(next, true);
    }
  });

  var box = document.getElementById("search");
  var found = document.getElementById("found");
  var all = null, loading = false;
  function run() {
    var q = box.value.trim().toLowerCase();
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      rows[i].hidden = q !== "" && rows[i].textContent.toLowerCase().indexOf(q) < 0;
    }
    found.textContent = "";
    if (q === "" || pages < 2) return;
    if (all === null) {
      if (!loading) {
        loading = true;
        var s = document.createElement("script");
        s.src = "search.js";
        document.head.appendChild(s);
      }
      return;
    }
    var shown = 0, more = 0;
    for (var k = 0; k < all.length; k++) {
      var r = all[k];
      if (r[3] === page || (r[0] + " " + r[1] + " " + r[2]).toLowerCase().indexOf(q) < 0) continue;
      if (shown === 50) {
        more++;
        continue;
      }
      shown++;
      var a = document.createElement("a");
      a.href = (r[3] === 1 ? "index.html" : "index-" + r[3] + ".html") + "#r" + r[0];
      a.textContent = "page " + r[3] + ", row " + r[0] + ": " + r[1] + " \u2014 " + r[2];
      found.appendChild(a);
    }
    var p = document.createElement("p");
    p.textContent = shown === 0 ? "No match on other pages." : more > 0 ? more + " more on other pages; type more to narrow." : "";
    if (p.textContent) found.appendChild(p);
  }
  window.mailshotSearch = function (data) {
    all = data;
    run();
  };
  box.addEventListener("input", run);
})();
</script>
</body>
</html>
{{end}}

{{define "message"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Row {{.Row}}: {{.Subject}}</title>
<style>
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font: 14px/1.4 system-ui, sans-serif; }
.head { padding: 8px 12px; background: #fafafa; border-bottom: 1px solid #ddd; }
.head table { border-collapse: collapse; }
.head th { text-align: right; vertical-align: top; padding: 1px 10px 1px 0; color: #555; font-weight: normal; white-space: nowrap; }
.head td { padding: 1px 0; word-break: break-word; }
.head .subject td { font-weight: bold; }
.head .none { color: #a00; }
.head .note { color: #777; font-size: 90%; }
.head p { margin: 6px 0 0; }
.files a { margin-right: 10px; }
.switch { padding: 6px 12px 0; border-bottom: 1px solid #ddd; }
.switch label { display: inline-block; padding: 3px 12px; border: 1px solid #ccc; border-bottom: 0; border-radius: 4px 4px 0 0; cursor: pointer; background: #f0f0f0; }
input[name=part] { position: absolute; opacity: 0; }
.part { flex: 1; border: 0; margin: 0; overflow: auto; }
pre.part { padding: 12px; white-space: pre-wrap; font: 14px/1.4 ui-monospace, monospace; }
{{if and .Body .HasTextPart}}.part { display: none; }
#show-html:checked ~ #html, #show-text:checked ~ #text { display: block; }
#show-html:checked ~ .switch label[for=show-html], #show-text:checked ~ .switch label[for=show-text] { background: #fff; font-weight: bold; }
#show-html:focus-visible ~ .switch label[for=show-html], #show-text:focus-visible ~ .switch label[for=show-text] { outline: 2px solid #58f; }
{{end}}</style>
</head>
<body>
<div class="head">
<table>
<tr><th>From</th><td>{{.From}}</td></tr>
<tr><th>To</th><td>{{.To}}</td></tr>
{{if .Cc}}<tr><th>Cc</th><td>{{.Cc}}</td></tr>
{{end}}{{if .Bcc}}<tr><th>Bcc</th><td>{{.Bcc}} <span class="note">(envelope only: not in the message)</span></td></tr>
{{end}}{{if .ReplyTo}}<tr><th>Reply-To</th><td>{{.ReplyTo}}</td></tr>
{{end}}<tr class="subject"><th>Subject</th><td>{{if .Subject}}{{.Subject}}{{else}}<span class="none">(no subject)</span>{{end}}</td></tr>
{{range .Headers}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}{{if not .HasUnsubscribe}}<tr><th>List-Unsubscribe</th><td><span class="none">(none)</span></td></tr>
{{end}}</table>
{{if .Attachments}}<p class="files">Attachments: {{range .Attachments}}<a href="{{.Href}}" download="{{.Name}}">{{.Name}}</a> <span class="note">{{.Size}}</span> {{end}}</p>
{{end}}<p class="note">Row {{.Row}} · <a href="{{.Eml}}">{{.Eml}}</a></p>
</div>
{{if and .Body .HasTextPart}}<input type="radio" name="part" id="show-html" checked>
<input type="radio" name="part" id="show-text">
<div class="switch"><label for="show-html">HTML</label> <label for="show-text">Text</label></div>
{{end}}{{if .Body}}<iframe class="part" id="html" title="HTML part" sandbox="allow-same-origin" src="{{.Body}}"></iframe>
{{end}}{{if .HasTextPart}}<pre class="part" id="text">{{.Text}}</pre>
{{end}}</body>
</html>
{{end}}
`))
