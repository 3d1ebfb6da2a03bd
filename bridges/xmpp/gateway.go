package xmpp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// The gateway hosts Matrix rooms as MUCs (issue 10 §2): an XMPP user
// joins the JID of a room alias or room ID, becomes a puppet in the
// Matrix room, and the two sides' text messages and presences cross.
//
// State: per Matrix room, the XMPP occupants (by bare real JID, each with
// its resources and nick) and the Matrix members (nick, power level)
// announced to them. Occupants are stored in the module's KV (key
// occKeyPrefix + room + "/" + bare JID) so that a restart keeps them in
// the room; their resources that bounce errors are removed, so a client
// that vanished while the bridge was down leaves no ghost once the room
// writes to it or the check at the start of each component session
// finds it gone (ghostcheck.go). The Matrix members are read again from the homeserver on
// every join and on the first event after a restart.

const (
	portalPrefix = "muc:"
	occKeyPrefix = "muc/occ/"
	// sentKeyPrefix starts the outbox key of a groupchat message from
	// XMPP; the rest is what its reflection needs (see sentKey).
	sentKeyPrefix = "g/"
	// laneBacklog bounds the work waiting per room JID; more gets a
	// resource-constraint error. The receive goroutine cannot wait for
	// room (work in a lane may await an IQ answer it reads), so a burst
	// is absorbed here: 256 refused messages of 500-message bursts in
	// the benchmark (bench/xmpp); 2,048 small stanzas are a few MiB.
	laneBacklog = 2048
)

// occupant is one XMPP user in a room, with all its resources.
type occupant struct {
	RoomJID   string        `json:"room_jid"` // bare JID it joined through
	Nick      string        `json:"nick"`
	Real      string        `json:"real"` // bare real JID
	Resources resourceSet   `json:"resources"`
	Puppet    matrix.UserID `json:"puppet"`
	// Photo is the XEP-0153 photo hash its presence last told ("" for
	// no avatar, nil when it told none; avatars.go).
	Photo *string `json:"photo,omitempty"`

	joining bool   // the join sequence is not sent yet
	pending []held // stanzas held for it until the join is sent
	// past holds, per resource, what its join read of the room: a
	// message of that past that then arrives live (homeservers may
	// push events late) is not sent as live.
	past pasts
	// liveFrom marks, per joining resource, where the room's live ring
	// was when its join started (livering.go).
	liveFrom map[string]uint64
	// level is its puppet's Matrix power level, read with the room's
	// members: its role and affiliation (mucadmin.go).
	level int
}

// held is a stanza held for a joining occupant; ev is the Matrix event
// of a message ("" for presences), ts its time when known.
type held struct {
	b  []byte
	ev matrix.EventID
	ts time.Time
}

// member is a Matrix user in a hosted room as XMPP occupants see it.
type member struct {
	nick  string // as the nick rule gives it (nickrule.go)
	want  string // its displayname as a nick
	since int64  // when it took that displayname (Unix ms)
	level int
}

// mucRoom is the state of one hosted Matrix room.
type mucRoom struct {
	id        matrix.RoomID
	occupants map[string]*occupant // by bare real JID
	members   map[matrix.UserID]*member
	loaded    bool                   // members read since the start
	announced map[matrix.UserID]bool // members whose presence occupants got
	live      liveRing               // the last messages (livering.go)
}

// gateway implements component.Gateway and the Matrix side of hosting.
type gateway struct {
	m     *Module
	log   *slog.Logger
	lanes *kit.RoomQueue
	fetch *fetcher // downloads files shared from XMPP (content.go)

	mu    sync.Mutex
	rooms map[matrix.RoomID]*mucRoom

	// book is what XMPP users say of their availability (presence.go).
	book *presenceBook
	// mx is the last presence Matrix sent of each Matrix user.
	mxMu sync.Mutex
	mx   map[matrix.UserID]matrixPresence
	// watched counts the XMPP users subscribed to each Matrix user's
	// presence (roster.go), under mxMu.
	watched map[matrix.UserID]int

	occSecret []byte // the secret of occupant ids (occupantid.go)
	typing    typingState
	recent    map[matrix.RoomID]*recentMessages // XMPP ids for markers (markers.go)
	rxMu      sync.Mutex                        // reaction sets (reactions.go)
	avatars   avatarCache                       // Matrix avatars for vCards (avatars.go)
	mxPhotos  map[matrix.UserID]mxPhoto         // Matrix members' photo hashes (mxavatars.go)

	// avatarChecks: when XMPP users' avatars were last checked (pepfetch.go).
	avatarChecks avatarChecks
	// dmBotFailed: direct chats the bot could not be brought into since
	// the start, under mu (not tried again per message; dm.go).
	dmBotFailed map[matrix.RoomID]bool
	// ghosts: the check of occupants' clients in progress (ghostcheck.go).
	ghosts ghostChecks
}

