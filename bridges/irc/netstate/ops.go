package netstate

import (
	"slices"
	"strings"
	"time"
)

// ParseSource splits a message source "nick!user@host" (user and host are
// optional) into its parts.
func ParseSource(src string) (nick, user, host string) {
	nick, host, _ = strings.Cut(src, "@")
	nick, user, _ = strings.Cut(nick, "!")
	return nick, user, host
}

// channelFor returns the channel, creating it when unknown.
func (n *Network) channelFor(name string) *channel {
	if c := n.channels[n.fold(name)]; c != nil {
		return c
	}
	return n.addChannel(name)
}

func (n *Network) addChannel(name string) *channel {
	name = strings.Clone(name)
	c := &channel{name: name, members: map[*user]prefixSet{}}
	n.channels[n.fold(name)] = c
	return c
}

// intern returns the user called nick, creating it when unknown and
// updating its spelling, ident and host when given.
//
// The state outlives the lines it is read from: names are copied when they
// change, never kept as slices of a line (a nick kept that way would pin
// its whole JOIN line, tags included, in memory for as long as the user
// stays).
func (n *Network) intern(nick, ident, host string) *user {
	u := n.users[n.fold(nick)]
	if u == nil {
		nick = strings.Clone(nick)
		u = &user{nick: nick}
		n.users[n.fold(nick)] = u
	}
	u.nick = keep(u.nick, nick)
	if ident != "" {
		u.user = keep(u.user, ident)
	}
	if host != "" {
		u.host = keep(u.host, host)
	}
	return u
}

// keep returns old when it equals s, else a copy of s (see intern).
func keep(old, s string) string {
	if old == s {
		return old
	}
	return strings.Clone(s)
}

// addMember puts u in c with the prefix set ps.
func (n *Network) addMember(c *channel, u *user, ps prefixSet) {
	c.members[u] = ps
	u.channels = append(u.channels, c)
}

// removeMember takes u out of c and forgets u when it is in no channel.
func (n *Network) removeMember(c *channel, u *user) {
	delete(c.members, u)
	u.channels = slices.DeleteFunc(u.channels, func(x *channel) bool { return x == c })
	if len(u.channels) == 0 {
		n.dropUser(u)
	}
}

func (n *Network) dropUser(u *user) {
	if key := n.fold(u.nick); n.users[key] == u {
		delete(n.users, key)
	}
}

// dropIfEmpty forgets a channel nobody is in any more.
func (n *Network) dropIfEmpty(c *channel) {
	if len(c.members) == 0 && c.names == nil && c.reader == "" {
		delete(n.channels, n.fold(c.name))
	}
}

// Join records that the user with source "nick!user@host" joined channel.
// With extended-join, account is the account name or "*" for none, and
// realname the realname; pass "" for both without it. It returns a
// [ChangeJoin], or nothing when the user was already in the channel.
func (n *Network) Join(channel, source, account, realname string) []Change {
	nick, ident, host := ParseSource(source)
	if nick == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.intern(nick, ident, host)
	switch account {
	case "":
	case "*":
		u.account = ""
	default:
		u.account = keep(u.account, account)
	}
	if realname != "" {
		u.realname = keep(u.realname, realname)
	}
	c := n.channelFor(channel)
	if _, ok := c.members[u]; ok {
		return nil
	}
	n.addMember(c, u, 0)
	return []Change{{Kind: ChangeJoin, Channel: c.name, Nick: u.nick}}
}

// Part records that nick left channel; it returns a [ChangePart], or
// nothing when nick was not known to be there.
func (n *Network) Part(channel, nick, reason string) []Change {
	return n.leave(ChangePart, channel, nick, "", reason)
}

// Kick records that by kicked nick from channel; it returns a
// [ChangeKick], or nothing when nick was not known to be there.
func (n *Network) Kick(channel, nick, by, reason string) []Change {
	return n.leave(ChangeKick, channel, nick, by, reason)
}

func (n *Network) leave(kind ChangeKind, channel, nick, by, reason string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, u := n.channels[n.fold(channel)], n.users[n.fold(nick)]
	if c == nil || u == nil {
		return nil
	}
	if _, ok := c.members[u]; !ok {
		return nil
	}
	n.removeMember(c, u)
	n.dropIfEmpty(c)
	return []Change{{Kind: kind, Channel: c.name, Nick: u.nick, By: by, Text: reason}}
}

