package intent

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how requests that failed transiently (network errors, 5xx,
// 429) are retried. The zero value means the defaults documented on each field.
type RetryPolicy struct {
	// MaxAttempts bounds the tries of one call made through an Intent,
	// including the first one (default 6). The outbox ignores it: it retries
	// transient failures forever.
	MaxAttempts int
	// BaseDelay is the wait before the first retry (default 250ms); each
	// further retry doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the exponential backoff (default 30s). A longer
	// retry_after_ms asked for by a 429 answer is still honoured.
	MaxDelay time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 6
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// Delay returns the wait before retry number n (1 for the first retry) after
// err: the homeserver's retry_after when it gave one, otherwise exponential
// backoff capped at MaxDelay with jitter in [d/2, d].
func (p RetryPolicy) Delay(n int, err error) time.Duration {
	p = p.withDefaults()
	if ra := retryAfter(err); ra > 0 {
		return ra
	}
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type attemptsKey struct{}

// withAttempts returns a context that makes calls on it try at most n times
// (the outbox uses 1: it schedules its own retries without holding a worker).
func withAttempts(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptsKey{}, n)
}

func attemptsFrom(ctx context.Context, def int) int {
	if n, ok := ctx.Value(attemptsKey{}).(int); ok && n > 0 {
		return n
	}
	return def
}
