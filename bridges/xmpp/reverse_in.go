package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/kit/notice"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// What reverse portals take from their MUCs (reverse.go has the
// portals and the Matrix side): the presences and messages the MUC sends
// to the bridge's occupants, its pings and private messages. Stanzas are
// taken on the receive goroutine and handled in the MUC's lane.

// take hands a stanza from a MUC to one of the bridge's occupants to the
// MUC's lane; false when it is not for a reverse portal.
func (rv *reverse) take(from, to jid.JID, f func(ctx context.Context, rp *revPortal)) bool {
	if to.Localpart() == "" || to.Resourcepart() == "" {
		return false
	}
	if kind, _, err := address.Parse(to.Localpart()); err != nil || kind != address.User {
		return false
	}
	muc := from.Bare().String()
	rv.mu.Lock()
	rp := rv.byMUC[muc]
	rv.mu.Unlock()
	if rp == nil {
		return false
	}
	rv.g.push(muc, nil, func(ctx context.Context) { f(ctx, rp) })
	return true
}

// takePresence takes a presence from a reverse portal's MUC to an
// occupant of the bridge.
func (rv *reverse) takePresence(st *component.Stanza, from, to jid.JID) bool {
	return rv.take(from, to, func(ctx context.Context, rp *revPortal) { rv.presence(ctx, rp, st, from, to) })
}

// takeMessage takes a groupchat message, or an error, from a reverse
// portal's MUC to an occupant of the bridge.
func (rv *reverse) takeMessage(st *component.Stanza, from, to jid.JID) bool {
	return rv.take(from, to, func(ctx context.Context, rp *revPortal) { rv.message(ctx, rp, st, from, to) })
}

// clientAt returns the client whose occupant JID is to. Call with rv.mu
// held.
func (rp *revPortal) clientAt(to string) *mucClient {
	for _, c := range rp.clients {
		if c.self == to {
			return c
		}
	}
	return nil
}

// ours reports whether nick is one of the bridge's occupants (joined or
// joining). Call with rv.mu held.
func (rp *revPortal) ours(nick string) bool {
	for _, c := range rp.clients {
		if c.state != clientGone && c.nick == nick {
			return true
		}
	}
	return false
}

// presence follows a presence from rp's MUC to the occupant to.
func (rv *reverse) presence(ctx context.Context, rp *revPortal, st *component.Stanza, from, to jid.JID) {
	p := parseMUCPresence(st, from)
	rv.mu.Lock()
	if c := rp.clientAt(to.String()); c != nil && c.isSelf(p) {
		first := rp.listener() == nil // no occupant of the bridge was in
		step := c.onSelf(p)
		var msgs [][]byte
		for _, m := range step.flush {
			msgs = append(msgs, rv.groupchat(c, m.Event, m.Text, m.Extra))
			if m.Retried {
				c.sent[len(c.sent)-1].Retried = true
			}
		}
		if step.gone {
			// Kept as gone until the Matrix user leaves: no re-join loop.
			c.state = clientGone
		}
		rv.mu.Unlock()
		for _, b := range append(step.send, msgs...) {
			rv.g.enqueue(ctx, b)
		}
		rv.storeClient(ctx, rp.room, c.user, c)
		if step.tell != "" {
			rv.tell(ctx, rp, c.user, step.tell)
		}
		if step.joined && first {
			rv.followAgain(rp)
		}
		return
	}
	if p.Type == "error" || p.Nick == "" || rp.ours(p.Nick) || rv.onDomain(p.JID) {
		rv.mu.Unlock()
		return
	}
	o := rp.remote[p.Nick]
	if real, err := jid.Parse(p.JID); err == nil && p.JID != "" && (p.Type == "" || p.Type == "unavailable") {
		// Its puppet's Matrix presence follows (presence.go), and its
		// avatar (pepfetch.go: XEP-0084, else the vCard of its bare JID).
		show, status := presenceOf(st)
		rv.g.xmppPresence(real, revPortalPrefix+rp.muc, p.Type == "", show, status)
		if hash := photoHash(st); p.Type == "" && rv.g.avatarChecks.due(real.Bare().String(), hash, time.Now()) {
			if pu, err := rv.remotePuppet(rp, p.Nick, p.JID); err == nil {
				bare, room := real.Bare(), rp.room
				rv.g.push("avatar/"+bare.String(), nil, func(ctx context.Context) { rv.g.avatarFromXMPP(ctx, bare, pu, room, hash) })
			}
		}
	}
	switch {
	case p.Type == "unavailable" && o != nil:
		delete(rp.remote, p.Nick)
		rv.mu.Unlock()
		rv.puppetMembership(ctx, rp, o.puppet, "leave")
	case p.Type == "" && o == nil:
		pu, err := rv.remotePuppet(rp, p.Nick, p.JID)
		if err != nil {
			rv.mu.Unlock()
			return
		}
		rp.remote[p.Nick] = &remoteOccupant{nick: p.Nick, puppet: pu}
		rv.mu.Unlock()
		if _, err := kit.SyncProfile(ctx, rv.m.host, rp.room, pu, kit.Profile{Displayname: p.Nick}); err != nil {
			rv.log.Warn("xmpp: could not queue a puppet's name", "puppet", pu, "err", err)
		}
		rv.puppetMembership(ctx, rp, pu, "join")
	default:
		rv.mu.Unlock()
	}
}

