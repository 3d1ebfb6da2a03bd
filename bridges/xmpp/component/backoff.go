package component

import "time"

// Backoff returns the wait before reconnect attempt n (0 for the first
// after a loss): min doubled n times, capped at max, then "equal jitter":
// a uniformly random point in its upper half, so that many bridges that
// lost one server do not come back at the same instant. rnd returns a
// number in [0, 1).
func Backoff(n int, min, max time.Duration, rnd func() float64) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}
