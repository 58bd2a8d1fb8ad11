package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
)

const (
	// drawEvery is how often the bar is redrawn on a terminal, so that
	// elapsed time, rate and state move while nothing is sent.
	drawEvery = 250 * time.Millisecond
	// logEvery is how often a run logs its progress when stderr is not a
	// terminal.
	logEvery = 5 * time.Second
	// stallAfter is how long a run may make no progress before the log
	// says what it is waiting on (and again after each as long again).
	stallAfter = 60 * time.Second
	// rateWindow is how far back the rate shown is measured: the recent
	// rate, not the average since the start.
	rateWindow = 30 * time.Second
)

// progressView shows a running send: a bar redrawn in place when stderr is
// a terminal, otherwise a timestamped line every few seconds. It
// implements sender.Progress. Outcome only counts: the drawing happens on
// the view's own goroutine, so a slow terminal holds back no one.
type progressView struct {
	// busy, when set, names the connections in a transaction (the pool's
	// Busy), so that a stalled run says which one waits on what.
	busy func() []sender.Busy

	out   io.Writer
	data  string // the data file, to say where a changed row is
	total int
	now   func() time.Time
	stop  chan struct{}
	done  sync.WaitGroup

	// drawMu is held while writing to out, so that lines and the bar do
	// not interleave; it is never held while mu is wanted.
	drawMu sync.Mutex
	bar    *progressbar.ProgressBar // nil when out is not a terminal
	width  int                      // the terminal's, or 0

	mu         sync.Mutex
	start      time.Time
	totals     journal.Totals
	throttled  bool
	limit      rate.Limit
	paused     string    // why the pool waits, or ""
	until      time.Time // when it expects to go on; zero if not known
	samples    []sample  // progress over the last rateWindow, oldest first
	lastDone   int       // recipients done when the last line was logged
	lastLine   time.Time // when it was logged
	lastMove   time.Time // when progress was last seen
	stallsSaid int       // stallAfter periods reported since lastMove
}

// sample is how many recipients were done at a time.
type sample struct {
	at   time.Time
	done int
}

// newProgressView starts showing the progress of a send of total
// recipients on out: a bar if out, or the writer it wraps, is a terminal.
// finish stops it.
func newProgressView(out io.Writer, total int, data string) *progressView {
	fd, isTerm := terminalOf(out)
	v := newProgress(out, total, data, isTerm, time.Now)
	if isTerm {
		if w, _, err := term.GetSize(fd); err == nil {
			v.width = w
		}
	}
	every := logEvery
	if v.bar != nil {
		every = drawEvery
		v.drawBar(v.status())
	}
	v.done.Add(1)
	go v.loop(every)
	return v
}

// newProgress makes a view without starting its clock: tests call tick
// themselves. now is time.Now, except in tests.
func newProgress(out io.Writer, total int, data string, terminal bool, now func() time.Time) *progressView {
	start := now()
	v := &progressView{
		out: out, data: data, total: total, now: now, stop: make(chan struct{}),
		start: start, lastLine: start, lastMove: start,
		samples: []sample{{at: start}},
	}
	if terminal {
		v.bar = progressbar.NewOptions(max(total, 1),
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetWidth(20),
			progressbar.OptionShowCount(),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(0), // the view's clock paces it
		)
	}
	return v
}

// terminalOf reports whether w writes to a terminal, and its descriptor,
// looking through writers that wrap another (an Unwrap method).
func terminalOf(w io.Writer) (fd int, ok bool) {
	if os.Getenv("TERM") == "dumb" {
		return 0, false
	}
	for range 10 {
		switch x := w.(type) {
		case interface{ Fd() uintptr }:
			fd := int(x.Fd())
			return fd, term.IsTerminal(fd)
		case interface{ Unwrap() io.Writer }:
			w = x.Unwrap()
		default:
			return 0, false
		}
	}
	return 0, false
}

// Outcome counts the recipients of one journalled outcome.
func (v *progressView) Outcome(r *journal.Record) {
	v.mu.Lock()
	v.totals.Add(r.Status, len(r.Recipients))
	v.mu.Unlock()
}

