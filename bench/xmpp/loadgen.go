package xmppbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// Component is a bare XEP-0114 component connection used as a load
// generator: XMPP servers route stanzas between components, so one
// connection can send presences from any JID of its own domain
// (user1@loadgen.localhost/r, user2@...) to the bridge's component, as
// thousands of XMPP users on as many servers would. It does not parse
// what comes back: it counts the bytes and a few markers (self-presences,
// errors), which is all a load generator needs and costs the measured
// machine little.
type Component struct {
	conn net.Conn

	wmu sync.Mutex
	w   *bufio.Writer

	read    atomic.Int64
	self    atomic.Int64 // presences with status code 110
	errs    atomic.Int64 // stanzas of type error
	changed chan struct{}
	cmu     sync.Mutex
	done    chan struct{}
	err     error
	onData  atomic.Pointer[func([]byte)]
}

// Markers counted in the received bytes; Prosody writes attributes with
// single quotes, other servers with double ones.
var (
	selfMarks  = [][]byte{[]byte(`code='110'`), []byte(`code="110"`)}
	errorMarks = [][]byte{[]byte(`type='error'`), []byte(`type="error"`)}
	streamID   = regexp.MustCompile(`\sid=['"]([^'"]+)['"]`)
)

// DialComponent connects to a component listener at addr and
// authenticates as domain with secret (XEP-0114 handshake).
func DialComponent(ctx context.Context, addr, domain, secret string) (*Component, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("load component: dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	fail := func(err error) (*Component, error) {
		_ = conn.Close()
		return nil, fmt.Errorf("load component %s: %w", domain, err)
	}
	if _, err := fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "+
		"xmlns:stream='http://etherx.jabber.org/streams' to='%s'>", domain); err != nil {
		return fail(err)
	}
	r := bufio.NewReader(conn)
	var head []byte
	for !bytes.Contains(head, []byte("<stream:stream")) || !bytes.HasSuffix(head, []byte(">")) {
		b, err := r.ReadBytes('>')
		if err != nil {
			return fail(fmt.Errorf("stream header: %w", err))
		}
		head = append(head, b...)
	}
	m := streamID.FindSubmatch(head[bytes.Index(head, []byte("<stream:stream")):])
	if m == nil {
		return fail(fmt.Errorf("no stream id in %q", head))
	}
	sum := sha1.Sum([]byte(string(m[1]) + secret))
	if _, err := fmt.Fprintf(conn, "<handshake>%s</handshake>", hex.EncodeToString(sum[:])); err != nil {
		return fail(err)
	}
	var ans []byte
	for !bytes.Contains(ans, []byte("handshake")) && !bytes.Contains(ans, []byte("error")) {
		b, err := r.ReadBytes('>')
		if err != nil {
			return fail(fmt.Errorf("handshake: %w", err))
		}
		ans = append(ans, b...)
	}
	if !bytes.Contains(ans, []byte("<handshake")) {
		return fail(fmt.Errorf("handshake refused: %q", ans))
	}
	_ = conn.SetDeadline(time.Time{})
	c := &Component{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), changed: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop(r)
	return c, nil
}

// readLoop counts what the server sends until the connection ends.
func (c *Component) readLoop(r io.Reader) {
	buf := make([]byte, 256<<10)
	keep := 0 // bytes of the previous read kept, so markers split across reads count
	const overlap = 16
	for {
		n, err := r.Read(buf[keep:])
		if n > 0 {
			if f := c.onData.Load(); f != nil {
				(*f)(buf[keep : keep+n])
			}
			data := buf[:keep+n]
			c.self.Add(countMarks(data, keep, selfMarks))
			c.errs.Add(countMarks(data, keep, errorMarks))
			c.read.Add(int64(n))
			keep = min(overlap, len(data))
			copy(buf, data[len(data)-keep:])
			c.cmu.Lock()
			close(c.changed)
			c.changed = make(chan struct{})
			c.cmu.Unlock()
		}
		if err != nil {
			c.cmu.Lock()
			c.err = err
			c.cmu.Unlock()
			close(c.done)
			return
		}
	}
}

