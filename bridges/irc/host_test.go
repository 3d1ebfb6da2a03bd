package irc

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// useStore gives m its tables in st, as the core's Host does.
func useStore(m *Module, st *store.Store) {
	m.portals, m.links, m.kv, m.members = bridges.StoredPortals(st, ID), bridges.StoredLinks(st, ID), bridges.StoredKV(st, ID), storeMembers{st}
	for id, n := range m.networks { // written by Close (no background work here)
		n.marks = mark.New(mark.Options{KV: m.kv, Prefix: marksPrefix(id)})
	}
}

// storeMembers reads memberships from the store, as the intent client's
// state cache does behind its memory.
type storeMembers struct{ st *store.Store }

func (s storeMembers) Membership(ctx context.Context, room matrix.RoomID, user matrix.UserID) (string, error) {
	return s.st.Membership(ctx, string(room), string(user))
}

// storeOf is the store useStore gave m, for fixtures and checks.
func storeOf(m *Module) *store.Store { return m.members.(storeMembers).st }

// routed fills in what the core's router resolves for a typed event: the
// portal of its room and the remote message of its target (the link with
// the lowest part), nil when there is none.
func routed[E *bridges.Edit | *bridges.Reaction | *bridges.Redaction](t *testing.T, m *Module, e E) E {
	t.Helper()
	portal := func(room matrix.RoomID) *bridges.Portal {
		p, err := m.portals.ByRoom(t.Context(), room)
		if bridges.IsNotFound(err) {
			return nil
		} else if err != nil {
			t.Fatal(err)
		}
		return p
	}
	remote := func(event matrix.EventID) *bridges.Link {
		l, err := m.links.ByEvent(t.Context(), event)
		if bridges.IsNotFound(err) {
			return nil
		} else if err != nil {
			t.Fatal(err)
		}
		return &l
	}
	switch e := any(e).(type) {
	case *bridges.Edit:
		e.Portal, e.TargetRemote = portal(e.Event.RoomID), remote(e.Target)
	case *bridges.Reaction:
		e.Portal, e.TargetRemote = portal(e.Event.RoomID), remote(e.Target)
	case *bridges.Redaction:
		e.Portal, e.TargetRemote = portal(e.Event.RoomID), remote(e.Target)
	}
	return e
}

// tellHost is the bridges.Host of unit tests that build a module without
// the core (newModule): it records what the module tells each user in
// their management room, and makes media links. Its other methods are not
// implemented (the embedded Host is nil), except those the kit calls
// (Logger, Matrix, Outbox, Portals, KV), which return m's fields.
type tellHost struct {
	bridges.Host
	m    *Module
	mu   sync.Mutex
	told map[matrix.UserID][]string
}

func (h *tellHost) Logger() *slog.Logger     { return h.m.log }
func (h *tellHost) Matrix() *intent.Client   { return h.m.client }
func (h *tellHost) Outbox() bridges.Sender   { return h.m.outbox }
func (h *tellHost) Portals() bridges.Portals { return h.m.portals }
func (h *tellHost) KV() bridges.KV           { return h.m.kv }

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
