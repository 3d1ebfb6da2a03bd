package irc

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/matrix"
)

// Portal remote IDs in the store:
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

// portalMeta is what the module keeps in store.Portal.Meta.
type portalMeta struct {
	// Name is the channel or nick as first seen (original case).
	Name string `json:"name"`
	// Plumbed is true for a room linked to the channel by its users rather
	// than created by the bridge.
	Plumbed bool `json:"plumbed,omitempty"`
}

func decodeMeta(raw json.RawMessage) portalMeta {
	var m portalMeta
	_ = json.Unmarshal(raw, &m)
	return m
}