// onDomain reports whether a real JID is on the component's domain:
// one of the bridge's own occupants, never a puppet (loop guard).
func (rv *reverse) onDomain(real string) bool {
	if real == "" {
		return false
	}
	j, err := jid.Parse(real)
	return err == nil && j.Domain().Equal(rv.m.domain)
}

// remotePuppet is the puppet of the occupant nick of rp: from its real
// bare JID when the MUC shows it, else from room@service/nick.
func (rv *reverse) remotePuppet(rp *revPortal, nick, real string) (matrix.UserID, error) {
	name := rp.muc + "/" + nick
	if j, err := jid.Parse(real); err == nil && real != "" {
		name = j.Bare().String()
	}
	return rv.g.puppetOf(name)
}

// puppetMembership queues a puppet's join or leave of the portal room.
func (rv *reverse) puppetMembership(ctx context.Context, rp *revPortal, pu matrix.UserID, typ string) {
	op := intent.Op{Kind: intent.OpMembership, Room: rp.room, Sender: pu, Type: typ}
	if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
		rv.log.Warn("xmpp: could not queue a puppet's membership", "puppet", pu, "type", typ, "err", err)
	}
}

// tell queues a notice for a Matrix user in the portal room.
func (rv *reverse) tell(ctx context.Context, rp *revPortal, u matrix.UserID, text string) {
	if err := notice.Tell(ctx, rv.m.host.Outbox(), rp.room, string(u)+": "+text, ""); err != nil {
		rv.log.Warn("xmpp: could not queue a notice", "user", u, "err", err)
	}
}

