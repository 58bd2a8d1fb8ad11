package sender

import (
	"math"
	"testing"

	"golang.org/x/time/rate"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want rate.Limit
	}{
		{"", rate.Inf},
		{"10/s", 10}, {"600/m", 10}, {"3000/h", 3000.0 / 3600}, {"0.5/s", 0.5}, {"1 / m", 1.0 / 60},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if err != nil || math.Abs(float64(got-tt.want)) > 1e-12 && got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRateErrors(t *testing.T) {
	for _, in := range []string{"0", " 0/s ", "0/h", "10", "10/d", "ten/s", "-1/s", "NaN/s", "Inf/s", "/s", "10/", "1e400/s"} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		in   rate.Limit
		want string
	}{
		{rate.Inf, "unlimited"}, {10, "10/s"}, {12.5, "12.5/s"}, {0.5, "30/m"}, {1.0 / 60, "1/m"}, {3000.0 / 3600, "50/m"}, {1.0 / 3600, "1/h"},
	}
	for _, tt := range tests {
		if got := FormatRate(tt.in); got != tt.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in == rate.Inf {
			continue
		}
		back, err := ParseRate(FormatRate(tt.in))
		if err != nil || math.Abs(float64(back-tt.in))/float64(tt.in) > 0.01 {
			t.Errorf("ParseRate(FormatRate(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10/s", "600/m", "3000/h", "", "0", "0.5/s", "1e3/h", "x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseRate(s)
		if err != nil {
			return
		}
		if !(l > 0) || math.IsNaN(float64(l)) {
			t.Fatalf("ParseRate(%q) = %v: not a positive limit", s, l)
		}
	})
}
