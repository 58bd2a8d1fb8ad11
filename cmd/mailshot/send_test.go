package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/smtptest"
)

// peopleCSV writes a data file of n recipients for testdata/plain.
func peopleCSV(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,name,code\n")
	for i := range n {
		fmt.Fprintf(&b, "person%04d@example.org,Person %d,C%04d\n", i, i, i)
	}
	return writeFile(t, dir, "people.csv", b.String())
}

// deliveries counts the messages each recipient received.
func deliveries(msgs []smtptest.Message) map[string]int {
	n := make(map[string]int)
	for _, m := range msgs {
		for _, to := range m.To {
			n[to]++
		}
	}
	return n
}

type jsonReport struct {
	Totals     map[string]int `json:"totals"`
	Recipients []struct {
		Row    int    `json:"row"`
		To     string `json:"to"`
		Status string `json:"status"`
		Code   int    `json:"code"`
		Reply  string `json:"reply"`
	} `json:"recipients"`
}

func readReport(t *testing.T, journal string) jsonReport {
	t.Helper()
	out, errOut, status := runCLI(t, context.Background(), "report", "--journal", journal, "--json")
	if status != exitOK {
		t.Fatalf("report: status %d: %s", status, errOut)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report --json is not JSON: %v\n%s", err, out)
	}
	return r
}

func TestSendDeliversSamplesOnceAndResumeSendsNothing(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret"})
	t.Setenv(passwordEnv, "s3cret")
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	args := []string{"send", "-t", "../../templates/announcement", "-d", "../../samples/recipients.csv",
		"--smtp", "smtp://alice@example.test@" + srv.Addr, "--journal", journal, "--connections", "2"}
	out, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitOK {
		t.Fatalf("status %d\n%s\n%s", status, out, errOut)
	}
	msgs := srv.Messages()
	if len(msgs) != 12 {
		t.Fatalf("server got %d messages, want 12", len(msgs))
	}
	for _, m := range msgs {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		to, err := parsed.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != m.To[0] || len(m.To) != 1 {
			t.Errorf("envelope %v, To header %v (%v)", m.To, to, err)
		}
		if m.User != "alice@example.test" {
			t.Errorf("message sent as %q", m.User)
		}
	}
	if srv.Auths() != 2 {
		t.Errorf("%d AUTH exchanges for 2 connections", srv.Auths())
	}
	r := readReport(t, journal)
	if r.Totals["sent"] != 12 || len(r.Recipients) != 12 {
		t.Errorf("report totals %v, %d recipients", r.Totals, len(r.Recipients))
	}

	// The same command again sends nothing.
	out, errOut, status = runCLI(t, context.Background(), args...)
	if status != exitOK || len(srv.Messages()) != 12 {
		t.Fatalf("rerun: status %d, server has %d messages\n%s\n%s", status, len(srv.Messages()), out, errOut)
	}
	if !strings.Contains(errOut, "12 recipients already sent") {
		t.Errorf("rerun does not say what it skipped:\n%s", errOut)
	}
}

func TestSendInvalidRowsSendNothingUnlessSkipped(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	data := writeFile(t, dir, "people.csv", "email,name,code\nok@example.org,Ok,1\nbad,Bad,2\nalso@example.org,Also,3\n")
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", journal}
	_, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitInvalid || len(srv.Messages()) != 0 {
		t.Fatalf("status %d, %d messages sent\n%s", status, len(srv.Messages()), errOut)
	}
	if !strings.Contains(errOut, data+`:3: column "email"`) || !strings.Contains(errOut, "nothing was sent") {
		t.Errorf("stderr:\n%s", errOut)
	}

	_, errOut, status = runCLI(t, context.Background(), append(args, "--skip-invalid")...)
	if status != exitIncomplete {
		t.Fatalf("--skip-invalid: status %d, want %d\n%s", status, exitIncomplete, errOut)
	}
	got := deliveries(srv.Messages())
	if len(got) != 2 || got["ok@example.org"] != 1 || got["also@example.org"] != 1 {
		t.Errorf("deliveries %v", got)
	}
	r := readReport(t, journal)
	if r.Totals["sent"] != 2 || r.Totals["failed"] != 1 {
		t.Errorf("totals %v", r.Totals)
	}
}

