package ircconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// Defaults applied by [Dial] to zero fields of [Config].
const (
	// DefaultPingInterval is how long a connection may be idle before a
	// keep-alive PING is sent.
	DefaultPingInterval = 90 * time.Second
	// DefaultPingTimeout is how long to wait for any line after a
	// keep-alive PING before giving up with [ErrPingTimeout].
	DefaultPingTimeout = 60 * time.Second
	// DefaultRegisterTimeout bounds [Dial] when its context has no earlier
	// deadline.
	DefaultRegisterTimeout = 60 * time.Second
	// DefaultConfirmTimeout bounds the wait for a delivery confirmation
	// when the caller's context has no earlier deadline.
	DefaultConfirmTimeout = 30 * time.Second
	// maxNickAttempts bounds nick fallbacks during registration.
	maxNickAttempts = 10
)

// DefaultCaps are the capabilities requested when [Config.Caps] is nil, each
// only if the server offers it. draft/event-playback makes CHATHISTORY
// replay joins, parts and quits as themselves; without it Ergo replays them
// as NOTICEs from HistServ, which would read as messages.
var DefaultCaps = []string{
	"server-time", "message-tags", "echo-message", "batch", "labeled-response",
	"account-tag", "away-notify", "multi-prefix", "chghost", "extended-join", "sasl",
	"draft/chathistory", "draft/event-playback", "draft/relaymsg", "draft/multiline", "cap-notify",
	"userhost-in-names", "setname", "draft/message-redaction",
}

// SASL mechanisms supported by [SASL].
const (
	// MechanismPlain sends Username and Password.
	MechanismPlain = "PLAIN"
	// MechanismExternal authenticates with the TLS client certificate of
	// [Config.TLS]; Username, when set, is sent as the authorization
	// identity.
	MechanismExternal = "EXTERNAL"
)

// SASL holds credentials for SASL authentication during registration.
type SASL struct {
	// Mechanism is [MechanismPlain] (the default) or [MechanismExternal].
	Mechanism string
	// Username is the account name.
	Username string
	// Password is the account password (PLAIN only). It is never logged.
	Password string
}

// LogValue hides the password.
func (s SASL) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", s.Mechanism), slog.String("username", s.Username))
}

// WebIRC holds a WEBIRC gateway identity, sent before anything else so that
// the server shows the bridged user's own host and IP.
type WebIRC struct {
	// Password is the gateway password agreed with the server. It is never
	// logged.
	Password string
	// Gateway names the gateway software.
	Gateway string
	// Hostname and IP are the user's host name and address.
	Hostname, IP string
}

// LogValue hides the password.
func (w WebIRC) LogValue() slog.Value {
	return slog.GroupValue(slog.String("gateway", w.Gateway), slog.String("hostname", w.Hostname), slog.String("ip", w.IP))
}

// Handler receives what a registered [Conn] reads. Its methods run on the
// connection's reader goroutine, one at a time and in order; they must not
// block for long, or the connection stops reading (and answering PING).
type Handler interface {
	// HandleMessage receives every message not consumed by the connection
	// itself: PING/PONG, CAP, BATCH framing and the replies that confirm a
	// [Conn.SendMessage] are not passed on.
	HandleMessage(c *Conn, m *ircmsg.Message)
	// HandleBatch receives a complete top-level batch (nested batches
	// inside it).
	HandleBatch(c *Conn, b *Batch)
	// HandleClose is called once when the connection has ended, with the
	// reason ([Conn.Err]).
	HandleClose(c *Conn, err error)
}