// Throttle notes that the server slowed the pool down, or that it
// recovered.
func (v *progressView) Throttle(on bool, limit rate.Limit) {
	v.mu.Lock()
	v.throttled, v.limit = on, limit
	v.mu.Unlock()
	if on {
		v.note(fmt.Sprintf("server is throttling: slowed to %s", sender.FormatRate(limit)))
	} else {
		v.note("throttling over: back to the configured rate")
	}
}

// Paused notes that the pool waits for a reason (the daily limit) until
// about until (zero: not known), or, with a reason of "", that it sends
// again.
func (v *progressView) Paused(reason string, until time.Time) {
	v.mu.Lock()
	was := v.paused
	v.paused, v.until = reason, until
	now := v.now()
	v.lastMove, v.stallsSaid = now, 0 // a change of state is news
	v.mu.Unlock()
	switch {
	case reason != "":
		v.note("paused: " + pauseText(reason, until, now))
	case was != "":
		v.note("sending again")
	}
}

// setBusy gives the view the pool's Busy, to name a stalled connection.
func (v *progressView) setBusy(busy func() []sender.Busy) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.busy = busy
}

// Relay says that one of several relays left the rotation (err says why;
// until is when it is tried again, zero for the rest of the run), or, with
// a nil err, that it is back. It implements sender.RelayProgress.
func (v *progressView) Relay(name string, err error, until time.Time) {
	switch {
	case err == nil:
		v.note("relay " + name + " is back")
	case until.IsZero():
		v.note(fmt.Sprintf("relay %s is out for the rest of the run: %s", name, describeStop(errorAsStop(err))))
	default:
		v.note(fmt.Sprintf("relay %s is out until %s: %s", name, until.Local().Format("15:04:05"), describeStop(errorAsStop(err))))
	}
}

// Changed says that a row was sent before in another version, and is not
// sent again.
func (v *progressView) Changed(m *sender.Message) {
	v.note(fmt.Sprintf("%s:%d: %s was already sent; the row or template changed since, and it is not sent again", v.data, m.Row, m.Key))
}

// note writes a line of its own: above the bar on a terminal, with the
// time elsewhere.
func (v *progressView) note(line string) {
	v.drawMu.Lock()
	defer v.drawMu.Unlock()
	if v.bar == nil {
		fmt.Fprintf(v.out, "%s %s\n", v.now().Format(time.TimeOnly), line)
		return
	}
	v.bar.Clear()
	fmt.Fprintln(v.out, line)
	v.bar.RenderBlank()
}

// loop redraws the bar, or logs a line, every period until finish.
func (v *progressView) loop(every time.Duration) {
	defer v.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.tick()
		}
	}
}

// tick brings the display up to date: the bar is redrawn; the log gets a
// line when there was progress since its last one, at most every logEvery,
// or a line saying what the run waits on when there was none for
// stallAfter.
func (v *progressView) tick() {
	if v.bar != nil {
		v.drawBar(v.status())
		return
	}
	if line := v.logLine(); line != "" {
		v.drawMu.Lock()
		fmt.Fprintln(v.out, line)
		v.drawMu.Unlock()
	}
}

// barStatus is what the bar shows.
type barStatus struct {
	done int
	text string // rate, times, failures, state
}

// status takes a sample and says where the run is.
func (v *progressView) status() barStatus {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	done := v.totals.All()
	r := v.sample(now, done)
	return barStatus{done: done, text: v.describe(now, done, r)}
}

// drawBar redraws the bar.
func (v *progressView) drawBar(s barStatus) {
	v.drawMu.Lock()
	defer v.drawMu.Unlock()
	text := s.text
	if v.width > 0 {
		// The percent, the bar and the count take about 35 columns; a line
		// longer than the terminal would wrap and not be redrawn in place.
		text = truncate(text, v.width-36-2*len(fmt.Sprint(v.total)))
	}
	v.bar.Describe(text)
	v.bar.Set(min(s.done, max(v.total, 1)))
}

// logLine returns the line to log now, or "".
func (v *progressView) logLine() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	done := v.totals.All()
	r := v.sample(now, done)
	stamp := now.Format(time.TimeOnly)
	if done != v.lastDone {
		v.lastMove, v.stallsSaid = now, 0
		if now.Sub(v.lastLine) < logEvery {
			return ""
		}
		v.lastDone, v.lastLine = done, now
		return fmt.Sprintf("%s %s, %s", stamp, v.count(done), v.describe(now, done, r))
	}
	if v.paused != "" && !v.until.IsZero() {
		return "" // the line that paused it said until when
	}
	stalls := int(now.Sub(v.lastMove) / stallAfter)
	if stalls <= v.stallsSaid {
		return ""
	}
	v.stallsSaid = stalls
	return fmt.Sprintf("%s no progress for %s: %s", stamp, span(time.Duration(stalls)*stallAfter), v.waitingOn(now))
}

