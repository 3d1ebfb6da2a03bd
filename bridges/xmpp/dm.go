package xmpp

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// 1:1 chats (issue 10 §5). A Matrix user is reachable at its JID on the
// component (address.UserJID). A chat from an XMPP user to that JID is
// posted by the XMPP user's puppet in a direct chat with the Matrix user:
// a per-user portal keyed dmPrefix + bare JID with the Matrix user as
// Receiver, created by the puppet on first contact. Before each message
// the puppet checks that the Matrix user is still in that room: one who
// left is invited again, and when that is impossible (the puppet is no
// longer in the room, the user is banned) a new direct chat replaces the
// portal, so nothing is written into a room nobody reads (Bifrost #213).
// A Matrix user who invites a puppet into a direct chat makes that room
// the portal. The Matrix user's messages there go to the XMPP user's
// bare JID as chats from the Matrix user's JID. The bridge bot joins
// each direct chat (dmBot), so that its /sync sees typing, receipts and
// redactions there. Relations, chat states and markers: dm_relations.go.

const (
	// dmPrefix starts the portal key ID of a direct chat: dm:<bare JID>.
	dmPrefix = "dm:"
	// dmKeyPrefix starts the outbox key of a chat from XMPP (see dmKey).
	dmKeyPrefix = "d/"
)

// dmMeta is a direct chat portal's metadata.
type dmMeta struct {
	// JID is the XMPP user's bare JID.
	JID string `json:"jid"`
}

// dmLane is the lane of the work about one XMPP user and one Matrix user.
func dmLane(real string, u matrix.UserID) string { return "dm " + real + " " + string(u) }

// dmPortalKey is the portal key of the direct chat of real and u.
func dmPortalKey(real string, u matrix.UserID) bridges.PortalKey {
	return bridges.PortalKey{ID: dmPrefix + real, Receiver: u}
}

// contactOf returns the Matrix user whose JID to is.
func contactOf(to jid.JID) (matrix.UserID, bool) {
	if to.Localpart() == "" {
		return "", false
	}
	kind, id, err := address.Parse(to.Localpart())
	if err != nil || kind != address.User {
		return "", false
	}
	return matrix.UserID(id), true
}

// chatRoute takes chat and normal messages to Matrix users' JIDs
// (private messages to room occupants are mucpm.go's).
func (g *gateway) chatRoute(st *component.Stanza, from, to jid.JID) bool {
	u, ok := contactOf(to)
	if !ok {
		return false
	}
	if st.Attr("type") == "headline" {
		return true // RFC 6121 §8.5: no error for headlines
	}
	userJID := to.Bare()
	if !g.matrixOccupant(u) {
		g.enqueue(context.Background(), errorPresenceStanza("message", userJID.String(), from.String(), st.Attr("id"), userJID.String(),
			"cancel", "not-allowed", "this JID is the bridge's own Matrix user; it cannot be written to"))
		return true
	}
	in := inboundOf(st)
	ext := parseExt(st.Inner)
	if in.text == "" && !ext.related() {
		g.dmEphemeral(st, from, u) // chat states and markers (dm_relations.go)
		return true
	}
	id, origin, nick := st.Attr("id"), originID(st), ""
	if c, ok := find(st, nsNick, "nick"); ok {
		nick = cleanNick(c.Text)
	}
	if ext.related() && id == "" && origin == "" {
		id = randomID() // keys of its ops must not collide with another stanza's
	}
	real := from.Bare().String()
	if chatState(st) != "" {
		g.push(dmLane(real, u), nil, func(ctx context.Context) { g.dmChatState(ctx, real, u, "active") })
	}
	g.push(dmLane(real, u), func() {
		g.enqueue(context.Background(), errorPresenceStanza("message", userJID.String(), from.String(), id, userJID.String(),
			"wait", "resource-constraint", "too many messages at once; send it again"))
	}, func(ctx context.Context) {
		// Retractions and reactions need a chat that exists; anything
		// with text opens one.
		open := !ext.related() || (ext.Retract == "" && !ext.HasReactions)
		s, ok := g.dmActor(ctx, from, userJID, u, id, origin, nick, open)
		switch {
		case !ok:
		case ext.related():
			g.applyRelation(ctx, s, ext, in.text) // relations.go
		default:
			g.dmPost(ctx, s, in)
		}
	})
	return true
}

