//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRegister(t *testing.T, hs *Dendrite, localpart string) *Client {
	t.Helper()
	c := hs.NewUser(t, localpart)
	want := matrix.UserID("@" + localpart + ":" + hs.ServerName())
	if c.UserID != want || c.AccessToken == "" {
		t.Fatalf("register %s: got user %q token %q, want user %q and a token", localpart, c.UserID, c.AccessToken, want)
	}
	return c
}

// TestIntegrationDendriteTwoUsers: one user creates a room and invites
// another, who joins and talks; each sees the other in /sync, /messages,
// profiles and aliases.
func TestIntegrationDendriteTwoUsers(t *testing.T) {
	hs := StartDendrite(t)
	ctx := testContext(t)
	alice := mustRegister(t, hs, "alice")
	bob := mustRegister(t, hs, "bob")

	room, err := alice.CreateRoom(ctx, CreateRoomRequest{
		Preset: "private_chat", Name: "test room", RoomAliasName: "testroom", Invite: []matrix.UserID{bob.UserID},
	})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	if _, err := bob.WaitForMembership(ctx, room, bob.UserID, "invite"); err != nil {
		t.Fatalf("bob never saw his invite: %v", err)
	}
	if joined, err := bob.Join(ctx, string(room)); err != nil || joined != room {
		t.Fatalf("bob join: got %q, %v; want %q", joined, err, room)
	}
	if err := bob.SetDisplayname(ctx, "Bob B."); err != nil {
		t.Fatalf("set displayname: %v", err)
	}
	sent, err := bob.SendText(ctx, room, "hello from bob")
	if err != nil {
		t.Fatalf("bob send: %v", err)
	}

	got, err := alice.WaitForMessage(ctx, room, "hello from bob")
	if err != nil {
		t.Fatalf("alice never saw the message: %v", err)
	}
	if got.ID != sent || got.Sender != bob.UserID {
		t.Errorf("alice saw event %s from %s, want %s from %s", got.ID, got.Sender, sent, bob.UserID)
	}

	msgs, err := alice.Messages(ctx, room, "b", "", 10)
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	if len(msgs.Chunk) == 0 || msgs.Chunk[0].ID != sent {
		t.Errorf("newest event in /messages is not bob's message %s: %+v", sent, msgs.Chunk)
	}

	p, err := alice.Profile(ctx, bob.UserID)
	if err != nil || p.Displayname != "Bob B." {
		t.Errorf("bob's profile: got %+v, %v; want displayname %q", p, err, "Bob B.")
	}

	alias := matrix.RoomAlias("#testroom:" + hs.ServerName())
	if resolved, err := bob.ResolveAlias(ctx, alias); err != nil || resolved != room {
		t.Errorf("resolve %s: got %q, %v; want %q", alias, resolved, err, room)
	}
	if _, err := bob.ResolveAlias(ctx, "#nosuchroom:localhost"); ErrCode(err) != "M_NOT_FOUND" {
		t.Errorf("resolve unknown alias: got %v, want M_NOT_FOUND", err)
	}
	carol := mustRegister(t, hs, "carol")
	if _, err := carol.Join(ctx, string(alias)); ErrCode(err) != "M_FORBIDDEN" {
		t.Errorf("uninvited carol joined a private room: %v", err)
	}
}

