package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/bridges/kit/notice"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// HandleMatrixEvent implements bridges.Module. Messages, memberships and
// topics come typed (HandleMatrixMessage, HandleMatrixMembership,
// HandleMatrixTopic); nothing else is bridged.
func (m *Module) HandleMatrixEvent(context.Context, *matrix.Event) error { return nil }

// HandleMatrixMembership implements bridges.MembershipHandler.
func (m *Module) HandleMatrixMembership(ctx context.Context, mb *bridges.Membership) error {
	evt, target, c := mb.Event, mb.Target, mb.Content
	if n := m.networkForUser(target); n != nil {
		// Something happened to one of our puppets: an invite starts a
		// private conversation with that IRC user.
		if c.Membership == "invite" {
			return n.invitedToPM(ctx, evt, target, c.IsDirect)
		}
		if (c.Membership == "leave" || c.Membership == "ban") && evt.Sender != target {
			return m.moderateFromMatrix(ctx, n, mb.Portal, evt, target, c) // moderation.go
		}
		return nil
	}
	t := m.portalTarget(mb.Portal, "")
	if t == nil || !t.channel {
		return nil
	}
	n, channel := t.n, t.name
	switch c.Membership {
	case "join":
		u := n.userConnFor(target, c.Displayname)
		if err := u.join(ctx, channel); err != nil {
			n.log().Warn("Matrix user could not join the IRC channel", "user", target, "channel", channel, "err", err)
			m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("%s could not join %s on %s: %s", target, channel, n.cfg.Name, userError(err)))
		}
	case "leave", "ban":
		n.mu.Lock()
		u := n.conns[target]
		n.mu.Unlock()
		if u != nil {
			u.part(ctx, channel, "Left the Matrix room")
		}
	}
	return nil
}

// HandleMatrixMessage implements bridges.MessageHandler.
func (m *Module) HandleMatrixMessage(ctx context.Context, msg *bridges.Message) error {
	t := m.portalTarget(msg.Portal, msg.Event.Sender) // in a DM, only its owner speaks as themselves
	if t == nil {
		return nil
	}
	c := msg.Content
	if t.channel && m.portalCommand(ctx, msg.Event, t.n, t.name, &c) {
		return nil // "!irc unlink" and the like, not for IRC
	}
	return t.n.sendMessage(ctx, msg.Event, &c, t.name, t.channel) // rich.go: edit grace window
}

// linesFromMatrix turns Matrix content into IRC lines and the command to
// send them with.
func (n *network) linesFromMatrix(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent) ([]string, string) {
	command := "PRIVMSG"
	var text []string
	switch c.MsgType {
	case matrix.MsgText, matrix.MsgNotice, matrix.MsgEmote:
		opts := ircfmt.FromMatrixOptions{MentionNick: n.nickForMention, StripReplyFallback: c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil}
		html := ""
		if c.Format == "org.matrix.custom.html" {
			html = c.FormattedBody
		}
		text = ircfmt.FromMatrix(html, c.Body, opts)
		if c.MsgType == matrix.MsgNotice {
			command = "NOTICE"
		}
	case matrix.MsgImage, matrix.MsgFile, matrix.MsgVideo, matrix.MsgAudio:
		text = []string{fmt.Sprintf("%s %s", c.Body, n.m.mediaURL(c.URL))}
	default:
		if c.Body != "" {
			text = []string{c.Body}
		}
	}
	if len(text) == 0 {
		return nil, command
	}
	if c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil {
		if nick := n.replyTargetNick(ctx, evt.RoomID, c.RelatesTo.InReplyTo.EventID); nick != "" {
			text[0] = nick + ": " + text[0]
		}
	}
	if c.MsgType == matrix.MsgEmote {
		text[0] = "\x01ACTION " + text[0] + "\x01"
		// ACTION needs the whole text on one line pair; later lines are plain.
	}
	return text, command
}

