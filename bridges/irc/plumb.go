package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// Plumbing links an existing Matrix room to an IRC channel. A room member
// with enough power asks with "!irc link [network] <channel>"; the bot
// joins the channel and asks its operators, and links the room when one of
// them answers "yes" within plumb_approval_timeout. "!irc unlink" in the
// room undoes it without asking IRC. Bridge admins use !link and !unlink,
// which skip the operators' approval.

// plumbRequest is a link request waiting for a channel operator.
type plumbRequest struct {
	channel   string
	room      matrix.RoomID
	requester matrix.UserID
	answer    chan plumbVerdict
}

// plumbVerdict is an operator's answer.
type plumbVerdict struct {
	yes bool
	by  string
}

// minPlumbPower is the lowest power level that may link or unlink a room,
// whatever the room's state_default.
const minPlumbPower = 50

// canManage reports whether user may link or unlink room: their power
// level must reach the room's state_default and at least minPlumbPower.
func (m *Module) canManage(ctx context.Context, room matrix.RoomID, user matrix.UserID) (bool, error) {
	pl, err := m.client.Bot().PowerLevels(ctx, room)
	if err != nil {
		return false, fmt.Errorf("read power levels: %w", err)
	}
	return pl.UserLevel(user) >= max(pl.StateDefault, minPlumbPower), nil
}

func (m *Module) cmdIRC(ctx context.Context, c *bridges.CommandContext) (string, error) {
	if len(c.Args) == 0 {
		return "", fmt.Errorf("%w: usage: !irc link [network] <channel>, or !irc unlink in a linked room", errUsage)
	}
	switch strings.ToLower(c.Args[0]) {
	case "link":
		return m.requestLink(ctx, c.RoomID, c.Sender, c.Args[1:])
	case "unlink":
		return "This room is not linked to IRC.", nil
	}
	return "", fmt.Errorf("%w: unknown subcommand %q", errUsage, c.Args[0])
}

// requestLink starts a link request and returns at once; the outcome is
// posted in the room when an operator answered or the time ran out.
func (m *Module) requestLink(ctx context.Context, room matrix.RoomID, sender matrix.UserID, args []string) (string, error) {
	n, rest, err := m.pickNetwork(args, 1)
	if err != nil {
		return "", err
	}
	if len(rest) != 1 {
		return "", fmt.Errorf("%w: usage: !irc link [network] <channel>", errUsage)
	}
	channel := rest[0]
	if ok, err := m.canManage(ctx, room, sender); err != nil || !ok {
		if err != nil {
			return "", err
		}
		return "You need a higher power level in this room to link it to IRC.", nil
	}
	if msg, err := n.checkLinkable(ctx, room, channel); msg != "" || err != nil {
		return msg, err
	}
	req := &plumbRequest{channel: channel, room: room, requester: sender, answer: make(chan plumbVerdict, 1)}
	f := n.fold(channel)
	if !n.plumbs.add(f, req) {
		return fmt.Sprintf("A request to link %s is already waiting for its operators.", channel), nil
	}
	m.wg.Go(func() { n.awaitApproval(m.ctx, req) })
	return fmt.Sprintf("Asking the operators of %s on %s; waiting up to %s for one of them to answer.",
		channel, n.cfg.Name, n.cfg.PlumbApprovalTimeout), nil
}

// checkLinkable returns a message for the user when room or channel cannot
// be linked.
func (n *network) checkLinkable(ctx context.Context, room matrix.RoomID, channel string) (string, error) {
	bot, err := n.botConn(ctx)
	if err != nil {
		return "", err
	}
	if !isChannel(bot, channel) {
		return fmt.Sprintf("%s is not a channel name on %s.", channel, n.cfg.Name), nil
	}
	if _, err := n.m.portals.ByRoom(ctx, room); err == nil {
		return "This room is already bridged.", nil
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return "", err
	}
	if p := n.portal(channel); p != nil {
		return fmt.Sprintf("%s is already bridged to another room.", channel), nil
	}
	if _, err := n.m.portals.ByKey(ctx, chanKey(n.id, n.fold(channel)).portal()); err == nil {
		return fmt.Sprintf("%s is already bridged to another room.", channel), nil
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return "", err
	}
	return "", nil
}

// awaitApproval asks the channel's operators and acts on their answer.
func (n *network) awaitApproval(ctx context.Context, req *plumbRequest) {
	defer func() {
		n.plumbs.remove(n.fold(req.channel))
	}()
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := n.botJoin(jctx, req.channel)
	cancel()
	if err != nil {
		n.m.notice(ctx, req.room, "", fmt.Sprintf("Could not join %s on %s: %s", req.channel, n.cfg.Name, userError(err)))
		return
	}
	if err := n.botSay(ctx, req.channel, fmt.Sprintf("%s wants to bridge %s to a Matrix room; an op please answer 'yes' or 'no'.",
		req.requester, req.channel)); err != nil {
		n.m.notice(ctx, req.room, "", "Could not ask the channel's operators: "+userError(err))
		return
	}
	t := time.NewTimer(n.cfg.PlumbApprovalTimeout)
	defer t.Stop()
	select {
	case v := <-req.answer:
		n.plumbDecided(ctx, req, v)
	case <-t.C:
		n.m.notice(ctx, req.room, "", fmt.Sprintf("No operator of %s answered within %s; the room was not linked.", req.channel, n.cfg.PlumbApprovalTimeout))
		_ = n.botSay(ctx, req.channel, "No answer; the link request has expired.")
		n.partIfUnbridged(ctx, req.channel)
	case <-ctx.Done():
	}
}

