// Package bridgetest is test support for the core and bridge modules:
// Start runs a complete Causeway bridge in-process against a real
// homeserver (integration tests), and NewHost is a fake bridges.Host for
// a module's unit tests, with a real store, a recording outbox and a
// Matrix client pointed at a fakehs.Homeserver, the shared in-process fake homeserver.
package bridgetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	HS      *integration.Dendrite
	Bridge  *core.Bridge
	Config  *config.Config
	Reg     *registration.Registration
	Dir     string
	modules *bridges.Registry
	stopped bool
	t       testing.TB
	// logHandler is Options.LogHandler, kept for restarts.
	logHandler slog.Handler
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
	// LogHandler, when set, receives every record the bridge logs (debug
	// and above), in every run of StartBridge, besides the usual output:
	// say a *LogRecorder, to check the levels logged.
	LogHandler slog.Handler
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
	s := &Stack{HS: hs, Config: cfg, Reg: r, Dir: dir, modules: reg, t: t, logHandler: opts.LogHandler}
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
	var h slog.Handler = slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})
	if s.logHandler != nil {
		h = slog.NewMultiHandler(h, s.logHandler)
	}
	ctx := context.Background()
	b, err := core.New(ctx, core.Options{Config: s.Config, Registration: s.Reg, Modules: mods, Logger: slog.New(h)})
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

// LogRecorder is a slog.Handler keeping every record it is given, for
// Options.LogHandler. Its zero value is ready; it is safe for concurrent
// use.
type LogRecorder struct {
	mu   sync.Mutex
	kept []LogRecord
}

// LogRecord is one record a LogRecorder kept: the record and the
// attributes of the logger it came through (slog.Logger.With).
type LogRecord struct {
	slog.Record
	// LoggerAttrs are the logger's attributes, outermost first; group
	// names are not kept.
	LoggerAttrs []slog.Attr
}

// String formats r as "LEVEL message key=value ...".
func (r LogRecord) String() string {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range r.LoggerAttrs {
		write(a)
	}
	r.Record.Attrs(write)
	return b.String()
}

// Records returns the records kept at level min or above, in order.
func (l *LogRecorder) Records(min slog.Level) []LogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LogRecord
	for _, r := range l.kept {
		if r.Level >= min {
			out = append(out, r)
		}
	}
	return out
}

// Enabled implements slog.Handler: every level is kept.
func (l *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	return l.add(nil, r)
}

func (l *LogRecorder) add(attrs []slog.Attr, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kept = append(l.kept, LogRecord{Record: r.Clone(), LoggerAttrs: attrs})
	return nil
}

// WithAttrs implements slog.Handler.
func (l *LogRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{rec: l, attrs: slices.Clone(attrs)}
}

// WithGroup implements slog.Handler; the group name is not kept.
func (l *LogRecorder) WithGroup(string) slog.Handler { return l }

// recorderView is a LogRecorder seen through a logger with attributes.
type recorderView struct {
	rec   *LogRecorder
	attrs []slog.Attr
}

func (v *recorderView) Enabled(context.Context, slog.Level) bool { return true }

func (v *recorderView) Handle(_ context.Context, r slog.Record) error { return v.rec.add(v.attrs, r) }

func (v *recorderView) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{rec: v.rec, attrs: append(slices.Clone(v.attrs), attrs...)}
}

func (v *recorderView) WithGroup(string) slog.Handler { return v }
