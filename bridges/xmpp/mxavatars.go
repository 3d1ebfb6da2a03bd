package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/causewaybridge/causeway/matrix"
)

// The XEP-0153 photo hash in Matrix members' presences, so that XMPP
// clients fetch their avatars (through the vCard of their occupant JID,
// avatars.go). The hash needs the image: the first time a member's
// presence is built, the bridge looks its avatar up in a lane of its own
// per user (global profile avatar, downloaded through the avatar cache,
// at most max_avatar_bytes) and, once the hash is known, sends the
// member's presence again to the occupants of every room it is shown
// in. Until then, and for members without a usable avatar, presences
// carry no hash. A member event (new avatar) looks it up again.

// mxPhoto is what the bridge knows of a Matrix user's avatar.
type mxPhoto struct {
	done bool   // looked up (else pending)
	hash string // SHA-1 of the image ("": none usable)
	// prev is the hash of the look-up before a pending one, when there
	// was one: a new hash is notified to subscribers (pepserve.go).
	prev *string
}

// matrixPhoto returns the photo hash of Matrix user u for its presence
// (nil while unknown or when it has no usable avatar), and looks it up
// the first time. Call with g.mu held.
func (g *gateway) matrixPhoto(u matrix.UserID) *string {
	p, ok := g.mxPhotos[u]
	if !ok {
		g.lookUpMatrixPhoto(u)
		return nil
	}
	if !p.done || p.hash == "" {
		return nil
	}
	h := p.hash
	return &h
}

// lookUpMatrixPhoto schedules the look-up of u's avatar hash. Call with
// g.mu held.
func (g *gateway) lookUpMatrixPhoto(u matrix.UserID) {
	if g.mxPhotos == nil {
		g.mxPhotos = map[matrix.UserID]mxPhoto{}
	}
	next := mxPhoto{}
	if old, ok := g.mxPhotos[u]; ok && old.done {
		h := old.hash
		next.prev = &h
	}
	g.mxPhotos[u] = next
	g.push("mxavatar/"+string(u), func() {
		delete(g.mxPhotos, u) // the lane is full: again next time
	}, func(ctx context.Context) { g.matrixPhotoLookup(ctx, u) })
}

// matrixPhotoLookup reads u's avatar, keeps its hash and, when it
// changed, sends u's presence again where it is shown.
func (g *gateway) matrixPhotoLookup(ctx context.Context, u matrix.UserID) {
	hash := ""
	photo, err := g.matrixAvatar(ctx, u) // pepserve.go
	if err != nil {
		g.log.Debug("xmpp: could not read a Matrix user's avatar", "user", u, "err", err)
	}
	if photo != nil {
		hash = photo.Hash
	}
	g.log.Debug("xmpp: a Matrix user's avatar looked up", "user", u, "hash", hash)
	g.mu.Lock()
	if old := g.mxPhotos[u]; old.prev != nil && *old.prev != hash {
		g.mu.Unlock()
		g.notifyAvatar(ctx, u, photo) // XEP-0084 subscribers (pepserve.go)
		g.mu.Lock()
	}
	old := g.mxPhotos[u]
	g.mxPhotos[u] = mxPhoto{done: true, hash: hash}
	if !(old.done && old.hash == hash || !old.done && hash == "") {
		for _, r := range g.rooms {
			mb := r.members[u]
			if mb == nil || !r.announced[u] {
				continue
			}
			g.toOthers(ctx, r, nil, func(o *occupant) []byte {
				return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", u, mb)
			})
		}
	}
	g.mu.Unlock()
	if g.m.rev != nil {
		g.m.rev.photoChanged(ctx, u, g.matrixPhotoOf(u)) // occupants in existing MUCs (reverse_avatars.go)
	}
}

// matrixPhotoOf is matrixPhoto for callers that do not hold g.mu.
func (g *gateway) matrixPhotoOf(u matrix.UserID) *string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.matrixPhoto(u)
}

// memberAvatarChanged follows a Matrix member event whose avatar may
// have changed: the hash is looked up again when the bridge knew one.
func (g *gateway) memberAvatarChanged(u matrix.UserID, c matrix.MemberContent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.mxPhotos[u]; ok && p.done && c.Membership == "join" {
		g.lookUpMatrixPhoto(u)
	}
}

// photoSum is the XEP-0153 hash of an image.
func photoSum(data []byte) string {
	s := sha1.Sum(data)
	return hex.EncodeToString(s[:])
}