func newGateway(m *Module, h bridges.Host) (*gateway, error) {
	g := &gateway{m: m, log: h.Logger(), rooms: map[matrix.RoomID]*mucRoom{}, book: newPresenceBook(),
		mx: map[matrix.UserID]matrixPresence{}, watched: map[matrix.UserID]int{}}
	q, err := kit.NewRoomQueue(kit.QueueOptions{Spawn: h.Go, MaxPending: laneBacklog, Logger: h.Logger()})
	if err != nil {
		return nil, err
	}
	g.lanes = q
	g.fetch = newFetcher(m.cfg.MaxFileBytes, m.cfg.FetchPrivateURLs)
	return g, nil
}

// load restores the occupants a previous run stored, and the secret of
// occupant ids.
func (g *gateway) load(ctx context.Context) error {
	secret, err := loadOccupantSecret(ctx, g.m.host.KV())
	if err != nil {
		return err
	}
	g.occSecret = secret
	entries, err := g.m.host.KV().WithPrefix(ctx, occKeyPrefix)
	if err != nil {
		return fmt.Errorf("xmpp: load occupants: %w", err)
	}
	for _, e := range entries {
		rest := strings.TrimPrefix(e.Key, occKeyPrefix)
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			continue
		}
		var o occupant
		if err := json.Unmarshal(e.Value, &o); err != nil || o.Resources.len() == 0 {
			continue
		}
		r := g.room(matrix.RoomID(rest[:i]))
		r.occupants[o.Real] = &o
	}
	return g.loadWatched(ctx)
}

// room returns the state of room, creating it. Call with g.mu held (or
// before the gateway runs).
func (g *gateway) room(id matrix.RoomID) *mucRoom {
	r := g.rooms[id]
	if r == nil {
		r = &mucRoom{id: id, occupants: map[string]*occupant{}, members: map[matrix.UserID]*member{},
			announced: map[matrix.UserID]bool{}}
		g.rooms[id] = r
	}
	return r
}

// sharedBare returns the bare and full JID of from as strings, the bare
// one a prefix of the full one rather than a copy: an occupant keeps
// both (its record, its resources, the presence book).
func sharedBare(from jid.JID) (real, full string) {
	real, full = from.Bare().String(), from.String()
	if len(full) > len(real) && full[len(real)] == '/' && full[:len(real)] == real {
		real = full[:len(real)]
	}
	return real, full
}

// sameJID returns the room JID s as another occupant of r already holds
// it, or s: occupants joined through the same JID share one string
// rather than a copy each. It looks at a few occupants only (most join
// through one JID). Call with g.mu held.
func (r *mucRoom) sameJID(s string) string {
	n := 0
	for _, o := range r.occupants {
		if o.RoomJID == s {
			return o.RoomJID
		}
		if n++; n == 4 {
			break
		}
	}
	return s
}

func occKey(room matrix.RoomID, real string) string {
	return occKeyPrefix + string(room) + "/" + real
}

// enqueue stores a stanza in the durable outbound queue, logging failures.
func (g *gateway) enqueue(ctx context.Context, b []byte) {
	if err := g.m.conn.Enqueue(ctx, decoder(b)); err != nil {
		g.log.Warn("xmpp: could not queue a stanza", "err", err)
	}
}

// push runs f in the lane of the bare room JID, or answers err when the
// lane is full.
func (g *gateway) push(lane string, full func(), f func(ctx context.Context)) {
	done, cancel := context.WithCancel(context.Background())
	cancel() // never wait: this runs on the receive goroutine
	if err := g.lanes.Push(done, matrix.RoomID(lane), f); err != nil {
		g.log.Warn("xmpp: room busy; stanza refused", "room_jid", lane, "err", err)
		if full != nil {
			full()
		}
	}
}

// Presence implements component.Gateway.
func (g *gateway) Presence(st *component.Stanza, from, to jid.JID) {
	if g.m.rev != nil && g.m.rev.takePresence(st, from, to) {
		return // from an existing MUC to a Matrix user's occupant (reverse.go)
	}
	typ := st.Attr("type")
	if u, ok := contactOf(to); ok {
		g.contactPresence(st, from, to, u)
		return
	}
	if kind, _, err := address.Parse(to.Localpart()); to.Localpart() == "" || err != nil ||
		(kind != address.Alias && kind != address.RoomID) {
		return // presence to the service itself
	}
	roomJID := to.Bare()
	switch typ {
	case "", "unavailable", "error":
	default:
		return // probes and subscriptions: rooms have none
	}
	g.push(roomJID.String(), func() {
		if typ == "" {
			g.enqueue(context.Background(), errorPresenceStanza("presence", to.String(), from.String(), st.Attr("id"),
				roomJID.String(), "wait", "resource-constraint", "the room is busy; try again"))
		}
	}, func(ctx context.Context) {
		switch typ {
		case "":
			g.notePhoto(st, from, roomJID) // avatars.go
			g.join(ctx, st, from, to)
			g.avatarHint(st, from, roomJID)
		default:
			g.leave(ctx, from, roomJID, typ == "error")
		}
	})
}

