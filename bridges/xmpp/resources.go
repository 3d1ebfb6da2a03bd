package xmpp

import (
	"encoding/json"
	"fmt"
	"slices"
)

// resourceSet is the set of an occupant's full JIDs (its resources in the
// room). Most occupants have one, so it is a short slice rather than a
// map (a map of one entry costs about 200 bytes more per occupant). It is
// stored as the JSON object {"full JID": true, ...}, as the map was.
type resourceSet struct {
	list []string
}

// newResourceSet returns the set of the given full JIDs.
func newResourceSet(full ...string) resourceSet {
	var s resourceSet
	for _, f := range full {
		s.add(f)
	}
	return s
}

// has reports whether full is in the set.
func (s resourceSet) has(full string) bool { return slices.Contains(s.list, full) }

// add puts full in the set.
func (s *resourceSet) add(full string) {
	if !s.has(full) {
		s.list = append(s.list, full)
	}
}

// remove takes full out of the set. The slice all returned before stays
// as it was, so a caller may remove while ranging over it.
func (s *resourceSet) remove(full string) {
	if i := slices.Index(s.list, full); i >= 0 {
		s.list = slices.Delete(slices.Clone(s.list), i, i+1)
	}
}

// len is the number of resources.
func (s resourceSet) len() int { return len(s.list) }

// all returns the full JIDs; the caller must not modify the slice.
func (s resourceSet) all() []string { return s.list }

// MarshalJSON stores the set as the object the map was stored as.
func (s resourceSet) MarshalJSON() ([]byte, error) {
	m := make(map[string]bool, len(s.list))
	for _, f := range s.list {
		m[f] = true
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("xmpp: encode resources: %w", err)
	}
	return b, nil
}

// UnmarshalJSON reads the object MarshalJSON writes; a resource stored as
// false is not in the set.
func (s *resourceSet) UnmarshalJSON(b []byte) error {
	var m map[string]bool
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("xmpp: decode resources: %w", err)
	}
	s.list = nil
	for f, in := range m {
		if in {
			s.list = append(s.list, f)
		}
	}
	slices.Sort(s.list)
	return nil
}