// TestIntegrationDendriteRestart: stored data and access tokens survive a
// graceful stop and a SIGKILL, and the server comes back on the same URL.
func TestIntegrationDendriteRestart(t *testing.T) {
	hs := StartDendrite(t)
	ctx := testContext(t)
	alice := mustRegister(t, hs, "alice")
	room, err := alice.CreateRoom(ctx, CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	for i, stop := range []func() error{hs.Stop, hs.Kill} {
		body := []string{"before stop", "before kill"}[i]
		if _, err := alice.SendText(ctx, room, body); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
		// Dendrite hands events to its sync API through in-memory JetStream:
		// only what /sync already shows is on disk and must survive a kill.
		if _, err := alice.WaitForMessage(ctx, room, body); err != nil {
			t.Fatal(err)
		}
		if err := stop(); err != nil {
			t.Fatalf("case %d: stop: %v", i, err)
		}
		if hs.Running() {
			t.Fatalf("case %d: still running after stop", i)
		}
		if _, err := alice.Profile(ctx, alice.UserID); err == nil {
			t.Fatalf("case %d: homeserver answered while stopped", i)
		}
		if err := hs.Start(); err != nil {
			t.Fatalf("case %d: restart: %v", i, err)
		}
		msgs, err := alice.Messages(ctx, room, "b", "", 5)
		if err != nil {
			t.Fatalf("case %d: messages after restart: %v", i, err)
		}
		if !hasMessage(msgs.Chunk, body) {
			t.Errorf("case %d: %q lost across restart", i, body)
		}
	}
}

func hasMessage(evs []matrix.Event, body string) bool {
	for _, ev := range evs {
		var m matrix.MessageContent
		if ev.Type == matrix.EventMessage && json.Unmarshal(ev.Content, &m) == nil && m.Body == body {
			return true
		}
	}
	return false
}

// TestIntegrationDendritePostgres: the homeserver runs on a fresh PostgreSQL
// database.
func TestIntegrationDendritePostgres(t *testing.T) {
	hs := StartDendrite(t, WithPostgres())
	ctx := testContext(t)
	alice := mustRegister(t, hs, "alice")
	room, err := alice.CreateRoom(ctx, CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	if _, err := alice.SendText(ctx, room, "stored in postgres"); err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := alice.WaitForMessage(ctx, room, "stored in postgres"); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(hs.Dir(), "dendrite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "postgres://") || strings.Contains(string(cfg), "file:") {
		t.Errorf("config does not use PostgreSQL only:\n%s", cfg)
	}
}

// TestIntegrationPostgresDB: a test database exists during the test and is
// dropped by its cleanup.
func TestIntegrationPostgresDB(t *testing.T) {
	base := RequireEnv(t, EnvPostgresURL)
	var name string
	t.Run("use", func(t *testing.T) {
		u := NewPostgresDB(t)
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(parsed.Path, "/")
		if err := adminExec(t.Context(), u, "CREATE TABLE t (id int PRIMARY KEY)"); err != nil {
			t.Fatalf("use the test database: %v", err)
		}
		if ok, err := databaseExists(t.Context(), base, name); err != nil || !ok {
			t.Fatalf("database %s exists = %v, %v; want true", name, ok, err)
		}
	})
	if ok, err := databaseExists(t.Context(), base, name); err != nil || ok {
		t.Errorf("database %s exists after cleanup = %v, %v; want false", name, ok, err)
	}
}

// fakeAppservice records the transactions a homeserver pushes.
type fakeAppservice struct {
	hsToken string
	mu      sync.Mutex
	events  []matrix.Event
	badAuth int
	arrived chan struct{}
}

func (f *fakeAppservice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.hsToken {
		f.mu.Lock()
		f.badAuth++
		f.mu.Unlock()
		http.Error(w, `{"errcode":"M_FORBIDDEN"}`, http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
		http.Error(w, `{"errcode":"M_UNRECOGNIZED"}`, http.StatusNotFound)
		return
	}
	var txn struct {
		Events []matrix.Event `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&txn); err != nil {
		http.Error(w, `{"errcode":"M_BAD_JSON"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, txn.Events...)
	f.mu.Unlock()
	select {
	case f.arrived <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

func (f *fakeAppservice) find(match func(ev *matrix.Event) bool) *matrix.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.events {
		if match(&f.events[i]) {
			ev := f.events[i]
			return &ev
		}
	}
	return nil
}

// TestIntegrationAppserviceRegistration: Dendrite reads the registration
// file: it pushes the invite of a namespaced user to the appservice with the
// hs_token, and keeps the exclusive namespace from normal users.
func TestIntegrationAppserviceRegistration(t *testing.T) {
	as := &fakeAppservice{hsToken: "hs-" + randomHex(t, 8), arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(as)
	t.Cleanup(srv.Close)
	reg := filepath.Join(t.TempDir(), "registration.yaml")
	regYAML := strings.Join([]string{
		"id: cwtest",
		"url: " + srv.URL,
		"as_token: as-" + randomHex(t, 8),
		"hs_token: " + as.hsToken,
		"sender_localpart: cwtestbot",
		"rate_limited: false",
		"namespaces:",
		"  users:",
		"    - exclusive: true",
		`      regex: '^@cwtest_.*:localhost$'`,
		"  aliases: []",
		"  rooms: []",
		"",
	}, "\n")
	if err := os.WriteFile(reg, []byte(regYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := StartDendrite(t, WithRegistration(reg))
	ctx := testContext(t)
	alice := mustRegister(t, hs, "alice")

	if _, err := Register(ctx, hs.URL(), "cwtest_squatter", "password"); ErrCode(err) != "M_EXCLUSIVE" {
		t.Errorf("normal registration inside the exclusive namespace: got %v, want M_EXCLUSIVE", err)
	}

	puppet := matrix.UserID("@cwtest_alice:localhost")
	room, err := alice.CreateRoom(ctx, CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	if err := alice.Invite(ctx, room, puppet); err != nil {
		t.Fatalf("invite %s: %v", puppet, err)
	}
	isInvite := func(ev *matrix.Event) bool {
		var m matrix.MemberContent
		return ev.RoomID == room && ev.Type == matrix.EventMember && ev.StateKey != nil &&
			*ev.StateKey == string(puppet) && json.Unmarshal(ev.Content, &m) == nil && m.Membership == "invite"
	}
	for as.find(isInvite) == nil {
		select {
		case <-as.arrived:
		case <-ctx.Done():
			as.mu.Lock()
			t.Fatalf("appservice never received the invite of %s (%d events, %d bad auth): %+v",
				puppet, len(as.events), as.badAuth, as.events)
		}
	}
	if ev := as.find(isInvite); ev.Sender != alice.UserID {
		t.Errorf("invite sender = %s, want %s", ev.Sender, alice.UserID)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.badAuth != 0 {
		t.Errorf("%d requests without the hs_token", as.badAuth)
	}
}

// TestIntegrationDendriteKillDurable: with on-disk JetStream, every message
// the homeserver accepted (200 on send) reaches /messages after a SIGKILL
// that came right after the last send.
func TestIntegrationDendriteKillDurable(t *testing.T) {
	hs := StartDendrite(t, WithDurableJetStream())
	ctx := testContext(t)
	alice := mustRegister(t, hs, "alice")
	room, err := alice.CreateRoom(ctx, CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	const n = 20
	for i := range n {
		if _, err := alice.SendText(ctx, room, "msg "+strconv.Itoa(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := hs.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := hs.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := alice.WaitForMessage(ctx, room, "msg "+strconv.Itoa(n-1)); err != nil {
		t.Fatalf("last message never reached /sync after the kill: %v", err)
	}
	msgs, err := alice.Messages(ctx, room, "b", "", 50)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !hasMessage(msgs.Chunk, "msg "+strconv.Itoa(i)) {
			t.Errorf("msg %d lost after kill", i)
		}
	}
}
