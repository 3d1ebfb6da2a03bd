package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

const (
	alice = matrix.UserID("@irc_alice:example.org")
	bob   = matrix.UserID("@irc_bob:example.org")
	room1 = matrix.RoomID("!one:example.org")
	room2 = matrix.RoomID("!two:example.org")
)

func TestEnsureRegisteredOnceAndPersisted(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	st := newMemStateStore()
	c := newTestClient(t, hs, st)

	for range 3 {
		if err := c.Intent(alice).EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A new client over the same store (a restart) knows alice is registered.
	c2 := newTestClient(t, hs, st)
	if err := c2.Intent(alice).EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	regs := hs.requests(http.MethodPost, "/register")
	if len(regs) != 1 {
		t.Fatalf("register requests = %d, want 1", len(regs))
	}
	var body map[string]any
	json.Unmarshal(regs[0].Body, &body)
	if body["username"] != "irc_alice" || body["inhibit_login"] != true || body["type"] != "m.login.application_service" {
		t.Errorf("register body = %s", regs[0].Body)
	}
	if regs[0].Query.Has("user_id") {
		t.Errorf("register must not masquerade: query %v", regs[0].Query)
	}
}

func TestEnsureRegisteredUserInUse(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice) // alice exists on the homeserver already
	st := newMemStateStore()
	c := newTestClient(t, hs, st)

	if err := c.Intent(alice).EnsureRegistered(ctx); err != nil {
		t.Fatalf("M_USER_IN_USE must count as success: %v", err)
	}
	if ok, _ := st.IsRegistered(ctx, string(alice)); !ok {
		t.Error("user in use was not persisted as registered")
	}
	if err := c.Intent(alice).EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.requests(http.MethodPost, "/register")); n != 1 {
		t.Errorf("register requests = %d, want 1", n)
	}
}

func TestEnsureJoinedBotInvitesWhenForbidden(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, true)
	c := newTestClient(t, hs, nil)

	if err := c.Intent(alice).EnsureJoined(ctx, room1); err != nil {
		t.Fatal(err)
	}
	hs.mu.Lock()
	got := hs.members[room1][alice]
	botm := hs.members[room1][testBot]
	hs.mu.Unlock()
	if got != "join" || botm != "join" {
		t.Fatalf("alice membership %q, bot %q; want both joined", got, botm)
	}
	inv := hs.requests(http.MethodPost, "/invite")
	if len(inv) != 1 || inv[0].User != testBot || !strings.Contains(string(inv[0].Body), string(alice)) {
		t.Fatalf("want one invite of alice by the bot, got %+v", inv)
	}
	before := len(hs.requests(http.MethodPost, "/join/"))
	if err := c.Intent(alice).EnsureJoined(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if after := len(hs.requests(http.MethodPost, "/join/")); after != before {
		t.Errorf("EnsureJoined on a known-joined puppet made %d join requests", after-before)
	}
}

func TestSendRejoinsWhenHomeserverDisagrees(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false)
	c := newTestClient(t, hs, nil)
	a := c.Intent(alice)
	if _, err := a.SendText(ctx, room1, "one", SendOptions{TxnID: "t1"}); err != nil {
		t.Fatal(err)
	}
	// Someone kicks alice; the bridge has not seen the event yet.
	hs.mu.Lock()
	hs.setMember(room1, alice, "leave")
	hs.mu.Unlock()
	if _, err := a.SendText(ctx, room1, "two", SendOptions{TxnID: "t2"}); err != nil {
		t.Fatalf("send after kick: %v", err)
	}
	evs := hs.roomEvents(room1)
	if len(evs) != 2 || !strings.Contains(string(evs[1].Content), "two") {
		t.Fatalf("events = %+v", evs)
	}
	if n := len(hs.requests(http.MethodPost, "/join/")); n != 2 {
		t.Errorf("join requests = %d, want 2 (initial and rejoin)", n)
	}
}

func TestObserveEventCorrectsCache(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false)
	c := newTestClient(t, hs, nil)
	if err := c.Intent(alice).EnsureJoined(ctx, room1); err != nil {
		t.Fatal(err)
	}
	key := string(alice)
	c.ObserveEvent(ctx, &matrix.Event{Type: matrix.EventMember, RoomID: room1, StateKey: &key,
		Content: json.RawMessage(`{"membership":"leave"}`)})
	if err := c.Intent(alice).EnsureJoined(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.requests(http.MethodPost, "/join/")); n != 2 {
		t.Errorf("join requests = %d, want 2: an observed leave must invalidate the cache", n)
	}
}

