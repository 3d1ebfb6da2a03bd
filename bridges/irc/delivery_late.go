package irc

import (
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/matrix"
)

// unconfirmedWindow is how long a message the server could not confirm
// (no echo-message or labeled-response, or no echo in time) is remembered,
// so an error numeric arriving after it is reported next to it. Servers
// answer a refused message at once; the window only bounds the memory.
const unconfirmedWindow = time.Minute

// unconfirmedSends remembers, per casefolded target, the last Matrix event
// a connection sent there without confirmation. Its zero value is ready.
type unconfirmedSends struct {
	mu       sync.Mutex
	byTarget map[string]sentEvent
}

// sentEvent is a Matrix message sent to IRC without confirmation.
type sentEvent struct {
	room  matrix.RoomID
	event matrix.EventID
	at    time.Time
}

// remember records evt as the last message to target (folded) that may
// end unconfirmed, and forgets entries older than the window.
func (s *unconfirmedSends) remember(target string, evt *matrix.Event, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byTarget == nil {
		s.byTarget = map[string]sentEvent{}
	}
	for k, v := range s.byTarget {
		if now.Sub(v.at) > unconfirmedWindow {
			delete(s.byTarget, k)
		}
	}
	s.byTarget[target] = sentEvent{room: evt.RoomID, event: evt.ID, at: now}
}

// forget removes the entry for target (folded) when it is event's.
func (s *unconfirmedSends) forget(target string, event matrix.EventID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byTarget[target]; ok && e.event == event {
		delete(s.byTarget, target)
	}
}

// take removes and returns the last unconfirmed message to target (folded)
// when it was sent within the window.
func (s *unconfirmedSends) take(target string, now time.Time) (sentEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byTarget[target]
	if !ok {
		return sentEvent{}, false
	}
	delete(s.byTarget, target)
	return e, now.Sub(e.at) <= unconfirmedWindow
}

// takeLatest removes and returns the most recent unconfirmed message to
// any target, when it was sent within the window.
func (s *unconfirmedSends) takeLatest(now time.Time) (sentEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		key    string
		latest sentEvent
		found  bool
	)
	for k, v := range s.byTarget {
		if !found || v.at.After(latest.at) {
			key, latest, found = k, v, true
		}
	}
	if !found {
		return sentEvent{}, false
	}
	delete(s.byTarget, key)
	return latest, now.Sub(latest.at) <= unconfirmedWindow
}

// reset forgets every remembered message.
func (s *unconfirmedSends) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byTarget = nil
}

// lateSendError reports whether command is an error numeric answering a
// message (its second parameter names the target): 401 no such nick, 402
// no such server, 403 no such channel, 404 cannot send to channel, 407 too
// many targets, 477 needs a registered nick, 486 only registered users may
// message, 489 secure-only, 492 no CTCP, 531 cannot send to user, 716 the
// target only accepts messages from users they allow.
func lateSendError(command string) bool {
	switch command {
	case "401", "402", "403", "404", "407", "477", "486", "489", "492", "531", "716":
		return true
	}
	return false
}

// sendRefused reports an error numeric that answers a message this
// connection sent without confirmation: the sender gets the not-delivered
// notice, replying to the message. Numerics that answer nothing remembered
// are left alone (a reply to a command, or to an old message).
func (u *userConn) sendRefused(c *ircconn.Conn, m *ircmsg.Message) {
	if len(m.Params) < 2 {
		return
	}
	e, ok := u.unconfirmed.take(c.Casefold(m.Params[1]), time.Now())
	if !ok {
		return
	}
	u.n.log().Info("IRC refused a message after it was sent", "user", u.user, "event_id", e.event, "code", m.Command)
	u.n.lateRefusal(e, m)
}

// lateRefusal tells the sender of e that IRC refused it with numeric m:
// the not-delivered notice every undelivered message gets, replying to it.
func (n *network) lateRefusal(e sentEvent, m *ircmsg.Message) {
	text := param(m, 2)
	if text == "" {
		text = (&ircconn.NumericError{Code: m.Command, Target: param(m, 1)}).Error()
	}
	n.m.notDelivered(n.m.ctx, e.room, e.event, text)
}

// relayRefused reports an error that answers a message the bot relayed for
// a Matrix user without confirmation ("<nick> text" on a server without
// echo-message or labeled-response, an echo that did not come in time, or
// a RELAYMSG, which servers never confirm): a numeric naming the channel
// (404 cannot send to channel when the bot lost its voice in a +m channel,
// 403, 477, ...) or a FAIL RELAYMSG (which names none, so it answers the
// latest relay). The sender gets the not-delivered notice. Anything else
// the bot receives is left alone.
func (n *network) relayRefused(c *ircconn.Conn, m *ircmsg.Message) {
	var (
		e  sentEvent
		ok bool
	)
	switch {
	case lateSendError(m.Command) && len(m.Params) >= 2:
		e, ok = n.dlv.takeRelayed(c, c.Casefold(m.Params[1]))
	case m.Command == "FAIL" && len(m.Params) >= 3 && m.Params[0] == "RELAYMSG":
		e, ok = n.dlv.takeRelayed(c, "")
		// FAIL RELAYMSG CODE :text; the text is the human part.
		m = &ircmsg.Message{Command: m.Params[1], Params: []string{"", "", m.Params[len(m.Params)-1]}}
	}
	if !ok {
		return
	}
	n.log().Info("IRC refused a relayed message after it was sent", "event_id", e.event, "code", m.Command)
	n.lateRefusal(e, m)
}
