package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// background is one module's work started with Host.Go: its context is
// cancelled when the module begins to stop, and the core waits for it
// after the module's Stop, before the outbox and the store go.
type background struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool // no new work: the core is waiting or has waited
	wg     sync.WaitGroup
}

func newBackground(parent context.Context, log *slog.Logger) *background {
	ctx, cancel := context.WithCancel(parent)
	return &background{log: log, ctx: ctx, cancel: cancel}
}

// Go runs f on a goroutine of its own, tracked. Once the wait has begun,
// f is not run.
func (b *background) Go(f func(ctx context.Context)) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.log.Debug("background work not started: the module has stopped")
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		f(b.ctx)
	}()
}

// wait takes no new work, cancels the work's context (if stop has not
// already) and waits for the work to return, or for ctx to end.
func (b *background) wait(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background work still running: %w", ctx.Err())
	}
}
