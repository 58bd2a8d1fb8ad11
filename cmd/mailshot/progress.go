package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
)

// logEvery is how often a run logs its progress when stderr is not a terminal.
const logEvery = 5 * time.Second

// progressView shows a running send: a progress bar when stderr is a
// terminal, otherwise a plain line every few seconds. It implements
// sender.Progress.
type progressView struct {
	out   io.Writer
	data  string // the data file, to say where a changed row is
	total int
	start time.Time
	bar   *progressbar.ProgressBar // nil when out is not a terminal
	stop  chan struct{}
	done  sync.WaitGroup

	mu        sync.Mutex
	totals    journal.Totals
	throttled bool
	limit     rate.Limit
}

func newProgressView(out io.Writer, total int, data string) *progressView {
	v := &progressView{out: out, data: data, total: total, start: time.Now(), stop: make(chan struct{})}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		return v
	}
	v.done.Add(1)
	go v.logLoop()
	return v
}

// Outcome counts the recipients of one journalled outcome.
func (v *progressView) Outcome(r *journal.Record) {
	n := len(r.Recipients)
	v.mu.Lock()
	v.totals.Add(r.Status, n)
	desc := v.describe()
	v.mu.Unlock()
	if v.bar != nil {
		v.bar.Describe(desc)
		v.bar.Add(n)
	}
}

// Throttle notes that the server slowed the pool down, or that it recovered.
func (v *progressView) Throttle(on bool, limit rate.Limit) {
	v.mu.Lock()
	defer v.mu.Unlock() // the log loop writes to out too
	v.throttled, v.limit = on, limit
	if v.bar != nil {
		v.bar.Describe(v.describe())
		return
	}
	if on {
		fmt.Fprintf(v.out, "server is throttling: slowed to %s\n", sender.FormatRate(limit))
	} else {
		fmt.Fprintln(v.out, "throttling over: back to the configured rate")
	}
}

// Changed says that a row was sent before in another version, and is not
// sent again.
func (v *progressView) Changed(m *sender.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out, "%s:%d: %s was already sent; the row or template changed since, and it is not sent again\n", v.data, m.Row, m.Key)
}

// describe is the bar's label; v.mu is held.
func (v *progressView) describe() string {
	s := "sending"
	if n := v.totals.NotSent(); n > 0 {
		s = fmt.Sprintf("sending (%d not sent)", n)
	}
	if v.throttled {
		s += fmt.Sprintf(" [throttled to %s]", sender.FormatRate(v.limit))
	}
	return s
}

func (v *progressView) logLoop() {
	defer v.done.Done()
	t := time.NewTicker(logEvery)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			t := v.totals
			el := time.Since(v.start)
			fmt.Fprintf(v.out, "progress: %d/%d recipients, sent %d, failed %d, deferred %d, unknown %d, %.1f/s\n",
				t.All(), v.total, t.Sent, t.Failed, t.Deferred, t.Unknown, float64(t.All())/el.Seconds())
			v.mu.Unlock()
		}
	}
}

// finish stops the bar or the log lines.
func (v *progressView) finish() {
	close(v.stop)
	v.done.Wait()
	if v.bar != nil {
		v.bar.Finish()
	}
}