func TestSendWrongPasswordStopsWithStatus3(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret"})
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", "wrong\n")
	data := peopleCSV(t, dir, 20)
	journal := filepath.Join(dir, "j.jsonl")
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data,
		"--smtp", "smtp://alice@example.test@"+srv.Addr, "--password-file", pwFile, "--journal", journal, "--connections", "3")
	if status != exitStopped {
		t.Fatalf("status %d, want %d\n%s", status, exitStopped, errOut)
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("%d messages sent with a wrong password", len(srv.Messages()))
	}
	if strings.Contains(errOut, "wrong") {
		t.Errorf("the password appears in the output:\n%s", errOut)
	}
	if !strings.Contains(errOut, "mailshot: stopped: the server refused the login: AUTH answered 535 5.7.8 Authentication credentials invalid\n") ||
		!strings.Contains(errOut, "nothing was sent; once that is fixed, run the same command again") || strings.Contains(errOut, "smtp: ") || strings.Contains(errOut, "sender: ") {
		t.Errorf("stderr does not explain or say what to do:\n%s", errOut)
	}
	// Nobody was recorded: the journal this run created is gone.
	if fileExists(journal) {
		t.Errorf("a journal that records nobody was left behind")
	}
}

func TestSendPermanentFailureIsReportedAndRetriedOnlyOnRequest(t *testing.T) {
	var refuse atomic.Value
	refuse.Store("person0003@example.org")
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(to string) error {
		if to == refuse.Load() {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 6)
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", journal}
	_, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitIncomplete {
		t.Fatalf("status %d, want %d\n%s", status, exitIncomplete, errOut)
	}
	r := readReport(t, journal)
	var failed []string
	for _, rc := range r.Recipients {
		if rc.Status == "failed" {
			failed = append(failed, fmt.Sprintf("%d %s %d %s", rc.Row, rc.To, rc.Code, rc.Reply))
		}
	}
	if want := []string{"5 person0003@example.org 550 5.1.1 no such user"}; fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed recipients %q, want %q", failed, want)
	}
	text, _, _ := runCLI(t, context.Background(), "report", "--journal", journal)
	if !strings.Contains(text, "person0003@example.org") || !strings.Contains(text, "550") {
		t.Errorf("text report:\n%s", text)
	}

	// A plain rerun leaves the failure alone; --retry-failed tries it again.
	refuse.Store("")
	_, _, status = runCLI(t, context.Background(), args...)
	if status != exitIncomplete || deliveries(srv.Messages())["person0003@example.org"] != 0 {
		t.Fatalf("rerun: status %d, deliveries %v", status, deliveries(srv.Messages()))
	}
	outR, errOut, status := runCLI(t, context.Background(), append(args, "--retry-failed")...)
	errOut = outR + errOut
	got := deliveries(srv.Messages())
	if status != exitOK || got["person0003@example.org"] != 1 || len(got) != 6 {
		t.Fatalf("--retry-failed: status %d, deliveries %v\n%s", status, got, errOut)
	}
}

func TestSendInterruptedThenResumedDeliversEveryoneOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{DataDelay: 10 * time.Millisecond})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 60)
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", journal, "--connections", "2"}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitForMessages(srv, 10)
		cancel() // as Ctrl-C does
	}()
	_, errOut, status := runCLI(t, ctx, args...)
	if status != exitStopped || !strings.Contains(errOut, "resume with: mailshot send") {
		t.Fatalf("interrupted run: status %d\n%s", status, errOut)
	}
	first := len(srv.Messages())
	if first >= 60 {
		t.Fatalf("the interrupted run sent everything (%d)", first)
	}
	_, errOut, status = runCLI(t, context.Background(), args...)
	if status != exitOK {
		t.Fatalf("resumed run: status %d\n%s", status, errOut)
	}
	got := deliveries(srv.Messages())
	if len(got) != 60 {
		t.Errorf("%d recipients reached, want 60", len(got))
	}
	for to, n := range got {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
}

