package xmpp

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// Namespaces of the MUC service.
const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = "http://jabber.org/protocol/muc#user"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsStanzaID = "urn:xmpp:sid:0"
)

// XEP-0045 status codes the service sends.
const (
	statusNonAnonymous = "100" // the room shows real JIDs to everyone
	statusSelf         = "110" // this presence is about you
	statusLogged       = "170" // the room is logged (Matrix keeps history)
	statusNickChanged  = "210" // the service changed your nick
	statusBanned       = "301"
	statusKicked       = "307"
)

// mucItem is the <item/> of a muc#user presence.
type mucItem struct {
	Affiliation string `xml:"affiliation,attr"`
	Role        string `xml:"role,attr"`
	JID         string `xml:"jid,attr,omitempty"`
	// OccupantID is the occupant's XEP-0421 id: presenceStanza puts it
	// in an <occupant-id/> next to the <x/>.
	OccupantID string `xml:"-"`
	// Photo is the occupant's XEP-0153 photo hash (nil: none told):
	// the presence then carries a vcard-temp:x:update element.
	Photo *string `xml:"-"`
}

type mucStatus struct {
	Code string `xml:"code,attr"`
}

type mucUserX struct {
	XMLName xml.Name    `xml:"http://jabber.org/protocol/muc#user x"`
	Item    mucItem     `xml:"item"`
	Status  []mucStatus `xml:"status"`
}

// occupantPresence is an occupant's presence as the room sends it.
type occupantPresence struct {
	XMLName    xml.Name       `xml:"presence"`
	From       string         `xml:"from,attr"`
	To         string         `xml:"to,attr"`
	Type       string         `xml:"type,attr,omitempty"`
	Show       string         `xml:"show,omitempty"`
	Status     string         `xml:"status,omitempty"`
	X          mucUserX       `xml:"x"`
	OccupantID *occupantIDEl  `xml:"occupant-id,omitempty"`
	Avatar     *vcardUpdateEl `xml:"vcard-temp:x:update x,omitempty"`
}

// presenceStanza returns the presence of an occupant (from is
// room@domain/nick) for to: available, or unavailable when gone, with
// item and status codes.
func presenceStanza(from, to string, item mucItem, unavailable bool, codes ...string) []byte {
	p := occupantPresence{From: from, To: to, X: mucUserX{Item: item}}
	if item.OccupantID != "" {
		p.OccupantID = &occupantIDEl{ID: item.OccupantID}
	}
	if item.Photo != nil {
		p.Avatar = &vcardUpdateEl{Photo: *item.Photo}
	}
	if unavailable {
		p.Type = "unavailable"
		p.X.Item.Role = "none"
	}
	for _, c := range codes {
		p.X.Status = append(p.X.Status, mucStatus{Code: c})
	}
	return mustMarshal(p)
}

// occupantPresenceStanza is the available presence of an occupant with
// its show (away, xa, dnd, chat; "" for none) and status text.
func occupantPresenceStanza(from, to string, item mucItem, show, status string, codes ...string) []byte {
	p := occupantPresence{From: from, To: to, Show: show, Status: status, X: mucUserX{Item: item}}
	if item.OccupantID != "" {
		p.OccupantID = &occupantIDEl{ID: item.OccupantID}
	}
	if item.Photo != nil {
		p.Avatar = &vcardUpdateEl{Photo: *item.Photo}
	}
	for _, c := range codes {
		p.X.Status = append(p.X.Status, mucStatus{Code: c})
	}
	return mustMarshal(p)
}

type stanzaError struct {
	Type string `xml:"type,attr"`
	By   string `xml:"by,attr,omitempty"`
	Cond struct {
		XMLName xml.Name
	}
	Text *errorText `xml:"text,omitempty"`
}

type errorText struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
	Lang    string   `xml:"xml:lang,attr,omitempty"`
	Text    string   `xml:",chardata"`
}

type mucX struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/muc x"`
}

type errorStanza struct {
	XMLName xml.Name
	From    string      `xml:"from,attr"`
	To      string      `xml:"to,attr"`
	ID      string      `xml:"id,attr,omitempty"`
	Type    string      `xml:"type,attr"`
	X       *mucX       `xml:"x"`
	Error   stanzaError `xml:"error"`
}

// errorPresenceStanza is an error of kind ("presence" for a join
// refused, "message" for a message refused): from is the JID the stanza
// was sent to, by the room's bare JID, typ the error type (cancel,
// modify, auth, wait), cond the RFC 6120 condition (conflict,
// item-not-found...), text a human explanation (may be empty).
func errorPresenceStanza(kind, from, to, id, by, typ, cond, text string) []byte {
	p := errorStanza{XMLName: xml.Name{Local: kind}, From: from, To: to, ID: id, Type: "error", Error: stanzaError{Type: typ, By: by}}
	p.Error.Cond.XMLName = xml.Name{Space: nsStanzas, Local: cond}
	if kind == "presence" {
		p.X = &mucX{}
	}
	if text != "" {
		p.Error.Text = &errorText{Text: text}
	}
	return mustMarshal(p)
}

type stanzaIDEl struct {
	XMLName xml.Name `xml:"urn:xmpp:sid:0 stanza-id"`
	ID      string   `xml:"id,attr"`
	By      string   `xml:"by,attr"`
}