// plumbDecided links the room or reports the refusal.
func (n *network) plumbDecided(ctx context.Context, req *plumbRequest, v plumbVerdict) {
	if !v.yes {
		n.m.notice(ctx, req.room, "", fmt.Sprintf("%s, an operator of %s, declined; the room was not linked.", v.by, req.channel))
		_ = n.botSay(ctx, req.channel, "OK, not bridged.")
		n.partIfUnbridged(ctx, req.channel)
		return
	}
	if err := n.linkRoom(ctx, req.channel, req.room); err != nil {
		n.log().Error("could not link a room", "channel", req.channel, "room_id", req.room, "err", err)
		n.m.notice(ctx, req.room, "", "Linking failed: "+userError(err))
		return
	}
	n.m.notice(ctx, req.room, "", fmt.Sprintf("This room is now linked to %s on %s (approved by %s).", req.channel, n.cfg.Name, v.by))
	_ = n.botSay(ctx, req.channel, fmt.Sprintf("Thanks %s, %s is now bridged to Matrix.", v.by, req.channel))
}

// botSay sends a PRIVMSG as the bot.
func (n *network) botSay(ctx context.Context, target, text string) error {
	bot, err := n.botConn(ctx)
	if err != nil {
		return err
	}
	return bot.Send(ctx, nil, "PRIVMSG", target, text)
}

// partIfUnbridged makes the bot leave a channel that has no portal.
func (n *network) partIfUnbridged(ctx context.Context, channel string) {
	if n.portal(channel) != nil {
		return
	}
	if bot, err := n.botConn(ctx); err == nil {
		_ = bot.Send(ctx, nil, "PART", channel, "Not bridged")
	}
}

// linkRoom stores room as the plumbed portal of channel; the bot joins the
// channel and marks the room as bridged.
func (n *network) linkRoom(ctx context.Context, channel string, room matrix.RoomID) error {
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.botJoin(jctx, channel); err != nil {
		return fmt.Errorf("join %s: %w", channel, err)
	}
	f := n.fold(channel)
	p := &bridges.Portal{Key: chanKey(n.id, f).portal(), Room: room}
	_ = bridges.SetPortalMeta(p, portalMeta{Name: channel, Plumbed: true})
	if err := n.m.portals.Put(ctx, p); err != nil {
		return fmt.Errorf("store portal: %w", err)
	}
	n.addPortal(f, room, p.Meta)
	n.applyMembers(ctx, channel) // fullmembership.go
	if err := n.m.client.Bot().SetBridgeInfo(ctx, room, n.bridgeInfo(channel)); err != nil {
		n.log().Info("bridge info not set in a linked room", "room_id", room, "err", err)
	}
	n.log().Info("linked room to channel", "channel", channel, "room_id", room)
	return nil
}

// unlinkChannel removes the portal of channel; the bot leaves the channel
// and the room's bridge info is cleared.
func (n *network) unlinkChannel(ctx context.Context, channel string) (matrix.RoomID, error) {
	f := n.fold(channel)
	p := n.portal(channel)
	if p == nil {
		return "", fmt.Errorf("%s is not bridged: %w", channel, bridges.ErrNotFound)
	}
	if err := n.m.portals.Delete(ctx, chanKey(n.id, f).portal()); err != nil {
		return "", fmt.Errorf("delete portal: %w", err)
	}
	n.mu.Lock()
	delete(n.portals, f)
	n.mu.Unlock()
	bi := n.bridgeInfo(p.name)
	if _, err := n.m.client.Bot().SendState(ctx, p.room, matrix.EventBridge, bi.StateKey(), map[string]any{}, time.Time{}); err != nil {
		n.log().Info("bridge info not cleared in an unlinked room", "room_id", p.room, "err", err)
	}
	if bot, err := n.botConn(ctx); err == nil {
		_ = bot.Send(ctx, nil, "PART", p.name, "Unbridged")
	}
	n.log().Info("unlinked channel", "channel", p.name, "room_id", p.room)
	return p.room, nil
}

