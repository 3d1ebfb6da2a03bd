package xmpp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// QueryUser implements bridges.UserQuerier: the homeserver asks whether
// a user of the module's namespace exists (GET
// /_matrix/app/v1/users/{userId}), as when a Matrix user invites or looks
// up an XMPP user's puppet that the bridge has not made yet. A puppet
// whose localpart is the escaped form of a valid bare JID with a
// localpart (user_template; the form Format gives, so that one JID has
// one puppet) exists: it is registered and named after the JID, unless
// it has a name of its own already. Anything else does not exist: full
// JIDs are the puppets of anonymous MUC occupants, which the bridge
// makes itself.
func (m *Module) QueryUser(ctx context.Context, id matrix.UserID) (bool, error) {
	real, ok := m.queriedJID(id)
	if !ok || m.host == nil {
		return false, nil
	}
	in := m.host.Matrix().Intent(id)
	if err := in.EnsureRegistered(ctx); err != nil {
		return false, fmt.Errorf("xmpp: register %s: %w", id, err)
	}
	cur, err := in.Displayname(ctx, id)
	switch {
	case errors.Is(err, intent.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("xmpp: read the name of %s: %w", id, err)
	case cur != "" && !strings.HasPrefix(string(id), "@"+cur+":"):
		return true, nil // named already (a nick it had in a MUC or chat)
	}
	if err := in.SetDisplayname(ctx, real); err != nil {
		return false, fmt.Errorf("xmpp: name %s: %w", id, err)
	}
	return true, nil
}

// queriedJID returns the bare JID whose puppet id is, when id is the
// puppet of a valid bare JID with a localpart, in the form Format gives.
func (m *Module) queriedJID(id matrix.UserID) (string, bool) {
	v, err := m.users.Parse(id)
	if err != nil {
		return "", false
	}
	j, err := jid.Parse(v["name"])
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", false
	}
	real := j.String()
	if again, err := m.users.Format(puppet.Values{"name": real}); err != nil || again != id {
		return "", false
	}
	return real, true
}

var _ bridges.UserQuerier = (*Module)(nil)
