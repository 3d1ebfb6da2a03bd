package xmpp

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestResourceSet checks the set's operations and that it is stored as
// the JSON object the map it replaced was stored as, so occupants saved
// by an older bridge load.
func TestResourceSet(t *testing.T) {
	s := newResourceSet("a@x/1", "a@x/1")
	if s.len() != 1 || !s.has("a@x/1") || s.has("a@x/2") {
		t.Fatalf("set of one resource: %v", s.all())
	}
	s.add("a@x/2")
	before := s.all()
	s.remove("a@x/1")
	if s.len() != 1 || s.has("a@x/1") || !s.has("a@x/2") {
		t.Fatalf("after remove: %v", s.all())
	}
	if !slices.Equal(before, []string{"a@x/1", "a@x/2"}) {
		t.Fatalf("remove changed a slice returned before: %v", before)
	}
	s.remove("a@x/3")
	b, err := json.Marshal(occupant{Resources: newResourceSet("a@x/2", "a@x/1")})
	if err != nil {
		t.Fatal(err)
	}
	var old struct {
		Resources map[string]bool `json:"resources"`
	}
	if err := json.Unmarshal(b, &old); err != nil || len(old.Resources) != 2 || !old.Resources["a@x/1"] || !old.Resources["a@x/2"] {
		t.Fatalf("stored as %s, read as a map: %v, %v", b, old.Resources, err)
	}
	var o occupant
	if err := json.Unmarshal([]byte(`{"resources":{"a@x/2":true,"a@x/1":true,"a@x/3":false}}`), &o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Resources.all(), []string{"a@x/1", "a@x/2"}) {
		t.Fatalf("loaded %v", o.Resources.all())
	}
	if err := json.Unmarshal([]byte(`{"resources":["a@x/1"]}`), &o); err == nil {
		t.Fatal("a list of resources loaded without error")
	}
}
