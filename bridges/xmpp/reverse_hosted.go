package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// A reverse portal (reverse.go) is a public Matrix room, so its alias and
// room ID would also resolve as a hosted MUC on the component. The
// gateway does not host it: a join gets XEP-0045 §7.2's redirect, a
// presence error <gone/> whose text is the real MUC's xmpp: URI, and the
// component's disco#items room list leaves it out (rooms.go).

// reversedMUC returns the bare JID of the existing MUC whose reverse
// portal is room, if it is one.
func (g *gateway) reversedMUC(room matrix.RoomID) (string, bool) {
	rv := g.m.rev
	if rv == nil {
		return "", false
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rp := rv.byRoom[room]; rp != nil {
		return rp.muc, true
	}
	return "", false
}

// refuseReversed refuses a join of from to to, a JID of the reverse
// portal of muc, with a redirect to muc.
func (g *gateway) refuseReversed(ctx context.Context, st *component.Stanza, from, to jid.JID, muc string) {
	p := errorStanza{XMLName: xml.Name{Local: "presence"}, From: to.String(), To: from.String(), ID: st.Attr("id"), Type: "error",
		X: &mucX{}, Error: stanzaError{Type: "cancel", By: to.Bare().String()}}
	p.Error.Cond.XMLName = xml.Name{Space: nsStanzas, Local: "gone"}
	p.Error.Cond.Text = "xmpp:" + uriJID(muc) + "?join"
	p.Error.Text = &errorText{Text: fmt.Sprintf("this Matrix room is a portal of the XMPP room %s: join it there", muc)}
	g.enqueue(ctx, mustMarshal(p))
}

// uriJID writes a JID as RFC 5122 asks in an xmpp: URI: what is not an
// unreserved character, a sub-delimiter (but the ones the query and
// fragment use) or @ / : is percent-encoded.
func uriJID(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~!$()*+,;=@/:", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
