package store

import (
	"errors"
	"sync"
)

// stagedLinks holds the message links of outbox items that were delivered
// but whose completion is not committed yet (the outbox commits in groups).
// MessageByRemote and MessageByEvent fall back to them, so a link is
// visible from the moment its event exists in the room, not only once the
// group commit ran: a Matrix user replying to a message they just saw
// finds it.
type stagedLinks struct {
	mu       sync.RWMutex
	byRemote map[[2]string]MessageLink
	byEvent  map[string]MessageLink
}

// StageLink makes l visible to lookups until CompleteOutboxBatch stores it.
func (s *Store) StageLink(l MessageLink) {
	if l.validate() != nil {
		return
	}
	st := &s.staged
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byRemote == nil {
		st.byRemote, st.byEvent = map[[2]string]MessageLink{}, map[string]MessageLink{}
	}
	st.byRemote[[2]string{l.Module, l.RemoteID}] = l
	st.byEvent[l.EventID] = l
}

// unstage forgets links that are now in the database.
func (st *stagedLinks) unstage(done []OutboxCompletion) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, d := range done {
		if l := d.Link; l != nil {
			if cur, ok := st.byRemote[[2]string{l.Module, l.RemoteID}]; ok && cur == *l {
				delete(st.byRemote, [2]string{l.Module, l.RemoteID})
			}
			if cur, ok := st.byEvent[l.EventID]; ok && cur == *l {
				delete(st.byEvent, l.EventID)
			}
		}
	}
}

// staged returns a staged link when err says the database has none.
func (st *stagedLinks) staged(err error, remote *[2]string, event string) (MessageLink, bool) {
	if !errors.Is(err, ErrNotFound) {
		return MessageLink{}, false
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	var l MessageLink
	var ok bool
	if remote != nil {
		l, ok = st.byRemote[*remote]
	} else {
		l, ok = st.byEvent[event]
	}
	return l, ok
}