// TestSendKilledThenResumed runs the real binary, kills it with SIGKILL in
// the middle of a batch, and resumes: everyone gets the message exactly
// once, except recipients the journal marks unknown, at most two per
// connection, who get it at most once.
func TestSendKilledThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	// The delay after the final dot widens the window in which a kill
	// leaves a message delivered but unconfirmed.
	srv := smtptest.Start(t, smtptest.Options{DataDelay: 15 * time.Millisecond})
	const rows, conns = 150, 3
	data := peopleCSV(t, dir, rows)
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr,
		"--journal", journal, "--connections", fmt.Sprint(conns)}

	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForMessages(srv, 40)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killedAt := len(srv.Messages())
	if killedAt < 40 || killedAt >= rows {
		t.Fatalf("killed after %d messages; stderr:\n%s", killedAt, stderr.String())
	}

	before := readReport(t, journal)
	if before.Totals["unknown"] > 2*conns {
		t.Errorf("%d unknown after the kill, more than two per connection (%d connections)", before.Totals["unknown"], conns)
	}

	resume := exec.Command(bin, args...)
	out, err := resume.CombinedOutput()
	code := resume.ProcessState.ExitCode()
	if err != nil && code != exitIncomplete {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	after := readReport(t, journal)
	unknown := map[string]bool{}
	for _, rc := range after.Recipients {
		if rc.Status == "unknown" {
			unknown[rc.To] = true
		} else if rc.Status != "sent" {
			t.Errorf("%s ends %s", rc.To, rc.Status)
		}
	}
	if len(unknown) > 2*conns {
		t.Errorf("%d unknown recipients, more than two per connection (%d connections)", len(unknown), conns)
	}
	if (len(unknown) > 0) != (code == exitIncomplete) {
		t.Errorf("resume exit status %d with %d unknown", code, len(unknown))
	}
	got := deliveries(srv.Messages())
	for i := range rows {
		to := fmt.Sprintf("person%04d@example.org", i)
		switch n := got[to]; {
		case unknown[to] && n > 1, !unknown[to] && n != 1:
			t.Errorf("%s received %d messages (unknown: %v)", to, n, unknown[to])
		}
	}
	t.Logf("killed after %d deliveries; %d unknown; resume output:\n%s", killedAt, len(unknown), out)
}

func TestMain(m *testing.M) {
	// Tests set MAILSHOT_SMTP_PASSWORD themselves; one from the
	// environment must not leak into them.
	os.Unsetenv(passwordEnv)
	os.Exit(m.Run())
}

func TestSendTestToDeliversOnlyToTheTesterAndJournalsNothing(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "../../templates/announcement", "-d", "../../samples/recipients.csv",
		"--smtp", "smtp://" + srv.Addr, "--journal", journal}
	_, errOut, status := runCLI(t, context.Background(), append(args, "--test-to", "me@example.org", "--limit", "2")...)
	if status != exitOK {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	wantReal := []string{"ada.lovelace@example.com", "zoe.mueller@example.org"} // rows 2 and 3
	for _, m := range msgs {
		if len(m.To) != 1 || m.To[0] != "me@example.org" {
			t.Errorf("envelope recipients %v", m.To)
		}
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		if s := parsed.Header.Get("Subject"); !strings.HasPrefix(s, "[TEST] ") {
			t.Errorf("Subject %q", s)
		}
		if got := parsed.Header.Get("X-Mailshot-Would-Send-To"); !slices.Contains(wantReal, got) {
			t.Errorf("X-Mailshot-Would-Send-To %q, want one of %v", got, wantReal)
		}
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("a test send wrote a journal (%v)", err)
	}
	// The real run then sends to everyone: nothing was marked sent.
	_, errOut, status = runCLI(t, context.Background(), args...)
	if status != exitOK || len(srv.Messages()) != 14 {
		t.Fatalf("real run: status %d, %d messages in all\n%s", status, len(srv.Messages()), errOut)
	}
}

