package component

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	xcomponent "mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Errors of [Dial] and [Conn.Send].
var (
	// ErrNotAuthorized: the server refused the handshake, almost always a
	// wrong secret or a domain the server does not know as a component.
	ErrNotAuthorized = errors.New("xmpp server refused the component handshake")
	// ErrNotConnected: there is no session at the moment.
	ErrNotConnected = errors.New("xmpp component not connected")
	// ErrBadFrom: an outgoing stanza has no from on the component's domain.
	ErrBadFrom = errors.New("outgoing stanza needs a from on the component's domain")
)

// Defaults for [Options] fields left zero.
const (
	DefaultMaxStanzaBytes = 256 << 10
	DefaultReconnectMin   = 250 * time.Millisecond
	DefaultReconnectMax   = time.Minute
	DefaultKeepAlive      = time.Minute
	DefaultKeepAliveWait  = 20 * time.Second
	dialTimeout           = 10 * time.Second
	// stableAfter is how long a session must last for the next loss to
	// start the backoff from the beginning again.
	stableAfter = 30 * time.Second
)

// Options configure a [Conn].
type Options struct {
	// Server is the server's component listener, host:port.
	Server string
	// Domain is the component's domain, such as matrix.example.org.
	Domain jid.JID
	// Secret is the shared secret; it is never logged.
	Secret string
	// MaxStanzaBytes bounds an incoming stanza (default 256 KiB); larger
	// ones get a policy-violation error.
	MaxStanzaBytes int
	// ReconnectMin and ReconnectMax bound the wait between reconnect
	// attempts (defaults 250 ms and 1 min).
	ReconnectMin, ReconnectMax time.Duration
	// KeepAlive is how often the component pings itself through the
	// server (default 1 min), and KeepAliveTimeout how long it waits for
	// the answer before it drops the connection and reconnects (default
	// 20 s).
	KeepAlive, KeepAliveTimeout time.Duration
	// Logger receives connection events (default: discarded).
	Logger *slog.Logger
	// Queue, when set, is the durable outbound queue of [Conn.Enqueue]:
	// every session sends what it holds, in order.
	Queue *Queue
	// Rooms, when set, answers disco for the JIDs of Matrix rooms and
	// lists the public rooms (see [Rooms]); without it only the domain
	// exists.
	Rooms Rooms
	// OnSession, when set, is called at the start of every session, once
	// it is up and before its first stanza is read, on the goroutine
	// that runs the connection: what a new session needs (joining MUCs
	// again after the server restarted) goes through [Conn.Enqueue] from
	// there. It must return soon.
	OnSession func(ctx context.Context)
	// Gateway, when set, takes the presences and groupchat messages
	// addressed to the domain's JIDs (MUC joins, leaves, messages), and
	// the errors that bounce back from occupants; without it presences
	// are ignored and groupchat messages dropped.
	Gateway Gateway
}

// Gateway takes the stanzas of the MUC service (see [Options.Gateway]).
// Its methods run on the session's receive goroutine: they must not
// block, nor write to the session; answers go through [Conn.Enqueue].
// Stanzas from the component's own domain never reach it (loop guard).
type Gateway interface {
	// Presence is any presence to a JID on the domain, errors included.
	Presence(st *Stanza, from, to jid.JID)
	// Message is a groupchat message, or a message error bounced back
	// from an occupant.
	Message(st *Stanza, from, to jid.JID)
}

// IQGateway is an optional interface of a [Gateway]: it is offered every
// IQ get or set with one payload before the component's own answers
// (ping to the domain, disco), and takes the ones it serves (MAM queries
// to rooms, pings to occupants, vCards...). Like the Gateway's methods it
// runs on the receive goroutine: when it returns true it has taken st and
// must answer it later through [Conn.Enqueue]; false leaves st to the
// component.
type IQGateway interface {
	IQ(st *Stanza, from, to jid.JID) bool
}

// ChatGateway is an optional interface of a [Gateway]: it is offered the
// messages that are neither groupchat nor errors (chat, normal,
// headline), such as 1:1 chats to Matrix users' JIDs and private
// messages to occupants. It returns true when it has taken st; false
// leaves the component's answer (service-unavailable for chat and normal
// messages).
type ChatGateway interface {
	Chat(st *Stanza, from, to jid.JID) bool
}

// Conn is a self-healing component connection; see [Conn.Run].
type Conn struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	sess    *xmpp.Session
	changed chan struct{} // closed and replaced when sess changes
}

