package xmpp

import (
	"encoding/xml"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// The occupant client: one Matrix user inside one existing MUC on the
// XMPP network, joined from the user's JID on the component (issue 10
// §6). It is a small state machine fed with the presences the MUC sends
// to that JID, written here rather than with mellium's muc.Client, which
// deadlocks after an unsolicited kick. It does no I/O: each input
// returns the step to take (stanzas to queue, a notice for the Matrix
// user, held messages now sendable), which reverse.go carries out.

// clientState is where an occupant client is.
type clientState int

const (
	// clientJoining: the join presence is sent, no self-presence yet.
	clientJoining clientState = iota
	// clientJoined: the MUC sent the self-presence (status 110).
	clientJoined
	// clientGone: left, kicked, banned or refused. The client is not
	// joined again until the Matrix user joins the portal room again.
	clientGone
)

const (
	// occupantResource is the resource of Matrix users' occupant JIDs.
	occupantResource = "causeway"
	// maxNickTries bounds the nicks tried after 409 conflicts: the
	// displayname, then with the suffixes nickSuffix, nickSuffix+"2"...
	maxNickTries = 4
	nickSuffix   = "[m]"
	// maxHeld bounds the Matrix messages held while a join is under way.
	maxHeld = 50
)

// heldMessage is a Matrix message waiting for its sender's join.
type heldMessage struct {
	Event matrix.EventID
	Text  string
	Extra []byte // payloads: XHTML-IM, OOB
	// Retried: sent once already and refused because the MUC did not
	// know the occupant; it is not retried again.
	Retried bool
}

// maxSent bounds the messages a client remembers having sent, to send
// again after a rejoin when the MUC refused them (not-acceptable).
const maxSent = 20

// mucClient is one Matrix user's occupant in a remote MUC.
type mucClient struct {
	user  matrix.UserID
	self  string // full occupant JID on the component (real JID the MUC sees)
	muc   string // bare MUC JID
	base  string // the nick wanted: the user's displayname
	nick  string // the nick of the current join attempt, or as joined
	tries int    // conflicts so far
	state clientState
	held  []heldMessage
	// prev is the nick before a nick change under way ("" when none).
	prev string
	// sent are the latest messages sent, oldest first (see maxSent).
	sent []heldMessage
	// role is the occupant's role as the MUC last told it (XEP-0045:
	// "moderator" may moderate messages).
	role string
	// photo is the XEP-0153 hash of the Matrix user's avatar its
	// presences carry (nil: none known, no element).
	photo *string
	// show and status are the availability last told (availability).
	show, status string
}

// remember records a message the client sent.
func (c *mucClient) remember(m heldMessage) {
	c.sent = append(c.sent, m)
	if len(c.sent) > maxSent {
		c.sent = c.sent[1:]
	}
}

// notIn takes the MUC's not-acceptable answer to message ev: the MUC
// does not know the occupant (it forgot it, or dropped it while the
// component was away). A client that thinks itself in joins again and
// holds the message to send it once more after the join; it returns
// the join presence (nil when it was joining already) and whether the
// message will be sent again. A message is sent again once at most.
func (c *mucClient) notIn(ev matrix.EventID) (join []byte, again bool) {
	if c.state == clientGone {
		return nil, false
	}
	for i, m := range c.sent {
		if m.Event != ev || m.Retried {
			continue
		}
		c.sent = append(c.sent[:i:i], c.sent[i+1:]...)
		if c.state == clientJoined {
			join = c.join()
		}
		m.Retried = true
		return join, c.hold(m)
	}
	return nil, false
}

// newClient returns the client of user (whose JID on the component is
// bare) for muc, wanting nick, not yet joining.
func newClient(user matrix.UserID, bare jid.JID, muc, nick string) *mucClient {
	return &mucClient{user: user, self: bare.String() + "/" + occupantResource, muc: muc, base: nick, nick: nick}
}

// clientStep is what a client input asks for.
type clientStep struct {
	// send are stanzas to queue, in order.
	send [][]byte
	// tell is a notice for the Matrix user ("" for none).
	tell string
	// flush are the held messages, now sendable.
	flush []heldMessage
	// gone: the client left for good; forget it.
	gone bool
	// joined: the client just joined (it was not joined before).
	joined bool
}

// join starts a join with the current nick and returns the presence. No
// history is asked for: the portal gets the room's history from MAM.
func (c *mucClient) join() []byte {
	c.state = clientJoining
	return mustMarshal(joinPresence{From: c.self, To: c.muc + "/" + c.nick, Show: c.show, Status: c.status,
		X: &mucJoinX{History: &mucHistory{MaxStanzas: "0"}}, Avatar: c.avatar()})
}

// rename starts a nick change of a joined client to nick and returns
// its presence, or nil when there is nothing to change. The MUC answers
// with the old nick's unavailable presence (303) and the new one's, or
// an error that keeps the old nick.
func (c *mucClient) rename(nick string) []byte {
	if c.state != clientJoined || nick == c.base || c.prev != "" {
		if c.state == clientJoining {
			c.base = nick // the next attempt takes it
		}
		return nil
	}
	c.prev, c.base, c.nick, c.tries = c.nick, nick, nick, 0
	return mustMarshal(joinPresence{From: c.self, To: c.muc + "/" + nick, Show: c.show, Status: c.status, Avatar: c.avatar()})
}

// availability returns the presence that tells the MUC the Matrix
// user's show and status (XEP-0045 §7.7), or nil while not joined.
func (c *mucClient) availability(show, status string) []byte {
	c.show, c.status = show, status
	if c.state != clientJoined {
		return nil
	}
	return mustMarshal(joinPresence{From: c.self, To: c.muc + "/" + c.nick, Show: show, Status: status, Avatar: c.avatar()})
}

// setPhoto keeps the Matrix user's avatar hash (nil: none) and returns
// the presence that tells the MUC a new one, or nil when nothing
// changed or the client is not joined.
func (c *mucClient) setPhoto(hash *string) []byte {
	if (c.photo == nil) == (hash == nil) && (hash == nil || *c.photo == *hash) {
		return nil
	}
	c.photo = hash
	if c.state != clientJoined {
		return nil
	}
	return mustMarshal(joinPresence{From: c.self, To: c.muc + "/" + c.nick, Show: c.show, Status: c.status, Avatar: c.avatar()})
}

// avatar is the vCard-update element of the client's presences: the
// hash, or an empty photo (XEP-0153: no avatar) once a hash is known to
// be none; nil while nothing is known.
func (c *mucClient) avatar() *vcardUpdateEl {
	if c.photo == nil {
		return nil
	}
	return &vcardUpdateEl{Photo: *c.photo}
}

// leave returns the unavailable presence that ends the occupancy.
func (c *mucClient) leave() []byte {
	c.state = clientGone
	return mustMarshal(joinPresence{From: c.self, To: c.muc + "/" + c.nick, Type: "unavailable"})
}

// hold keeps a Matrix message until the join completes; false when the
// client is not joining or holds too many.
func (c *mucClient) hold(m heldMessage) bool {
	if c.state != clientJoining || len(c.held) >= maxHeld {
		return false
	}
	c.held = append(c.held, m)
	return true
}

// nickFor is the nick of try n: the base, then with the suffix.
func nickFor(base string, n int) string {
	switch n {
	case 0:
		return base
	case 1:
		return base + nickSuffix
	}
	return fmt.Sprintf("%s[m%d]", base, n)
}

// isSelf reports whether p, addressed to the client's JID, is about the
// client itself: status 110, or an error to its join attempt.
func (c *mucClient) isSelf(p mucPresence) bool {
	if p.Type == "error" {
		return p.Nick == c.nick || p.Nick == ""
	}
	return p.Codes[statusSelf]
}

// onSelf takes a presence about the client itself (see isSelf).
func (c *mucClient) onSelf(p mucPresence) clientStep {
	switch {
	case p.Type == "error":
		return c.onError(p)
	case p.Type == "unavailable":
		return c.onUnavailable(p)
	case p.Type != "":
		return clientStep{}
	}
	// Available with 110: joined (the nick may be the service's, 210).
	if p.Nick != "" {
		c.nick = p.Nick
	}
	if p.Role != "" {
		c.role = p.Role
	}
	if c.state == clientJoined {
		c.prev = ""
		return clientStep{}
	}
	c.state = clientJoined
	st := clientStep{flush: c.held, joined: true}
	c.held = nil
	if c.tries > 0 {
		st.tell = fmt.Sprintf("You are in the XMPP room %s as %q: the nickname %q was taken there.", c.muc, c.nick, c.base)
	}
	return st
}

// onError takes an error presence to a join: a taken nick is tried
// again with a suffix; anything else ends the client with a notice.
func (c *mucClient) onError(p mucPresence) clientStep {
	if c.state == clientGone {
		return clientStep{gone: true}
	}
	if c.state == clientJoined {
		// A nick change refused: the client keeps its nick.
		if c.prev == "" {
			return clientStep{}
		}
		wanted := c.nick
		c.nick, c.prev, c.base = c.prev, "", c.prev
		return clientStep{tell: fmt.Sprintf("Your nickname in the XMPP room %s stays %q: %q was refused (%s).",
			c.muc, c.nick, wanted, joinErrorText(p))}
	}
	if p.Cond == "conflict" && c.state == clientJoining && c.tries+1 < maxNickTries {
		c.tries++
		c.nick = nickFor(c.base, c.tries)
		return clientStep{send: [][]byte{c.join()}}
	}
	c.state = clientGone
	return clientStep{gone: true, tell: fmt.Sprintf("Could not join the XMPP room %s: %s.", c.muc, joinErrorText(p)),
		flush: c.dropHeld()}
}

// onUnavailable takes the client's own unavailable presence: a nick
// change (303) keeps it; a kick, ban or removal ends it with a notice; a
// plain one (the answer to its leave) ends it quietly.
func (c *mucClient) onUnavailable(p mucPresence) clientStep {
	if p.Codes[statusNickChange] && p.NewNick != "" {
		c.nick, c.prev = p.NewNick, ""
		return clientStep{}
	}
	wasGone := c.state == clientGone
	c.state = clientGone
	why := ""
	switch {
	case p.Codes[statusBanned]:
		why = "You were banned from the XMPP room %s"
	case p.Codes[statusKicked]:
		why = "You were kicked from the XMPP room %s"
	case p.Codes["321"], p.Codes["322"]:
		why = "You were removed from the XMPP room %s (your affiliation changed)"
	case p.Codes["332"]:
		why = "The XMPP room %s's service shut down"
	case !wasGone:
		why = "You left the XMPP room %s"
	}
	st := clientStep{gone: true, flush: c.dropHeld()}
	if why != "" {
		st.tell = fmt.Sprintf(why, c.muc)
		if p.Reason != "" {
			st.tell += ": " + p.Reason
		}
		st.tell += ". Leave and join this Matrix room again to rejoin it."
	}
	return st
}

// dropHeld returns nothing to send: held messages of a client that will
// not join are not sendable (they are reported by the caller through
// the notice).
func (c *mucClient) dropHeld() []heldMessage {
	c.held = nil
	return nil
}

// joinErrorText words the error of a refused join for the Matrix user.
func joinErrorText(p mucPresence) string {
	var why string
	switch p.Cond {
	case "conflict":
		why = "every nickname tried was taken"
	case "forbidden":
		why = "you are banned from it"
	case "registration-required":
		why = "it is for members only"
	case "not-authorized":
		why = "it needs a password"
	case "service-unavailable":
		why = "it is full"
	case "item-not-found":
		why = "it does not exist (or is locked)"
	case "not-allowed":
		why = "it may not be created"
	case "jid-malformed", "not-acceptable":
		why = "the nickname was not accepted"
	default:
		why = "it refused the join (" + p.Cond + ")"
	}
	if p.Text != "" {
		why += ": " + p.Text
	}
	return why
}

// Status codes the client reads, besides those of stanzas.go.
const statusNickChange = "303"

// mucPresence is a presence from a MUC occupant (room@service/nick), as
// the client and the portal read it.
type mucPresence struct {
	Nick    string // resource of from
	Type    string // "", "unavailable", "error"...
	Codes   map[string]bool
	JID     string // the item's real JID, when the MUC reveals it
	NewNick string // the item's nick (303)
	Role    string
	Reason  string
	Cond    string // error condition
	Text    string // error text
}

// parseMUCPresence reads a presence from from.
func parseMUCPresence(st *component.Stanza, from jid.JID) mucPresence {
	p := mucPresence{Nick: from.Resourcepart(), Type: st.Attr("type"), Codes: map[string]bool{}}
	var path []string
	for _, t := range st.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if len(path) == 0 && name == "x" && t.Name.Space == nsMUCUser {
				name = "muc#user"
			}
			path = append(path, name)
			switch {
			case len(path) == 2 && path[0] == "muc#user" && name == "item":
				p.JID, p.NewNick, p.Role = attr(t, "jid"), attr(t, "nick"), attr(t, "role")
			case len(path) == 2 && path[0] == "muc#user" && name == "status":
				p.Codes[attr(t, "code")] = true
			case len(path) == 2 && path[0] == "error" && t.Name.Space == nsStanzas && t.Name.Local != "text":
				p.Cond = t.Name.Local
			}
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			switch {
			case len(path) == 3 && path[0] == "muc#user" && path[1] == "item" && path[2] == "reason":
				p.Reason += string(t)
			case len(path) == 2 && path[0] == "error" && path[1] == "text":
				p.Text += string(t)
			}
		}
	}
	return p
}

// joinPresence is a presence the client sends to a MUC.
type joinPresence struct {
	XMLName xml.Name  `xml:"presence"`
	From    string    `xml:"from,attr"`
	To      string    `xml:"to,attr"`
	Type    string    `xml:"type,attr,omitempty"`
	Show    string    `xml:"show,omitempty"`
	Status  string    `xml:"status,omitempty"`
	X       *mucJoinX `xml:"x"`
	// Avatar is the XEP-0153 photo hash (vcard-temp:x:update).
	Avatar *vcardUpdateEl `xml:"vcard-temp:x:update x,omitempty"`
}

type mucJoinX struct {
	XMLName xml.Name    `xml:"http://jabber.org/protocol/muc x"`
	History *mucHistory `xml:"history"`
}

type mucHistory struct {
	MaxStanzas string `xml:"maxstanzas,attr"`
}