// Quit records that nick quit the network. It returns one [ChangeQuit] per
// channel the user was in, in the order they were joined.
func (n *Network) Quit(nick, reason string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.users[n.fold(nick)]
	if u == nil {
		return nil
	}
	return n.quit(u, reason)
}

func (n *Network) quit(u *user, reason string) []Change {
	out := make([]Change, 0, len(u.channels))
	for _, c := range slices.Clone(u.channels) {
		out = append(out, Change{Kind: ChangeQuit, Channel: c.name, Nick: u.nick, Text: reason})
		n.removeMember(c, u)
		n.dropIfEmpty(c)
	}
	n.dropUser(u)
	return out
}

// StaleReason is the reason of the [ChangeQuit] made when a user takes a
// nick the network still held for someone else, whose quit was missed.
const StaleReason = "nick taken over; earlier user gone"

// Nick records that oldNick is now newNick. It returns one [ChangeNick] per
// channel the user is in (none when only the letter case is unchanged).
// When newNick was still held by another user, that user is gone (a missed
// QUIT): it is removed first with [ChangeQuit] changes carrying
// [StaleReason].
func (n *Network) Nick(oldNick, newNick string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	oldKey, newKey := n.fold(oldNick), n.fold(newNick)
	u := n.users[oldKey]
	if u == nil || newNick == "" || u.nick == newNick {
		return nil
	}
	var out []Change
	if other := n.users[newKey]; other != nil && other != u {
		out = n.quit(other, StaleReason)
	}
	from := u.nick
	delete(n.users, oldKey)
	u.nick = strings.Clone(newNick)
	n.users[n.fold(u.nick)] = u
	for _, c := range u.channels {
		out = append(out, Change{Kind: ChangeNick, Channel: c.name, Nick: newNick, OldNick: from})
	}
	return out
}

// Mode applies a channel MODE line set by by. It returns the changes made;
// repeated lines change nothing. Modes for a nick not in the channel are
// ignored; malformed parts are reported as by [ParseMode] while the rest is
// applied. Unknown channels are ignored.
func (n *Network) Mode(channel, by, modes string, args []string) ([]Change, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mcs, err := ParseMode(n.is, modes, args)
	c := n.channels[n.fold(channel)]
	if c == nil {
		return nil, err
	}
	var out []Change
	for _, mc := range mcs {
		if ch, ok := n.applyMode(c, by, mc); ok {
			out = append(out, ch)
		}
	}
	return out, err
}

func (n *Network) applyMode(c *channel, by string, mc ModeChange) (Change, bool) {
	ch := Change{Channel: c.name, By: by, Mode: mc.Mode, Arg: mc.Arg}
	switch {
	case mc.Prefix:
		return n.applyPrefix(c, by, mc)
	case mc.List:
		ch.Kind = ChangeListRemoved
		if mc.Add {
			ch.Kind = ChangeListAdded
		}
		return ch, n.applyList(c, mc)
	case mc.Add:
		ch.Kind = ChangeModeSet
		t := n.is.ChanModes.typeOf(mc.Mode)
		return ch, c.modes.set(mc.Mode, mc.Arg, t == typeB || t == typeC)
	default:
		ch.Kind, ch.Arg = ChangeModeUnset, ""
		return ch, c.modes.unset(mc.Mode)
	}
}

func (n *Network) applyPrefix(c *channel, by string, mc ModeChange) (Change, bool) {
	u := n.users[n.fold(mc.Arg)]
	ps, ok := c.members[u]
	i := strings.IndexByte(n.is.Prefix.Modes, mc.Mode)
	if u == nil || !ok || i < 0 {
		return Change{}, false
	}
	bit := prefixSet(1) << i
	ch := Change{Kind: ChangePrefixAdded, Channel: c.name, Nick: u.nick, By: by, Mode: mc.Mode}
	if !mc.Add {
		ch.Kind = ChangePrefixRemoved
	}
	if (ps&bit != 0) == mc.Add {
		return ch, false
	}
	c.members[u] = ps ^ bit
	return ch, true
}

