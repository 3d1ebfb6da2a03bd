package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// History of reverse portals: the MUC's XEP-0313 archive, asked by the
// component (from its domain) with RSM pages from the newest backwards,
// posted with the messages' original times. The archive's results come
// as messages before the query's answer; mamRoute collects them by
// queryid for the waiting query.

// Namespaces of the reverse portals' queries.
const (
	nsMAM       = "urn:xmpp:mam:2"
	nsRSM       = "http://jabber.org/protocol/rsm"
	nsDelay     = "urn:xmpp:delay"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	// mamPageSize is the most messages asked for in one query.
	mamPageSize = 100
)

// mucMessage is what the bridge reads of a MUC's groupchat message.
type mucMessage struct {
	Nick    string // the sender's nick
	ID      string // the sender's id (the stanza's id attribute)
	Replace string // the id of the message this one corrects (XEP-0308)
	Retract string // the id of the message this one retracts (XEP-0424)
	// HasReactions: the message carries its sender's whole set of
	// Reactions to the message of stanza-id ReactionsTo (XEP-0444).
	HasReactions bool
	ReactionsTo  string
	Reactions    []string
	// ReplyID is the stanza-id of the message this one replies to
	// (XEP-0461), Fallbacks the body's fallback ranges.
	ReplyID   string
	Fallbacks []fallbackRange
	Body      string
	In        inbound // body, XHTML-IM and OOB link, for Matrix
	Subject   *string
	StanzaID  string // the MUC's stanza-id (by the room), or the archive id
	Archived  bool   // StanzaID is the MUC's (an archive id)
	OriginID  string
	Stamp     time.Time // XEP-0203 delay, zero when live
}

// mamItem is one message of an archive query's results.
type mamItem struct {
	Nick string
	JID  string // the sender's real JID, when the room shows it
	Msg  mucMessage
}

// mamCollect gathers the results of one query.
type mamCollect struct {
	muc   string
	items []mamItem
}

// parseMUCMessage reads a groupchat message of muc.
func parseMUCMessage(st *component.Stanza, muc string) mucMessage {
	m := readMessage(st.Inner, muc)
	ext := parseExt(st.Inner)
	m.In, m.ID, m.Replace, m.Retract = inboundOf(st), st.Attr("id"), ext.Replace, ext.Retract
	m.HasReactions, m.ReactionsTo, m.Reactions = ext.HasReactions, ext.ReactionsTo, ext.Reactions
	m.ReplyID, m.Fallbacks = ext.ReplyID, ext.Fallbacks
	return m
}

// readMessage reads the content tokens of a message (its children at the
// top level of toks); stanza-ids count only when by is the room.
func readMessage(toks []xml.Token, muc string) mucMessage {
	var m mucMessage
	for _, c := range topElements(toks) {
		switch name := c.start.Name; {
		case name.Local == "body" && (name.Space == "" || name.Space == "jabber:client" || name.Space == "jabber:component:accept"):
			m.Body = text(c.inner)
		case name.Local == "subject":
			s := text(c.inner)
			m.Subject = &s
		case name.Space == nsStanzaID && name.Local == "stanza-id" && attr(c.start, "by") == muc:
			m.StanzaID, m.Archived = attr(c.start, "id"), true
		case name.Space == nsStanzaID && name.Local == "origin-id":
			m.OriginID = attr(c.start, "id")
		case name.Space == nsDelay && name.Local == "delay":
			if t, err := time.Parse(time.RFC3339, attr(c.start, "stamp")); err == nil {
				m.Stamp = t
			}
		}
	}
	return m
}

// topElement is a top-level element of a token list with its content.
type topElement struct {
	start xml.StartElement
	inner []xml.Token
}

// topElements splits toks into its top-level elements.
func topElements(toks []xml.Token) []topElement {
	var out []topElement
	depth, from := 0, 0
	for i, t := range toks {
		switch t.(type) {
		case xml.StartElement:
			if depth == 0 {
				from = i
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				out = append(out, topElement{start: toks[from].(xml.StartElement), inner: toks[from+1 : i]})
			}
		}
	}
	return out
}

// element returns the first element at path (local names, from the top
// level of toks).
func element(toks []xml.Token, path ...string) (topElement, bool) {
	for _, c := range topElements(toks) {
		if c.start.Name.Local != path[0] {
			continue
		}
		if len(path) == 1 {
			return c, true
		}
		if e, ok := element(c.inner, path[1:]...); ok {
			return e, true
		}
	}
	return topElement{}, false
}

