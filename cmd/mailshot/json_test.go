package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender/smtptest"
)

// check --json and send --json print one JSON object on stdout and nothing
// else there.
func TestJSONSummaries(t *testing.T) {
	dir := t.TempDir()
	data := writeFile(t, dir, "people.csv", "email,name,code\na@example.org,A,1\nbad,B,2\nc@example.org,C,3\n")
	out, errOut, status := runCLI(t, context.Background(), "check", "--json", "-t", "testdata/plain", "-d", data)
	var c checkSummary
	if err := json.Unmarshal([]byte(out), &c); err != nil || status != exitInvalid {
		t.Fatalf("check --json: %d, %v\n%s%s", status, err, out, errOut)
	}
	if c.Rows != 3 || c.Invalid != 1 || len(c.InvalidRows) != 1 || c.InvalidRows[0].Row != 3 {
		t.Errorf("check --json: %+v", c)
	}
	srv := smtptest.Start(t, smtptest.Options{})
	send := []string{"send", "--json", "-t", "testdata/plain", "-d", peopleCSV(t, dir, 3), "--smtp", "smtp://" + srv.Addr}
	out, errOut, status = runCLI(t, context.Background(), send...)
	var s sendSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || status != exitOK {
		t.Fatalf("send --json: %d, %v\n%s%s", status, err, out, errOut)
	}
	if s.Outcome != "finished" || s.Totals.Sent != 3 || s.Connections < 1 || s.Journal == "" {
		t.Errorf("send --json: %+v", s)
	}
	out, _, _ = runCLI(t, context.Background(), send...)
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Outcome != "nothing to send" || s.Skipped.Sent != 3 {
		t.Errorf("send --json again: %v %+v\n%s", err, s, out)
	}
}

// --timeout bounds a transaction: a server silent after the final dot
// leaves the message unknown at once instead of after 20 minutes.
func TestSendTimeout(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{DataDelay: 5 * time.Second})
	dir := t.TempDir()
	start := time.Now()
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", peopleCSV(t, dir, 1),
		"--journal", filepath.Join(dir, "j.jsonl"), "--smtp", "smtp://"+srv.Addr, "--timeout", "300ms", "--retries", "0")
	if took := time.Since(start); status != exitIncomplete || took > 4*time.Second || !strings.Contains(errOut, "unknown") && !strings.Contains(errOut, "not every recipient") {
		t.Errorf("status %d after %v\n%s", status, took, errOut)
	}
	if r := readReport(t, filepath.Join(dir, "j.jsonl")); r.Totals["unknown"] != 1 {
		t.Errorf("journal %v, want the message unknown", r.Totals)
	}
}

// preview --json prints one object on stdout.
func TestPreviewJSON(t *testing.T) {
	dir := t.TempDir()
	out, errOut, status := runCLI(t, context.Background(), "preview", "--json", "-t", "testdata/plain", "-d", peopleCSV(t, dir, 3), "-o", filepath.Join(dir, "p"))
	var p struct {
		Rows, Written int
		Index         string
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || status != exitOK || p.Rows != 3 || p.Written != 3 || !strings.HasSuffix(p.Index, "index.html") {
		t.Errorf("preview --json: %d %v %+v\n%s%s", status, err, p, out, errOut)
	}
}
