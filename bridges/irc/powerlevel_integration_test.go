//go:build integration

package irc_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationPowerLevelOrder: IRC prefix modes become power levels in
// IRC's order. Modes given to several users at once all land (no update
// overwrites another's power_levels event); a quick -o +o -o ends with no
// power, as on IRC; a renamed op's power moves to the new puppet.
func TestIntegrationPowerLevelOrder(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 3*time.Minute)
	chief := dialJoined(t, srv.Addr(), "chief", []string{"#pw"}) // first in: channel operator
	user := s.User(ctx, "pat")
	room, _ := joinPortal(ctx, t, user, "#pw", chief)
	clients := map[string]*integration.IRCClient{}
	for _, nick := range []string{"alpha", "beta", "gamma"} {
		clients[nick] = dialJoined(t, srv.Addr(), nick, []string{"#pw"})
		waitIRC(t, chief, joined(nick), nick+" joining #pw")
	}
	levels := func(what string, ok func(users map[string]int) bool) map[string]int {
		t.Helper()
		var got map[string]int
		if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
			var pl struct {
				Users map[string]int `json:"users"`
			}
			if ev.RoomID != room || ev.Type != matrix.EventPowerLevels || json.Unmarshal(ev.Content, &pl) != nil {
				return false
			}
			got = pl.Users
			return ok(pl.Users)
		}); err != nil {
			t.Fatalf("%s: no such power levels; last seen %v: %v", what, got, err)
		}
		return got
	}
	const alpha, beta, gamma = "@irc_test_alpha:localhost", "@irc_test_beta:localhost", "@irc_test_gamma:localhost"

	// Three users at once: each level lands.
	if err := chief.Send("MODE #pw +oov alpha beta gamma"); err != nil {
		t.Fatal(err)
	}
	levels("+oov", func(u map[string]int) bool { return u[alpha] == 50 && u[beta] == 50 && u[gamma] == 1 })

	// Quick changes of one user end where IRC ends; gamma's +o after them
	// is applied after them.
	for _, l := range []string{"MODE #pw -o alpha", "MODE #pw +o alpha", "MODE #pw -o alpha", "MODE #pw +o gamma"} {
		if err := chief.Send(l); err != nil {
			t.Fatal(err)
		}
	}
	got := levels("+o gamma", func(u map[string]int) bool { return u[gamma] == 50 })
	if got[alpha] != 0 || got[beta] != 50 {
		t.Fatalf("after -o +o -o alpha: levels %v, want alpha none and beta 50", got)
	}

	// A renamed op: the new puppet has the power, the old one none.
	if err := clients["beta"].Send("NICK betty"); err != nil {
		t.Fatal(err)
	}
	const betty = "@irc_test_betty:localhost"
	levels("NICK betty", func(u map[string]int) bool { return u[betty] == 50 && u[beta] == 0 })
}