// childrenOf returns the start elements named child directly inside the
// first top-level element named parent.
func childrenOf(toks []xml.Token, parent, child string) []xml.StartElement {
	p, ok := element(toks, parent)
	if !ok {
		return nil
	}
	var out []xml.StartElement
	for _, c := range topElements(p.inner) {
		if c.start.Name.Local == child {
			out = append(out, c.start)
		}
	}
	return out
}

// text is the character data directly in toks.
func text(toks []xml.Token) string {
	var b strings.Builder
	depth := 0
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				b.Write(t)
			}
		}
	}
	return b.String()
}

// mamRoute takes the results of the bridge's archive queries: messages
// with a <result/> whose queryid a query waits for, from its MUC.
func (rv *reverse) mamRoute(st *component.Stanza, from, _ jid.JID) bool {
	res, ok := element(st.Inner, "result")
	if !ok || res.start.Name.Space != nsMAM {
		return false
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	col := rv.mam[attr(res.start, "queryid")]
	if col == nil || from.String() != col.muc {
		return false
	}
	fwd, ok := element(res.inner, "forwarded")
	if !ok {
		return true
	}
	msg, ok := element(fwd.inner, "message")
	if !ok {
		return true
	}
	m := readMessage(msg.inner, col.muc)
	m.In = inboundOf(&component.Stanza{Start: msg.start, Inner: msg.inner})
	ext := parseExt(msg.inner)
	m.ID, m.Replace, m.Retract = attr(msg.start, "id"), ext.Replace, ext.Retract
	m.HasReactions, m.ReactionsTo, m.Reactions = ext.HasReactions, ext.ReactionsTo, ext.Reactions
	m.ReplyID, m.Fallbacks = ext.ReplyID, ext.Fallbacks
	m.StanzaID, m.Archived = attr(res.start, "id"), true
	if d, ok := element(fwd.inner, "delay"); ok {
		if t, err := time.Parse(time.RFC3339, attr(d.start, "stamp")); err == nil {
			m.Stamp = t
		}
	}
	nick := ""
	if j, err := jid.Parse(attr(msg.start, "from")); err == nil {
		nick = j.Resourcepart()
	}
	m.Nick = nick
	real := ""
	for _, x := range topElements(msg.inner) {
		if x.start.Name.Space == nsMUCUser && x.start.Name.Local == "x" {
			if it, ok := element(x.inner, "item"); ok {
				real = attr(it.start, "jid")
			}
		}
	}
	col.items = append(col.items, mamItem{Nick: nick, JID: real, Msg: m})
	return true
}

// rsmPage is an RSM request: Max items before the archive id Before
// (pointing to "": the last page), or after the archive id After.
type rsmPage struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/rsm set"`
	Max     int      `xml:"max"`
	Before  *string  `xml:"before"`
	After   *string  `xml:"after"`
}

// mamQuery is an archive query with an RSM page.
type mamQuery struct {
	XMLName xml.Name `xml:"iq"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr"`
	Type    string   `xml:"type,attr"`
	Query   struct {
		XMLName xml.Name `xml:"urn:xmpp:mam:2 query"`
		QueryID string   `xml:"queryid,attr"`
		Set     rsmPage
	}
}

// mamPage asks muc for the page set, and returns its messages oldest
// first, the archive ids of the first and last, and whether the archive
// has no more in that direction.
func (rv *reverse) mamPage(ctx context.Context, muc string, set rsmPage) (items []mamItem, first, last string, complete bool, err error) {
	q := mamQuery{From: rv.m.domain.String(), To: muc, ID: randomID(), Type: "set"}
	q.Query.QueryID, q.Query.Set = randomID(), set
	col := &mamCollect{muc: muc}
	rv.mu.Lock()
	rv.mam[q.Query.QueryID] = col
	rv.mu.Unlock()
	defer func() {
		rv.mu.Lock()
		delete(rv.mam, q.Query.QueryID)
		rv.mu.Unlock()
	}()
	st, err := rv.m.conn.SendIQ(ctx, decoder(mustMarshal(q)))
	if err != nil {
		return nil, "", "", false, fmt.Errorf("archive query to %s: %w", muc, err)
	}
	if st.Attr("type") != "result" {
		p := parseMUCPresence(st, jid.JID{})
		return nil, "", "", false, fmt.Errorf("archive query to %s: refused (%s %s)", muc, p.Cond, p.Text)
	}
	fin, _ := element(st.Inner, "fin")
	if f, ok := element(fin.inner, "set", "first"); ok {
		first = text(f.inner)
	}
	if l, ok := element(fin.inner, "set", "last"); ok {
		last = text(l.inner)
	}
	rv.mu.Lock()
	items = col.items
	rv.mu.Unlock()
	return items, first, last, attr(fin.start, "complete") == "true", nil
}