// dmActor returns the XMPP user from chatting to the Matrix user u (at
// userJID) with the stanza's id, origin-id and XEP-0172 nick, in their
// direct chat: opened, reopened or replaced as needed when open, else
// the one there is. The puppet takes the nick as its name. ok is false
// when there is no chat (the sender was told why when it asked to open
// one).
func (g *gateway) dmActor(ctx context.Context, from, userJID jid.JID, u matrix.UserID, id, origin, nick string, open bool) (actor, bool) {
	real := from.Bare().String()
	refuse := func(typ, cond, why string) {
		g.enqueue(ctx, errorPresenceStanza("message", userJID.String(), from.String(), id, userJID.String(), typ, cond, why))
	}
	p, err := g.puppetOf(real)
	if err != nil {
		refuse("cancel", "not-allowed", "this JID cannot be bridged to Matrix")
		return actor{}, false
	}
	s := actor{roomJID: userJID.String(), from: from, real: real, nick: nick, puppet: p, id: id, origin: origin, dm: u}
	if !open {
		portal, err := g.m.host.Portals().ByKey(ctx, dmPortalKey(real, u))
		if err != nil {
			g.log.Info("xmpp: a stanza about a direct chat that does not exist is dropped", "xmpp_user", real, "matrix_user", u, "err", err)
			return actor{}, false
		}
		s.room = portal.Room
		return s, true
	}
	room, err := g.dmRoom(ctx, real, u, p, nick)
	switch {
	case errors.Is(err, intent.ErrNotFound):
		refuse("cancel", "item-not-found", "no such Matrix user")
		return actor{}, false
	case err != nil:
		g.log.Warn("xmpp: could not open a direct chat", "xmpp_user", real, "matrix_user", u, "err", err)
		refuse("wait", "remote-server-timeout", "the Matrix homeserver did not open the chat; send it again")
		return actor{}, false
	}
	if nick != "" { // a new nick renames the puppet (kit.SyncProfile sends changes only)
		g.nameDMPuppet(ctx, room, p, real, nick)
	}
	s.room = room
	return s, true
}

// dmPost posts a chat of s (a 1:1 actor) to its direct chat, linked by
// its id or origin-id like a groupchat message, so that corrections,
// retractions, reactions and replies find it.
func (g *gateway) dmPost(ctx context.Context, s actor, in inbound) {
	content := g.toMatrix(ctx, s.puppet, in) // formatting, files (content.go)
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	key := dmKey(s.real, s.dm, s.id, s.origin)
	op := intent.Op{Kind: intent.OpMessage, Room: s.room, Sender: s.puppet, Type: matrix.EventMessage, Content: raw,
		Key: key, Link: &intent.Link{Module: ID, RemoteID: msgLinkID(s.room, s.real, s.id, s.origin, key)}}
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.log.Warn("xmpp: could not queue a chat to Matrix", "room", s.room, "err", err)
		g.enqueue(ctx, errorPresenceStanza("message", s.roomJID, s.from.String(), s.id, s.roomJID,
			"wait", "internal-server-error", "the message could not be bridged; send it again"))
	}
}

// dmMessageID is the id a chat's XMPP client knows it by, that the
// bridge names it with in reactions, replies and markers (XEP-0444,
// XEP-0461, XEP-0333 name a 1:1 message by its id): its id attribute,
// else its origin-id.
func dmMessageID(id, origin string) string {
	if id != "" && !strings.HasPrefix(id, "causeway-") {
		return id
	}
	return origin
}

