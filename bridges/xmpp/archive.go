package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// A room's archive, as history on join and MAM show it, is its Matrix
// timeline read with GET /rooms/{room}/messages as an occupant's puppet
// (so Matrix's history visibility applies): the m.room.message events
// the rooms bridge live (text, notice, emote, image, file, video,
// audio), shown as live messages show them (archiveview.go), with the
// latest edit applied; redacted ones are XEP-0424 tombstones, edits are
// not messages of their own. Their stanza ids are the event IDs, stable
// across queries and restarts.

const (
	// contextLimit is how many events /context is asked for around an
	// event the archive starts from.
	contextLimit = 20
	// walkPage is the largest page one /messages request asks for.
	walkPage = 100
)

// archived is one message of a room's archive, as it is now.
type archived struct {
	ID     matrix.EventID
	TS     time.Time
	Sender matrix.UserID
	// Content is the message's content, its latest edit's
	// m.new_content applied (EditTS is that edit's time, 0 when none).
	Content matrixContent
	EditTS  int64
	// ReplyTo is the event the message replies to ("" when none).
	ReplyTo matrix.EventID
	// Redacted, when set, says who redacted the message and when: the
	// archive shows a tombstone.
	Redacted *redactedBy
	// Corrects, when set, makes this item no message but an edit of
	// that message (an m.replace; Content is its m.new_content): MAM
	// shows it as an XEP-0308 correction.
	Corrects matrix.EventID
}

// redactedBy is the redaction of an archived message.
type redactedBy struct {
	ID     matrix.EventID
	Sender matrix.UserID
	TS     time.Time
}

// unsignedOf is what the archive reads of an event's unsigned block: the
// redaction that removed its content, and the latest edit when the
// homeserver bundles it (Synapse does; Dendrite 0.15 does not).
type unsignedOf struct {
	RedactedBecause *matrix.Event `json:"redacted_because"`
	Relations       struct {
		Replace *matrix.Event `json:"m.replace"`
	} `json:"m.relations"`
}

// archivedOf returns the archived message of ev, or false when ev is
// not a message the gateway bridges (an edit, another msgtype, state).
// A redacted m.room.message is a tombstone; an edit the homeserver
// bundled is applied.
func archivedOf(ev *matrix.Event) (archived, bool) {
	if ev == nil || ev.Type != matrix.EventMessage || ev.StateKey != nil {
		return archived{}, false
	}
	a := archived{ID: ev.ID, TS: time.UnixMilli(ev.OriginServerTS).UTC(), Sender: ev.Sender}
	var u unsignedOf
	if len(ev.Unsigned) > 0 {
		_ = json.Unmarshal(ev.Unsigned, &u)
	}
	if rb := u.RedactedBecause; rb != nil {
		a.Redacted = &redactedBy{ID: rb.ID, Sender: rb.Sender, TS: time.UnixMilli(rb.OriginServerTS).UTC()}
		return a, true
	}
	if json.Unmarshal(ev.Content, &a.Content) != nil || !bridgedMsgType(a.Content.MsgType) {
		return archived{}, false
	}
	if rel := a.Content.RelatesTo; rel != nil {
		switch {
		case rel.RelType == "m.replace":
			return archived{}, false
		case rel.RelType == "" && rel.InReplyTo != nil:
			a.ReplyTo = rel.InReplyTo.EventID
		}
	}
	a.applyEdit(u.Relations.Replace)
	return a, true
}

// itemOf returns the item of MAM's archive that ev is: a message
// (archivedOf) or an edit of one with bridged m.new_content, which MAM
// shows as an XEP-0308 correction so that a client catching up learns
// of edits to messages it already has. History on join has messages
// only: it shows them edited.
func itemOf(ev *matrix.Event) (archived, bool) {
	if a, ok := archivedOf(ev); ok {
		return a, true
	}
	target, ok := editOf(ev)
	if !ok || target == "" {
		return archived{}, false
	}
	var c struct {
		NewContent *matrixContent `json:"m.new_content"`
	}
	if json.Unmarshal(ev.Content, &c) != nil || c.NewContent == nil || !bridgedMsgType(c.NewContent.MsgType) {
		return archived{}, false
	}
	c.NewContent.RelatesTo, c.NewContent.NewContent = nil, nil
	return archived{ID: ev.ID, TS: time.UnixMilli(ev.OriginServerTS).UTC(), Sender: ev.Sender, Content: *c.NewContent, Corrects: target}, true
}

