package smtp

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	testBody = "Subject: test\n\n.dot line\nbody\n"
	testWire = "Subject: test\r\n\r\n..dot line\r\nbody\r\n.\r\n"
)

var (
	ehloLine  = "EHLO " + localName + "\r\n"
	sizeParam = "SIZE=" + strconv.Itoa(len(testBody))
	mailLine  = "MAIL FROM:<a@example.com> " + sizeParam + "\r\n"
	rcptB     = "RCPT TO:<b@example.org>\r\n"
	rcptC     = "RCPT TO:<c@example.org>\r\n"
	rcptD     = "RCPT TO:<d@example.org>\r\n"
)

// sendCase is one scripted transaction.
type sendCase struct {
	name    string
	ehlo    string
	replies []string
	env     Envelope
	body    func() io.Reader // nil: strings.NewReader(testBody)
	wrote   string           // everything the client wrote, EHLO included
	writes  []string         // if set, the client's writes one by one
	usable  bool
	check   func(t *testing.T, res *Result, err error)
}

func envTo(to ...string) Envelope { return Envelope{From: "a@example.com", To: to} }

// rcpts checks each recipient's result: "ok", "not tried", or the code of
// its *Error.
func rcpts(t *testing.T, res *Result, want ...string) {
	t.Helper()
	if len(res.Rcpts) != len(want) {
		t.Fatalf("%d recipient results, want %d", len(res.Rcpts), len(want))
	}
	for i, r := range res.Rcpts {
		var got string
		var e *Error
		switch {
		case r.Err == nil:
			got = "ok"
		case errors.Is(r.Err, ErrNotTried):
			got = "not tried"
		case errors.As(r.Err, &e):
			got = strconv.Itoa(e.Code)
		default:
			got = r.Err.Error()
		}
		if got != want[i] {
			t.Errorf("recipient %d (%s): %s, want %s", i, r.To, got, want[i])
		}
	}
}

