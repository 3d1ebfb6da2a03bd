package irc

import (
	"container/list"
	"sync"

	"github.com/causewaybridge/causeway/bridges/kit/hold"
	"github.com/causewaybridge/causeway/matrix"
)

// extras is the module's state for edits, replies, presence and the edit
// grace window. Its zero value is ready to use.
type extras struct {
	// holds is the edit grace window (hold_store.go), made on first use.
	holdOnce sync.Once
	holds    *hold.Queue
	sent     sentCache
	away     awayState
}

// sentCache remembers which Matrix messages reached IRC, and the content
// last sent for each (to word a correction when it is edited). It is
// bounded; older entries fall back to the store's message links.
type sentCache struct {
	mu    sync.Mutex
	order *list.List // of matrix.EventID, most recent first
	items map[matrix.EventID]*sentEntry
}

type sentEntry struct {
	el      *list.Element
	content *matrix.MessageContent
}

// sentCacheSize bounds sentCache.
const sentCacheSize = 4096

// markDelivered records that event reached IRC.
func (s *sentCache) markDelivered(event matrix.EventID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entryLocked(event)
}

func (s *sentCache) entryLocked(event matrix.EventID) *sentEntry {
	if s.items == nil {
		s.items, s.order = map[matrix.EventID]*sentEntry{}, list.New()
	}
	if e := s.items[event]; e != nil {
		s.order.MoveToFront(e.el)
		return e
	}
	e := &sentEntry{el: s.order.PushFront(event)}
	s.items[event] = e
	for s.order.Len() > sentCacheSize {
		old := s.order.Remove(s.order.Back()).(matrix.EventID)
		delete(s.items, old)
	}
	return e
}

// setContent records the content event now shows on IRC (it must have been
// delivered).
func (s *sentCache) setContent(event matrix.EventID, c *matrix.MessageContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items[event] != nil {
		s.entryLocked(event).content = c
	}
}

// lookup reports whether event was delivered and the content it shows.
func (s *sentCache) lookup(event matrix.EventID) (delivered bool, c *matrix.MessageContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.items[event]
	if e == nil {
		return false, nil
	}
	return true, e.content
}