// Message implements component.Gateway.
func (g *gateway) Message(st *component.Stanza, from, to jid.JID) {
	if g.m.rev != nil && g.m.rev.takeMessage(st, from, to) {
		return // from an existing MUC to a Matrix user's occupant (reverse.go)
	}
	roomJID := to.Bare()
	if st.Attr("type") == "error" {
		if u, ok := contactOf(to); ok {
			g.dmBounced(st, from, u) // a chat from a Matrix user bounced (dm.go)
			return
		}
		g.push(roomJID.String(), nil, func(ctx context.Context) { g.leave(ctx, from, roomJID, true) })
		return
	}
	if to.Resourcepart() != "" || to.Localpart() == "" {
		g.enqueue(context.Background(), errorPresenceStanza("message", to.String(), from.String(), st.Attr("id"),
			roomJID.String(), "modify", "bad-request", "groupchat messages go to the room's bare JID"))
		return
	}
	if g.subjectChange(st, from, roomJID) {
		return // a new subject: the Matrix topic (topic.go)
	}
	if g.relate(st, from, roomJID) {
		return // corrections, retractions, reactions, replies (relations.go)
	}
	in := inboundOf(st)
	if in.text == "" {
		g.ephemeral(st, from, roomJID) // chat states and markers
		return
	}
	if chatState(st) != "" {
		g.push(roomJID.String(), nil, func(ctx context.Context) { g.chatStateFromXMPP(ctx, from, roomJID, "active") })
	}
	id, origin := st.Attr("id"), originID(st)
	g.push(roomJID.String(), func() {
		g.enqueue(context.Background(), errorPresenceStanza("message", roomJID.String(), from.String(), id,
			roomJID.String(), "wait", "resource-constraint", "the room is busy; try again"))
	}, func(ctx context.Context) { g.say(ctx, from, roomJID, id, origin, in) })
}

// refuse sends an error presence for a join of from to to.
func (g *gateway) refuse(ctx context.Context, st *component.Stanza, from, to jid.JID, typ, cond, text string) {
	g.enqueue(ctx, errorPresenceStanza("presence", to.String(), from.String(), st.Attr("id"), to.Bare().String(), typ, cond, text))
}

// resolve returns the Matrix room a room JID names.
func (g *gateway) resolve(ctx context.Context, roomJID jid.JID) (matrix.RoomID, error) {
	kind, id, err := address.Parse(roomJID.Localpart())
	if err != nil {
		return "", component.ErrNoRoom
	}
	switch kind {
	case address.RoomID:
		return matrix.RoomID(id), nil
	case address.Alias:
		room, _, err := g.m.host.Matrix().Bot().ResolveAlias(ctx, matrix.RoomAlias(id))
		if errors.Is(err, intent.ErrNotFound) {
			return "", component.ErrNoRoom
		}
		return room, err
	}
	return "", component.ErrNoRoom
}

// puppetOf returns the Matrix puppet of a bare real JID.
func (g *gateway) puppetOf(real string) (matrix.UserID, error) {
	return g.m.users.Format(puppet.Values{"name": real})
}