// dmIDKey is the KV key of the XMPP id of a chat from XMPP, event ev in
// room.
func dmIDKey(room matrix.RoomID, ev matrix.EventID) string {
	return "dm/xid/" + string(room) + "/" + string(ev)
}

// dmSent links the id of a chat from XMPP when it was linked by a
// different origin-id, and keeps both for markers.
func (g *gateway) dmSent(ctx context.Context, op intent.Op, ev matrix.EventID) {
	real, _, id, origin, ok := parseDMKey(op.Key)
	if !ok {
		return
	}
	if id != "" && origin != "" && id != origin {
		g.linkID(ctx, op.Room, real, id, ev)
	}
	if xid := dmMessageID(id, origin); xid != "" {
		if err := g.m.host.KV().Put(ctx, dmIDKey(op.Room, ev), []byte(xid)); err != nil {
			g.log.Warn("xmpp: could not remember a chat's id", "room", op.Room, "err", err)
		}
	}
	g.mu.Lock()
	g.rememberSent(op.Room, ev, id, origin)
	g.mu.Unlock()
}

// dmRoom returns the direct chat of real (puppet p) and u in which u
// will read what p writes: the portal's room, after inviting u again if
// they left, or a new room that replaces it.
func (g *gateway) dmRoom(ctx context.Context, real string, u, p matrix.UserID, nick string) (matrix.RoomID, error) {
	key := dmPortalKey(real, u)
	portals := g.m.host.Portals()
	existing, err := portals.ByKey(ctx, key)
	switch {
	case err == nil:
		ok, err := g.dmUsable(ctx, existing.Room, p, u)
		if err != nil {
			return "", err
		}
		if ok {
			return existing.Room, nil
		}
		g.log.Info("xmpp: the direct chat cannot be reopened; a new one replaces it", "room", existing.Room, "matrix_user", u)
		if err := portals.Delete(ctx, key); err != nil {
			return "", fmt.Errorf("forget the old direct chat: %w", err)
		}
	case !errors.Is(err, bridges.ErrNotFound):
		return "", fmt.Errorf("read the direct chat: %w", err)
	}
	return g.createDM(ctx, key, real, u, p, nick)
}

// dmUsable reports whether u reads room, where p writes: both members
// (u joined or invited), after p invited u again when u had left. An
// error means the homeserver could not tell.
func (g *gateway) dmUsable(ctx context.Context, room matrix.RoomID, p, u matrix.UserID) (bool, error) {
	in := g.m.host.Matrix().Intent(p)
	// The puppet first: a former member may still read the room's state
	// as it was when it left, so the Matrix user's membership alone
	// does not tell.
	own, err := g.memberOf(ctx, in, room, p)
	if err != nil {
		return false, err
	}
	if own != "join" {
		if _, err := in.JoinRoom(ctx, string(room)); err != nil {
			return false, nil // kicked from an invite-only room: a new one
		}
	}
	theirs, err := g.memberOf(ctx, in, room, u)
	if err != nil {
		return false, err
	}
	switch theirs {
	case "join", "invite":
		g.dmBot(ctx, room, p)
		return true, nil
	case "ban":
		return false, nil
	}
	if err := in.Invite(ctx, room, u, ""); err != nil {
		g.log.Info("xmpp: could not invite the Matrix user back into the direct chat", "room", room, "matrix_user", u, "err", err)
		return false, nil
	}
	g.log.Info("xmpp: the Matrix user left the direct chat; invited again", "room", room, "matrix_user", u)
	g.dmBot(ctx, room, p)
	return true, nil
}

