package netstate

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
)

// Options configures a [Network].
type Options struct {
	// TrackLists keeps the entries of list modes (CHANMODES type A, such as
	// +b, +e, +I) seen in MODE lines. Off by default: ban lists can be long
	// and most bridges only need to react to the MODE change itself.
	TrackLists bool
}

// Network is the shared state of one IRC network. The zero value is not
// usable; call [New].
type Network struct {
	mu         sync.RWMutex
	is         ISupport
	trackLists bool
	users      map[string]*user    // by casefolded nick
	channels   map[string]*channel // by casefolded name
}

// user is interned once per network and referenced by its channels.
type user struct {
	nick, user, host string
	account, away    string
	realname         string
	channels         []*channel
}

// prefixSet holds a member's prefix modes: bit i is Prefix.Modes[i].
type prefixSet uint8

// channel is the state of one channel, shared by every connection in it.
type channel struct {
	name    string
	topic   string
	topicBy string
	topicAt time.Time
	modes   Modes
	lists   map[byte][]string
	members map[*user]prefixSet
	names   map[*user]prefixSet // NAMES reply being received
	reader  string
}

// New returns an empty Network using [DefaultISupport] until
// [Network.ApplyISupport] is called.
func New(opts Options) *Network {
	return &Network{
		is:         DefaultISupport(),
		trackLists: opts.TrackLists,
		users:      map[string]*user{},
		channels:   map[string]*channel{},
	}
}

// ApplyISupport applies RPL_ISUPPORT tokens (see [ISupport.Apply]). When
// CASEMAPPING or PREFIX change, the existing state is re-keyed and members'
// prefixes are kept by mode letter.
func (n *Network) ApplyISupport(tokens ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.is
	err := n.is.Apply(tokens...)
	if old.CaseMapping != n.is.CaseMapping {
		n.refold()
	}
	if old.Prefix != n.is.Prefix {
		n.remapPrefixes(old.Prefix)
	}
	return err
}

// ISupport returns the ISUPPORT values in use.
func (n *Network) ISupport() ISupport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.is
}

// Fold casefolds name with the network's CASEMAPPING.
func (n *Network) Fold(name string) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.fold(name)
}

func (n *Network) fold(s string) string { return ircfmt.Casefold(n.is.CaseMapping, s) }

func (n *Network) refold() {
	users := make(map[string]*user, len(n.users))
	for _, u := range n.users {
		users[n.fold(u.nick)] = u
	}
	n.users = users
	chans := make(map[string]*channel, len(n.channels))
	for _, c := range n.channels {
		chans[n.fold(c.name)] = c
	}
	n.channels = chans
}

func (n *Network) remapPrefixes(old Prefixes) {
	remap := func(ps prefixSet) prefixSet {
		var out prefixSet
		for i := range len(old.Modes) {
			if ps&(1<<i) != 0 {
				if j := strings.IndexByte(n.is.Prefix.Modes, old.Modes[i]); j >= 0 {
					out |= 1 << j
				}
			}
		}
		return out
	}
	for _, c := range n.channels {
		for u, ps := range c.members {
			c.members[u] = remap(ps)
		}
		for u, ps := range c.names {
			c.names[u] = remap(ps)
		}
	}
}

// User is a snapshot of what is known about an IRC user.
type User struct {
	Nick     string
	User     string // ident
	Host     string
	Account  string // "" when not logged in or unknown
	Away     string // away message; "" when present
	Realname string
}

func (u *user) snapshot() User {
	return User{Nick: u.nick, User: u.user, Host: u.host, Account: u.account, Away: u.away, Realname: u.realname}
}

// Member is a user in a channel with their prefix modes.
type Member struct {
	User
	// Modes are the prefix mode letters, highest first, such as "ov".
	Modes string
	// Prefix are the matching symbols, such as "@+".
	Prefix string
}

// ChannelInfo is a snapshot of a channel without its member list.
type ChannelInfo struct {
	Name       string
	Topic      string
	TopicSetBy string
	TopicSetAt time.Time
	Modes      Modes
	Members    int
}

// User returns what is known about nick.
func (n *Network) User(nick string) (User, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	u, ok := n.users[n.fold(nick)]
	if !ok {
		return User{}, false
	}
	return u.snapshot(), true
}

