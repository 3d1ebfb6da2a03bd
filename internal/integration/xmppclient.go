package integration

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// XMPPStanza is a stanza an [XMPPClient] received.
type XMPPStanza struct {
	// Name is "iq", "message" or "presence".
	Name string
	// ID, Type, From and To are the stanza's attributes.
	ID, Type, From, To string
	// XML is the whole stanza as received (namespaces resolved).
	XML string
	// At is when the client had read the whole stanza.
	At time.Time
}

// XMPPClient is a minimal XMPP client for tests on mellium.im/xmpp: it logs
// in over plain TCP with SASL PLAIN (the test Prosody allows it), binds a
// resource, sends raw XML and records every stanza it receives.
type XMPPClient struct {
	jid  jid.JID
	sess *xmpp.Session

	mu       sync.Mutex
	received []XMPPStanza
	changed  chan struct{} // closed and replaced on every received stanza
	done     chan struct{} // closed when the session ends
	err      error
}

// DialXMPP connects user@[ProsodyHost] to the c2s listener at addr and
// closes the client in t.Cleanup.
func DialXMPP(t testing.TB, addr, user, password string) *XMPPClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := ConnectXMPP(ctx, addr, user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ConnectXMPP connects user@[ProsodyHost] to the c2s listener at addr
// (SASL PLAIN without TLS, resource "test") and starts receiving.
func ConnectXMPP(ctx context.Context, addr, user, password string) (*XMPPClient, error) {
	origin, err := jid.New(user, ProsodyHost, "test")
	if err != nil {
		return nil, fmt.Errorf("xmpp client jid: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("xmpp client dial %s: %w", addr, err)
	}
	// The test server offers no TLS: the session starts marked Secure so
	// that mellium offers SASL on the plain connection.
	features := []xmpp.StreamFeature{xmpp.SASL("", password, sasl.Plain), xmpp.BindResource()}
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, xmpp.Secure,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("xmpp client login %s: %w", origin, err)
	}
	c := &XMPPClient{jid: sess.LocalAddr(), sess: sess, changed: make(chan struct{}), done: make(chan struct{})}
	go c.serve()
	return c, nil
}

// JID returns the client's full JID.
func (c *XMPPClient) JID() string { return c.jid.String() }

// serve records every stanza until the session ends.
func (c *XMPPClient) serve() {
	err := c.sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		var b strings.Builder
		e := xml.NewEncoder(&b)
		// r yields the stanza's children and then its end element.
		toks := xmlstream.MultiReader(xmlstream.Token(*start), r)
		if _, err := xmlstream.Copy(e, toks); err != nil {
			return err
		}
		if err := e.Flush(); err != nil {
			return err
		}
		s := XMPPStanza{Name: start.Name.Local, XML: b.String(), At: time.Now()}
		for _, a := range start.Attr {
			switch a.Name.Local {
			case "id":
				s.ID = a.Value
			case "type":
				s.Type = a.Value
			case "from":
				s.From = a.Value
			case "to":
				s.To = a.Value
			}
		}
		c.mu.Lock()
		c.received = append(c.received, s)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		return nil
	}))
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// Send sends one raw stanza, such as `<iq type='get' id='p1'
// to='matrix.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`. Unprefixed
// stanzas are in the client namespace.
func (c *XMPPClient) Send(ctx context.Context, raw string) error {
	if err := c.sess.Send(ctx, xml.NewDecoder(strings.NewReader(raw))); err != nil {
		return fmt.Errorf("xmpp client send: %w", err)
	}
	return nil
}

// Wait returns the first stanza received (since the client connected)
// that match accepts, waiting until ctx is done or the session ends.
func (c *XMPPClient) Wait(ctx context.Context, match func(XMPPStanza) bool) (XMPPStanza, error) {
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.received); seen++ {
			if s := c.received[seen]; match(s) {
				c.mu.Unlock()
				return s, nil
			}
		}
		changed, err := c.changed, c.err
		c.mu.Unlock()
		select {
		case <-changed:
		case <-c.done:
			return XMPPStanza{}, fmt.Errorf("xmpp client session ended (%v) before a matching stanza", err)
		case <-ctx.Done():
			return XMPPStanza{}, fmt.Errorf("no matching stanza: %w", ctx.Err())
		}
	}
}

// IQ sends raw, an IQ whose id attribute is id, and returns the reply of
// type result or error with that id.
func (c *XMPPClient) IQ(ctx context.Context, id, raw string) (XMPPStanza, error) {
	if err := c.Send(ctx, raw); err != nil {
		return XMPPStanza{}, err
	}
	return c.Wait(ctx, func(s XMPPStanza) bool {
		return s.Name == "iq" && s.ID == id && (s.Type == "result" || s.Type == "error")
	})
}

// Close ends the stream and the connection.
func (c *XMPPClient) Close() error {
	err := c.sess.Close()
	_ = c.sess.Conn().Close()
	return err
}

// Received returns a copy of every stanza received so far, in order.
func (c *XMPPClient) Received() []XMPPStanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]XMPPStanza(nil), c.received...)
}

// DialXMPPResource is [DialXMPP] with the given resource instead of
// "test": a second session of the same account.
func DialXMPPResource(t testing.TB, addr, user, password, resource string) *XMPPClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	origin, err := jid.New(user, ProsodyHost, resource)
	if err != nil {
		t.Fatalf("xmpp client jid: %v", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("xmpp client dial %s: %v", addr, err)
	}
	features := []xmpp.StreamFeature{xmpp.SASL("", password, sasl.Plain), xmpp.BindResource()}
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, xmpp.Secure,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	if err != nil {
		_ = conn.Close()
		t.Fatalf("xmpp client login %s: %v", origin, err)
	}
	c := &XMPPClient{jid: sess.LocalAddr(), sess: sess, changed: make(chan struct{}), done: make(chan struct{})}
	go c.serve()
	t.Cleanup(func() { _ = c.Close() })
	return c
}