// nickForMention turns a pill into the IRC nick it stands for.
func (n *network) nickForMention(id matrix.UserID) (string, bool) {
	if v, err := n.users.Parse(id); err == nil {
		if u, ok := n.state.User(v["nick"]); ok {
			return u.Nick, true
		}
		return v["nick"], true
	}
	n.mu.Lock()
	u := n.conns[id]
	n.mu.Unlock()
	if u == nil {
		return "", false
	}
	u.mu.Lock()
	c := u.conn
	u.mu.Unlock()
	if c == nil {
		return "", false
	}
	return c.Nick(), true
}

// replyTargetNick is the IRC nick of the author of a replied-to event.
func (n *network) replyTargetNick(ctx context.Context, room matrix.RoomID, target matrix.EventID) string {
	var ev matrix.Event
	if err := n.m.client.Bot().EventContent(ctx, room, target, &ev); err != nil {
		return ""
	}
	nick, _ := n.nickForMention(ev.Sender)
	return nick
}

// deliver sends lines from a Matrix user to an IRC target over the user's
// own connection. The bot relays a channel message only when the user has
// no connection for connection-level reasons: the connection cap put them
// in relay mode, or the server stayed unreachable for delivery_timeout
// (relayable, delivery_relay.go). A message that cannot be delivered,
// including one IRC refused (a ban, invite-only, a key), is reported to
// the sender with a notice replying to it.
func (n *network) deliver(ctx context.Context, evt *matrix.Event, target, command string, lines []string, channel bool) error {
	if channel && n.capRelayed(evt.Sender) {
		if err := n.dlv.refusal(evt.Sender, n.fold(target)); err != nil {
			// IRC refused this user the channel before the cap
			// disconnected them: relaying would evade the refusal.
			n.m.notDelivered(ctx, evt.RoomID, evt.ID, userError(err))
			return nil
		}
		if err := n.relay(ctx, evt, target, command, lines); err != nil {
			n.m.notDelivered(ctx, evt.RoomID, evt.ID, userError(err))
			return nil
		}
		n.delivered(evt)
		return nil
	}
	u := n.userConnFor(evt.Sender, "")
	c, err := n.readyConn(ctx, u, target, channel)
	if err != nil {
		if channel && relayable(ctx, err) {
			if refused := n.dlv.refusal(evt.Sender, n.fold(target)); refused != nil {
				err = refused // not relayed: that would evade IRC's refusal
			} else {
				n.log().Info("relaying through the bot", "user", evt.Sender, "err", err)
				rerr := n.relay(ctx, evt, target, command, lines)
				if rerr == nil {
					n.delivered(evt)
					return nil
				}
				n.log().Warn("relay through the bot failed", "user", evt.Sender, "err", rerr)
			}
		}
		n.m.notDelivered(ctx, evt.RoomID, evt.ID, userError(err))
		return nil
	}
	// Remembered before anything is written, so that a late error numeric
	// (no echo-message or labeled-response to confirm the message) finds
	// it; forgotten unless the delivery ends unconfirmed (delivery_late.go).
	folded := c.Casefold(target)
	u.unconfirmed.remember(folded, evt, time.Now())
	unconfirmed := false
	defer func() {
		if !unconfirmed {
			u.unconfirmed.forget(folded, evt.ID)
		}
	}()
	var last *ircconn.Delivery
	var earlier []string             // msgids of the lines before the last
	tags := n.replyTags(ctx, c, evt) // rich.go: +draft/reply, on the first line only
	// multiline.go: several lines go as one draft/multiline message when the connection can.
	if n.multilineFits(c, command, target, lines) {
		if last, earlier, err = n.sendMultiline(ctx, c, tags, command, target, lines); err != nil {
			n.m.notDelivered(ctx, evt.RoomID, evt.ID, userError(err))
			return nil
		}
		lines = nil
	} else {
		lines = n.fitLines(ctx, c, evt, command, target, lines)
	}
	for _, l := range lines {
		d, err := c.SendMessage(ctx, tags, command, target, l)
		if err != nil && !errors.Is(err, ircconn.ErrUnconfirmed) {
			n.m.notDelivered(ctx, evt.RoomID, evt.ID, userError(err))
			return nil
		}
		if last != nil && last.MsgID != "" {
			earlier = append(earlier, last.MsgID)
		}
		last, tags = d, nil
	}
	n.delivered(evt)
	unconfirmed = last != nil && !last.Confirmed
	if channel {
		n.noteSent(target, last) // history.go: catch-up starts after it
	}
	if last != nil && last.MsgID != "" {
		_ = n.m.links.Put(ctx, bridges.Link{Remote: msgID(last.MsgID), Room: evt.RoomID, Event: evt.ID})
		n.linkEarlierLines(ctx, evt, earlier) // history.go: so a catch-up skips them too
	}
	return nil
}

