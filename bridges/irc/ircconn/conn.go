package ircconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/ergochat/irc-go/ircmsg"
	"golang.org/x/time/rate"
)

const (
	// readBufSize is the reader's buffer: one untagged line.
	readBufSize = 512
	// maxLineLen is the longest line read: 8191 bytes of tags and a
	// 512-byte message.
	maxLineLen = ircmsg.MaxlenTags + ircfmt.LineLimit
	// writeTimeout bounds one write when the context has no earlier
	// deadline.
	writeTimeout = 30 * time.Second
	// quitTimeout bounds the QUIT written by Close.
	quitTimeout = 2 * time.Second
)

// errLineTooLong is returned by readLine for a line over maxLineLen, which
// is skipped.
var errLineTooLong = errors.New("line too long")

// Conn is a registered IRC connection. Its methods are safe for concurrent
// use.
type Conn struct {
	cfg     Config
	nc      net.Conn
	br      *bufio.Reader
	log     *slog.Logger
	limiter *rate.Limiter // nil: no flood control

	wmu sync.Mutex // serialises writes to nc

	mu       sync.Mutex // guards the fields below
	nick     string
	account  string
	caps     map[string]string // enabled capability → value offered
	isupport ISupport
	waiters  waiters
	batches  map[string]*Batch // open batches by reference
	nextID   uint64            // labels and batch references
	err      error
	pending  []*ircmsg.Message // non-numeric messages read during Dial after 001
	newCaps  map[string]string // values of capabilities requested after CAP NEW

	lastRead  atomic.Int64 // unix nanoseconds of the last line read
	pingSent  atomic.Int64 // unix nanoseconds of the outstanding PING, 0 if none
	timer     *time.Timer
	closeOnce sync.Once
	done      chan struct{}
}

// Dial connects to cfg.Addr and registers. It returns a registered
// connection, or an error saying why registration failed: [ErrSASLFailed],
// [ErrRejected] (wrapping a [*NumericError] with the server's words),
// [ErrNickUnavailable], [ErrDisconnected], or the context's error. Without
// a deadline on ctx, registration is bounded by [DefaultRegisterTimeout].
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultRegisterTimeout)
	defer cancel()
	nc, err := dialNet(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("ircconn: dial %s: %w", cfg.Addr, err)
	}
	if cfg.OnConnect != nil {
		cfg.OnConnect(nc.LocalAddr(), nc.RemoteAddr())
	}
	c := newConn(nc, cfg)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err = c.register(ctx)
	if !stop() && err != nil {
		err = fmt.Errorf("ircconn: register with %s: %w", cfg.Addr, context.Cause(ctx))
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
		// Used only while registering; the fallback may hold a list of
		// nicks that would otherwise live as long as the connection.
		c.cfg.NickFallback = nil
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	c.start()
	return c, nil
}

func dialNet(ctx context.Context, cfg *Config) (net.Conn, error) {
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil || cfg.TLS == nil {
		return nc, err
	}
	tc := cfg.TLS
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		tc = tc.Clone()
		tc.ServerName = host
	}
	tlsConn := tls.Client(nc, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tlsConn, nil
}

// newConn wraps nc; the connection is not registered and not reading yet.
func newConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{
		cfg:      cfg,
		nc:       nc,
		br:       bufio.NewReaderSize(nc, readBufSize),
		log:      cfg.Logger,
		nick:     cfg.Nick,
		isupport: defaultISupport(),
		done:     make(chan struct{}),
	}
	if cfg.FloodRate > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.FloodRate), cfg.FloodBurst)
	}
	return c
}

// start runs the reader goroutine and the keep-alive timer of a registered
// connection.
func (c *Conn) start() {
	c.lastRead.Store(time.Now().UnixNano())
	if c.cfg.PingInterval > 0 {
		c.mu.Lock()
		c.timer = time.AfterFunc(c.cfg.PingInterval, c.keepAlive)
		c.mu.Unlock()
	}
	if c.cfg.ReadAhead > 0 {
		// The old reader may hold bytes read past registration; the
		// read-ahead goroutine drains it first, then the socket.
		c.br = bufio.NewReaderSize(newReadAhead(c.br, c.cfg.ReadAhead), readBufSize)
	}
	go c.readLoop()
}

// readLoop reads and dispatches lines until the connection ends.
func (c *Conn) readLoop() {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, m := range pending {
		c.dispatch(m)
	}
	var err error
	for {
		m, rerr := c.readMessage()
		if rerr != nil {
			err = rerr
			break
		}
		if m != nil {
			c.dispatch(m)
		}
	}
	c.finish(fmt.Errorf("%w: %w", ErrDisconnected, err))
}

// readMessage reads and parses one line. It returns a nil message for a
// line that is skipped (empty, malformed or too long) and an error only
// when reading failed.
func (c *Conn) readMessage() (*ircmsg.Message, error) {
	line, err := c.readLine()
	switch {
	case errors.Is(err, errLineTooLong):
		c.log.Warn("irc line too long, skipped", slog.Int("max_bytes", maxLineLen))
		return nil, nil
	case errors.Is(err, errLineSkipped):
		c.lastRead.Store(time.Now().UnixNano())
		return nil, nil
	case err != nil:
		return nil, err
	}
	c.lastRead.Store(time.Now().UnixNano())
	m, err := ircmsg.ParseLineStrict(line, false, 0)
	if err != nil {
		if !errors.Is(err, ircmsg.ErrorLineIsEmpty) {
			c.log.Debug("malformed irc line skipped", slog.Any("err", err))
		}
		return nil, nil
	}
	return &m, nil
}

