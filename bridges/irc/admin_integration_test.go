//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// adminKey is a test password_key (32 bytes, hex).
const adminKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// adminStack starts Ergo and a bridge with one network "test" on it.
func adminStack(t *testing.T, opts ...integration.ErgoOption) (*integration.IRCServer, *bridgetest.Stack) {
	t.Helper()
	ergo := integration.StartErgo(t, opts...)
	return ergo, startBridge(t, ergo, fmt.Sprintf("    password_key: %q\n", adminKey),
		flood100+"        backfill: 50\n        plumb_approval_timeout: 20s\n")
}

func botID(s *bridgetest.Stack) matrix.UserID {
	return matrix.UserID("@" + s.Reg.SenderLocalpart + ":localhost")
}

// adminRoom opens a DM between c and the bot and waits for the bot to join.
func adminRoom(ctx context.Context, t *testing.T, s *bridgetest.Stack, c *integration.Client) matrix.RoomID {
	t.Helper()
	return openDM(ctx, t, c, botID(s))
}

// command sends a command and returns the bot's first notice in room that
// contains want.
func command(ctx context.Context, t *testing.T, s *bridgetest.Stack, c *integration.Client, room matrix.RoomID, cmd, want string) string {
	t.Helper()
	if _, err := c.SendText(ctx, room, cmd); err != nil {
		t.Fatal(err)
	}
	return waitNotice(ctx, t, s, c, room, want)
}

func waitNotice(ctx context.Context, t *testing.T, s *bridgetest.Stack, c *integration.Client, room matrix.RoomID, want string) string {
	t.Helper()
	ev, err := c.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var m matrix.MessageContent
		return ev.RoomID == room && ev.Sender == botID(s) && ev.Type == matrix.EventMessage &&
			json.Unmarshal(ev.Content, &m) == nil && strings.Contains(m.Body, want)
	})
	if err != nil {
		t.Fatalf("no bot notice containing %q: %v", want, err)
	}
	var m matrix.MessageContent
	_ = json.Unmarshal(ev.Content, &m)
	return m.Body
}

// waitAll waits until every predicate matched an event (each its own, in
// one pass, so events of one /sync answer are not lost between waits) and
// returns the matches in predicate order.
func waitAll(ctx context.Context, t *testing.T, c *integration.Client, what string, preds ...func(*matrix.Event) bool) []*matrix.Event {
	t.Helper()
	got := make([]*matrix.Event, len(preds))
	left := len(preds)
	_, err := c.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		for i, p := range preds {
			if got[i] == nil && p(ev) {
				cp := *ev
				got[i] = &cp
				left--
				break
			}
		}
		return left == 0
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return got
}

func isNotice(s *bridgetest.Stack, room matrix.RoomID, want string) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		var m matrix.MessageContent
		return ev.RoomID == room && ev.Sender == botID(s) && ev.Type == matrix.EventMessage &&
			json.Unmarshal(ev.Content, &m) == nil && strings.Contains(m.Body, want)
	}
}

func isMembership(room matrix.RoomID, user matrix.UserID, membership string) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		var m matrix.MemberContent
		return (room == "" || ev.RoomID == room) && ev.Type == matrix.EventMember && ev.StateKey != nil &&
			*ev.StateKey == string(user) && json.Unmarshal(ev.Content, &m) == nil && m.Membership == membership
	}
}

// joinChannel runs !join in the admin room and joins the room it is invited to.
func joinChannel(ctx context.Context, t *testing.T, s *bridgetest.Stack, c *integration.Client, dm matrix.RoomID, channel string) matrix.RoomID {
	t.Helper()
	if _, err := c.SendText(ctx, dm, "!join "+channel); err != nil {
		t.Fatal(err)
	}
	evs := waitAll(ctx, t, c, "invite and notice", isMembership("", c.UserID, "invite"), isNotice(s, dm, "Invited you to the room of "+channel))
	if _, err := c.Join(ctx, string(evs[0].RoomID)); err != nil {
		t.Fatal(err)
	}
	return evs[0].RoomID
}

func waitIRC(t *testing.T, c *integration.IRCClient, pred func(*integration.Line) bool, what string) *integration.Line {
	t.Helper()
	l, err := c.WaitFor(pred, 30*time.Second)
	if err != nil {
		t.Fatalf("IRC %s: %v", what, err)
	}
	return l
}

