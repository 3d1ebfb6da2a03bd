package xmpp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// XEP-0421 occupant ids. Every presence and groupchat message of an
// occupant carries <occupant-id xmlns='urn:xmpp:occupant-id:0' id=…/>,
// the same for that occupant in that room whatever its nick, across
// joins and restarts, and different in every other room: the base64url
// of HMAC-SHA256(secret, room ID, user), where the user is the Matrix
// user ID of a Matrix member or the bare JID of an XMPP user, and the
// secret is made once and kept in the module's KV. Without the secret
// nobody can link ids across rooms or learn the user from one.
//
// Clients cannot choose their id: what the room sends is built anew
// (see stanzas.go), so an occupant-id in a client's message or presence
// never crosses.

// occSecretKey is the module KV key of the occupant-id secret.
const occSecretKey = "muc/idsecret"

type occupantIDEl struct {
	XMLName xml.Name `xml:"urn:xmpp:occupant-id:0 occupant-id"`
	ID      string   `xml:"id,attr"`
}

// loadOccupantSecret reads the occupant-id secret, making and storing it
// on the first start.
func loadOccupantSecret(ctx context.Context, kv bridges.KV) ([]byte, error) {
	b, err := kv.Get(ctx, occSecretKey)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		return nil, fmt.Errorf("xmpp: read the occupant-id secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("xmpp: make the occupant-id secret: %w", err)
	}
	if err := kv.Put(ctx, occSecretKey, b); err != nil {
		return nil, fmt.Errorf("xmpp: store the occupant-id secret: %w", err)
	}
	return b, nil
}

// occupantID is the XEP-0421 id of user (a Matrix user ID or a bare JID)
// in room.
func (g *gateway) occupantID(room matrix.RoomID, user string) string {
	return occupantIDWith(g.occSecret, room, user)
}

func occupantIDWith(secret []byte, room matrix.RoomID, user string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(room))
	mac.Write([]byte{0})
	mac.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// xmppItem is the item of an XMPP occupant (bare JID real) of room: a
// member and participant, with jid shown, its occupant-id and its photo
// hash when it told one. Call with g.mu held.
func (g *gateway) xmppItem(room matrix.RoomID, real, jid string) mucItem {
	it := mucItem{Affiliation: "member", Role: "participant", JID: jid, OccupantID: g.occupantID(room, real)}
	if r := g.rooms[room]; r != nil {
		if o := r.occupants[real]; o != nil {
			it.Photo = o.Photo
			it.Affiliation, it.Role = affiliation(o.level) // its puppet's power
		}
	}
	return it
}
