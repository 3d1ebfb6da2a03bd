package xmpp

import (
	"context"

	"github.com/causewaybridge/causeway/matrix"
)

// Matrix users' avatars in reverse portals (issue 10 §6): the presences
// of their occupants carry the XEP-0153 hash of their Matrix avatar,
// looked up and served as for hosted rooms (mxavatars.go: the hash;
// avatars.go: the vCard of their JID on the component, which the MUC
// asks when a client asks the occupant's vCard). Until the hash is
// known a presence carries no vCard-update element; once it is, the
// occupant's presence is sent again with it.

// photoChanged gives u's occupants the avatar hash hash (nil: none
// known or usable) and tells the MUCs where it changed.
func (rv *reverse) photoChanged(ctx context.Context, u matrix.UserID, hash *string) {
	var out [][]byte
	rv.mu.Lock()
	for _, rp := range rv.byRoom {
		if c := rp.clients[u]; c != nil {
			if b := c.setPhoto(hash); b != nil {
				out = append(out, b)
			}
		}
	}
	rv.mu.Unlock()
	for _, b := range out {
		rv.g.enqueue(ctx, b)
	}
}