// TestClientMembership: modules read the membership the client last saw
// (its own joins, observed events) without asking the homeserver.
func TestClientMembership(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false)
	c := newTestClient(t, hs, nil)
	if m, err := c.Membership(ctx, room1, alice); err != nil || m != "" {
		t.Fatalf("before anything: %q, %v; want unknown", m, err)
	}
	if err := c.Intent(alice).EnsureJoined(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Membership(ctx, room1, alice); err != nil || m != MembershipJoin {
		t.Fatalf("after joining: %q, %v", m, err)
	}
	key := string(alice)
	c.ObserveEvent(ctx, &matrix.Event{Type: matrix.EventMember, RoomID: room1, StateKey: &key,
		Content: json.RawMessage(`{"membership":"ban"}`)})
	if m, err := c.Membership(ctx, room1, alice); err != nil || m != MembershipBan {
		t.Fatalf("after an observed ban: %q, %v", m, err)
	}
	before := len(hs.requests(http.MethodGet, ""))
	if _, err := c.Membership(ctx, room1, alice); err != nil || len(hs.requests(http.MethodGet, "")) != before {
		t.Errorf("Membership asked the homeserver")
	}
}

func TestRetryLimitExceeded(t *testing.T) {
	for i, tc := range []struct {
		name   string
		body   string
		header string
		min    time.Duration
	}{
		{"retry_after_ms", `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":120}`, "", 120 * time.Millisecond},
		{"Retry-After header", `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`, "1", time.Second},
	} {
		t.Run(fmt.Sprintf("%d_%s", i, tc.name), func(t *testing.T) {
			ctx := context.Background()
			hs := newFakeHS(t)
			hs.makeRoom(room1, false, alice)
			var n atomic.Int32
			hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
				if rec.Method != http.MethodPut || !strings.Contains(rec.Path, "/send/") || n.Add(1) > 1 {
					return false
				}
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(tc.body))
				return true
			})
			c := newTestClient(t, hs, nil)
			start := time.Now()
			id, err := c.Intent(alice).SendText(ctx, room1, "hi", SendOptions{TxnID: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < tc.min {
				t.Errorf("retried after %v, homeserver asked for %v", el, tc.min)
			}
			if id == "" || len(hs.roomEvents(room1)) != 1 {
				t.Errorf("want exactly one event, got %d", len(hs.roomEvents(room1)))
			}
		})
	}
}

func TestRetryServerErrorsThenSuccess(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	var n atomic.Int32
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !strings.Contains(rec.Path, "/send/") || n.Add(1) > 3 {
			return false
		}
		writeErr(w, http.StatusBadGateway, "", "upstream down")
		return true
	})
	c := newTestClient(t, hs, nil)
	if _, err := c.Intent(alice).SendText(ctx, room1, "hi", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := len(hs.requests(http.MethodPut, "/send/")); got != 4 {
		t.Errorf("send requests = %d, want 4 (3 failures + success)", got)
	}
	if len(hs.roomEvents(room1)) != 1 {
		t.Error("want one event")
	}
}

func TestClientErrorsFailImmediately(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !strings.Contains(rec.Path, "/send/") {
			return false
		}
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON", "nope")
		return true
	})
	c := newTestClient(t, hs, nil)
	_, err := c.Intent(alice).SendText(ctx, room1, "hi", SendOptions{})
	var he *HTTPError
	if !errors.Is(err, ErrBadJSON) || !errors.As(err, &he) || he.Status != 400 || IsTransient(err) {
		t.Fatalf("err = %v, want a permanent 400 M_BAD_JSON", err)
	}
	if got := len(hs.requests(http.MethodPut, "/send/")); got != 1 {
		t.Errorf("send requests = %d, want 1", got)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Error("error text contains the token")
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		writeErr(w, http.StatusServiceUnavailable, "", "down")
		return true
	})
	c, err := New(Options{HomeserverURL: hs.srv.URL, ASToken: testToken, ServerName: testServer, BotLocalpart: "bot",
		Retry: RetryPolicy{MaxAttempts: 1000, BaseDelay: time.Second, MaxDelay: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Bot().SendText(ctx, room1, "hi", SendOptions{})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v; want a prompt failure when ctx ends", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap the context error", err)
	}
}