// OnData makes f see every chunk read from the server, on the read
// goroutine, before it is counted: a bench uses it to answer a query
// the moment it arrives. f must not keep the slice.
func (c *Component) OnData(f func(data []byte)) { c.onData.Store(&f) }

// Send writes raw stanzas to the server's buffer; Flush sends them.
func (c *Component) Send(raw string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.WriteString(raw)
	return err
}

// Flush sends what Send buffered.
func (c *Component) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// Counts returns the self-presences (status 110) and error stanzas
// received so far, and the bytes read.
func (c *Component) Counts() (self, errs, read int64) {
	return c.self.Load(), c.errs.Load(), c.read.Load()
}

// WaitSelf waits until at least n self-presences arrived.
func (c *Component) WaitSelf(ctx context.Context, n int64) error {
	for {
		c.cmu.Lock()
		ch := c.changed
		c.cmu.Unlock()
		if c.self.Load() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-c.done:
			return fmt.Errorf("load component: connection ended: %w", c.err)
		case <-ctx.Done():
			return fmt.Errorf("load component: %d of %d self-presences: %w", c.self.Load(), n, ctx.Err())
		}
	}
}

// Quiet waits until nothing arrived for d (the bridge's queue drained),
// or ctx ends.
func (c *Component) Quiet(ctx context.Context, d time.Duration) error {
	for {
		before := c.read.Load()
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.read.Load() == before {
			return nil
		}
	}
}

// Close ends the connection.
func (c *Component) Close() error {
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// countMarks counts the markers in data that end after its first keep
// bytes (those were counted with the previous read).
func countMarks(data []byte, keep int, marks [][]byte) int64 {
	var k int64
	for _, mk := range marks {
		for i := 0; ; {
			j := bytes.Index(data[i:], mk)
			if j < 0 {
				break
			}
			if i+j+len(mk) > keep {
				k++
			}
			i += j + 1
		}
	}
	return k
}

// iqAttr finds an attribute of the IQ start tags iqRefuser reads.
var iqAttr = regexp.MustCompile(`\s(type|id|from|to)=(?:'([^']*)'|"([^"]*)")`)

// iqRefuser answers the IQ requests (get and set) sent to the load
// generator's users with a service-unavailable error, as their servers
// would for a user without the feature asked for, so that the bridge does
// not wait out its IQ timeout for each of them (it asks every new
// occupant for its PEP avatar, for one). It reads the raw stream in the
// chunks OnData gives, which may split a start tag.
type iqRefuser struct {
	send func(raw string) // writes and flushes one stanza
	tail []byte           // an unfinished start tag from the last chunk
}

// feed reads one chunk of the stream.
func (a *iqRefuser) feed(data []byte) {
	buf := append(a.tail, data...)
	a.tail = nil
	for {
		i := bytes.Index(buf, []byte("<iq "))
		if i < 0 {
			if k := bytes.LastIndexByte(buf, '<'); k >= 0 && len(buf)-k < len("<iq ") {
				a.tail = append([]byte(nil), buf[k:]...) // "<", "<i" or "<iq"
			}
			return
		}
		j := bytes.IndexByte(buf[i:], '>')
		if j < 0 {
			a.tail = append([]byte(nil), buf[i:]...)
			return
		}
		attrs := map[string]string{}
		for _, m := range iqAttr.FindAllSubmatch(buf[i:i+j], -1) {
			attrs[string(m[1])] = string(m[2]) + string(m[3])
		}
		if t := attrs["type"]; t == "get" || t == "set" {
			a.send(fmt.Sprintf(`<iq type='error' id='%s' from='%s' to='%s'><error type='cancel'>`+
				`<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
				attrs["id"], attrs["to"], attrs["from"]))
		}
		buf = buf[i+j+1:]
	}
}

// RefuseIQs makes the component answer every IQ request it receives with
// a service-unavailable error (iqRefuser). It takes the place of OnData.
func (c *Component) RefuseIQs() {
	a := &iqRefuser{send: func(raw string) {
		if c.Send(raw) == nil {
			_ = c.Flush()
		}
	}}
	c.OnData(a.feed)
}
