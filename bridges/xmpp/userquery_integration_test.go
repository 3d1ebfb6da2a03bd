//go:build integration

package xmpp

import (
	"context"
	"testing"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// checkUserQuery: on Dendrite, the puppet of a JID the bridge never saw
// exists as soon as a Matrix client looks it up (the homeserver's user
// query reaches the module through the core): its profile is named after
// the JID and inviting it into room works; a puppet ID that is no JID
// does not exist.
func checkUserQuery(ctx context.Context, t *testing.T, carol *integration.Client, room matrix.RoomID) {
	t.Helper()
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := users.Format(puppet.Values{"name": "fresh@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	p, err := carol.Profile(ctx, fresh)
	if err != nil {
		t.Fatalf("the profile of %s: %v", fresh, err)
	}
	if p.Displayname != "fresh@"+integration.ProsodyHost {
		t.Fatalf("the profile of %s: %+v", fresh, p)
	}
	if err := carol.Invite(ctx, room, fresh); err != nil {
		t.Fatalf("invite %s: %v", fresh, err)
	}
	if _, err := carol.WaitForMembership(ctx, room, fresh, "invite"); err != nil {
		t.Fatal(err)
	}
	if p, err := carol.Profile(ctx, "@_xmpp_nojid:localhost"); err == nil {
		t.Fatalf("a puppet that is no JID exists: %+v", p)
	}
}