func TestIntegrationAdminCommands(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	watcher := dialJoined(t, ergo.Addr(), "watcher", []string{"#adm"})
	alice := s.User(ctx, "alice")
	dm := adminRoom(ctx, t, s, alice)

	portal := joinChannel(ctx, t, s, alice, dm, "#adm")
	if _, err := alice.SendText(ctx, portal, "hi from alice"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, watcher, integration.IsPrivmsg("alice", "#adm", "hi from alice"), "alice's message")

	command(ctx, t, s, alice, dm, "!nick alice2", "Your nick on test is now alice2.")
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "NICK" && l.Param(0) == "alice2" }, "NICK alice2")

	who := command(ctx, t, s, alice, dm, "!whois watcher", "watcher on test")
	if !strings.Contains(who, "#adm") {
		t.Errorf("whois does not list the channel: %q", who)
	}
	rooms := command(ctx, t, s, alice, dm, "!listrooms", "#adm")
	if !strings.Contains(rooms, "joined") {
		t.Errorf("listrooms: %q", rooms)
	}
	command(ctx, t, s, alice, dm, "!connections", "!connections is for bridge admins only.")

	admin := s.User(ctx, "admin")
	adm := adminRoom(ctx, t, s, admin)
	conns := command(ctx, t, s, admin, adm, "!connections", "test: 1 connected")
	if !strings.Contains(conns, "@alice:localhost as alice2") {
		t.Errorf("connections: %q", conns)
	}

	if _, err := alice.SendText(ctx, dm, "!quit"); err != nil {
		t.Fatal(err)
	}
	waitAll(ctx, t, alice, "kick from the portal and notice", isMembership(portal, alice.UserID, "leave"), isNotice(s, dm, "Disconnected from test"))
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "QUIT" && l.Nick() == "alice2" }, "alice's QUIT")
}

func TestIntegrationStorePassSASL(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	if err := integration.RegisterAccount(ctx, ergo.Addr(), "bobacct", "sesame-pass-1"); err != nil {
		t.Fatal(err)
	}
	watcher := dialJoined(t, ergo.Addr(), "watcher", []string{"#sasl"})
	bob := s.User(ctx, "bob")
	dm := adminRoom(ctx, t, s, bob)
	// The bot is an invitee of a trusted_private_chat: it has the power to redact.
	cmd, err := bob.SendText(ctx, dm, "!storepass bobacct:sesame-pass-1")
	if err != nil {
		t.Fatal(err)
	}
	waitAll(ctx, t, bob, "redaction of the command and notice", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && (ev.Redacts == cmd || strings.Contains(string(ev.Content), string(cmd)))
	}, isNotice(s, dm, "Stored your password for account bobacct"))

	portal := joinChannel(ctx, t, s, bob, dm, "#sasl")
	if _, err := bob.SendText(ctx, portal, "hello with sasl"); err != nil {
		t.Fatal(err)
	}
	l := waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "PRIVMSG" && l.Last() == "hello with sasl" }, "bob's message")
	if err := watcher.Send("WHOIS " + l.Nick()); err != nil {
		t.Fatal(err)
	}
	acct := waitIRC(t, watcher, integration.IsCommand("330"), "WHOIS account line")
	if acct.Param(2) != "bobacct" {
		t.Errorf("bob's connection is logged in as %q, want bobacct", acct.Param(2))
	}
	command(ctx, t, s, bob, dm, "!removepass", "Removed your stored password")

	// !reconnect: a new connection (now without SASL) rejoins the channel.
	command(ctx, t, s, bob, dm, "!reconnect", "Reconnected to test as ")
	waitIRC(t, watcher, func(x *integration.Line) bool { return x.Command == "QUIT" && x.Nick() == l.Nick() }, "old connection's QUIT")
	j := waitIRC(t, watcher, func(x *integration.Line) bool {
		return x.Command == "JOIN" && x.Param(0) == "#sasl" && x.Nick() != l.Nick() && x.Nick() != "causeway"
	}, "rejoin")
	if err := watcher.Send("WHOIS " + j.Nick()); err != nil {
		t.Fatal(err)
	}
	end := waitIRC(t, watcher, func(x *integration.Line) bool { return x.Command == "330" || x.Command == "318" }, "WHOIS after !reconnect")
	if end.Command == "330" {
		t.Errorf("still logged in after !removepass and !reconnect: %s", end.Raw)
	}

	// !part: the connection leaves the channel and the bot removes bob from the room.
	if _, err := bob.SendText(ctx, dm, "!part #sasl"); err != nil {
		t.Fatal(err)
	}
	waitAll(ctx, t, bob, "removal from the portal and notice", isMembership(portal, bob.UserID, "leave"), isNotice(s, dm, "Left #sasl on test."))
	waitIRC(t, watcher, func(x *integration.Line) bool { return x.Command == "PART" && x.Nick() == j.Nick() }, "bob's PART")
}

