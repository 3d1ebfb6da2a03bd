//go:build integration

package irc_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
)

// whoisAway asks the server about nick until it answers that nick is away
// with msg.
func whoisAway(t *testing.T, c *integration.IRCClient, nick, msg string) {
	t.Helper()
	poll.Check(t, nick+" shown away with "+msg, 90*time.Second, func() error {
		if err := c.Send("WHOIS " + nick); err != nil {
			return err
		}
		end, err := c.WaitFor(func(l *integration.Line) bool {
			return (l.Command == "301" || l.Command == "318") && strings.EqualFold(l.Param(1), nick)
		}, 10*time.Second)
		if err != nil {
			return err
		}
		if end.Command != "301" || end.Last() != msg {
			return fmt.Errorf("WHOIS ends with %s", end.Raw)
		}
		return nil
	})
}

// TestIntegrationAwayAfterServerRestart: a Matrix user who is away on
// Matrix is AWAY again on IRC after their connection came back from a
// server restart.
func TestIntegrationAwayAfterServerRestart(t *testing.T) {
	e := startRich(t, "        reconnect: {min_delay: 200ms, max_delay: 2s, per_second: 50}\n", true)
	if _, err := presence(e.ctx, e.user, http.MethodPut, e.user.UserID, map[string]string{"presence": "unavailable", "status_msg": "brb"}); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "AWAY", func(l *integration.Line) bool { return l.Param(0) == "brb" })
	if err := e.ergo.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := e.ergo.Start(); err != nil {
		t.Fatal(err)
	}
	w := dialJoined(t, e.ergo.Addr(), "watcher", []string{"#rich"})
	if _, err := w.WaitFor(joined("mallory"), 90*time.Second); err != nil {
		// mallory may have rejoined before the watcher: NAMES tells.
		if err := w.Send("NAMES #rich"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.WaitFor(func(l *integration.Line) bool {
			return l.Command == "353" && strings.Contains(strings.ToLower(l.Last()), "mallory")
		}, 10*time.Second); err != nil {
			t.Fatalf("mallory never came back to #rich: %v", err)
		}
	}
	whoisAway(t, w, "mallory", "brb")
}