// dmBot makes the bridge bot a member of direct chat room, invited by
// puppet p when it is not: homeservers that push no typing, read
// receipts or redactions to appservices (Dendrite) give them to the
// bot's /sync, which sees its own rooms only. It is marked as a service
// member (io.element.functional_members), so that clients leave it out
// of the room's name. A join the cache knows costs no request; failures
// are logged (messages still cross) and not tried again for that room
// until the bridge restarts.
func (g *gateway) dmBot(ctx context.Context, room matrix.RoomID, p matrix.UserID) {
	g.mu.Lock()
	failed := g.dmBotFailed[room]
	g.mu.Unlock()
	if failed {
		return
	}
	bot := g.m.host.Matrix().Bot()
	if err := bot.EnsureJoined(ctx, room); err == nil {
		return
	}
	fail := func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dmBotFailed == nil {
			g.dmBotFailed = map[matrix.RoomID]bool{}
		}
		g.dmBotFailed[room] = true
	}
	in := g.m.host.Matrix().Intent(p)
	if _, err := in.SendState(ctx, room, "io.element.functional_members", "",
		map[string][]matrix.UserID{"service_members": {bot.UserID()}}, time.Time{}); err != nil {
		g.log.Debug("xmpp: could not mark the bot as a service member of a direct chat", "room", room, "err", err)
	}
	if err := in.Invite(ctx, room, bot.UserID(), ""); err != nil {
		g.log.Info("xmpp: could not invite the bridge bot into a direct chat", "room", room, "err", err)
		fail()
		return
	}
	if err := bot.EnsureJoined(ctx, room); err != nil {
		g.log.Info("xmpp: the bridge bot could not join a direct chat; typing, receipts and redactions from Matrix may not reach XMPP",
			"room", room, "err", err)
		fail()
	}
}