// readyConn returns the user's connection, joined to target when it is a
// channel. While the network is unreachable it keeps trying, with backoff,
// for up to delivery_timeout: the room's later messages wait behind this
// one (per-room order), other rooms are not held up, and the message is
// sent once the connection is back. Refusals by the server (bans, bad
// credentials) are not retried.
func (n *network) readyConn(ctx context.Context, u *userConn, target string, channel bool) (*ircconn.Conn, error) {
	deadline := time.Now().Add(n.cfg.DeliveryTimeout)
	for attempt := 1; ; attempt++ {
		var err error
		if channel {
			err = u.join(ctx, target)
		}
		if err == nil {
			var c *ircconn.Conn
			if c, err = u.connect(ctx); err == nil {
				return c, nil
			}
		}
		if permanent(err) || ctx.Err() != nil {
			return nil, err
		}
		d := n.backoff(attempt)
		if time.Now().Add(d).After(deadline) {
			return nil, err
		}
		n.log().Info("IRC connection not ready; message waits", "user", u.user, "err", err, "retry_in", d)
		if !sleepCtx(ctx, d) {
			return nil, err
		}
	}
}

// permanent reports errors that retrying will not fix.
func permanent(err error) bool {
	var ne *ircconn.NumericError
	return errors.As(err, &ne) || errors.Is(err, ircconn.ErrSASLFailed) || errors.Is(err, ircconn.ErrRejected) ||
		errors.Is(err, ircconn.ErrNickUnavailable) || errors.Is(err, errUserGone) || errors.Is(err, errStoredPassword)
}

// fitLines splits lines to the connection's payload limit; past the
// network's line limit the whole text goes to the media repository and one
// line with a link is sent instead.
func (n *network) fitLines(ctx context.Context, c *ircconn.Conn, evt *matrix.Event, command, target string, lines []string) []string {
	limit := c.PayloadLimit(command, target)
	var out []string
	for _, l := range lines {
		out = append(out, ircfmt.SplitLines(l, limit)...)
	}
	if len(out) <= n.cfg.LineLimit {
		return out
	}
	full := strings.Join(lines, "\n")
	// As the bot: an appservice may act only as users of its namespace,
	// never as the Matrix sender.
	mxc, err := n.m.client.Bot().UploadMedia(ctx, "text/plain; charset=utf-8", "message.txt", []byte(ircfmt.Strip(full)))
	if err != nil {
		n.log().Warn("long message upload failed; sending it in full", "err", err)
		return out
	}
	first := ircfmt.SplitLines(ircfmt.Strip(lines[0]), limit/2)
	return []string{fmt.Sprintf("%s… (%d lines, full text: %s)", first[0], len(out), n.m.mediaURL(mxc))}
}

// relay sends lines through the bot for a user without a connection:
// RELAYMSG when the server offers it and lets the bot use it here
// (canRelaymsg), else "<nick> text". Unless the server confirms every
// line, the message is remembered so that a refusal arriving later is
// reported to the sender (relayRefused, delivery_late.go).
func (n *network) relay(ctx context.Context, evt *matrix.Event, target, command string, lines []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bot, err := n.botConn(ctx)
	if err != nil {
		return err
	}
	folded := bot.Casefold(target)
	n.dlv.rememberRelay(bot, folded, evt)
	confirmed := true
	nick := ircfmt.SanitizeNick(evt.Sender.Localpart(), 20)
	for _, l := range lines {
		var d *ircconn.Delivery
		if n.canRelaymsg(bot, target) {
			err = bot.Send(ctx, nil, "RELAYMSG", target, nick+relaySuffix, l)
		} else {
			d, err = bot.SendMessage(ctx, nil, command, target, "<"+nick+"> "+l)
		}
		if err != nil && !errors.Is(err, ircconn.ErrUnconfirmed) {
			n.dlv.forgetRelay(folded, evt.ID)
			return err
		}
		confirmed = confirmed && d != nil && d.Confirmed
	}
	if confirmed {
		n.dlv.forgetRelay(folded, evt.ID)
	}
	return nil
}

