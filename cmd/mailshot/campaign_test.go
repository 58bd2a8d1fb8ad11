package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/smtptest"
)

// plainMessage is testdata/plain/message.txt, read before any test changes
// directory.
var plainMessage = func() []byte {
	b, err := os.ReadFile("testdata/plain/message.txt")
	if err != nil {
		panic(err)
	}
	return b
}()

// copyTemplate copies testdata/plain to dir/name and returns its path.
func copyTemplate(t *testing.T, dir, name string) string {
	t.Helper()
	b := plainMessage
	tpl := filepath.Join(dir, name)
	if err := os.MkdirAll(tpl, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tpl, "message.txt", string(b))
	return tpl
}

// The same campaign, run from another directory with other relative
// paths, finds its journal and mails nobody twice; another campaign with
// the same file names elsewhere gets a journal of its own and is sent.
func TestCampaignJournalFoundFromAnyDirectory(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	root, _ := filepath.EvalSymlinks(t.TempDir())
	jan := filepath.Join(root, "jan")
	tplJan := copyTemplate(t, jan, "newsletter")
	peopleCSV(t, jan, 3)
	other := filepath.Join(root, "elsewhere")
	os.MkdirAll(other, 0o755)

	t.Chdir(jan)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "newsletter", "-d", "people.csv", "--smtp", "smtp://"+srv.Addr)
	if status != exitOK {
		t.Fatalf("first send: %d\n%s", status, errOut)
	}
	t.Chdir(other)
	out, errOut, status := runCLI(t, context.Background(), "send", "-t", "../jan/newsletter", "-d", filepath.Join(jan, "people.csv"), "--smtp", "smtp://"+srv.Addr)
	if status != exitOK || !strings.Contains(out, "nothing to send") {
		t.Fatalf("the same campaign from another directory: %d\n%s%s", status, out, errOut)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Fatalf("server has %d messages after the same campaign twice, want 3", n)
	}
	// March: a template directory of the same name, data of the same name.
	mar := filepath.Join(root, "mar")
	copyTemplate(t, mar, "newsletter")
	peopleCSV(t, mar, 3)
	t.Chdir(mar)
	_, errOut, status = runCLI(t, context.Background(), "send", "-t", "newsletter", "-d", "people.csv", "--smtp", "smtp://"+srv.Addr)
	if status != exitOK {
		t.Fatalf("march: %d\n%s", status, errOut)
	}
	if n := len(srv.Messages()); n != 6 {
		t.Errorf("server has %d messages after March, want 6: March was taken for January", n)
	}
	// January's journal named explicitly with March's data: refused, one
	// line saying what differs, then what to do.
	janJournal := regexp.MustCompile(`journal: (\S+)`).FindStringSubmatch(errOut)
	entries, _ := filepath.Glob(filepath.Join(jan, "*.journal.jsonl"))
	if len(entries) != 1 || janJournal == nil {
		t.Fatalf("journals beside January's data: %v", entries)
	}
	_, errOut, status = runCLI(t, context.Background(), "send", "-t", tplJan, "-d", "people.csv", "--journal", entries[0], "--smtp", "smtp://"+srv.Addr)
	if status != exitInvalid || !strings.Contains(errOut, "belongs to another campaign: its data is "+filepath.Join(jan, "people.csv")) ||
		!strings.Contains(errOut, "--other-data") || strings.Count(errOut, "\n") != 2 {
		t.Errorf("January's journal with March's data: %d\n%s", status, errOut)
	}
	// With March's template: refused too, even with --other-data.
	_, errOut, status = runCLI(t, context.Background(), "send", "-t", "newsletter", "-d", "people.csv", "--journal", entries[0], "--other-data", "--smtp", "smtp://"+srv.Addr)
	if status != exitInvalid || !strings.Contains(errOut, "its template is "+tplJan) {
		t.Errorf("January's journal with March's template: %d\n%s", status, errOut)
	}
	if n := len(srv.Messages()); n != 6 {
		t.Errorf("server has %d messages, want 6", n)
	}
}

