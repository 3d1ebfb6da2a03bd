package component

import (
	"context"
	"encoding/xml"
	"fmt"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

// keepalive pings the component's own domain through the server every
// interval (from <domain>/keepalive, so the session's handler answers it
// and the answer travels back through the server) and closes the
// connection when an answer takes longer than timeout: a server that
// stopped answering, or a half-open TCP connection, then ends the session
// and Run reconnects. It returns when ctx ends.
func (c *Conn) keepalive(ctx context.Context, sess *xmpp.Session) {
	t := time.NewTicker(c.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.selfPing(ctx, sess); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("xmpp: keepalive ping unanswered; closing the connection", "err", err)
			_ = sess.Conn().Close()
			return
		}
		c.log.Debug("xmpp: keepalive ping answered")
	}
}

// selfPing sends one ping from <domain>/keepalive to the domain and waits
// for its answer.
func (c *Conn) selfPing(ctx context.Context, sess *xmpp.Session) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.KeepAliveTimeout)
	defer cancel()
	from, err := c.opts.Domain.WithResource("keepalive")
	if err != nil {
		return err
	}
	iq := stanza.IQ{Type: stanza.GetIQ, From: from, To: c.opts.Domain}
	ping := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}})
	r, err := sess.SendIQElement(ctx, ping, iq)
	if err != nil {
		return fmt.Errorf("keepalive ping: %w", err)
	}
	defer r.Close()
	tok, err := r.Token()
	if err != nil {
		return fmt.Errorf("keepalive answer: %w", err)
	}
	if start, ok := tok.(xml.StartElement); ok {
		for _, a := range start.Attr {
			if a.Name.Local == "type" && a.Value != string(stanza.ResultIQ) {
				return fmt.Errorf("keepalive answer of type %q", a.Value)
			}
		}
	}
	return nil
}