// readLine reads one line, CR LF included. Lines longer than the buffer
// are assembled in a temporary slice; lines over maxLineLen are discarded
// with errLineTooLong.
func (c *Conn) readLine() (string, error) {
	b, err := c.br.ReadSlice('\n')
	if err == nil {
		if c.cfg.SkipOthers != nil && c.skippable(b) {
			return "", errLineSkipped
		}
		return string(b), nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	long := append(make([]byte, 0, 2*len(b)), b...)
	for {
		b, err = c.br.ReadSlice('\n')
		if len(long)+len(b) > maxLineLen {
			return "", c.skipLine(err)
		}
		long = append(long, b...)
		if err == nil {
			return string(long), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

// skipLine discards the rest of an overlong line; err is the error of the
// last read.
func (c *Conn) skipLine(err error) error {
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = c.br.ReadSlice('\n')
	}
	if err != nil {
		return err
	}
	return errLineTooLong
}

// keepAlive runs on the keep-alive timer: it sends a PING after
// PingInterval of silence and ends the connection when nothing arrives
// within PingTimeout after it.
func (c *Conn) keepAlive() {
	c.mu.Lock()
	timer := c.timer
	c.mu.Unlock()
	if c.isDone() {
		return
	}
	now := time.Now()
	last := time.Unix(0, c.lastRead.Load())
	if sent := c.pingSent.Load(); sent != 0 {
		sentAt := time.Unix(0, sent)
		if last.Before(sentAt) {
			if wait := c.cfg.PingTimeout - now.Sub(sentAt); wait > 0 {
				timer.Reset(wait)
				return
			}
			c.log.Info("irc ping timeout", slog.Duration("timeout", c.cfg.PingTimeout))
			c.closeWithError(ErrPingTimeout)
			return
		}
		c.pingSent.Store(0)
	}
	if idle := now.Sub(last); idle < c.cfg.PingInterval {
		timer.Reset(c.cfg.PingInterval - idle)
		return
	}
	c.pingSent.Store(now.UnixNano())
	timer.Reset(c.cfg.PingTimeout)
	if err := c.SendPriority(context.Background(), nil, "PING", "causeway"); err != nil {
		c.log.Debug("irc keep-alive ping not sent", slog.Any("err", err))
	}
}

// finish ends the connection with err (unless an earlier reason was
// recorded), fails every waiting sender and tells the handler.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	ws := c.waiters.drain()
	c.batches = nil
	timer := c.timer
	c.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	_ = c.nc.Close()
	for _, w := range ws {
		w.resolve(nil, err)
	}
	c.log.Debug("irc connection ended", slog.Any("err", err))
	c.cfg.Handler.HandleClose(c, err)
	close(c.done)
}

// closeWithError records err as the reason and closes the socket; the
// reader goroutine then finishes.
func (c *Conn) closeWithError(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

// Close sends QUIT with reason (bounded by a short timeout) and closes the
// connection. It is idempotent, and does not wait for the handler:
// use [Conn.Done] for that. Afterwards [Conn.Err] wraps [ErrClosed].
func (c *Conn) Close(reason string) error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), quitTimeout)
		defer cancel()
		c.mu.Lock()
		if c.err == nil {
			c.err = ErrClosed
		}
		c.mu.Unlock()
		if line, err := buildLine(nil, "QUIT", []string{reason}, 0); err == nil {
			_ = c.writeLine(ctx, true, line)
		}
		_ = c.nc.Close()
	})
	return nil
}

// Done is closed when the connection has ended and [Handler.HandleClose]
// has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	if !c.isDone() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Nick returns the connection's current nick. It follows the server's
// welcome, registration fallbacks and NICK changes of this connection.
func (c *Conn) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// Account returns the account SASL logged in to (RPL_LOGGEDIN), or "".
func (c *Conn) Account() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.account
}

// Caps returns a copy of the enabled capabilities and the values the
// server advertised for them.
func (c *Conn) Caps() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.caps)
}

// HasCap reports whether capability name is enabled.
func (c *Conn) HasCap(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.caps[name]
	return ok
}

// ISupport returns what the server advertised in RPL_ISUPPORT (005). Its
// maps are shared and must not be modified.
func (c *Conn) ISupport() ISupport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isupport
}

// Casefold folds s by the server's CASEMAPPING (rfc1459 when none was
// advertised), so that equal folded strings name the same nick or channel.
func (c *Conn) Casefold(s string) string {
	c.mu.Lock()
	m := c.isupport.CaseMapping
	c.mu.Unlock()
	return ircfmt.Casefold(m, s)
}

// isSelf reports whether source (a nick or nick!user@host) is this
// connection's nick. The caller holds c.mu.
func (c *Conn) isSelfLocked(m *ircmsg.Message) bool {
	return ircfmt.Casefold(c.isupport.CaseMapping, m.Nick()) == ircfmt.Casefold(c.isupport.CaseMapping, c.nick)
}

// nextRef returns a new label or batch reference. The caller holds c.mu.
func (c *Conn) nextRefLocked() string {
	c.nextID++
	return "cw" + strconv.FormatUint(c.nextID, 36)
}
