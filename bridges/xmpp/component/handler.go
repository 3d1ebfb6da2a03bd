package component

import (
	"encoding/xml"
	"log/slog"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Namespaces the component answers.
const (
	nsPing       = "urn:xmpp:ping"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// handler serves the stanzas of one session. It implements xmpp.Handler
// and never returns an error (see the package doc).
type handler struct {
	domain   jid.JID
	maxBytes int
	log      *slog.Logger
}

// HandleXMPP implements xmpp.Handler: it reads the stanza with a size
// limit, answers it when an answer is due, and returns nil whatever the
// stanza held. An error writing the answer means the connection is gone;
// the session notices on its next read.
func (h *handler) HandleXMPP(t xmlstream.TokenReadEncoder, start *xml.StartElement) (err error) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("xmpp: panic while handling a stanza; dropped", "panic", r, "stanza", start.Name.Local)
			err = nil
		}
	}()
	st, rerr := readStanza(t, *start, h.maxBytes)
	if rerr != nil {
		h.log.Warn("xmpp: could not read a stanza; dropped", "error", rerr)
		return nil
	}
	out := h.handle(st)
	if out == nil {
		return nil
	}
	toks, merr := out.tokens()
	if merr != nil {
		h.log.Error("xmpp: could not encode a reply; dropped", "error", merr, "stanza", st.Kind())
		return nil
	}
	if _, werr := xmlstream.Copy(t, toks); werr != nil {
		h.log.Warn("xmpp: could not send a reply", "error", werr, "stanza", st.Kind())
	}
	return nil
}

// handle returns the reply due to st, or nil.
func (h *handler) handle(st *Stanza) *reply {
	typ := st.Attr("type")
	if typ == "error" {
		return nil // never answer an error: two entities could loop
	}
	if st.Kind() == "iq" && typ == string(stanza.ResultIQ) {
		return nil // a result nobody waits for (mellium routes awaited ones)
	}
	from, err := jid.Parse(st.Attr("from"))
	if err != nil || st.Attr("from") == "" {
		h.log.Warn("xmpp: stanza with an invalid sender; dropped", "stanza", st.Kind(), "from", st.Attr("from"), "error", err)
		return nil
	}
	domain := h.domain.String()
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
	switch st.Kind() {
	case "iq":
		return h.handleIQ(st, to)
	case "message":
		return h.handleMessage(st, from, to)
	default: // presence: nothing is hosted yet
		h.log.Debug("xmpp: presence ignored", "from", from.String(), "to", to.String(), "type", typ)
		return nil
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
func (h *handler) handleIQ(st *Stanza, to jid.JID) *reply {
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
