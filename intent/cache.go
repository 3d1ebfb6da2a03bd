package intent

import (
	"container/list"
	"context"
	"sync"

	"github.com/causewaybridge/causeway/matrix"
)

// lru is a bounded least-recently-used map, safe for concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *lruEntry
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (l *lru[K, V]) put(k K, v V) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&lruEntry[K, V]{key: k, val: v})
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.items, last.Value.(*lruEntry[K, V]).key)
	}
}

type memberKey struct {
	room matrix.RoomID
	user matrix.UserID
}

type profile struct {
	displayname, avatarURL string
	hasName, hasAvatar     bool
}

// stateCache remembers registrations, memberships, power levels and
// profiles. Registrations and memberships are written through to the
// optional persistent store; the rest lives only in memory. Every map is
// bounded.
type stateCache struct {
	store       StateStore
	registered  *lru[matrix.UserID, bool]
	memberships *lru[memberKey, string]
	powerLevels *lru[matrix.RoomID, *PowerLevels]
	profiles    *lru[matrix.UserID, profile]
}

func newStateCache(size int, store StateStore) *stateCache {
	return &stateCache{
		store:       store,
		registered:  newLRU[matrix.UserID, bool](size),
		memberships: newLRU[memberKey, string](size),
		powerLevels: newLRU[matrix.RoomID, *PowerLevels](size),
		profiles:    newLRU[matrix.UserID, profile](size),
	}
}

func (s *stateCache) isRegistered(ctx context.Context, u matrix.UserID) (bool, error) {
	if ok, found := s.registered.get(u); found && ok {
		return true, nil
	}
	if s.store == nil {
		return false, nil
	}
	ok, err := s.store.IsRegistered(ctx, string(u))
	if err != nil {
		return false, err
	}
	if ok {
		s.registered.put(u, true)
	}
	return ok, nil
}

func (s *stateCache) markRegistered(ctx context.Context, u matrix.UserID) error {
	s.registered.put(u, true)
	if s.store == nil {
		return nil
	}
	return s.store.MarkRegistered(ctx, string(u))
}

func (s *stateCache) membership(ctx context.Context, room matrix.RoomID, u matrix.UserID) (string, error) {
	if m, ok := s.memberships.get(memberKey{room, u}); ok {
		return m, nil
	}
	if s.store == nil {
		return "", nil
	}
	m, err := s.store.Membership(ctx, string(room), string(u))
	if err != nil {
		return "", err
	}
	if m != "" {
		s.memberships.put(memberKey{room, u}, m)
	}
	return m, nil
}

func (s *stateCache) setMembership(ctx context.Context, room matrix.RoomID, u matrix.UserID, m string) error {
	s.memberships.put(memberKey{room, u}, m)
	if s.store == nil {
		return nil
	}
	return s.store.SetMembership(ctx, string(room), string(u), m)
}

// Membership values used in the cache and in m.room.member events.
const (
	MembershipJoin   = "join"
	MembershipLeave  = "leave"
	MembershipInvite = "invite"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"
)
