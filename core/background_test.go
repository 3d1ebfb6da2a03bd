package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/registration"
)

// stopModule records whether its background work's ctx was cancelled when
// the core called its Stop.
type stopModule struct {
	fakeModule
	workCtx     context.Context
	workStopped bool
	stopped     chan struct{} // closed by Stop
}

func (s *stopModule) Stop(context.Context) error {
	s.workStopped = s.workCtx.Err() != nil
	close(s.stopped)
	return nil
}

// TestHostGoStoppedWithModule: Host.Go work has its ctx cancelled when the
// module is stopped, and Bridge.Stop waits for it after the module's Stop
// and before it closes the store, which the work can still use.
func TestHostGoStoppedWithModule(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("homeserver:\n  url: http://127.0.0.1:1\n  server_name: hs\n"+
		"appservice:\n  address: 127.0.0.1:0\n  registration: "+filepath.Join(dir, "reg.yaml")+"\n"+
		"database:\n  url: sqlite:"+filepath.Join(dir, "c.db")+"\n"), "config.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	m := &stopModule{fakeModule: fakeModule{id: "m"}, stopped: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := New(t.Context(), Options{Config: cfg, Logger: log, Modules: []bridges.Module{m},
		Registration: &registration.Registration{ASToken: "as", HSToken: "hs", SenderLocalpart: "bot"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{b: b, log: log}
	h.bg = newBackground(t.Context(), log)
	b.started, b.hosts = []bridges.Module{m}, []*host{h}

	workCtx := make(chan context.Context)
	release := make(chan struct{})
	workErr := make(chan error, 1)
	h.Go(func(ctx context.Context) {
		workCtx <- ctx
		<-ctx.Done()
		<-release
		workErr <- b.store.PutKV(context.WithoutCancel(ctx), "m", "k", []byte("v"))
	})
	m.workCtx = <-workCtx
	stopped := make(chan error, 1)
	go func() { stopped <- b.Stop(context.Background()) }()
	<-m.stopped
	if !m.workStopped {
		t.Error("the work's ctx was still live when the module's Stop was called")
	}
	select {
	case err := <-stopped:
		t.Fatalf("Bridge.Stop returned (%v) while the module's background work was running", err)
	default:
	}
	close(release)
	if err := <-workErr; err != nil {
		t.Errorf("the background work could not use the store: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	h.Go(func(context.Context) { close(ran) })
	select {
	case <-ran:
		t.Error("Host.Go ran work after the module stopped")
	default:
	}
}

// TestBackgroundWaitBounded: waiting for work that ignores its ctx ends
// with Stop's deadline, with an error saying so.
func TestBackgroundWaitBounded(t *testing.T) {
	bg := newBackground(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	stuck := make(chan struct{})
	defer close(stuck)
	bg.Go(func(context.Context) { <-stuck })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := bg.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait = %v, want a deadline error", err)
	}
}