func TestSend(t *testing.T) {
	ok := func(t *testing.T, res *Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Committed || res.Reply == nil || !res.Reply.Positive() {
			t.Fatalf("result %+v", res)
		}
	}
	tests := []sendCase{
		{
			name: "pipelined", ehlo: ehloPipelining, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Ok: queued as 4ABC"},
			writes:  []string{ehloLine, mailLine + rcptB + rcptC + "DATA\r\n", testWire},
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				rcpts(t, res, "ok", "ok")
				if *res.Reply != (Reply{Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4ABC"}) {
					t.Errorf("reply %+v", res.Reply)
				}
			},
		},
		{
			name: "lockstep", ehlo: ehloLockstep, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 go ahead", "250 2.0.0 Ok"},
			writes:  []string{ehloLine, mailLine, rcptB, rcptC, "DATA\r\n", testWire},
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				rcpts(t, res, "ok", "ok")
			},
		},
		{
			name: "partial acceptance", ehlo: ehloPipelining, env: envTo("b@example.org", "c@example.org", "d@example.org"),
			replies: []string{"250 ok", "250 ok", "550 5.1.1 <c@example.org>: Recipient address rejected", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + rcptC + rcptD + "DATA\r\n" + testWire,
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				rcpts(t, res, "ok", "550", "ok")
				var e *Error
				if !errors.As(res.Rcpts[1].Err, &e) || e.Command != "RCPT" || e.Enhanced != "5.1.1" || !e.Permanent() {
					t.Errorf("rejection %+v", res.Rcpts[1].Err)
				}
			},
		},
		{
			name: "all refused, pipelined", ehlo: ehloPipelining, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"250 ok", "550 5.1.1 no", "551 5.1.6 moved", "554 5.5.1 no valid recipients", "250 2.0.0 reset"},
			wrote:   ehloLine + mailLine + rcptB + rcptC + "DATA\r\n" + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "RCPT", 550)
				rcpts(t, res, "550", "551")
				if res.Committed || res.Reply != nil {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "all refused but DATA accepted: empty body", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "550 no", "354 go", "554 no valid recipients", "250 reset"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + ".\r\n" + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "RCPT", 550)
				if res.Committed {
					t.Error("committed")
				}
			},
		},
		{
			name: "all refused, lockstep: no DATA", ehlo: ehloLockstep, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"250 ok", "550 no", "550 no", "250 reset"},
			wrote:   ehloLine + mailLine + rcptB + rcptC + "RSET\r\n",
			usable:  true,
			check:   func(t *testing.T, res *Result, err error) { wantReplyError(t, err, "RCPT", 550) },
		},
		{
			name: "MAIL refused, pipelined", ehlo: ehloPipelining, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"450 4.7.1 Error: too much mail from 127.0.0.1", "503 5.5.1 need MAIL", "503 5.5.1 need MAIL", "503 5.5.1 need RCPT", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + rcptC + "DATA\r\n" + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				if e := wantReplyError(t, err, "MAIL", 450); !e.Temporary() {
					t.Error("450 not temporary")
				}
				rcpts(t, res, "not tried", "not tried")
			},
		},
		{
			name: "MAIL refused, lockstep", ehlo: ehloLockstep, env: envTo("b@example.org"),
			replies: []string{"550 5.7.1 sender rejected", "250 ok"},
			wrote:   ehloLine + mailLine + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "MAIL", 550)
				rcpts(t, res, "not tried")
			},
		},
		{
			name: "452 leaves the rest for later", ehlo: ehloLockstep, env: envTo("b@example.org", "c@example.org", "d@example.org"),
			replies: []string{"250 ok", "250 ok", "452 4.5.3 Too many recipients", "354 go", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + rcptC + "DATA\r\n" + testWire,
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				rcpts(t, res, "ok", "452", "not tried")
				var e *Error
				if !errors.As(res.Rcpts[1].Err, &e) || !e.Temporary() {
					t.Error("452 is not temporary")
				}
			},
		},
		{
			name: "452 to the only recipient", ehlo: ehloLockstep, env: envTo("b@example.org", "c@example.org"),
			replies: []string{"250 ok", "452 4.5.3 Too many recipients", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				if e := wantReplyError(t, err, "RCPT", 452); !e.Temporary() {
					t.Error("not temporary")
				}
				rcpts(t, res, "452", "not tried")
			},
		},
		{
			name: "421 at RCPT, lockstep", ehlo: ehloLockstep, env: envTo("b@example.org", "c@example.org", "d@example.org"),
			replies: []string{"250 ok", "250 ok", "421 4.3.2 shutting down"},
			wrote:   ehloLine + mailLine + rcptB + rcptC,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "RCPT", 421)
				rcpts(t, res, "ok", "421", "not tried")
			},
		},
		{
			name: "421 at MAIL, pipelined", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"421 4.7.0 mx.example.com closing"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n",
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "MAIL", 421)
				rcpts(t, res, "not tried")
			},
		},
		{
			name: "421 to DATA", ehlo: ehloLockstep, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "421 timeout"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n",
			check:   func(t *testing.T, res *Result, err error) { wantReplyError(t, err, "DATA", 421) },
		},
		{
			name: "DATA refused", ehlo: ehloLockstep, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "451 4.3.0 try later", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "DATA", 451)
				rcpts(t, res, "ok")
			},
		},
		{
			name: "message refused after the dot", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go", "550 5.5.2 mailshot.test Error: bare <LF> received", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "message", 550)
				if !res.Committed || res.Reply == nil || res.Reply.Code != 550 || res.Reply.Enhanced != "5.5.2" {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "421 after the dot", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go", "421 4.4.2 timeout"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire,
			check: func(t *testing.T, res *Result, err error) {
				wantReplyError(t, err, "message", 421)
				if !res.Committed || res.Reply == nil {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "connection lost after the dot: outcome unknown", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire,
			check: func(t *testing.T, res *Result, err error) {
				wantConnError(t, err, io.EOF)
				if !res.Committed || res.Reply != nil {
					t.Errorf("result %+v, want committed without reply", res)
				}
			},
		},
		{
			name: "garbage reply mid-transaction", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "hello?"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n",
			check: func(t *testing.T, res *Result, err error) {
				wantConnError(t, err, ErrMalformedReply)
				if res.Committed {
					t.Error("committed")
				}
			},
		},
		{
			name: "RSET refused drops the connection", ehlo: ehloLockstep, env: envTo("b@example.org"),
			replies: []string{"550 no", "502 RSET not implemented"},
			wrote:   ehloLine + mailLine + "RSET\r\n",
			check:   func(t *testing.T, res *Result, err error) { wantReplyError(t, err, "MAIL", 550) },
		},
		{
			name: "too large for SIZE: nothing sent", ehlo: ehloPipelining,
			env:    Envelope{From: "a@example.com", To: []string{"b@example.org"}, Size: 100001},
			wrote:  ehloLine,
			usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatal(err)
				}
				rcpts(t, res, "not tried")
			},
		},
		{
			name: "8-bit body", ehlo: ehloPipelining,
			env:     Envelope{From: "a@example.com", To: []string{"b@example.org"}, EightBit: true},
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com> " + sizeParam + " BODY=8BITMIME\r\n" + rcptB + "DATA\r\n" + testWire,
			usable:  true,
			check:   ok,
		},
		{
			name: "8-bit body, no 8BITMIME", ehlo: ehloBare,
			env:    Envelope{From: "a@example.com", To: []string{"b@example.org"}, EightBit: true},
			wrote:  ehloLine,
			usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatal(err)
				}
			},
		},
		{
			name: "UTF-8 recipient", ehlo: ehloPipelining, env: envTo("δοκιμή@παράδειγμα.δοκιμή"),
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com> " + sizeParam + " SMTPUTF8\r\nRCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\nDATA\r\n" + testWire,
			usable:  true,
			check:   ok,
		},
		{
			name: "UTF-8 header fields", ehlo: ehloPipelining,
			env:     Envelope{From: "a@example.com", To: []string{"b@example.org"}, UTF8Headers: true},
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com> " + sizeParam + " BODY=8BITMIME SMTPUTF8\r\n" + rcptB + "DATA\r\n" + testWire,
			usable:  true,
			check:   ok,
		},
		{
			name: "UTF-8 recipient, no SMTPUTF8: only that one fails", ehlo: ehloLockstep,
			env:     envTo("grüße@example.org", "b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire,
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				if !errors.Is(res.Rcpts[0].Err, ErrSMTPUTF8Required) || res.Rcpts[1].Err != nil {
					t.Errorf("results %+v", res.Rcpts)
				}
			},
		},
		{
			name: "UTF-8 sender, no SMTPUTF8", ehlo: ehloLockstep,
			env:    Envelope{From: "grüße@example.com", To: []string{"b@example.org"}},
			wrote:  ehloLine,
			usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, ErrSMTPUTF8Required) {
					t.Fatal(err)
				}
			},
		},
		{
			name: "command injection in addresses", ehlo: ehloPipelining,
			env:     envTo("b@example.org>\r\nRCPT TO:<evil@example.net", "x y@example.org", "", "b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire,
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				for _, r := range res.Rcpts[:3] {
					if !errors.Is(r.Err, ErrInvalidAddress) {
						t.Errorf("%q: %v", r.To, r.Err)
					}
				}
			},
		},
		{
			name: "injection in the sender", ehlo: ehloPipelining,
			env:    Envelope{From: "a@example.com> SIZE=1", To: []string{"b@example.org"}},
			usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, ErrInvalidAddress) {
					t.Fatal(err)
				}
			},
		},
		{
			name: "no recipients", ehlo: ehloPipelining, env: Envelope{From: "a@example.com"}, usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if err == nil {
					t.Fatal("no error")
				}
			},
		},
		{
			name: "long line in a seekable body: nothing sent", ehlo: ehloPipelining, env: envTo("b@example.org"),
			body:   func() io.Reader { return strings.NewReader("Subject: x\n\n" + strings.Repeat("y", 999) + "\n") },
			wrote:  ehloLine,
			usable: true,
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, ErrLineTooLong) {
					t.Fatal(err)
				}
			},
		},
		{
			name: "long line in a stream: abandoned before the dot", ehlo: ehloPipelining, env: envTo("b@example.org"),
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader("Subject: x\n\n" + strings.Repeat("y", 999) + "\n"))
			},
			replies: []string{"250 ok", "250 ok", "354 go"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com>\r\n" + rcptB + "DATA\r\n",
			check: func(t *testing.T, res *Result, err error) {
				if !errors.Is(err, ErrLineTooLong) || res.Committed {
					t.Fatalf("%v, committed %v", err, res.Committed)
				}
			},
		},
		{
			name: "body read error: abandoned before the dot", ehlo: ehloPipelining, env: envTo("b@example.org"),
			body: func() io.Reader {
				return io.MultiReader(strings.NewReader("Subject: x\n\n"), iotest.ErrReader(errors.New("template vanished")))
			},
			replies: []string{"250 ok", "250 ok", "354 go"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com>\r\n" + rcptB + "DATA\r\n",
			check: func(t *testing.T, res *Result, err error) {
				if err == nil || !strings.Contains(err.Error(), "template vanished") || res.Committed {
					t.Fatalf("%v, committed %v", err, res.Committed)
				}
			},
		},
		{
			name: "BeforeBody refuses", ehlo: ehloPipelining,
			env: Envelope{From: "a@example.com", To: []string{"b@example.org"},
				BeforeBody: func(context.Context) error { return errJournal }},
			replies: []string{"250 ok", "250 ok", "354 go"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n",
			check: func(t *testing.T, res *Result, err error) {
				if err != errJournal || res.Committed {
					t.Fatalf("%v, committed %v", err, res.Committed)
				}
			},
		},
		{
			name: "enhanced codes not advertised", ehlo: ehloBare, env: envTo("b@example.org"),
			replies: []string{"250 ok", "550 5.1.1 unknown", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com>\r\n" + rcptB + "RSET\r\n",
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				if e := wantReplyError(t, err, "RCPT", 550); e.Enhanced != "" || e.Text != "5.1.1 unknown" {
					t.Errorf("reply %+v", e.Reply)
				}
			},
		},
		{
			name: "multi-line final reply", ehlo: ehloPipelining, env: envTo("b@example.org"),
			replies: []string{"250 ok", "250 ok", "354 go", "250-2.0.0 first\r\n250 2.0.0 queued as X"},
			wrote:   ehloLine + mailLine + rcptB + "DATA\r\n" + testWire,
			usable:  true,
			check: func(t *testing.T, res *Result, err error) {
				ok(t, res, err)
				if res.Reply.Text != "first\nqueued as X" {
					t.Errorf("reply %+v", res.Reply)
				}
			},
		},
		{
			name: "empty body", ehlo: ehloPipelining, env: envTo("b@example.org"),
			body:    func() io.Reader { return strings.NewReader("") },
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<a@example.com>\r\n" + rcptB + "DATA\r\n" + ".\r\n",
			usable:  true,
			check:   ok,
		},
		{
			name: "null sender", ehlo: ehloPipelining, env: Envelope{To: []string{"b@example.org"}},
			body:    func() io.Reader { return strings.NewReader("x") },
			replies: []string{"250 ok", "250 ok", "354 go", "250 ok"},
			wrote:   ehloLine + "MAIL FROM:<> SIZE=1\r\n" + rcptB + "DATA\r\n" + "x\r\n.\r\n",
			usable:  true,
			check:   ok,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var replies string
			for _, r := range tt.replies {
				replies += r + "\r\n"
			}
			c, f, err := scripted(t, nil, tt.ehlo+replies)
			if err != nil {
				t.Fatal(err)
			}
			body := io.Reader(strings.NewReader(testBody))
			if tt.body != nil {
				body = tt.body()
			}
			res, err := c.Send(context.Background(), &tt.env, body)
			if res == nil {
				t.Fatal("nil Result")
			}
			tt.check(t, res, err)
			if tt.writes != nil {
				var got []string
				for _, w := range f.writes {
					got = append(got, string(w))
				}
				if strings.Join(got, "|") != strings.Join(tt.writes, "|") {
					t.Errorf("client writes\n%q\nwant\n%q", got, tt.writes)
				}
			} else if got := f.wrote(); got != tt.wrote {
				t.Errorf("client wrote\n%q\nwant\n%q", got, tt.wrote)
			}
			if c.Usable() != tt.usable {
				t.Errorf("Usable() = %v, want %v", c.Usable(), tt.usable)
			}
			if !c.Usable() && !f.closed {
				t.Error("unusable client left its connection open")
			}
		})
	}
}

