package xmpp

import (
	"context"
	"encoding/json"
	"encoding/xml"
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
//   - corrections, retractions, reactions and replies cross both ways
//     (reverse.go, reverse_relations.go), as do chat states, presence
//     and avatars (reverse_in.go); history and catch-ups come from the
//     MUC's archive (reverse_mam.go).

const (
	// revPortalPrefix starts the portal key of a reverse portal; the rest
	// is the MUC's bare JID.
	revPortalPrefix = "xmuc:"
	// revClientPrefix starts the KV key of a stored occupant client:
	// revClientPrefix + room + "/" + Matrix user.
	revClientPrefix = "xmuc/occ/"
	// revKeyPrefix starts the outbox key and link of a message from a
	// MUC (see revKey), and the link of a reflected Matrix message
	// (revKeyPrefix + MUC JID + "/" + escaped stanza-id).
	revKeyPrefix = "rv/"
	// revIDPrefix starts the link of a MUC message by its sender's nick
	// and id, which XEP-0308 corrections name (see revIDLink).
	revIDPrefix = "rvi/"
	// revSIDPrefix starts the link of a MUC message by its sender's nick
	// and stanza-id, which XEP-0424 retractions name (see revSIDLink).
	revSIDPrefix = "rvs/"
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
	// typing: the puppets typing (XEP-0085 composing) and the Matrix
	// users typing, as last told.
	typing   map[matrix.UserID]time.Time
	mxTyping map[matrix.UserID]bool
	// modNS is the XEP-0425 namespace the MUC advertised ("" for none)
	// when its disco#info was read at modAt (reverse_moderation.go).
	modNS string
	modAt time.Time
	// marks paces the Matrix users' displayed markers
	// (reverse_markers.go).
	marks map[matrix.UserID]*markerPace
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
	// The avatar hashes first: g.mu is never taken under rv.mu.
	users := map[matrix.UserID]*string{}
	rv.mu.Lock()
	for _, rp := range rv.byRoom {
		for u := range rp.clients {
			users[u] = nil
		}
	}
	rv.mu.Unlock()
	for u := range users {
		users[u] = rv.g.matrixPhotoOf(u)
	}
	var out [][]byte
	rv.mu.Lock()
	for _, rp := range rv.byRoom {
		for u, c := range rp.clients {
			if c.photo == nil {
				c.photo = users[u]
			}
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
		rv.log.Warn("xmpp: could not store a MUC occupant", "room", room, "user", user, "err", err)
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
	var photo *string
	if c.Membership == "join" {
		photo = rv.g.matrixPhotoOf(u) // reverse_avatars.go; looked up the first time
	}
	rv.mu.Lock()
	cl := rp.clients[u]
	if c.Membership == "join" {
		if cl != nil {
			// A profile change: a new displayname is a new nick.
			b := cl.rename(rv.g.nickOf(u, c.Displayname))
			rv.mu.Unlock()
			rv.g.memberAvatarChanged(u, c) // perhaps a new avatar: its hash again (reverse_avatars.go)
			if b != nil {
				rv.storeClient(ctx, rp.room, u, cl)
				rv.g.enqueue(ctx, b)
			}
			return
		}
		cl, err := rv.client(rp, u, rv.g.nickOf(u, c.Displayname))
		if err != nil {
			rv.mu.Unlock()
			rv.log.Warn("xmpp: no JID for a Matrix user", "user", u, "err", err)
			return
		}
		cl.photo = photo
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
			rv.log.Warn("xmpp: could not queue a notice", "err", err)
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

// revKey is the outbox key and link of a MUC message: the MUC, its
// sender's nick and id, its stanza-id (escaped: no '/' in them), so that
// a message seen live and in the archive has one key, and the id link
// can be made once the event exists (revSent).
func revKey(muc, sid, nick, id string) string {
	return revIDKeyPrefix(muc, nick, id) + address.Escape(sid)
}

// revIDKeyPrefix starts the keys of the messages of nick with id in muc.
func revIDKeyPrefix(muc, nick, id string) string {
	return revKeyPrefix + muc + "/" + address.Escape(nick) + "/" + address.Escape(id) + "/"
}

// revIDLink is the link of a MUC message by its sender's nick and id.
func revIDLink(muc, nick, id string) string {
	return revIDPrefix + muc + "/" + address.Escape(nick) + "/" + address.Escape(id)
}

// revSIDLink is the link of a MUC message by its sender's nick and the
// stanza-id the MUC gave it, which XEP-0424 retractions name.
func revSIDLink(muc, nick, sid string) string {
	return revSIDPrefix + muc + "/" + address.Escape(nick) + "/" + address.Escape(sid)
}

// sent links a MUC message Matrix took by its sender's nick and id, and
// nick and stanza-id, for the corrections and retractions that will name
// it.
func (rv *reverse) sent(ctx context.Context, op intent.Op, ev matrix.EventID) {
	parts := strings.Split(strings.TrimPrefix(op.Key, revKeyPrefix), "/")
	if len(parts) != 4 || op.Kind != intent.OpMessage || op.Type != matrix.EventMessage {
		return
	}
	var vals [3]string
	for i, p := range parts[1:] {
		v, err := address.Unescape(p)
		if err != nil {
			return
		}
		vals[i] = v
	}
	nick, id, sid := vals[0], vals[1], vals[2]
	var ids []string
	if id != "" {
		ids = append(ids, revIDLink(parts[0], nick, id))
	}
	if sid != "" {
		// By nick and stanza-id (retractions), by stanza-id alone
		// (reactions name any message so).
		ids = append(ids, revSIDLink(parts[0], nick, sid), revKeyPrefix+parts[0]+"/"+parts[3])
		rv.rememberSID(ctx, ev, sid)
	}
	for _, remote := range ids {
		l := bridges.Link{Remote: bridges.MessageID{ID: remote}, Room: op.Room, Event: ev}
		if err := rv.m.host.Links().Put(ctx, l); err != nil {
			rv.log.Warn("xmpp: could not link a MUC message by its ids", "err", err)
		}
	}
}

// original returns the event of the message of nick with id in rp: by
// its link, or, while it is still in the outbox, once Matrix took it.
func (rv *reverse) original(ctx context.Context, rp *revPortal, nick, id string) (matrix.EventID, bool) {
	links := rv.m.host.Links()
	if l, err := links.ByRemote(ctx, bridges.MessageID{ID: revIDLink(rp.muc, nick, id)}); err == nil {
		return l.Event, true
	}
	out := rv.m.host.Outbox()
	op, ok, err := out.LatestKeyed(ctx, rp.room, revIDKeyPrefix(rp.muc, nick, id))
	if err != nil || !ok {
		return "", false
	}
	wctx, cancel := context.WithTimeout(ctx, waitMatrix)
	defer cancel()
	if ev, err := out.SendAndWait(wctx, op); err == nil {
		return ev, true
	}
	if l, err := links.ByRemote(ctx, bridges.MessageID{ID: op.Key}); err == nil {
		return l.Event, true // delivered meanwhile
	}
	return "", false
}

// edit sends a Matrix edit (event ev of target, the sender's own message,
// whose id was its event ID) to the MUC as an XEP-0308 correction, like
// a message (held during a join, reported when it cannot go).
func (rv *reverse) edit(ctx context.Context, rp *revPortal, sender matrix.UserID, ev, target matrix.EventID, text string, extra []byte) {
	repl := mustMarshal(correctEl{ID: string(target)})
	rv.fromMatrix(ctx, rp, sender, ev, text, append(repl, extra...))
}

// redact sends a Matrix user's redaction of their own message to the MUC
// as an XEP-0424 retraction from their occupant: by the stanza-id the MUC
// gave the message (the current form) and by its origin-id, the event ID
// (the old form with fastening), like a message (held during a join,
// reported when it cannot go). Redactions of other people's messages
// are moderation (reverse_moderation.go); of anything else they are not
// bridged: ErrUnsupported.
func (rv *reverse) redact(ctx context.Context, rp *revPortal, r *bridges.Redaction) error {
	if r.TargetRemote != nil {
		if target, u, _, ok := parseReactionRemoteID(r.TargetRemote.Remote.ID); ok && u == r.Event.Sender {
			rv.unreact(ctx, rp, r, target, u) // reverse_relations.go
			return nil
		}
	}
	var ev matrix.Event
	if err := rv.m.host.Matrix().Bot().EventContent(ctx, rp.room, r.Target, &ev); err != nil {
		rv.log.Info("xmpp: could not read a redacted event", "room", rp.room, "event", r.Target, "err", err)
		return nil
	}
	if ev.Type != matrix.EventMessage || ev.StateKey != nil {
		return bridges.ErrUnsupported
	}
	if ev.Sender != r.Event.Sender {
		return rv.moderate(ctx, rp, r) // reverse_moderation.go
	}
	id := string(r.Target)
	if sid := rv.sidOf(ctx, r.Target); sid != "" {
		id = sid
	}
	extra := mustMarshal(retractEl{ID: id})
	extra = append(extra, mustMarshal(applyToEl{ID: string(r.Target), Retract: &retract0El{}})...)
	extra = append(extra, mustMarshal(fallbackEl{For: nsRetract})...)
	extra = append(extra, mustMarshal(storeEl{})...)
	rv.fromMatrix(ctx, rp, r.Event.Sender, r.Event.ID, retractFallback, extra)
	return nil
}

// correctEl is an XEP-0308 <replace/>.
type correctEl struct {
	XMLName xml.Name `xml:"urn:xmpp:message-correct:0 replace"`
	ID      string   `xml:"id,attr"`
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
			rv.log.Warn("xmpp: could not read a portal's members", "room", rp.room, "err", err)
		}
		for u := range members {
			if rv.m.users.Owns(u) && !present[u] {
				rv.puppetMembership(ctx, rp, u, "leave")
			}
		}
		if n := rv.m.cfg.MUCBackfill; n > 0 {
			rv.catchUp(ctx, rp, n) // reverse_mam.go
		}
	})
}
