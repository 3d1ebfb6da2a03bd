package appservice

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// Inbox is the durable store of received events. It is implemented by
// *store.Store.
type Inbox interface {
	// AddTransaction stores the events of transaction txnID atomically and
	// returns the events it had not seen before (by event ID), in Seq order.
	// seenTxn reports that txnID itself was already recorded.
	AddTransaction(ctx context.Context, txnID string, events []store.InboxEvent) (added []store.InboxEvent, seenTxn bool, err error)
	// PendingEvents returns up to limit events not yet marked done, ordered
	// by Seq.
	PendingEvents(ctx context.Context, limit int) ([]store.InboxEvent, error)
	// MarkEventsDone records that the events with the given Seqs were
	// processed.
	MarkEventsDone(ctx context.Context, seqs ...int64) error
}

// Handler receives what the homeserver pushes. It is implemented by the core
// router. HandleEvent must be idempotent (see the package documentation).
type Handler interface {
	// HandleEvent handles a timeline or state event. Events of one room are
	// delivered one at a time, in room order.
	HandleEvent(ctx context.Context, evt *matrix.Event) error
	// HandleEphemeral handles a typing, receipt or presence event. These are
	// not stored and not retried.
	HandleEphemeral(ctx context.Context, evt *matrix.Event)
	// QueryUser reports whether the user exists now, creating it if the
	// application service wants it to exist.
	QueryUser(ctx context.Context, id matrix.UserID) (bool, error)
	// QueryAlias reports whether a room with the alias exists now, creating
	// it if the application service wants it to exist.
	QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error)
}

// RetryPolicy says how often and how patiently a failing HandleEvent call is
// retried before the event is given up.
type RetryPolicy struct {
	// Attempts is the total number of calls, the first one included
	// (default 5).
	Attempts int
	// InitialBackoff is the wait after the first failure (default 200ms);
	// it doubles after every further failure.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between attempts (default 10s).
	MaxBackoff time.Duration
}

// Options configure a [Server]. HSToken, Inbox and Handler are required.
type Options struct {
	// ListenAddr is the address Start listens on: TCP host:port such as
	// "127.0.0.1:29320", or "unix:PATH" for a Unix socket (a stale socket
	// file nobody listens on is replaced). When empty, Start only starts
	// processing and the caller serves HTTPHandler itself.
	ListenAddr string
	// HSToken is the hs_token of the registration; the homeserver presents
	// it on every request.
	HSToken string
	// Inbox stores transactions durably.
	Inbox Inbox
	// Handler receives events and queries.
	Handler Handler
	// SkipEvent, when set, names events that are neither stored nor
	// processed: the bridge's own echoes, which the homeserver sends back
	// and which would cost a durable write and a read each for nothing.
	SkipEvent func(*matrix.Event) bool
	// Logger receives the server's logs (default: slog.Default()).
	Logger *slog.Logger

	// MaxBodyBytes limits request bodies (default 32 MiB).
	MaxBodyBytes int64
	// MaxWorkers bounds the rooms processed concurrently (default 32).
	MaxWorkers int
	// MaxQueuedEvents bounds the events held in memory; the rest wait in
	// the store (default 10000).
	MaxQueuedEvents int
	// MaxEphemeralQueue bounds ephemeral events waiting for the handler;
	// beyond it they are dropped with a warning (default 1024).
	MaxEphemeralQueue int
	// Retry is the handler retry policy.
	Retry RetryPolicy

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// HTTP server timeouts (defaults 10s, 60s, 60s, 120s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxIdleConns caps the keep-alive connections held open between
	// requests; beyond it the longest idle are closed (default 16). It
	// protects against homeservers that open a connection per transaction
	// and never reuse it.
	MaxIdleConns int
	// AckBody says what a stored transaction's 200 answer carries:
	// AckBodyAuto (the default) sends no body to clients with Go's default
	// User-Agent (Dendrite, which never closes response bodies and would
	// otherwise leak a connection per transaction) and the spec's "{}" to
	// everyone else; AckBodyJSON always "{}"; AckBodyEmpty never a body.
	AckBody AckBody
}

// AckBody selects the body of a transaction's 200 answer (Options.AckBody).
type AckBody string

// The AckBody values.
const (
	AckBodyAuto  AckBody = "auto"
	AckBodyJSON  AckBody = "json"
	AckBodyEmpty AckBody = "empty"
)

// ErrInvalidOptions is returned (wrapped) by [New] when a required option
// is missing.
var ErrInvalidOptions = errors.New("appservice: invalid options")

