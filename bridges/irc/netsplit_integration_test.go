//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// splitNicks are the IRC users on the leaf server whose puppets a netsplit
// concerns.
var splitNicks = []string{"leafa", "leafb"}

// splitLurker is on the leaf and in the channel too, but never speaks, so
// (lazy membership) it never appears in Matrix: a netsplit must not make
// it appear either.
const splitLurker = "leafquiet"

// splitEnv is a bridged channel on a network of two linked InspIRCd
// servers: the bridge, a Matrix user and the IRC user "watcher" are on the
// hub, the users splitNicks on the leaf.
type splitEnv struct {
	t       *testing.T
	ctx     context.Context
	link    *integration.InspIRCdLink
	stack   *bridgetest.Stack
	user    *integration.Client
	room    matrix.RoomID
	watcher *integration.IRCClient
	leaf    map[string]*integration.IRCClient
}

const splitChannel = "#split"

// startSplitEnv starts the network and the bridge with netsplit_delay hold,
// and has each leaf user speak once, so their puppets are in the room.
func startSplitEnv(t *testing.T, hold time.Duration, opts ...integration.InspIRCdOption) *splitEnv {
	t.Helper()
	link := integration.StartInspIRCdLink(t, opts...)
	stack := startBridge(t, link.Hub, "", stackNetwork+"        netsplit_delay: "+hold.String()+"\n")
	e := &splitEnv{t: t, ctx: tctx(t, 4*time.Minute), link: link, stack: stack, leaf: map[string]*integration.IRCClient{}}
	e.watcher = dialJoined(t, link.Hub.Addr(), "watcher", []string{splitChannel})
	e.joinLeafUsers()
	e.user = stack.User(e.ctx, "splitter")
	room, err := e.user.Join(e.ctx, portalAlias(splitChannel))
	if err != nil {
		t.Fatalf("join portal: %v", err)
	}
	e.room = room
	for _, nick := range splitNicks {
		e.say(e.leaf[nick], "hello from "+nick)
	}
	seq, _ := e.membership()
	for _, nick := range splitNicks {
		if joins, _ := joinsAndLeaves(seq[puppetOf(nick)]); joins != 1 {
			t.Fatalf("puppet of %s: membership %v after speaking, want joined", nick, seq[puppetOf(nick)])
		}
	}
	return e
}

func puppetOf(nick string) matrix.UserID { return matrix.UserID("@irc_test_" + nick + ":localhost") }

// joinLeafUsers connects splitNicks and splitLurker to the leaf and joins
// them to the channel.
func (e *splitEnv) joinLeafUsers() {
	e.t.Helper()
	for _, nick := range append([]string{splitLurker}, splitNicks...) {
		e.leaf[nick] = dialJoined(e.t, e.link.Leaf.Addr(), nick, []string{splitChannel})
	}
}

// say sends text to the channel from c and waits until it is in the room.
func (e *splitEnv) say(c *integration.IRCClient, text string) {
	e.t.Helper()
	say(e.ctx, e.t, c, splitChannel, text, e.user, e.room)
}

// split kills the leaf and waits until the watcher on the hub has seen
// every leaf user quit with the netsplit reason; it returns when the last
// QUIT arrived.
func (e *splitEnv) split() time.Time {
	e.t.Helper()
	if err := e.link.Leaf.Kill(); err != nil {
		e.t.Fatal(err)
	}
	var at time.Time
	for _, nick := range splitNicks {
		l, err := e.watcher.WaitFor(func(l *integration.Line) bool {
			return l.Command == "QUIT" && strings.EqualFold(l.Nick(), nick)
		}, 30*time.Second)
		if err != nil {
			e.t.Fatalf("the hub never announced %s's split: %v", nick, err)
		}
		if l.Last() != integration.InspIRCdSplitReason {
			e.t.Fatalf("%s quit with %q, want the netsplit reason %q", nick, l.Last(), integration.InspIRCdSplitReason)
		}
		at = l.Received
	}
	return at
}

// membership returns, per leaf puppet, the memberships of its
// m.room.member events in the room's timeline, oldest first, with the
// leave events themselves.
func (e *splitEnv) membership() (map[matrix.UserID][]string, map[matrix.UserID][]matrix.Event) {
	e.t.Helper()
	evs, err := e.user.RoomTimeline(e.ctx, e.room)
	if err != nil {
		e.t.Fatal(err)
	}
	seq := map[matrix.UserID][]string{}
	leaves := map[matrix.UserID][]matrix.Event{}
	for _, ev := range evs {
		if ev.Type != matrix.EventMember || ev.StateKey == nil {
			continue
		}
		var m matrix.MemberContent
		if err := json.Unmarshal(ev.Content, &m); err != nil {
			e.t.Fatal(err)
		}
		u := matrix.UserID(*ev.StateKey)
		seq[u] = append(seq[u], m.Membership)
		if m.Membership == "leave" {
			leaves[u] = append(leaves[u], ev)
		}
	}
	return seq, leaves
}