// message takes a message from rp's MUC to the occupant to: an error
// about a Matrix message, a reflection of one, a subject, or a message
// of another occupant, posted by its puppet once.
func (rv *reverse) message(ctx context.Context, rp *revPortal, st *component.Stanza, from, to jid.JID) {
	if st.Attr("type") == "error" {
		rv.refused(ctx, rp, st, to)
		return
	}
	if st.Attr("type") != "groupchat" {
		return
	}
	m := parseMUCMessage(st, rp.muc)
	nick := from.Resourcepart()
	m.Nick = nick
	rv.mu.Lock()
	c := rp.clientAt(to.String())
	switch {
	case c == nil || c.state != clientJoined:
		rv.mu.Unlock()
		return // not (yet) an occupant: the MUC's history and such
	case rp.ours(nick):
		rv.mu.Unlock()
		rv.reflected(ctx, rp, m)
		return
	case m.Subject != nil:
		rv.mu.Unlock()
		if _, err := kit.SetRoomTopic(ctx, rv.m.host, rp.room, *m.Subject); err != nil {
			rv.log.Warn("xmpp: could not queue a topic", "room", rp.room, "err", err)
		}
		return
	case nick == "":
		// The room's own message: a moderation announcement is taken
		// from one occupant's copy, unless one of the bridge's
		// occupants moderated (the event is redacted already).
		mod, ok := parseModerated(st.Inner, rp.muc)
		take := ok && rp.listener() == c && (mod.nick == "" || !rp.ours(mod.nick))
		rv.mu.Unlock()
		if take {
			rv.moderated(ctx, rp, mod) // reverse_moderation.go
		}
		return
	case m.Body == "" && m.Retract == "" && !m.HasReactions:
		state, marked := chatState(st), displayedID(st)
		listener := rp.listener() == c
		rv.mu.Unlock()
		if !listener { // one copy of what has no stanza-id
			return
		}
		if state != "" {
			rv.chatState(ctx, rp, nick, state)
		}
		if marked != "" {
			rv.displayedFromMUC(ctx, rp, nick, marked) // reverse_markers.go
		}
		return
	}
	if m.StanzaID == "" {
		// Without a stanza-id the copies cannot be told apart: only the
		// first joined occupant's counts.
		if rp.listener() != c {
			rv.mu.Unlock()
			return
		}
		m.StanzaID = nick + "/" + st.Attr("id")
	} else if !rp.see(m.StanzaID) {
		rv.mu.Unlock()
		return
	}
	if o := rp.remote[nick]; o != nil {
		rv.mu.Unlock()
		rv.chatState(ctx, rp, nick, "active") // a message ends its typing
		rv.post(ctx, rp, o.puppet, "", m)
		return
	}
	rv.mu.Unlock()
	pu, err := rv.remotePuppet(rp, nick, "")
	if err != nil {
		return
	}
	rv.post(ctx, rp, pu, nick, m)
}

// listener is the joined client with the least user ID. Call with rv.mu
// held.
func (rp *revPortal) listener() *mucClient {
	var l *mucClient
	for _, c := range rp.clients {
		if c.state == clientJoined && (l == nil || c.user < l.user) {
			l = c
		}
	}
	return l
}

// see records a stanza-id and reports whether it is new. Call with
// rv.mu held.
func (rp *revPortal) see(id string) bool {
	if rp.seen[id] {
		return false
	}
	rp.seen[id] = true
	rp.order = append(rp.order, id)
	if len(rp.order) > seenMax {
		delete(rp.seen, rp.order[0])
		rp.order = rp.order[1:]
	}
	return true
}

