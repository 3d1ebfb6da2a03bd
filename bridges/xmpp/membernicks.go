package xmpp

import (
	"context"
	"sort"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// Applying the nick rule (nickrule.go) to a hosted room: after every
// change of what it depends on (a Matrix member joins, leaves, is
// renamed; an XMPP occupant joins, leaves, changes nick; the members are
// read again) the room's Matrix members get the nicks the rule gives,
// and the occupants see each change as a 303 nick change.

// settleLocked applies the nick rule to r under g.mu and tells the
// occupants of every announced member whose nick changed: all the old
// nicks' 303 presences first, then the new nicks' presences, so no two
// occupants share a nick even for a moment.
func (g *gateway) settleLocked(ctx context.Context, r *mucRoom) {
	claims := make([]nickClaim, 0, len(r.members))
	mbs := make([]*member, 0, len(r.members))
	for u, mb := range r.members {
		mbs = append(mbs, mb)
		want := mb.want
		if want == "" { // known by its nick only
			want = mb.nick
		}
		claims = append(claims, nickClaim{user: u, want: want, since: mb.since})
	}
	reserved := map[string]bool{}
	for _, o := range r.occupants {
		// A joiner is not in yet: it is refused (409) if a member has
		// its nick once the members are read (gateway.go join).
		if !o.joining {
			reserved[o.Nick] = true
		}
	}
	got := assignNicks(claims, func(n string) bool { return reserved[n] })
	type change struct {
		u   matrix.UserID
		old string
	}
	var changed []change
	for i, c := range claims {
		mb := mbs[i]
		if got[i] == mb.nick {
			continue
		}
		if mb.nick != "" && r.announced[c.user] {
			changed = append(changed, change{c.user, mb.nick})
		}
		mb.nick = got[i]
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].u < changed[j].u })
	for _, c := range changed {
		mb := r.members[c.u]
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return nickChangeStanza(nickJID(o.RoomJID, c.old), "", g.memberItem(r.id, c.u, mb), mb.nick)
		})
	}
	for _, c := range changed {
		mb := r.members[c.u]
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", c.u, mb)
		})
	}
}

// claimLocked sets what member mb of u wants (its displayname dn) and
// when it took it (now, unless it wanted the same before).
func (g *gateway) claimLocked(u matrix.UserID, mb *member, dn string, now time.Time) {
	if want := g.nickOf(u, dn); want != mb.want || mb.since == 0 {
		mb.want, mb.since = want, now.UnixMilli()
	}
}

// unknownMemberLocked returns r's member u, added (wanting its
// localpart: its displayname is not known) when the room's members did
// not list it, under g.mu.
func (g *gateway) unknownMemberLocked(ctx context.Context, r *mucRoom, u matrix.UserID) *member {
	if mb := r.members[u]; mb != nil {
		return mb
	}
	mb := &member{}
	g.claimLocked(u, mb, "", time.Now())
	r.members[u] = mb
	g.settleLocked(ctx, r)
	return mb
}

// formerNickLocked is the nick of u, no longer a member of r, wanting
// the nick want, in the archive: what the rule gives it as the newest
// claimant, against the nicks r's members and occupants have now.
func (g *gateway) formerNickLocked(r *mucRoom, u matrix.UserID, want string) string {
	taken := map[string]bool{}
	for _, o := range r.occupants {
		taken[o.Nick] = true
	}
	for v, mb := range r.members {
		if v != u {
			taken[mb.nick] = true
		}
	}
	return nickAmong(u, want, func(n string) bool { return taken[n] })
}

// ensureMembersLoaded reads r's Matrix members as puppet p sees them
// when they were not read since the start, so that the archive names
// them as live messages do.
func (g *gateway) ensureMembersLoaded(ctx context.Context, r *mucRoom, p matrix.UserID) {
	g.mu.Lock()
	loaded := r.loaded
	g.mu.Unlock()
	if loaded {
		return
	}
	if err := g.loadMembers(ctx, r, p); err != nil {
		g.log.Warn("xmpp: could not read the room's members", "room", r.id, "err", err)
	}
}

// departedLocked tells the occupants of r, under g.mu, that the
// announced members of r that members (the room's members read again)
// lacks have left, before their nicks may go to others.
func (g *gateway) departedLocked(ctx context.Context, r *mucRoom, members map[matrix.UserID]*member) {
	for u, old := range r.members {
		if members[u] != nil || !r.announced[u] {
			continue
		}
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return presenceStanza(nickJID(o.RoomJID, old.nick), "", g.memberItem(r.id, u, old), true)
		})
		delete(r.announced, u)
	}
}
