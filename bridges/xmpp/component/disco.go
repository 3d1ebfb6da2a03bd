package component

import (
	"context"
	"encoding/xml"
	"errors"
	"strconv"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
)

// ErrNoRoom is what [Rooms.Room] returns for a room that does not exist.
var ErrNoRoom = errors.New("no such Matrix room")

// Rooms tells the component about Matrix rooms for service discovery.
// Its methods ask the homeserver, so they are called on goroutines of
// their own, never on the session's receive goroutine, with a deadline.
type Rooms interface {
	// Room returns the room that id (a Matrix room alias or room ID)
	// names, or [ErrNoRoom]; any other error is a failure to find out.
	Room(ctx context.Context, id string) (RoomInfo, error)
	// PublicRooms returns up to limit rooms of the homeserver's public
	// room directory.
	PublicRooms(ctx context.Context, limit int) ([]RoomInfo, error)
}

// RoomInfo is what disco says about a Matrix room.
type RoomInfo struct {
	// ID is the room's alias (preferred) or room ID; its JID is
	// address.Localpart(ID)@domain.
	ID string
	// Name is the room's name (default: ID).
	Name string
	// Topic is the room's topic ("" when it has none or it is unknown).
	Topic string
	// Occupants is how many occupants the room has: its joined Matrix
	// members, the XMPP occupants' puppets among them (so none counts
	// twice), without the bridge bot. It is told only when
	// OccupantsKnown.
	Occupants      int
	OccupantsKnown bool
}

// MaxDiscoItems bounds the rooms disco#items on the domain lists.
const MaxDiscoItems = 500

// RoomFeatures returns the features a room's JID announces: those that
// hold today. Matrix rooms outlive their members (muc_persistent), have
// no password (muc_unsecured), show every occupant's JID
// (muc_nonanonymous: Matrix membership is public), give each message a
// stanza-id by the room (urn:xmpp:sid:0), answer occupants' self-pings
// themselves (XEP-0410 muc#self-ping-optimization), mark every
// occupant's presences and messages with a stable occupant-id (XEP-0421),
// serve their archive from Matrix (XEP-0313 urn:xmpp:mam:2 with
// urn:xmpp:mam:2#extended: before-id, after-id, ids, flipped pages,
// metadata), and take and send corrections (XEP-0308), retractions
// (XEP-0424, both namespaces), moderation (XEP-0425, both namespaces),
// reactions (XEP-0444) and replies (XEP-0461), bridged to Matrix edits,
// redactions, annotations and m.in_reply_to (bridges/xmpp/relations.go).
// Planned, announced once they work (issue 10 §2):
// muc_open/muc_membersonly and muc_public/muc_hidden from join rules and
// directory visibility, muc#stable_id (ids kept across edits). The
// muc#roominfo form (XEP-0128) follows the features.
func RoomFeatures() []string {
	return []string{nsMUC, nsDiscoInfo, nsDiscoItems, "muc_persistent", "muc_unsecured", "muc_nonanonymous", "urn:xmpp:sid:0",
		nsSelfPingOptimization, nsOccupantID, nsMAM, nsMAMExtended, "urn:xmpp:message-correct:0", "urn:xmpp:message-retract:1",
		"urn:xmpp:message-retract:0", "urn:xmpp:message-moderate:1", "urn:xmpp:message-moderate:0", "urn:xmpp:reactions:0",
		"urn:xmpp:reply:0"}
}

// Namespaces a room announces.
const (
	nsSelfPingOptimization = "http://jabber.org/protocol/muc#self-ping-optimization"
	nsOccupantID           = "urn:xmpp:occupant-id:0"
	nsMAM                  = "urn:xmpp:mam:2"
	nsMAMExtended          = "urn:xmpp:mam:2#extended"
	nsRoomInfo             = "http://jabber.org/protocol/muc#roominfo"
)

// dataForm is an XEP-0004 form of type result (XEP-0128 extended info).
type dataForm struct {
	XMLName xml.Name    `xml:"jabber:x:data x"`
	Type    string      `xml:"type,attr"`
	Fields  []formField `xml:"field"`
}

type formField struct {
	Var   string `xml:"var,attr"`
	Type  string `xml:"type,attr,omitempty"`
	Label string `xml:"label,attr,omitempty"`
	Value string `xml:"value"`
}

