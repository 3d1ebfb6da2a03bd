package irc

import (
	"testing"
	"time"
)

// TestReconnectBackoff: a dropped connection waits between min_delay and
// max_delay, doubling per attempt, each wait jittered between half and all
// of its step, so thousands of puppets dropped at once do not retry in
// lockstep.
func TestReconnectBackoff(t *testing.T) {
	cfg := &NetworkConfig{Reconnect: ReconnectConfig{MinDelay: 2 * time.Second, MaxDelay: time.Minute}}
	n := &network{cfg: cfg}
	tests := []struct {
		attempt int
		step    time.Duration // the un-jittered delay of this attempt
	}{
		0: {1, 2 * time.Second},
		1: {2, 4 * time.Second},
		2: {3, 8 * time.Second},
		3: {5, 32 * time.Second},
		4: {6, time.Minute}, // 64s capped
		5: {40, time.Minute},
		6: {1000, time.Minute}, // no overflow into a negative or zero shift
	}
	for i, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := n.backoff(tt.attempt)
			if d < tt.step/2 || d > tt.step {
				t.Fatalf("%d: attempt %d waited %v, want within [%v, %v]", i, tt.attempt, d, tt.step/2, tt.step)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("%d: attempt %d: only %d distinct delays in 200 tries: not jittered", i, tt.attempt, len(seen))
		}
	}
}