// New returns a Conn for opts, not yet connected.
func New(opts Options) *Conn {
	if opts.MaxStanzaBytes <= 0 {
		opts.MaxStanzaBytes = DefaultMaxStanzaBytes
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = DefaultReconnectMin
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(DefaultReconnectMax, opts.ReconnectMin)
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.KeepAliveTimeout <= 0 {
		opts.KeepAliveTimeout = DefaultKeepAliveWait
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("xmpp_domain", opts.Domain.String(), "xmpp_server", opts.Server)
	return &Conn{opts: opts, log: log, changed: make(chan struct{})}
}

// Dial opens one component session: TCP to opts.Server, then the XEP-0114
// handshake for opts.Domain. A refused handshake is [ErrNotAuthorized].
func Dial(ctx context.Context, opts Options) (*xmpp.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", opts.Server)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", opts.Server, err)
	}
	sess, err := xcomponent.NewSession(ctx, opts.Domain, []byte(opts.Secret), conn)
	if err != nil {
		_ = conn.Close()
		var se stream.Error
		if errors.As(err, &se) && se.Err == "not-authorized" {
			return nil, fmt.Errorf("%w for %s at %s (%v): check the secret against the server's component_secret",
				ErrNotAuthorized, opts.Domain, opts.Server, err)
		}
		return nil, fmt.Errorf("component handshake for %s at %s: %w", opts.Domain, opts.Server, err)
	}
	return sess, nil
}

