package xmpp

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Moderation in hosted rooms (XEP-0045 §8.2 kick, §9.1 ban, §9.2 unban),
// both ways. An occupant's muc#admin IQ set acts through its puppet in
// Matrix: role='none' (by nick) kicks, affiliation='outcast' (by jid, or
// nick) bans, affiliation='none' (by jid) lifts a ban, each with its
// <reason/>. The puppet's Matrix power level must allow it (the room's
// kick or ban level, and above the target's level) or the IQ is answered
// forbidden / not-allowed. Once Matrix took it, every occupant gets the
// target's unavailable presence with 307 or 301, the actor's nick and the
// reason, as for any Matrix kick or ban (of a Matrix member or of an XMPP
// occupant's puppet), whose membership events come here through
// HandleMatrixMembership (the core drops those of the bridge's own
// puppets, so the gateway tells the occupants of its own kicks itself). Roles and affiliations
// are the power levels (affiliation): an IQ get lists the outcasts (the
// room's bans), the owners (level 100) and the admins (50 to 99); other
// changes answer feature-not-implemented: they are made in Matrix.

const nsMUCAdmin = "http://jabber.org/protocol/muc#admin"

// removal says how an occupant left when it was removed: kicked (307) or
// banned (301), by whom (a nick) and why. The zero value is a plain
// departure.
type removal struct {
	code, actor, reason string
}

// item adds the actor and the reason to it.
func (h removal) item(it mucItem) mucItem {
	if h.actor != "" {
		it.Actor = &mucActor{Nick: h.actor}
	}
	it.Reason = h.reason
	if h.code == statusBanned {
		it.Affiliation = "outcast"
	}
	return it
}

// codes are the status codes of the removal (none, or 307 or 301).
func (h removal) codes() []string {
	if h.code == "" {
		return nil
	}
	return []string{h.code}
}

// removalOf reads a Matrix membership event (c, sent by sender about
// target) as a removal, under g.mu: a ban, a kick (a leave sent by
// someone else) or a departure.
func (g *gateway) removalOf(r *mucRoom, target, sender matrix.UserID, c matrix.MemberContent) removal {
	var how removal
	switch {
	case c.Membership == "ban":
		how.code = statusBanned
	case c.Membership == "leave" && sender != "" && sender != target:
		how.code = statusKicked
	default:
		return how
	}
	how.reason = c.Reason
	if mb := r.members[sender]; mb != nil {
		how.actor = mb.nick
	}
	for _, o := range r.occupants {
		if o.Puppet == sender {
			how.actor = o.Nick
		}
	}
	return how
}

// kicked removes the occupant whose puppet left room (leave or ban,
// sent by sender): its resources get their unavailable presence with 110
// and, for a kick or ban, 307 or 301 with the actor and reason, as do
// the other occupants.
func (g *gateway) kicked(ctx context.Context, room matrix.RoomID, p, sender matrix.UserID, c matrix.MemberContent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil {
		return
	}
	for _, o := range r.occupants {
		if o.Puppet != p {
			continue
		}
		how := g.removalOf(r, p, sender, c)
		for _, res := range o.Resources.all() {
			g.enqueue(ctx, presenceStanza(nickJID(o.RoomJID, o.Nick), res, how.item(g.xmppItem(r.id, o.Real, res)), true,
				append([]string{statusSelf}, how.codes()...)...))
		}
		g.removeAsLocked(ctx, r, o, how)
		return
	}
}

// memberRemoved shows a Matrix member's kick or ban to the occupants
// (307 or 301 with the actor and reason) and reports whether c was one.
func (g *gateway) memberRemoved(ctx context.Context, room matrix.RoomID, u, sender matrix.UserID, c matrix.MemberContent) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil || !g.matrixOccupant(u) {
		return false
	}
	how := g.removalOf(r, u, sender, c)
	if how.code == "" {
		return false
	}
	if old := r.members[u]; old != nil && r.announced[u] {
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return presenceStanza(nickJID(o.RoomJID, old.nick), "", how.item(g.memberItem(r.id, u, old)), true, how.codes()...)
		})
	}
	delete(r.announced, u)
	delete(r.members, u)
	g.settleLocked(ctx, r) // its nick goes to the next in line
	return true
}

// adminItem is an <item/> of a muc#admin query.
type adminItem struct {
	Affiliation string `xml:"affiliation,attr,omitempty"`
	Role        string `xml:"role,attr,omitempty"`
	JID         string `xml:"jid,attr,omitempty"`
	Nick        string `xml:"nick,attr,omitempty"`
	Reason      string `xml:"reason,omitempty"`
}

type adminQuery struct {
	XMLName xml.Name    `xml:"http://jabber.org/protocol/muc#admin query"`
	Items   []adminItem `xml:"item"`
}

