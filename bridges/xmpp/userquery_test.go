package xmpp

import (
	"context"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// TestQueryUser: the homeserver's query for a user of the namespace
// finds the puppet of any valid bare JID, registers it and names it
// after the JID (keeping a name it has); anything else (no JID, a JID
// without a localpart or with a resource, a non-canonical form, another
// namespace) does not exist and registers nothing.
func TestQueryUser(t *testing.T) {
	ctx := context.Background()
	m, _, h := testGateway(t)
	named := matrix.UserID("@_xmpp_erin=40x.org:localhost")
	if err := h.Matrix().Intent(named).EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	h.HS.SetProfile(named, "displayname", "Erin")
	for i, c := range []struct {
		id     matrix.UserID
		exists bool
		name   string
	}{
		0: {"@_xmpp_dave=40x.org:localhost", true, "dave@x.org"},
		1: {named, true, "Erin"},
		2: {"@_xmpp_x.org:localhost", false, ""},
		3: {"@_xmpp_dave=40x.org/phone:localhost", false, ""},
		4: {"@_xmpp_dave=40:localhost", false, ""},
		5: {"@_xmpp_=40x.org:localhost", false, ""},
		6: {"@_xmpp_DAVE=40x.org:localhost", false, ""},
		7: {"@dave:localhost", false, ""},
		8: {"@_xmpp_dave=40x.org:elsewhere", false, ""},
	} {
		ok, err := m.QueryUser(ctx, c.id)
		if err != nil || ok != c.exists {
			t.Errorf("%d: QueryUser(%s) = %v, %v; want %v", i, c.id, ok, err, c.exists)
			continue
		}
		if got := h.HS.Registered(c.id); got != c.exists {
			t.Errorf("%d: %s registered: %v", i, c.id, got)
		}
		if c.exists {
			if got := h.HS.Profile(c.id, "displayname"); got != c.name {
				t.Errorf("%d: %s is named %q, want %q", i, c.id, got, c.name)
			}
		}
	}
}
