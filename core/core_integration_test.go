//go:build integration

package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/registration"

	_ "github.com/causewaybridge/causeway/bridges/loopback"
)

// testBridge is a Causeway instance running in-process against a real Dendrite.
type testBridge struct {
	*core.Bridge
	hs  *integration.Dendrite
	cfg *config.Config
}

// startStack writes a config and registration, starts Dendrite with the
// registration and the bridge against it.
func startStack(t *testing.T, dbURL string) *testBridge {
	t.Helper()
	return startStackOn(t, dbURL, "")
}

// startStackOn is startStack with the appservice listening on listen
// (empty: a free TCP port on 127.0.0.1).
func startStackOn(t *testing.T, dbURL, listen string) *testBridge {
	t.Helper()
	dir := t.TempDir()
	if listen == "" {
		listen = fmt.Sprintf("127.0.0.1:%d", integration.FreePort(t))
	}
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(dir, "causeway.db")
	}
	regPath := filepath.Join(dir, "registration.yaml")
	// The homeserver URL is not known before Dendrite starts; the config is
	// parsed twice: once to generate the registration, once to run.
	cfgText := func(hsURL string) string {
		return fmt.Sprintf(`homeserver:
  url: %s
  server_name: localhost
  ephemeral_sync: true
appservice:
  address: %s
  registration: %s
  admins: ["@admin:localhost"]
database:
  url: %s
logging:
  level: debug
bridges:
  loopback:
    echo: true
`, hsURL, listen, regPath, dbURL)
	}
	cfg, err := config.Parse([]byte(cfgText("http://127.0.0.1:1")), "test-config", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := core.Modules(cfg, bridges.Default)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registration.Generate(core.RegistrationSpec(cfg, mods), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	hs := integration.StartDendrite(t, integration.WithRegistration(regPath))
	cfg, err = config.Parse([]byte(cfgText(hs.URL())), "test-config", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBridge{hs: hs, cfg: cfg}
	tb.start(t, reg)
	return tb
}

func (tb *testBridge) start(t *testing.T, reg *registration.Registration) {
	t.Helper()
	mods, err := core.Modules(tb.cfg, bridges.Default)
	if err != nil {
		t.Fatal(err)
	}
	logw := io.Writer(io.Discard)
	if testing.Verbose() {
		logw = os.Stderr
	}
	ctx := context.Background()
	b, err := core.New(ctx, core.Options{Config: tb.cfg, Registration: reg, Modules: mods,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tb.Bridge = b
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop bridge: %v", err)
		}
	})
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func register(t *testing.T, ctx context.Context, hs *integration.Dendrite, name string) *integration.Client {
	t.Helper()
	c, err := integration.Register(ctx, hs.URL(), name, "password-"+name)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return c
}

// messagesFrom returns the bodies of m.room.message events sent by sender
// in room, oldest first, read back through /messages like a client would.
func messagesFrom(t *testing.T, ctx context.Context, c *integration.Client, room matrix.RoomID, sender matrix.UserID) []string {
	t.Helper()
	evs, err := c.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type != matrix.EventMessage || ev.Sender != sender {
			continue
		}
		var mc matrix.MessageContent
		_ = json.Unmarshal(ev.Content, &mc)
		out = append(out, mc.Body)
	}
	return out
}

// TestIntegrationInvitePuppetAndTalk: a user invites a puppet, which joins;
// the user sends a stream of messages; the bridge receives each exactly once
// and in order (each one produces exactly one echo, in the same order).
func TestIntegrationInvitePuppetAndTalk(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, 2*time.Minute)
	user := register(t, ctx, tb.hs, "carol")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Name: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	alice := matrix.UserID("@loop_alice:localhost")
	if err := user.Invite(ctx, room, alice); err != nil {
		t.Fatalf("invite puppet: %v", err)
	}
	if _, err := user.WaitForMembership(ctx, room, alice, "join"); err != nil {
		t.Fatalf("puppet did not join after the invite: %v", err)
	}
	const n = 30
	for i := range n {
		if _, err := user.SendText(ctx, room, fmt.Sprintf("msg %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, fmt.Sprintf("alice heard: msg %02d", n-1)); err != nil {
		t.Fatalf("last echo never arrived: %v", err)
	}
	// A last message: events are handled in order, so a duplicate echo
	// would be in the room before this one's.
	if _, err := user.SendText(ctx, room, "sentinel"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, "alice heard: sentinel"); err != nil {
		t.Fatalf("sentinel echo never arrived: %v", err)
	}
	got := messagesFrom(t, ctx, user, room, alice)
	got = slices.DeleteFunc(got, func(b string) bool { return b == "alice heard: sentinel" })
	if len(got) != n {
		t.Fatalf("got %d echoes, want %d (each event processed once): %q", len(got), n, got)
	}
	for i, body := range got {
		if want := fmt.Sprintf("alice heard: msg %02d", i); body != want {
			t.Fatalf("echo %d = %q, want %q (order lost)", i, body, want)
		}
	}
}

// TestIntegrationAliasQueryCreatesPortal: joining a module alias makes the
// homeserver query the bridge, which creates the room; the user joins it
// and the room carries MSC2346 bridge info.
func TestIntegrationAliasQueryCreatesPortal(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	user := register(t, ctx, tb.hs, "dave")
	room, err := user.Join(ctx, "#loop_lobby:localhost")
	if err != nil {
		t.Fatalf("join by alias: %v", err)
	}
	if resolved, err := user.ResolveAlias(ctx, "#loop_lobby:localhost"); err != nil || resolved != room {
		t.Fatalf("alias resolves to %q, %v; want %q", resolved, err, room)
	}
	if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		return ev.RoomID == room && ev.Type == matrix.EventBridge && ev.StateKey != nil
	}); err != nil {
		t.Fatalf("no m.bridge state in the portal: %v", err)
	}
	if _, err := user.SendText(ctx, room, "hello lobby"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, "echo heard: hello lobby"); err != nil {
		t.Fatalf("echo puppet did not answer in the alias portal: %v", err)
	}
	if _, err := user.Join(ctx, "#loop_nosuch_but_valid:localhost"); err != nil {
		t.Fatalf("second alias: %v", err)
	}
	// An alias outside every namespace is not the bridge's: not found.
	if _, err := user.ResolveAlias(ctx, "#not_ours:localhost"); integration.ErrCode(err) != "M_NOT_FOUND" {
		t.Fatalf("alias outside the namespace: err = %v, want M_NOT_FOUND", err)
	}
}