// post queues a MUC message to the portal room from puppet pu, keyed and
// linked by its stanza-id (a message posted live and found again in the
// archive, even after the outbox forgot it, is posted once), at its original time when it has one. nick,
// when set, names a puppet not yet known (it gets its name first).
func (rv *reverse) post(ctx context.Context, rp *revPortal, pu matrix.UserID, nick string, m mucMessage) {
	switch {
	case m.Retract != "":
		rv.retracted(ctx, rp, pu, m)
		return
	case m.HasReactions:
		rv.reacted(ctx, rp, pu, m) // reverse_relations.go
		return
	}
	sender := m.Nick
	id := m.ID
	var original matrix.EventID
	if m.Replace != "" {
		// An XEP-0308 correction: an edit of the message it names, when
		// the bridge knows it; else a new message. Its own id names the
		// original too, for later corrections.
		if ev, ok := rv.original(ctx, rp, sender, m.Replace); ok {
			original, id = ev, ""
		}
	}
	key := revKey(rp.muc, m.StanzaID, sender, id)
	// The outbox forgets keys after its retention; links stay, so an
	// old message read again from the archive is not posted twice.
	if _, err := rv.m.host.Links().ByRemote(ctx, bridges.MessageID{ID: key}); err == nil {
		return
	} else if !errors.Is(err, bridges.ErrNotFound) {
		rv.log.Warn("xmpp: could not read a message link", "key", key, "err", err)
	}
	if nick != "" {
		if _, err := kit.SyncProfile(ctx, rv.m.host, rp.room, pu, kit.Profile{Displayname: nick}); err != nil {
			rv.log.Warn("xmpp: could not queue a puppet's name", "puppet", pu, "err", err)
		}
	}
	var replyTo matrix.EventID
	if m.ReplyID != "" {
		// An XEP-0461 reply: m.in_reply_to without the quote, when the
		// bridge knows the message; else the quote is all the context.
		if ev, ok := rv.eventOfSID(ctx, rp, m.ReplyID); ok {
			if stripped, all := stripFallbacks(m.In.text, m.Fallbacks, nsReply); !all && strings.TrimSpace(stripped) != "" {
				m.In = inbound{text: stripped}
			}
			replyTo = ev
		}
	}
	content := rv.g.toMatrix(ctx, pu, m.In) // formatting, files (content.go)
	if replyTo != "" && original == "" {
		content.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: replyTo}}
	}
	if original != "" {
		nc := content.MessageContent
		content = matrixContent{MessageContent: matrix.MessageContent{MsgType: nc.MsgType, Body: "* " + nc.Body, NewContent: &nc,
			RelatesTo: &matrix.RelatesTo{RelType: "m.replace", EventID: original}}}
		if m.ID != "" {
			l := bridges.Link{Remote: bridges.MessageID{ID: revIDLink(rp.muc, sender, m.ID)}, Room: rp.room, Event: original}
			if err := rv.m.host.Links().Put(ctx, l); err != nil {
				rv.log.Warn("xmpp: could not link a correction", "err", err)
			}
		}
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	op := intent.Op{Kind: intent.OpMessage, Room: rp.room, Sender: pu, Type: matrix.EventMessage, Content: raw,
		Key: key, Link: &intent.Link{Module: ID, RemoteID: key}, Timestamp: m.Stamp}
	if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
		rv.log.Warn("xmpp: could not queue a MUC message", "muc", rp.muc, "err", err)
		return
	}
	if m.Archived {
		// A catch-up starts after it.
		if err := rv.m.host.KV().Put(ctx, revLastKey(rp.room), []byte(m.StanzaID)); err != nil {
			rv.log.Warn("xmpp: could not store a MUC's last archive id", "muc", rp.muc, "err", err)
		}
	}
}

// reflected links a Matrix message, reflected by the MUC with its
// origin-id (the event ID), to the stanza-id the MUC gave it.
func (rv *reverse) reflected(ctx context.Context, rp *revPortal, m mucMessage) {
	if m.OriginID == "" || m.StanzaID == "" || !strings.HasPrefix(m.OriginID, "$") {
		return
	}
	l := bridges.Link{Remote: bridges.MessageID{ID: revKeyPrefix + rp.muc + "/" + address.Escape(m.StanzaID)}, Room: rp.room,
		Event: matrix.EventID(m.OriginID)}
	if err := rv.m.host.Links().Put(ctx, l); err != nil {
		rv.log.Warn("xmpp: could not link a reflected message", "event", m.OriginID, "err", err)
	}
	rv.rememberSID(ctx, matrix.EventID(m.OriginID), m.StanzaID)
}