// join handles an available presence from from to room/nick: a join, a
// new resource of an occupant, or a presence update.
func (g *gateway) join(ctx context.Context, st *component.Stanza, from, to jid.JID) {
	roomJID := to.Bare()
	nick := to.Resourcepart()
	_, isJoin := find(st, nsMUC, "x")
	if nick == "" {
		g.refuse(ctx, st, from, to, "modify", "jid-malformed", "a join needs a nickname: room@service/nick")
		return
	}
	room, err := g.resolve(ctx, roomJID)
	if errors.Is(err, component.ErrNoRoom) {
		g.refuse(ctx, st, from, to, "cancel", "item-not-found", "no such Matrix room")
		return
	}
	if err != nil {
		g.log.Warn("xmpp: could not resolve a room", "room_jid", roomJID.String(), "err", err)
		g.refuse(ctx, st, from, to, "wait", "remote-server-timeout", "the Matrix homeserver did not answer")
		return
	}
	if muc, ok := g.reversedMUC(room); ok {
		g.refuseReversed(ctx, st, from, to, muc) // reverse_hosted.go
		return
	}
	real, full := sharedBare(from)
	g.mu.Lock()
	r := g.room(room)
	if o := r.occupants[real]; o != nil {
		if o.Nick != nick && o.RoomJID == roomJID.String() && o.Resources.has(from.String()) && !o.joining {
			renamed := g.renameLocked(ctx, st, from, to, r, o) // nickchange.go
			g.mu.Unlock()
			if renamed {
				g.renamePuppet(ctx, room, o.Puppet, nick)
			}
			return
		}
		if o.RoomJID != roomJID.String() {
			g.mu.Unlock()
			g.refuse(ctx, st, from, to, "cancel", "not-acceptable",
				fmt.Sprintf("you are already in this room through %s; use that address", o.RoomJID))
			return
		}
		if o.Nick != nick {
			g.mu.Unlock()
			g.refuse(ctx, st, from, to, "cancel", "not-acceptable",
				fmt.Sprintf("you are already in this room as %q from another client; join as %q", o.Nick, o.Nick))
			return
		}
		if o.Resources.has(full) && !isJoin {
			if !o.joining { // an availability change
				show, status := presenceOf(st)
				g.occupantUpdate(ctx, r, o, from, show, status)
			}
			g.mu.Unlock()
			return
		}
	} else if who := r.nickTaken(nick, real); who != "" {
		g.mu.Unlock()
		g.refuse(ctx, st, from, to, "cancel", "conflict",
			fmt.Sprintf("the nickname %q is taken in this room by %s; join with another nickname", nick, who))
		return
	}
	o := r.occupants[real]
	newOccupant := o == nil
	if newOccupant {
		p, err := g.puppetOf(real)
		if err != nil {
			g.mu.Unlock()
			g.refuse(ctx, st, from, to, "cancel", "not-allowed", "this JID cannot be bridged to Matrix")
			return
		}
		o = &occupant{RoomJID: r.sameJID(roomJID.String()), Nick: nick, Real: real, Resources: newResourceSet(full),
			Puppet: p, joining: true, Photo: presencePhoto(st)}
		// Registered before the puppet joins: Matrix messages from now
		// on are held for it and sent after its join (none is lost).
		r.occupants[real] = o
	} else {
		r.markJoin(o, full)
	}
	g.mu.Unlock()

	if newOccupant {
		if cond, text, err := g.enter(ctx, room, o); err != nil {
			g.log.Warn("xmpp: join refused", "room", room, "occupant", real, "err", err)
			g.mu.Lock()
			delete(r.occupants, real)
			g.mu.Unlock()
			typ := "cancel"
			switch cond {
			case "remote-server-timeout":
				typ = "wait"
			case "forbidden":
				typ = "auth"
			}
			g.refuse(ctx, st, from, to, typ, cond, text)
			return
		}
	}
	if err := g.loadMembers(ctx, r, o.Puppet); err != nil {
		g.log.Warn("xmpp: could not read the room's members", "room", room, "err", err)
	}
	topic := g.topic(ctx, room, o.Puppet)
	var hist []histItem
	var hz *horizon
	if isJoin || newOccupant {
		hist, hz = g.history(ctx, r, o, from.String(), parseHistory(st))
	}

	g.mu.Lock()
	if r.occupants[real] != o {
		g.mu.Unlock()
		return // left meanwhile
	}
	if who := r.nickTaken(nick, real); newOccupant && who != "" {
		// The first joiner of a room only learns its members now. The
		// puppet leaves at once (not through the outbox), so that a
		// retry with another nick cannot be undone by a late leave.
		delete(r.occupants, real)
		g.mu.Unlock()
		if err := g.m.host.Matrix().Intent(o.Puppet).Leave(ctx, room, ""); err != nil {
			g.log.Warn("xmpp: the puppet could not leave the Matrix room", "puppet", o.Puppet, "room", room, "err", err)
		}
		g.refuse(ctx, st, from, to, "cancel", "conflict",
			fmt.Sprintf("the nickname %q is taken in this room by %s; join with another nickname", nick, who))
		return
	}
	defer g.mu.Unlock()
	o.Resources.add(full)
	g.store(ctx, room, o)
	g.sendJoin(ctx, r, o, full, topic, newOccupant, hist, hz)
	show, status := presenceOf(st)
	g.recordPresence(o.Real, full, o.RoomJID, true, show, status)
}

// enter makes o's puppet a member of room (registered, named, joined)
// and the room a portal of the module, or says why not as an XEP-0045
// condition and text.
func (g *gateway) enter(ctx context.Context, room matrix.RoomID, o *occupant) (cond, text string, err error) {
	h := g.m.host
	p := &bridges.Portal{Key: bridges.PortalKey{ID: portalPrefix + string(room)}, Room: room}
	if _, err := h.Portals().ByRoom(ctx, room); errors.Is(err, bridges.ErrNotFound) {
		if err := h.Portals().Put(ctx, p); errors.Is(err, bridges.ErrConflict) {
			return "not-allowed", "this Matrix room is bridged to another network", err
		} else if err != nil {
			return "remote-server-timeout", "the bridge could not store the room", err
		}
	} else if err != nil {
		return "remote-server-timeout", "the bridge could not read its rooms", err
	}
	in := h.Matrix().Intent(o.Puppet)
	if err := in.EnsureRegistered(ctx); err != nil {
		return "remote-server-timeout", "the Matrix homeserver did not answer", err
	}
	if _, err := kit.SyncProfile(ctx, h, room, o.Puppet, kit.Profile{Displayname: o.Nick}); err != nil {
		g.log.Warn("xmpp: could not queue the puppet's name", "puppet", o.Puppet, "err", err)
	}
	// Not EnsureJoined: that has the bot invite the puppet into rooms
	// the bot is in, private ones too. A room that is not joinable by
	// anyone is not joinable from XMPP.
	if _, err := in.JoinRoom(ctx, string(room)); err != nil {
		switch {
		case errors.Is(err, intent.ErrForbidden) && g.banned(ctx, room, o.Puppet): // mucadmin.go
			return "forbidden", "you are banned from this room", err
		case errors.Is(err, intent.ErrForbidden):
			return "registration-required", "this Matrix room is not public: only invited users may join", err
		case errors.Is(err, intent.ErrNotFound):
			return "item-not-found", "no such Matrix room", err
		}
		return "remote-server-timeout", "the Matrix homeserver did not let the puppet join", err
	}
	// The bot joins too: homeservers that do not push typing, read
	// receipts and redactions to the bridge (Dendrite) give them to the
	// bot's /sync,
	// which sees its own rooms only; disco counts the members through it.
	if err := h.Matrix().Bot().EnsureJoined(ctx, room); err != nil {
		g.log.Warn("xmpp: the bridge bot could not join a hosted room; typing and receipts may not reach XMPP",
			"room", room, "err", err)
	}
	return "", "", nil
}

