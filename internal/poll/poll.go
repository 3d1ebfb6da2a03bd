// Package poll holds the tests' one helper for waiting until a state is
// reached, unit and integration tests alike. Prefer a signal the code
// under test gives (a channel, an event, a line from a server); poll
// when there is none.
package poll

import (
	"errors"
	"testing"
	"time"
)

// The wait between two checks starts at First and doubles up to Max:
// in-process state is seen within milliseconds, and a real server asked
// again and again is not hammered.
const (
	First = 2 * time.Millisecond
	Max   = 250 * time.Millisecond
)

var errNotYet = errors.New("not yet")

// Until checks cond until it returns true, and fails the test with what
// (a description of the awaited state) if timeout passes first.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	Check(t, what, timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// Check is Until for a check that can say why the state is not reached
// yet: check returns nil once it is, else an error describing what it
// saw (a server's answer, a count), which the failure ends with.
func Check(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Wait(timeout, check); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}

// Wait is Check without a test: it returns check's last error when
// timeout passed first, else nil.
func Wait(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	wait := First
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
		wait = min(2*wait, Max)
	}
}
