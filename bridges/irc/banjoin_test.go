package irc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/internal/fakehs"
)

// useBanHomeserver gives n a fake homeserver behind a running outbox,
// where the bot and @a:localhost are in !chan; forbid makes it refuse
// kicks, as a room whose power levels no longer let the bot kick.
func useBanHomeserver(t *testing.T, n *network, forbid bool) *fakehs.Homeserver {
	hs := useHomeserver(t, n.m)
	hs.SetMembership("!chan", hs.Bot, "join")
	hs.SetMembership("!chan", "@a:localhost", "join")
	if forbid {
		hs.Handle("POST /_matrix/client/v3/rooms/{room}/kick", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errcode":"M_FORBIDDEN","error":"You don't have permission to kick"}`)
		})
	}
	return hs
}

// kicked returns the kicks hs made, as "room user reason".
func kicked(hs *fakehs.Homeserver) []string {
	var out []string
	for _, r := range hs.Requests() {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/kick") || r.Status != http.StatusOK {
			continue
		}
		var b struct {
			UserID string `json:"user_id"`
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(r.Body, &b)
		parts := strings.Split(r.Path, "/")
		out = append(out, parts[len(parts)-2]+" "+b.UserID+" "+b.Reason)
	}
	return out
}

// newBanNetwork returns the network "test" on a scripted server that
// refuses every JOIN by nick "a" with code and text, with #chan's portal
// !chan (plumbed or made by the bridge) and a homeserver (see
// useBanHomeserver).
func newBanNetwork(t *testing.T, code, text string, plumbed, forbid bool, logs *bytes.Buffer) (*network, *fakehs.Homeserver) {
	t.Helper()
	srv := startDeliveryServer(t, "", func(nick, line string) ([]string, bool) {
		if nick == "a" && strings.HasPrefix(line, "JOIN ") {
			return []string{fmt.Sprintf(":srv %s a %s :%s", code, strings.Fields(line)[1], text)}, false
		}
		return nil, false
	})
	n := newDeliveryModule(t, srv.addr, logs, nil)
	if plumbed {
		n.addPortal("#chan", "!chan", []byte(`{"name":"#chan","plumbed":true}`))
	}
	return n, useBanHomeserver(t, n, forbid)
}

// refusedJoin makes @a:localhost's connection join #chan, expects the
// refusal code, and waits until whatever the refusal set off is done.
func refusedJoin(t *testing.T, n *network, code string) {
	t.Helper()
	err := n.userConnFor("@a:localhost", "").join(t.Context(), "#chan")
	var ne *ircconn.NumericError
	if !errors.As(err, &ne) || ne.Code != code {
		t.Fatalf("join: %v, want numeric %s", err, code)
	}
	n.m.wg.Wait() // the kick, if any, was started before join returned
}

// TestBanRemovesUserFromBridgeMadePortal: a 474 answering a Matrix user's
// own JOIN removes them from the channel's portal when the bridge made
// the room, with the server's text as the reason, once per join attempt
// while they are in the room; a linked (plumbed) room and other refusals
// keep them; a refused kick is logged as a warning.
func TestBanRemovesUserFromBridgeMadePortal(t *testing.T) {
	const ban = "!chan @a:localhost Banned from #chan on IRC: Cannot join channel (+b)"
	for i, tc := range []struct {
		name    string
		code    string
		text    string
		plumbed bool
		forbid  bool
		kicks   []string
		log     string // a line the log must have
	}{
		0: {name: "banned, portal made by the bridge", code: "474", text: "Cannot join channel (+b)", kicks: []string{ban},
			log: "removed a Matrix user banned on IRC"},
		1: {name: "banned, plumbed room", code: "474", text: "Cannot join channel (+b)", plumbed: true,
			log: "keeps their place in the linked room"},
		2: {name: "invite only", code: "473", text: "Cannot join channel (+i)"},
		3: {name: "key", code: "475", text: "Cannot join channel (+k)"},
		4: {name: "registered nicks only", code: "477", text: "You need to be identified"},
		5: {name: "banned, the bot may not kick", code: "474", text: "Cannot join channel (+b)", forbid: true,
			log: "could not remove a Matrix user banned on IRC from the portal"},
	} {
		t.Run(fmt.Sprint(i, " ", tc.name), func(t *testing.T) {
			var logs bytes.Buffer
			n, hs := newBanNetwork(t, tc.code, tc.text, tc.plumbed, tc.forbid, &logs)
			refusedJoin(t, n, tc.code)
			if got := kicked(hs); fmt.Sprint(got) != fmt.Sprint(tc.kicks) {
				t.Errorf("kicks %q, want %q", got, tc.kicks)
			}
			if tc.log != "" && !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log has no %q:\n%s", tc.log, logs.String())
			}
		})
	}
}

// TestBanKickOncePerJoin: a banned user who is out of the room already
// (kicked by the first refusal; their queued messages try again) is not
// kicked again; once they join the room again, their JOIN is refused and
// they are removed again.
func TestBanKickOncePerJoin(t *testing.T) {
	const ban = "!chan @a:localhost Banned from #chan on IRC: Cannot join channel (+b)"
	n, hs := newBanNetwork(t, "474", "Cannot join channel (+b)", false, false, nil)
	refusedJoin(t, n, "474")
	refusedJoin(t, n, "474") // out of the room now: no second kick
	if got := kicked(hs); len(got) != 1 || got[0] != ban {
		t.Fatalf("kicks %q, want one %q", got, ban)
	}
	hs.SetMembership("!chan", "@a:localhost", "join") // back in the room
	refusedJoin(t, n, "474")
	if got := kicked(hs); len(got) != 2 || got[1] != ban {
		t.Fatalf("kicks %q, want a second %q after the user joined again", got, ban)
	}
}
