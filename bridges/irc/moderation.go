package irc

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// moderateFromMatrix mirrors a Matrix kick, ban or unban of an IRC puppet
// in a channel portal: KICK, MODE +b (then KICK) or MODE -b on the
// moderator's own connection when they are a channel operator there (the
// homeserver already checked their Matrix power), else a notice explains
// why nothing happened on IRC.
func (m *Module) moderateFromMatrix(ctx context.Context, n *network, p *bridges.Portal, evt *matrix.Event, target matrix.UserID, c matrix.MemberContent) error {
	t := m.portalTarget(p, "")
	if t == nil || !t.channel || t.n != n {
		return nil
	}
	channel := t.name
	v, err := n.users.Parse(target)
	if err != nil {
		return nil
	}
	nick := v["nick"]
	if u, ok := n.state.User(nick); ok {
		nick = u.Nick
	}
	action := "kick"
	switch {
	case c.Membership == "ban":
		action = "ban"
	case m.prevMembershipOf(ctx, evt) == "ban":
		action = "unban"
	}
	u := n.userConnFor(evt.Sender, "")
	if err := u.join(ctx, channel); err != nil {
		m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("%s was not %s on IRC: %s", nick, verbs[action], userError(err)))
		return nil
	}
	conn, err := u.connect(ctx)
	if err != nil {
		m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("%s was not %s on IRC: %s", nick, verbs[action], userError(err)))
		return nil
	}
	me, _ := n.state.Member(channel, conn.Nick())
	if !isOperator(me.Modes) {
		m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("%s was not %s on IRC: you (%s) are not a channel operator in %s.",
			nick, verbs[action], conn.Nick(), channel))
		return nil
	}
	reason := oneLine(c.Reason)
	if reason == "" {
		reason = fmt.Sprintf("%s from Matrix by %s", strings.ToUpper(verbs[action][:1])+verbs[action][1:], evt.Sender)
	}
	var lines [][]string
	mask := ""
	switch action {
	case "kick":
		lines = [][]string{{"KICK", channel, nick, reason}}
	case "ban":
		mask = n.banMask(nick)
		lines = [][]string{{"MODE", channel, "+b", mask}, {"KICK", channel, nick, reason}}
	case "unban":
		mask = n.bannedMask(ctx, channel, nick)
		lines = [][]string{{"MODE", channel, "-b", mask}}
	}
	for _, l := range lines {
		if err := conn.Send(ctx, nil, l[0], l[1:]...); err != nil {
			m.notice(ctx, evt.RoomID, evt.ID, fmt.Sprintf("%s was not %s on IRC: %s", nick, verbs[action], userError(err)))
			return nil
		}
	}
	n.rememberBan(ctx, channel, nick, action, mask)
	return nil
}

// banMask is the mask a Matrix ban of nick sets on IRC. A nick-only ban is
// evaded by changing nick, so when the user's host is known (from JOIN
// lines, userhost-in-names NAMES replies and CHGHOST, kept in the shared
// channel state) the ban names the host: *!*@host, or *!*ident@host when
// someone else the bridge sees on the network (in any of its channels,
// its own connections included) is on that host too (a web gateway, a
// bouncer, a shared cloak). A mask that would still hit someone else, or
// an unknown host, falls back to nick!*@*. A leading "~" (no ident
// reply) is replaced by the "*" before the ident, so the ban holds whether
// or not the user runs identd.
func (n *network) banMask(nick string) string {
	fallback := nick + "!*@*"
	u, ok := n.state.User(nick)
	if !ok || u.Host == "" {
		return fallback
	}
	masks := []string{"*!*@" + u.Host}
	if ident := strings.TrimPrefix(u.User, "~"); ident != "" {
		masks = append(masks, "*!*"+ident+"@"+u.Host)
	}
	others := n.otherUsers(u.Nick)
	for _, mask := range masks {
		if !slices.ContainsFunc(others, func(o netstate.User) bool { return n.maskMatches(mask, o.Nick, o.User, o.Host) }) {
			return mask
		}
	}
	return fallback
}

