package xmpp

import (
	"context"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// TestReverseAvatars: a Matrix user's occupant joins with the XEP-0153
// hash of their avatar when it is known; one whose hash is not known
// yet joins without and is looked up, and the hash found is sent in a
// new presence (once: the same hash again sends nothing), with their
// show kept.
func TestReverseAvatars(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	m.cfg.MUCBackfill = 0
	rv := newReverse(m, g)
	m.rev = rv
	rp := rv.add("!portal:localhost", testMUC)
	g.mu.Lock()
	g.mxPhotos = map[matrix.UserID]mxPhoto{"@carol:localhost": {done: true, hash: "abc123"}}
	g.mu.Unlock()

	rv.membership(ctx, rp, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Carol"})
	rv.membership(ctx, rp, "@dave:localhost", matrix.MemberContent{Membership: "join", Displayname: "Dave"})
	q := queued(t, h)
	if len(q) != 2 || !strings.Contains(q[0], `<x xmlns="vcard-temp:x:update"><photo xmlns="vcard-temp:x:update">abc123</photo></x>`) ||
		strings.Contains(q[1], "vcard-temp:x:update") {
		t.Fatalf("joins: %q", q)
	}
	g.mu.Lock()
	_, looked := g.mxPhotos["@dave:localhost"]
	g.mu.Unlock()
	if !looked {
		t.Error("dave's avatar was not looked up")
	}
	daveSelf := `dave\3alocalhost@matrix.test/` + occupantResource
	dave := strings.ReplaceAll(selfPresence("Dave", "", "110"), testSelf, daveSelf)
	rv.presence(ctx, rp, parse(t, []byte(dave)), jid.MustParse(testMUC+"/Dave"), jid.MustParse(daveSelf))
	rv.matrixPresence(ctx, "@dave:localhost", "unavailable", "")
	before := len(queued(t, h))
	hash := "def456"
	rv.photoChanged(ctx, "@dave:localhost", &hash)
	rv.photoChanged(ctx, "@dave:localhost", &hash)
	q = queued(t, h)[before:]
	if len(q) != 1 || !strings.Contains(q[0], `from="`+daveSelf+`"`) || !strings.Contains(q[0], `to="`+testMUC+`/Dave"`) ||
		!strings.Contains(q[0], `>def456</photo>`) || !strings.Contains(q[0], `>away</show>`) {
		t.Fatalf("after the look-up: %q", q)
	}
}
