//go:build integration

package irc_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// Issue 8: after downtime the bridge either catches up on what a channel
// said (CHATHISTORY, bounded by catch_up_limit) or, on a server without
// history, tells each portal how long it was away.

// timeOfDay matches a clock time in a notice ("14:03", "14:03:07",
// "2025-01-02T14:03:07Z").
var timeOfDay = regexp.MustCompile(`\d{1,2}:\d{2}`)

// awayPrefix starts the bot's notice after downtime on a server without
// history.
const awayPrefix = "The bridge was away from "

// isBotNotice matches an m.notice of the bridge's bot in room whose body
// satisfies ok.
func isBotNotice(s *bridgetest.Stack, room matrix.RoomID, ok func(body string) bool) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		c := body(ev)
		return ev.RoomID == room && ev.Sender == botID(s) && ev.Type == matrix.EventMessage && !ev.IsState() &&
			c.MsgType == matrix.MsgNotice && ok(c.Body)
	}
}

// awayNotices counts the bot's away notices in room.
func awayNotices(ctx context.Context, t *testing.T, s *bridgetest.Stack, c *integration.Client, room matrix.RoomID) []string {
	t.Helper()
	evs, err := c.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	match := isBotNotice(s, room, func(b string) bool { return strings.HasPrefix(b, awayPrefix) })
	for _, ev := range evs {
		if match(&ev) {
			out = append(out, body(&ev).Body)
		}
	}
	return out
}