// memberOf reads who's membership in room as in sees it: "" when who
// never was a member or in cannot read the room.
func (g *gateway) memberOf(ctx context.Context, in *intent.Intent, room matrix.RoomID, who matrix.UserID) (string, error) {
	var mc matrix.MemberContent
	err := in.StateEventContent(ctx, room, matrix.EventMember, string(who), &mc)
	switch {
	case errors.Is(err, intent.ErrForbidden), errors.Is(err, intent.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return mc.Membership, nil
}

// createDM has p open a direct chat with u and stores it as the portal
// of key. A Matrix user the homeserver does not know is ErrNotFound.
func (g *gateway) createDM(ctx context.Context, key bridges.PortalKey, real string, u, p matrix.UserID, nick string) (matrix.RoomID, error) {
	h := g.m.host
	if _, err := h.Matrix().Bot().Displayname(ctx, u); errors.Is(err, intent.ErrNotFound) {
		return "", err
	}
	in := h.Matrix().Intent(p)
	if err := in.EnsureRegistered(ctx); err != nil {
		return "", err
	}
	portal, err := kit.CreatePortalRoom(ctx, h, kit.RoomSpec{
		Key:      key,
		Access:   kit.InviteOnly,
		Preset:   "trusted_private_chat",
		Creator:  p,
		Invite:   []matrix.UserID{u},
		IsDirect: true,
		Protocol: intent.BridgeInfoSection{ID: ID, DisplayName: "XMPP"},
		Channel:  intent.BridgeInfoSection{ID: real, DisplayName: real},
		Meta:     dmMeta{JID: real},
	})
	if err != nil {
		return "", err
	}
	g.nameDMPuppet(ctx, portal.Room, p, real, nick)
	g.dmBot(ctx, portal.Room, p)
	return portal.Room, nil
}

// nameDMPuppet names puppet p in a direct chat: after the nick a message
// gave (XEP-0172), else after its bare JID when it has no name of its
// own yet (from a MUC nick). The name goes through the outbox in room's
// lane, before the puppet's message.
func (g *gateway) nameDMPuppet(ctx context.Context, room matrix.RoomID, p matrix.UserID, real, nick string) {
	name := nick
	if name == "" {
		cur, err := g.m.host.Matrix().Intent(p).Displayname(ctx, p)
		if errors.Is(err, intent.ErrNotFound) || (err == nil && (cur == "" || strings.HasPrefix(string(p), "@"+cur+":"))) {
			name = real
		}
	}
	if name == "" {
		return
	}
	if _, err := kit.SyncProfile(ctx, g.m.host, room, p, kit.Profile{Displayname: name}); err != nil {
		g.log.Warn("xmpp: could not queue the puppet's name", "puppet", p, "err", err)
	}
}

// dmKey is the outbox key and link of a chat from XMPP: the sender, the
// Matrix user, the stanza's id and origin-id, each escaped (no '/'
// left). Without ids a random one is made.
func dmKey(real string, u matrix.UserID, id, origin string) string {
	if id == "" && origin == "" {
		id = randomID()
	}
	parts := []string{real, string(u), id, origin}
	for i, p := range parts {
		parts[i] = address.Escape(p)
	}
	return dmKeyPrefix + strings.Join(parts, "/")
}

// parseDMKey reverses dmKey.
func parseDMKey(key string) (real string, u matrix.UserID, id, origin string, ok bool) {
	rest, found := strings.CutPrefix(key, dmKeyPrefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 4 {
		return "", "", "", "", false
	}
	for i, p := range parts {
		s, err := address.Unescape(p)
		if err != nil {
			return "", "", "", "", false
		}
		parts[i] = s
	}
	return parts[0], matrix.UserID(parts[1]), parts[2], parts[3], true
}

// dmFailed tells the sender of a chat that Matrix refused it for good.
func (g *gateway) dmFailed(ctx context.Context, op intent.Op) {
	real, u, id, _, ok := parseDMKey(op.Key)
	if !ok {
		return
	}
	userJID, err := address.UserJID(g.m.domain, u)
	if err != nil {
		return
	}
	g.enqueue(ctx, errorPresenceStanza("message", userJID.String(), real, id, userJID.String(), "cancel", "not-allowed",
		"Matrix refused this message; it was not delivered"))
}

// dmFromMatrix sends the receiver's message in a direct chat portal to
// the XMPP user's bare JID, as a chat from the receiver's JID.
func (g *gateway) dmFromMatrix(ctx context.Context, p *bridges.Portal, sender matrix.UserID, ev matrix.EventID, text string, extra []byte) {
	if sender != p.Key.Receiver {
		return // someone else the receiver let in: not the XMPP user's contact
	}
	meta, err := bridges.PortalMeta[dmMeta](p)
	if err != nil || meta.JID == "" {
		meta.JID = strings.TrimPrefix(p.Key.ID, dmPrefix)
	}
	if g.pmReply(ctx, meta.JID, sender, ev, text, extra) {
		return // a reply to private messages from a room (mucpm.go)
	}
	from, err := address.UserJID(g.m.domain, sender)
	if err != nil {
		return
	}
	g.enqueue(ctx, withPayload(chatMessage(from.String(), meta.JID, string(ev), text), extra))
}

// invitedToDM handles a Matrix user inviting puppet p into a direct chat:
// the puppet joins and the room becomes their direct chat portal (a
// newer one replaces an older one).
func (g *gateway) invitedToDM(room matrix.RoomID, p, inviter matrix.UserID) {
	v, err := g.m.users.Parse(p)
	if err != nil || !g.matrixOccupant(inviter) {
		return
	}
	real := v["name"]
	if j, err := jid.Parse(real); err != nil || j.Resourcepart() != "" || j.Localpart() == "" {
		// An occupant of an anonymous MUC (room@service/nick, see
		// reverse.go) or a server: no account to chat with.
		g.push(dmLane(real, inviter), nil, func(ctx context.Context) {
			in := g.m.host.Matrix().Intent(p)
			err := in.EnsureRegistered(ctx)
			if err == nil {
				err = in.Leave(ctx, room, "this XMPP user can only be reached in its room")
			}
			if err != nil {
				g.log.Info("xmpp: could not decline a direct chat", "room", room, "puppet", p, "err", err)
			}
		})
		return
	}
	g.push(dmLane(real, inviter), nil, func(ctx context.Context) {
		if err := g.acceptDM(ctx, room, p, real, inviter); err != nil {
			g.log.Warn("xmpp: could not accept a direct chat", "room", room, "puppet", p, "err", err)
		}
	})
}

func (g *gateway) acceptDM(ctx context.Context, room matrix.RoomID, p matrix.UserID, real string, inviter matrix.UserID) error {
	h := g.m.host
	if other, err := h.Portals().ByRoom(ctx, room); err == nil && other.Key != dmPortalKey(real, inviter) {
		return nil // the room bridges something else
	}
	in := h.Matrix().Intent(p)
	if err := in.EnsureRegistered(ctx); err != nil {
		return err
	}
	if _, err := in.JoinRoom(ctx, string(room)); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	g.nameDMPuppet(ctx, room, p, real, "")
	key := dmPortalKey(real, inviter)
	if old, err := h.Portals().ByKey(ctx, key); err == nil && old.Room != room {
		if err := h.Portals().Delete(ctx, key); err != nil {
			return err
		}
	}
	portal := &bridges.Portal{Key: key, Room: room}
	if err := bridges.SetPortalMeta(portal, dmMeta{JID: real}); err != nil {
		return err
	}
	if err := h.Portals().Put(ctx, portal); err != nil {
		return fmt.Errorf("store the direct chat: %w", err)
	}
	g.dmBot(ctx, room, p)
	return nil
}

// bounceReason returns the condition and text of a stanza's <error/>
// ("" when it has none).
func bounceReason(st *component.Stanza) (cond, text string) {
	depth, inError, inText := 0, false, false
	for _, t := range st.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local == "error":
				inError = true
			case inError && depth == 2 && t.Name.Space == nsStanzas && t.Name.Local == "text":
				inText = true
			case inError && depth == 2 && t.Name.Space == nsStanzas && cond == "":
				cond = t.Name.Local
			}
		case xml.EndElement:
			if depth == 1 {
				inError = false
			}
			if depth == 2 {
				inText = false
			}
			depth--
		case xml.CharData:
			if inText {
				text += string(t)
			}
		}
	}
	return cond, strings.TrimSpace(text)
}