// roomInfoForm is the muc#roominfo form of a room (XEP-0045 §6.4): its
// name, topic and, when known, the number of occupants.
func roomInfoForm(info RoomInfo) dataForm {
	f := dataForm{Type: "result", Fields: []formField{
		{Var: "FORM_TYPE", Type: "hidden", Value: nsRoomInfo},
		{Var: "muc#roomconfig_roomname", Label: "Natural-Language Room Name", Value: info.Name},
		{Var: "muc#roominfo_description", Label: "Description", Value: info.Topic},
	}}
	if info.OccupantsKnown {
		f.Fields = append(f.Fields, formField{Var: "muc#roominfo_occupants", Label: "Number of occupants",
			Value: strconv.Itoa(info.Occupants)})
	}
	return f
}

type discoItem struct {
	JID  string `xml:"jid,attr"`
	Name string `xml:"name,attr,omitempty"`
}

// Identity is one XEP-0030 identity.
type Identity struct {
	Category string `xml:"category,attr"`
	Type     string `xml:"type,attr"`
	Name     string `xml:"name,attr,omitempty"`
}

// DomainIdentities returns the identities of the component's domain: a
// conference service (Matrix rooms as MUCs) and a gateway to Matrix.
func DomainIdentities() []Identity {
	return []Identity{
		{Category: "conference", Type: "text", Name: "Matrix rooms"},
		{Category: "gateway", Type: "matrix", Name: "Matrix"},
	}
}

// UserIdentities returns the identities of a Matrix user's JID: a chat
// client on the Matrix side of the gateway.
func UserIdentities() []Identity {
	return []Identity{{Category: "client", Type: "pc", Name: "Matrix"}}
}

// UserFeatures returns the features a Matrix user's JID announces, what
// 1:1 chats with it carry both ways (bridges/xmpp/dm.go,
// dm_relations.go): chat states (XEP-0085), chat markers (XEP-0333),
// corrections (XEP-0308), retractions (XEP-0424), reactions (XEP-0444),
// replies (XEP-0461), stable ids (XEP-0359), vCards (XEP-0054) and nicks
// (XEP-0172). Clients look for them before they offer a feature.
func UserFeatures() []string {
	return []string{nsDiscoInfo, "http://jabber.org/protocol/chatstates", "urn:xmpp:chat-markers:0",
		"urn:xmpp:message-correct:0", "urn:xmpp:message-retract:1", "urn:xmpp:message-retract:0", "urn:xmpp:reactions:0",
		"urn:xmpp:reply:0", "urn:xmpp:sid:0", "vcard-temp", "http://jabber.org/protocol/nick",
		"urn:xmpp:avatar:metadata+notify"} // XEP-0084 notifications (bridges/xmpp/pepfetch.go)
}

// DomainFeatures returns the features the component's domain announces.
func DomainFeatures() []string { return []string{nsDiscoInfo, nsDiscoItems, nsPing} }

type discoFeature struct {
	Var string `xml:"var,attr"`
}

type discoInfoQuery struct {
	XMLName    xml.Name       `xml:"http://jabber.org/protocol/disco#info query"`
	Node       string         `xml:"node,attr,omitempty"`
	Identities []Identity     `xml:"identity"`
	Features   []discoFeature `xml:"feature"`
	Forms      []dataForm     `xml:"x"`
}

type discoItemsQuery struct {
	XMLName xml.Name    `xml:"http://jabber.org/protocol/disco#items query"`
	Node    string      `xml:"node,attr,omitempty"`
	Items   []discoItem `xml:"item"`
}

// discoInfo answers disco#info per JID: the domain answers with
// [DomainIdentities] and [DomainFeatures]; the JID of an existing Matrix
// room answers as a MUC (looked up later, see [handler.later]); a Matrix
// user's bare JID with [UserIdentities] and [UserFeatures] (whether the
// user exists is told by its chats' errors), also for the node its
// presences name ([CapsNode]#[UserCapsVer]); other nodes and JIDs do not
// exist.
func (h *handler) discoInfo(st *Stanza, to jid.JID, typ string, q xml.StartElement) *reply {
	if node := nodeOf(q); isUserJID(to) && typ == string(stanza.GetIQ) && (node == "" || node == CapsNode+"#"+UserCapsVer()) {
		out := discoInfoQuery{Node: node, Identities: UserIdentities()}
		for _, f := range UserFeatures() {
			out.Features = append(out.Features, discoFeature{Var: f})
		}
		return h.discoResult(st, to, out)
	}
	if r, id := h.discoCheck(st, to, typ, q); r != nil {
		return r
	} else if id != "" {
		return h.later(st, to, func(ctx context.Context) *reply {
			info, err := h.rooms.Room(ctx, id)
			if err != nil {
				return h.roomError(st, to, id, err)
			}
			out := discoInfoQuery{Identities: []Identity{{Category: "conference", Type: "text", Name: info.Name}}}
			for _, f := range RoomFeatures() {
				out.Features = append(out.Features, discoFeature{Var: f})
			}
			out.Forms = []dataForm{roomInfoForm(info)}
			return h.discoResult(st, to, out)
		})
	}
	out := discoInfoQuery{Identities: DomainIdentities()}
	for _, f := range DomainFeatures() {
		out.Features = append(out.Features, discoFeature{Var: f})
	}
	return h.discoResult(st, to, out)
}

