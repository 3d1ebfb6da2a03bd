//go:build integration

package intent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

const integrationASToken = "intent-it-as-token"

// startHomeserver runs Dendrite with a registration for this test's
// appservice (bot @causewaybot:localhost, puppets @irc_*:localhost).
func startHomeserver(t *testing.T) *integration.Dendrite {
	t.Helper()
	reg := filepath.Join(t.TempDir(), "registration.yaml")
	yaml := fmt.Sprintf(`id: causeway-intent-test
url: http://127.0.0.1:%d
as_token: %s
hs_token: intent-it-hs-token
sender_localpart: causewaybot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '^@irc_.*:localhost$'
  aliases:
    - exclusive: true
      regex: '^#irc_.*:localhost$'
`, integration.FreePort(t), integrationASToken)
	if err := os.WriteFile(reg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return integration.StartDendrite(t, integration.WithRegistration(reg))
}

func TestIntegrationIntentPuppetOnDendrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hs := startHomeserver(t)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "causeway.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := New(Options{HomeserverURL: hs.URL(), ASToken: integrationASToken, ServerName: hs.ServerName(),
		BotLocalpart: "causewaybot", StateStore: st, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}

	user, err := integration.Register(ctx, hs.URL(), "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	// An invite-only room: the puppet can only get in through the bot.
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Name: "bridged",
		Invite: []matrix.UserID{c.BotUserID()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Bot().EnsureJoined(ctx, room); err != nil {
		t.Fatalf("bot join: %v", err)
	}

	bob := c.Intent("@irc_bob:localhost")
	if err := bob.SetDisplayname(ctx, "bob (IRC)"); err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1600000000000)
	id1, err := bob.SendText(ctx, room, "hello from IRC", SendOptions{TxnID: "irc-msg-1", Timestamp: ts})
	if err != nil {
		t.Fatalf("puppet send: %v", err)
	}
	id2, err := bob.SendText(ctx, room, "hello from IRC", SendOptions{TxnID: "irc-msg-1", Timestamp: ts})
	if err != nil || id2 != id1 {
		t.Fatalf("retried send = %s, %v; want the same event %s", id2, err, id1)
	}
	ev, err := user.WaitForMessage(ctx, room, "hello from IRC")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender != bob.UserID() || ev.OriginServerTS != ts.UnixMilli() {
		t.Errorf("user saw sender %s ts %d; want %s %d", ev.Sender, ev.OriginServerTS, bob.UserID(), ts.UnixMilli())
	}
	prof, err := user.Profile(ctx, bob.UserID())
	if err != nil || prof.Displayname != "bob (IRC)" {
		t.Errorf("profile = %+v, %v", prof, err)
	}

	// Outbox: ordered delivery as the puppet.
	o, err := NewOutbox(OutboxOptions{Client: c, Store: st, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer o.Stop(context.Background())
	for i := range 5 {
		if _, err := o.Send(ctx, textOp(room, bob.UserID(), fmt.Sprintf("queued %d", i), fmt.Sprint("q", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, "queued 4"); err != nil {
		t.Fatal(err)
	}
	msgs, err := user.Messages(ctx, room, "b", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(msgs.Chunk) - 1; i >= 0; i-- {
		if msgs.Chunk[i].Type == matrix.EventMessage && msgs.Chunk[i].Sender == bob.UserID() {
			got = append(got, bodies([]fakeEvent{{Content: msgs.Chunk[i].Content}})[0])
		}
	}
	if want := "[hello from IRC queued 0 queued 1 queued 2 queued 3 queued 4]"; fmt.Sprint(got) != want {
		t.Errorf("timeline = %v, want %s", got, want)
	}

	// Media as the puppet, downloaded by the bot with authenticated media.
	mxc, err := bob.UploadMedia(ctx, "text/plain", "note.txt", []byte("a note"))
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := c.Bot().DownloadMedia(ctx, mxc)
	if err != nil || string(data) != "a note" {
		t.Errorf("download = %q, %v", data, err)
	}

	// Dendrite lacks the appservice ping endpoint.
	if _, err := c.Ping(ctx, "causeway-intent-test", "p1"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ping: %v, want ErrUnsupported on Dendrite", err)
	}

	// Ephemeral fallback: the bot sees the user typing and reading.
	var mu sync.Mutex
	seen := map[string]bool{}
	syncer := c.NewEphemeralSyncer(func(_ context.Context, evt *matrix.Event) {
		mu.Lock()
		defer mu.Unlock()
		if evt.RoomID == room || evt.Type == matrix.EventPresence {
			seen[evt.Type] = true
		}
	})
	syncer.SetPollTimeout(2 * time.Second)
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go syncer.Run(sctx)
	uc, err := New(Options{HomeserverURL: hs.URL(), ASToken: user.AccessToken, BotUserID: user.UserID, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	poll.Check(t, "the bot sees the user typing and reading", 30*time.Second, func() error {
		mu.Lock()
		done := seen[matrix.EventTyping] && seen[matrix.EventReceipt]
		msg := fmt.Sprintf("ephemeral events seen: %v", seen)
		mu.Unlock()
		if done {
			return nil
		}
		// Repeat: the syncer may not have made its first /sync yet.
		uc.Bot().SetTyping(ctx, room, true, 10*time.Second)
		uc.Bot().SendReceipt(ctx, room, id1, ReceiptRead)
		return errors.New(msg)
	})
}