// ircCommand sends line as the watcher and, unless reply is empty, waits
// for that numeric.
func (e *splitEnv) ircCommand(line, reply string) {
	e.t.Helper()
	if err := e.watcher.Send(line); err != nil {
		e.t.Fatal(err)
	}
	if reply == "" {
		return
	}
	if _, err := e.watcher.WaitFor(integration.IsCommand(reply), 30*time.Second); err != nil {
		e.t.Fatalf("%s: no %s: %v", line, reply, err)
	}
}

// heal restarts the leaf; its users reconnect as soon as it accepts
// clients, so most come back in its burst to the hub (the netjoin). It
// waits until the hub's watcher has seen them all rejoin.
func (e *splitEnv) heal(splitAt time.Time, hold time.Duration) {
	e.t.Helper()
	if err := e.link.Leaf.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.joinLeafUsers()
	if err := e.link.WaitLinked(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	for _, nick := range append([]string{splitLurker}, splitNicks...) {
		if _, err := e.watcher.WaitFor(func(l *integration.Line) bool {
			return l.Command == "JOIN" && strings.EqualFold(l.Nick(), nick)
		}, 60*time.Second); err != nil {
			e.t.Fatalf("the hub never saw %s rejoin: %v", nick, err)
		}
	}
	healed := time.Since(splitAt)
	e.t.Logf("split healed after %s (hold %s)", healed.Round(time.Millisecond), hold)
	if healed >= hold {
		e.t.Fatalf("the leaf took %s to relink, longer than the %s hold window: the test cannot tell a heal from a timeout", healed, hold)
	}
}

// checkHealed checks the room after a healed split: the leaf's users never
// left nor rejoined, the lurker never appeared, and their messages from
// before and after the split are there. A held quit that was not cancelled
// would be released at splitAt+hold, so it waits past that first and lets
// a message pass through the room's lane behind any such leave.
func (e *splitEnv) checkHealed(splitAt time.Time, hold time.Duration) {
	e.t.Helper()
	time.Sleep(time.Until(splitAt.Add(hold + 2*time.Second)))
	e.say(e.watcher, "after the hold window")
	seq, leaves := e.membership()
	for _, nick := range splitNicks {
		joins, left := joinsAndLeaves(seq[puppetOf(nick)])
		if left != 0 || joins != 1 {
			e.t.Errorf("%s: membership %v in Matrix (%s): want one join and no leave across a healed split",
				nick, seq[puppetOf(nick)], describeLeaves(leaves, splitAt))
		}
	}
	if m := seq[puppetOf(splitLurker)]; len(m) != 0 {
		e.t.Errorf("%s never spoke but has memberships %v in Matrix", splitLurker, m)
	}
	var got []string
	for _, nick := range splitNicks {
		for _, c := range roomMessages(e.t, e.ctx, e.user, e.room, puppetOf(nick)) {
			got = append(got, c.Body)
		}
	}
	want := []string{"hello from leafa", "back after the split from leafa", "hello from leafb", "back after the split from leafb"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("leaf users' messages in Matrix: %q, want %q", got, want)
	}
}

// describeLeaves says who left when, relative to the split, for failure
// messages.
func describeLeaves(leaves map[matrix.UserID][]matrix.Event, splitAt time.Time) string {
	var out []string
	for u, evs := range leaves {
		for _, ev := range evs {
			out = append(out, fmt.Sprintf("%s left %s after the split (%s)", u,
				time.UnixMilli(ev.OriginServerTS).Sub(splitAt).Round(time.Millisecond), ev.ID))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// joinsAndLeaves counts the changes into "join" and into "leave" in a
// puppet's membership sequence (a profile update is join → join and
// counts for neither).
func joinsAndLeaves(seq []string) (joins, leaves int) {
	prev := ""
	for _, m := range seq {
		if m != prev {
			switch m {
			case "join":
				joins++
			case "leave":
				leaves++
			}
		}
		prev = m
	}
	return joins, leaves
}

// TestIntegrationIRCNetsplit: the bridge is on the hub of a two-server
// InspIRCd network and the leaf dies (SIGKILL), so the hub sends netsplit
// QUITs ("hub.test leaf.test") for the leaf's users. Matrix users must not
// see those users leave while the split is held; when the split heals within
// netsplit_delay nothing at all shows in the room and the users keep
// talking (also when the bot was away during the heal and finds them in
// NAMES), and when it does not heal each puppet leaves once, after the
// delay.
func TestIntegrationIRCNetsplit(t *testing.T) {
	t.Run("heals", func(t *testing.T) {
		// Long enough for the leaf to restart and relink (about 6 s here;
		// its autoconnect timer runs every 5 s) on a loaded machine.
		const hold = 30 * time.Second
		e := startSplitEnv(t, hold)
		splitAt := e.split()

		// The bot read the QUITs before this line: had it shown them, the
		// leaves would be in the room's ordered lane before the message.
		e.say(e.watcher, "during the split")
		if _, leaves := e.membership(); len(leaves) > 0 {
			t.Fatalf("puppets left the room during a held netsplit: %s", describeLeaves(leaves, splitAt))
		}

		e.heal(splitAt, hold)
		for _, nick := range splitNicks {
			e.say(e.leaf[nick], "back after the split from "+nick)
		}
		e.checkHealed(splitAt, hold)
	})

	t.Run("heals while the bot is away", func(t *testing.T) {
		// The bridge's bot is K-lined off the hub during the split and
		// comes back after the heal: it finds the leaf's users in NAMES,
		// not as JOINs, and that must cancel their held quits too.
		const hold = 30 * time.Second
		e := startSplitEnv(t, hold, integration.WithInspIRCdConfig(
			`<class name="all" commands="*" privs="*" usermodes="*" chanmodes="*" snomasks="*">`,
			`<type name="Admin" classes="all">`,
			`<oper name="admin" password="netsplit-admin" host="*@*" type="Admin">`))
		splitAt := e.split()
		e.ircCommand("OPER admin netsplit-admin", "381")
		e.ircCommand("KLINE *causeway@* 0 :netsplit test", "")
		if _, err := e.watcher.WaitFor(func(l *integration.Line) bool {
			return l.Command == "QUIT" && strings.EqualFold(l.Nick(), "causeway")
		}, 30*time.Second); err != nil {
			t.Fatalf("the K-lined bot never left the hub: %v", err)
		}
		e.heal(splitAt, hold)
		lifted := time.Now()
		e.ircCommand("KLINE *causeway@*", "")
		if _, err := e.watcher.WaitFor(func(l *integration.Line) bool {
			return l.Command == "JOIN" && strings.EqualFold(l.Nick(), "causeway") && l.Received.After(lifted)
		}, 60*time.Second); err != nil {
			t.Fatalf("the bot never rejoined after its K-line was lifted: %v", err)
		}
		for _, nick := range splitNicks {
			e.say(e.leaf[nick], "back after the split from "+nick)
		}
		e.checkHealed(splitAt, hold)
	})

	t.Run("does not heal", func(t *testing.T) {
		const hold = 6 * time.Second
		e := startSplitEnv(t, hold)
		splitAt := e.split()
		e.say(e.watcher, "during the split")
		if _, leaves := e.membership(); len(leaves) > 0 {
			t.Fatalf("puppets left the room at once on a netsplit, want them held for %s: %s", hold, describeLeaves(leaves, splitAt))
		}
		// The leaf stays down: after the hold window each puppet leaves.
		var preds []func(*matrix.Event) bool
		for _, nick := range splitNicks {
			preds = append(preds, isMembership(e.room, puppetOf(nick), "leave"))
		}
		waitAll(e.ctx, t, e.user, "the puppets' leaves after the hold window", preds...)
		e.say(e.watcher, "after the release")
		seq, leaves := e.membership()
		for _, nick := range splitNicks {
			u := puppetOf(nick)
			if _, left := joinsAndLeaves(seq[u]); left != 1 || len(leaves[u]) != 1 {
				t.Fatalf("%s: membership %v: want exactly one leave", nick, seq[u])
			}
			ev := leaves[u][0]
			// The hold timer started when the bot read the QUIT, a moment
			// before or after the watcher did; allow a second for that.
			if at := time.UnixMilli(ev.OriginServerTS); at.Before(splitAt.Add(hold - time.Second)) {
				t.Errorf("%s left %s after the split, before the %s hold window ended", nick, at.Sub(splitAt), hold)
			}
			// The bridge sends "quit: hub.test leaf.test" as the reason,
			// but Dendrite 0.15.2 drops the reason of /leave, so it is
			// not checked here.
		}
		if m := seq[puppetOf(splitLurker)]; len(m) != 0 {
			t.Errorf("%s never spoke but has memberships %v in Matrix", splitLurker, m)
		}
	})
}