// A finished campaign whose template changed since says so in one line,
// not a bare "nothing to send".
func TestCampaignTemplateChangedSinceItFinished(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	tpl := copyTemplate(t, dir, "t")
	data := peopleCSV(t, dir, 4)
	send := []string{"send", "-t", tpl, "-d", data, "--smtp", "smtp://" + srv.Addr}
	if _, errOut, status := runCLI(t, context.Background(), send...); status != exitOK {
		t.Fatalf("send: %d\n%s", status, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(tpl, "message.txt"))
	writeFile(t, tpl, "message.txt", string(b)+"\nA line added after the send.\n")
	out, errOut, status := runCLI(t, context.Background(), send...)
	if status != exitOK || !strings.Contains(out, "all 4 recipients already got an earlier version of this template") {
		t.Errorf("after the template changed: %d\n%s%s", status, out, errOut)
	}
	if n := len(srv.Messages()); n != 4 {
		t.Errorf("server has %d messages, want 4", n)
	}
}

// A file that is not a journal, named by --journal, is refused and left
// exactly as it was.
func TestSendRefusesAFileThatIsNotAJournal(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 2)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@example.test\n"
	path := writeFile(t, dir, "id_ed25519.pub", key)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--journal", path, "--smtp", "smtp://"+srv.Addr)
	if status != exitInvalid || !strings.Contains(errOut, "is not a mailshot journal; it was left as it is") {
		t.Errorf("send --journal KEY: %d\n%s", status, errOut)
	}
	if b, _ := os.ReadFile(path); string(b) != key {
		t.Errorf("the key file changed: %q", b)
	}
	if len(srv.Messages()) != 0 {
		t.Error("messages were sent")
	}
	// The data file as the journal: refused before it is opened.
	before, _ := os.ReadFile(data)
	_, errOut, status = runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--journal", data, "--smtp", "smtp://"+srv.Addr)
	if after, _ := os.ReadFile(data); status != exitInvalid || string(after) != string(before) {
		t.Errorf("send --journal DATA: %d\n%s", status, errOut)
	}
}

// report --failed-csv never overwrites a file without --force, and never
// an input of the same command.
func TestFailedCSVNeverClobbers(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 2)
	journal := filepath.Join(dir, "j.jsonl")
	if _, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--journal", journal, "--smtp", "smtp://"+srv.Addr); status != exitIncomplete {
		t.Fatalf("send: %d\n%s", status, errOut)
	}
	journalBytes, _ := os.ReadFile(journal)
	dataBytes, _ := os.ReadFile(data)
	existing := writeFile(t, dir, "notes.csv", "mine\n")
	for _, out := range []string{data, journal, existing, filepath.Join(dir, "..", filepath.Base(dir), "people.csv")} {
		_, errOut, status := runCLI(t, context.Background(), "report", "--journal", journal, "--failed-csv", out)
		if status != exitInvalid {
			t.Errorf("--failed-csv %s: status %d\n%s", out, status, errOut)
		}
	}
	if b, _ := os.ReadFile(journal); string(b) != string(journalBytes) {
		t.Error("the journal changed")
	}
	if b, _ := os.ReadFile(data); string(b) != string(dataBytes) {
		t.Error("the data changed")
	}
	if b, _ := os.ReadFile(existing); string(b) != "mine\n" {
		t.Error("an existing file was overwritten without --force")
	}
	if _, errOut, status := runCLI(t, context.Background(), "report", "--journal", journal, "--failed-csv", existing, "--force"); status != exitOK {
		t.Errorf("--force: %d\n%s", status, errOut)
	}
	if st, _ := os.Stat(existing); st == nil || st.Size() < 20 {
		t.Error("--force did not write the file")
	}
}

// A sender-quota reply stops the run: exit 3, nobody failed, the last line
// says the quota was reached and when room can be expected; the same
// command continues once the quota allows.
func TestSendStopsAtProviderQuota(t *testing.T) {
	var mu sync.Mutex
	quota := false
	taken := 0
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if quota || taken == 3 {
			quota = true
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 4, 5}, Message: "Daily user sending quota exceeded."}
		}
		taken++
		return nil
	}})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 8)
	journal := filepath.Join(dir, "j.jsonl")
	send := []string{"send", "-t", "testdata/plain", "-d", data, "--journal", journal, "--smtp", "smtp://" + srv.Addr, "--connections", "1"}
	_, errOut, status := runCLI(t, context.Background(), send...)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	last := lines[len(lines)-1]
	if status != exitStopped || !strings.Contains(last, "sending quota was reached") || !strings.Contains(last, "room can be expected from about") {
		t.Fatalf("send at the quota: %d, last line %q\n%s", status, last, errOut)
	}
	if r := readReport(t, journal); r.Totals["failed"] != 0 || r.Totals["sent"] != 3 {
		t.Errorf("journal after the quota: %v", r.Totals)
	}
	mu.Lock()
	quota, taken = false, -100
	mu.Unlock()
	if _, errOut, status := runCLI(t, context.Background(), send...); status != exitOK {
		t.Fatalf("rerun: %d\n%s", status, errOut)
	}
	for to, n := range deliveries(srv.Messages()) {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	if n := len(srv.Messages()); n != 8 {
		t.Errorf("server has %d messages, want 8", n)
	}
}

