package intent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestPresenceAndDisplayname: Presence, Displayname and AvatarURL read
// another user's presence, name and avatar as the intent's user; an
// unknown user's name or avatar is ErrNotFound.
func TestPresenceAndDisplayname(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		switch {
		case r.Method == http.MethodGet && rec.Path == "/_matrix/client/v3/presence/@carol:example.org/status":
			_, _ = w.Write([]byte(`{"presence":"unavailable","status_msg":"lunch","last_active_ago":5}`))
		case r.Method == http.MethodGet && rec.Path == "/_matrix/client/v3/profile/@carol:example.org/displayname":
			_, _ = w.Write([]byte(`{"displayname":"Carol"}`))
		case r.Method == http.MethodGet && rec.Path == "/_matrix/client/v3/profile/@carol:example.org/avatar_url":
			_, _ = w.Write([]byte(`{"avatar_url":"mxc://example.org/abc"}`))
		case r.Method == http.MethodGet && strings.HasPrefix(rec.Path, "/_matrix/client/v3/profile/"):
			writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such user")
		default:
			return false
		}
		return true
	})
	c := newTestClient(t, hs, nil)
	p, err := c.Intent(alice).Presence(ctx, "@carol:example.org")
	if err != nil || p.Presence != PresenceUnavailable || p.StatusMsg != "lunch" {
		t.Fatalf("presence: %+v %v", p, err)
	}
	if reqs := hs.requests(http.MethodGet, "/presence/"); len(reqs) != 1 || reqs[0].User != alice {
		t.Fatalf("presence read as %+v, want as %s", reqs, alice)
	}
	if name, err := c.Bot().Displayname(ctx, "@carol:example.org"); err != nil || name != "Carol" {
		t.Fatalf("displayname: %q %v", name, err)
	}
	if _, err := c.Bot().Displayname(ctx, "@nobody:example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user's displayname: %v, want ErrNotFound", err)
	}
	if u, err := c.Bot().AvatarURL(ctx, "@carol:example.org"); err != nil || u != "mxc://example.org/abc" {
		t.Fatalf("avatar: %q %v", u, err)
	}
	if _, err := c.Bot().AvatarURL(ctx, "@nobody:example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user's avatar: %v, want ErrNotFound", err)
	}
}
