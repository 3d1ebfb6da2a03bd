//go:build integration

package irc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// startCoverage starts Ergo and a bridge whose network "test" has the
// extra settings in network (indented 8 spaces).
func startCoverage(t *testing.T, network string) (*integration.IRCServer, *bridgetest.Stack, context.Context) {
	t.Helper()
	ergo := integration.StartErgo(t)
	return ergo, startBridge(t, ergo, "", flood100+network), tctx(t, 2*time.Minute)
}

// upload puts data in the media repository as c and returns its mxc URI.
func upload(ctx context.Context, c *integration.Client, name, contentType string, data []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.HomeserverURL+"/_matrix/media/v3/upload?filename="+url.QueryEscape(name), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upload %s: HTTP %d: %v", name, resp.StatusCode, err)
	}
	return out.ContentURI, nil
}

// fetchAnonymously GETs a link the way an IRC user's browser would: no
// Matrix access token.
func fetchAnonymously(ctx context.Context, t *testing.T, link string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s without a token: HTTP %d: %s", link, resp.StatusCode, data)
	}
	return data
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// TestIntegrationLongMessageAndMediaLinks: a Matrix message over the
// network's line_limit reaches IRC as one line with a link to the full
// text, and a file as its name and a link; IRC users can open both links
// without a Matrix account.
func TestIntegrationLongMessageAndMediaLinks(t *testing.T) {
	ergo, s, ctx := startCoverage(t, "        line_limit: 3\n")
	user := s.User(ctx, "lena")
	reader := dialJoined(t, ergo.Addr(), "reader", []string{"#long"})
	room, err := user.Join(ctx, portalAlias("#long"))
	if err != nil {
		t.Fatal(err)
	}
	fromLena := func(l *integration.Line) bool {
		return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), "lena") && l.Param(0) == "#long"
	}
	full := "first line of five\nsecond line\nthird line\nfourth line\nfifth and last line"
	if _, err := user.SendText(ctx, room, full); err != nil {
		t.Fatal(err)
	}
	l, err := reader.WaitFor(fromLena, 30*time.Second)
	if err != nil {
		t.Fatalf("the long message never reached IRC: %v", err)
	}
	if !strings.HasPrefix(l.Last(), "first line of five… (5 lines, full text: ") {
		t.Fatalf("long message sent as %q, want its first line and a link", l.Last())
	}
	link := linkRE.FindString(strings.TrimSuffix(l.Last(), ")"))
	if got := string(fetchAnonymously(ctx, t, link)); got != full {
		t.Fatalf("the link %s serves %q, want the full text %q", link, got, full)
	}

	// A file: its name and a link to it.
	data := []byte("%PDF-1.4 not really a pdf\n")
	mxc, err := upload(ctx, user, "report.pdf", "application/pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.SendEvent(ctx, room, matrix.EventMessage, map[string]any{
		"msgtype": "m.file", "body": "report.pdf", "url": mxc,
		"info": map[string]any{"mimetype": "application/pdf", "size": len(data)},
	}); err != nil {
		t.Fatal(err)
	}
	l, err = reader.WaitFor(fromLena, 30*time.Second)
	if err != nil {
		t.Fatalf("the file never reached IRC: %v", err)
	}
	name, link, ok := strings.Cut(l.Last(), " ")
	if !ok || name != "report.pdf" || !linkRE.MatchString(link) {
		t.Fatalf("file sent as %q, want \"report.pdf <link>\"", l.Last())
	}
	if got := fetchAnonymously(ctx, t, link); !bytes.Equal(got, data) {
		t.Fatalf("the link %s serves %q, want the file", link, got)
	}
}