type originIDEl struct {
	XMLName xml.Name `xml:"urn:xmpp:sid:0 origin-id"`
	ID      string   `xml:"id,attr"`
}

type subjectEl struct {
	Text string `xml:",chardata"`
}

type groupchatMessage struct {
	XMLName    xml.Name      `xml:"message"`
	From       string        `xml:"from,attr"`
	To         string        `xml:"to,attr"`
	ID         string        `xml:"id,attr,omitempty"`
	Type       string        `xml:"type,attr"`
	Subject    *subjectEl    `xml:"subject,omitempty"`
	Body       *string       `xml:"body,omitempty"`
	OriginID   *originIDEl   `xml:"origin-id,omitempty"`
	StanzaID   *stanzaIDEl   `xml:"stanza-id,omitempty"`
	OccupantID *occupantIDEl `xml:"occupant-id,omitempty"`
	Markable   *markableEl   `xml:"markable,omitempty"`
	Delay      *delayEl      `xml:"delay,omitempty"`
}

// delayEl is an XEP-0203 delay: when the message was first sent, and by
// whom it was kept (the room).
type delayEl struct {
	XMLName xml.Name `xml:"urn:xmpp:delay delay"`
	From    string   `xml:"from,attr,omitempty"`
	Stamp   string   `xml:"stamp,attr"`
}

// messageStanza is a groupchat message from room@domain/nick to an
// occupant, with the XEP-0359 stanza-id the room (by) gave it, the
// sender's origin-id when it had one and its XEP-0421 occupant-id. Text
// is escaped, never markup.
func messageStanza(from, to, id, body, originID, stanzaID, by, occupantID string) []byte {
	m := groupchatMessage{From: from, To: to, ID: id, Type: "groupchat", Body: &body, Markable: &markableEl{}}
	if occupantID != "" {
		m.OccupantID = &occupantIDEl{ID: occupantID}
	}
	if originID != "" {
		m.OriginID = &originIDEl{ID: originID}
	}
	if stanzaID != "" {
		m.StanzaID = &stanzaIDEl{ID: stanzaID, By: by}
	}
	return mustMarshal(m)
}

// delayedStanza is messageStanza for a message of the room's history
// (XEP-0045 §7.2.15), with an XEP-0203 delay from the room (by) saying
// when it was sent.
func delayedStanza(from, to, id, body, originID, stanzaID, by, occupantID string, sent time.Time) []byte {
	m := groupchatMessage{From: from, To: to, ID: id, Type: "groupchat", Body: &body, Markable: &markableEl{},
		StanzaID: &stanzaIDEl{ID: stanzaID, By: by}, Delay: &delayEl{From: by, Stamp: stamp(sent)}}
	if occupantID != "" {
		m.OccupantID = &occupantIDEl{ID: occupantID}
	}
	if originID != "" {
		m.OriginID = &originIDEl{ID: originID}
	}
	return mustMarshal(m)
}

// subjectStanza is the room's subject, sent last on join; an empty
// subject is an empty <subject/> as XEP-0045 §7.2.15 asks.
func subjectStanza(from, to, subject string) []byte {
	return mustMarshal(groupchatMessage{From: from, To: to, Type: "groupchat", Subject: &subjectEl{Text: subject}})
}

// mustMarshal encodes v, a struct of this file, which cannot fail.
func mustMarshal(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		panic("xmpp: encode stanza: " + err.Error())
	}
	return b
}

// decoder yields the tokens of an encoded stanza for Conn.Enqueue.
func decoder(b []byte) xml.TokenReader { return xml.NewDecoder(bytes.NewReader(b)) }

// child is a direct child element of a stanza with its text.
type child struct {
	Start xml.StartElement
	Text  string
}

// children returns st's direct child elements, with the text directly
// inside each.
func children(st *component.Stanza) []child {
	var out []child
	depth := 0
	for _, t := range st.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				out = append(out, child{Start: t})
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 1 && len(out) > 0 {
				out[len(out)-1].Text += string(t)
			}
		}
	}
	return out
}

// find returns st's first direct child space/local.
func find(st *component.Stanza, space, local string) (child, bool) {
	for _, c := range children(st) {
		if c.Start.Name.Local == local && (space == "*" || c.Start.Name.Space == space) {
			return c, true
		}
	}
	return child{}, false
}

// attr returns the attribute name of start.
func attr(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// body returns a message's body ("" when it has none). Bodies in
// another namespace than the stanza's do not count.
func body(st *component.Stanza) string {
	for _, c := range children(st) {
		if c.Start.Name.Local == "body" && c.Start.Name.Space == st.Start.Name.Space {
			return c.Text
		}
	}
	return ""
}

// originID returns the message's XEP-0359 origin-id, or "".
func originID(st *component.Stanza) string {
	if c, ok := find(st, nsStanzaID, "origin-id"); ok {
		return attr(c.Start, "id")
	}
	return ""
}

// affiliation maps a Matrix power level to an XEP-0045 affiliation and
// role: 100 and more own the room, 50 and more administer and moderate
// it, everyone else is a member and participant.
func affiliation(level int) (aff, role string) {
	switch {
	case level >= 100:
		return "owner", "moderator"
	case level >= 50:
		return "admin", "moderator"
	}
	return "member", "participant"
}

// cleanNick makes a Matrix displayname usable as a nick: control
// characters go, surrounding space is trimmed.
func cleanNick(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