// TestIntegrationAdminLink: bridge admins link and unlink rooms without
// asking IRC.
func TestIntegrationAdminLink(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#al"})
	carol := s.User(ctx, "carol")
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	admin := s.User(ctx, "admin")
	dm := adminRoom(ctx, t, s, admin)
	command(ctx, t, s, carol, adminRoom(ctx, t, s, carol), "!link #al "+string(room), "!link is for bridge admins only.")
	command(ctx, t, s, admin, dm, "!link #al "+string(room), "Linked "+string(room)+" to #al on test.")
	waitNotice(ctx, t, s, carol, room, "now linked to #al on test by a bridge admin")
	if err := op.Privmsg("#al", "admin-linked hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMessage(ctx, room, "admin-linked hello"); err != nil {
		t.Fatal(err)
	}
	command(ctx, t, s, admin, dm, "!unlink #al", "Unlinked #al")
	waitNotice(ctx, t, s, carol, room, "no longer linked to #al")
	waitIRC(t, op, func(l *integration.Line) bool { return l.Command == "PART" && l.Param(0) == "#al" }, "bot PART")
	command(ctx, t, s, admin, dm, "!unlink #al", "#al is not bridged on test.")
}

func TestIntegrationPlumbing(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#plumb", "#plumb2"}) // the first to join gets +o
	pleb := dialJoined(t, ergo.Addr(), "pleb", []string{"#plumb2"})
	carol := s.User(ctx, "carol")
	dave := s.User(ctx, "dave")
	newRoom := func() matrix.RoomID {
		room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Invite: []matrix.UserID{botID(s)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := carol.WaitForMembership(ctx, room, botID(s), "join"); err != nil {
			t.Fatal(err)
		}
		return room
	}

	room := newRoom()
	if _, err := dave.Join(ctx, string(room)); err != nil {
		t.Fatal(err)
	}
	if _, err := dave.SendText(ctx, room, "!irc link #plumb"); err != nil {
		t.Fatal(err)
	}
	waitNotice(ctx, t, s, carol, room, "You need a higher power level")

	command(ctx, t, s, carol, room, "!irc link #plumb", "Asking the operators of #plumb")
	waitIRC(t, op, func(l *integration.Line) bool {
		return l.Command == "PRIVMSG" && l.Param(0) == "#plumb" && strings.Contains(l.Last(), "wants to bridge #plumb")
	}, "approval request")
	if err := op.Privmsg("#plumb", "yes"); err != nil {
		t.Fatal(err)
	}
	waitNotice(ctx, t, s, carol, room, "now linked to #plumb on test (approved by chanop)")
	if err := op.Privmsg("#plumb", "hello plumbed room"); err != nil {
		t.Fatal(err)
	}
	ev, err := carol.WaitForMessage(ctx, room, "hello plumbed room")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender != "@irc_test_chanop:localhost" {
		t.Errorf("sender %s", ev.Sender)
	}
	if _, err := carol.SendText(ctx, room, "hello from the plumbed room"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, op, integration.IsPrivmsg("carol", "#plumb", "hello from the plumbed room"), "carol's message")

	// A member without power cannot unlink; carol can.
	if _, err := dave.SendText(ctx, room, "!irc unlink"); err != nil {
		t.Fatal(err)
	}
	waitNotice(ctx, t, s, carol, room, "You need a higher power level in this room to unlink it.")
	command(ctx, t, s, carol, room, "!irc unlink", "no longer linked to #plumb")
	waitIRC(t, op, func(l *integration.Line) bool { return l.Command == "PART" && l.Param(0) == "#plumb" }, "bot PART")

	// No: a non-operator's "yes" does not count, the operator's "no" does.
	room2 := newRoom()
	command(ctx, t, s, carol, room2, "!irc link #plumb2", "Asking the operators of #plumb2")
	waitIRC(t, op, func(l *integration.Line) bool {
		return l.Command == "PRIVMSG" && l.Param(0) == "#plumb2" && strings.Contains(l.Last(), "wants to bridge")
	}, "approval request 2")
	if err := pleb.Privmsg("#plumb2", "yes"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, op, integration.IsPrivmsg("pleb", "#plumb2", "yes"), "pleb's yes")
	if err := op.Privmsg("#plumb2", "no"); err != nil {
		t.Fatal(err)
	}
	waitNotice(ctx, t, s, carol, room2, "chanop, an operator of #plumb2, declined")
}

func TestIntegrationNickRecovery(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	squatter := dialJoined(t, ergo.Addr(), "erin", []string{"#nick"})
	watcher := dialJoined(t, ergo.Addr(), "watcher", []string{"#nick"})
	erin := s.User(ctx, "erin")
	dm := adminRoom(ctx, t, s, erin)
	portal := joinChannel(ctx, t, s, erin, dm, "#nick")
	if _, err := erin.SendText(ctx, portal, "erin speaking"); err != nil {
		t.Fatal(err)
	}
	l := waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "PRIVMSG" && l.Last() == "erin speaking" }, "erin's message")
	if l.Nick() == "erin" {
		t.Fatalf("erin got the nick the squatter holds")
	}
	waitNotice(ctx, t, s, erin, dm, "The nick erin is taken on test, so you are "+l.Nick())

	if err := squatter.Quit("bye"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "NICK" && l.Param(0) == "erin" }, "NICK back to erin")
	waitNotice(ctx, t, s, erin, dm, "You have your nick erin back on test.")
}