// TestIntegrationIRCAwayNoticeWithoutHistory (issue 8): InspIRCd without
// IRCv3 keeps no history, so what a channel says while the bridge is away
// is lost; each portal room must then get one m.notice from the bridge's
// bot starting "The bridge was away from " and naming from when to when
// (two clock times), after a restart of the bridge and after the bot
// reconnects to a restarted IRC server.
func TestIntegrationIRCAwayNoticeWithoutHistory(t *testing.T) {
	t.Parallel()
	srv := integration.StartInspIRCd(t, integration.WithoutIRCv3())
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 8*time.Minute)
	channels := []string{"#away1", "#away2"}
	talker := dialJoined(t, srv.Addr(), "talker", channels)
	user := s.User(ctx, "nina")
	rooms := make([]matrix.RoomID, len(channels))
	for i, ch := range channels {
		rooms[i], _ = joinPortal(ctx, t, user, ch, talker)
		say(ctx, t, talker, ch, "hello "+ch, user, rooms[i])
	}
	for _, room := range rooms {
		if got := awayNotices(ctx, t, s.Stack, user, room); len(got) > 0 {
			t.Fatalf("an away notice before any downtime: %q", got)
		}
	}

	waitAway := func(what string) {
		t.Helper()
		preds := make([]func(*matrix.Event) bool, len(rooms))
		for i, room := range rooms {
			preds[i] = isBotNotice(s.Stack, room, func(b string) bool { return strings.HasPrefix(b, awayPrefix) })
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		for i, ev := range waitAll(wctx, t, user, "the away notice after "+what, preds...) {
			b := body(ev).Body
			t.Logf("%s: %s", channels[i], b)
			if n := len(timeOfDay.FindAllString(b, -1)); n < 2 {
				t.Errorf("the away notice in %s after %s names %d clock times, want from when to when: %q", channels[i], what, n, b)
			}
		}
	}

	// The bridge restarts.
	s.StopBridge()
	if err := talker.Privmsg("#away1", "said while the bridge was away"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	s.StartBridge()
	waitAway("a restart")

	// The IRC server restarts: the bridge loses and regains its connection.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitAway("a reconnect")
	for i, room := range rooms {
		if got := awayNotices(ctx, t, s.Stack, user, room); len(got) != 2 {
			t.Errorf("%s has %d away notices after a restart and a reconnect, want 2: %q", channels[i], len(got), got)
		}
	}
}

// TestIntegrationIRCCatchUpLimit (issue 8): with catch_up_limit: 20, a
// channel says 50 messages while the bridge is stopped. After it starts,
// the room shows the NEWEST 20 ("missed 0030" to "missed 0049"), once each
// and in order with IRC's times, and before them one m.notice of the bot
// saying that the 30 older ones "were not bridged", from when to when; the
// 30 older ones are not in the room, what was bridged before the stop is
// not repeated, and nothing else from IRC appears (Ergo replays joins and
// quits as HistServ notices to a client without draft/event-playback: they
// are not messages of the channel).
func TestIntegrationIRCCatchUpLimit(t *testing.T) {
	t.Parallel()
	srv := integration.StartErgo(t)
	s := startBridge(t, srv, "", flood100+"        catch_up_limit: 20\n")
	ctx := tctx(t, 8*time.Minute)
	talker := dialJoined(t, srv.Addr(), "talker", []string{"#bound"})
	user := s.User(ctx, "lena")
	room, _ := joinPortal(ctx, t, user, "#bound", talker)
	before := numbered("before", 5)
	for _, b := range before {
		if err := talker.Privmsg("#bound", b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, before[len(before)-1]); err != nil {
		t.Fatal(err)
	}

	s.StopBridge()
	missed := numbered("missed", 50)
	for _, b := range missed {
		if err := talker.Privmsg("#bound", b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // distinct server times
	}
	time.Sleep(2 * time.Second)
	restarted := time.Now()
	s.StartBridge()

	const talkerID = matrix.UserID("@irc_test_talker:localhost")
	kept := missed[30:]
	want := append(append([]string{}, before...), kept...)
	check, merged, ordered := checkSequence(ctx, t, user, room, talkerID, want, kept[len(kept)-1], 3*time.Minute)
	if !check.OK() {
		t.Errorf("the room shows %s", check)
	}
	if other := integration.OtherMessages(merged, "@irc_test_", talkerID); len(other) > 0 {
		t.Errorf("the room shows %d messages from IRC users other than talker (only talker spoke): %q", len(other), other[:min(5, len(other))])
	}
	dropped := integration.CheckSequence(missed[:30], integration.MessageBodies(merged, talkerID), nil)
	if dropped.Shown > 0 {
		t.Errorf("%d of the 30 oldest missed messages are in the room, want none (the newest 20 are bridged)", dropped.Shown)
	}
	for _, ev := range merged {
		if b := body(&ev).Body; ev.Sender == talkerID && strings.HasPrefix(b, "missed ") &&
			time.UnixMilli(ev.OriginServerTS).After(restarted) {
			t.Errorf("%q has the time it was bridged (%d), not the time IRC sent it (before %s)", b, ev.OriginServerTS, restarted)
		}
	}

	// The notice: one, from the bot, naming 30 and two clock times,
	// between what was bridged before and the first of the newest 20.
	isLimit := isBotNotice(s, room, func(b string) bool { return strings.Contains(b, "were not bridged") })
	var notices []string
	for _, ev := range merged {
		if isLimit(&ev) {
			notices = append(notices, body(&ev).Body)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("%d bot notices saying messages were not bridged, want 1: %q", len(notices), notices)
	}
	n := notices[0]
	t.Logf("notice: %s", n)
	// Times and dates could contain "30" by chance: look for it without them.
	if !regexp.MustCompile(`\b30\b`).MatchString(regexp.MustCompile(`\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?`).ReplaceAllString(n, "")) {
		t.Errorf("the notice does not say 30 messages were not bridged: %q", n)
	}
	if got := len(timeOfDay.FindAllString(n, -1)); got < 2 {
		t.Errorf("the notice names %d clock times, want from when to when: %q", got, n)
	}
	pos := map[string]int{}
	for i, ev := range ordered {
		if isLimit(&ev) {
			pos["notice"] = i
		} else if ev.Sender == talkerID {
			pos[body(&ev).Body] = i
		}
	}
	np, ok := pos["notice"]
	first, okFirst := pos[kept[0]]
	last, okLast := pos[before[len(before)-1]]
	switch {
	case !ok || !okFirst || !okLast:
		t.Errorf("the notice, %q or %q is missing from a reading of the timeline", before[len(before)-1], kept[0])
	case np < last || np > first:
		t.Errorf("the notice is at %d in the timeline, want between %q (%d) and %q (%d)", np, before[len(before)-1], last, kept[0], first)
	}
}