// bridgedMsgType reports whether messages of msgtype t are bridged.
func bridgedMsgType(t string) bool {
	switch t {
	case matrix.MsgText, matrix.MsgNotice, matrix.MsgEmote, matrix.MsgImage, matrix.MsgFile, matrix.MsgVideo, matrix.MsgAudio:
		return true
	}
	return false
}

// editOf returns the event an m.replace event ed edits, and false when
// ed is no edit.
func editOf(ed *matrix.Event) (matrix.EventID, bool) {
	if ed == nil || ed.Type != matrix.EventMessage || ed.StateKey != nil {
		return "", false
	}
	var c struct {
		RelatesTo *matrix.RelatesTo `json:"m.relates_to"`
	}
	if json.Unmarshal(ed.Content, &c) != nil || c.RelatesTo == nil || c.RelatesTo.RelType != "m.replace" {
		return "", false
	}
	return c.RelatesTo.EventID, true
}

// applyEdit applies the m.replace event ed to a when it is an edit of a
// by its sender (edits by anyone else are ignored, as Matrix says) with
// bridged m.new_content, later than the edit applied so far. The reply
// a message is stays as it was (m.new_content has no relation).
func (a *archived) applyEdit(ed *matrix.Event) {
	if a.Redacted != nil || ed == nil || ed.Sender != a.Sender || ed.OriginServerTS < a.EditTS {
		return
	}
	if target, ok := editOf(ed); !ok || target != a.ID {
		return
	}
	var c struct {
		NewContent *matrixContent `json:"m.new_content"`
	}
	if json.Unmarshal(ed.Content, &c) != nil || c.NewContent == nil || !bridgedMsgType(c.NewContent.MsgType) {
		return
	}
	rel := a.Content.RelatesTo
	a.Content, a.EditTS = *c.NewContent, ed.OriginServerTS
	a.Content.RelatesTo, a.Content.NewContent = rel, nil
}

// walker reads a room's timeline one way, one event at a time, from the
// newest or oldest event or from next to a given one. Homeservers
// differ on whether a pagination token includes the event it points at,
// so the walker skips events it has already returned. budget bounds the
// events it reads from the homeserver.
type walker struct {
	in     *intent.Intent
	room   matrix.RoomID
	dir    string
	page   int
	token  string
	buf    []*matrix.Event
	seen   map[matrix.EventID]bool
	done   bool
	budget int
	// exhausted reports that the walk stopped on its budget, not at
	// the end of the timeline.
	exhausted bool
	started   bool // a page was read
	// win gets every event the homeserver returned to the walk, read
	// or not (nil: none is kept).
	win *window
}

// newWalker walks room as in in direction dir (intent.Backward from the
// newest event, intent.Forward from the oldest), page events per
// request, reading at most budget events.
func newWalker(in *intent.Intent, room matrix.RoomID, dir string, page, budget int) *walker {
	return &walker{in: in, room: room, dir: dir, page: min(max(page, 1), walkPage), budget: budget,
		seen: map[matrix.EventID]bool{}}
}

// from makes the walk start next to event ev (excluded) and returns ev.
// It fails with intent.ErrNotFound when the room has no such event.
func (w *walker) from(ctx context.Context, ev matrix.EventID) (*matrix.Event, error) {
	cx, err := w.in.Context(ctx, w.room, ev, contextLimit, nil)
	if err != nil {
		return nil, err
	}
	if cx.Event.ID != ev {
		return nil, intent.ErrNotFound
	}
	w.seen[ev] = true
	w.win.note(cx.EventsBefore...)
	w.win.note(cx.Event)
	w.win.note(cx.EventsAfter...)
	if w.dir == intent.Backward {
		w.buf, w.token = cx.EventsBefore, cx.Start
		w.done = len(cx.EventsBefore) == 0 || cx.Start == ""
	} else {
		// Without events after it, an end token may point anywhere
		// (Dendrite's points at the room's start): nothing follows.
		w.buf, w.token = cx.EventsAfter, cx.End
		w.done = len(cx.EventsAfter) == 0 || cx.End == ""
	}
	return cx.Event, nil
}

