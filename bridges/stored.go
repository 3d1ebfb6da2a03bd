package bridges

import (
	"context"
	"errors"
	"fmt"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// The implementations of Portals, Links and KV over the store, scoped to
// one module. The core gives them to modules through Host; tests use them
// through bridgetest.

// StoredPortals returns module's portal table in st.
func StoredPortals(st *store.Store, module string) Portals { return storedPortals{st, module} }

// StoredLinks returns module's message links in st.
func StoredLinks(st *store.Store, module string) Links { return storedLinks{st, module} }

// StoredKV returns module's key-value store in st. It is a [KVBatch]
// too.
func StoredKV(st *store.Store, module string) KV { return storedKV{st, module} }

type storedPortals struct {
	st     *store.Store
	module string
}

func portalFromStore(p store.Portal) *Portal {
	return &Portal{Module: p.Module, Key: ParsePortalKey(p.RemoteID), Room: matrix.RoomID(p.RoomID), Meta: p.Meta}
}

func (s storedPortals) ByKey(ctx context.Context, key PortalKey) (*Portal, error) {
	p, err := s.st.PortalByRemote(ctx, s.module, key.String())
	if err != nil {
		return nil, err
	}
	return portalFromStore(p), nil
}

func (s storedPortals) ByRoom(ctx context.Context, room matrix.RoomID) (*Portal, error) {
	p, err := s.st.PortalByRoom(ctx, string(room))
	if err != nil {
		return nil, err
	}
	if p.Module != s.module {
		return nil, fmt.Errorf("portal of room %s: %w (it is a portal of module %s)", room, ErrNotFound, p.Module)
	}
	return portalFromStore(p), nil
}

func (s storedPortals) Put(ctx context.Context, p *Portal) error {
	if p.Key.ID == "" {
		return errors.New("put portal: empty key")
	}
	p.Module = s.module
	return s.st.PutPortal(ctx, store.Portal{Module: s.module, RemoteID: p.Key.String(), RoomID: string(p.Room), Meta: p.Meta})
}

func (s storedPortals) Delete(ctx context.Context, key PortalKey) error {
	return s.st.DeletePortal(ctx, s.module, key.String())
}

func (s storedPortals) All(ctx context.Context) ([]*Portal, error) {
	ps, err := s.st.Portals(ctx, s.module)
	if err != nil {
		return nil, err
	}
	out := make([]*Portal, len(ps))
	for i, p := range ps {
		out[i] = portalFromStore(p)
	}
	return out, nil
}

type storedLinks struct {
	st     *store.Store
	module string
}

func (s storedLinks) Put(ctx context.Context, l Link) error {
	return s.st.PutMessageLink(ctx, store.MessageLink{Module: s.module, RemoteID: l.Remote.String(),
		RoomID: string(l.Room), EventID: string(l.Event)})
}

func linkFromStore(l store.MessageLink) Link {
	return Link{Remote: ParseMessageID(l.RemoteID), Room: matrix.RoomID(l.RoomID), Event: matrix.EventID(l.EventID)}
}

func (s storedLinks) ByRemote(ctx context.Context, id MessageID) (Link, error) {
	l, err := s.st.MessageByRemote(ctx, s.module, id.String())
	if err != nil {
		return Link{}, err
	}
	return linkFromStore(l), nil
}

func (s storedLinks) ByEvent(ctx context.Context, event matrix.EventID) (Link, error) {
	ls, err := s.st.MessageLinksByEvent(ctx, s.module, string(event))
	if err != nil {
		return Link{}, err
	}
	if len(ls) == 0 {
		return Link{}, fmt.Errorf("message of event %s: %w", event, ErrNotFound)
	}
	best := linkFromStore(ls[0])
	for _, l := range ls[1:] {
		if c := linkFromStore(l); c.Remote.Part < best.Remote.Part {
			best = c
		}
	}
	return best, nil
}

type storedKV struct {
	st     *store.Store
	module string
}

func (s storedKV) Get(ctx context.Context, key string) ([]byte, error) {
	return s.st.GetKV(ctx, s.module, key)
}

func (s storedKV) Put(ctx context.Context, key string, value []byte) error {
	return s.st.PutKV(ctx, s.module, key, value)
}

func (s storedKV) Delete(ctx context.Context, key string) error {
	return s.st.DeleteKV(ctx, s.module, key)
}

func (s storedKV) PutMany(ctx context.Context, entries []KVEntry) error {
	kvs := make([]store.KV, len(entries))
	for i, e := range entries {
		kvs[i] = store.KV{Key: e.Key, Value: e.Value}
	}
	return s.st.PutKVMany(ctx, s.module, kvs)
}

func (s storedKV) DeleteMany(ctx context.Context, keys []string) error {
	return s.st.DeleteKVMany(ctx, s.module, keys)
}

func (s storedKV) WithPrefix(ctx context.Context, prefix string) ([]KVEntry, error) {
	kvs, err := s.st.KVWithPrefix(ctx, s.module, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]KVEntry, len(kvs))
	for i, kv := range kvs {
		out[i] = KVEntry{Key: kv.Key, Value: kv.Value}
	}
	return out, nil
}
