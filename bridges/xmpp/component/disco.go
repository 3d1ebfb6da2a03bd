package component

import (
	"encoding/xml"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

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
}

type discoItemsQuery struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/disco#items query"`
	Node    string   `xml:"node,attr,omitempty"`
}

// discoInfo answers disco#info per JID: the domain answers with
// [DomainIdentities] and [DomainFeatures]; nodes and other JIDs do not
// exist yet.
func (h *handler) discoInfo(st *Stanza, to jid.JID, typ string, q xml.StartElement) *reply {
	if r := h.discoCheck(st, to, typ, q); r != nil {
		return r
	}
	out := discoInfoQuery{Identities: DomainIdentities()}
	for _, f := range DomainFeatures() {
		out.Features = append(out.Features, discoFeature{Var: f})
	}
	return h.discoResult(st, to, out)
}

// discoItems answers disco#items: the domain has no items yet (the room
// list comes with the rooms).
func (h *handler) discoItems(st *Stanza, to jid.JID, typ string, q xml.StartElement) *reply {
	if r := h.discoCheck(st, to, typ, q); r != nil {
		return r
	}
	return h.discoResult(st, to, discoItemsQuery{})
}

// discoCheck returns the error reply for a disco query that is not a get
// on the domain without a node, or nil.
func (h *handler) discoCheck(st *Stanza, to jid.JID, typ string, q xml.StartElement) *reply {
	if typ != string(stanza.GetIQ) {
		r := errorReply(st, to.String(), stanza.Modify, stanza.BadRequest, "disco queries are IQ gets")
		return &r
	}
	node := ""
	for _, a := range q.Attr {
		if a.Name.Local == "node" {
			node = a.Value
		}
	}
	if !to.Equal(h.domain) || node != "" {
		r := errorReply(st, to.String(), stanza.Cancel, stanza.ItemNotFound, "")
		return &r
	}
	return nil
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
