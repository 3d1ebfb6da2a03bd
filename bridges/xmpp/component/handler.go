package component

import (
	"context"
	"encoding/xml"
	"log/slog"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Namespaces the component answers.
const (
	nsPing       = "urn:xmpp:ping"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsMUC        = "http://jabber.org/protocol/muc"
)

// Bounds of the answers the handler computes off the receive goroutine.
const (
	// asyncLimit is how many such answers may be pending per session;
	// more queries get a resource-constraint error at once.
	asyncLimit = 32
	// asyncTimeout bounds the computation of one answer.
	asyncTimeout = 10 * time.Second
)

// handler serves the stanzas of one session. It implements xmpp.Handler
// and never returns an error (see the package doc).
type handler struct {
	domain   jid.JID
	maxBytes int
	log      *slog.Logger
	// rooms answers disco about Matrix rooms (nil: no room exists).
	rooms Rooms
	// gateway takes MUC presences and groupchat messages (nil: none).
	gateway Gateway
	// ctx ends with the session; send writes an answer computed later on
	// the session; busy holds a token per pending answer and wg counts
	// their goroutines. Set them all when rooms is set.
	ctx  context.Context
	send func(context.Context, *reply) error
	busy chan struct{}
	wg   *sync.WaitGroup
}

// later computes the answer to st on a goroutine of its own, because f
// may be slow (it asks the homeserver) and the receive goroutine must not
// wait, nor send; the goroutine writes f's answer (if any) with h.send.
// It returns nil, or a resource-constraint error when too many answers
// are pending.
func (h *handler) later(st *Stanza, to jid.JID, f func(context.Context) *reply) *reply {
	select {
	case h.busy <- struct{}{}:
	default:
		r := errorReply(st, to.String(), stanza.Wait, stanza.ResourceConstraint, "too many queries at once")
		return &r
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() { <-h.busy }()
		ctx, cancel := context.WithTimeout(h.ctx, asyncTimeout)
		defer cancel()
		var out *reply
		func() {
			defer func() {
				if r := recover(); r != nil {
					h.log.Error("xmpp: panic while answering a stanza", "panic", r, "stanza", st.Kind())
					e := errorReply(st, to.String(), stanza.Wait, stanza.InternalServerError, "")
					out = &e
				}
			}()
			out = f(ctx)
		}()
		if out == nil || h.ctx.Err() != nil {
			return
		}
		if err := h.send(ctx, out); err != nil {
			h.log.Warn("xmpp: could not send an answer", "err", err, "stanza", out.XMLName.Local)
		}
	}()
	return nil
}

// HandleXMPP implements xmpp.Handler: it reads the stanza with a size
// limit, answers it when an answer is due, and returns nil whatever the
// stanza held. Every IQ get or set gets an answer written here, even when
// its sender is not a valid JID or handling it panicked: otherwise mellium
// writes its own answer, without a from, and ends the session when it
// cannot parse the sender. An error writing the answer means the
// connection is gone; the session notices on its next read.
func (h *handler) HandleXMPP(t xmlstream.TokenReadEncoder, start *xml.StartElement) (err error) {
	st := &Stanza{Start: start.Copy()}
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("xmpp: panic while handling a stanza; dropped", "panic", r, "stanza", start.Name.Local)
			if needsAnswer(st) {
				out := errorReply(st, h.domain.String(), stanza.Wait, stanza.InternalServerError, "")
				h.write(t, &out)
			}
			err = nil
		}
	}()
	var rerr error
	if st, rerr = readStanza(t, *start, h.maxBytes); rerr != nil {
		h.log.Warn("xmpp: could not read a stanza; dropped", "err", rerr)
		return nil
	}
	h.write(t, h.handle(st))
	return nil
}

// needsAnswer reports whether st is an IQ request.
func needsAnswer(st *Stanza) bool {
	typ := st.Attr("type")
	return st.Kind() == "iq" && (typ == string(stanza.GetIQ) || typ == string(stanza.SetIQ))
}

// write sends out (if not nil) on the session, logging failures.
func (h *handler) write(t xmlstream.TokenWriter, out *reply) {
	if out == nil {
		return
	}
	toks, err := out.tokens()
	if err != nil {
		h.log.Error("xmpp: could not encode a reply; dropped", "err", err, "stanza", out.XMLName.Local)
		return
	}
	if _, err := xmlstream.Copy(t, toks); err != nil {
		h.log.Warn("xmpp: could not send a reply", "err", err, "stanza", out.XMLName.Local)
	}
}