// --daily-limit stops at the limit with one line giving the count and the
// time the next slot opens; the journal counts across runs.
func TestSendDailyLimit(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 5)
	journal := filepath.Join(dir, "j.jsonl")
	send := []string{"send", "-t", "testdata/plain", "-d", data, "--journal", journal, "--smtp", "smtp://" + srv.Addr, "--daily-limit", "3"}
	_, errOut, status := runCLI(t, context.Background(), send...)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if status != exitStopped || !regexp.MustCompile(`stopped at --daily-limit: 3 of 3 recipients sent in the last 24 hours; the next slot opens at \d\d:\d\d( tomorrow)?$`).MatchString(lines[len(lines)-1]) {
		t.Fatalf("send: %d\n%s", status, errOut)
	}
	_, errOut, status = runCLI(t, context.Background(), send...)
	if status != exitStopped || len(srv.Messages()) != 3 {
		t.Errorf("a second run within the day: %d, %d messages\n%s", status, len(srv.Messages()), errOut)
	}
}

// A dry run logs in and says what would be sent; a wrong password shows
// there, exit 3. Nothing is sent or journalled.
func TestSendDryRun(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret"})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 4)
	journal := filepath.Join(dir, "j.jsonl")
	pw := writeFile(t, dir, "pw", "s3cret\n")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--journal", journal, "--smtp", "smtp://alice@example.test@" + srv.Addr, "--password-file", pw, "--dry-run"}
	out, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitOK || !strings.Contains(out, "logged in as alice@example.test") || !strings.Contains(out, "would send 4 messages to 4 recipients; nothing was sent") {
		t.Errorf("dry run: %d\n%s%s", status, out, errOut)
	}
	if len(srv.Messages()) != 0 || fileExists(journal) {
		t.Errorf("a dry run sent %d messages or wrote a journal", len(srv.Messages()))
	}
	writeFile(t, dir, "pw", "wrong\n")
	_, errOut, status = runCLI(t, context.Background(), args...)
	if status != exitStopped || !strings.Contains(errOut, "the server refused the login") {
		t.Errorf("dry run, wrong password: %d\n%s", status, errOut)
	}
}

// The password is asked for only after every row is checked, and not at
// all when there is nothing to send.
func TestPasswordAskedAfterValidation(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret"})
	dir := t.TempDir()
	data := writeFile(t, dir, "people.csv", "email,name,code\nnot-an-address,Ann,C1\n")
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://alice@example.test@"+srv.Addr)
	if status != exitInvalid || strings.Contains(errOut, "Password for") || strings.Contains(errOut, "--password-file") {
		t.Errorf("invalid data: %d, and the password came up first:\n%s", status, errOut)
	}
}

// A refused test send prints the server's reply.
func TestTestSendSaysWhy(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "relaying denied"}
	}})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 2)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://"+srv.Addr, "--test-to", "me@example.com")
	if status != exitIncomplete || !strings.Contains(errOut, "550 5.7.1 relaying denied") {
		t.Errorf("refused test send: %d\n%s", status, errOut)
	}
}

// Server mistakes said at once: no scheme, an invalid --helo.
func TestSendServerMistakesSaidAtOnce(t *testing.T) {
	dir := t.TempDir()
	data := peopleCSV(t, dir, 1)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--smtp", "127.0.0.1:2525")
	if status != exitInvalid || !strings.Contains(errOut, "write --smtp smtp://127.0.0.1:2525") {
		t.Errorf("--smtp without a scheme: %d\n%s", status, errOut)
	}
	_, errOut, status = runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://127.0.0.1:1", "--helo", "bad name!")
	if status != exitInvalid || !strings.Contains(errOut, "--helo") {
		t.Errorf("invalid --helo: %d\n%s", status, errOut)
	}
}

