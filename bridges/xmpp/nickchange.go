package xmpp

import (
	"context"
	"encoding/json"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Nick changes in hosted rooms (XEP-0045 §7.6), both ways. An XMPP
// occupant's available presence to room/newnick from one of its joined
// resources renames it: every occupant gets the old nick's unavailable
// presence with 303 and the new nick in its item (the renamed occupant's
// own resources with 110 too), then the new nick's available presence;
// its puppet's displayname in that Matrix room (its m.room.member event
// there) follows. A Matrix member's new displayname is the same 303 pair
// to the XMPP occupants.

// nickChangeStanza is the unavailable presence of an occupant's old nick
// (from) announcing its new nick: the item keeps its role (XEP-0045
// example 55) and names the new nick; codes adds 110 for the occupant's
// own resources.
func nickChangeStanza(from, to string, item mucItem, newNick string, codes ...string) []byte {
	item.Nick = newNick
	p := occupantPresence{From: from, To: to, Type: "unavailable", X: mucUserX{Item: item}}
	if item.OccupantID != "" {
		p.OccupantID = &occupantIDEl{ID: item.OccupantID}
	}
	for _, c := range append([]string{statusNewNick}, codes...) {
		p.X.Status = append(p.X.Status, mucStatus{Code: c})
	}
	return mustMarshal(p)
}

// renameLocked changes the nick of occupant o of r to nick for its
// resource from, under g.mu, or refuses with 409 when the nick is taken.
// It reports whether the nick changed (the caller then renames the
// puppet in Matrix, off the lock).
func (g *gateway) renameLocked(ctx context.Context, st *component.Stanza, from, to jid.JID, r *mucRoom, o *occupant) bool {
	nick := to.Resourcepart()
	if who := r.nickTaken(nick, o.Real); who != "" {
		g.refuse(ctx, st, from, to, "cancel", "conflict",
			fmt.Sprintf("the nickname %q is taken in this room by %s; keep yours or choose another", nick, who))
		return false
	}
	old := o.Nick
	show, status := presenceOf(st)
	for _, other := range r.occupants {
		item := g.xmppItem(r.id, o.Real, o.Real)
		for _, res := range other.Resources.all() {
			var codes []string
			it := item
			if other == o {
				it.JID, codes = res, []string{statusSelf}
			}
			g.deliver(ctx, other, nickChangeStanza(nickJID(other.RoomJID, old), res, it, nick, codes...))
		}
	}
	o.Nick = nick
	g.store(ctx, r.id, o)
	for _, other := range r.occupants {
		item := g.xmppItem(r.id, o.Real, o.Real)
		for _, res := range other.Resources.all() {
			var codes []string
			it := item
			if other == o {
				it.JID, codes = res, []string{statusSelf}
			}
			g.deliver(ctx, other, occupantPresenceStanza(nickJID(other.RoomJID, nick), res, it, show, status, codes...))
		}
	}
	g.xmppPresence(from, o.RoomJID, true, show, status)
	g.settleLocked(ctx, r) // the old nick may be a Matrix member's wish
	return true
}

// renamePuppet sets puppet p's displayname in room to nick: its
// m.room.member event there, keeping the rest of it (the avatar),
// through the durable outbox in order with its messages.
func (g *gateway) renamePuppet(ctx context.Context, room matrix.RoomID, p matrix.UserID, nick string) {
	content := map[string]any{}
	if err := g.m.host.Matrix().Intent(p).StateEventContent(ctx, room, matrix.EventMember, string(p), &content); err != nil {
		g.log.Info("xmpp: could not read the puppet's membership; renaming it anyway", "puppet", p, "room", room, "err", err)
		content = map[string]any{}
	}
	content["membership"] = "join"
	content["displayname"] = nick
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	op := intent.Op{Kind: intent.OpState, Room: room, Sender: p, Type: matrix.EventMember, StateKey: string(p), Content: raw}
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.log.Warn("xmpp: could not queue the puppet's new nick", "puppet", p, "room", room, "err", err)
	}
}
