//go:build integration

package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// groupchat is what the test reads of a groupchat message an XMPP client
// received.
type groupchat struct {
	Body     string `xml:"body"`
	StanzaID []struct {
		ID string `xml:"id,attr"`
		By string `xml:"by,attr"`
	} `xml:"urn:xmpp:sid:0 stanza-id"`
	OriginID struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:sid:0 origin-id"`
}

// TestIntegrationXMPPKill9MidConversation: the bridge process (the
// causeway binary, xmpp module on Prosody and Dendrite) is killed with
// SIGKILL in the middle of a conversation, both ways, and started again.
//
// Matrix → XMPP: of 45 messages, the bridge dies after the 15th is sent
// and comes back after the 30th; the XMPP occupant gets every one, in
// order. A message the server took just before the kill may come twice
// (the outbound queue is at least once), but only with the same
// XEP-0359 stanza-id, which is what clients drop duplicates by.
//
// XMPP → Matrix: the occupant sends 30 messages with origin-ids while
// the bridge is killed after the 10th and started after the 20th. What
// Prosody could not hand to the component bounces back to the client as
// an error; the client sends again (same origin-id) whatever was bounced
// or never reflected, as XEP-0045 lets it tell. Matrix then has each
// message exactly once: nothing lost, the resends not posted twice.
func TestIntegrationXMPPKill9MidConversation(t *testing.T) {
	integration.RequireEnv(t, "CAUSEWAY_DENDRITE_BIN")
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	dir := t.TempDir()
	bin := buildBinary(t)
	port := integration.FreePort(t)
	regPath := filepath.Join(dir, "registration.yaml")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(hsURL string) {
		cfg := fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\nappservice:\n  address: 127.0.0.1:%d\n  registration: %s\n"+
			"database:\n  url: sqlite:%s\nlogging:\n  level: debug\nbridges:\n  xmpp:\n    server: %q\n    domain: %q\n    secret: %q\n",
			hsURL, port, regPath, filepath.Join(dir, "causeway.db"), p.ComponentAddr(), p.ComponentDomain(), p.ComponentSecret())
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("http://127.0.0.1:1")
	if out, err := exec.Command(bin, "generate-registration", "-c", cfgPath, "-o", regPath).CombinedOutput(); err != nil {
		t.Fatalf("generate-registration: %v\n%s", err, out)
	}
	hs := integration.StartDendrite(t, integration.WithRegistration(regPath))
	writeCfg(hs.URL())
	proc := &bridgeProc{bin: bin, cfg: cfgPath, logPath: filepath.Join(dir, "causeway.log")}
	proc.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(proc.logPath)
			var notable []string
			for _, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "causeway started") {
					notable = append(notable, l)
				}
			}
			t.Logf("bridge log, warnings and errors:\n%s", tail(strings.Join(notable, "\n"), 80))
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	carol, err := integration.Register(ctx, hs.URL(), "carol", "password-carol")
	if err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#crash:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + p.ComponentDomain()
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	for n := 0; ; n++ { // the component connects in the background
		id := fmt.Sprintf("j%d", n)
		if err := alice.Send(ctx, `<presence to='`+muc+`/alice' id='`+id+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
			t.Fatal(err)
		}
		st, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.From == muc+"/alice" })
		if err != nil {
			t.Fatal(err)
		}
		if st.Type == "" {
			break
		}
		if !strings.Contains(st.XML, "remote-server-timeout") && !strings.Contains(st.XML, "service-unavailable") {
			t.Fatalf("join: %s", st.XML)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") }); err != nil {
		t.Fatalf("no subject after the join: %v", err)
	}

	// Matrix → XMPP.
	const toXMPP = 45
	for i := range toXMPP {
		if _, err := carol.SendText(ctx, room, fmt.Sprintf("down %02d", i)); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 15:
			proc.kill()
		case 30:
			proc.start(t)
		}
	}
	last := fmt.Sprintf("down %02d", toXMPP-1)
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, last) }); err != nil {
		t.Fatalf("the last Matrix message never reached XMPP: %v", err)
	}
	var bodies []string
	idOf := map[string]string{}
	for _, s := range alice.Received() {
		var m groupchat
		if s.Name != "message" || s.Type != "groupchat" || xml.Unmarshal([]byte(s.XML), &m) != nil || !strings.HasPrefix(m.Body, "down ") {
			continue
		}
		sid := ""
		for _, x := range m.StanzaID {
			if x.By == muc {
				sid = x.ID
			}
		}
		if sid == "" {
			t.Errorf("%q came without the room's stanza-id: %s", m.Body, s.XML)
		}
		if prev, seen := idOf[m.Body]; seen {
			if prev != sid {
				t.Errorf("%q came twice with different stanza-ids %s and %s: clients cannot drop the duplicate", m.Body, prev, sid)
			}
			continue
		}
		idOf[m.Body] = sid
		bodies = append(bodies, m.Body)
	}
	for i, b := range bodies {
		if want := fmt.Sprintf("down %02d", i); b != want {
			t.Fatalf("Matrix → XMPP message %d is %q, want %q (lost or out of order): %q", i, b, want, bodies)
		}
	}
	if len(bodies) != toXMPP {
		t.Fatalf("%d distinct Matrix messages reached XMPP, want %d: %q", len(bodies), toXMPP, bodies)
	}

	// XMPP → Matrix.
	const toMatrix = 30
	send := func(i int) {
		t.Helper()
		raw := fmt.Sprintf(`<message to='%s' type='groupchat' id='up%02d'><body>up %02d</body><origin-id xmlns='urn:xmpp:sid:0' id='origin-up%02d'/></message>`, muc, i, i, i)
		if err := alice.Send(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	for i := range toMatrix {
		send(i)
		switch i {
		case 10:
			proc.kill()
		case 20:
			proc.start(t)
		}
		time.Sleep(30 * time.Millisecond) // a conversation, not one burst
	}
	// Wait for the fate of the last one (reflected or bounced), then send
	// again, as a client may, what was bounced or never reflected; the
	// origin-id keeps a message that did reach Matrix from being posted
	// twice.
	lastID := fmt.Sprintf("up%02d", toMatrix-1)
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool {
		return s.Name == "message" && (s.ID == lastID && s.Type == "error" || strings.Contains(s.XML, "origin-"+lastID))
	}); err != nil {
		t.Fatalf("the last message was neither reflected nor bounced: %v", err)
	}
	reflected := map[string]bool{}
	for _, s := range alice.Received() {
		var m groupchat
		if s.Name == "message" && s.Type == "groupchat" && xml.Unmarshal([]byte(s.XML), &m) == nil && m.OriginID.ID != "" {
			reflected[m.OriginID.ID] = true
		}
	}
	resent := 0
	for i := range toMatrix {
		if !reflected[fmt.Sprintf("origin-up%02d", i)] {
			send(i)
			resent++
		}
	}
	t.Logf("%d of %d messages were bounced or not reflected around the kill, and sent again", resent, toMatrix)
	upCount := func() map[string]int {
		t.Helper()
		timeline, err := carol.RoomTimeline(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, ev := range timeline {
			var mc matrix.MessageContent
			if ev.Type == matrix.EventMessage && json.Unmarshal(ev.Content, &mc) == nil && strings.HasPrefix(mc.Body, "up ") {
				count[mc.Body]++
			}
		}
		return count
	}
	poll.Check(t, "every XMPP message in the Matrix room", 2*time.Minute, func() error {
		count := upCount()
		for i := range toMatrix {
			if b := fmt.Sprintf("up %02d", i); count[b] == 0 {
				return fmt.Errorf("%q missing (have %v)", b, count)
			}
		}
		return nil
	})
	// A last message: the room's messages are posted in order, so a
	// duplicate of a resend would be in the room before this one.
	send(99)
	if _, err := carol.WaitForMessage(ctx, room, "up 99"); err != nil {
		t.Fatal(err)
	}
	count := upCount()
	for i := range toMatrix {
		if b := fmt.Sprintf("up %02d", i); count[b] != 1 {
			t.Errorf("%q is in the Matrix room %d times, want once", b, count[b])
		}
	}
}
