package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Presence both ways (issue 10 §5) and Matrix users as contacts.
//
// XMPP → Matrix: the presences an XMPP user sends to Matrix users' JIDs
// (its contacts) and to the MUCs it joined are recorded per resource
// (presenceBook); the best of them is its puppet's Matrix presence,
// written in the user's own lane, only when it changed.
//
// Matrix → XMPP: a Matrix user's presence (bridges.PresenceHandler) goes
// from its JID to the XMPP users subscribed to it, and from room/nick to
// the occupants of the hosted rooms it was announced in.

// presenceLane is the lane that writes an XMPP user's puppet presence.
func presenceLane(real string) string { return "presence " + real }

// presenceOf returns the show and status children of a presence.
func presenceOf(st *component.Stanza) (show, status string) {
	if c, ok := find(st, st.Start.Name.Space, "show"); ok {
		show = c.Text
	}
	if c, ok := find(st, st.Start.Name.Space, "status"); ok {
		status = c.Text
	}
	return show, status
}

// xmppPresence records a presence of from seen through channel via and
// has the puppet's Matrix presence follow.
func (g *gateway) xmppPresence(from jid.JID, via string, available bool, show, status string) {
	g.recordPresence(from.Bare().String(), from.String(), via, available, show, status)
}

// recordPresence is xmppPresence for the bare JID real and full JID
// full; the book keeps these strings, so an occupant's join passes its
// record's own.
func (g *gateway) recordPresence(real, full, via string, available bool, show, status string) {
	g.book.update(real, full, via, available, show, status)
	g.push(presenceLane(real), nil, func(ctx context.Context) { g.writePresence(ctx, real) })
}

// writePresence sets the puppet's Matrix presence when it changed.
func (g *gateway) writePresence(ctx context.Context, real string) {
	p, ok := g.book.due(real)
	if !ok {
		return
	}
	pup, err := g.puppetOf(real)
	if err != nil {
		return
	}
	if err := g.m.host.Matrix().Intent(pup).SetPresence(ctx, p.Presence, p.Status); err != nil {
		g.book.unmark(real)
		g.log.Info("xmpp: could not set a puppet's presence", "puppet", pup, "err", err)
	}
}

// contactPresence handles a presence from an XMPP user to the JID of
// Matrix user u: availability, subscriptions and probes.
func (g *gateway) contactPresence(st *component.Stanza, from, to jid.JID, u matrix.UserID) {
	typ := st.Attr("type")
	real, userJID := from.Bare().String(), to.Bare()
	switch typ {
	case "", "unavailable":
		show, status := presenceOf(st)
		g.xmppPresence(from, rosterChannel, typ == "", show, status)
		if typ == "" {
			g.contactAvatar(st, from, to, u) // pepfetch.go (XEP-0084, else vCard)
		}
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		g.push(dmLane(real, u), nil, func(ctx context.Context) { g.subscription(ctx, from.Bare(), userJID, u, typ) })
	case "probe":
		g.push(dmLane(real, u), nil, func(ctx context.Context) {
			if p, ok := g.matrixPresenceOf(ctx, u); ok {
				g.enqueue(ctx, g.contactAvailability(userJID.String(), from.String(), p))
			}
			g.lastAvatar(ctx, u, userJID.String(), from.Bare().String()) // pepserve.go
		})
	}
}

// subscription answers a subscription presence of real to u's JID and
// stores the new state.
func (g *gateway) subscription(ctx context.Context, real, userJID jid.JID, u matrix.UserID, typ string) {
	send := func(typ, nick string) {
		g.enqueue(ctx, contactPresence(userJID.String(), real.String(), typ, "", "", nick))
	}
	if !g.matrixOccupant(u) {
		if typ == "subscribe" {
			send("unsubscribed", "")
		}
		return
	}
	var name string
	if typ == "subscribe" {
		n, err := g.m.host.Matrix().Bot().Displayname(ctx, u)
		if errors.Is(err, intent.ErrNotFound) {
			send("unsubscribed", "") // no such Matrix user
			return
		}
		if name = cleanNick(n); name == "" {
			name = g.nickOf(u, "")
		}
	}
	s, err := g.loadSubscription(ctx, u, real.String())
	if err != nil {
		g.log.Warn("xmpp: could not read a subscription", "err", err)
		return
	}
	was := s.To
	a := s.apply(typ)
	if err := g.storeSubscription(ctx, u, real.String(), s); err != nil {
		g.log.Warn("xmpp: could not store a subscription", "err", err)
		return
	}
	switch {
	case s.To && !was:
		g.watch(u, 1)
	case !s.To && was:
		g.watch(u, -1)
	}
	for _, t := range a.Types {
		switch t {
		case "presence":
			if p, ok := g.matrixPresenceOf(ctx, u); ok {
				g.enqueue(ctx, g.contactAvailability(userJID.String(), real.String(), p))
			}
			g.lastAvatar(ctx, u, userJID.String(), real.String()) // pepserve.go
		case "subscribe":
			send(t, name) // XEP-0172: the roster name
		default:
			send(t, "")
		}
	}
}