// Row problems beyond the first 20 are counted, not listed.
func TestRowErrorsBeyondTwentyAreCounted(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("email,name,code\n")
	for i := range 500 {
		if i%10 == 9 {
			b.WriteString(",No Address,C\n")
		} else {
			b.WriteString("bad-address,Someone,C\n")
		}
	}
	data := writeFile(t, dir, "people.csv", b.String())
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://127.0.0.1:1")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if status != exitInvalid || len(lines) > 30 || !strings.Contains(errOut, `and 480 more rows: column "email" 480`) {
		t.Errorf("status %d, %d lines:\n%s", status, len(lines), errOut)
	}
}

// Another sheet of one workbook is another campaign: another default
// journal, and a journal of one sheet refuses another.
func TestCampaignSheetIsPartOfIdentity(t *testing.T) {
	jan := &campaign{Template: "/t", Data: "/d/people.xlsx", Sheet: "Jan"}
	mar := &campaign{Template: "/t", Data: "/d/people.xlsx", Sheet: "Mar"}
	if jan.defaultJournal() == mar.defaultJournal() {
		t.Errorf("two sheets share the journal %s", jan.defaultJournal())
	}
	if err := mar.match(jan, "j", false); err == nil || !strings.Contains(err.Error(), `its sheet is "Jan", not "Mar"`) {
		t.Errorf("match: %v", err)
	}
	if err := jan.match(jan, "j", false); err != nil {
		t.Errorf("the same sheet: %v", err)
	}
}

// Invalid rows recorded with --skip-invalid are the same rows from any
// directory, and report --failed-csv alone finds them.
func TestInvalidRowsFromAnotherDirectory(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	root, _ := filepath.EvalSymlinks(t.TempDir())
	dir := filepath.Join(root, "fc")
	tpl := copyTemplate(t, dir, "tpl")
	writeFile(t, dir, "people.csv", "email,name,code\na@example.org,A,1\n,B,2\n")
	other := filepath.Join(root, "other")
	os.MkdirAll(other, 0o755)
	t.Chdir(dir)
	send := []string{"send", "-t", tpl, "--skip-invalid", "--smtp", "smtp://" + srv.Addr}
	_, errOut, _ := runCLI(t, context.Background(), append(send, "-d", "people.csv")...)
	journal := regexp.MustCompile(`journal: (\S+)`).FindStringSubmatch(errOut)
	if journal == nil {
		t.Fatalf("no journal named:\n%s", errOut)
	}
	t.Chdir(other)
	runCLI(t, context.Background(), append(send, "-d", "../fc/people.csv")...)
	r := readReport(t, journal[1])
	if r.Totals["failed"] != 1 || r.Totals["sent"] != 1 {
		t.Errorf("after two runs from two directories: %v", r.Totals)
	}
	_, errOut, status := runCLI(t, context.Background(), "report", "--journal", journal[1], "--failed-csv", "fixme.csv")
	if status != exitOK || !strings.Contains(errOut, "wrote 1 rows") && !strings.Contains(errOut, "wrote 1 row ") {
		t.Errorf("report --failed-csv alone: %d\n%s", status, errOut)
	}
}

// The starter kit keeps its recipients beside its template, as `mailshot
// init` writes them: the default journal cannot go beside the data, inside
// the template directory (an input), so it goes beside that directory, and
// a second run finds it there.
func TestDefaultJournalForDataInsideTheTemplate(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	root, _ := filepath.EvalSymlinks(t.TempDir())
	kit := copyTemplate(t, root, "kit")
	peopleCSV(t, kit, 3)
	t.Chdir(root)
	for run := 1; run <= 2; run++ {
		out, errOut, status := runCLI(t, context.Background(), "send", "-t", "kit", "-d", "kit/people.csv", "--smtp", "smtp://"+srv.Addr)
		if status != exitOK {
			t.Fatalf("run %d: %d\n%s%s", run, status, out, errOut)
		}
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("server has %d messages after two runs, want 3", n)
	}
	if inKit, _ := filepath.Glob(filepath.Join(kit, "*.journal.jsonl")); len(inKit) != 0 {
		t.Errorf("journal inside the template directory: %v", inKit)
	}
	if beside, _ := filepath.Glob(filepath.Join(root, "*.journal.jsonl")); len(beside) != 1 {
		t.Errorf("journals beside the template directory: %v, want 1", beside)
	}
}