// dmBounced tells the Matrix user u, in its direct chat with from, that
// the XMPP side refused a chat it sent (an error back to u's JID, with
// the Matrix event ID as id): a notice from the puppet, in reply to the
// message when the id is an event ID. Nothing is lost silently.
func (g *gateway) dmBounced(st *component.Stanza, from jid.JID, u matrix.UserID) {
	real, id := from.Bare().String(), st.Attr("id")
	cond, text := bounceReason(st)
	g.push(dmLane(real, u), nil, func(ctx context.Context) {
		p, err := g.m.host.Portals().ByKey(ctx, dmPortalKey(real, u))
		if err != nil {
			return
		}
		pup, err := g.puppetOf(real)
		if err != nil {
			return
		}
		why := cond
		if why == "" {
			why = "error"
		}
		if text != "" {
			why += ": " + text
		}
		content := matrix.MessageContent{MsgType: matrix.MsgNotice, Body: "Not delivered to " + real + " on XMPP (" + why + ")"}
		if strings.HasPrefix(id, "$") {
			content.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: matrix.EventID(id)}}
		}
		raw, err := json.Marshal(content)
		if err != nil {
			return
		}
		op := intent.Op{Kind: intent.OpMessage, Room: p.Room, Sender: pup, Type: matrix.EventMessage, Content: raw,
			Key: "dmbounce/" + address.Escape(real) + "/" + address.Escape(id)}
		if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
			g.log.Warn("xmpp: could not tell a Matrix user that a chat bounced", "room", p.Room, "err", err)
		}
	})
}