// adminRoute takes muc#admin queries to a hosted room's bare JID.
func (g *gateway) adminRoute(st *component.Stanza, from, to jid.JID) bool {
	p := st.Payloads()
	if len(p) != 1 || p[0].Name.Space != nsMUCAdmin || p[0].Name.Local != "query" || !isRoomJID(to) || to.Resourcepart() != "" {
		return false
	}
	typ := st.Attr("type")
	if typ != "get" && typ != "set" {
		return true // results and errors: nothing asked
	}
	var items []adminItem
	for _, n := range tree(st.Inner).child(nsMUCAdmin, "query").all(nsMUCAdmin, "item") {
		items = append(items, adminItem{Affiliation: n.attr("affiliation"), Role: n.attr("role"), JID: n.attr("jid"),
			Nick: n.attr("nick"), Reason: n.child(nsMUCAdmin, "reason").text()})
	}
	if len(items) == 0 {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "modify", "bad-request", "a muc#admin query needs an item"))
		return true
	}
	g.push(to.String(), func() {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "the room is busy; try again"))
	}, func(ctx context.Context) {
		if typ == "get" {
			g.adminList(ctx, st, from, to, items[0])
			return
		}
		g.adminSet(ctx, st, from, to, items)
	})
	return true
}

// adminError is a refusal of a muc#admin request.
type adminError struct{ typ, cond, text string }

func (e *adminError) Error() string { return e.cond + ": " + e.text }

// adminSet carries out the kicks and bans of an occupant's muc#admin set,
// in order, and answers it: a result, or the first refusal.
func (g *gateway) adminSet(ctx context.Context, st *component.Stanza, from, roomJID jid.JID, items []adminItem) {
	r, o := g.occupantIn(from, roomJID.String())
	if o == nil {
		g.enqueue(ctx, iqErrorStanza(st, roomJID, "cancel", "not-acceptable", "you are not in this room: join it first"))
		return
	}
	in := g.m.host.Matrix().Intent(o.Puppet)
	pl, err := in.PowerLevels(ctx, r.id)
	if err != nil {
		g.log.Warn("xmpp: could not read a room's power levels", "room", r.id, "err", err)
		g.enqueue(ctx, iqErrorStanza(st, roomJID, "wait", "remote-server-timeout", "the Matrix homeserver did not answer"))
		return
	}
	for _, it := range items {
		if err := g.adminAct(ctx, r, o, pl, it); err != nil {
			var ae *adminError
			if !errors.As(err, &ae) {
				g.log.Warn("xmpp: a kick or ban failed", "room", r.id, "err", err)
				ae = &adminError{"wait", "remote-server-timeout", "the Matrix homeserver did not carry it out; try again"}
			}
			g.enqueue(ctx, iqErrorStanza(st, roomJID, ae.typ, ae.cond, ae.text))
			return
		}
	}
	g.enqueue(ctx, iqResultStanza(st, roomJID, nil))
}

// adminAct carries out one item of a muc#admin set for occupant o.
func (g *gateway) adminAct(ctx context.Context, r *mucRoom, o *occupant, pl *intent.PowerLevels, it adminItem) error {
	var what string
	var need int
	var act func(context.Context, matrix.RoomID, matrix.UserID, string) error
	in := g.m.host.Matrix().Intent(o.Puppet)
	switch {
	case it.Role == "none" && it.Affiliation == "":
		what, need, act = "kick", pl.Kick, in.Kick
	case it.Affiliation == "outcast":
		what, need, act = "ban", pl.Ban, in.Ban
	case it.Affiliation == "none" && it.JID != "":
		what, need, act = "unban", pl.Ban, in.Unban
	default:
		return &adminError{"cancel", "feature-not-implemented",
			"roles and affiliations here are Matrix power levels: change them in Matrix; kicks, bans and unbans are supported"}
	}
	target, err := g.adminTarget(r, it, what)
	if err != nil {
		return err
	}
	mine := pl.UserLevel(o.Puppet)
	switch {
	case target == o.Puppet:
		return &adminError{"cancel", "conflict", "you cannot " + what + " yourself"}
	case mine < need:
		return &adminError{"auth", "forbidden",
			fmt.Sprintf("your Matrix power level in this room is %d; to %s you need %d", mine, what, need)}
	case what != "unban" && pl.UserLevel(target) >= mine:
		return &adminError{"cancel", "not-allowed",
			fmt.Sprintf("their Matrix power level (%d) is not below yours (%d)", pl.UserLevel(target), mine)}
	}
	if err := act(ctx, r.id, target, it.Reason); err != nil {
		if errors.Is(err, intent.ErrForbidden) {
			return &adminError{"auth", "forbidden", "Matrix refused to " + what + " them"}
		}
		return fmt.Errorf("%s %s in %s: %w", what, target, r.id, err)
	}
	// The core drops the echo of the puppet's membership event, so the
	// occupants are told here.
	c := matrix.MemberContent{Membership: "leave", Reason: it.Reason}
	switch what {
	case "ban":
		c.Membership = "ban"
	case "unban":
		return nil
	}
	if g.m.users.Owns(target) {
		g.kicked(ctx, r.id, target, o.Puppet, c)
	} else {
		g.memberRemoved(ctx, r.id, target, o.Puppet, c)
	}
	return nil
}

