//go:build integration

package xmpp

import (
	"context"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// checkReverseNotHosted: the reverse portal room (alias, of the MUC
// muc), although in the public directory, is not hosted by the
// component: an XMPP join to its alias's JID gets a cancel <gone/>
// redirecting to muc, and disco#items on the component's domain does not
// list it.
func checkReverseNotHosted(ctx context.Context, t *testing.T, carol *integration.Client, c *integration.XMPPClient,
	domain string, room matrix.RoomID, alias, muc string) {
	t.Helper()
	if v, err := carol.RoomVisibility(ctx, room); err != nil || v != "public" {
		t.Fatalf("the reverse portal's visibility: %q, %v", v, err)
	}
	local, err := address.Localpart(alias)
	if err != nil {
		t.Fatal(err)
	}
	roomJID := local + "@" + domain
	if err := c.Send(ctx, `<presence to='`+roomJID+`/Bob' id='rh1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	r, err := c.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.ID == "rh1" })
	if err != nil {
		t.Fatalf("the join to the reverse portal's JID: %v", err)
	}
	if r.Type != "error" || !strings.Contains(r.XML, "gone") || !strings.Contains(r.XML, ">xmpp:"+muc+"?join</") {
		t.Fatalf("the join to the reverse portal's JID: %s", r.XML)
	}
	items, err := c.IQ(ctx, "rh2", `<iq type='get' id='rh2' to='`+domain+`'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if err != nil || items.Type != "result" {
		t.Fatalf("disco#items: %v %s", err, items.XML)
	}
	roomIDLocal, err := address.Localpart(string(room))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(items.XML, local) || strings.Contains(items.XML, roomIDLocal) {
		t.Fatalf("disco#items lists the reverse portal: %s", items.XML)
	}
}
