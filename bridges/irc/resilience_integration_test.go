//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationIRCMessageWaitsForReconnect: a Matrix message sent while
// the IRC server is down is delivered, in order, once it is back.
func TestIntegrationIRCMessageWaitsForReconnect(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 3*time.Minute)
	user := s.User(ctx, "wendy")
	room, err := user.Join(ctx, portalAlias("#wait"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.SendText(ctx, room, "first"); err != nil {
		t.Fatal(err)
	}
	dialJoined(t, srv.Addr(), "w1", []string{"#wait"})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"sent while down 1", "sent while down 2"} {
		if _, err := user.SendText(ctx, room, b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	w2 := dialJoined(t, srv.Addr(), "w2", []string{"#wait"}, integration.WithCaps("batch", "server-time", "message-tags", "draft/chathistory"))
	// The bridge may have reconnected and sent before w2 joined: ask the
	// server's history too, so the check does not race the bridge.
	if err := w2.Send("CHATHISTORY LATEST #wait * 50"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"sent while down 1", "sent while down 2"} {
		if _, err := w2.WaitFor(integration.IsPrivmsg("wendy", "#wait", b), 90*time.Second); err != nil {
			t.Fatalf("%q never arrived after the server came back: %v", b, err)
		}
	}
}

// TestIntegrationIRCIdent: with the built-in ident server, a Matrix user's
// connection shows their own ident (no '~'), so IRC operators can tell
// users apart.
func TestIntegrationIRCIdent(t *testing.T) {
	srv := integration.StartErgo(t, integration.WithErgoSetting("server.check-ident", true), integration.WithErgoSetting("server.coerce-ident", ""))
	s := startIRCStack(t, srv, "    identd: 127.0.0.1:113\n")
	ctx := tctx(t, 2*time.Minute)
	user := s.User(ctx, "ivy")
	obs := dialJoined(t, srv.Addr(), "observer", []string{"#ident"})
	_, l := joinPortal(ctx, t, user, "#ident", obs)
	if !strings.HasPrefix(l.Source, "ivy!ivy@") {
		t.Fatalf("source %q: want the ident answered by the bridge (ivy!ivy@...)", l.Source)
	}
}