// TestIntegrationNickRecoveryGhost: the wanted nick is held by another
// session of the user's own account; with stored credentials the bridge
// logs in, GHOSTs that session through NickServ and takes the nick.
func TestIntegrationNickRecoveryGhost(t *testing.T) {
	ergo, s := adminStack(t, integration.WithErgoSetting("accounts.multiclient.enabled", false),
		integration.WithErgoSetting("accounts.nick-reservation.force-nick-equals-account", false))
	ctx := tctx(t, 3*time.Minute)
	if err := integration.RegisterAccount(ctx, ergo.Addr(), "hank", "hank-pass-123"); err != nil {
		t.Fatal(err)
	}
	// RegisterAccount's own connection may still hold the nick for a moment.
	var squatter *integration.IRCClient
	poll.Check(t, "the squatter connects as hank", 10*time.Second, func() error {
		c, err := integration.ConnectIRC(ctx, ergo.Addr(), "hank", integration.WithSASLPlain("hank", "hank-pass-123"))
		if err != nil {
			return err
		}
		squatter = c
		t.Cleanup(func() { _ = c.Close() })
		return nil
	})
	watcher := integration.DialIRC(t, ergo.Addr(), "watcher")
	for _, c := range []*integration.IRCClient{squatter, watcher} {
		if err := c.Join("#ghost"); err != nil {
			t.Fatal(err)
		}
	}
	hank := s.User(ctx, "hank")
	dm := adminRoom(ctx, t, s, hank)
	command(ctx, t, s, hank, dm, "!storepass hank-pass-123", "Stored your password for account hank")
	portal := joinChannel(ctx, t, s, hank, dm, "#ghost")
	if _, err := hank.SendText(ctx, portal, "hank speaking"); err != nil {
		t.Fatal(err)
	}
	// The message comes from the fallback nick, or from "hank" when the
	// recovery below was already done by then: both are fine.
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "PRIVMSG" && l.Last() == "hank speaking" }, "hank's message")
	q := waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "QUIT" && l.Nick() == "hank" }, "the squatter ghosted")
	if !strings.Contains(q.Last(), "GHOST") {
		t.Errorf("squatter quit for another reason: %q", q.Last())
	}
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "NICK" && l.Param(0) == "hank" }, "NICK back to hank")
	waitNotice(ctx, t, s, hank, dm, "You have your nick hank back on test.")
}

