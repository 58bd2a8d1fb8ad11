package merge

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// spamAssassinAccepted are the SpamAssassin rules a message mailshot builds
// may hit, each with why it says nothing against how the message is built.
// Any other rule fails TestSpamAssassin: a rule about the MIME structure or
// the headers (MIME_HTML_ONLY, HTML_MIME_NO_HTML_TAG, MISSING_SUBJECT,
// MISSING_MID, ...) is mailshot's fault, and one about the content
// (HTML_IMAGE_ONLY_*, ...) is the starter kit's, which must be an example
// of good practice.
var spamAssassinAccepted = map[string]string{
	"NO_RECEIVED":  "informational, 0 points: the message is scored before any relay adds a Received field",
	"NO_RELAYS":    "informational, 0 points: likewise, it has not been relayed yet",
	"HTML_MESSAGE": "informational, 0 points: the message has an HTML part, as the template asks",
}

// spamAssassin returns the path of Debian's spamassassin, or skips the
// test unless MAILSHOT_HARNESS=1 says it must run.
func spamAssassin(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("spamassassin")
	if err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatal("MAILSHOT_HARNESS=1 but spamassassin is not installed: apt-get install spamassassin")
		}
		t.Skip("spamassassin is not installed")
	}
	return path
}

// spamAssassinTests are the names of the rules in an X-Spam-Status field.
var spamAssassinTests = regexp.MustCompile(`tests=([A-Z0-9_,\s]*)`)

// spamAssassinRules scores msg with spamassassin's local rules only (no
// network, no Bayes from this machine's home) and returns the rules it hit,
// parsed from the X-Spam-Status field of the message it returns.
func spamAssassinRules(t *testing.T, sa string, msg []byte) []string {
	t.Helper()
	// A guard against a hang, not a measure of speed.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sa, "-L", "-t", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0")
	cmd.Stdin = bytes.NewReader(msg)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamassassin -L -t: %v\n%s", err, stderr.Bytes())
	}
	scored, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("spamassassin's output does not parse: %v", err)
	}
	status := scored.Header.Get("X-Spam-Status")
	match := spamAssassinTests.FindStringSubmatch(status)
	if match == nil {
		t.Fatalf("X-Spam-Status %q names no tests", status)
	}
	var rules []string
	for r := range strings.SplitSeq(match[1], ",") {
		if r = strings.TrimSpace(r); r != "" {
			rules = append(rules, r)
		}
	}
	return rules
}

// TestSpamAssassin scores messages of the starter kit (the sample template,
// which mailshot init writes too, for every sample row) and of an
// HTML-only template with SpamAssassin's local rules: no rule may hit but
// those of spamAssassinAccepted.
func TestSpamAssassin(t *testing.T) {
	sa := spamAssassin(t)
	type message struct {
		name string
		msg  *Message
	}
	var msgs []message
	r, err := OpenData(filepath.Join("..", "samples", "recipients.csv"), DataOptions{Name: "recipients.csv"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ann, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range readRecords(t, r, "recipients.csv") {
		m, err := ann.Render(&Record{File: "recipients.csv", Row: row.Row, Columns: r.Columns(), Values: row.Values})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, message{"announcement/" + row.Values[0], m})
	}
	msgs = append(msgs, message{"htmlonly", render(t, "testdata/templates/htmlonly", TemplateOptions{}, []string{"email", "name"}, "ada@example.com", "Ada")})

	for _, tt := range msgs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			// The real clock: a fixed date would be scored as one in the
			// past or the future.
			if err := (&Composer{}).Compose(&b, tt.msg); err != nil {
				t.Fatal(err)
			}
			rules := spamAssassinRules(t, sa, b.Bytes())
			for _, rule := range rules {
				if _, ok := spamAssassinAccepted[rule]; !ok {
					t.Errorf("SpamAssassin rule %s hit (all: %s)", rule, strings.Join(rules, ", "))
				}
			}
			if !slices.Contains(rules, "HTML_MESSAGE") {
				t.Errorf("rules %v lack HTML_MESSAGE: was the message scored at all?", rules)
			}
		})
	}
}
