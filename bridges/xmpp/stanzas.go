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
	statusNewNick      = "303" // the occupant's nick changed (item nick: the new one)
	statusKicked       = "307"
)

// mucItem is the <item/> of a muc#user presence.
type mucItem struct {
	Affiliation string `xml:"affiliation,attr"`
	Role        string `xml:"role,attr"`
	JID         string `xml:"jid,attr,omitempty"`
	// Nick is the new nick in a nick change (status 303).
	Nick string `xml:"nick,attr,omitempty"`
	// Actor and Reason tell who removed the occupant and why (307, 301).
	Actor  *mucActor `xml:"actor,omitempty"`
	Reason string    `xml:"reason,omitempty"`
	// OccupantID is the occupant's XEP-0421 id: presenceStanza puts it
	// in an <occupant-id/> next to the <x/>.
	OccupantID string `xml:"-"`
	// Photo is the occupant's XEP-0153 photo hash (nil: none told):
	// the presence then carries a vcard-temp:x:update element.
	Photo *string `xml:"-"`
}

// mucActor is the <actor/> of a kick or ban: the moderator's nick.
type mucActor struct {
	Nick string `xml:"nick,attr,omitempty"`
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
		Text    string `xml:",chardata"` // e.g. the redirect of <gone/>
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

// relOut is a groupchat message with the extensions of issue 10 §3
// (corrections, retractions, moderation, reactions, replies), as the
// room sends it; relStanza encodes it for one recipient. It is stored
// (JSON) until a reflection can be sent.
type relOut struct {
	ID       string  `json:"id,omitempty"`
	Origin   string  `json:"origin,omitempty"`
	StanzaID string  `json:"stanza_id,omitempty"`
	Body     *string `json:"body,omitempty"`
	// Replace is the id of the message this one corrects.
	Replace string `json:"replace,omitempty"`
	// Retract is the id of a message its author retracts; with
	// ModeratedBy (the moderator's nick) a moderator removed it.
	Retract     string `json:"retract,omitempty"`
	ModeratedBy string `json:"moderated_by,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Reactions, when HasReactions, is the author's whole set of
	// reactions to ReactionsTo.
	HasReactions bool     `json:"has_reactions,omitempty"`
	ReactionsTo  string   `json:"reactions_to,omitempty"`
	Reactions    []string `json:"reactions,omitempty"`
	// ReplyID names the message this one replies to, ReplyNick its
	// author's nick (in a room) or ReplyJID its author's JID (in a 1:1
	// chat); the first ReplyQuote code points of the body quote it (the
	// fallback for clients without replies).
	ReplyID    string `json:"reply_id,omitempty"`
	ReplyNick  string `json:"reply_nick,omitempty"`
	ReplyJID   string `json:"reply_jid,omitempty"`
	ReplyQuote int    `json:"reply_quote,omitempty"`
	// OccupantID is the author's XEP-0421 occupant-id.
	OccupantID string `json:"occupant_id,omitempty"`
	// Extra is encoded payloads added at the end (XHTML-IM, OOB), made
	// by the module's own encoders, never from remote text.
	Extra []byte `json:"extra,omitempty"`
	// Markable marks the message as one whose reading may be told.
	Markable bool `json:"markable,omitempty"`
	// The archive's own (never stored): Delayed is when a message of
	// the room's history was sent (an XEP-0203 delay from the room);
	// Tombstone, when set, makes the message the XEP-0424 tombstone of a
	// retracted one; Real is the author's real JID (a muc#user item, in
	// MAM results).
	Delayed   time.Time  `json:"-"`
	Tombstone *tombstone `json:"-"`
	Real      string     `json:"-"`
}

// tombstone is what is left of a retracted message in the archive
// (XEP-0424 §6): the retraction's id and time, and the moderator's nick
// when someone else than the author removed it (XEP-0425).
type tombstone struct {
	ID          string
	At          time.Time
	ModeratedBy string
}

type (
	idAttrEl struct {
		XMLName xml.Name
		ID      string `xml:"id,attr"`
	}
	moderatedEl struct {
		XMLName xml.Name `xml:"urn:xmpp:message-moderate:1 moderated"`
		By      string   `xml:"by,attr"`
	}
	retractEl struct {
		XMLName   xml.Name     `xml:"urn:xmpp:message-retract:1 retract"`
		ID        string       `xml:"id,attr"`
		Moderated *moderatedEl `xml:"moderated,omitempty"`
		Reason    string       `xml:"reason,omitempty"`
	}
	retract0El struct {
		XMLName xml.Name `xml:"urn:xmpp:message-retract:0 retract"`
	}
	moderated0El struct {
		XMLName xml.Name   `xml:"urn:xmpp:message-moderate:0 moderated"`
		By      string     `xml:"by,attr"`
		Retract retract0El `xml:"retract"`
		Reason  string     `xml:"reason,omitempty"`
	}
	// applyToEl is the old (XEP-0422 fastening) form of a retraction
	// or moderation, for clients that know only that.
	applyToEl struct {
		XMLName   xml.Name      `xml:"urn:xmpp:fasten:0 apply-to"`
		ID        string        `xml:"id,attr"`
		Retract   *retract0El   `xml:"retract,omitempty"`
		Moderated *moderated0El `xml:"moderated,omitempty"`
	}
	reactionsEl struct {
		XMLName  xml.Name `xml:"urn:xmpp:reactions:0 reactions"`
		ID       string   `xml:"id,attr"`
		Reaction []string `xml:"reaction"`
	}
	replyEl struct {
		XMLName xml.Name `xml:"urn:xmpp:reply:0 reply"`
		To      string   `xml:"to,attr,omitempty"`
		ID      string   `xml:"id,attr"`
	}
	fallbackBodyEl struct {
		Start int `xml:"start,attr"`
		End   int `xml:"end,attr"`
	}
	fallbackEl struct {
		XMLName xml.Name         `xml:"urn:xmpp:fallback:0 fallback"`
		For     string           `xml:"for,attr"`
		Body    []fallbackBodyEl `xml:"body"`
	}
	storeEl struct {
		XMLName xml.Name `xml:"urn:xmpp:hints store"`
	}
	retractedEl struct {
		XMLName   xml.Name     `xml:"urn:xmpp:message-retract:1 retracted"`
		ID        string       `xml:"id,attr,omitempty"`
		Stamp     string       `xml:"stamp,attr"`
		Moderated *moderatedEl `xml:"moderated,omitempty"`
	}
	relMessage struct {
		// XMLName is message (in jabber:client inside a MAM result).
		XMLName    xml.Name
		From       string        `xml:"from,attr"`
		To         string        `xml:"to,attr,omitempty"`
		ID         string        `xml:"id,attr,omitempty"`
		Type       string        `xml:"type,attr"`
		Body       *string       `xml:"body,omitempty"`
		Replace    *idAttrEl     `xml:"replace,omitempty"`
		Retract    *retractEl    `xml:"retract,omitempty"`
		Retracted  *retractedEl  `xml:"retracted,omitempty"`
		ApplyTo    *applyToEl    `xml:"apply-to,omitempty"`
		Reactions  *reactionsEl  `xml:"reactions,omitempty"`
		Reply      *replyEl      `xml:"reply,omitempty"`
		Fallback   []fallbackEl  `xml:"fallback,omitempty"`
		Store      *storeEl      `xml:"store,omitempty"`
		OriginID   *originIDEl   `xml:"origin-id,omitempty"`
		StanzaID   *stanzaIDEl   `xml:"stanza-id,omitempty"`
		OccupantID *occupantIDEl `xml:"occupant-id,omitempty"`
		Markable   *markableEl   `xml:"markable,omitempty"`
		X          *archivedX    `xml:"http://jabber.org/protocol/muc#user x,omitempty"`
		Delay      *delayEl      `xml:"delay,omitempty"`
		// Extra is written as it is: relOut.Extra.
		Extra []byte `xml:",innerxml"`
	}
)

// retractFallback is the body a retraction carries for clients without
// XEP-0424.
const retractFallback = "This person attempted to retract a previous message, but it's unsupported by your client."

// relStanza encodes m from from (room@domain/nick, or the room's bare
// JID for a moderation) to to; roomJID is the room's JID as to knows it
// (for reply and moderator addresses). Every text is escaped.
func relStanza(from, to, roomJID string, m relOut) []byte {
	return mustMarshal(relMessageOf(from, to, roomJID, m))
}

// chatRelStanza encodes m as a 1:1 chat from a Matrix user's JID to an
// XMPP user: the Matrix user's JID gave its stanza-id, and a reply names
// its author by m.ReplyJID.
func chatRelStanza(from, to string, m relOut) []byte {
	s := relMessageOf(from, to, from, m)
	s.Type = "chat"
	return mustMarshal(s)
}

// relMessageOf is the message relStanza encodes (to "": none, as in a
// MAM result).
func relMessageOf(from, to, roomJID string, m relOut) relMessage {
	s := relMessage{XMLName: xml.Name{Local: "message"}, From: from, To: to, ID: m.ID, Type: "groupchat", Body: m.Body, Extra: m.Extra}
	if m.Replace != "" {
		s.Replace = &idAttrEl{XMLName: xml.Name{Space: nsCorrect, Local: "replace"}, ID: m.Replace}
	}
	if m.Retract != "" {
		s.Retract = &retractEl{ID: m.Retract}
		s.ApplyTo = &applyToEl{ID: m.Retract}
		if m.ModeratedBy != "" {
			by := nickJID(roomJID, m.ModeratedBy)
			s.Retract.Moderated, s.Retract.Reason = &moderatedEl{By: by}, m.Reason
			s.ApplyTo.Moderated = &moderated0El{By: by, Reason: m.Reason}
		} else {
			s.ApplyTo.Retract = &retract0El{}
			if s.Body == nil {
				fb := retractFallback
				s.Body = &fb
			}
			s.Fallback = append(s.Fallback, fallbackEl{For: nsRetract})
		}
		s.Store = &storeEl{}
	}
	if m.HasReactions {
		s.Reactions = &reactionsEl{ID: m.ReactionsTo, Reaction: m.Reactions}
		s.Store = &storeEl{}
	}
	if m.ReplyID != "" {
		s.Reply = &replyEl{ID: m.ReplyID, To: m.ReplyJID}
		if m.ReplyNick != "" && m.ReplyJID == "" {
			s.Reply.To = nickJID(roomJID, m.ReplyNick)
		}
		if m.ReplyQuote > 0 {
			s.Fallback = append(s.Fallback, fallbackEl{For: nsReply, Body: []fallbackBodyEl{{Start: 0, End: m.ReplyQuote}}})
		}
	}
	if m.Origin != "" {
		s.OriginID = &originIDEl{ID: m.Origin}
	}
	if m.StanzaID != "" {
		s.StanzaID = &stanzaIDEl{ID: m.StanzaID, By: roomJID}
	}
	if m.OccupantID != "" {
		s.OccupantID = &occupantIDEl{ID: m.OccupantID}
	}
	if m.Markable {
		s.Markable = &markableEl{}
	}
	if m.Real != "" {
		s.X = &archivedX{}
		s.X.Item.JID = m.Real
	}
	if !m.Delayed.IsZero() {
		s.Delay = &delayEl{From: roomJID, Stamp: stamp(m.Delayed)}
	}
	if t := m.Tombstone; t != nil {
		s.Body, s.Extra, s.Reply, s.Fallback, s.Markable = nil, nil, nil, nil, nil
		s.Retracted = &retractedEl{ID: t.ID, Stamp: stamp(t.At)}
		if t.ModeratedBy != "" {
			s.Retracted.Moderated = &moderatedEl{By: nickJID(roomJID, t.ModeratedBy)}
		}
	}
	return s
}