// revLastKey is the KV key of the archive id of the newest message of a
// portal's MUC the bridge took, where a catch-up starts.
func revLastKey(room matrix.RoomID) string { return "xmuc/last/" + string(room) }

// catchUp posts what rp's MUC said after the newest message the bridge
// took (its archive id, stored), page after page, at most
// maxMUCBackfill messages; without a stored id, or when the archive no
// longer has it, it backfills the newest n instead.
func (rv *reverse) catchUp(ctx context.Context, rp *revPortal, n int) {
	b, err := rv.m.host.KV().Get(ctx, revLastKey(rp.room))
	if err == nil {
		err = rv.catchUpAfter(ctx, rp, string(b))
		if err == nil {
			return
		}
		rv.log.Info("xmpp: could not catch up from where the bridge left; reading the newest instead", "muc", rp.muc, "err", err)
	}
	rv.backfill(ctx, rp, n)
}

// catchUpAfter posts what rp's MUC archived after the archive id after.
func (rv *reverse) catchUpAfter(ctx context.Context, rp *revPortal, after string) error {
	rp.fill.Lock()
	defer rp.fill.Unlock()
	posted := 0
	for total := 0; total < maxMUCBackfill; {
		a := after
		items, _, last, complete, err := rv.mamPage(ctx, rp.muc, rsmPage{Max: min(mamPageSize, maxMUCBackfill-total), After: &a})
		if err != nil {
			return err
		}
		posted += rv.postItems(ctx, rp, items)
		total += len(items)
		if complete || len(items) == 0 || last == "" {
			break
		}
		after = last
	}
	rv.log.Info("xmpp: MUC caught up", "muc", rp.muc, "room", rp.room, "messages", posted)
	return nil
}

// backfill posts the newest n messages of rp's archive to the portal
// room, oldest first, with their original times, from the senders'
// puppets (from the real JID when the archive shows it, else from
// room@service/nick). Messages of the bridge's own occupants (origin-id
// an event ID, a real JID on the component, or the nick of one of them)
// are not posted back; messages already
// posted (live, or by an earlier backfill) are not posted again.
func (rv *reverse) backfill(ctx context.Context, rp *revPortal, n int) {
	rp.fill.Lock()
	defer rp.fill.Unlock()
	var all []mamItem
	before := ""
	for len(all) < n {
		b := before
		items, first, _, complete, err := rv.mamPage(ctx, rp.muc, rsmPage{Max: min(mamPageSize, n-len(all)), Before: &b})
		if err != nil {
			rv.log.Warn("xmpp: could not read a MUC's archive", "muc", rp.muc, "err", err)
			break
		}
		all = append(items, all...)
		if complete || len(items) == 0 || first == "" {
			break
		}
		before = first
	}
	if len(all) > n {
		all = all[len(all)-n:]
	}
	posted := rv.postItems(ctx, rp, all)
	rv.log.Info("xmpp: MUC history backfilled", "muc", rp.muc, "room", rp.room, "messages", posted)
}

// postItems posts archive results in order (see backfill) and returns
// how many it posted.
func (rv *reverse) postItems(ctx context.Context, rp *revPortal, all []mamItem) int {
	posted := 0
	for _, it := range all {
		if (it.Msg.Body == "" && it.Msg.Retract == "" && !it.Msg.HasReactions) || it.Nick == "" || it.Msg.StanzaID == "" || strings.HasPrefix(it.Msg.OriginID, "$") {
			continue
		}
		rv.mu.Lock()
		if rp.ours(it.Nick) {
			rv.mu.Unlock()
			continue
		}
		rp.see(it.Msg.StanzaID)
		var pu matrix.UserID
		if o := rp.remote[it.Nick]; o != nil {
			pu = o.puppet
		}
		rv.mu.Unlock()
		if pu == "" {
			if rv.onDomain(it.JID) {
				continue // one of the bridge's occupants
			}
			p, err := rv.remotePuppet(rp, it.Nick, it.JID)
			if err != nil {
				continue
			}
			pu = p
		}
		rv.post(ctx, rp, pu, it.Nick, it.Msg)
		posted++
	}
	return posted
}

// discoQuery is a disco#info request.
type discoQuery struct {
	XMLName xml.Name       `xml:"iq"`
	From    string         `xml:"from,attr"`
	To      string         `xml:"to,attr"`
	ID      string         `xml:"id,attr,omitempty"`
	Type    string         `xml:"type,attr"`
	Query   discoInfoQuery `xml:"query"`
}

type discoInfoQuery struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/disco#info query"`
}
