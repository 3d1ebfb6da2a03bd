//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// Issue 8: what IRC says in a bridged channel reaches Matrix exactly once
// and in order even when the bridge process dies (SIGKILL) or is stopped
// (SIGTERM) in the middle of a burst, or is down while the channel talks.
// The bridge runs with the IRC module's default settings (no backfill or
// catch_up_limit in its config): the defaults must make this work.

// talkerPuppet is the Matrix user of the raw IRC client "talker".
const talkerPuppet = matrix.UserID("@irc_test_talker:localhost")

// ircProc is a homeserver, an Ergo and the bridge as a separate process
// with one IRC network "test", a Matrix user in the portal of channel, and
// a raw IRC client "talker" in the channel.
type ircProc struct {
	proc    *bridgeProc
	ergo    *integration.IRCServer
	user    *integration.Client
	room    matrix.RoomID
	talker  *integration.IRCClient
	channel string
}

// startIRCProc starts the stack and waits until a line from talker reaches
// the Matrix user, so the portal is bridging.
func startIRCProc(ctx context.Context, t *testing.T, bin, channel string) *ircProc {
	t.Helper()
	ergo := integration.StartErgo(t,
		// Ergo keeps 2,048 events per channel in memory by default (enough
		// for 300 messages and the joins and quits around them); said here
		// so the test does not hang on Ergo's default.
		integration.WithErgoSetting("history.channel-length", 2048),
		// The harness serves 1,000 messages per CHATHISTORY request; Ergo's
		// default is 100, lower than what the bridge misses in a 3 s outage
		// of a 50/s burst, so the catch-up must page as it would on a
		// default Ergo.
		integration.WithErgoSetting("history.chathistory-maxmessages", 100))
	dir := t.TempDir()
	port := integration.FreePort(t)
	regPath := filepath.Join(dir, "registration.yaml")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(hsURL string) {
		cfg := fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\nappservice:\n  address: 127.0.0.1:%d\n  registration: %s\n"+
			"database:\n  url: sqlite:%s\nlogging:\n  level: debug\n"+
			"bridges:\n  irc:\n    networks:\n      test:\n        address: %s\n",
			hsURL, port, regPath, filepath.Join(dir, "causeway.db"), ergo.Addr())
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
	s := &ircProc{proc: &bridgeProc{bin: bin, cfg: cfgPath, logPath: filepath.Join(dir, "causeway.log")}, ergo: ergo, channel: channel}
	s.proc.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(s.proc.logPath)
			t.Logf("bridge log (%s), last lines:\n%s", s.proc.logPath, tail(string(data), 60))
		}
	})

	s.talker = integration.DialIRC(t, ergo.Addr(), "talker")
	if err := s.talker.Join(channel); err != nil {
		t.Fatal(err)
	}
	user, err := integration.Register(ctx, hs.URL(), "kate", "password-kate")
	if err != nil {
		t.Fatal(err)
	}
	s.user = user
	if s.room, err = user.Join(ctx, "#irc_test_"+channel+":localhost"); err != nil {
		t.Fatalf("join the portal of %s: %v", channel, err)
	}
	s.waitBotJoin(t)
	if err := s.talker.Privmsg(channel, "ready"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, s.room, "ready"); err != nil {
		t.Fatalf("the portal does not bridge: %v", err)
	}
	return s
}

// waitBotJoin waits until talker sees the bridge's bot join the channel
// (again, after a restart).
func (s *ircProc) waitBotJoin(t *testing.T) {
	t.Helper()
	if _, err := s.talker.WaitFor(func(l *integration.Line) bool {
		return l.Command == "JOIN" && strings.EqualFold(l.Nick(), "causeway") && strings.EqualFold(l.Param(0), s.channel)
	}, time.Minute); err != nil {
		t.Fatalf("the bot did not join %s: %v", s.channel, err)
	}
}

// term stops the bridge with SIGTERM (a clean stop) and, like kill, keeps
// the log's "started" lines so the next start waits for a new one.
func (p *bridgeProc) term() {
	p.stop()
	data, _ := os.ReadFile(p.logPath)
	_ = os.WriteFile(p.logPath+".prev", data, 0o600)
}

// numbered returns n message bodies "<prefix> 000" ... in sending order.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %03d", prefix, i)
	}
	return out
}

// sendPaced sends bodies from talker, one every interval, and returns when
// each was sent. When the message at index mark is about to be sent it
// closes reached, without waiting for the receiver.
func sendPaced(talker *integration.IRCClient, channel string, bodies []string, interval time.Duration, mark int, reached chan<- struct{}) ([]time.Time, error) {
	at := make([]time.Time, len(bodies))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i, b := range bodies {
		if i == mark {
			close(reached)
		}
		at[i] = time.Now()
		if err := talker.Privmsg(channel, b); err != nil {
			return at, err
		}
		<-tick.C
	}
	return at, nil
}

