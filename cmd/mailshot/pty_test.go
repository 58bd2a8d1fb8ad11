//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtptest"
)

// openPTY opens a pseudo-terminal of 120 columns: the test writes to tty
// as to a terminal and reads what the terminal got from the returned
// function, which waits until tty is closed.
func openPTY(t *testing.T) (tty *os.File, output func() string) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&got, ptm) // ends with EIO once the terminal side is closed
		close(done)
	}()
	t.Cleanup(func() { tty.Close(); <-done; ptm.Close() })
	return tty, func() string {
		tty.Close()
		<-done
		return got.String()
	}
}

// redraws counts the carriage returns that start a line again, rather than
// end one (the terminal turns "\n" into "\r\n").
func redraws(s string) int { return len(regexp.MustCompile(`\r[^\n]`).FindAllString(s, -1)) }

// wrapped hides the file it writes to, as send's lockedWriter does, but
// says what it wraps.
type wrapped struct{ w io.Writer }

func (w wrapped) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w wrapped) Unwrap() io.Writer           { return w.w }

func TestProgressBarOnATerminal(t *testing.T) {
	tty, output := openPTY(t)
	v := newProgressView(wrapped{tty}, 4, "people.csv")
	if v.bar == nil {
		t.Fatal("no bar on a terminal behind a wrapper")
	}
	outcomes(v, journal.Sent, 2)
	v.tick()
	v.Throttle(true, 2)
	outcomes(v, journal.Failed, 2)
	v.finish()
	got := output()
	t.Logf("terminal got %q", got)
	if n := redraws(got); n < 3 {
		t.Errorf("the bar was drawn %d times in place, want 3 or more", n)
	}
	for _, want := range []string{" 50% |", "(2/4)", "100% |", "(4/4)", "elapsed 0:00", "2 failed", "throttled to 2/s", "server is throttling: slowed to 2/s\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal never showed %q", want)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape sequences on the terminal: %q", got)
	}
	if !strings.HasSuffix(got, "\r\n") {
		t.Errorf("the bar is not left on a line of its own: %q", got)
	}
}

func TestProgressLinesOffATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v := newProgressView(wrapped{f}, 4, "people.csv"); v.bar != nil {
		v.finish()
		t.Fatal("a bar on a file")
	} else {
		v.finish()
	}
}

// TestSendDrawsABarOnATerminal runs a whole send with its stderr on a
// terminal: the bar, not log lines.
func TestSendDrawsABarOnATerminal(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tty, output := openPTY(t)
	journalPath := filepath.Join(t.TempDir(), "j.jsonl")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"send", "-t", "../../templates/announcement", "-d", "../../samples/recipients.csv",
		"--smtp", "smtp://" + srv.Addr, "--journal", journalPath}, strings.NewReader(""), &stdout, tty)
	if status := exitStatus(err, tty); status != exitOK {
		t.Fatalf("status %d\n%s\n%s", status, stdout.String(), output())
	}
	got := output()
	t.Logf("terminal got %q", got)
	if n := redraws(got); n < 2 {
		t.Errorf("the bar was drawn %d times in place, want 2 or more", n)
	}
	if !strings.Contains(got, "100% |") || !strings.Contains(got, "(12/12)") {
		t.Errorf("no full bar on the terminal")
	}
	if strings.Contains(got, "progress:") {
		t.Errorf("log lines on a terminal")
	}
}
