package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/kit/notice"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// The reverse portals (issue 10 §6): Matrix rooms that stand for existing
// MUCs on the XMPP network. A Matrix user joins the alias
// #_xmpp_{room}_{service}:server (alias_template); the homeserver asks
// the bridge, which checks with disco#info that room@service is a MUC,
// creates the portal room and backfills it from the MUC's archive
// (reverse_mam.go). Then:
//
//   - each Matrix user who joins the portal room joins the MUC as their
//     own occupant, from their JID on the component with the resource
//     occupantResource, the displayname as nick (reverse_client.go);
//     leaving the Matrix room leaves the MUC. Nobody is in the MUC for
//     the bridge itself: while no Matrix user is in the room, the MUC is
//     not followed, and the next join catches up from its archive.
//   - the MUC's other occupants are puppets (@_xmpp_<real JID> when the
//     MUC shows real JIDs, else @_xmpp_<room@service/nick>) that join
//     and leave the portal room, named after their nick, and post their
//     messages. Every one of the bridge's occupants gets each presence
//     and message: they are taken once (presences change state only
//     once, messages are deduplicated by the MUC's stanza-id).
//   - a Matrix user's message goes to the MUC from their occupant, with
//     the event ID as id and origin-id; the MUC's reflection (same
//     origin-id) is not bridged back but links the event to the
//     stanza-id the MUC gave it.
//   - pings from the MUC (XEP-0410) to the occupants' JIDs are answered.

const (
	// revPortalPrefix starts the portal key of a reverse portal; the rest
	// is the MUC's bare JID.
	revPortalPrefix = "xmuc:"
	// revClientPrefix starts the KV key of a stored occupant client:
	// revClientPrefix + room + "/" + Matrix user.
	revClientPrefix = "xmuc/occ/"
	// revKeyPrefix starts the outbox key and link of a message from a
	// MUC: revKeyPrefix + MUC JID + "/" + stanza-id.
	revKeyPrefix = "r/"
	// seenMax bounds the stanza-ids remembered per MUC to drop the
	// copies every occupant of the bridge gets.
	seenMax = 512
)

// remoteOccupant is an occupant of a remote MUC that is not one of the
// bridge's: a puppet in the portal room.
type remoteOccupant struct {
	nick   string
	puppet matrix.UserID
}

// revPortal is one reverse portal.
type revPortal struct {
	room    matrix.RoomID
	muc     string // bare MUC JID
	clients map[matrix.UserID]*mucClient
	remote  map[string]*remoteOccupant // by nick
	seen    map[string]bool            // stanza-ids taken
	order   []string                   // seen, oldest first
	fill    sync.Mutex                 // one backfill at a time
}

// reverse holds the reverse portals.
type reverse struct {
	m       *Module
	g       *gateway
	log     *slog.Logger
	aliases *puppet.Namespace[matrix.RoomAlias]

	create sync.Mutex // one portal creation at a time

	mu     sync.Mutex
	byRoom map[matrix.RoomID]*revPortal
	byMUC  map[string]*revPortal
	mam    map[string]*mamCollect // by queryid
}

func newReverse(m *Module, g *gateway) *reverse {
	return &reverse{m: m, g: g, log: g.log, aliases: m.aliases, byRoom: map[matrix.RoomID]*revPortal{},
		byMUC: map[string]*revPortal{}, mam: map[string]*mamCollect{}}
}

// add registers a portal in memory. Call with rv.mu held.
func (rv *reverse) add(room matrix.RoomID, muc string) *revPortal {
	if rp := rv.byMUC[muc]; rp != nil {
		return rp
	}
	rp := &revPortal{room: room, muc: muc, clients: map[matrix.UserID]*mucClient{},
		remote: map[string]*remoteOccupant{}, seen: map[string]bool{}}
	rv.byRoom[room], rv.byMUC[muc] = rp, rp
	return rp
}

// storedClient is an occupant client in the KV.
type storedClient struct {
	Base string `json:"base"`
	Nick string `json:"nick"`
	Gone bool   `json:"gone,omitempty"`
}