// HandleMatrixTopic implements bridges.TopicHandler.
func (m *Module) HandleMatrixTopic(ctx context.Context, tc *bridges.Topic) error {
	t := m.portalTarget(tc.Portal, tc.Event.Sender)
	if t == nil || !t.channel {
		return nil
	}
	evt, n, channel := tc.Event, t.n, t.name
	u := n.userConnFor(evt.Sender, "")
	if err := u.join(ctx, channel); err != nil {
		m.notice(ctx, evt.RoomID, evt.ID, "Topic not changed on IRC: "+userError(err))
		return nil
	}
	conn, err := u.connect(ctx)
	if err == nil {
		line := strings.ReplaceAll(strings.ReplaceAll(tc.Topic, "\r", " "), "\n", " ")
		err = conn.Send(ctx, nil, "TOPIC", channel, line)
	}
	if err != nil {
		m.notice(ctx, evt.RoomID, evt.ID, "Topic not changed on IRC: "+userError(err))
	}
	return nil
}

// notice sends a notice in room, replying to event when set, as
// noticeSender says.
func (m *Module) notice(ctx context.Context, room matrix.RoomID, replyTo matrix.EventID, text string) {
	c := matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text}
	if replyTo != "" {
		c.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: replyTo}}
	}
	raw, _ := json.Marshal(c)
	key := ""
	if replyTo != "" {
		key = "notice:" + string(replyTo) + ":" + fmt.Sprint(len(text))
	}
	if _, err := m.outbox.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Sender: m.noticeSender(ctx, room), Type: matrix.EventMessage, Content: raw, Key: key}); err != nil {
		m.log.Error("could not queue a notice", "room_id", room, "err", err)
	}
}

// notDelivered tells the sender of event that it did not reach IRC and
// why (kit/notice: "Not delivered to IRC: <reason>."), replying to it.
func (m *Module) notDelivered(ctx context.Context, room matrix.RoomID, event matrix.EventID, reason string) {
	if err := notice.NotDelivered(ctx, m.outbox, notice.Report{Room: room, Event: event, Network: "IRC", Reason: reason,
		As: m.noticeSender(ctx, room)}); err != nil {
		m.log.Error("could not queue a notice", "room_id", room, "err", err)
	}
}

// noticeSender is who sends the bridge's notices in room: the bot (""),
// or in a private conversation (where the bot is not a member) the IRC
// user's puppet.
func (m *Module) noticeSender(ctx context.Context, room matrix.RoomID) matrix.UserID {
	p, err := m.portals.ByRoom(ctx, room)
	if err != nil {
		return ""
	}
	if key, err := parsePortalKey(p.Key.ID); err == nil && key.kind == "pm" {
		if n := m.networks[key.network]; n != nil {
			sender, _ := n.users.Format(map[string]string{"nick": key.target})
			return sender
		}
	}
	return ""
}

// mediaURL is a link IRC users can open for an mxc:// URI: the host's
// (under homeserver.public_url), or under the deprecated public_media_url
// when the irc section sets it. A URI the link cannot be made of is sent
// as it is.
func (m *Module) mediaURL(mxc string) string {
	var link string
	var err error
	if m.cfg.PublicMediaURL != "" {
		link, err = intent.PublicMediaURL(m.cfg.PublicMediaURL, mxc)
	} else {
		link, err = m.host.MediaURL(mxc)
	}
	if err != nil {
		m.log.Warn("no media link; sending the URI as it is", "err", err)
		return mxc
	}
	return link
}

// userError is an error message fit to show a Matrix user.
func userError(err error) string {
	var ne *ircconn.NumericError
	switch {
	case errors.As(err, &ne):
		if ne.Text != "" {
			return ne.Text
		}
		return ne.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the IRC server did not answer in time"
	}
	return err.Error()
}