// Config configures [Dial].
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// TLS enables TLS when not nil. An empty ServerName is set from Addr.
	TLS *tls.Config
	// Dialer dials the TCP connection, for example from a per-user
	// LocalAddr; nil means a zero net.Dialer.
	Dialer *net.Dialer

	// Nick is the nick to register with. User defaults to Nick, RealName
	// to User.
	Nick, User, RealName string
	// ServerPassword is sent with PASS when not empty. It is never logged.
	ServerPassword string
	// SASL authenticates during registration when not nil, and fails
	// closed: if the server lacks SASL or rejects it, Dial returns
	// [ErrSASLFailed] and the connection never registers.
	SASL *SASL
	// WebIRC is sent first when not nil.
	WebIRC *WebIRC
	// Shared, when not nil, is shared by the connections to one network
	// so that they keep one copy of what they have in common (see
	// [Shared]).
	Shared *Shared
	// Caps lists the capabilities to request when offered; nil means
	// [DefaultCaps]. "sasl" is added when SASL is set.
	Caps []string
	// NickFallback returns the nick to try after the server refused
	// tried (432, 433, 436 or 437) during registration; attempt counts
	// from 1. Nil means Nick+"_", then Nick+"1", Nick+"2" and so on. An
	// empty result gives up with [ErrNickUnavailable]. After registration,
	// 433 and the like go to the Handler.
	NickFallback func(attempt int, tried string) string

	// FloodRate is the sustained number of lines per second sent by
	// Send and SendMessage; 0 means unlimited. FloodBurst is the number of
	// lines that may be sent at once (at least 1). PONG, QUIT and
	// SendPriority bypass flood control.
	FloodRate  float64
	FloodBurst int

	// PingInterval is how long the connection may be idle before a PING
	// is sent, and PingTimeout how long to wait for any line after it
	// before ending with [ErrPingTimeout]. Zero means the defaults;
	// a negative PingInterval disables keep-alive.
	PingInterval, PingTimeout time.Duration
	// ReadAhead, when positive, reads the socket on a goroutine of its own
	// into memory, up to this many bytes ahead of the Handler, so a burst
	// never fills the server's send queue while lines wait to be handled
	// (for a connection that reads for many, like a bridge's bot). Zero:
	// lines are read as they are handled.
	ReadAhead int
	// ConfirmTimeout bounds the wait of [Conn.SendMessage] for a
	// confirmation when the context has no earlier deadline; zero means
	// [DefaultConfirmTimeout].
	ConfirmTimeout time.Duration

	// OnConnect, when set, is called once the TCP connection is up and
	// before registration starts, with its local and remote addresses (an
	// ident server answers the IRC server's query about this port pair).
	OnConnect func(local, remote net.Addr)

	// Logger receives diagnostics; nil discards them. Passwords and SASL
	// payloads are never logged.
	Logger *slog.Logger
	// Handler receives messages after registration; nil ignores them.
	Handler Handler
	// SkipOthers, when set, is asked before parsing about each line
	// another client caused (a source with "nick!" other than this
	// connection's nick), untagged by a batch or label: with the line's
	// command and first parameter. A line it skips is dropped unparsed
	// and costs no allocation. A connection that sits in a busy channel
	// only to speak for its user reads every other member's JOIN, QUIT
	// and message; this is how it stops paying for them.
	SkipOthers func(command, target []byte) bool
}

// LogValue hides the secrets of the configuration.
func (cfg Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("addr", cfg.Addr), slog.Bool("tls", cfg.TLS != nil), slog.String("nick", cfg.Nick)}
	if cfg.SASL != nil {
		attrs = append(attrs, slog.Any("sasl", *cfg.SASL))
	}
	if cfg.WebIRC != nil {
		attrs = append(attrs, slog.Any("webirc", *cfg.WebIRC))
	}
	return slog.GroupValue(attrs...)
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.User == "" {
		cfg.User = cfg.Nick
	}
	if cfg.RealName == "" {
		cfg.RealName = cfg.User
	}
	if cfg.Caps == nil {
		cfg.Caps = DefaultCaps
	}
	if cfg.SASL != nil && cfg.SASL.Mechanism == "" {
		s := *cfg.SASL
		s.Mechanism = MechanismPlain
		cfg.SASL = &s
	}
	if cfg.NickFallback == nil {
		base := cfg.Nick
		cfg.NickFallback = func(attempt int, _ string) string {
			if attempt == 1 {
				return base + "_"
			}
			return base + strconv.Itoa(attempt-1)
		}
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = DefaultConfirmTimeout
	}
	if cfg.FloodBurst < 1 {
		cfg.FloodBurst = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Handler == nil {
		cfg.Handler = nopHandler{}
	}
	return cfg
}

// validate reports configuration mistakes that would otherwise surface as
// confusing server replies.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.Addr == "" {
		errs = append(errs, errors.New("empty Addr"))
	}
	if cfg.Nick == "" || !validParam(cfg.Nick) || !validParam(cfg.User) {
		errs = append(errs, fmt.Errorf("invalid Nick or User %q/%q", cfg.Nick, cfg.User))
	}
	if s := cfg.SASL; s != nil && s.Mechanism != MechanismPlain && s.Mechanism != MechanismExternal {
		errs = append(errs, fmt.Errorf("unsupported SASL mechanism %q", s.Mechanism))
	}
	if w := cfg.WebIRC; w != nil && (!validParam(w.Password) || !validParam(w.Gateway) || !validParam(w.Hostname) || !validParam(w.IP)) {
		errs = append(errs, errors.New("invalid WebIRC field"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ircconn: config: %w", err)
	}
	return nil
}

// validParam reports whether s can be a non-final IRC parameter.
func validParam(s string) bool {
	if s == "" || s[0] == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\r', '\n', 0:
			return false
		}
	}
	return true
}

// nopHandler ignores everything.
type nopHandler struct{}

func (nopHandler) HandleMessage(*Conn, *ircmsg.Message) {}
func (nopHandler) HandleBatch(*Conn, *Batch)            {}
func (nopHandler) HandleClose(*Conn, error)             {}