// load restores the portals and their clients; the clients that were in
// their MUC join it again on the first session (rejoin), so a restart
// keeps Matrix users in their MUCs.
func (rv *reverse) load(ctx context.Context) error {
	h := rv.m.host
	ps, err := h.Portals().All(ctx)
	if err != nil {
		return fmt.Errorf("xmpp: load reverse portals: %w", err)
	}
	rv.mu.Lock()
	for _, p := range ps {
		if muc, ok := strings.CutPrefix(p.Key.ID, revPortalPrefix); ok && p.Room != "" {
			rv.add(p.Room, muc)
		}
	}
	rv.mu.Unlock()
	entries, err := h.KV().WithPrefix(ctx, revClientPrefix)
	if err != nil {
		return fmt.Errorf("xmpp: load reverse occupants: %w", err)
	}
	for _, e := range entries {
		rest := strings.TrimPrefix(e.Key, revClientPrefix)
		room, user, ok := strings.Cut(rest, "/")
		var sc storedClient
		if !ok || json.Unmarshal([]byte(e.Value), &sc) != nil {
			continue
		}
		rv.mu.Lock()
		rp := rv.byRoom[matrix.RoomID(room)]
		if rp == nil {
			rv.mu.Unlock()
			continue
		}
		c, err := rv.client(rp, matrix.UserID(user), sc.Base)
		if err != nil {
			rv.mu.Unlock()
			continue
		}
		c.nick = sc.Nick
		if sc.Gone {
			c.state = clientGone
		}
		rv.mu.Unlock()
	}
	return nil
}

// rejoin sends the join presences of every client that is not gone, at
// the start of each component session (Options.OnSession): after a
// restart of the bridge or of the XMPP server the MUCs may not know
// them any more; a MUC that still does answers with the occupant list
// and the self-presence again. Messages from Matrix are held until it.
func (rv *reverse) rejoin(ctx context.Context) {
	var out [][]byte
	rv.mu.Lock()
	for _, rp := range rv.byRoom {
		for _, c := range rp.clients {
			if c.state != clientGone {
				out = append(out, c.join())
			}
		}
	}
	rv.mu.Unlock()
	for _, b := range out {
		rv.g.enqueue(ctx, b)
	}
}

// client makes the occupant client of user in rp. Call with rv.mu held.
func (rv *reverse) client(rp *revPortal, user matrix.UserID, nick string) (*mucClient, error) {
	bare, err := address.UserJID(rv.m.domain, user)
	if err != nil {
		return nil, err
	}
	c := newClient(user, bare, rp.muc, nick)
	rp.clients[user] = c
	return c, nil
}

// storeClient persists c (or forgets it when nil).
func (rv *reverse) storeClient(ctx context.Context, room matrix.RoomID, user matrix.UserID, c *mucClient) {
	key := revClientPrefix + string(room) + "/" + string(user)
	var err error
	if c == nil {
		err = rv.m.host.KV().Delete(ctx, key)
	} else {
		b, _ := json.Marshal(storedClient{Base: c.base, Nick: c.nick, Gone: c.state == clientGone})
		err = rv.m.host.KV().Put(ctx, key, b)
	}
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		rv.log.Warn("xmpp: could not store a MUC occupant", "room", room, "user", user, "error", err)
	}
}

// portal returns the reverse portal of p, or nil.
func (rv *reverse) portal(p *bridges.Portal) *revPortal {
	if p == nil || !strings.HasPrefix(p.Key.ID, revPortalPrefix) {
		return nil
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rp := rv.byRoom[p.Room]
	if rp == nil {
		rp = rv.add(p.Room, strings.TrimPrefix(p.Key.ID, revPortalPrefix))
	}
	return rp
}

// queryAlias creates the portal of the MUC an alias names, when it
// exists: a MUC on another service than the component's own (those are
// Matrix rooms already) that answers disco#info as a conference.
func (rv *reverse) queryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	v, err := rv.aliases.Parse(alias)
	if err != nil {
		return false, nil
	}
	muc, err := jid.New(v["room"], v["service"], "")
	if err != nil || muc.Localpart() == "" || muc.Domain().Equal(rv.m.domain) {
		return false, nil
	}
	key := bridges.PortalKey{ID: revPortalPrefix + muc.String()}
	rv.create.Lock()
	defer rv.create.Unlock()
	if p, err := rv.m.host.Portals().ByKey(ctx, key); err == nil && p.Room != "" {
		return true, nil
	} else if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		return false, err
	}
	name, ok, err := rv.discoMUC(ctx, muc)
	if err != nil || !ok {
		return false, err
	}
	spec := kit.RoomSpec{
		Key: key, Name: name, AliasLocalpart: alias.Localpart(), Access: kit.Public,
		Protocol: intent.BridgeInfoSection{ID: ID, DisplayName: "XMPP"},
		Channel:  intent.BridgeInfoSection{ID: muc.String(), DisplayName: name},
	}
	p, err := kit.CreatePortalRoom(ctx, rv.m.host, spec)
	if err != nil {
		return false, err
	}
	rv.mu.Lock()
	rp := rv.add(p.Room, muc.String())
	rv.mu.Unlock()
	rv.log.Info("xmpp: portal to an XMPP MUC created", "muc", muc.String(), "room", p.Room)
	if n := rv.m.cfg.MUCBackfill; n > 0 {
		rv.m.host.Go(func(ctx context.Context) { rv.backfill(ctx, rp, n) })
	}
	return true, nil
}