// loadMembers reads the room's joined Matrix members (nick, power) as
// puppet p sees them.
func (g *gateway) loadMembers(ctx context.Context, r *mucRoom, p matrix.UserID) error {
	in := g.m.host.Matrix().Intent(p)
	evs, err := in.Members(ctx, r.id)
	if err != nil {
		return err
	}
	pl, err := in.PowerLevels(ctx, r.id)
	if err != nil {
		pl = &intent.PowerLevels{}
	}
	members := map[matrix.UserID]*member{}
	type memberClaim struct {
		displayname string
		ts          int64
	}
	claims := map[matrix.UserID]memberClaim{}
	for _, ev := range evs {
		var c matrix.MemberContent
		if ev.StateKey == nil || json.Unmarshal(ev.Content, &c) != nil || c.Membership != "join" {
			continue
		}
		u := matrix.UserID(*ev.StateKey)
		if !g.matrixOccupant(u) {
			continue
		}
		members[u] = &member{level: level(pl, u)}
		claims[u] = memberClaim{c.Displayname, ev.OriginServerTS}
	}
	g.mu.Lock()
	for u, mb := range members { // what it wanted since when, and its nick, stay
		if old := r.members[u]; old != nil {
			mb.nick, mb.want, mb.since = old.nick, old.want, old.since
		}
		g.claimLocked(u, mb, claims[u].displayname, time.UnixMilli(claims[u].ts))
	}
	g.departedLocked(ctx, r, members) // membernicks.go
	r.members = members
	r.loaded = true
	for _, o := range r.occupants {
		o.level = level(pl, o.Puppet)
	}
	g.settleLocked(ctx, r)
	g.mu.Unlock()
	return nil
}

// matrixOccupant reports whether a Matrix member appears as an occupant:
// everyone but the module's own puppets and the bot.
func (g *gateway) matrixOccupant(u matrix.UserID) bool {
	return !g.m.users.Owns(u) && u != g.m.host.Matrix().BotUserID()
}

func level(pl *intent.PowerLevels, u matrix.UserID) int {
	if l, ok := pl.Users[u]; ok {
		return l
	}
	return pl.UsersDefault
}

// nickOf is the nick of a Matrix user: the displayname when it is a
// valid resourcepart, else the user ID's localpart.
func (g *gateway) nickOf(u matrix.UserID, displayname string) string {
	for _, n := range []string{cleanNick(displayname), strings.TrimPrefix(strings.SplitN(string(u), ":", 2)[0], "@")} {
		if n == "" {
			continue
		}
		if j, err := jid.New("x", "example.org", n); err == nil {
			return j.Resourcepart()
		}
	}
	return string(u)
}

// topic returns the room's topic ("" when it has none or it cannot be read).
func (g *gateway) topic(ctx context.Context, room matrix.RoomID, p matrix.UserID) string {
	var c struct {
		Topic string `json:"topic"`
	}
	if err := g.m.host.Matrix().Intent(p).StateEventContent(ctx, room, "m.room.topic", "", &c); err != nil {
		return ""
	}
	return c.Topic
}

// nickTaken returns who has nick in r other than the XMPP user real: an
// XMPP occupant or a Matrix member; "" when it is free.
func (r *mucRoom) nickTaken(nick, real string) string {
	for _, o := range r.occupants {
		if o.Real != real && o.Nick == nick {
			return "another XMPP user"
		}
	}
	for _, m := range r.members {
		if m.nick == nick {
			return "a Matrix user"
		}
	}
	return ""
}

// store persists o.
func (g *gateway) store(ctx context.Context, room matrix.RoomID, o *occupant) {
	b, err := json.Marshal(o)
	if err == nil {
		err = g.m.host.KV().Put(ctx, occKey(room, o.Real), b)
	}
	if err != nil {
		g.log.Warn("xmpp: could not store an occupant", "room", room, "occupant", o.Real, "err", err)
	}
}

// nickJID is room@domain/nick.
func nickJID(roomJID, nick string) string { return roomJID + "/" + nick }

// memberItem is the item of a Matrix member: affiliation and role from
// the power level, the JID of the Matrix user on the component (the room
// is non-anonymous: Matrix membership is public).
func (g *gateway) memberItem(room matrix.RoomID, u matrix.UserID, mb *member) mucItem {
	aff, role := affiliation(mb.level)
	j, _ := address.UserJID(g.m.domain, u)
	return mucItem{Affiliation: aff, Role: role, JID: j.String(), OccupantID: g.occupantID(room, string(u)),
		Photo: g.matrixPhoto(u)}
}

