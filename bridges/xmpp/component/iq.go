package component

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"time"
)

// DefaultIQTimeout bounds [Conn.SendIQ] when its context has no deadline.
const DefaultIQTimeout = 15 * time.Second

// ErrNotIQ: [Conn.SendIQ] was given something else than an IQ get or set.
var ErrNotIQ = errors.New("SendIQ sends IQ get or set requests only")

// SendIQ sends the IQ get or set r yields on the current session and
// waits for its answer, a result or an error IQ, read with the
// session's stanza size limit (an answer over it is returned Oversize).
// The request's from must be on the component's domain ([ErrBadFrom]);
// an id is added when it has none. Without a session it fails with
// [ErrNotConnected]; it gives up when ctx ends, or after
// [DefaultIQTimeout] when ctx has no deadline. The answer is matched by
// its id and reaches the caller, not the gateway; answers that come after
// the caller gave up are dropped.
//
// SendIQ waits: it must not be called from the session's receive
// goroutine (a gateway method or route), only from work it handed off.
// Requests are not queued durably: a query is worth nothing once the
// caller stopped waiting.
func (c *Conn) SendIQ(ctx context.Context, r xml.TokenReader) (*Stanza, error) {
	data, err := encodeStanza(r, c.fromOK)
	if err != nil {
		return nil, fmt.Errorf("send iq: %w", err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	tok, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf("send iq: %w", err)
	}
	start, _ := tok.(xml.StartElement)
	req := &Stanza{Start: start}
	if typ := req.Attr("type"); start.Name.Local != "iq" || (typ != "get" && typ != "set") {
		return nil, ErrNotIQ
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return nil, ErrNotConnected
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultIQTimeout)
		defer cancel()
	}
	resp, err := sess.SendIQ(ctx, xml.NewDecoder(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("send iq to %s: %w", req.Attr("to"), err)
	}
	// The receive goroutine waits until resp is closed: read and close it
	// at once.
	defer resp.Close()
	tok, err = resp.Token()
	if err != nil {
		return nil, fmt.Errorf("read iq answer: %w", err)
	}
	rstart, ok := tok.(xml.StartElement)
	if !ok {
		return nil, fmt.Errorf("read iq answer: starts with %T", tok)
	}
	return readStanza(resp, rstart, c.opts.MaxStanzaBytes)
}