// discoMUC asks muc for its disco#info: ok when it is a conference,
// with its name (or its JID when it has none).
func (rv *reverse) discoMUC(ctx context.Context, muc jid.JID) (name string, ok bool, err error) {
	st, err := rv.m.conn.SendIQ(ctx, decoder(mustMarshal(discoQuery{From: rv.m.domain.String(), To: muc.String(), Type: "get",
		Query: discoInfoQuery{}})))
	if err != nil {
		return "", false, fmt.Errorf("disco#info of %s: %w", muc, err)
	}
	if st.Attr("type") != "result" {
		return "", false, nil
	}
	for _, c := range childrenOf(st.Inner, "query", "identity") {
		if attr(c, "category") == "conference" {
			name = attr(c, "name")
			if name == "" {
				name = muc.String()
			}
			return name, true, nil
		}
	}
	return "", false, nil
}

// membership follows a Matrix member of a reverse portal: a join makes
// their occupant join the MUC (once: a client kicked stays out until the
// user leaves and joins again), a leave makes it leave.
func (rv *reverse) membership(ctx context.Context, rp *revPortal, u matrix.UserID, c matrix.MemberContent) {
	if !rv.g.matrixOccupant(u) {
		return
	}
	rv.mu.Lock()
	cl := rp.clients[u]
	if c.Membership == "join" {
		if cl != nil {
			// A profile change: a new displayname is a new nick.
			b := cl.rename(rv.g.nickOf(u, c.Displayname))
			rv.mu.Unlock()
			if b != nil {
				rv.storeClient(ctx, rp.room, u, cl)
				rv.g.enqueue(ctx, b)
			}
			return
		}
		cl, err := rv.client(rp, u, rv.g.nickOf(u, c.Displayname))
		if err != nil {
			rv.mu.Unlock()
			rv.log.Warn("xmpp: no JID for a Matrix user", "user", u, "error", err)
			return
		}
		b := cl.join()
		rv.mu.Unlock()
		rv.storeClient(ctx, rp.room, u, cl)
		rv.g.enqueue(ctx, b)
		return
	}
	if cl == nil {
		rv.mu.Unlock()
		return
	}
	delete(rp.clients, u)
	var b []byte
	if cl.state != clientGone {
		b = cl.leave()
	}
	rv.mu.Unlock()
	rv.storeClient(ctx, rp.room, u, nil)
	if b != nil {
		rv.g.enqueue(ctx, b)
	}
}

// fromMatrix sends a Matrix user's message to the MUC from their
// occupant, or holds it while the occupant joins; a user who is not in
// the MUC gets a notice.
func (rv *reverse) fromMatrix(ctx context.Context, rp *revPortal, sender matrix.UserID, ev matrix.EventID, text string, extra []byte) {
	rv.mu.Lock()
	c := rp.clients[sender]
	var b []byte
	reason := ""
	switch {
	case c == nil || c.state == clientGone:
		reason = "you are not in the XMPP room " + rp.muc + "; leave and join this room again to rejoin it"
	case c.state == clientJoining:
		if !c.hold(heldMessage{Event: ev, Text: text, Extra: extra}) {
			reason = "you are still joining the XMPP room " + rp.muc
		}
	default:
		b = rv.groupchat(c, ev, text, extra)
	}
	rv.mu.Unlock()
	if b != nil {
		rv.g.enqueue(ctx, b)
	}
	if reason != "" {
		if err := notice.NotDelivered(ctx, rv.m.host.Outbox(), notice.Report{Room: rp.room, Event: ev, Network: "XMPP", Reason: reason}); err != nil {
			rv.log.Warn("xmpp: could not queue a notice", "error", err)
		}
	}
}

// groupchat is a Matrix message from c's occupant to its MUC, with the
// payloads extra (XHTML-IM, OOB): the event ID is its id and origin-id,
// which its reflection carries back.
func (rv *reverse) groupchat(c *mucClient, ev matrix.EventID, text string, extra []byte) []byte {
	c.remember(heldMessage{Event: ev, Text: text, Extra: extra})
	return withPayload(messageStanza(c.self, c.muc, string(ev), text, string(ev), "", "", ""), extra)
}

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
		// Its puppet's Matrix presence follows (presence.go).
		show, status := presenceOf(st)
		rv.g.xmppPresence(real, revPortalPrefix+rp.muc, p.Type == "", show, status)
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
			rv.log.Warn("xmpp: could not queue a puppet's name", "puppet", pu, "error", err)
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
		rv.log.Warn("xmpp: could not queue a puppet's membership", "puppet", pu, "type", typ, "error", err)
	}
}

