package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestReadReply(t *testing.T) {
	long := "250 " + strings.Repeat("x", maxReplyLine) + "\r\n"
	many := strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n"
	tests := []struct {
		name     string
		in       string
		enhanced bool
		want     Reply
		wantErr  error
	}{
		{name: "single", in: "250 OK\r\n", want: Reply{Code: 250, Text: "OK"}},
		{name: "code only", in: "250\r\n", want: Reply{Code: 250}},
		{name: "empty text", in: "250 \r\n", want: Reply{Code: 250}},
		{name: "bare LF", in: "250 OK\n", want: Reply{Code: 250, Text: "OK"}},
		{name: "multi-line", in: "250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
			want: Reply{Code: 250, Text: "mx.example.com\nPIPELINING\nSIZE 10"}},
		{name: "empty continuation", in: "250-\r\n250 last\r\n", want: Reply{Code: 250, Text: "\nlast"}},
		{name: "enhanced", in: "550 5.1.1 no such user\r\n", enhanced: true,
			want: Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}},
		{name: "enhanced not advertised", in: "550 5.1.1 no such user\r\n",
			want: Reply{Code: 550, Text: "5.1.1 no such user"}},
		{name: "enhanced multi-line", in: "550-5.7.1 first\r\n550 5.7.1 second\r\n", enhanced: true,
			want: Reply{Code: 550, Enhanced: "5.7.1", Text: "first\nsecond"}},
		{name: "enhanced alone", in: "250 2.0.0\r\n", enhanced: true, want: Reply{Code: 250, Enhanced: "2.0.0"}},
		{name: "enhanced three digits", in: "451 4.123.456 later\r\n", enhanced: true,
			want: Reply{Code: 451, Enhanced: "4.123.456", Text: "later"}},
		{name: "enhanced class mismatch is text", in: "250 5.0.0 odd\r\n", enhanced: true,
			want: Reply{Code: 250, Text: "5.0.0 odd"}},
		{name: "enhanced four digits is text", in: "250 2.0.1000 x\r\n", enhanced: true,
			want: Reply{Code: 250, Text: "2.0.1000 x"}},
		{name: "enhanced glued is text", in: "250 2.0.0ok\r\n", enhanced: true,
			want: Reply{Code: 250, Text: "2.0.0ok"}},
		{name: "version number is text", in: "250 2.1 ok\r\n", enhanced: true,
			want: Reply{Code: 250, Text: "2.1 ok"}},
		{name: "control characters", in: "250 a\x1b[31mb\x00c\td\r\n", want: Reply{Code: 250, Text: "a?[31mb?c\td"}},
		{name: "stray CR", in: "250 a\rb\r\n", want: Reply{Code: 250, Text: "a?b"}},
		{name: "utf-8 kept", in: "250 grüße\r\n", want: Reply{Code: 250, Text: "grüße"}},
		{name: "334 challenge", in: "334 VXNlcm5hbWU6\r\n", enhanced: true, want: Reply{Code: 334, Text: "VXNlcm5hbWU6"}},

		{name: "eof", in: "", wantErr: io.EOF},
		{name: "eof mid-line", in: "250 OK", wantErr: io.ErrUnexpectedEOF},
		{name: "eof mid-reply", in: "250-first\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "garbage", in: "hello there\r\n", wantErr: ErrMalformedReply},
		{name: "short", in: "25\r\n", wantErr: ErrMalformedReply},
		{name: "letters", in: "2x0 OK\r\n", wantErr: ErrMalformedReply},
		{name: "1yz", in: "150 OK\r\n", wantErr: ErrMalformedReply},
		{name: "6yz", in: "650 OK\r\n", wantErr: ErrMalformedReply},
		{name: "second digit 6", in: "260 OK\r\n", wantErr: ErrMalformedReply},
		{name: "bad separator", in: "250:OK\r\n", wantErr: ErrMalformedReply},
		{name: "four digits", in: "2500 OK\r\n", wantErr: ErrMalformedReply},
		{name: "code changes", in: "250-first\r\n251 second\r\n", wantErr: ErrMalformedReply},
		{name: "garbage continuation", in: "250-first\r\nsecond\r\n", wantErr: ErrMalformedReply},
		{name: "oversized line", in: long, wantErr: ErrMalformedReply},
		{name: "too many lines", in: many, wantErr: ErrMalformedReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), maxReplyLine)
			got, err := readReply(br, tt.enhanced, nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("readReply(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readReply(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("readReply(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadReplyLeavesTheNextReply(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("250 first\r\n354 second\r\n"))
	for _, want := range []int{250, 354} {
		r, err := readReply(br, false, nil)
		if err != nil || r.Code != want {
			t.Fatalf("readReply = %+v, %v; want code %d", r, err, want)
		}
	}
}

func TestErrorFormatting(t *testing.T) {
	tests := []struct {
		err                  *Error
		want                 string
		temporary, permanent bool
	}{
		{&Error{Command: "RCPT", Reply: Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}},
			"smtp: RCPT: 550 5.1.1 no such user", false, true},
		{&Error{Command: "MAIL", Reply: Reply{Code: 450, Enhanced: "4.7.1", Text: "too much mail\nfrom you"}},
			"smtp: MAIL: 450 4.7.1 too much mail from you", true, false},
		{&Error{Command: "greeting", Reply: Reply{Code: 554}}, "smtp: greeting: 554", false, true},
		{&Error{Command: "DATA", Reply: Reply{Code: 354, Text: "go ahead"}}, "smtp: DATA: 354 go ahead", false, false},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if got := tt.err.Temporary(); got != tt.temporary {
			t.Errorf("%q Temporary() = %v", tt.want, got)
		}
		if got := tt.err.Permanent(); got != tt.permanent {
			t.Errorf("%q Permanent() = %v", tt.want, got)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestConnErrorTimeout(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{os.ErrDeadlineExceeded, true},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, true},
		{fmt.Errorf("wrapped: %w", os.ErrDeadlineExceeded), true},
		{context.Canceled, false},
		{io.EOF, false},
		{ErrMalformedReply, false},
	}
	for _, tt := range tests {
		e := &ConnError{Op: "RCPT", Err: tt.err}
		if got := e.Timeout(); got != tt.want {
			t.Errorf("ConnError{%v}.Timeout() = %v, want %v", tt.err, got, tt.want)
		}
		if !errors.Is(e, tt.err) {
			t.Errorf("ConnError{%v} does not unwrap to its cause", tt.err)
		}
	}
}

// FuzzReadReply feeds arbitrary input to the reply parser: it must never
// panic or read more than it is given, and a reply it accepts must come out
// the same when written back in canonical form and parsed again.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 OK\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 no\r\n", "250-\r\n250\r\n", "421 4.7.0 bye\n",
		"250-x\r\n251 y\r\n", "garbage\r\n", "334 \r\n", "250 2.0.0\r\n", "250 a\x00b\r\n", "250 2.0.0ok\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, enhanced bool) {
		br := bufio.NewReaderSize(strings.NewReader(string(in)), maxReplyLine)
		r, err := readReply(br, enhanced, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformedReply) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("readReply(%q): unexpected error kind %v", in, err)
			}
			return
		}
		if r.Code < 200 || r.Code > 559 {
			t.Fatalf("readReply(%q): code %d out of range", in, r.Code)
		}
		if !utf8.ValidString(r.Text) {
			t.Fatalf("readReply(%q): text %q is not UTF-8", in, r.Text)
		}
		for _, c := range r.Text {
			if c != '\t' && c != '\n' && !unicode.IsGraphic(c) {
				t.Fatalf("readReply(%q): %U in text %q", in, c, r.Text)
			}
		}
		// Write it back canonically and parse it again.
		var b strings.Builder
		textLines := strings.Split(r.Text, "\n")
		for i, l := range textLines {
			b.WriteString(strconv.Itoa(r.Code))
			if i < len(textLines)-1 {
				b.WriteByte('-')
			} else {
				b.WriteByte(' ')
			}
			if r.Enhanced != "" {
				b.WriteString(r.Enhanced + " ")
			}
			b.WriteString(l + "\r\n")
		}
		again, err := readReply(bufio.NewReaderSize(strings.NewReader(b.String()), 2*maxReplyLine), enhanced, nil)
		if err != nil {
			t.Fatalf("re-reading %q (from %q): %v", b.String(), in, err)
		}
		if again.Code != r.Code || again.Enhanced != r.Enhanced {
			t.Fatalf("re-reading %q: %+v, first %+v", b.String(), again, r)
		}
	})
}