// checkRoom waits until the last of sent (from talker) is in the room, or
// wait passes, and then until the room is quiet; then it fails the test
// unless the room shows each of sent exactly once, in order, with the time
// IRC gave it (within 2 s after sentAt, where sentAt is not nil), no
// message from another IRC user, and no notice that messages are missing
// when none are: what a user scrolling the room would see.
func (s *ircProc) checkRoom(ctx context.Context, t *testing.T, sent []string, sentAt []time.Time, wait time.Duration) {
	t.Helper()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	_, lastErr := s.user.WaitForMessage(waitCtx, s.room, sent[len(sent)-1])
	cancel()
	if err := s.user.WaitQuiet(ctx, s.room, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	merged, err := s.user.RoomTimeline(ctx, s.room)
	if err != nil {
		t.Fatal(err)
	}
	ordered, err := s.user.ReadTimeline(ctx, s.room, 100)
	if err != nil {
		t.Fatal(err)
	}
	check := integration.CheckSequence(sent, integration.MessageBodies(merged, talkerPuppet), integration.MessageBodies(ordered, talkerPuppet))
	if !check.OK() {
		t.Errorf("the room shows %s (last message: %v)", check, lastErr)
	} else {
		t.Logf("the room shows %s", check)
	}
	// Every message is there: a notice saying some are not is false.
	if notices := integration.Notices(merged, "were not bridged", "The bridge was away"); len(check.Missing) == 0 && len(notices) > 0 {
		t.Errorf("all %d messages are in the room, yet it tells the user some are missing: %q", len(sent), notices)
	}
	if other := integration.OtherMessages(merged, "@irc_test_", talkerPuppet); len(other) > 0 {
		t.Errorf("the room shows %d messages from IRC users other than talker (only talker spoke): %q", len(other), other[:min(5, len(other))])
	}
	if sentAt == nil {
		return
	}
	sentWhen := make(map[string]time.Time, len(sent))
	for i, b := range sent {
		sentWhen[b] = sentAt[i]
	}
	var late []string
	for _, ev := range merged {
		b := integration.MessageBodies([]matrix.Event{ev}, talkerPuppet)
		if len(b) == 0 {
			continue
		}
		at, ok := sentWhen[b[0]]
		if !ok {
			continue
		}
		if ts := time.UnixMilli(ev.OriginServerTS); ts.Before(at.Add(-time.Second)) || ts.After(at.Add(2*time.Second)) {
			late = append(late, fmt.Sprintf("%q sent %s, shown at %s", b[0], at.Format("15:04:05.000"), ts.Format("15:04:05.000")))
		}
	}
	if len(late) > 0 {
		t.Errorf("%d messages are not shown with the time IRC sent them, e.g. %s", len(late), strings.Join(late[:min(5, len(late))], "; "))
	}
}

// TestIntegrationIRCCatchUpProcess: a raw IRC client says 300 numbered
// messages at 50 a second in a bridged channel of Ergo; 1.2 s in, the
// bridge process is killed with SIGKILL (or stopped with SIGTERM) and
// started again 3 s later, so it misses what was said while it was down
// and may have lost what it had read but not yet sent to Matrix. The
// Matrix room must show all 300, none twice, in the order said and with
// IRC's times. A third case sends 10 messages only while the bridge is
// stopped: 10 of 10 arrive, and what was bridged before is not repeated.
func TestIntegrationIRCCatchUpProcess(t *testing.T) {
	integration.RequireEnv(t, integration.EnvDendriteBin)
	integration.RequireEnv(t, integration.EnvErgoBin)
	bin := buildBinary(t)
	for i, tc := range []struct {
		name string
		down func(p *bridgeProc)
	}{
		0: {"sigkill", (*bridgeProc).kill},
		1: {"sigterm", (*bridgeProc).term},
	} {
		t.Run(fmt.Sprintf("%d-%s-mid-burst", i, tc.name), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
			defer cancel()
			s := startIRCProc(ctx, t, bin, "#burst")
			sent := numbered("burst", 300)
			reached := make(chan struct{})
			type result struct {
				at  []time.Time
				err error
			}
			done := make(chan result, 1)
			go func() {
				at, err := sendPaced(s.talker, s.channel, sent, 20*time.Millisecond, 60, reached)
				done <- result{at, err}
			}()
			select {
			case <-reached:
			case r := <-done:
				t.Fatalf("talker stopped before message 60: %v", r.err)
			}
			tc.down(s.proc)
			time.Sleep(3 * time.Second)
			s.proc.start(t)
			restarted := time.Now()
			r := <-done
			if r.err != nil {
				t.Fatalf("talker: %v", r.err)
			}
			live := 0
			for _, at := range r.at {
				if at.After(restarted) {
					live++
				}
			}
			t.Logf("burst %s to %s; bridge %s at message 60, up again at %s (%d messages sent after)",
				r.at[0].Format("15:04:05.000"), r.at[len(r.at)-1].Format("15:04:05.000"), tc.name,
				restarted.Format("15:04:05.000"), live)
			s.checkRoom(ctx, t, sent, r.at, 3*time.Minute)
		})
	}
	t.Run("2-down-only", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
		defer cancel()
		s := startIRCProc(ctx, t, bin, "#quiet")
		before, down, after := numbered("before", 5), numbered("down", 10), numbered("after", 3)
		var sent []string
		var sentAt []time.Time
		say := func(bodies []string) {
			t.Helper()
			for _, b := range bodies {
				sent, sentAt = append(sent, b), append(sentAt, time.Now())
				if err := s.talker.Privmsg(s.channel, b); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		say(before)
		if _, err := s.user.WaitForMessage(ctx, s.room, before[len(before)-1]); err != nil {
			t.Fatal(err)
		}
		s.proc.term()
		say(down)
		time.Sleep(3 * time.Second) // the times of the missed messages are well before the restart
		s.proc.start(t)
		// Said once the bot is back in the channel: live messages, which
		// must come after the ten it missed.
		s.waitBotJoin(t)
		say(after)
		s.checkRoom(ctx, t, sent, sentAt, 3*time.Minute)
	})
}
