package irc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// banHomeserver answers the bot's membership look-ups and records its
// kicks; forbid makes it refuse them, as a room whose power levels no
// longer let the bot kick.
type banHomeserver struct {
	mu         sync.Mutex
	membership map[string]string // user → membership; "join" when unset
	kicks      []string          // "room user reason"
	forbid     bool
}

func (h *banHomeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	parts := strings.Split(r.URL.Path, "/")
	last := parts[len(parts)-1]
	switch {
	case r.Method == http.MethodGet && len(parts) >= 3 && parts[len(parts)-2] == matrix.EventMember:
		ms := h.membership[last]
		if ms == "" {
			ms = "join"
		}
		fmt.Fprintf(w, `{"membership":%q}`, ms)
	case r.Method == http.MethodPost && last == "kick":
		if h.forbid {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errcode":"M_FORBIDDEN","error":"You don't have permission to kick"}`)
			return
		}
		var b struct {
			UserID string `json:"user_id"`
			Reason string `json:"reason"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		h.kicks = append(h.kicks, parts[len(parts)-2]+" "+b.UserID+" "+b.Reason)
		h.membership[b.UserID] = "leave"
		fmt.Fprint(w, `{}`)
	default:
		http.NotFound(w, r)
	}
}

func (h *banHomeserver) kicked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.kicks...)
}

func (h *banHomeserver) set(user, membership string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.membership[user] = membership
}

// newBanNetwork returns the network "test" on a scripted server that
// refuses every JOIN by nick "a" with code and text, with #chan's portal
// !chan (plumbed or made by the bridge) and a homeserver hs behind a
// running outbox.
func newBanNetwork(t *testing.T, code, text string, plumbed bool, hs *banHomeserver, logs *bytes.Buffer) *network {
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
	web := httptest.NewServer(hs)
	t.Cleanup(web.Close)
	client, err := intent.New(intent.Options{HomeserverURL: web.URL, ASToken: "as", BotUserID: "@bot:localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := intent.NewOutbox(intent.OutboxOptions{Client: client, Store: storeOf(n.m),
		Retry: intent.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Stop(t.Context()) })
	n.m.client, n.m.outbox = client, ob
	return n
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
			hs := &banHomeserver{membership: map[string]string{}, forbid: tc.forbid}
			var logs bytes.Buffer
			n := newBanNetwork(t, tc.code, tc.text, tc.plumbed, hs, &logs)
			refusedJoin(t, n, tc.code)
			if got := hs.kicked(); fmt.Sprint(got) != fmt.Sprint(tc.kicks) {
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
	hs := &banHomeserver{membership: map[string]string{}}
	n := newBanNetwork(t, "474", "Cannot join channel (+b)", false, hs, nil)
	refusedJoin(t, n, "474")
	refusedJoin(t, n, "474") // out of the room now: no second kick
	if got := hs.kicked(); len(got) != 1 || got[0] != ban {
		t.Fatalf("kicks %q, want one %q", got, ban)
	}
	hs.set("@a:localhost", "join") // back in the room
	refusedJoin(t, n, "474")
	if got := hs.kicked(); len(got) != 2 || got[1] != ban {
		t.Fatalf("kicks %q, want a second %q after the user joined again", got, ban)
	}
}
