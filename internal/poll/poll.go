// Package poll holds the tests' one helper for waiting until a condition
// holds. Prefer a signal the code under test gives; poll when there is none.
package poll

import (
	"testing"
	"time"
)

// Interval is how long Until sleeps between checks of the condition.
const Interval = 2 * time.Millisecond

// Until checks cond every Interval until it returns true, and fails the test
// with what (a description of the awaited state) if timeout passes first.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Interval)
	}
}
