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