// announce returns the Matrix members whose presence a joiner gets: at
// most MaxJoinOccupants, the most powerful first, then by nick. Big rooms
// stay cheap to join; the others appear when they speak.
func (r *mucRoom) announce(limit int) []matrix.UserID {
	ids := make([]matrix.UserID, 0, len(r.members))
	for u := range r.members {
		ids = append(ids, u)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := r.members[ids[i]], r.members[ids[j]]
		if a.level != b.level {
			return a.level > b.level
		}
		return a.nick < b.nick
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}

// sendJoin queues, under g.mu, what a joining resource gets (XEP-0045
// §7.2: the others' presences, its own with 110, the history, the
// subject) and, for a new occupant, its presence to everyone else and
// what was held, but the messages of the past its join read (hz, nil
// when none was read).
func (g *gateway) sendJoin(ctx context.Context, r *mucRoom, o *occupant, to, topic string, newOccupant bool, hist []histItem, hz *horizon) {
	// The bounded list, and everyone the other occupants already know.
	ids := r.announce(g.m.cfg.MaxJoinOccupants)
	listed := map[matrix.UserID]bool{}
	for _, u := range ids {
		listed[u] = true
	}
	for u := range r.announced {
		if !listed[u] && r.members[u] != nil {
			ids = append(ids, u)
		}
	}
	for _, u := range ids {
		mb := r.members[u]
		if !r.announced[u] {
			r.announced[u] = true
			g.toOthers(ctx, r, o, func(other *occupant) []byte {
				return g.memberPresence(r.id, nickJID(other.RoomJID, mb.nick), "", u, mb)
			})
		}
		g.enqueue(ctx, g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), to, u, mb))
	}
	for _, other := range r.occupants {
		if other == o || other.joining {
			continue
		}
		g.enqueue(ctx, presenceStanza(nickJID(o.RoomJID, other.Nick), to,
			g.xmppItem(r.id, other.Real, other.Real), false))
	}
	g.enqueue(ctx, presenceStanza(nickJID(o.RoomJID, o.Nick), to,
		g.xmppItem(r.id, o.Real, to), false, statusNonAnonymous, statusSelf, statusLogged))
	for _, h := range hist {
		g.enqueue(ctx, h.Stanza)
	}
	g.enqueue(ctx, subjectStanza(o.RoomJID, to, topic))
	if newOccupant {
		g.toOthers(ctx, r, o, func(other *occupant) []byte {
			return presenceStanza(nickJID(other.RoomJID, o.Nick), "", g.xmppItem(r.id, o.Real, o.Real), false)
		})
	}
	for _, h := range o.pending {
		// Presences held during the join are older than the list just
		// sent, which shows the room as it is now: only messages follow,
		// but those of the past the history read.
		if h.ev != "" && hz.has(h.ev, h.ts) {
			continue
		}
		if !bytes.HasPrefix(h.b, []byte("<presence")) {
			g.enqueue(ctx, h.b)
		}
	}
	o.pending, o.joining = nil, false
	g.sendMissed(ctx, r, o, to, hz)
	o.past = o.past.with(to, hz)
}

// toOthers queues a stanza to every resource of every joined occupant of
// r but skip; build gets the recipient and returns the stanza with an
// empty to, which is set here.
func (g *gateway) toOthers(ctx context.Context, r *mucRoom, skip *occupant, build func(*occupant) []byte) {
	for _, other := range r.occupants {
		if other == skip {
			continue
		}
		b := build(other)
		for _, res := range other.Resources.all() {
			g.deliver(ctx, other, withTo(b, res))
		}
	}
}

// deliver queues b for o, or holds it while o's join is not sent.
func (g *gateway) deliver(ctx context.Context, o *occupant, b []byte) {
	g.deliverMsg(ctx, o, "", "", time.Time{}, b)
}

// deliverMsg is deliver for the message of Matrix event ev (sent at ts,
// zero when unknown) to resource res of o, which is skipped when it is
// of the past res's join read.
func (g *gateway) deliverMsg(ctx context.Context, o *occupant, res string, ev matrix.EventID, ts time.Time, b []byte) {
	if ev != "" && o.past.of(res).has(ev, ts) {
		return
	}
	if o.joining {
		o.pending = append(o.pending, held{b: b, ev: ev, ts: ts})
		return
	}
	g.enqueue(ctx, b)
}

// withTo sets the to attribute of an encoded stanza that has to="".
func withTo(b []byte, to string) []byte {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(to))
	return []byte(strings.Replace(string(b), ` to=""`, ` to="`+esc.String()+`"`, 1))
}