func TestIntegrationThirdPartyLookups(t *testing.T) {
	_, s := adminStack(t)
	ctx := tctx(t, time.Minute)
	u := s.User(ctx, "frank")
	get := func(path string, q url.Values, out any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.HomeserverURL+"/_matrix/client/v3/thirdparty/"+path+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+u.AccessToken)
		resp, err := u.HTTP.Do(req)
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
	var protos map[string]struct {
		LocationFields []string `json:"location_fields"`
		Instances      []struct {
			NetworkID string `json:"network_id"`
		} `json:"instances"`
	}
	get("protocols", nil, &protos)
	if p, ok := protos["irc"]; !ok || len(p.Instances) != 1 || p.Instances[0].NetworkID != "test" {
		t.Fatalf("protocols: %+v", protos)
	}
	var locs []struct {
		Alias  string            `json:"alias"`
		Fields map[string]string `json:"fields"`
	}
	get("location/irc", url.Values{"network": {"test"}, "channel": {"#Go-Nuts"}}, &locs)
	if len(locs) != 1 || locs[0].Alias != "#irc_test_#go-nuts:localhost" {
		t.Fatalf("locations: %+v", locs)
	}
	var users []struct {
		UserID string            `json:"userid"`
		Fields map[string]string `json:"fields"`
	}
	get("user/irc", url.Values{"network": {"test"}, "nickname": {"SomeOne"}}, &users)
	if len(users) != 1 || users[0].UserID != "@irc_test_someone:localhost" {
		t.Fatalf("users: %+v", users)
	}
	locs = nil
	get("location", url.Values{"alias": {"#irc_test_#go-nuts:localhost"}}, &locs)
	if len(locs) != 1 || locs[0].Fields["channel"] != "#go-nuts" || locs[0].Fields["network"] != "test" {
		t.Fatalf("location by alias: %+v", locs)
	}
	users = nil
	get("user", url.Values{"userid": {"@irc_test_someone:localhost"}}, &users)
	if len(users) != 1 || users[0].Fields["nickname"] != "someone" {
		t.Fatalf("user by ID: %+v", users)
	}
}

func TestIntegrationBackfillAfterDowntime(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	talker := dialJoined(t, ergo.Addr(), "talker", []string{"#hist"})
	gina := s.User(ctx, "gina")
	room, err := gina.Join(ctx, portalAlias("#hist"))
	if err != nil {
		t.Fatal(err)
	}
	say(ctx, t, talker, "#hist", "before the outage", gina, room)

	// A two-line message from Matrix: IRC history has it, but a catch-up
	// must not bring it back as the puppet of gina's own nick.
	if _, err := gina.SendText(ctx, room, "matrix line one\nmatrix line two"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, talker, integration.IsPrivmsg("gina", "#hist", "matrix line two"), "gina's second line")

	s.StopBridge()
	sentAt := time.Now()
	missed := []string{"missed one", "missed two", "missed three"}
	for _, m := range missed {
		if err := talker.Privmsg("#hist", m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // distinct server times
	}
	time.Sleep(time.Second) // the missed lines' times are clearly before the restart
	restartedAt := time.Now()
	s.StartBridge()

	last, err := gina.WaitForMessage(ctx, room, missed[len(missed)-1])
	if err != nil {
		t.Fatal(err)
	}
	if ts := time.UnixMilli(last.OriginServerTS); ts.After(restartedAt) || ts.Before(sentAt.Add(-time.Second)) {
		t.Errorf("backfilled message has ts %v, want its IRC time (sent after %v, bridge restarted at %v)", ts, sentAt, restartedAt)
	}
	// A live line after the catch-up: the bridge holds live lines until
	// its catch-up is done and posts in order, so a duplicate or a line
	// of gina's own would be in the room before this one.
	say(ctx, t, talker, "#hist", "live after the catch-up", gina, room)
	page, err := gina.Messages(ctx, room, "b", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i := len(page.Chunk) - 1; i >= 0; i-- {
		ev := page.Chunk[i]
		var m matrix.MessageContent
		if ev.Type == matrix.EventMessage && ev.Sender == "@irc_test_talker:localhost" && json.Unmarshal(ev.Content, &m) == nil {
			bodies = append(bodies, m.Body)
		}
	}
	want := append(append([]string{"before the outage"}, missed...), "live after the catch-up")
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("room timeline from talker:\n got %q\nwant %q", bodies, want)
	}
	for _, ev := range page.Chunk {
		if ev.Sender == "@irc_test_gina:localhost" {
			t.Errorf("gina's own message came back from IRC history as a puppet: %s", ev.Content)
		}
	}
}
