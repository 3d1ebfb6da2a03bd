package xmpp

import (
	"encoding/xml"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// Stanzas of 1:1 chats and of Matrix users as contacts (roster
// subscriptions and presence, RFC 6121; nicks, XEP-0172).

// nsNick is XEP-0172's namespace.
const nsNick = "http://jabber.org/protocol/nick"

type nickEl struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/nick nick"`
	Text    string   `xml:",chardata"`
}

// contactPresenceEl is a presence from a Matrix user's JID.
type contactPresenceEl struct {
	XMLName xml.Name `xml:"presence"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr,omitempty"`
	Type    string   `xml:"type,attr,omitempty"`
	Show    string   `xml:"show,omitempty"`
	Status  string   `xml:"status,omitempty"`
	Nick    *nickEl  `xml:"nick,omitempty"`
	Caps    *capsEl  `xml:"c,omitempty"` // XEP-0115, in available presences (pepfetch.go)
}

// capsEl names what a Matrix user's JID announces (XEP-0115).
type capsEl struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/caps c"`
	Hash    string   `xml:"hash,attr"`
	Node    string   `xml:"node,attr"`
	Ver     string   `xml:"ver,attr"`
}

// contactPresence is a presence of type typ ("" for available,
// "unavailable", "subscribe", "subscribed"...) from a Matrix user's JID,
// with show and status for availability and nick (XEP-0172) for a
// subscription request; an available one carries XEP-0115 caps, so that
// servers send the JID PEP avatar notifications. Text is escaped, never
// markup.
func contactPresence(from, to, typ, show, status, nick string) []byte {
	p := contactPresenceEl{From: from, To: to, Type: typ, Show: show, Status: status}
	if typ == "" {
		p.Caps = &capsEl{Hash: "sha-1", Node: component.CapsNode, Ver: component.UserCapsVer()}
	}
	if nick != "" {
		p.Nick = &nickEl{Text: nick}
	}
	return mustMarshal(p)
}

// chatMessage is a type='chat' message from a Matrix user's JID to an
// XMPP user, with the Matrix event ID as id and as XEP-0359 stanza-id
// (by the Matrix user's JID, which assigned it), markable (XEP-0333).
func chatMessage(from, to string, ev string, body string) []byte {
	return mustMarshal(groupchatMessage{From: from, To: to, ID: ev, Type: "chat", Body: &body,
		StanzaID: &stanzaIDEl{ID: ev, By: from}, Markable: &markableEl{}})
}

// xmppShow maps a Matrix presence to an XMPP availability: online is
// available (no show), unavailable is away, offline is unavailable.
func xmppShow(presence string) (typ, show string) {
	switch presence {
	case "unavailable":
		return "", "away"
	case "offline":
		return "unavailable", ""
	}
	return "", ""
}