// leave removes the resource from of the occupant of roomJID (bounced:
// it sent an error, so it gets nothing more); the last resource gone,
// the occupant leaves and its puppet leaves the Matrix room.
func (g *gateway) leave(ctx context.Context, from, roomJID jid.JID, bounced bool) {
	real, res := from.Bare().String(), from.String()
	g.mu.Lock()
	var r *mucRoom
	var o *occupant
	for _, rr := range g.rooms {
		if x := rr.occupants[real]; x != nil && x.RoomJID == roomJID.String() && (x.Resources.has(res) || (bounced && from.Resourcepart() == "")) {
			r, o = rr, x
			break
		}
	}
	if o == nil {
		g.mu.Unlock()
		return
	}
	for _, res := range o.Resources.all() {
		if res == from.String() || (bounced && from.Resourcepart() == "") {
			if j, err := jid.Parse(res); err == nil {
				g.xmppPresence(j, o.RoomJID, false, "", "")
			}
		}
	}
	if bounced && from.Resourcepart() == "" {
		o.Resources = resourceSet{}
	}
	o.Resources.remove(res)
	o.past = o.past.with(res, nil)
	if !bounced {
		g.enqueue(ctx, presenceStanza(nickJID(o.RoomJID, o.Nick), res,
			g.xmppItem(r.id, o.Real, res), true, statusSelf))
	}
	if o.Resources.len() > 0 {
		g.store(ctx, r.id, o)
		g.mu.Unlock()
		return
	}
	// The puppet's leave is durable (the outbox), after its messages.
	op := intent.Op{Kind: intent.OpMembership, Room: r.id, Sender: o.Puppet, Type: "leave"}
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.mu.Unlock()
		g.log.Warn("xmpp: could not queue the puppet's leave; the occupant stays", "puppet", o.Puppet, "room", r.id, "err", err)
		return
	}
	g.removeLocked(ctx, r, o)
	g.mu.Unlock()
}

// removeLocked drops o from r (memory and KV) and tells the others.
func (g *gateway) removeLocked(ctx context.Context, r *mucRoom, o *occupant) {
	g.removeAsLocked(ctx, r, o, removal{})
}

// removeAsLocked is removeLocked for a kick or ban (how, mucadmin.go).
func (g *gateway) removeAsLocked(ctx context.Context, r *mucRoom, o *occupant, how removal) {
	delete(r.occupants, o.Real)
	if err := g.m.host.KV().Delete(ctx, occKey(r.id, o.Real)); err != nil && !errors.Is(err, bridges.ErrNotFound) {
		g.log.Warn("xmpp: could not forget an occupant", "err", err)
	}
	g.toOthers(ctx, r, o, func(other *occupant) []byte {
		return presenceStanza(nickJID(other.RoomJID, o.Nick), "", how.item(g.xmppItem(r.id, o.Real, o.Real)), true, how.codes()...)
	})
	if len(r.occupants) == 0 {
		// Nobody follows the room now: its members are read again on
		// the next join. The entry stays (a join in another lane may
		// hold it).
		r.loaded = false
		r.members = map[matrix.UserID]*member{}
		r.announced = map[matrix.UserID]bool{}
		return
	}
	g.settleLocked(ctx, r) // its nick may be a Matrix member's wish
}

// say sends a groupchat message of an occupant to Matrix; its reflection
// to the occupants follows once the Matrix event exists (OnOutboxSent).
func (g *gateway) say(ctx context.Context, from, roomJID jid.JID, id, origin string, in inbound) {
	real := from.Bare().String()
	g.mu.Lock()
	var room matrix.RoomID
	var o *occupant
	for _, r := range g.rooms {
		if x := r.occupants[real]; x != nil && x.RoomJID == roomJID.String() && x.Resources.has(from.String()) {
			room, o = r.id, x
			break
		}
	}
	var nick string
	if o != nil {
		nick = o.Nick
	}
	g.mu.Unlock()
	if o == nil {
		g.enqueue(ctx, errorPresenceStanza("message", roomJID.String(), from.String(), id, roomJID.String(),
			"modify", "not-acceptable", "you are not in this room: join it first"))
		return
	}
	content := g.toMatrix(ctx, o.Puppet, in) // formatting, files (content.go)
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	key := sentKey(real, nick, roomJID.String(), id, origin)
	op := intent.Op{Kind: intent.OpMessage, Room: room, Sender: o.Puppet, Type: matrix.EventMessage, Content: raw,
		Key: key, Link: &intent.Link{Module: ID, RemoteID: msgLinkID(room, real, id, origin, key)}}
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.log.Warn("xmpp: could not queue a message to Matrix", "room", room, "err", err)
		g.enqueue(ctx, errorPresenceStanza("message", roomJID.String(), from.String(), id, roomJID.String(),
			"wait", "internal-server-error", "the message could not be bridged; send it again"))
	}
}

// sentKey is the outbox key and link of a groupchat message from XMPP:
// the sender, its nick, the room JID, the stanza's id and origin-id,
// each escaped (no '/' left), so that the reflection can be rebuilt from
// the key alone, after a restart too. Without ids a random one is made.
func sentKey(real, nick, roomJID, id, origin string) string {
	if id == "" && origin == "" {
		id = randomID()
	}
	parts := []string{real, nick, roomJID, id, origin}
	for i, p := range parts {
		parts[i] = address.Escape(p)
	}
	return sentKeyPrefix + strings.Join(parts, "/")
}

// randomID is an id for a stanza that came without one.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "causeway-" + hex.EncodeToString(b[:])
}