// Channel returns the state of a channel the network knows.
func (n *Network) Channel(name string) (ChannelInfo, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.channels[n.fold(name)]
	if !ok {
		return ChannelInfo{}, false
	}
	return ChannelInfo{
		Name: c.name, Topic: c.topic, TopicSetBy: c.topicBy, TopicSetAt: c.topicAt,
		Modes: c.modes.clone(), Members: len(c.members),
	}, true
}

// Channels returns the names of all known channels, sorted.
func (n *Network) Channels() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.channels))
	for _, c := range n.channels {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// ChannelsOf returns the channels nick is known to be in, sorted.
func (n *Network) ChannelsOf(nick string) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	u, ok := n.users[n.fold(nick)]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(u.channels))
	for _, c := range u.channels {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// Members returns the members of a channel sorted by casefolded nick.
func (n *Network) Members(channel string) []Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.channels[n.fold(channel)]
	if !ok {
		return nil
	}
	out := make([]Member, 0, len(c.members))
	for u, ps := range c.members {
		out = append(out, n.member(u, ps))
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(n.fold(a.Nick), n.fold(b.Nick)) })
	return out
}

// Member returns nick's membership of channel.
func (n *Network) Member(channel, nick string) (Member, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, u := n.channels[n.fold(channel)], n.users[n.fold(nick)]
	if c == nil || u == nil {
		return Member{}, false
	}
	ps, ok := c.members[u]
	if !ok {
		return Member{}, false
	}
	return n.member(u, ps), true
}

func (n *Network) member(u *user, ps prefixSet) Member {
	m := Member{User: u.snapshot()}
	if ps == 0 {
		return m
	}
	var modes, syms []byte
	for i := range len(n.is.Prefix.Modes) {
		if ps&(1<<i) != 0 {
			modes = append(modes, n.is.Prefix.Modes[i])
			syms = append(syms, n.is.Prefix.Symbols[i])
		}
	}
	m.Modes, m.Prefix = string(modes), string(syms)
	return m
}

// List returns the entries of a list mode (such as 'b') of a channel, in
// the order they were added. It is empty unless [Options.TrackLists] is set.
func (n *Network) List(channel string, mode byte) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.channels[n.fold(channel)]
	if !ok {
		return nil
	}
	return slices.Clone(c.lists[mode])
}

// Stats counts what a Network holds.
type Stats struct {
	Users, Channels, Memberships int
}

// Stats returns the current counts.
func (n *Network) Stats() Stats {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s := Stats{Users: len(n.users), Channels: len(n.channels)}
	for _, c := range n.channels {
		s.Memberships += len(c.members)
	}
	return s
}

// ClaimReader makes conn the connection whose lines update channel, unless
// another connection already is; it reports whether conn is the reader.
// The bridge feeds a channel's JOIN, PART, KICK, MODE, TOPIC and NAMES
// lines only from its reader, so that copies received by other puppet
// connections, possibly interleaved differently, are not replayed.
func (n *Network) ClaimReader(channel, conn string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[n.fold(channel)]
	if c == nil {
		c = n.addChannel(channel)
	}
	if c.reader == "" {
		c.reader = conn
	}
	return c.reader == conn
}

// ReleaseReader gives up every channel conn reads (when it parts or
// disconnects); another connection may then claim them.
func (n *Network) ReleaseReader(conn string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.channels {
		if c.reader == conn {
			c.reader = ""
			n.dropIfEmpty(c)
		}
	}
}

// ReadsUser reports whether conn should apply a user-wide line about nick
// (QUIT, NICK, AWAY, CHGHOST, ACCOUNT, SETNAME): it does when it is the
// reader of the first channel nick joined, or when nick is in no channel
// the network knows (then the line changes nothing shared).
func (n *Network) ReadsUser(conn, nick string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	u := n.users[n.fold(nick)]
	if u == nil || len(u.channels) == 0 {
		return true
	}
	r := u.channels[0].reader
	return r == "" || r == conn
}

// Forget drops a channel and the users left in no channel (when the bridge
// has no connection in it any more).
func (n *Network) Forget(channel string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[n.fold(channel)]
	if c == nil {
		return
	}
	for u := range c.members {
		n.removeMember(c, u)
	}
	delete(n.channels, n.fold(c.name))
}