// TestIntegrationBackfillNewPortal: what was said in a channel before its
// portal existed shows up in the new room, once each, with the IRC
// timestamps.
func TestIntegrationBackfillNewPortal(t *testing.T) {
	ergo, s, ctx := startCoverage(t, "        backfill: 50\n")
	talker := dialJoined(t, ergo.Addr(), "early", []string{"#fresh"}, integration.WithCaps("server-time", "echo-message", "message-tags"))
	said := []string{"said before any portal", "second early line", "third early line"}
	stamps := map[string]int64{} // body → server-time in ms
	for _, m := range said {
		if err := talker.Privmsg("#fresh", m); err != nil {
			t.Fatal(err)
		}
		echo, err := talker.WaitFor(integration.IsPrivmsg("early", "#fresh", m), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := echo.Tag("time")
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatalf("echo without server-time: %s", echo.Raw)
		}
		stamps[m] = ts.UnixMilli()
	}
	user := s.User(ctx, "nora")
	room, err := user.Join(ctx, portalAlias("#fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, said[len(said)-1]); err != nil {
		t.Fatalf("history of the new portal not backfilled: %v", err)
	}
	// A live line after the history: the room must show history then it.
	waitIRC(t, talker, joined("nora"), "nora joining #fresh")
	say(ctx, t, talker, "#fresh", "live after the join", user, room)
	evs, err := user.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Sender != "@irc_test_early:localhost" || ev.Type != matrix.EventMessage {
			continue
		}
		b := body(&ev).Body
		got = append(got, b)
		if want, ok := stamps[b]; ok && ev.OriginServerTS != want {
			t.Errorf("%q has origin_server_ts %d, want its IRC time %d", b, ev.OriginServerTS, want)
		}
	}
	if want := append(append([]string{}, said...), "live after the join"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("room shows %q, want %q (each once, in order)", got, want)
	}
}

// TestIntegrationMentionKickAndLeave: an IRC line naming a bridged Matrix
// user's nick mentions them (m.mentions and a pill); a Matrix kick (not a
// ban) by a moderator who is a channel operator becomes an IRC KICK; a
// Matrix user leaving the room parts the channel.
func TestIntegrationMentionKickAndLeave(t *testing.T) {
	ergo, s, ctx := startCoverage(t, "")
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#mkl"}) // first in: channel operator
	user := s.User(ctx, "vera")
	room, _ := joinPortal(ctx, t, user, "#mkl", op)

	// Mention → pill.
	ev := say(ctx, t, op, "#mkl", "vera: have a look", user, room)
	c := body(ev)
	if c.Mentions == nil || len(c.Mentions.UserIDs) != 1 || c.Mentions.UserIDs[0] != user.UserID ||
		!strings.Contains(c.FormattedBody, "https://matrix.to/#/"+string(user.UserID)) {
		t.Fatalf("mention not a pill: %s", ev.Content)
	}

	// Matrix kick with ops on IRC → KICK from vera's connection.
	victim := dialJoined(t, ergo.Addr(), "noisy", []string{"#mkl"})
	say(ctx, t, victim, "#mkl", "noise", user, room) // lazy membership: speak to appear
	if err := op.Send("MODE #mkl +o vera"); err != nil {
		t.Fatal(err)
	}
	// The room's power levels follow +o: once vera has 50 from it, the
	// bridge has seen her operator status; 50 is enough to kick.
	if _, err := user.WaitForEvent(ctx, hasPowerLevel(room, user.UserID, 50)); err != nil {
		t.Fatalf("+o never reached the room: %v", err)
	}
	if _, err := user.SendState(ctx, room, matrix.EventMember, "@irc_test_noisy:localhost", map[string]any{"membership": "leave", "reason": "calm down"}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool {
		return l.Command == "KICK" && strings.EqualFold(l.Nick(), "vera") && l.Param(1) == "noisy" && l.Param(2) == "calm down"
	}, 30*time.Second); err != nil {
		t.Fatalf("Matrix kick did not become an IRC KICK: %v", err)
	}
	for _, l := range op.Lines() {
		if l.Command == "MODE" && strings.Contains(l.Raw, "+b") {
			t.Errorf("a kick set a ban: %s", l.Raw)
		}
	}

	// Leaving the room parts the channel.
	if err := user.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool {
		return (l.Command == "PART" || l.Command == "QUIT") && strings.EqualFold(l.Nick(), "vera")
	}, 30*time.Second); err != nil {
		t.Fatalf("leaving the Matrix room did not part the channel: %v", err)
	}
}
