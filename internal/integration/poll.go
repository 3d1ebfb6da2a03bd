package integration

import (
	"testing"
	"time"
)

// Poll bounds of [Eventually]: the first retry comes soon, later ones back
// off so that a slow server is not hammered.
const (
	pollFirst = 10 * time.Millisecond
	pollMax   = 500 * time.Millisecond
)

// Eventually is the one polling helper of the integration tests, for state
// that no event announces (a server's view read by a query, a file, a
// count): it calls check until it returns nil, waiting 10 ms after the
// first try and doubling up to 500 ms, and fails t with what and check's
// last error once timeout has passed. Prefer waiting for the event itself
// (Client.WaitForEvent, IRCClient.WaitFor, XMPPClient.Wait) when there is
// one.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("%s: not so after %v: %v", what, timeout, err)
	}
}

// poll is Eventually without the test: the last error, or nil.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	wait := pollFirst
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, pollMax)
	}
}