// sample records progress at now and returns the rate over the last
// rateWindow, in recipients a second, or -1 before a second has passed;
// v.mu is held.
func (v *progressView) sample(now time.Time, done int) float64 {
	v.samples = append(v.samples, sample{now, done})
	// Keep as the base the last sample at or before the window's start.
	for len(v.samples) > 2 && now.Sub(v.samples[1].at) >= rateWindow {
		v.samples = v.samples[1:]
	}
	base := v.samples[0]
	dt := now.Sub(base.at)
	if dt < time.Second {
		return -1 // too soon to tell
	}
	return float64(done-base.done) / dt.Seconds()
}

// count is "120/2000 (6%)"; v.mu is held.
func (v *progressView) count(done int) string {
	pct := 100
	if v.total > 0 {
		pct = done * 100 / v.total
	}
	return fmt.Sprintf("%d/%d (%d%%)", done, v.total, pct)
}

// describe is the rate, elapsed time, time left, failures so far and the
// state when not sending; v.mu is held.
func (v *progressView) describe(now time.Time, done int, r float64) string {
	var parts []string
	switch {
	case r > 0:
		parts = append(parts, sender.FormatRate(rate.Limit(r)))
	case r == 0:
		parts = append(parts, "0/s")
	}
	parts = append(parts, "elapsed "+clock(now.Sub(v.start)))
	switch left := v.total - done; {
	case left <= 0:
	case r > 0:
		parts = append(parts, "ETA "+clock(time.Duration(float64(left)/r*float64(time.Second))))
	default:
		parts = append(parts, "ETA unknown")
	}
	for _, c := range []struct {
		n    int
		what string
	}{{v.totals.Failed, "failed"}, {v.totals.Deferred, "deferred"}, {v.totals.Unknown, "unknown"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	switch {
	case v.paused != "":
		parts = append(parts, "paused: "+pauseText(v.paused, v.until, now))
	case v.throttled:
		parts = append(parts, "throttled to "+sender.FormatRate(v.limit))
	}
	return strings.Join(parts, ", ")
}

// waitingOn says what a run that makes no progress waits on; v.mu is held.
func (v *progressView) waitingOn(now time.Time) string {
	switch {
	case v.paused != "":
		return "paused: " + pauseText(v.paused, v.until, now)
	case v.throttled:
		return "waiting on the server, which throttles the run to " + sender.FormatRate(v.limit)
	}
	if v.busy != nil {
		if b := v.busy(); len(b) > 0 {
			s := fmt.Sprintf("connection %d (%s) has waited %s for the server on row %d", b[0].Conn, b[0].Relay, span(now.Sub(b[0].Since).Round(time.Second)), b[0].Row)
			if len(b) > 1 {
				s += ", and " + count(len(b)-1, "other connection")
			}
			return s
		}
	}
	return "waiting on the server"
}

// pauseText is why the run is paused and until when, if known: the time
// of day, with the day when it is not today.
func pauseText(reason string, until, now time.Time) string {
	switch {
	case until.IsZero():
		return reason
	case until.YearDay() == now.YearDay() && until.Year() == now.Year():
		return reason + ", until " + until.Format("15:04")
	}
	return reason + ", until " + until.Format("Mon 15:04")
}

// clock is a duration as a clock shows it: 0:42, 12:05, 1:02:03.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// span is a whole length of time in words: 60 s, 5 min.
func span(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%d s", int(d/time.Second))
	}
	return fmt.Sprintf("%d min", int(d/time.Minute))
}

// truncate shortens s to at most n bytes, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 4 {
		return ""
	}
	return s[:n-3] + "…"
}

// finish stops the display: the bar is drawn a last time and left on its
// own line.
func (v *progressView) finish() {
	close(v.stop)
	v.done.Wait()
	if v.bar != nil {
		v.drawBar(v.status())
		v.drawMu.Lock()
		fmt.Fprintln(v.out)
		v.drawMu.Unlock()
	}
}