// otherUsers lists the users in the bridge's channels except nick.
func (n *network) otherUsers(nick string) []netstate.User {
	seen := map[string]bool{n.fold(nick): true}
	var out []netstate.User
	for _, ch := range n.state.Channels() {
		for _, mem := range n.state.Members(ch) {
			if f := n.fold(mem.Nick); !seen[f] {
				seen[f] = true
				out = append(out, mem.User)
			}
		}
	}
	return out
}

// kvBan is the store key of the mask a Matrix ban set on nick in channel.
func (n *network) kvBan(channel, nick string) string {
	return "ban:" + n.id + ":" + n.fold(channel) + ":" + n.fold(nick)
}

// rememberBan keeps the mask a ban set, so the unban lifts the same one
// (the user's host is usually forgotten once they were kicked), and
// forgets it after the unban.
func (n *network) rememberBan(ctx context.Context, channel, nick, action, mask string) {
	var err error
	switch action {
	case "ban":
		err = n.m.kv.Put(ctx, n.kvBan(channel, nick), []byte(mask))
	case "unban":
		err = n.m.kv.Delete(ctx, n.kvBan(channel, nick))
	}
	if err != nil {
		n.log().Warn("could not record a ban mask", "channel", channel, "nick", nick, "err", err)
	}
}

// bannedMask is the mask to lift when a Matrix unban of nick arrives: the
// one its ban set, else the one a ban would set now.
func (n *network) bannedMask(ctx context.Context, channel, nick string) string {
	if raw, err := n.m.kv.Get(ctx, n.kvBan(channel, nick)); err == nil && len(raw) > 0 {
		return string(raw)
	}
	return n.banMask(nick)
}

var verbs = map[string]string{"kick": "kicked", "ban": "banned", "unban": "unbanned"}

// isOperator reports whether prefix modes allow kicking and banning.
func isOperator(modes string) bool { return strings.ContainsAny(modes, "qaoh") }

// prevMembershipOf is the membership evt replaced. Homeservers need not
// send unsigned data to appservices (Dendrite does not); then the event is
// read back from the homeserver, whose client API includes it.
func (m *Module) prevMembershipOf(ctx context.Context, evt *matrix.Event) string {
	if prev := prevMembership(evt); prev != "" || len(evt.Unsigned) > 0 {
		return prev
	}
	var ev matrix.Event
	if err := m.client.Bot().EventContent(ctx, evt.RoomID, evt.ID, &ev); err != nil {
		m.log.Info("previous membership unknown; a Matrix unban may be taken for a kick", "event_id", evt.ID, "err", err)
		return ""
	}
	return prevMembership(&ev)
}

// prevMembership is the membership an m.room.member event replaced, from
// its unsigned prev_content.
func prevMembership(evt *matrix.Event) string {
	var u struct {
		PrevContent struct {
			Membership string `json:"membership"`
		} `json:"prev_content"`
	}
	_ = json.Unmarshal(evt.Unsigned, &u)
	return u.PrevContent.Membership
}

// moderationFromIRC mirrors channel mode changes: a ban (+b) matching IRC
// users kicks their puppets from the portal; +i/+k/+s/+p change the room's
// join rule and directory listing.
func (n *network) moderationFromIRC(ctx context.Context, channel, by string, changes []netstate.Change) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	access := false
	for _, ch := range changes {
		switch ch.Kind {
		case netstate.ChangeListAdded:
			if ch.Mode == 'b' && !n.isBridgedNick(by) { // a Matrix user's ban is in Matrix already
				n.banToMatrix(ctx, p, channel, by, ch.Arg)
			}
		case netstate.ChangeModeSet, netstate.ChangeModeUnset:
			if strings.IndexByte("iksp", ch.Mode) >= 0 {
				access = true
			}
		}
	}
	if access {
		n.accessToMatrix(ctx, p, channel)
	}
}