// handle returns the reply due to st, or nil.
func (h *handler) handle(st *Stanza) *reply {
	typ := st.Attr("type")
	if typ == "error" {
		h.bounced(st)
		return nil // never answer an error: two entities could loop
	}
	if st.Kind() == "iq" && typ == string(stanza.ResultIQ) {
		return nil // a result nobody waits for (mellium routes awaited ones)
	}
	domain := h.domain.String()
	from, err := jid.Parse(st.Attr("from"))
	if err != nil || st.Attr("from") == "" {
		h.log.Warn("xmpp: stanza with an invalid sender", "stanza", st.Kind(), "from", st.Attr("from"), "err", err)
		if !needsAnswer(st) {
			return nil
		}
		r := errorReply(st, domain, stanza.Modify, stanza.JIDMalformed, "the sender is not a valid JID")
		if r.To == "" {
			r.To = domain // mellium blanks a from equal to the component's own domain
		}
		return &r
	}
	to, err := jid.Parse(st.Attr("to"))
	if err != nil {
		r := errorReply(st, domain, stanza.Modify, stanza.JIDMalformed, "the recipient is not a valid JID")
		return &r
	}
	if !to.Domain().Equal(h.domain) {
		r := errorReply(st, domain, stanza.Cancel, stanza.ItemNotFound, "this component serves "+domain+" only")
		return &r
	}
	if st.Oversize {
		h.log.Info("xmpp: stanza over the size limit; refused", "stanza", st.Kind(), "from", from.String(), "limit", h.maxBytes)
		r := errorReply(st, to.String(), stanza.Modify, stanza.PolicyViolation, "stanza too large")
		return &r
	}
	if st.Kind() != "iq" && from.Domain().Equal(h.domain) {
		// Loop guard: the component's own stanzas are never taken in.
		h.log.Debug("xmpp: stanza from the component's own domain ignored", "stanza", st.Kind(), "from", from.String())
		return nil
	}
	switch st.Kind() {
	case "iq":
		return h.handleIQ(st, from, to)
	case "message":
		if typ == "groupchat" && h.gateway != nil {
			h.gateway.Message(st, from, to)
			return nil
		}
		if cg, ok := h.gateway.(ChatGateway); ok && cg.Chat(st, from, to) {
			return nil
		}
		return h.handleMessage(st, from, to)
	default:
		if h.gateway != nil {
			h.gateway.Presence(st, from, to)
			return nil
		}
		h.log.Debug("xmpp: presence ignored", "from", from.String(), "to", to.String(), "type", typ)
		return nil
	}
}

// bounced hands an error presence or message from a valid sender on
// another domain to the gateway: an occupant's client that bounces what
// the room sends is gone.
func (h *handler) bounced(st *Stanza) {
	if h.gateway == nil || st.Kind() == "iq" || st.Oversize {
		return
	}
	from, err := jid.Parse(st.Attr("from"))
	if err != nil || from.Domain().Equal(h.domain) {
		return
	}
	to, err := jid.Parse(st.Attr("to"))
	if err != nil || !to.Domain().Equal(h.domain) {
		return
	}
	if st.Kind() == "message" {
		h.gateway.Message(st, from, to)
	} else {
		h.gateway.Presence(st, from, to)
	}
}

// handleMessage answers messages: none is bridged yet. Chats and normal
// messages get service-unavailable; groupchat and headline messages are
// dropped (RFC 6121 §8.5 wants no error for headlines).
func (h *handler) handleMessage(st *Stanza, from, to jid.JID) *reply {
	switch st.Attr("type") {
	case "groupchat", "headline":
		h.log.Debug("xmpp: message ignored", "from", from.String(), "to", to.String(), "type", st.Attr("type"))
		return nil
	}
	r := errorReply(st, to.String(), stanza.Cancel, stanza.ServiceUnavailable, "messages are not bridged yet")
	return &r
}

// handleIQ answers a get or set IQ addressed to to.
func (h *handler) handleIQ(st *Stanza, from, to jid.JID) *reply {
	typ := st.Attr("type")
	if typ != string(stanza.GetIQ) && typ != string(stanza.SetIQ) {
		r := errorReply(st, to.String(), stanza.Modify, stanza.BadRequest, "unknown IQ type")
		return &r
	}
	payloads := st.Payloads()
	if len(payloads) != 1 {
		r := errorReply(st, to.String(), stanza.Modify, stanza.BadRequest, "an IQ request has exactly one payload")
		return &r
	}
	if ig, ok := h.gateway.(IQGateway); ok && ig.IQ(st, from, to) {
		return nil
	}
	p := payloads[0]
	switch (xml.Name{Space: p.Name.Space, Local: p.Name.Local}) {
	case xml.Name{Space: nsPing, Local: "ping"}:
		return h.ping(st, to, typ)
	case xml.Name{Space: nsDiscoInfo, Local: "query"}:
		return h.discoInfo(st, to, typ, p)
	case xml.Name{Space: nsDiscoItems, Local: "query"}:
		return h.discoItems(st, to, typ, p)
	}
	r := errorReply(st, to.String(), stanza.Cancel, stanza.ServiceUnavailable, "")
	return &r
}

// ping answers XEP-0199 pings to the domain. Other JIDs on the domain do
// not exist yet.
func (h *handler) ping(st *Stanza, to jid.JID, typ string) *reply {
	if !to.Equal(h.domain) {
		r := errorReply(st, to.String(), stanza.Cancel, stanza.ItemNotFound, "")
		return &r
	}
	if typ != string(stanza.GetIQ) {
		r := errorReply(st, to.String(), stanza.Modify, stanza.BadRequest, "ping is an IQ get")
		return &r
	}
	r := iqResult(st, to.String(), nil)
	return &r
}