// fromCreate starts a forward walk after the room's m.room.create, its
// first event, which it returns first.
func (w *walker) fromCreate(ctx context.Context) error {
	state, err := w.in.RoomState(ctx, w.room)
	if err != nil {
		return err
	}
	for _, ev := range state {
		if ev.Type == "m.room.create" && ev.StateKey != nil && *ev.StateKey == "" && ev.ID != "" {
			create, err := w.from(ctx, ev.ID)
			if err != nil {
				return err
			}
			delete(w.seen, create.ID)
			w.buf = append([]*matrix.Event{create}, w.buf...)
			return nil
		}
	}
	return fmt.Errorf("state of %s: no m.room.create", w.room)
}

// next returns the next event of the walk, or nil at its end.
func (w *walker) next(ctx context.Context) (*matrix.Event, error) {
	for {
		for len(w.buf) > 0 {
			ev := w.buf[0]
			w.buf = w.buf[1:]
			if ev == nil || w.seen[ev.ID] {
				continue
			}
			w.seen[ev.ID] = true
			return ev, nil
		}
		if w.done {
			return nil, nil
		}
		if w.budget <= 0 {
			w.exhausted, w.done = true, true
			return nil, nil
		}
		p, err := w.in.Messages(ctx, w.room, w.token, w.dir, min(w.page, w.budget), nil)
		var he *intent.HTTPError
		if err != nil && w.dir == intent.Forward && w.token == "" && !w.started && errors.As(err, &he) && he.Status == http.StatusBadRequest {
			// Dendrite refuses a forward page without a token: start
			// from the room's first event, its m.room.create.
			w.started = true
			if err := w.fromCreate(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		w.started = true
		w.win.note(p.Chunk...)
		w.budget -= max(len(p.Chunk), 1)
		w.buf = p.Chunk
		if p.End == "" || p.End == w.token || len(p.Chunk) == 0 {
			w.done = true
		}
		w.token = p.End
	}
}

// nextItem returns the next item of MAM's archive (itemOf) of the
// walk; ok is false at its end.
func (w *walker) nextItem(ctx context.Context) (a archived, ok bool, err error) {
	for {
		ev, err := w.next(ctx)
		if err != nil || ev == nil {
			return archived{}, false, err
		}
		if a, ok := itemOf(ev); ok {
			return a, true, nil
		}
	}
}

// sender is how an archived message's sender appears in the room.
type sender struct {
	Nick string
	// Real is the sender's JID: an XMPP user's bare JID, or a Matrix
	// user's JID on the component.
	Real string
	// ID and OriginID are an XMPP message's own ids, when it came from
	// XMPP through the gateway.
	ID, OriginID string
	// OccupantID is its XEP-0421 occupant-id in the room.
	OccupantID string
}

// senders finds the nicks of a room's archive: an occupant's nick, a
// Matrix member's as occupants know it, the nick an XMPP message was
// sent with (from its link), else the sender's displayname in the room,
// else the localpart. It asks the homeserver without g.mu held, and
// remembers the displaynames it read.
type senders struct {
	g      *gateway
	r      *mucRoom
	reader *intent.Intent
	names  map[matrix.UserID]string
}

func (g *gateway) senders(r *mucRoom, reader matrix.UserID) *senders {
	return &senders{g: g, r: r, reader: g.m.host.Matrix().Intent(reader), names: map[matrix.UserID]string{}}
}

// of returns how the sender of a appears.
func (s *senders) of(ctx context.Context, a archived) sender {
	out := s.find(ctx, a)
	if s.g.m.users.Owns(a.Sender) {
		out.OccupantID = s.g.occupantID(s.r.id, out.Real)
	} else {
		out.OccupantID = s.g.occupantID(s.r.id, string(a.Sender))
	}
	return out
}

func (s *senders) find(ctx context.Context, a archived) sender {
	g := s.g
	if g.m.users.Owns(a.Sender) {
		if m, ok := g.sentMetaOf(ctx, a.ID); ok {
			return sender{Nick: m.Nick, Real: m.Real, ID: m.ID, OriginID: m.Origin}
		}
		real := g.realOf(a.Sender)
		if l, err := g.m.host.Links().ByEvent(ctx, a.ID); err == nil {
			if r, ok := parseMsgRemoteID(l.Remote.ID); ok {
				real = r
			}
		}
		g.mu.Lock()
		for _, o := range s.r.occupants {
			if o.Puppet == a.Sender {
				real = o.Real
				nick := o.Nick
				g.mu.Unlock()
				return sender{Nick: nick, Real: real}
			}
		}
		g.mu.Unlock()
		return sender{Nick: s.displayname(ctx, a.Sender, func() string { return localOf(real) }), Real: real}
	}
	j, _ := address.UserJID(g.m.domain, a.Sender)
	g.mu.Lock()
	mb := s.r.members[a.Sender]
	var nick string
	if mb != nil {
		nick = mb.nick
	}
	g.mu.Unlock()
	if nick == "" {
		nick = s.displayname(ctx, a.Sender, func() string { return g.nickOf(a.Sender, "") })
	}
	return sender{Nick: nick, Real: j.String()}
}

// sentMetaPrefix + an event ID holds what the archive shows of an XMPP
// occupant's message that became that event (sentMeta), stored when it
// is reflected: the nick, id and origin-id it was sent with.
const sentMetaPrefix = "muc/sent/"

// sentMeta is how an XMPP occupant sent a message.
type sentMeta struct {
	Nick   string `json:"nick"`
	Real   string `json:"real"`
	ID     string `json:"id,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// rememberArchived stores m for event ev (errors are logged: the
// archive then shows the sender's current nick).
func (g *gateway) rememberArchived(ctx context.Context, ev matrix.EventID, m sentMeta) {
	b, err := json.Marshal(m)
	if err == nil {
		err = g.m.host.KV().Put(ctx, sentMetaPrefix+string(ev), b)
	}
	if err != nil {
		g.log.Warn("xmpp: could not store how a message was sent", "event", ev, "err", err)
	}
}

// sentMetaOf returns what rememberArchived stored for ev.
func (g *gateway) sentMetaOf(ctx context.Context, ev matrix.EventID) (sentMeta, bool) {
	var m sentMeta
	b, err := g.m.host.KV().Get(ctx, sentMetaPrefix+string(ev))
	if err != nil || json.Unmarshal(b, &m) != nil || m.Nick == "" {
		return sentMeta{}, false
	}
	return m, true
}

// displayname returns u's displayname in the room as a nick, or
// fallback's answer.
func (s *senders) displayname(ctx context.Context, u matrix.UserID, fallback func() string) string {
	if n, ok := s.names[u]; ok {
		return n
	}
	var c matrix.MemberContent
	n := ""
	if err := s.reader.StateEventContent(ctx, s.r.id, matrix.EventMember, string(u), &c); err == nil && cleanNick(c.Displayname) != "" {
		n = s.g.nickOf(u, c.Displayname)
	}
	if n == "" {
		n = fallback()
	}
	if !s.g.m.users.Owns(u) { // a former member: the nick rule against today's nicks
		s.g.mu.Lock()
		n = s.g.formerNickLocked(s.r, u, n)
		s.g.mu.Unlock()
	}
	s.names[u] = n
	return n
}

// realOf returns the bare JID of an XMPP puppet ("" when it is none).
func (g *gateway) realOf(p matrix.UserID) string {
	v, err := g.m.users.Parse(p)
	if err != nil {
		return ""
	}
	return v["name"]
}

// localOf returns the localpart of a JID, else the JID.
func localOf(s string) string {
	if j, err := jid.Parse(s); err == nil && j.Localpart() != "" {
		return j.Localpart()
	}
	return s
}

// reader returns the puppet that reads r's archive for the XMPP user
// real: its own when it is an occupant, else "" (the archive is read
// only for occupants).
func (g *gateway) reader(r *mucRoom, real string) matrix.UserID {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := r.occupants[real]; o != nil && !o.joining {
		return o.Puppet
	}
	return ""
}

// stamp is an XEP-0082 DateTime in UTC with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
