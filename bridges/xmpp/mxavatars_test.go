package xmpp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestMatrixMemberPhotoHash: a Matrix member's presence first goes out
// without a photo hash; once its avatar is looked up, its presence goes
// again to the occupants with the image's SHA-1; a member event with a
// new avatar sends the new hash; a member without an avatar gets none.
func TestMatrixMemberPhotoHash(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	r := ephemeralRoom(t, g)
	r.announced = map[matrix.UserID]bool{}
	pics := map[string][]byte{"one": []byte("GIF89a first"), "two": []byte("GIF89a second")}
	h.HS.Handle("", func(w http.ResponseWriter, r *http.Request) {
		for name, b := range pics {
			if strings.HasSuffix(r.URL.Path, "/download/localhost/"+name) {
				w.Header().Set("Content-Type", "image/gif")
				_, _ = w.Write(b)
				return
			}
		}
		http.NotFound(w, r)
	})
	h.HS.SetProfile("@carol:localhost", "avatar_url", "mxc://localhost/one")
	bob := &occupant{RoomJID: "room@matrix.test", Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"),
		Puppet: "@_xmpp_bob=40x.org:localhost", joining: true}
	r.occupants[bob.Real] = bob
	g.mu.Lock()
	g.sendJoin(ctx, r, bob, "bob@x.org/r", "", true, nil, nil)
	g.mu.Unlock()
	carolTo := func(hash string) func() bool {
		return func() bool {
			for _, s := range queued(t, h) {
				if strings.HasPrefix(s, `<presence from="room@matrix.test/Carol" to="bob@x.org/r"`) &&
					strings.Contains(s, ">"+hash+"</photo>") {
					return true
				}
			}
			return false
		}
	}
	for _, s := range queued(t, h) {
		if strings.HasPrefix(s, `<presence from="room@matrix.test/Carol" to="bob@x.org/r"`) {
			if strings.Contains(s, "<photo") {
				t.Fatalf("the first presence has a hash already: %s", s)
			}
			break
		}
	}
	poll.Until(t, "Carol's presence with her photo hash", 5*time.Second, carolTo(photoSum(pics["one"])))

	h.HS.SetProfile("@carol:localhost", "avatar_url", "mxc://localhost/two")
	if err := m.HandleMatrixMembership(ctx, &bridges.Membership{Portal: &bridges.Portal{Key: bridges.PortalKey{ID: portalPrefix + "!r:localhost"}, Room: "!r:localhost"},
		Event: &matrix.Event{RoomID: "!r:localhost"}, Target: "@carol:localhost",
		Content: matrix.MemberContent{Membership: "join", Displayname: "Carol", AvatarURL: "mxc://localhost/two"}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "Carol's presence with her new photo hash", 5*time.Second, carolTo(photoSum(pics["two"])))
	for _, s := range queued(t, h) {
		if strings.Contains(s, "room@matrix.test/Dan") && strings.Contains(s, "<photo") {
			t.Errorf("Dan, without an avatar, has a hash: %s", s)
		}
	}
}