// adminTarget finds the Matrix user an item names: by nick (an
// occupant's, Matrix member or XMPP occupant's puppet) or by jid (a
// Matrix user's JID on the component, or an XMPP user's bare JID).
func (g *gateway) adminTarget(r *mucRoom, it adminItem, what string) (matrix.UserID, error) {
	if it.Nick != "" && it.JID == "" {
		g.mu.Lock()
		defer g.mu.Unlock()
		for u, mb := range r.members {
			if mb.nick == it.Nick {
				return u, nil
			}
		}
		for _, x := range r.occupants {
			if x.Nick == it.Nick {
				return x.Puppet, nil
			}
		}
		return "", &adminError{"cancel", "item-not-found", "nobody in this room has this nickname"}
	}
	if it.JID == "" || what == "kick" {
		return "", &adminError{"modify", "bad-request", "a kick names a nick; a ban or unban a jid"}
	}
	j, err := jid.Parse(it.JID)
	if err != nil {
		return "", &adminError{"modify", "jid-malformed", "this jid is not valid"}
	}
	if u, ok := contactOf(j); ok && j.Domainpart() == g.m.domain.Domainpart() {
		if !g.matrixOccupant(u) {
			return "", &adminError{"cancel", "not-allowed", "the bridge's own users cannot be " + what + "ned"}
		}
		return u, nil
	}
	if j.Domainpart() == g.m.domain.Domainpart() || j.Localpart() == "" {
		return "", &adminError{"cancel", "item-not-found", "this jid is no user"}
	}
	p, err := g.puppetOf(j.Bare().String())
	if err != nil {
		return "", &adminError{"cancel", "item-not-found", "this jid cannot be a Matrix user"}
	}
	return p, nil
}

// adminList answers a muc#admin get: the outcasts (the room's bans), the
// owners or the admins (from the power levels); other lists are not
// kept.
func (g *gateway) adminList(ctx context.Context, st *component.Stanza, from, roomJID jid.JID, want adminItem) {
	r, o := g.occupantIn(from, roomJID.String())
	if o == nil {
		g.enqueue(ctx, iqErrorStanza(st, roomJID, "cancel", "not-acceptable", "you are not in this room: join it first"))
		return
	}
	in := g.m.host.Matrix().Intent(o.Puppet)
	var q adminQuery
	switch want.Affiliation {
	case "outcast":
		evs, err := in.Members(ctx, r.id)
		if err != nil {
			g.enqueue(ctx, iqErrorStanza(st, roomJID, "wait", "remote-server-timeout", "the Matrix homeserver did not answer"))
			return
		}
		for _, ev := range evs {
			var c matrix.MemberContent
			if ev.StateKey == nil || ev.Content == nil || json.Unmarshal(ev.Content, &c) != nil || c.Membership != "ban" {
				continue
			}
			q.Items = append(q.Items, adminItem{Affiliation: "outcast", JID: g.jidOfUser(matrix.UserID(*ev.StateKey)), Reason: c.Reason})
		}
	case "owner", "admin":
		pl, err := in.PowerLevels(ctx, r.id)
		if err != nil {
			g.enqueue(ctx, iqErrorStanza(st, roomJID, "wait", "remote-server-timeout", "the Matrix homeserver did not answer"))
			return
		}
		for u, l := range pl.Users {
			if aff, _ := affiliation(l); aff == want.Affiliation && u != g.m.host.Matrix().BotUserID() {
				q.Items = append(q.Items, adminItem{Affiliation: aff, JID: g.jidOfUser(u)})
			}
		}
	default:
		g.enqueue(ctx, iqErrorStanza(st, roomJID, "cancel", "feature-not-implemented",
			"only the outcast, owner and admin lists are kept: roles and affiliations are Matrix power levels"))
		return
	}
	sort.Slice(q.Items, func(i, j int) bool { return q.Items[i].JID < q.Items[j].JID })
	g.enqueue(ctx, iqResultStanza(st, roomJID, mustMarshal(q)))
}

// banned reports whether u is banned from room, as the bridge bot sees
// it (a banned puppet may not read the room).
func (g *gateway) banned(ctx context.Context, room matrix.RoomID, u matrix.UserID) bool {
	var c matrix.MemberContent
	err := g.m.host.Matrix().Bot().StateEventContent(ctx, room, matrix.EventMember, string(u), &c)
	return err == nil && c.Membership == "ban"
}

// jidOfUser is the JID of a Matrix user as occupants see it: an XMPP
// user's bare JID for its puppet, else the user's JID on the component.
func (g *gateway) jidOfUser(u matrix.UserID) string {
	if g.m.users.Owns(u) {
		if v, err := g.m.users.Parse(u); err == nil && v["name"] != "" {
			return v["name"]
		}
	}
	j, err := address.UserJID(g.m.domain, u)
	if err != nil {
		return string(u)
	}
	return j.String()
}