// discoItems answers disco#items: the domain lists the homeserver's
// public rooms (up to [MaxDiscoItems]), a room has no items (occupants
// are not listed).
func (h *handler) discoItems(st *Stanza, to jid.JID, typ string, q xml.StartElement) *reply {
	if r, id := h.discoCheck(st, to, typ, q); r != nil {
		return r
	} else if id != "" {
		return h.later(st, to, func(ctx context.Context) *reply {
			if _, err := h.rooms.Room(ctx, id); err != nil {
				return h.roomError(st, to, id, err)
			}
			return h.discoResult(st, to, discoItemsQuery{})
		})
	}
	if h.rooms == nil {
		return h.discoResult(st, to, discoItemsQuery{})
	}
	return h.later(st, to, func(ctx context.Context) *reply {
		rooms, err := h.rooms.PublicRooms(ctx, MaxDiscoItems)
		if err != nil {
			h.log.Warn("xmpp: could not list the public rooms", "err", err)
			r := errorReply(st, to.String(), stanza.Wait, stanza.RemoteServerTimeout, "the Matrix homeserver did not answer")
			return &r
		}
		out := discoItemsQuery{}
		for _, room := range rooms {
			local, err := address.Localpart(room.ID)
			if err != nil {
				continue
			}
			j, err := jid.New(local, h.domain.Domainpart(), "")
			if err != nil {
				continue
			}
			out.Items = append(out.Items, discoItem{JID: j.String(), Name: room.Name})
		}
		return h.discoResult(st, to, out)
	})
}

// roomError is the answer to a query about room id that failed with err.
func (h *handler) roomError(st *Stanza, to jid.JID, id string, err error) *reply {
	if errors.Is(err, ErrNoRoom) {
		r := errorReply(st, to.String(), stanza.Cancel, stanza.ItemNotFound, "")
		return &r
	}
	h.log.Warn("xmpp: could not look up a Matrix room", "room", id, "err", err)
	r := errorReply(st, to.String(), stanza.Wait, stanza.RemoteServerTimeout, "the Matrix homeserver did not answer")
	return &r
}

// discoCheck returns the error reply for a disco query that is not a get
// without a node on the domain or on the JID of a Matrix room, or nil;
// for a room's JID (when the handler knows rooms) it also returns the
// room's Matrix alias or ID.
func (h *handler) discoCheck(st *Stanza, to jid.JID, typ string, q xml.StartElement) (*reply, string) {
	if typ != string(stanza.GetIQ) {
		r := errorReply(st, to.String(), stanza.Modify, stanza.BadRequest, "disco queries are IQ gets")
		return &r, ""
	}
	node := nodeOf(q)
	notFound := func() (*reply, string) {
		r := errorReply(st, to.String(), stanza.Cancel, stanza.ItemNotFound, "")
		return &r, ""
	}
	if node != "" {
		return notFound()
	}
	if to.Equal(h.domain) {
		return nil, ""
	}
	if h.rooms == nil || to.Resourcepart() != "" {
		return notFound()
	}
	kind, id, err := address.Parse(to.Localpart())
	if err != nil || (kind != address.Alias && kind != address.RoomID) {
		return notFound()
	}
	return nil, id
}

// nodeOf returns the node a disco query asks for ("" for none).
func nodeOf(q xml.StartElement) string {
	for _, a := range q.Attr {
		if a.Name.Local == "node" {
			return a.Value
		}
	}
	return ""
}

// isUserJID reports whether to is a Matrix user's bare JID.
func isUserJID(to jid.JID) bool {
	if to.Localpart() == "" || to.Resourcepart() != "" {
		return false
	}
	kind, _, err := address.Parse(to.Localpart())
	return err == nil && kind == address.User
}

// discoResult wraps a query answer in an IQ result.
func (h *handler) discoResult(st *Stanza, to jid.JID, q any) *reply {
	b, err := xml.Marshal(q)
	if err != nil {
		r := errorReply(st, to.String(), stanza.Wait, stanza.InternalServerError, "")
		return &r
	}
	r := iqResult(st, to.String(), b)
	return &r
}