// contactAvailability is the presence of a Matrix user from its JID.
func (g *gateway) contactAvailability(from, to string, p matrixPresence) []byte {
	typ, show := xmppShow(p.Presence)
	return contactPresence(from, to, typ, show, p.Status, "")
}

// matrixPresenceOf returns u's presence: the last one Matrix sent, else
// the homeserver's answer.
func (g *gateway) matrixPresenceOf(ctx context.Context, u matrix.UserID) (matrixPresence, bool) {
	g.mxMu.Lock()
	p, ok := g.mx[u]
	g.mxMu.Unlock()
	if ok {
		return p, true
	}
	got, err := g.m.host.Matrix().Bot().Presence(ctx, u)
	if err != nil {
		g.log.Info("xmpp: could not read a Matrix user's presence", "user", u, "err", err)
		return matrixPresence{}, false
	}
	return matrixPresence{Presence: got.Presence, Status: got.StatusMsg}, true
}

// matrixPresence records a Matrix user's new presence and sends it to
// its subscribers and to the occupants of the rooms it is shown in.
func (g *gateway) matrixPresence(p *bridges.Presence) {
	u, now := p.UserID, matrixPresence{Presence: p.Presence, Status: p.StatusMsg}
	g.mxMu.Lock()
	old, seen := g.mx[u]
	watched := g.watched[u] > 0
	g.mxMu.Unlock()
	if seen && old == now {
		return
	}
	if !watched && !g.shown(u) {
		g.mxMu.Lock()
		delete(g.mx, u) // nobody on XMPP sees u: nothing to keep
		g.mxMu.Unlock()
		return
	}
	g.mxMu.Lock()
	g.mx[u] = now
	g.mxMu.Unlock()
	g.push("mxpresence "+string(u), nil, func(ctx context.Context) {
		from, err := address.UserJID(g.m.domain, u)
		if err != nil {
			return
		}
		subs, err := g.subscribers(ctx, u)
		if err != nil {
			g.log.Warn("xmpp: could not read a Matrix user's subscribers", "user", u, "err", err)
		}
		for _, real := range subs {
			g.enqueue(ctx, g.contactAvailability(from.String(), real, now))
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, r := range g.rooms {
			mb := r.members[u]
			if mb == nil || !r.announced[u] {
				continue
			}
			g.toOthers(ctx, r, nil, func(o *occupant) []byte {
				return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", u, mb)
			})
		}
	})
}

// shown reports whether u is shown as a member in a hosted room.
func (g *gateway) shown(u matrix.UserID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		if r.members[u] != nil && len(r.occupants) > 0 {
			return true
		}
	}
	return false
}

// memberPresence is the available presence of Matrix member u from
// room/nick, with its show and status when Matrix told them.
func (g *gateway) memberPresence(room matrix.RoomID, from, to string, u matrix.UserID, mb *member) []byte {
	g.mxMu.Lock()
	p := g.mx[u]
	g.mxMu.Unlock()
	typ, show := xmppShow(p.Presence)
	if typ != "" {
		show = "xa" // offline on Matrix but a member: still in the room
	}
	return occupantPresenceStanza(from, to, g.memberItem(room, u, mb), show, p.Status)
}

// occupantUpdate handles an occupant's new availability in its room
// (XEP-0045 §7.7): every occupant gets it, its own resources with 110,
// and the puppet's Matrix presence follows. Called with g.mu held.
func (g *gateway) occupantUpdate(ctx context.Context, r *mucRoom, o *occupant, from jid.JID, show, status string) {
	for _, other := range r.occupants {
		item := g.xmppItem(r.id, o.Real, o.Real)
		var codes []string
		if other == o {
			item.JID, codes = from.String(), []string{statusSelf}
		}
		b := occupantPresenceStanza(nickJID(other.RoomJID, o.Nick), "", item, show, status, codes...)
		for _, res := range other.Resources.all() {
			g.deliver(ctx, other, withTo(b, res))
		}
	}
	g.xmppPresence(from, o.RoomJID, true, show, status)
}

// HandleMatrixPresence implements bridges.PresenceHandler: a Matrix
// user's presence goes to its XMPP subscribers and to the occupants of
// the rooms it is shown in.
func (m *Module) HandleMatrixPresence(ctx context.Context, p *bridges.Presence) {
	if m.gw == nil || m.users.Owns(p.UserID) {
		return
	}
	m.gw.matrixPresence(p)
	if m.rev != nil {
		m.rev.matrixPresence(ctx, p.UserID, p.Presence, p.StatusMsg) // reverse.go
	}
}

var _ bridges.PresenceHandler = (*Module)(nil)