// refused takes the MUC's error answer to a Matrix message (its id is
// the event ID) sent from the occupant to: when the MUC did not know the
// occupant (not-acceptable), the occupant joins again and the message is
// sent once more after the join; otherwise the room gets a notice.
func (rv *reverse) refused(ctx context.Context, rp *revPortal, st *component.Stanza, to jid.JID) {
	ev := st.Attr("id")
	if !strings.HasPrefix(ev, "$") {
		return
	}
	p := parseMUCPresence(st, jid.JID{})
	if p.Cond == "not-acceptable" {
		rv.mu.Lock()
		var join []byte
		again := false
		if c := rp.clientAt(to.String()); c != nil {
			join, again = c.notIn(matrix.EventID(ev))
		}
		rv.mu.Unlock()
		if join != nil {
			rv.g.enqueue(ctx, join)
		}
		if again {
			rv.log.Info("xmpp: the MUC did not know an occupant; joining again to send a message", "muc", rp.muc, "event", ev)
			return
		}
	}
	reason := "the XMPP room refused it (" + p.Cond + ")"
	if p.Text != "" {
		reason += ": " + p.Text
	}
	if err := notice.NotDelivered(ctx, rv.m.host.Outbox(), notice.Report{Room: rp.room, Event: matrix.EventID(ev),
		Network: "XMPP", Reason: reason}); err != nil {
		rv.log.Warn("xmpp: could not queue a notice", "err", err)
	}
}

// pingRoute answers pings from a reverse portal's MUC (XEP-0410
// self-pings it forwards, pings of other occupants) to the occupant JIDs
// of the bridge: a result while the occupant is in the MUC, else
// not-acceptable (XEP-0410: the client is not joined).
func (rv *reverse) pingRoute(st *component.Stanza, from, to jid.JID) bool {
	ps := st.Payloads()
	if len(ps) != 1 || ps[0].Name.Space != nsPing || ps[0].Name.Local != "ping" || st.Attr("type") != "get" {
		return false
	}
	rv.mu.Lock()
	rp := rv.byMUC[from.Bare().String()]
	var c *mucClient
	if rp != nil {
		c = rp.clientAt(to.String())
	}
	rv.mu.Unlock()
	if rp == nil {
		return false
	}
	var b []byte
	if c != nil && c.state != clientGone {
		b = mustMarshal(iqStanza{From: to.String(), To: from.String(), ID: st.Attr("id"), Type: "result"})
	} else {
		b = errorPresenceStanza("iq", to.String(), from.String(), st.Attr("id"), "", "cancel", "not-acceptable",
			"not an occupant of this room")
	}
	rv.g.enqueue(context.Background(), b)
	return true
}

// privateRoute takes the other messages from a reverse portal's MUC to
// the bridge's occupants: a private message of an occupant (chat from
// room@service/nick) is refused with a text, since only the room is
// bridged; the MUC's own notices and invitations are dropped.
func (rv *reverse) privateRoute(st *component.Stanza, from, to jid.JID) bool {
	if kind, _, err := address.Parse(to.Localpart()); err != nil || kind != address.User || to.Localpart() == "" {
		return false
	}
	rv.mu.Lock()
	rp := rv.byMUC[from.Bare().String()]
	rv.mu.Unlock()
	if rp == nil {
		return false
	}
	if st.Attr("type") == "chat" && from.Resourcepart() != "" {
		rv.g.enqueue(context.Background(), errorPresenceStanza("message", to.String(), from.String(), st.Attr("id"), "",
			"cancel", "service-unavailable", "private messages in this room are not bridged to Matrix; write in the room"))
	}
	return true
}

// retracted redacts, as its author's puppet pu, the message an XEP-0424
// retraction names: by the MUC's stanza-id (the current form) or by the
// author's own id (the old one), only among the author's messages. A
// retraction of a message the bridge does not know is dropped.
func (rv *reverse) retracted(ctx context.Context, rp *revPortal, pu matrix.UserID, m mucMessage) {
	var ev matrix.EventID
	if l, err := rv.m.host.Links().ByRemote(ctx, bridges.MessageID{ID: revSIDLink(rp.muc, m.Nick, m.Retract)}); err == nil {
		ev = l.Event
	} else if e, ok := rv.original(ctx, rp, m.Nick, m.Retract); ok {
		ev = e // the old form names the author's id
	} else if e, ok := rv.inFlight(ctx, rp, m.Nick, m.Retract); ok {
		ev = e
	}
	if ev == "" {
		rv.log.Info("xmpp: a retraction of an unknown message dropped", "muc", rp.muc, "id", m.Retract)
		return
	}
	op := intent.Op{Kind: intent.OpRedaction, Room: rp.room, Sender: pu, Redacts: ev, Key: revKey(rp.muc, m.StanzaID, m.Nick, "")}
	if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
		rv.log.Warn("xmpp: could not queue a retraction", "muc", rp.muc, "err", err)
	}
}

