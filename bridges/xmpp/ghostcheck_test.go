package xmpp

import (
	"context"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestGhostTargets: every joined resource of every occupant is checked,
// in a stable order; an occupant whose join is not sent yet is not.
func TestGhostTargets(t *testing.T) {
	_, g, _ := testGateway(t)
	r := g.room("!a:localhost")
	r.occupants["b@x"] = &occupant{RoomJID: "r@matrix.test", Nick: "bob", Real: "b@x",
		Resources: newResourceSet("b@x/2", "b@x/1")}
	r.occupants["c@x"] = &occupant{RoomJID: "r@matrix.test", Nick: "cat", Real: "c@x",
		Resources: newResourceSet("c@x/1"), joining: true}
	got := g.ghostTargets()
	want := []ghostTarget{{"r@matrix.test", "bob", "b@x/1"}, {"r@matrix.test", "bob", "b@x/2"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	if !g.stillJoined(want[0]) || g.stillJoined(ghostTarget{"r@matrix.test", "cat", "c@x/1"}) {
		t.Fatal("stillJoined disagrees with the occupants")
	}
}

// TestGhostSweepDisconnected: without a session the sweep stops at the
// first ping (the next session sweeps again) and removes nobody.
func TestGhostSweepDisconnected(t *testing.T) {
	_, g, h := testGateway(t)
	r := g.room("!a:localhost")
	r.occupants["b@x"] = &occupant{RoomJID: "r@matrix.test", Nick: "bob", Real: "b@x", Resources: newResourceSet("b@x/1")}
	targets := make([]ghostTarget, 1000)
	for i := range targets {
		targets[i] = ghostTarget{"r@matrix.test", "bob", "b@x/1"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.ghostSweep(ctx, targets, time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("the sweep went on without a session")
	}
	if q := queued(t, h); len(q) != 0 {
		t.Fatalf("queued %v", q)
	}
	if len(r.occupants) != 1 {
		t.Fatal("an occupant was removed without an answer")
	}
}

// TestGhostStanzas: the ping and the probe are well-formed whatever the
// nick and JIDs hold, and the probe has nothing a client would show.
func TestGhostStanzas(t *testing.T) {
	ping := ghostPing(nickJID("r@matrix.test", `a'<&"b`), "u@x/r&s")
	var iq struct {
		From string `xml:"from,attr"`
		To   string `xml:"to,attr"`
		Type string `xml:"type,attr"`
		Ping struct {
			XMLName xml.Name `xml:"urn:xmpp:ping ping"`
		}
	}
	if err := xml.Unmarshal(ping, &iq); err != nil || iq.From != `r@matrix.test/a'<&"b` || iq.To != "u@x/r&s" || iq.Type != "get" {
		t.Fatalf("ping %s: %+v %v", ping, iq, err)
	}
	probe := string(ghostProbe("r@matrix.test", "u@x/r&s"))
	var msg struct {
		To, Type string `xml:",attr"`
	}
	if err := xml.Unmarshal([]byte(probe), &msg); err != nil || !strings.Contains(probe, `type="groupchat"`) ||
		!strings.Contains(probe, `to="u@x/r&amp;s"`) {
		t.Fatalf("probe %s: %v", probe, err)
	}
	for _, shown := range []string{"<body", "<subject", "<x "} {
		if strings.Contains(probe, shown) {
			t.Fatalf("probe %s has %s", probe, shown)
		}
	}
}