// ErrStarted is returned by Start and Serve when the server was started
// before.
var ErrStarted = errors.New("appservice: server already started")

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.MaxBodyBytes, 32<<20)
	setDefault(&o.MaxWorkers, 32)
	setDefault(&o.MaxQueuedEvents, 10000)
	setDefault(&o.MaxEphemeralQueue, 1024)
	setDefault(&o.Retry.Attempts, 5)
	setDefault(&o.Retry.InitialBackoff, 200*time.Millisecond)
	setDefault(&o.Retry.MaxBackoff, 10*time.Second)
	setDefault(&o.ReadHeaderTimeout, 10*time.Second)
	setDefault(&o.ReadTimeout, 60*time.Second)
	setDefault(&o.WriteTimeout, 60*time.Second)
	setDefault(&o.IdleTimeout, 120*time.Second)
	setDefault(&o.MaxIdleConns, 16)
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (o *Options) validate() error {
	switch {
	case o.HSToken == "":
		return fmt.Errorf("%w: hs_token is empty", ErrInvalidOptions)
	case o.Inbox == nil:
		return fmt.Errorf("%w: no inbox", ErrInvalidOptions)
	case o.Handler == nil:
		return fmt.Errorf("%w: no handler", ErrInvalidOptions)
	}
	switch o.AckBody {
	case "", AckBodyAuto, AckBodyJSON, AckBodyEmpty:
	default:
		return fmt.Errorf("%w: ack body %q is not auto, json or empty", ErrInvalidOptions, o.AckBody)
	}
	return nil
}

// Server is the application service's HTTP endpoint and event processor.
// Create it with [New], then call Start or Serve once, and Stop.
type Server struct {
	opts      Options
	log       *slog.Logger
	tokenHash [sha256.Size]byte
	echo      *echo.Echo
	http      *http.Server
	disp      *dispatcher
	eph       *ephemeralQueue
	idle      *idleConns

	mu      sync.Mutex
	started bool
	ln      net.Listener
	served  chan struct{} // closed when the HTTP server stopped serving
}

// New checks opts and builds a Server. It starts nothing.
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		tokenHash: sha256.Sum256([]byte(opts.HSToken)),
	}
	s.disp = newDispatcher(opts.Inbox, opts.Handler, opts.Logger, dispatcherLimits{
		workers: opts.MaxWorkers,
		queued:  opts.MaxQueuedEvents,
		retry:   opts.Retry,
	})
	s.eph = newEphemeralQueue(opts.Handler, opts.Logger, opts.MaxEphemeralQueue)
	s.echo = s.newEcho()
	s.idle = newIdleConns(opts.MaxIdleConns)
	s.http = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ConnState:         s.idle.track,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// HTTPHandler returns the Appservice API handler, for tests and for callers
// that serve it themselves (with Options.ListenAddr empty). Transactions are
// stored as soon as it receives them but only processed once the Server is
// started.
func (s *Server) HTTPHandler() http.Handler { return s.echo }

// Start resumes the events left pending in the inbox (loading them before
// any new transaction can be received), starts processing and, when
// Options.ListenAddr is set, listens and serves HTTP in the background. ctx
// bounds the startup only; use Stop to stop the server.
func (s *Server) Start(ctx context.Context) error {
	var ln net.Listener
	if s.opts.ListenAddr != "" {
		var err error
		ln, err = Listen(ctx, s.opts.ListenAddr)
		if err != nil {
			return fmt.Errorf("appservice: listen on %s: %w", s.opts.ListenAddr, err)
		}
	}
	if err := s.start(ctx, ln); err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return err
	}
	if ln != nil {
		go s.serve(ln)
	}
	return nil
}

// Serve is like Start but serves HTTP on ln and blocks until Stop is called
// (it then returns nil) or serving fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.start(ctx, ln); err != nil {
		return err
	}
	return s.serve(ln)
}

// Stats returns a snapshot of the processing state.
func (s *Server) Stats() Stats { return s.disp.stats() }

// Addr returns the address the server listens on, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) start(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	if err := s.disp.start(ctx); err != nil {
		return err
	}
	s.eph.start()
	s.started = true
	s.ln = ln
	if ln != nil {
		s.served = make(chan struct{})
		s.log.Info("appservice listening", "addr", ln.Addr().String())
	}
	return nil
}

func (s *Server) serve(ln net.Listener) error {
	defer close(s.served)
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	s.log.Error("appservice http server failed", "err", err)
	return fmt.Errorf("appservice: serve: %w", err)
}

// Stop shuts the server down gracefully: new transactions are refused, in-flight
// HTTP requests finish, each worker finishes the event it is handling, done
// marks are flushed, and everything else stays pending in the inbox. If ctx
// ends first, handlers still running are cancelled and Stop returns ctx's
// error.
func (s *Server) Stop(ctx context.Context) error {
	s.disp.closeIntake()
	var errs []error
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if served != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("appservice: http shutdown: %w", err))
		}
		select {
		case <-served:
		case <-ctx.Done():
		}
	}
	if err := s.disp.stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.eph.stop(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