// plumbAnswer takes an operator's "yes" or "no" to a pending link request,
// said in the channel (optionally addressed to the bot) or in a private
// message to the bot. It reports whether the line was such an answer.
func (n *network) plumbAnswer(ctx context.Context, c *ircconn.Conn, m *ircmsg.Message) bool {
	if len(m.Params) < 2 {
		return false
	}
	words := strings.Fields(strings.ToLower(ircfmt.Strip(m.Params[1])))
	if len(words) > 0 && strings.TrimRight(words[0], ":,") == strings.ToLower(c.Nick()) {
		words = words[1:]
	}
	if len(words) == 0 || len(words) > 2 {
		return false
	}
	var yes bool
	switch strings.Trim(words[0], ".!") {
	case "yes", "y":
		yes = true
	case "no", "n":
	default:
		return false
	}
	channel := m.Params[0]
	if !isChannel(c, channel) {
		if len(words) < 2 {
			channel = n.onlyPlumbFor(nickOf(m))
		} else {
			channel = words[1]
		}
	}
	req := n.pendingPlumb(channel)
	if req == nil || !n.isChanOp(req.channel, nickOf(m)) {
		return false
	}
	select {
	case req.answer <- plumbVerdict{yes: yes, by: nickOf(m)}:
	default: // already answered
	}
	return true
}

func (n *network) pendingPlumb(channel string) *plumbRequest {
	if channel == "" {
		return nil
	}
	f := n.fold(channel)
	return n.plumbs.get(f)
}

// onlyPlumbFor returns the channel of the one pending request nick is an
// operator of, or "" when there is none or several.
func (n *network) onlyPlumbFor(nick string) string {
	chans := n.plumbs.channels()
	found := ""
	for _, ch := range chans {
		if n.isChanOp(ch, nick) {
			if found != "" {
				return ""
			}
			found = ch
		}
	}
	return found
}

// isChanOp reports whether nick is an operator (q, a or o) of channel.
func (n *network) isChanOp(channel, nick string) bool {
	mem, ok := n.state.Member(channel, nick)
	return ok && strings.ContainsAny(mem.Modes, "qao")
}

// portalCommand runs "!irc unlink" (and answers "!irc link") said in a
// channel portal; it reports whether the message was such a command, which
// then is not sent to IRC.
func (m *Module) portalCommand(ctx context.Context, evt *matrix.Event, n *network, channel string, c *matrix.MessageContent) bool {
	if c.MsgType != matrix.MsgText {
		return false
	}
	words := strings.Fields(c.Body)
	if len(words) < 2 || words[0] != "!irc" {
		return false
	}
	switch strings.ToLower(words[1]) {
	case "unlink":
		m.notice(ctx, evt.RoomID, evt.ID, m.roomUnlink(ctx, evt, n, channel))
	case "link":
		m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("This room is already bridged to %s on %s.", channel, n.cfg.Name))
	default:
		return false
	}
	return true
}

// roomUnlink unlinks a plumbed room at the request of one of its members.
func (m *Module) roomUnlink(ctx context.Context, evt *matrix.Event, n *network, channel string) string {
	ok, err := m.canManage(ctx, evt.RoomID, evt.Sender)
	if err != nil {
		return "Could not check your power level: " + userError(err)
	}
	if !ok {
		return "You need a higher power level in this room to unlink it."
	}
	if p := n.portal(channel); p == nil || !p.plumbed {
		return fmt.Sprintf("This room was made by the bridge for %s and cannot be unlinked; a bridge admin can use !unlink.", channel)
	}
	if _, err := n.unlinkChannel(ctx, channel); err != nil {
		return "Unlinking failed: " + userError(err)
	}
	return fmt.Sprintf("This room is no longer linked to %s on %s.", channel, n.cfg.Name)
}

func (m *Module) cmdLink(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 2, "!link [network] <channel> <room ID or alias>")
	if err != nil {
		return "", err
	}
	channel := rest[0]
	room, err := m.client.Bot().JoinRoom(ctx, rest[1])
	if err != nil {
		return fmt.Sprintf("I could not join %s: %s", rest[1], userError(err)), nil
	}
	if msg, err := n.checkLinkable(ctx, room, channel); msg != "" || err != nil {
		return msg, err
	}
	if err := n.linkRoom(ctx, channel, room); errors.Is(err, bridges.ErrConflict) {
		return "This room is already bridged.", nil // by another module: checkLinkable sees only ours
	} else if err != nil {
		return "", err
	}
	m.notice(ctx, room, "", fmt.Sprintf("This room is now linked to %s on %s by a bridge admin.", channel, n.cfg.Name))
	return fmt.Sprintf("Linked %s to %s on %s.", room, channel, n.cfg.Name), nil
}

func (m *Module) cmdUnlink(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 1, "!unlink [network] <channel>")
	if err != nil {
		return "", err
	}
	room, err := n.unlinkChannel(ctx, rest[0])
	if errors.Is(err, bridges.ErrNotFound) {
		return fmt.Sprintf("%s is not bridged on %s.", rest[0], n.cfg.Name), nil
	}
	if err != nil {
		return "", err
	}
	m.notice(ctx, room, "", fmt.Sprintf("This room is no longer linked to %s on %s.", rest[0], n.cfg.Name))
	return fmt.Sprintf("Unlinked %s (room %s).", rest[0], room), nil
}
