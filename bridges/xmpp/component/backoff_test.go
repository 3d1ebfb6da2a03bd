package component

import (
	"testing"
	"time"
)

// TestBackoff: the wait doubles from min up to max and is jittered within
// the upper half of each step.
func TestBackoff(t *testing.T) {
	lo := func() float64 { return 0 }
	hi := func() float64 { return 0.999999 }
	for i, tt := range []struct {
		n        int
		min, max time.Duration
		want     time.Duration // the step before jitter
	}{
		0: {0, time.Second, time.Minute, time.Second},
		1: {1, time.Second, time.Minute, 2 * time.Second},
		2: {5, time.Second, time.Minute, 32 * time.Second},
		3: {6, time.Second, time.Minute, time.Minute},
		4: {1000, time.Second, time.Minute, time.Minute},
	} {
		if got := Backoff(tt.n, tt.min, tt.max, lo); got != tt.want/2 {
			t.Errorf("%d: low jitter = %v, want %v", i, got, tt.want/2)
		}
		if got := Backoff(tt.n, tt.min, tt.max, hi); got > tt.want || got < tt.want-time.Millisecond {
			t.Errorf("%d: high jitter = %v, want just under %v", i, got, tt.want)
		}
	}
}