// TestIntegrationPuppetActsWithTimestampAndProfile: a puppet registers,
// sets its profile, joins a room and sends with a massaged timestamp; a real
// user sees all of it in /sync.
func TestIntegrationPuppetActsWithTimestampAndProfile(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	user := register(t, ctx, tb.hs, "erin")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Name: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	bob := tb.Client().Intent("@loop_bob:localhost")
	if err := bob.EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetDisplayname(ctx, "Bob from the loop"); err != nil {
		t.Fatal(err)
	}
	if err := bob.EnsureJoined(ctx, room); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-36 * time.Hour).Truncate(time.Millisecond)
	if _, err := bob.SendMessageEvent(ctx, room, matrix.EventMessage,
		matrix.MessageContent{MsgType: matrix.MsgText, Body: "from the past"}, intent.SendOptions{Timestamp: past, TxnID: "t1"}); err != nil {
		t.Fatal(err)
	}
	// The same TxnID again must not post a second message.
	if _, err := bob.SendMessageEvent(ctx, room, matrix.EventMessage,
		matrix.MessageContent{MsgType: matrix.MsgText, Body: "from the past"}, intent.SendOptions{Timestamp: past, TxnID: "t1"}); err != nil {
		t.Fatal(err)
	}
	ev, err := user.WaitForMessage(ctx, room, "from the past")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender != bob.UserID() || ev.OriginServerTS != past.UnixMilli() {
		t.Fatalf("sender %s ts %d, want %s ts %d", ev.Sender, ev.OriginServerTS, bob.UserID(), past.UnixMilli())
	}
	p, err := user.Profile(ctx, bob.UserID())
	if err != nil || p.Displayname != "Bob from the loop" {
		t.Fatalf("profile = %+v, %v", p, err)
	}
	if got := messagesFrom(t, ctx, user, room, bob.UserID()); len(got) != 1 {
		t.Fatalf("retried send with the same txn id posted %d messages", len(got))
	}
}

// TestIntegrationBotCommands: a user opens a DM with the bot, which joins
// and answers !help.
func TestIntegrationBotCommands(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	user := register(t, ctx, tb.hs, "frank")
	bot := matrix.UserID("@causeway:localhost")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", IsDirect: true, Invite: []matrix.UserID{bot}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, bot, "join"); err != nil {
		t.Fatalf("bot did not join the DM: %v", err)
	}
	if _, err := user.SendText(ctx, room, "!help"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var mc matrix.MessageContent
		return ev.RoomID == room && ev.Sender == bot && json.Unmarshal(ev.Content, &mc) == nil &&
			strings.HasPrefix(mc.Body, "Commands:")
	}); err != nil {
		t.Fatalf("no !help answer: %v", err)
	}
}