// Run connects and keeps the component connected until ctx ends, then
// closes the session and returns nil. After any failure (refused
// connection, handshake error, stream error, lost connection) it waits
// [Backoff] and tries again; nothing but ctx stops it.
func (c *Conn) Run(ctx context.Context) error {
	attempt := 0
	for {
		sess, err := Dial(ctx, c.opts)
		if err == nil {
			c.log.Info("xmpp component connected")
			began := time.Now()
			err = c.serve(ctx, sess)
			if time.Since(began) >= stableAfter {
				attempt = 0
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := Backoff(attempt, c.opts.ReconnectMin, c.opts.ReconnectMax, rand.Float64)
		attempt++
		lvl := slog.LevelWarn
		if errors.Is(err, ErrNotAuthorized) {
			lvl = slog.LevelError
		}
		c.log.Log(ctx, lvl, "xmpp component disconnected; reconnecting", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// serve runs one session until it ends or ctx is done.
func (c *Conn) serve(ctx context.Context, sess *xmpp.Session) error {
	c.setSession(sess)
	defer c.setSession(nil)
	if c.opts.OnSession != nil {
		c.opts.OnSession(ctx)
	}
	stop := context.AfterFunc(ctx, func() {
		_ = sess.Close() // ends our stream; the server's end may never come
		_ = sess.Conn().Close()
	})
	defer stop()
	kctx, kcancel := context.WithCancel(ctx)
	kdone := make(chan struct{})
	go func() {
		defer close(kdone)
		c.keepalive(kctx, sess)
	}()
	var wg sync.WaitGroup // the handler's pending answers
	qdone := make(chan struct{})
	go func() {
		defer close(qdone)
		if c.opts.Queue != nil {
			c.drain(kctx, sess)
		}
	}()
	defer func() {
		kcancel()
		<-kdone
		<-qdone
		wg.Wait() // they end with kctx
	}()
	h := &handler{domain: c.opts.Domain, maxBytes: c.opts.MaxStanzaBytes, log: c.log, rooms: c.opts.Rooms, gateway: c.opts.Gateway,
		ctx: kctx, busy: make(chan struct{}, asyncLimit), wg: &wg,
		send: func(ctx context.Context, r *reply) error {
			toks, err := r.tokens()
			if err != nil {
				return err
			}
			return sess.Send(ctx, toks)
		}}
	err := sess.Serve(h)
	_ = sess.Conn().Close()
	if err == nil {
		err = errors.New("the server closed the stream")
	}
	return err
}

func (c *Conn) setSession(s *xmpp.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// Connected reports whether a session is up.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// WaitConnected waits until a session is up or ctx ends.
func (c *Conn) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		up, changed := c.sess != nil, c.changed
		c.mu.Unlock()
		if up {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Send writes one stanza on the current session. Its from must be the
// domain or a JID on it ([ErrBadFrom] otherwise); without a session it
// fails with [ErrNotConnected]. Use it for what is worthless later, such
// as IQ answers; [Conn.Enqueue] is the durable way. Send must not be
// called from the session's receive goroutine.
func (c *Conn) Send(ctx context.Context, r xml.TokenReader) error {
	tok, err := r.Token()
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return fmt.Errorf("send: a stanza starts with an element, not %T", tok)
	}
	if !c.fromOK(start) {
		return ErrBadFrom
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return ErrNotConnected
	}
	if err := sess.Send(ctx, xmlstream.MultiReader(xmlstream.Token(start), r)); err != nil {
		return fmt.Errorf("send %s: %w", start.Name.Local, err)
	}
	return nil
}

// fromOK reports whether start's from is on the component's domain.
func (c *Conn) fromOK(start xml.StartElement) bool {
	for _, a := range start.Attr {
		if a.Name.Local == "from" && a.Name.Space == "" {
			j, err := jid.Parse(a.Value)
			return err == nil && j.Domain().Equal(c.opts.Domain)
		}
	}
	return false
}

// Enqueue stores the stanza r yields in the durable outbound queue
// ([Options.Queue]) and returns; the Conn sends it, after every stanza
// enqueued before it, as soon as a session is up, and again on a later
// session or after a restart until the server has acknowledged it. Its
// from must be the domain or a JID on it ([ErrBadFrom]). Enqueue never
// writes to the session itself, so a handler may call it.
func (c *Conn) Enqueue(ctx context.Context, r xml.TokenReader) error {
	if c.opts.Queue == nil {
		return ErrNoQueue
	}
	data, err := encodeStanza(r, c.fromOK)
	if err != nil {
		return err
	}
	return c.opts.Queue.add(ctx, data)
}

// EnqueueAll is [Conn.Enqueue] for several stanzas that belong together
// (the results of an archive query and its answer): stored in order, all
// or none, in one commit.
func (c *Conn) EnqueueAll(ctx context.Context, rs ...xml.TokenReader) error {
	all, err := c.encodeAll(rs)
	if err != nil {
		return err
	}
	return c.opts.Queue.addAll(ctx, all)
}

// EnqueueVolatile is [Conn.EnqueueAll] for stanzas that are worth
// nothing after a restart, such as the results of an archive query and
// its answer (a client whose answer does not come asks again): they
// take their place in the queue behind everything enqueued before, go
// out and are resent on a new session like the rest, but are kept in
// memory only, so no store write delays them and a restart drops them.
func (c *Conn) EnqueueVolatile(rs ...xml.TokenReader) error {
	all, err := c.encodeAll(rs)
	if err != nil {
		return err
	}
	return c.opts.Queue.addVolatile(all)
}

// encodeAll serializes the stanzas of rs for the queue: [ErrNoQueue]
// without one, [ErrBadFrom] for a from off the domain.
func (c *Conn) encodeAll(rs []xml.TokenReader) ([][]byte, error) {
	if c.opts.Queue == nil {
		return nil, ErrNoQueue
	}
	all := make([][]byte, len(rs))
	for i, r := range rs {
		data, err := encodeStanza(r, c.fromOK)
		if err != nil {
			return nil, err
		}
		all[i] = data
	}
	return all, nil
}

// drain sends the queue on sess in batches, each followed by a ping to
// the component's domain whose answer acknowledges the batch, until ctx
// ends or a write or acknowledgement fails; then it closes the
// connection so that Run reconnects and the next session resends what
// is left.
func (c *Conn) drain(ctx context.Context, sess *xmpp.Session) {
	q := c.opts.Queue
	for {
		batch, dropped := q.batch(queueBatch)
		if len(dropped) > 0 {
			c.log.Error("xmpp: dropped queued stanzas that ended too many sessions unacknowledged", "count", len(dropped))
			if err := q.ack(ctx, 0, dropped); err != nil {
				c.log.Warn("xmpp: could not delete dropped stanzas from the queue", "err", err)
			}
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		if err := writeBatch(ctx, sess, batch); err != nil {
			c.dropSession(ctx, sess, "xmpp: could not send queued stanzas; reconnecting", err)
			return
		}
		if err := c.selfPing(ctx, sess); err != nil {
			c.dropSession(ctx, sess, "xmpp: queued stanzas unacknowledged; reconnecting", err)
			return
		}
		if err := q.ack(ctx, len(batch), nil); err != nil {
			// They were delivered: a restart would send them again.
			c.log.Warn("xmpp: could not delete sent stanzas from the queue", "err", err)
		}
		c.log.Debug("xmpp: queued stanzas sent", "count", len(batch))
	}
}

// writeBatch writes the stanzas of batch on sess as they were queued
// (encodeStanza's bytes: well-formed, without the stanza's namespace,
// which the stream's default supplies), back to back, holding the
// session's output so that nothing else is written between them. They
// are not parsed and encoded again, and the server gets a page of
// results in a few large writes rather than one write per stanza.
func writeBatch(ctx context.Context, sess *xmpp.Session, batch []queued) error {
	w := sess.TokenWriter() // the output, locked, with nothing pending after Flush
	defer w.Close()
	if err := w.Flush(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = sess.Conn().SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	bw := bufio.NewWriterSize(sess.Conn(), 64<<10)
	for _, it := range batch {
		if _, err := bw.Write(it.data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// dropSession closes sess's connection after a failure, unless ctx ended.
func (c *Conn) dropSession(ctx context.Context, sess *xmpp.Session, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.log.Warn(msg, "err", err)
	_ = sess.Conn().Close()
}