func TestFailedCSVRoundTrip(t *testing.T) {
	refused := map[string]bool{"person0001@example.org": true, "person0004@example.org": true}
	var mu sync.Mutex
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if refused[to] {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable, \"quoted\", here"}
		}
		return nil
	}})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 6)
	journal := filepath.Join(dir, "j.jsonl")
	send := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", journal}
	if _, errOut, status := runCLI(t, context.Background(), send...); status != exitIncomplete {
		t.Fatalf("send: status %d\n%s", status, errOut)
	}
	failed := filepath.Join(dir, "failed.csv")
	// The journal says which template and data it sent: report needs no -t
	// and -d.
	_, errOut, status := runCLI(t, context.Background(), "report", "--journal", journal, "--failed-csv", failed)
	if status != exitOK {
		t.Fatalf("report: status %d\n%s", status, errOut)
	}
	_, followUp, found := strings.Cut(errOut, "after fixing them: ")
	if !found {
		t.Fatalf("report printed no follow-up command:\n%s", errOut)
	}
	f, err := os.Open(failed)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"email", "name", "code", "status", "mailshot_code", "reply"},
		{"person0001@example.org", "Person 1", "C0001", "failed", "550", `5.1.1 mailbox unavailable, "quoted", here`},
		{"person0004@example.org", "Person 4", "C0004", "failed", "550", `5.1.1 mailbox unavailable, "quoted", here`},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("failed.csv:\n%q\nwant\n%q", rows, want)
	}
	// The export is valid data for the same template, with exactly those rows.
	out, errOut, status := runCLI(t, context.Background(), "check", "-t", "testdata/plain", "-d", failed)
	if status != exitOK || !strings.Contains(out, "2 rows: 2 valid") {
		t.Fatalf("check -d failed.csv: status %d\n%s%s", status, out, errOut)
	}
	// Once the addresses are fixed, sending the export reaches just them.
	mu.Lock()
	clear(refused)
	mu.Unlock()
	before := len(srv.Messages())
	// The command report printed, as a person would paste it.
	args := strings.Fields(strings.TrimSpace(followUp))
	if args[0] != "mailshot" || args[len(args)-1] != "URL" {
		t.Fatalf("follow-up command %q", followUp)
	}
	args = append(args[1:len(args)-1], "smtp://"+srv.Addr)
	_, errOut, status = runCLI(t, context.Background(), args...)
	if status != exitOK {
		t.Fatalf("resend %q: status %d\n%s", args, status, errOut)
	}
	var again []string
	for _, m := range srv.Messages()[before:] {
		again = append(again, m.To...)
	}
	slices.Sort(again)
	if fmt.Sprint(again) != "[person0001@example.org person0004@example.org]" {
		t.Errorf("resend reached %v", again)
	}
}

// waitForMessages waits, at most 20 s, until srv has received n messages.
func waitForMessages(srv *smtptest.Server, n int) {
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.Messages()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// buildBinary builds mailshot into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "mailshot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSendSIGTERMStopsGracefully: SIGTERM stops taking messages, lets those
// in flight finish, exits 3 with the command that resumes, and leaves no
// unknown outcome; the resumed run completes with everyone sent once.
func TestSendSIGTERMStopsGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	srv := smtptest.Start(t, smtptest.Options{DataDelay: 10 * time.Millisecond})
	const rows = 120
	data := peopleCSV(t, dir, rows)
	journal := filepath.Join(dir, "j.jsonl")
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", journal, "--connections", "3"}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForMessages(srv, 20)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitStopped {
		t.Fatalf("exit status %d after SIGTERM, want %d\n%s", code, exitStopped, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resume with: mailshot send") {
		t.Errorf("no resume command:\n%s", stderr.String())
	}
	stoppedAt := len(srv.Messages())
	if r := readReport(t, journal); r.Totals["unknown"] != 0 || r.Totals["sent"] != stoppedAt {
		t.Errorf("after a graceful stop: totals %v, server has %d", r.Totals, stoppedAt)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	got := deliveries(srv.Messages())
	if len(got) != rows {
		t.Errorf("%d recipients reached, want %d", len(got), rows)
	}
	for to, n := range got {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
}

func TestSendUnreachableServerStopsWithStatus3(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	dir := t.TempDir()
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", peopleCSV(t, dir, 3),
		"--smtp", "smtp://"+addr, "--journal", filepath.Join(dir, "j.jsonl"), "--retries", "0")
	want := "mailshot: stopped: no connection to the server: cannot connect to " + addr + ": connection refused\nhint: check the host and port"
	if status != exitStopped || !strings.Contains(errOut, want) {
		t.Errorf("status %d\n%s", status, errOut)
	}
}

func TestSendDuplicateRowsAreSentOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	data := writeFile(t, dir, "d.csv", "email,name,code\na@example.org,A,1\nb@example.org,B,2\nA@example.org,A again,3\nc@example.org,C,4\n")
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data,
		"--smtp", "smtp://"+srv.Addr, "--journal", filepath.Join(dir, "j.jsonl"))
	if status != exitOK {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	got := deliveries(srv.Messages())
	if len(srv.Messages()) != 3 || got["a@example.org"] != 1 {
		t.Errorf("deliveries %v", got)
	}
	if !strings.Contains(errOut, data+":4: warning: same recipients as row 2") {
		t.Errorf("no duplicate warning:\n%s", errOut)
	}
}

