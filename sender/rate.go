package sender

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// RateError is the error ParseRate returns for a rate it cannot read.
type RateError struct {
	Rate string // as given
	Err  error  // what is wrong with it
}

// Error quotes the rate and says what is wrong.
func (e *RateError) Error() string { return fmt.Sprintf("rate %q: %v", e.Rate, e.Err) }

// Unwrap returns Err.
func (e *RateError) Unwrap() error { return e.Err }

// ParseRate parses a sending rate: a number of messages per second, minute
// or hour written "10/s", "600/m" or "3000/h" (the number may have a
// fraction: "0.5/s"). "" means unlimited and returns [rate.Inf]; a rate of 0 is an
// error, since it would send nothing.
func ParseRate(s string) (rate.Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return rate.Inf, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, &RateError{Rate: s, Err: errors.New("missing unit")}
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, &RateError{Rate: s, Err: fmt.Errorf("unit %q is not s, m or h", unit)}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
		return 0, &RateError{Rate: s, Err: fmt.Errorf("%q is not a number of messages", num)}
	}
	if n == 0 {
		// Zero messages per second would send nothing, and meaning
		// "unlimited" by it surprises: no rate is written as none.
		return 0, &RateError{Rate: s, Err: errors.New("a rate of 0 would send nothing")}
	}
	return rate.Limit(n / per.Seconds()), nil
}

// FormatRate formats a limit for people: "unlimited", or messages per
// second, minute or hour, whichever reads best ("12.5/s", "30/m", "90/h").
func FormatRate(l rate.Limit) string {
	switch {
	case l == rate.Inf:
		return "unlimited"
	case l >= 1:
		return trimFloat(float64(l)) + "/s"
	case l*60 >= 1:
		return trimFloat(float64(l)*60) + "/m"
	default:
		return trimFloat(float64(l)*3600) + "/h"
	}
}

// trimFloat formats v with at most two decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