// inFlight returns the event of the message of nick with stanza-id sid
// when it is the newest of nick's messages and still in the outbox,
// once Matrix took it: a retraction right after the message.
func (rv *reverse) inFlight(ctx context.Context, rp *revPortal, nick, sid string) (matrix.EventID, bool) {
	out := rv.m.host.Outbox()
	op, ok, err := out.LatestKeyed(ctx, rp.room, revKeyPrefix+rp.muc+"/"+address.Escape(nick)+"/")
	if err != nil || !ok || !strings.HasSuffix(op.Key, "/"+address.Escape(sid)) || op.Kind != intent.OpMessage {
		return "", false
	}
	wctx, cancel := context.WithTimeout(ctx, waitMatrix)
	defer cancel()
	if ev, err := out.SendAndWait(wctx, op); err == nil {
		return ev, true
	}
	if l, err := rv.m.host.Links().ByRemote(ctx, bridges.MessageID{ID: op.Key}); err == nil {
		return l.Event, true // delivered meanwhile
	}
	return "", false
}

// chatState follows an occupant's XEP-0085 chat state with its puppet's
// typing: composing types (renewed at most every half timeout), any
// other state stops it.
func (rv *reverse) chatState(ctx context.Context, rp *revPortal, nick, state string) {
	rv.mu.Lock()
	o := rp.remote[nick]
	if o == nil {
		rv.mu.Unlock()
		return
	}
	since, typing := rp.typing[o.puppet]
	start, now := state == "composing", time.Now()
	switch {
	case start && typing && now.Sub(since) < typingTimeout/2, !start && !typing:
		rv.mu.Unlock()
		return
	case start:
		if rp.typing == nil {
			rp.typing = map[matrix.UserID]time.Time{}
		}
		rp.typing[o.puppet] = now
	default:
		delete(rp.typing, o.puppet)
	}
	pu := o.puppet
	rv.mu.Unlock()
	if err := rv.m.host.Matrix().Intent(pu).SetTyping(ctx, rp.room, start, typingTimeout); err != nil {
		rv.log.Debug("xmpp: could not set a puppet's typing", "puppet", pu, "room", rp.room, "err", err)
	}
}

// typingFromMatrix sends the changes between the Matrix users last told
// typing in a reverse portal and users: composing when one starts,
// active when one stops, from their occupants in the MUC.
func (rv *reverse) typingFromMatrix(ctx context.Context, room matrix.RoomID, users []matrix.UserID) {
	var out [][]byte
	rv.mu.Lock()
	rp := rv.byRoom[room]
	if rp == nil {
		rv.mu.Unlock()
		return
	}
	now := map[matrix.UserID]bool{}
	for _, u := range users {
		now[u] = true
	}
	send := func(u matrix.UserID, state string) {
		if c := rp.clients[u]; c != nil && c.state == clientJoined {
			out = append(out, chatStateStanza(c.self, rp.muc, "groupchat", state, ""))
		}
	}
	for u := range now {
		if !rp.mxTyping[u] {
			send(u, "composing")
		}
	}
	for u := range rp.mxTyping {
		if !now[u] {
			send(u, "active")
		}
	}
	rp.mxTyping = now
	rv.mu.Unlock()
	for _, b := range out {
		rv.g.enqueue(ctx, b)
	}
}
