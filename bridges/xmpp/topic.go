package xmpp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// The subject of a hosted room is its Matrix topic (XEP-0045 §8.1). A
// new m.room.topic reaches every occupant at once as a subject message
// from the nick of the Matrix member who set it (from the room's bare
// JID when it has none there, e.g. the bridge bot). An occupant's
// groupchat message with a <subject/> and no <body/> sets the topic
// through its puppet when the puppet's power level allows m.room.topic,
// and is then reflected to every occupant from its nick; else it gets a
// forbidden error.

// subjectChange takes an occupant's subject change (a message with a
// <subject/> and no <body/>) to roomJID, and reports whether it did.
func (g *gateway) subjectChange(st *component.Stanza, from, roomJID jid.JID) bool {
	subj, ok := find(st, "*", "subject")
	if !ok {
		return false
	}
	if _, body := find(st, "*", "body"); body {
		return false // a message that also has a subject: the body is what is said
	}
	id, topic := st.Attr("id"), subj.Text
	g.push(roomJID.String(), func() {
		g.enqueue(context.Background(), errorPresenceStanza("message", roomJID.String(), from.String(), id,
			roomJID.String(), "wait", "resource-constraint", "the room is busy; try again"))
	}, func(ctx context.Context) { g.setSubject(ctx, from, roomJID, id, topic) })
	return true
}

// setSubject sets the Matrix topic of the room of roomJID as the puppet
// of occupant from, and reflects it to every occupant.
func (g *gateway) setSubject(ctx context.Context, from, roomJID jid.JID, id, topic string) {
	refuse := func(typ, cond, text string) {
		g.enqueue(ctx, errorPresenceStanza("message", roomJID.String(), from.String(), id, roomJID.String(), typ, cond, text))
	}
	r, o := g.occupantIn(from, roomJID.String())
	if o == nil {
		refuse("modify", "not-acceptable", "you are not in this room: join it first")
		return
	}
	g.mu.Lock()
	p, nick := o.Puppet, o.Nick
	g.mu.Unlock()
	in := g.m.host.Matrix().Intent(p)
	pl, err := in.PowerLevels(ctx, r.id)
	if err != nil {
		g.log.Warn("xmpp: could not read a room's power levels", "room", r.id, "err", err)
		refuse("wait", "remote-server-timeout", "the Matrix homeserver did not answer")
		return
	}
	need, ok := pl.Events[matrix.EventTopic]
	if !ok {
		need = pl.StateDefault
	}
	if mine := pl.UserLevel(p); mine < need {
		refuse("auth", "forbidden", fmt.Sprintf("your Matrix power level in this room is %d; to change the subject you need %d", mine, need))
		return
	}
	if _, err := in.SendState(ctx, r.id, matrix.EventTopic, "", map[string]string{"topic": topic}, time.Time{}); err != nil {
		if errors.Is(err, intent.ErrForbidden) {
			refuse("auth", "forbidden", "Matrix refused to change the topic")
			return
		}
		g.log.Warn("xmpp: could not set a room's topic", "room", r.id, "err", err)
		refuse("wait", "remote-server-timeout", "the Matrix homeserver did not change the topic; try again")
		return
	}
	// The core drops the echo of the puppet's event: the occupants are
	// told here.
	g.mu.Lock()
	defer g.mu.Unlock()
	g.subjectToAllLocked(ctx, r, nick, topic)
}

// HandleMatrixTopic implements bridges.TopicHandler: a hosted room's
// new topic is its occupants' new subject.
func (m *Module) HandleMatrixTopic(ctx context.Context, t *bridges.Topic) error {
	room, ok := roomOf(t.Portal)
	if m.gw == nil || !ok || t.Event == nil || (t.Event.StateKey != nil && *t.Event.StateKey != "") {
		return nil
	}
	m.gw.topicChanged(ctx, room, t.Event.Sender, t.Topic)
	return nil
}

// topicChanged sends sender's new topic of room to its occupants.
func (g *gateway) topicChanged(ctx context.Context, room matrix.RoomID, sender matrix.UserID, topic string) {
	g.mu.Lock()
	r := g.rooms[room]
	if r == nil || len(r.occupants) == 0 {
		g.mu.Unlock()
		return
	}
	loaded := r.loaded
	var reader matrix.UserID
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
	nick := ""
	if mb := r.members[sender]; mb != nil && g.matrixOccupant(sender) {
		if !r.announced[sender] {
			r.announced[sender] = true
			g.toOthers(ctx, r, nil, func(o *occupant) []byte {
				return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", sender, mb)
			})
		}
		nick = mb.nick
	}
	g.subjectToAllLocked(ctx, r, nick, topic)
}

// subjectToAllLocked sends the subject to every resource of every
// occupant of r, from nick (the room's bare JID when nick is ""). Call
// with g.mu held.
func (g *gateway) subjectToAllLocked(ctx context.Context, r *mucRoom, nick, subject string) {
	g.toOthers(ctx, r, nil, func(o *occupant) []byte {
		from := o.RoomJID
		if nick != "" {
			from = nickJID(o.RoomJID, nick)
		}
		return subjectStanza(from, "", subject)
	})
}

var _ bridges.TopicHandler = (*Module)(nil)