var errJournal = errors.New("journal: disk full")

// TestBeforeBodyOrder checks that BeforeBody runs after 354 and before the
// first body octet.
func TestBeforeBodyOrder(t *testing.T) {
	c, f, err := scripted(t, nil, ehloPipelining+lines("250 ok", "250 ok", "354 go", "250 ok"))
	if err != nil {
		t.Fatal(err)
	}
	var wroteBefore string
	env := Envelope{From: "a@example.com", To: []string{"b@example.org"}, BeforeBody: func(context.Context) error {
		wroteBefore = f.wrote()
		return nil
	}}
	if _, err := c.Send(context.Background(), &env, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	if want := ehloLine + mailLine + rcptB + "DATA\r\n"; wroteBefore != want {
		t.Errorf("before the body the client had written %q, want %q", wroteBefore, want)
	}
}

// TestSendManyRecipients checks that a long pipelined transaction goes in
// groups of maxPipeline commands.
func TestSendManyRecipients(t *testing.T) {
	const n = 250
	var to []string
	replies := "250 ok\r\n"
	for i := 0; i < n; i++ {
		to = append(to, "r"+strconv.Itoa(i)+"@example.org")
		replies += "250 ok\r\n"
	}
	c, f, err := scripted(t, nil, ehloPipelining+replies+lines("354 go", "250 ok"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: to}, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	rcptsOK := make([]string, n)
	for i := range rcptsOK {
		rcptsOK[i] = "ok"
	}
	rcpts(t, res, rcptsOK...)
	// EHLO, then ceil((n+2)/maxPipeline) command groups, then the body.
	if want := 1 + (n+2+maxPipeline-1)/maxPipeline + 1; len(f.writes) != want {
		t.Errorf("%d writes, want %d", len(f.writes), want)
	}
	for _, w := range f.writes[1 : len(f.writes)-1] {
		if got := strings.Count(string(w), "\r\n"); got > maxPipeline {
			t.Errorf("a group of %d commands", got)
		}
	}
}

// TestSendReusesConnection runs transactions back to back: no RSET and no
// new EHLO after a successful one, RSET after a failed one.
func TestSendReusesConnection(t *testing.T) {
	c, f, err := scripted(t, nil, ehloPipelining+lines(
		"250 ok", "250 ok", "354 go", "250 ok", // 1: delivered
		"250 ok", "550 no", "554 no valid recipients", "250 reset", // 2: refused
		"250 ok", "250 ok", "354 go", "250 ok", // 3: delivered
	))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := envTo("b@example.org")
	for i, wantErr := range []bool{false, true, false} {
		_, err := c.Send(ctx, &env, strings.NewReader(testBody))
		if (err != nil) != wantErr {
			t.Fatalf("transaction %d: %v", i+1, err)
		}
	}
	tx := mailLine + rcptB + "DATA\r\n"
	if want := ehloLine + tx + testWire + tx + "RSET\r\n" + tx + testWire; f.wrote() != want {
		t.Errorf("client wrote\n%q\nwant\n%q", f.wrote(), want)
	}
}