// parseSentKey reverses sentKey.
func parseSentKey(key string) (real, nick, roomJID, id, origin string, ok bool) {
	rest, found := strings.CutPrefix(key, sentKeyPrefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 5 {
		return "", "", "", "", "", false
	}
	for i, p := range parts {
		s, err := address.Unescape(p)
		if err != nil {
			return "", "", "", "", "", false
		}
		parts[i] = s
	}
	return parts[0], parts[1], parts[2], parts[3], parts[4], true
}

// failed tells the sender of a groupchat message that Matrix refused it
// for good (the outbox gave up): an error message from the room to its
// bare JID, with the message's id.
func (g *gateway) failed(ctx context.Context, op intent.Op) {
	real, _, roomJID, id, _, ok := parseSentKey(op.Key)
	if !ok {
		return
	}
	g.enqueue(ctx, errorPresenceStanza("message", roomJID, real, id, roomJID, "cancel", "not-allowed",
		"Matrix refused this message; it was not delivered"))
}

// reflect sends an XMPP occupant's message, now Matrix event ev, to every
// occupant of the room, the sender included (XEP-0045 §7.4), with the
// stanza-id the room gives it.
func (g *gateway) reflect(ctx context.Context, op intent.Op, ev matrix.EventID) {
	real, nick, _, id, origin, ok := parseSentKey(op.Key)
	if !ok {
		return
	}
	text, extra, err := g.reflected(op.Content)
	if err != nil {
		return
	}
	occID := g.occupantID(op.Room, real)
	g.rememberArchived(ctx, ev, sentMeta{Nick: nick, Real: real, ID: id, Origin: origin})
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rememberSent(op.Room, ev, id, origin)
	r := g.rooms[op.Room]
	if r == nil {
		return
	}
	build := func(o *occupant, res string) []byte {
		return withPayload(messageStanza(nickJID(o.RoomJID, nick), res, id, text, origin, string(ev), o.RoomJID, occID), extra)
	}
	r.live.add(ev, time.Time{}, build)
	for _, o := range r.occupants {
		for _, res := range o.Resources.all() {
			g.deliverMsg(ctx, o, res, ev, time.Time{}, build(o, res))
		}
	}
}

// fromMatrix sends a Matrix user's message (body text, payloads extra:
// see outgoing) to every occupant of its room from the user's nick, with
// the event ID as stanza-id.
func (g *gateway) fromMatrix(ctx context.Context, room matrix.RoomID, sender matrix.UserID, ev matrix.EventID, text string, extra []byte) {
	g.fromMatrixAt(ctx, room, sender, ev, time.Time{}, text, extra)
}

// fromMatrixAt is fromMatrix for an event sent at ts (its
// origin_server_ts): an event from before an occupant's join is of its
// past, not sent as live.
func (g *gateway) fromMatrixAt(ctx context.Context, room matrix.RoomID, sender matrix.UserID, ev matrix.EventID, ts time.Time, text string, extra []byte) {
	g.mu.Lock()
	r := g.rooms[room]
	if r == nil || len(r.occupants) == 0 {
		g.mu.Unlock()
		return
	}
	loaded := r.loaded
	var reader matrix.UserID // an occupant's puppet reads the room
	for _, o := range r.occupants {
		reader = o.Puppet
		break
	}
	g.mu.Unlock()
	if !loaded {
		if err := g.loadMembers(ctx, r, reader); err != nil {
			g.log.Warn("xmpp: could not read the room's members", "room", room, "err", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	mb := g.unknownMemberLocked(ctx, r, sender)
	if !r.announced[sender] {
		r.announced[sender] = true
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", sender, mb)
		})
	}
	occID := g.occupantID(room, string(sender))
	nick := mb.nick
	build := func(o *occupant, res string) []byte {
		return withPayload(messageStanza(nickJID(o.RoomJID, nick), res, string(ev), text, "", string(ev), o.RoomJID, occID), extra)
	}
	r.live.add(ev, ts, build)
	for _, o := range r.occupants {
		for _, res := range o.Resources.all() {
			g.deliverMsg(ctx, o, res, ev, ts, build(o, res))
		}
	}
}

// membership follows a Matrix member's join, leave or new displayname.
func (g *gateway) membership(ctx context.Context, room matrix.RoomID, u matrix.UserID, c matrix.MemberContent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil || !g.matrixOccupant(u) {
		return
	}
	old := r.members[u]
	gone := func() {
		if old != nil && r.announced[u] {
			g.toOthers(ctx, r, nil, func(o *occupant) []byte {
				return presenceStanza(nickJID(o.RoomJID, old.nick), "", g.memberItem(r.id, u, old), true)
			})
		}
		delete(r.announced, u)
	}
	if c.Membership != "join" {
		gone()
		delete(r.members, u)
		g.settleLocked(ctx, r) // a nick freed goes to the next in line
		return
	}
	if old != nil && old.want == g.nickOf(u, c.Displayname) && r.announced[u] {
		return
	}
	announced := old != nil && r.announced[u]
	mb := old
	if mb == nil {
		mb = &member{}
		r.members[u] = mb
	}
	g.claimLocked(u, mb, c.Displayname, time.Now())
	// A new displayname of an announced member is a 303 nick change
	// (settleLocked), not a leave and a join.
	g.settleLocked(ctx, r)
	if !announced {
		r.announced[u] = true
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", u, mb)
		})
	}
}