// tell queues a notice for a Matrix user in the portal room.
func (rv *reverse) tell(ctx context.Context, rp *revPortal, u matrix.UserID, text string) {
	if err := notice.Tell(ctx, rv.m.host.Outbox(), rp.room, string(u)+": "+text, ""); err != nil {
		rv.log.Warn("xmpp: could not queue a notice", "user", u, "error", err)
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
			rv.log.Warn("xmpp: could not queue a topic", "room", rp.room, "error", err)
		}
		return
	case nick == "" || m.Body == "":
		rv.mu.Unlock()
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
	key := revKeyPrefix + rp.muc + "/" + m.StanzaID
	// The outbox forgets keys after its retention; links stay, so an
	// old message read again from the archive is not posted twice.
	if _, err := rv.m.host.Links().ByRemote(ctx, bridges.MessageID{ID: key}); err == nil {
		return
	} else if !errors.Is(err, bridges.ErrNotFound) {
		rv.log.Warn("xmpp: could not read a message link", "key", key, "error", err)
	}
	if nick != "" {
		if _, err := kit.SyncProfile(ctx, rv.m.host, rp.room, pu, kit.Profile{Displayname: nick}); err != nil {
			rv.log.Warn("xmpp: could not queue a puppet's name", "puppet", pu, "error", err)
		}
	}
	raw, err := json.Marshal(rv.g.toMatrix(ctx, pu, m.In)) // formatting, files (content.go)
	if err != nil {
		return
	}
	op := intent.Op{Kind: intent.OpMessage, Room: rp.room, Sender: pu, Type: matrix.EventMessage, Content: raw,
		Key: key, Link: &intent.Link{Module: ID, RemoteID: key}, Timestamp: m.Stamp}
	if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
		rv.log.Warn("xmpp: could not queue a MUC message", "muc", rp.muc, "error", err)
	}
}

// reflected links a Matrix message, reflected by the MUC with its
// origin-id (the event ID), to the stanza-id the MUC gave it.
func (rv *reverse) reflected(ctx context.Context, rp *revPortal, m mucMessage) {
	if m.OriginID == "" || m.StanzaID == "" || !strings.HasPrefix(m.OriginID, "$") {
		return
	}
	l := bridges.Link{Remote: bridges.MessageID{ID: revKeyPrefix + rp.muc + "/" + m.StanzaID}, Room: rp.room,
		Event: matrix.EventID(m.OriginID)}
	if err := rv.m.host.Links().Put(ctx, l); err != nil {
		rv.log.Warn("xmpp: could not link a reflected message", "event", m.OriginID, "error", err)
	}
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
		rv.log.Warn("xmpp: could not queue a notice", "error", err)
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

// matrixPresence tells the MUCs a Matrix user is in their presence:
// online is available, unavailable is away, offline is xa (the user is
// still in the room).
func (rv *reverse) matrixPresence(ctx context.Context, u matrix.UserID, presence, status string) {
	typ, show := xmppShow(presence)
	if typ != "" {
		show = "xa"
	}
	var out [][]byte
	rv.mu.Lock()
	for _, rp := range rv.byRoom {
		if c := rp.clients[u]; c != nil {
			if b := c.availability(show, status); b != nil {
				out = append(out, b)
			}
		}
	}
	rv.mu.Unlock()
	for _, b := range out {
		rv.g.enqueue(ctx, b)
	}
}

// followAgain runs when the first of the bridge's occupants is in rp's
// MUC again (a first join, a join after nobody was in, a restart): the
// MUC sent every occupant's presence before the self-presence, so
// puppets in the portal room that are not among them left while nobody
// was listening, and leave; and what the MUC said meanwhile is fetched
// from its archive (messages already posted are not posted again).
func (rv *reverse) followAgain(rp *revPortal) {
	rv.mu.Lock()
	present := map[matrix.UserID]bool{}
	for _, o := range rp.remote {
		present[o.puppet] = true
	}
	rv.mu.Unlock()
	rv.m.host.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		members, err := rv.m.host.Matrix().Bot().JoinedMembers(ctx, rp.room)
		if err != nil {
			rv.log.Warn("xmpp: could not read a portal's members", "room", rp.room, "error", err)
		}
		for u := range members {
			if rv.m.users.Owns(u) && !present[u] {
				rv.puppetMembership(ctx, rp, u, "leave")
			}
		}
		if n := rv.m.cfg.MUCBackfill; n > 0 {
			rv.backfill(ctx, rp, n)
		}
	})
}