// applyList records a list mode change when lists are tracked; it reports
// whether the change is new (always true when lists are not tracked).
func (n *Network) applyList(c *channel, mc ModeChange) bool {
	if !n.trackLists {
		return true
	}
	l := c.lists[mc.Mode]
	i := slices.IndexFunc(l, func(e string) bool { return n.fold(e) == n.fold(mc.Arg) })
	switch {
	case mc.Add && i < 0:
		if c.lists == nil {
			c.lists = map[byte][]string{}
		}
		c.lists[mc.Mode] = append(l, mc.Arg)
		return true
	case !mc.Add && i >= 0:
		c.lists[mc.Mode] = slices.Delete(l, i, i+1)
		return true
	}
	return false
}

// ChannelModes applies RPL_CHANNELMODEIS (324): the full set of simple
// modes of a channel. Modes not listed are unset. A +k or +l whose value
// the server hides or leaves out is still recorded as set, with an empty
// value. It returns the differences as [ChangeModeSet] and
// [ChangeModeUnset].
func (n *Network) ChannelModes(channel, modes string, args []string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[n.fold(channel)]
	if c == nil {
		return nil
	}
	var next Modes
	for i := range len(modes) {
		m := modes[i]
		t := n.is.ChanModes.typeOf(m)
		switch {
		case !isModeLetter(m) || t == typeA || strings.IndexByte(n.is.Prefix.Modes, m) >= 0:
		case t == typeB || t == typeC:
			var arg string
			if len(args) > 0 {
				arg, args = args[0], args[1:]
			}
			next.set(m, arg, true)
		default:
			next.set(m, "", false)
		}
	}
	out := diffModes(c.name, c.modes, next)
	c.modes = next
	return out
}

func diffModes(channel string, old, next Modes) []Change {
	var out []Change
	for _, m := range []byte(old.String()[1:]) {
		if !next.Has(m) {
			out = append(out, Change{Kind: ChangeModeUnset, Channel: channel, Mode: m})
		}
	}
	for _, m := range []byte(next.String()[1:]) {
		nv, _ := next.Param(m)
		if ov, ok := old.Param(m); !old.Has(m) || (ok && ov != nv) {
			out = append(out, Change{Kind: ChangeModeSet, Channel: channel, Mode: m, Arg: nv})
		}
	}
	return out
}

// Topic records the topic of channel (TOPIC, or 332 with by "" and a zero
// time). It returns a [ChangeTopic] when the text changed.
func (n *Network) Topic(channel, topic, by string, at time.Time) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channelFor(channel)
	if by != "" {
		c.topicBy, c.topicAt = by, at
	}
	if c.topic == topic {
		return nil
	}
	c.topic = topic
	return []Change{{Kind: ChangeTopic, Channel: c.name, By: by, Text: topic}}
}

// TopicWhoTime records who set the topic and when (333).
func (n *Network) TopicWhoTime(channel, by string, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[n.fold(channel)]
	if c != nil {
		c.topicBy, c.topicAt = by, at
	}
}

// Away records nick's away message (AWAY with away-notify, or 301); an
// empty message means back. It returns a [ChangeAway] when it changed.
func (n *Network) Away(nick, message string) []Change {
	return n.updateUser(nick, ChangeAway, message, func(u *user) *string { return &u.away })
}

// Account records nick's account (ACCOUNT with account-notify); "*" or ""
// means logged out. It returns a [ChangeAccount] when it changed.
func (n *Network) Account(nick, account string) []Change {
	if account == "*" {
		account = ""
	}
	return n.updateUser(nick, ChangeAccount, account, func(u *user) *string { return &u.account })
}

// Realname records nick's realname (SETNAME). It returns a
// [ChangeRealname] when it changed.
func (n *Network) Realname(nick, realname string) []Change {
	return n.updateUser(nick, ChangeRealname, realname, func(u *user) *string { return &u.realname })
}

func (n *Network) updateUser(nick string, kind ChangeKind, v string, field func(*user) *string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.users[n.fold(nick)]
	if u == nil || *field(u) == v {
		return nil
	}
	*field(u) = v
	return []Change{{Kind: kind, Nick: u.nick, Text: v}}
}

// ChangeHost records nick's new user and host (CHGHOST). It returns a
// [ChangeHost] with Text "user@host" when they changed.
func (n *Network) ChangeHost(nick, ident, host string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.users[n.fold(nick)]
	if u == nil || (u.user == ident && u.host == host) {
		return nil
	}
	u.user, u.host = ident, host
	return []Change{{Kind: ChangeHost, Nick: u.nick, Text: ident + "@" + host}}
}