func TestRetryDoesNotBlockOtherCalls(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.makeRoom(room2, false, alice)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !strings.Contains(rec.Path, string(room1)) || !strings.Contains(rec.Path, "/send/") {
			return false
		}
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":10000}`))
		return true
	})
	c := newTestClient(t, hs, nil)
	slowCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Intent(alice).SendText(slowCtx, room1, "stuck", SendOptions{})
	poll.Until(t, "first attempt in room1", 10*time.Second, func() bool { return len(hs.requests(http.MethodPut, "/send/")) > 0 })
	start := time.Now()
	if _, err := c.Intent(alice).SendText(ctx, room2, "free", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("a send to another room took %v while room1 waits to retry", el)
	}
}

func TestDeterministicTxnIDs(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	c := newTestClient(t, hs, nil)
	a := c.Intent(alice)
	ts := time.UnixMilli(1700000000123)

	id1, err := a.SendText(ctx, room1, "same", SendOptions{Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := a.SendText(ctx, room1, "same", SendOptions{Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || len(hs.roomEvents(room1)) != 1 {
		t.Fatalf("a retried send created a duplicate: %s %s, %d events", id1, id2, len(hs.roomEvents(room1)))
	}
	if _, err := a.SendText(ctx, room1, "same", SendOptions{Timestamp: ts.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendText(ctx, room1, "same", SendOptions{TxnID: "remote-42"}); err != nil {
		t.Fatal(err)
	}
	sends := hs.requests(http.MethodPut, "/send/")
	if len(hs.roomEvents(room1)) != 3 {
		t.Errorf("events = %d, want 3 (different timestamp and explicit txn are new messages)", len(hs.roomEvents(room1)))
	}
	if !strings.HasSuffix(sends[len(sends)-1].Path, "/send/m.room.message/remote-42") {
		t.Errorf("explicit txn ID not used: %s", sends[len(sends)-1].Path)
	}
	want := TxnIDFor(alice, room1, matrix.EventMessage, json.RawMessage(`{"msgtype":"m.text","body":"same"}`), ts)
	if !strings.HasSuffix(sends[0].Path, "/"+want) {
		t.Errorf("default txn = %s, want suffix %s", sends[0].Path, want)
	}
}

func TestQueryParameters(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice, testBot)
	c := newTestClient(t, hs, nil)
	ts := time.UnixMilli(1600000000000)

	if _, err := c.Intent(alice).SendText(ctx, room1, "hi", SendOptions{Timestamp: ts}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Intent(alice).At(ts).SendState(ctx, room1, matrix.EventTopic, "", map[string]string{"topic": "t"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Intent(alice).At(ts).SetDisplayname(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if err := c.Intent(alice).At(ts).Leave(ctx, room1, "bye"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bot().SendText(ctx, room1, "bot", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, probe := range []struct{ method, part string }{
		{http.MethodPut, "/send/"}, {http.MethodPut, "/state/"}, {http.MethodPut, "/displayname"}, {http.MethodPost, "/leave"},
	} {
		r := hs.requests(probe.method, probe.part)[0]
		if r.Query.Get("ts") != "1600000000000" || r.Query.Get("user_id") != string(alice) {
			t.Errorf("%s %s query = %v, want ts and user_id", probe.method, probe.part, r.Query)
		}
		if r.Query.Has("access_token") {
			t.Errorf("token in query string: %v", r.Query)
		}
	}
	last := hs.requests(http.MethodPut, "/send/")
	if q := last[len(last)-1].Query; q.Has("user_id") || q.Has("ts") {
		t.Errorf("bot send query = %v, want neither user_id nor ts", q)
	}
	evs := hs.roomEvents(room1)
	if evs[1].StateKey == nil || *evs[1].StateKey != "" || evs[1].Type != matrix.EventTopic {
		t.Errorf("state event = %+v", evs[1])
	}
}

func TestProfileCacheAvoidsRedundantCalls(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	c := newTestClient(t, hs, nil)
	a := c.Intent(alice)
	for _, name := range []string{"Alice", "Alice", "Alice2"} {
		if err := a.SetDisplayname(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(hs.requests(http.MethodPut, "/displayname")); n != 2 {
		t.Errorf("displayname requests = %d, want 2", n)
	}
}

func TestCreateRoomWithBridgeInfo(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	c := newTestClient(t, hs, nil)
	info := &BridgeInfo{
		BridgeBot: testBot,
		Protocol:  BridgeInfoSection{ID: "irc", DisplayName: "IRC"},
		Network:   &BridgeInfoSection{ID: "libera"},
		Channel:   BridgeInfoSection{ID: "#go"},
	}
	room, err := c.Bot().CreateRoom(ctx, &CreateRoomRequest{Name: "#go", Invite: []matrix.UserID{alice}, BridgeInfo: info})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		InitialState []struct {
			Type     string          `json:"type"`
			StateKey string          `json:"state_key"`
			Content  json.RawMessage `json:"content"`
		} `json:"initial_state"`
	}
	json.Unmarshal(hs.lastCreate, &body)
	types := map[string]string{}
	for _, ev := range body.InitialState {
		types[ev.Type] = ev.StateKey
		if !strings.Contains(string(ev.Content), `"bridgebot":"@bot:example.org"`) {
			t.Errorf("%s content = %s", ev.Type, ev.Content)
		}
	}
	for _, typ := range []string{"m.bridge", "uk.half-shot.bridge"} {
		if types[typ] != "causeway://irc/libera/#go" {
			t.Errorf("initial state %s key = %q (all: %v)", typ, types[typ], types)
		}
	}
	// The creator is known joined: sending needs no join.
	if _, err := c.Bot().SendText(ctx, room, "hi", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.requests(http.MethodPost, "/join/")); n != 0 {
		t.Errorf("join requests = %d, want 0 after creating the room", n)
	}
}

func TestAliasesAndDirectory(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	c := newTestClient(t, hs, nil)
	b := c.Bot()
	alias := matrix.RoomAlias("#irc_#go:example.org")
	if err := b.CreateAlias(ctx, alias, room1); err != nil {
		t.Fatal(err)
	}
	got, servers, err := b.ResolveAlias(ctx, alias)
	if err != nil || got != room1 || len(servers) != 1 {
		t.Fatalf("resolve = %s %v %v", got, servers, err)
	}
	if _, _, err := b.ResolveAlias(ctx, "#nope:example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolve unknown alias: %v, want ErrNotFound", err)
	}
	if err := b.SetAppserviceRoomDirectory(ctx, "libera", room1, VisibilityPublic); err != nil {
		t.Fatal(err)
	}
	r := hs.requests(http.MethodPut, "/directory/list/appservice/")
	if len(r) != 1 || r[0].Path != "/_matrix/client/v3/directory/list/appservice/libera/"+string(room1) ||
		!strings.Contains(string(r[0].Body), `"public"`) {
		t.Errorf("appservice directory request = %+v", r)
	}
}

func TestPowerLevels(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, testBot)
	c := newTestClient(t, hs, nil)
	b := c.Bot()
	if _, err := b.SendState(ctx, room1, matrix.EventPowerLevels, "", json.RawMessage(`{"users":{"@bot:example.org":100}}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c2 := newTestClient(t, hs, nil) // fresh cache
	pl, err := c2.Bot().PowerLevels(ctx, room1)
	if err != nil {
		t.Fatal(err)
	}
	if pl.UserLevel(testBot) != 100 || pl.Ban != 50 || pl.StateDefault != 50 || pl.EventsDefault != 0 {
		t.Errorf("power levels = %+v, want spec defaults filled in", pl)
	}
	if err := c2.Bot().SetUserPowerLevel(ctx, room1, alice, 50); err != nil {
		t.Fatal(err)
	}
	if err := c2.Bot().SetUserPowerLevel(ctx, room1, alice, 50); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.requests(http.MethodGet, "/state/m.room.power_levels")); n != 1 {
		t.Errorf("power level fetches = %d, want 1 (cached)", n)
	}
	if n := len(hs.requests(http.MethodPut, "/state/m.room.power_levels")); n != 2 {
		t.Errorf("power level sets = %d, want 2 (the no-op change sends nothing)", n)
	}
}

func TestPingUnsupported(t *testing.T) {
	hs := newFakeHS(t)
	c := newTestClient(t, hs, nil)
	_, err := c.Ping(context.Background(), "causeway", "ping-1")
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if n := len(hs.requests(http.MethodPost, "/_matrix/client/v1/appservice/causeway/ping")); n != 1 {
		t.Errorf("ping requests = %d, want 1 (404 is not retried)", n)
	}
}

func TestMediaUploadDownload(t *testing.T) {
	for i, noV1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("%d_legacy_fallback=%v", i, noV1), func(t *testing.T) {
			ctx := context.Background()
			hs := newFakeHS(t)
			hs.noV1Media = noV1
			c := newTestClient(t, hs, nil)
			data := []byte("\x89PNG fake image")
			mxc, err := c.Intent(alice).UploadMedia(ctx, "image/png", "cat.png", data)
			if err != nil {
				t.Fatal(err)
			}
			up := hs.requests(http.MethodPost, "/upload")
			if up[0].Query.Get("filename") != "cat.png" || up[0].User != alice {
				t.Errorf("upload query = %v", up[0].Query)
			}
			got, ctype, err := c.Bot().DownloadMedia(ctx, mxc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(data) || ctype != "image/png" {
				t.Errorf("download = %q %q", got, ctype)
			}
			if n := len(hs.requests(http.MethodGet, "/_matrix/media/v3/download/")); (n == 1) != noV1 {
				t.Errorf("legacy downloads = %d with v1 disabled=%v", n, noV1)
			}
			if _, _, err := c.Bot().DownloadMedia(ctx, "https://example.org/x"); err == nil {
				t.Error("a non-mxc URI was accepted")
			}
		})
	}
}

func TestRedactAndReceipt(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	c := newTestClient(t, hs, nil)
	a := c.Intent(alice)
	id, err := a.SendText(ctx, room1, "oops", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := a.Redact(ctx, room1, id, "typo")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Redact(ctx, room1, id, "typo")
	if err != nil || r1 != r2 {
		t.Fatalf("retried redaction: %s %s %v; want the same event", r1, r2, err)
	}
	if err := a.SendReceipt(ctx, room1, id, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.SetTyping(ctx, room1, true, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rr := hs.requests(http.MethodPost, "/receipt/m.read/")
	if len(rr) != 1 || rr[0].User != alice {
		t.Errorf("receipts = %+v", rr)
	}
	ty := hs.requests(http.MethodPut, "/typing/")
	if len(ty) != 1 || !strings.Contains(string(ty[0].Body), `"timeout":5000`) {
		t.Errorf("typing = %+v", ty)
	}
}

func TestNewValidates(t *testing.T) {
	for i, o := range []Options{
		{ASToken: "t", ServerName: "s", BotLocalpart: "b"},
		{HomeserverURL: "http://h", ServerName: "s", BotLocalpart: "b"},
		{HomeserverURL: "http://h", ASToken: "t"},
		{HomeserverURL: "not a url", ASToken: "t", ServerName: "s", BotLocalpart: "b"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%d: New(%+v) succeeded", i, o)
		}
	}
}

func TestStaleRegistrationIsCorrected(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false)
	st := newMemStateStore()
	st.MarkRegistered(ctx, string(alice)) // believed registered; the homeserver lost it
	c := newTestClient(t, hs, st)
	if _, err := c.Intent(alice).SendText(ctx, room1, "hi", SendOptions{}); err != nil {
		t.Fatalf("send with a stale registration cache: %v", err)
	}
	if n := len(hs.requests(http.MethodPost, "/register")); n != 1 {
		t.Errorf("register requests = %d, want 1", n)
	}
	if len(hs.roomEvents(room1)) != 1 {
		t.Error("message not delivered")
	}
}

// TestLeaveWhenNotInRoom: leaving a room the user never joined (an IRC user
// who never spoke quits) is done, not an error to retry; once the cache
// knows the user left, another leave makes no request.
func TestLeaveWhenNotInRoom(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, testBot)
	c := newTestClient(t, hs, nil)
	if err := c.Intent(bob).Leave(ctx, room1, "quit"); err != nil {
		t.Fatalf("leave of a room never joined: %v", err)
	}
	if err := c.Intent(bob).Leave(ctx, room1, "quit"); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.requests(http.MethodPost, "/leave")); n != 1 {
		t.Fatalf("%d leave requests, want 1 (the second leave is known to be done)", n)
	}
}

// TestSendRefusedThenHomeserverGoneIsTransient: the homeserver refuses a
// send (403, as Dendrite does while shutting down) and is gone before the
// rejoin that would settle it; the error must be transient, so the outbox
// retries the message instead of dropping it.
func TestSendRefusedThenHomeserverGoneIsTransient(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false)
	c := newTestClient(t, hs, nil)
	a := c.Intent(alice)
	if _, err := a.SendText(ctx, room1, "one", SendOptions{TxnID: "t1"}); err != nil {
		t.Fatal(err)
	}
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		switch {
		case r.Method == http.MethodPut && strings.Contains(rec.Path, "/send/"):
			writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "appservice has not registered this user")
			return true
		case r.Method == http.MethodPost && strings.Contains(rec.Path, "/join/"):
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return false
			}
			_ = conn.Close() // the homeserver is gone
			return true
		}
		return false
	})
	_, err := a.SendText(ctx, room1, "two", SendOptions{TxnID: "t2"})
	if err == nil {
		t.Fatal("send succeeded against a homeserver that refused it")
	}
	if !IsTransient(err) {
		t.Fatalf("IsTransient(%v) = false: the outbox would drop the message", err)
	}
	if !strings.Contains(err.Error(), "403") {
		t.Errorf("error %q does not mention the refusal", err)
	}
}
