//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// redactLive deletes a bridged message while the bridge runs and waits for
// the bridge's notice about it: the bot's /sync is then past its first poll
// (which only sets its position) and has saved a position to resume from.
func redactLive(t *testing.T, e *richEnv) {
	t.Helper()
	ev, err := e.user.SendText(e.ctx, e.room, "typo, deleted at once")
	if err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "typo, deleted at once")
	if err := e.user.Redact(e.ctx, e.room, ev, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForEvent(e.ctx, func(x *matrix.Event) bool {
		return x.RoomID == e.room && x.Type == matrix.EventMessage && repliesTo(x) == ev
	}); err != nil {
		t.Fatalf("a redaction while the bridge runs was not handled: %v", err)
	}
}

// repliesTo returns the event ev replies to, if it is the bridge's notice
// that a deleted message stays on IRC.
func repliesTo(ev *matrix.Event) matrix.EventID {
	var m struct {
		Body      string `json:"body"`
		RelatesTo struct {
			InReplyTo struct {
				EventID matrix.EventID `json:"event_id"`
			} `json:"m.in_reply_to"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(ev.Content, &m) != nil || !strings.HasPrefix(m.Body, "Not removed on IRC") {
		return ""
	}
	return m.RelatesTo.InReplyTo.EventID
}

// notRemovedNotices counts, per message, the bridge's notices replying to
// it that it stays on IRC, reading the room back like a client.
func notRemovedNotices(t *testing.T, ctx context.Context, c *integration.Client, room matrix.RoomID) map[matrix.EventID]int {
	t.Helper()
	evs, err := c.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatalf("read the room back: %v", err)
	}
	got := map[matrix.EventID]int{}
	for _, ev := range evs {
		if ev.Type == matrix.EventMessage {
			if target := repliesTo(&ev); target != "" {
				got[target]++
			}
		}
	}
	return got
}

// TestIntegrationRedactionWhileBridgeDown: a Matrix user's message reached
// IRC; while the bridge is stopped its author deletes it in Matrix. Dendrite
// pushes no redaction to appservices and the bot's /sync only resumes from
// its saved position, so when the bridge is started again on the same store
// the redaction is handled: Ergo 2.8 cannot delete messages, and the bridge
// says so in a notice replying to the deleted message (before, nothing
// happened: the message silently stayed on IRC).
func TestIntegrationRedactionWhileBridgeDown(t *testing.T) {
	e := startRich(t, "", true)
	ev, err := e.user.SendText(e.ctx, e.room, "posted before the outage")
	if err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "posted before the outage")
	redactLive(t, e)

	e.s.StopBridge()
	if err := e.user.Redact(e.ctx, e.room, ev, "meant for another room"); err != nil {
		t.Fatal(err)
	}
	e.s.StartBridge()

	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	if _, err := e.user.WaitForEvent(ctx, func(x *matrix.Event) bool {
		return x.RoomID == e.room && x.Type == matrix.EventMessage && repliesTo(x) == ev
	}); err != nil {
		t.Fatalf("the redaction made while the bridge was down was never handled: %v", err)
	}
}

// TestIntegrationManyRedactionsWhileBridgeDown: more redactions during the
// outage than one /sync returns per room (100): the first poll's timeline
// is limited and the rest are fetched from the room's history, so every
// deleted message gets its notice, once.
func TestIntegrationManyRedactionsWhileBridgeDown(t *testing.T) {
	const n = 130
	e := startRich(t, "", true)
	var evs []matrix.EventID
	for i := range n {
		ev, err := e.user.SendText(e.ctx, e.room, fmt.Sprintf("line %d", i))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	e.waitPrivmsg(t, "mallory", fmt.Sprintf("line %d", n-1))
	redactLive(t, e)

	e.s.StopBridge()
	for _, ev := range evs {
		if err := e.user.Redact(e.ctx, e.room, ev, ""); err != nil {
			t.Fatal(err)
		}
	}
	e.s.StartBridge()

	poll.Check(t, "every redaction made while the bridge was down handled", 2*time.Minute, func() error {
		got := notRemovedNotices(t, e.ctx, e.user, e.room)
		var missing, twice int
		for _, ev := range evs {
			switch got[ev] {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		if twice > 0 {
			t.Fatalf("%d deleted messages got more than one notice", twice)
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d never handled", missing, n)
		}
		return nil
	})
}
