// Package bridgetest runs a complete Causeway bridge in-process against a
// real homeserver for integration tests of the core and of bridge modules.
// It is test support only.
package bridgetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/registration"
)

// Stack is a homeserver with a bridge registered on it.
type Stack struct {
	HS       *integration.Dendrite
	Bridge   *core.Bridge
	Config   *config.Config
	Reg      *registration.Registration
	Dir      string
	modules  *bridges.Registry
	stopped  bool
	t        testing.TB
	logLevel slog.Level
}

// Options tune Start.
type Options struct {
	// Bridges is the YAML of the "bridges:" section, indented by two
	// spaces per level as it would be under "bridges:".
	Bridges string
	// DatabaseURL overrides the default SQLite file in the temp dir.
	DatabaseURL string
	// EphemeralSync turns on the bot's /sync fallback.
	EphemeralSync bool
	// Registry overrides bridges.Default.
	Registry *bridges.Registry
}

// Start writes a config and registration, starts Dendrite with the
// registration and runs the bridge against it until the test ends.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	dir := t.TempDir()
	port := integration.FreePort(t)
	db := opts.DatabaseURL
	if db == "" {
		db = "sqlite:" + filepath.Join(dir, "causeway.db")
	}
	regPath := filepath.Join(dir, "registration.yaml")
	reg := opts.Registry
	if reg == nil {
		reg = bridges.Default
	}
	text := func(hsURL string) string {
		return fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\n  ephemeral_sync: %t\n"+
			"appservice:\n  address: 127.0.0.1:%d\n  registration: %s\n  admins: [\"@admin:localhost\"]\n"+
			"database:\n  url: %s\nlogging:\n  level: debug\nbridges:\n%s", hsURL, opts.EphemeralSync, port, regPath, db, opts.Bridges)
	}
	cfg, err := config.Parse([]byte(text("http://127.0.0.1:1")), "test-config", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := core.Modules(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registration.Generate(core.RegistrationSpec(cfg, mods), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(regPath); err != nil {
		t.Fatal(err)
	}
	hs := integration.StartDendrite(t, integration.WithRegistration(regPath))
	if cfg, err = config.Parse([]byte(text(hs.URL())), "test-config", os.LookupEnv); err != nil {
		t.Fatal(err)
	}
	s := &Stack{HS: hs, Config: cfg, Reg: r, Dir: dir, modules: reg, t: t}
	s.StartBridge()
	return s
}

// StartBridge (re)starts the bridge process part with fresh modules.
func (s *Stack) StartBridge() {
	t := s.t
	t.Helper()
	mods, err := core.Modules(s.Config, s.modules)
	if err != nil {
		t.Fatal(err)
	}
	logw := io.Writer(io.Discard)
	if testing.Verbose() {
		logw = os.Stderr
	}
	ctx := context.Background()
	b, err := core.New(ctx, core.Options{Config: s.Config, Registration: s.Reg, Modules: mods,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.Bridge = b
	s.stopped = false
	t.Cleanup(s.StopBridge)
}

// StopBridge stops the bridge gracefully (idempotent).
func (s *Stack) StopBridge() {
	if s.stopped || s.Bridge == nil {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Bridge.Stop(ctx); err != nil {
		s.t.Errorf("stop bridge: %v", err)
	}
}

// User registers a Matrix user on the homeserver.
func (s *Stack) User(ctx context.Context, name string) *integration.Client {
	s.t.Helper()
	c, err := integration.Register(ctx, s.HS.URL(), name, "password-"+name)
	if err != nil {
		s.t.Fatalf("register %s: %v", name, err)
	}
	return c
}
