package irc

import (
	"context"
	"sync"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// tellHost is the bridges.Host of unit tests that build a module without
// the core (newModule): it records what the module tells each user in
// their management room, and makes media links. Its other methods are not
// implemented (the embedded Host is nil); the module takes what it needs
// from its fields.
type tellHost struct {
	bridges.Host
	mu   sync.Mutex
	told map[matrix.UserID][]string
}

// testPublicURL is the homeserver.public_url of tellHost's media links.
const testPublicURL = "https://matrix.test"

// MediaURL builds links as the core does, under testPublicURL.
func (h *tellHost) MediaURL(mxc string) (string, error) {
	return intent.PublicMediaURL(testPublicURL, mxc)
}

func (h *tellHost) TellUser(_ context.Context, user matrix.UserID, text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.told == nil {
		h.told = map[matrix.UserID][]string{}
	}
	h.told[user] = append(h.told[user], text)
	return nil
}

// toldUser returns what m told user in their management room.
func toldUser(m *Module, user matrix.UserID) []string {
	h := m.host.(*tellHost)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.told[user]...)
}