// TestIntegrationPostgresBackend runs the invite-and-talk flow with the
// store on a real PostgreSQL.
func TestIntegrationPostgresBackend(t *testing.T) {
	dbURL := integration.NewPostgresDB(t)
	tb := startStack(t, dbURL)
	ctx := testCtx(t, time.Minute)
	if tb.Store().Dialect() != "postgres" {
		t.Fatalf("dialect %q", tb.Store().Dialect())
	}
	user := register(t, ctx, tb.hs, "gina")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if err := user.Invite(ctx, room, "@loop_pg:localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, "@loop_pg:localhost", "join"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.SendText(ctx, room, "on postgres"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, "pg heard: on postgres"); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationUnixSocket runs the invite-and-talk flow with the
// appservice listening on a Unix socket (registration url unix://PATH):
// Dendrite pushes transactions over it (and, answered without a body,
// reuses the connection; over TCP it opens one per transaction).
func TestIntegrationUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "as.sock")
	tb := startStackOn(t, "", "unix:"+sock)
	ctx := testCtx(t, time.Minute)
	if got := tb.cfg.Appservice.URL; got != "unix://"+sock {
		t.Fatalf("registration URL %q, want unix://%s", got, sock)
	}
	user := register(t, ctx, tb.hs, "ursula")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if err := user.Invite(ctx, room, "@loop_us:localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, "@loop_us:localhost", "join"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		body := fmt.Sprintf("over the socket %d", i)
		if _, err := user.SendText(ctx, room, body); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForMessage(ctx, room, "us heard: "+body); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIntegrationDendriteLetsGoOfConnections: Dendrite never closes the
// body of a transaction's answer, so every answered transaction used to
// leave a connection open in Dendrite for good. The bridge answers it with
// no body (appservice.ack_body auto), and Dendrite's open files stay level
// while it pushes a transaction per message.
func TestIntegrationDendriteLetsGoOfConnections(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, 2*time.Minute)
	user := register(t, ctx, tb.hs, "dora")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if err := user.Invite(ctx, room, "@loop_dora:localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, "@loop_dora:localhost", "join"); err != nil {
		t.Fatal(err)
	}
	before, err := tb.hs.OpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 40 // two transactions each: the message and its echo
	for i := range msgs {
		body := fmt.Sprintf("count the sockets %d", i)
		if _, err := user.SendText(ctx, room, body); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForMessage(ctx, room, "dora heard: "+body); err != nil {
			t.Fatal(err)
		}
	}
	after, err := tb.hs.OpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	if after-before >= msgs/2 {
		t.Fatalf("Dendrite's open files went from %d to %d over %d bridged messages: it keeps the transactions' connections", before, after, msgs)
	}
}

// TestIntegrationBridgeUsersMuted: the bot and the puppets the bridge
// registers have their notifications muted on the homeserver (no push
// rule evaluation and no unread counts stored for them on every message).
func TestIntegrationBridgeUsersMuted(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	puppet := tb.Client().Intent("@loop_muted:localhost")
	if err := puppet.EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*intent.Intent{tb.Client().Bot(), puppet} {
		muted, err := in.NotificationsMuted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !muted {
			t.Errorf("%s: notifications not muted", in.UserID())
		}
	}
}

// TestIntegrationEphemeralFallbackTyping: Dendrite does not push ephemeral
// events to appservices, so the bot's /sync fallback fetches them: a user
// typing in a portal reaches the module, whose puppet mirrors it, and the
// user sees the puppet typing.
func TestIntegrationEphemeralFallbackTyping(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	user := register(t, ctx, tb.hs, "tina")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat",
		Invite: []matrix.UserID{"@loop_typist:localhost", "@causeway:localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []matrix.UserID{"@loop_typist:localhost", "@causeway:localhost"} {
		if _, err := user.WaitForMembership(ctx, room, u, "join"); err != nil {
			t.Fatalf("%s did not join: %v", u, err)
		}
	}
	typing := func(on bool) {
		body := strings.NewReader(fmt.Sprintf(`{"typing":%t,"timeout":30000}`, on))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, tb.hs.URL()+"/_matrix/client/v3/rooms/"+
			url.PathEscape(string(room))+"/typing/"+url.PathEscape(string(user.UserID)), body)
		req.Header.Set("Authorization", "Bearer "+user.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("typing: %s", resp.Status)
		}
	}
	typing(true)
	if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c struct {
			UserIDs []matrix.UserID `json:"user_ids"`
		}
		return ev.RoomID == room && ev.Type == matrix.EventTyping && json.Unmarshal(ev.Content, &c) == nil &&
			slices.Contains(c.UserIDs, "@loop_typist:localhost")
	}); err != nil {
		t.Fatalf("the puppet never mirrored the typing notification: %v", err)
	}
}

// TestIntegrationThirdPartyLookups: a client asks the homeserver for the
// bridged protocols and locations; the homeserver asks the bridge.
func TestIntegrationThirdPartyLookups(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, time.Minute)
	user := register(t, ctx, tb.hs, "uma")
	get := func(path string, out any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tb.hs.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+user.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var protocols map[string]json.RawMessage
	get("/_matrix/client/v3/thirdparty/protocols", &protocols)
	if _, ok := protocols["loopback"]; !ok {
		t.Fatalf("protocols = %v, want loopback", protocols)
	}
	var locs []struct {
		Alias string `json:"alias"`
	}
	get("/_matrix/client/v3/thirdparty/location/loopback?room=lobby", &locs)
	if len(locs) != 1 || locs[0].Alias != "#loop_lobby:localhost" {
		t.Fatalf("locations = %+v", locs)
	}
	var users []struct {
		UserID string `json:"userid"`
	}
	get("/_matrix/client/v3/thirdparty/user/loopback?name=zed", &users)
	if len(users) != 1 || users[0].UserID != "@loop_zed:localhost" {
		t.Fatalf("users = %+v", users)
	}
}
