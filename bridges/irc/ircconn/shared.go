package ircconn

import (
	"maps"
	"slices"
	"strings"
	"sync"
)

// maxSharedSets bounds the distinct sets a [Shared] keeps; past it, a
// connection keeps its own copy (a server that varies its offer per
// connection cannot grow the table without bound).
const maxSharedSets = 64

// Shared holds what the connections to one network have in common: the
// set of enabled capabilities (with the values the server advertised) and
// the TARGMAX table are the same on nearly every connection to a server,
// so connections given the same Shared keep one copy of each distinct set
// instead of one each. A set is never changed once shared: a connection
// whose capabilities change (CAP ACK, DEL) builds a new set.
//
// The zero value is ready to use and safe for concurrent use. A nil
// *Shared shares nothing; sets are still copied out of the lines they were
// read from, so no connection pins a line in memory.
type Shared struct {
	mu      sync.Mutex
	caps    map[string]map[string]string
	targMax map[string]map[string]int
}

// capSet returns a set equal to m that no line backs: the shared one when
// an equal set is known, else a copy (shared from now on when there is
// room). m is not used after the call.
func (s *Shared) capSet(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	key := capKey(m)
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if got, ok := s.caps[key]; ok {
			return got
		}
	}
	own := make(map[string]string, len(m))
	for k, v := range m {
		own[strings.Clone(k)] = strings.Clone(v)
	}
	if s != nil && len(s.caps) < maxSharedSets {
		if s.caps == nil {
			s.caps = make(map[string]map[string]string)
		}
		s.caps[key] = own
	}
	return own
}

// targMaxTable returns the parsed TARGMAX value, shared like capSet.
func (s *Shared) targMaxTable(value string) map[string]int {
	if value == "" {
		return nil
	}
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if got, ok := s.targMax[value]; ok {
			return got
		}
	}
	t := parseTargMax(value)
	if s != nil && len(s.targMax) < maxSharedSets {
		if s.targMax == nil {
			s.targMax = make(map[string]map[string]int)
		}
		s.targMax[strings.Clone(value)] = t
	}
	return t
}

// capKey is a canonical text of a capability set.
func capKey(m map[string]string) string {
	names := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(m[n])
		b.WriteByte('\n')
	}
	return b.String()
}
