package irc

import (
	"context"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// membershipReader reads the memberships the Matrix client recorded
// (*intent.Client).
type membershipReader interface {
	Membership(ctx context.Context, room matrix.RoomID, user matrix.UserID) (string, error)
}

// Portal keys (bridges.PortalKey.ID; Receiver is not used, so that the
// portals stored before it keep working):
//
//	chan:<network>:<casefolded channel>
//	pm:<network>:<matrix user>:<casefolded nick>
type portalKey struct {
	kind    string // "chan" or "pm"
	network string
	target  string // casefolded channel or nick
	user    matrix.UserID
}

func (k portalKey) String() string {
	if k.kind == "pm" {
		return "pm:" + k.network + ":" + string(k.user) + ":" + k.target
	}
	return "chan:" + k.network + ":" + k.target
}

// portal is the key of the portal table.
func (k portalKey) portal() bridges.PortalKey { return bridges.PortalKey{ID: k.String()} }

func chanKey(network, folded string) portalKey {
	return portalKey{kind: "chan", network: network, target: folded}
}

func pmKey(network string, user matrix.UserID, foldedNick string) portalKey {
	return portalKey{kind: "pm", network: network, target: foldedNick, user: user}
}

func parsePortalKey(s string) (portalKey, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return portalKey{}, fmt.Errorf("portal key %q: no kind", s)
	}
	network, rest, ok := strings.Cut(rest, ":")
	if !ok || network == "" || rest == "" {
		return portalKey{}, fmt.Errorf("portal key %q: no network", s)
	}
	switch kind {
	case "chan":
		return portalKey{kind: kind, network: network, target: rest}, nil
	case "pm":
		// The Matrix user ID contains ':' itself; the nick cannot.
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || i == len(rest)-1 {
			return portalKey{}, fmt.Errorf("portal key %q: bad pm target", s)
		}
		return portalKey{kind: kind, network: network, user: matrix.UserID(rest[:i]), target: rest[i+1:]}, nil
	}
	return portalKey{}, fmt.Errorf("portal key %q: unknown kind %q", s, kind)
}

// portalMeta is what the module keeps in bridges.Portal.Meta.
type portalMeta struct {
	// Name is the channel or nick as first seen (original case).
	Name string `json:"name"`
	// Plumbed is true for a room linked to the channel by its users rather
	// than created by the bridge.
	Plumbed bool `json:"plumbed,omitempty"`
}

// decodeMeta reads a portal's metadata; unreadable metadata reads as none.
func decodeMeta(p *bridges.Portal) portalMeta {
	m, _ := bridges.PortalMeta[portalMeta](p)
	return m
}

// msgID is the message link ID of an IRC message: its msgid, part 0 (the
// lines before the last of a Matrix message sent as several take parts 1,
// 2, ...: linkEarlierLines).
func msgID(msgid string) bridges.MessageID { return bridges.MessageID{ID: msgid} }
