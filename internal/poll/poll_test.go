package poll

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTB records Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	failed    string
	failedMsg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
	f.failedMsg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestUntil(t *testing.T) {
	n := 0
	Until(t, "the third check", time.Second, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestUntilTimesOut(t *testing.T) {
	f := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v, want the fake's Fatalf", r)
			}
		}()
		Until(f, "never", 10*time.Millisecond, func() bool { return false })
	}()
	if !strings.Contains(f.failed, "timed out") {
		t.Fatalf("failure %q does not say it timed out", f.failed)
	}
}

// TestCheckEndsWithTheLastError: Check retries until the check passes,
// and a check that never passes fails the test with its last error,
// within about the timeout.
func TestCheckEndsWithTheLastError(t *testing.T) {
	n := 0
	Check(t, "the fourth try", 5*time.Second, func() error {
		if n++; n < 4 {
			return fmt.Errorf("try %d", n)
		}
		return nil
	})
	f := &fakeTB{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v, want the fake's Fatalf", r)
			}
		}()
		Check(f, "never", 100*time.Millisecond, func() error { return errors.New("saw 3 of 4") })
	}()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Check overran its timeout: %v", took)
	}
	if !strings.Contains(f.failedMsg, "saw 3 of 4") {
		t.Fatalf("failure %q does not end with the check's last error", f.failedMsg)
	}
}
