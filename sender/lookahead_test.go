package sender

import (
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// TestPoolLookaheadKeepsThrottlePause: after a throttling 421 to a final dot
// (the server closes the connection), the pool pauses before its next MAIL,
// the job lookahead took for that connection included: it goes back to the
// throttle like any other. (Found in review.)
func TestPoolLookaheadKeepsThrottlePause(t *testing.T) {
	ts := &testServer{t: t}
	var mu sync.Mutex
	n, badConn := 0, 0
	var throttledAt time.Time
	type mailAt struct {
		conn int
		at   time.Time
	}
	var mails []mailAt
	ts.onMail = func(c *serverConn, from string) error {
		mu.Lock()
		defer mu.Unlock()
		mails = append(mails, mailAt{c.id, time.Now()})
		return nil
	}
	ts.onData = func(c *serverConn, body []byte) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 3 {
			throttledAt, badConn = time.Now(), c.id
			c.fc.closeAfterReply("")
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "rate limit exceeded, closing"}
		}
		return nil
	}
	ts.start()
	cfg := ts.config(nil, nil)
	cfg.Connections = 1
	cfg.ThrottleHold = 2 * time.Second
	cfg.RetryMax = 2 * time.Second // pause = min(hold/4, RetryMax) = 500ms
	cfg.Retries = 3
	if _, err := runPool(t, cfg, testMessages(6, 1, 200)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range mails {
		if m.conn != badConn && m.at.After(throttledAt) && m.at.Sub(throttledAt) < 400*time.Millisecond {
			t.Errorf("MAIL on connection %d %v after the throttling 421; the pool should pause 500ms", m.conn, m.at.Sub(throttledAt))
		}
	}
}