// banToMatrix kicks, as the bot, the puppets of the channel members an IRC
// ban mask matches (Matrix users' own connections are left to IRC: the
// server kicks them or not).
func (n *network) banToMatrix(ctx context.Context, p *portal, channel, by, mask string) {
	var hit []matrix.UserID
	for _, mem := range n.state.Members(channel) {
		if !n.maskMatches(mask, mem.Nick, mem.User.User, mem.Host) || n.isBridgedNick(mem.Nick) {
			continue
		}
		if id, err := n.puppetID(mem.Nick); err == nil {
			hit = append(hit, id)
		}
	}
	if len(hit) == 0 {
		return
	}
	// Only puppets in the room can be kicked (lazy membership leaves most
	// out); asking the homeserver must not hold up the IRC reader.
	n.m.goTracked(func(ctx context.Context) {
		joined, err := n.m.client.Bot().JoinedMembers(ctx, p.room)
		if err != nil {
			n.log().Warn("IRC ban not mirrored: room members unknown", "channel", channel, "err", err)
			return
		}
		for _, id := range hit {
			if _, in := joined[id]; !in {
				continue
			}
			if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMembership, Room: p.room, Type: "kick",
				StateKey: string(id), Reason: fmt.Sprintf("Banned on IRC by %s (%s)", by, mask)}); err != nil {
				n.log().Warn("could not queue a kick for an IRC ban", "user", id, "err", err)
			}
		}
	})
}

// maskMatches reports whether an IRC ban mask (nick!user@host with * and ?
// wildcards; a bare word is a nick) matches a user, casefolded. Extended
// bans ("$a:account", "~a:...") match nobody here.
func (n *network) maskMatches(mask, nick, user, host string) bool {
	if mask == "" || mask[0] == '$' || mask[0] == '~' {
		return false
	}
	if !strings.ContainsAny(mask, "!@") {
		mask += "!*@*"
	}
	mn, rest, _ := strings.Cut(mask, "!")
	mu, mh, ok := strings.Cut(rest, "@")
	if !ok {
		mu, mh = rest, "*"
	}
	if mu == "" {
		mu = "*"
	}
	return glob(n.fold(mn), n.fold(nick)) && glob(mu, user) && glob(strings.ToLower(mh), strings.ToLower(host))
}

// glob matches IRC wildcards: * any run, ? one character. Characters
// path.Match treats specially are escaped first.
func glob(pattern, s string) bool {
	var b strings.Builder
	for _, r := range pattern {
		if r == '[' || r == ']' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	// IRC masks have no separator, so '/' must match like any character.
	ok, err := path.Match(strings.ReplaceAll(b.String(), "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

// accessToMatrix updates a portal's join rule (+i/+k: invite) and its
// directory listing (+s/+p: hidden) after channel modes changed.
func (n *network) accessToMatrix(ctx context.Context, p *portal, channel string) {
	info, ok := n.state.Channel(channel)
	if !ok {
		return
	}
	if _, err := kit.SetRoomJoinRule(ctx, n.m.host, p.room, netstate.JoinRule(info.Modes)); err != nil {
		n.log().Warn("could not queue a join rule", "channel", channel, "err", err)
	}
	visibility := "private"
	if netstate.Published(info.Modes) {
		visibility = "public"
	}
	room := p.room
	n.m.goTracked(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		n.setDirectory(ctx, room, channel, visibility)
	})
}

// setDirectory lists a portal room in the room directory and the
// network's appservice directory ("public") or hides it ("private").
func (n *network) setDirectory(ctx context.Context, room matrix.RoomID, channel, visibility string) {
	bot := n.m.client.Bot()
	if err := bot.SetRoomDirectoryVisibility(ctx, room, visibility); err != nil {
		n.log().Info("room directory visibility not updated", "channel", channel, "err", err)
	}
	if err := bot.SetAppserviceRoomDirectory(ctx, n.id, room, visibility); err != nil {
		n.log().Debug("per-network room directory not updated", "channel", channel, "err", err)
	}
}
