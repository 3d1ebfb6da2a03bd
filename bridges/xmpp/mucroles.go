package xmpp

import (
	"context"
	"encoding/json"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Roles and affiliations follow Matrix power levels (XEP-0045 §9, §10
// as the room reports them): 100 owner/moderator, 50 admin/moderator,
// else member/participant, for Matrix members and for XMPP occupants'
// puppets alike. A new m.room.power_levels in a hosted room gives the
// occupants the presence of every occupant whose role or affiliation
// changed (110 to its own resources), so clients show or hide their
// moderation commands at once.

// powerLevelsChanged applies a room's new power levels (content) to its
// occupants and members.
func (g *gateway) powerLevelsChanged(ctx context.Context, room matrix.RoomID, content json.RawMessage) {
	var pl intent.PowerLevels
	if err := json.Unmarshal(content, &pl); err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil || len(r.occupants) == 0 {
		return
	}
	for u, mb := range r.members {
		old := mb.level
		mb.level = level(&pl, u)
		if sameRole(old, mb.level) || !r.announced[u] {
			continue
		}
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", u, mb)
		})
	}
	for _, o := range r.occupants {
		old := o.level
		o.level = level(&pl, o.Puppet)
		if sameRole(old, o.level) || o.joining {
			continue
		}
		for _, other := range r.occupants {
			for _, res := range other.Resources.all() {
				item, codes, about := g.xmppItem(r.id, o.Real, o.Real), []string(nil), ""
				if other == o {
					item.JID, codes, about = res, []string{statusSelf}, res
				}
				show, status := g.book.showOf(o.Real, about)
				g.deliver(ctx, other, occupantPresenceStanza(nickJID(other.RoomJID, o.Nick), res, item, show, status, codes...))
			}
		}
	}
}

// sameRole reports whether two power levels give the same affiliation
// and role.
func sameRole(a, b int) bool {
	aa, ar := affiliation(a)
	ba, br := affiliation(b)
	return aa == ba && ar == br
}

// showOf returns the show and status of real's resource full, or of its
// best resource when full is "" or not available.
func (b *presenceBook) showOf(real, full string) (show, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.users[real]
	if e == nil {
		return "", ""
	}
	var best *resPresence
	for i := range e.res {
		r := &e.res[i]
		if r.full == full {
			return r.show, r.status
		}
		if best == nil || showRank(r.show) < showRank(best.show) {
			best = r
		}
	}
	if best == nil {
		return "", ""
	}
	return best.show, best.status
}
