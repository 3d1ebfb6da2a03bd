package xmpp

import (
	"context"
	"encoding/xml"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit/notice"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Moderation in reverse portals (XEP-0425, issue 10 §6). A Matrix
// user's redaction of someone else's message, when their occupant is a
// moderator of the MUC and the MUC advertises message moderation, is a
// moderation request from that occupant naming the message's stanza-id;
// otherwise the core's "not bridged" notice answers it. A moderation
// announcement of the MUC (a groupchat message from the room itself
// carrying a retraction marked moderated) redacts the linked event as
// the bridge bot, which has the power to redact anyone's events.

const (
	// modFeaturesTTL is how long a MUC's moderation support, as its
	// disco#info told it, is trusted.
	modFeaturesTTL = 10 * time.Minute
	// revModKeyPrefix starts the outbox keys of redactions that follow
	// moderations of a MUC (by the moderated message's stanza-id).
	revModKeyPrefix = "rvm/"
)

// moderate takes a Matrix user's redaction of someone else's message:
// a moderation request to the MUC from their occupant, when it is a
// moderator there, the MUC supports moderation and the message's
// stanza-id is known; else ErrUnsupported (the room is told). The
// request goes in the background; a refusal is told in the room.
func (rv *reverse) moderate(ctx context.Context, rp *revPortal, r *bridges.Redaction) error {
	sid := rv.sidOf(ctx, r.Target)
	rv.mu.Lock()
	c := rp.clients[r.Event.Sender]
	mod := c != nil && c.state == clientJoined && c.role == "moderator"
	var self string
	if c != nil {
		self = c.self
	}
	rv.mu.Unlock()
	if !mod || sid == "" {
		rv.log.Info("xmpp: a redaction of another's message not moderated", "muc", rp.muc, "user", r.Event.Sender,
			"moderator", mod, "stanza_id", sid)
		return bridges.ErrUnsupported
	}
	ns := rv.moderationNS(ctx, rp)
	if ns == "" {
		rv.log.Info("xmpp: the MUC does not support moderation", "muc", rp.muc)
		return bridges.ErrUnsupported
	}
	iq := moderateRequest(self, rp.muc, ns, sid, r.Reason)
	ev := r.Event.ID
	rv.m.host.Go(func(ctx context.Context) { rv.sendModerate(ctx, rp, ev, iq) })
	return nil
}

// sendModerate sends a moderation request and tells the room, as a
// not-delivered notice about the redaction ev, when the MUC refuses it
// or does not answer.
func (rv *reverse) sendModerate(ctx context.Context, rp *revPortal, ev matrix.EventID, iq []byte) {
	ctx, cancel := context.WithTimeout(ctx, waitMatrix)
	defer cancel()
	st, err := rv.m.conn.SendIQ(ctx, decoder(iq))
	reason := ""
	switch {
	case err != nil:
		reason = "the XMPP room did not answer the moderation"
		rv.log.Warn("xmpp: a moderation request failed", "muc", rp.muc, "err", err)
	case st.Attr("type") != "result":
		p := parseMUCPresence(st, jid.JID{})
		reason = "the XMPP room refused the moderation (" + p.Cond + ")"
		if p.Text != "" {
			reason += ": " + p.Text
		}
	}
	if reason == "" {
		return
	}
	if err := notice.NotDelivered(ctx, rv.m.host.Outbox(), notice.Report{Room: rp.room, Event: ev, Network: "XMPP",
		Reason: reason}); err != nil {
		rv.log.Warn("xmpp: could not queue a notice", "err", err)
	}
}

// moderationNS returns the XEP-0425 namespace the MUC advertises
// (nsModerate preferred over nsModerate0), or "" when it advertises
// none or does not answer; an answer is kept for modFeaturesTTL.
func (rv *reverse) moderationNS(ctx context.Context, rp *revPortal) string {
	rv.mu.Lock()
	if !rp.modAt.IsZero() && time.Since(rp.modAt) < modFeaturesTTL {
		ns := rp.modNS
		rv.mu.Unlock()
		return ns
	}
	rv.mu.Unlock()
	st, err := rv.m.conn.SendIQ(ctx, decoder(mustMarshal(discoQuery{From: rv.m.domain.String(), To: rp.muc, Type: "get",
		Query: discoInfoQuery{}})))
	if err != nil || st.Attr("type") != "result" {
		rv.log.Info("xmpp: no disco#info of a MUC", "muc", rp.muc, "err", err)
		return ""
	}
	ns := ""
	for _, f := range childrenOf(st.Inner, "query", "feature") {
		switch attr(f, "var") {
		case nsModerate:
			ns = nsModerate
		case nsModerate0:
			if ns == "" {
				ns = nsModerate0
			}
		}
	}
	rv.mu.Lock()
	rp.modNS, rp.modAt = ns, time.Now()
	rv.mu.Unlock()
	return ns
}

// moderateRequest is the IQ that asks muc, from the occupant JID from,
// to retract the message with stanza-id sid, in the form of namespace
// ns (nsModerate or nsModerate0). The reason is escaped by encoding/xml.
func moderateRequest(from, muc, ns, sid, reason string) []byte {
	iq := moderateIQ{From: from, To: muc, Type: "set"}
	if ns == nsModerate0 {
		iq.ApplyTo = &moderate0ApplyTo{ID: sid, Moderate: moderate0Req{Reason: reason}}
	} else {
		iq.Moderate = &moderateReq{ID: sid, Reason: reason}
	}
	return mustMarshal(iq)
}

type (
	moderateIQ struct {
		XMLName  xml.Name          `xml:"iq"`
		From     string            `xml:"from,attr"`
		To       string            `xml:"to,attr"`
		Type     string            `xml:"type,attr"`
		Moderate *moderateReq      `xml:"moderate,omitempty"`
		ApplyTo  *moderate0ApplyTo `xml:"apply-to,omitempty"`
	}
	moderateReq struct {
		XMLName xml.Name   `xml:"urn:xmpp:message-moderate:1 moderate"`
		ID      string     `xml:"id,attr"`
		Retract retractReq `xml:"retract"`
		Reason  string     `xml:"reason,omitempty"`
	}
	retractReq struct {
		XMLName xml.Name `xml:"urn:xmpp:message-retract:1 retract"`
	}
	moderate0ApplyTo struct {
		XMLName  xml.Name     `xml:"urn:xmpp:fasten:0 apply-to"`
		ID       string       `xml:"id,attr"`
		Moderate moderate0Req `xml:"moderate"`
	}
	moderate0Req struct {
		XMLName xml.Name   `xml:"urn:xmpp:message-moderate:0 moderate"`
		Retract retract0El `xml:"retract"`
		Reason  string     `xml:"reason,omitempty"`
	}
)

// moderation is a MUC's moderation announcement: the stanza-id of the
// message retracted, the moderator's nick ("" when the MUC names none)
// and the reason.
type moderation struct {
	target, nick, reason string
}

// parseModerated reads a moderation announcement from a groupchat
// message of muc: the current form <retract id=…><moderated by=…/>
// <reason/></retract> or the old <apply-to id=…><moderated by=…>
// <retract/><reason/></moderated></apply-to>. A plain retraction is no
// moderation.
func parseModerated(inner []xml.Token, muc string) (moderation, bool) {
	var m moderation
	var by string
	ok := false
	forChildren(inner, func(start xml.StartElement, d *xml.Decoder) {
		switch start.Name {
		case xml.Name{Space: nsRetract, Local: "retract"}:
			var v struct {
				ID        string `xml:"id,attr"`
				Moderated *struct {
					By string `xml:"by,attr"`
				} `xml:"urn:xmpp:message-moderate:1 moderated"`
				Reason string `xml:"reason"`
			}
			if d.Decode(&v) == nil && v.Moderated != nil && v.ID != "" {
				m, by, ok = moderation{target: v.ID, reason: v.Reason}, v.Moderated.By, true
			}
		case xml.Name{Space: nsFasten, Local: "apply-to"}:
			var v struct {
				ID        string `xml:"id,attr"`
				Moderated *struct {
					By      string    `xml:"by,attr"`
					Retract *struct{} `xml:"urn:xmpp:message-retract:0 retract"`
					Reason  string    `xml:"reason"`
				} `xml:"urn:xmpp:message-moderate:0 moderated"`
			}
			if d.Decode(&v) == nil && v.Moderated != nil && v.Moderated.Retract != nil && v.ID != "" && !ok {
				m, by, ok = moderation{target: v.ID, reason: v.Moderated.Reason}, v.Moderated.By, true
			}
		}
	})
	if j, err := jid.Parse(by); err == nil && by != "" && j.Bare().String() == muc {
		m.nick = j.Resourcepart()
	}
	m.reason = trimReason(m.reason)
	return m, ok
}

// trimReason bounds a moderation reason for a redaction's reason.
func trimReason(s string) string {
	const max = 500
	r := []rune(s)
	if len(r) > max {
		return string(r[:max]) + "…"
	}
	return string(r)
}

// moderated redacts, as the bridge bot, the event of the message a
// moderation announcement names (a puppet's or a Matrix user's), once.
func (rv *reverse) moderated(ctx context.Context, rp *revPortal, m moderation) {
	ev, ok := rv.eventOfSID(ctx, rp, m.target)
	if !ok {
		rv.log.Info("xmpp: a moderation of an unknown message dropped", "muc", rp.muc, "id", m.target)
		return
	}
	reason := "moderated in the XMPP room"
	if m.nick != "" {
		reason = "moderated by " + m.nick + " in the XMPP room"
	}
	if m.reason != "" {
		reason += ": " + m.reason
	}
	op := intent.Op{Kind: intent.OpRedaction, Room: rp.room, Redacts: ev, Reason: reason,
		Key: revModKeyPrefix + rp.muc + "/" + address.Escape(m.target)}
	if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
		rv.log.Warn("xmpp: could not queue a moderation", "muc", rp.muc, "err", err)
	}
}
