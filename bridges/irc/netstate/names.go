package netstate

import (
	"slices"
	"strings"
)

// Names records one RPL_NAMREPLY (353) for channel: entries is its last
// parameter, space-separated nicks with their prefix symbols, several with
// multi-prefix ("@+alice") and as "nick!user@host" with userhost-in-names.
// The list takes effect at [Network.EndNames].
func (n *Network) Names(channel, entries string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channelFor(channel)
	if c.names == nil {
		c.names = map[*user]prefixSet{}
	}
	for _, e := range strings.Fields(entries) {
		var ps prefixSet
		for e != "" {
			i := strings.IndexByte(n.is.Prefix.Symbols, e[0])
			if i < 0 {
				break
			}
			ps |= 1 << i
			e = e[1:]
		}
		nick, ident, host := ParseSource(e)
		if nick == "" {
			continue
		}
		u := n.intern(nick, ident, host)
		c.names[u] |= ps
	}
}

// EndNames ends the NAMES reply for channel (366): the members received
// replace the channel's members. It returns what differs from before:
// [ChangeJoin] and [ChangePrefixAdded] for new members, [ChangePart] for
// members no longer listed, prefix changes for the others; sorted by nick.
// Without a preceding [Network.Names] it changes nothing.
func (n *Network) EndNames(channel string) []Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[n.fold(channel)]
	if c == nil || c.names == nil {
		return nil
	}
	names := c.names
	c.names = nil
	var out []Change
	for u, ps := range names {
		old, ok := c.members[u]
		if !ok {
			n.addMember(c, u, ps)
			out = append(out, Change{Kind: ChangeJoin, Channel: c.name, Nick: u.nick})
		}
		c.members[u] = ps
		out = n.prefixDiff(out, c, u, old, ps)
	}
	for u := range c.members {
		if _, ok := names[u]; !ok {
			out = append(out, Change{Kind: ChangePart, Channel: c.name, Nick: u.nick})
			n.removeMember(c, u)
		}
	}
	n.dropIfEmpty(c)
	slices.SortStableFunc(out, func(a, b Change) int { return strings.Compare(n.fold(a.Nick), n.fold(b.Nick)) })
	return out
}

func (n *Network) prefixDiff(out []Change, c *channel, u *user, old, next prefixSet) []Change {
	for i := range len(n.is.Prefix.Modes) {
		bit := prefixSet(1) << i
		if old&bit == next&bit {
			continue
		}
		kind := ChangePrefixAdded
		if old&bit != 0 {
			kind = ChangePrefixRemoved
		}
		out = append(out, Change{Kind: kind, Channel: c.name, Nick: u.nick, Mode: n.is.Prefix.Modes[i]})
	}
	return out
}
