//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIntegrationInspIRCdLink: users of the hub and the leaf share a
// channel; killing the leaf makes the hub send netsplit QUITs for the
// leaf's users; the restarted leaf links again and its users are seen on
// the hub once more.
func TestIntegrationInspIRCdLink(t *testing.T) {
	l := StartInspIRCdLink(t)
	hubUser := DialIRC(t, l.Hub.Addr(), "hubby")
	mustIRC(t, hubUser.Join("#link"))
	leafUser := DialIRC(t, l.Leaf.Addr(), "leafy")
	mustIRC(t, leafUser.Join("#link"))
	if _, err := hubUser.WaitFor(func(line *Line) bool {
		return line.Command == "JOIN" && strings.EqualFold(line.Nick(), "leafy")
	}, ircWait); err != nil {
		t.Fatalf("the hub's user did not see the leaf's user join: %v", err)
	}
	mustIRC(t, leafUser.Privmsg("#link", "across the link"))
	if _, err := hubUser.WaitFor(IsPrivmsg("leafy", "#link", "across the link"), ircWait); err != nil {
		t.Fatalf("message did not cross the link: %v", err)
	}

	mustIRC(t, l.Leaf.Kill())
	q, err := hubUser.WaitFor(func(line *Line) bool {
		return line.Command == "QUIT" && strings.EqualFold(line.Nick(), "leafy")
	}, ircWait)
	if err != nil {
		t.Fatalf("no QUIT for the leaf's user after the leaf died: %v", err)
	}
	if q.Last() != InspIRCdSplitReason {
		t.Errorf("split QUIT reason = %q, want %q", q.Last(), InspIRCdSplitReason)
	}

	ctx, cancel := context.WithTimeout(context.Background(), inspircdLinkTimeout)
	defer cancel()
	mustIRC(t, l.StartLeaf(ctx))
	back := DialIRC(t, l.Leaf.Addr(), "leafy")
	mustIRC(t, back.Join("#link"))
	if _, err := hubUser.WaitFor(func(line *Line) bool {
		return line.Command == "JOIN" && strings.EqualFold(line.Nick(), "leafy")
	}, ircWait); err != nil {
		t.Fatalf("the leaf's user did not come back after the leaf restarted: %v", err)
	}
	start := time.Now()
	mustIRC(t, l.Leaf.Stop())
	if _, err := hubUser.WaitFor(IsCommand("QUIT", InspIRCdSplitReason), ircWait); err != nil {
		t.Fatalf("no split QUIT after the leaf was stopped (%s): %v", time.Since(start), err)
	}
}