// TestSendRowThatTurnsInvalidStopsTheRun: a file a row attaches disappears
// after the preflight; the run stops there (exit 3), with or without
// --skip-invalid, instead of losing the row, and once the file is back the
// same command finishes the batch.
func TestSendRowThatTurnsInvalidStopsTheRun(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip-invalid=%v", skip), func(t *testing.T) {
			dir := t.TempDir()
			tpl := filepath.Join(dir, "tpl")
			files := filepath.Join(dir, "files")
			os.MkdirAll(tpl, 0o755)
			os.MkdirAll(files, 0o755)
			writeFile(t, tpl, "message.txt", "From: a@example.org\nTo: {{.email}}\nSubject: your file\n\nHere it is.{{attach .file}}\n")
			var b strings.Builder
			b.WriteString("email,file\n")
			const rows = 40
			for i := range rows {
				fmt.Fprintf(&b, "p%02d@example.org,f%02d.txt\n", i, i)
				writeFile(t, files, fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("file %d\n", i))
			}
			data := writeFile(t, dir, "d.csv", b.String())
			victim := filepath.Join(files, "f30.txt")
			var once sync.Once
			srv := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
				once.Do(func() { os.Remove(victim) }) // after the preflight: sending has begun
				return nil
			}})
			journal := filepath.Join(dir, "j.jsonl")
			args := []string{"send", "-t", tpl, "-d", data, "--attachments", files, "--smtp", "smtp://" + srv.Addr, "--journal", journal, "--connections", "1"}
			if skip {
				args = append(args, "--skip-invalid")
			}
			_, errOut, status := runCLI(t, context.Background(), args...)
			if status != exitStopped || !strings.Contains(errOut, data+":32:") || !strings.Contains(errOut, "resume with:") {
				t.Fatalf("status %d\n%s", status, errOut)
			}
			if got := deliveries(srv.Messages()); len(got) != 30 || got["p30@example.org"] != 0 {
				t.Fatalf("%d delivered before the stop: %v", len(got), got)
			}
			writeFile(t, files, "f30.txt", "file 30\n")
			if _, errOut, status = runCLI(t, context.Background(), args...); status != exitOK {
				t.Fatalf("resume: status %d\n%s", status, errOut)
			}
			got := deliveries(srv.Messages())
			for i := range rows {
				if n := got[fmt.Sprintf("p%02d@example.org", i)]; n != 1 {
					t.Errorf("p%02d got %d messages", i, n)
				}
			}
		})
	}
}

// TestSendDataChangedDuringTheSendStops: the data file is rewritten while
// messages go out; the run ends with exit 3 and says so, and the same
// command then sends what the new data holds, to those not yet sent.
func TestSendDataChangedDuringTheSendStops(t *testing.T) {
	dir := t.TempDir()
	data := peopleCSV(t, dir, 20)
	var once sync.Once
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
		once.Do(func() {
			f, _ := os.OpenFile(data, os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintf(f, "late@example.org,Late,L1\n")
			f.Close()
		})
		return nil
	}})
	args := []string{"send", "-t", "testdata/plain", "-d", data, "--smtp", "smtp://" + srv.Addr, "--journal", filepath.Join(dir, "j.jsonl"), "--connections", "1"}
	_, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitStopped || !strings.Contains(errOut, "changed while it was being sent") {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	if _, errOut, status = runCLI(t, context.Background(), args...); status != exitOK {
		t.Fatalf("rerun: status %d\n%s", status, errOut)
	}
	got := deliveries(srv.Messages())
	if len(got) != 21 || got["late@example.org"] != 1 {
		t.Errorf("deliveries %v", got)
	}
	for to, n := range got {
		if n != 1 {
			t.Errorf("%s got %d", to, n)
		}
	}
}
