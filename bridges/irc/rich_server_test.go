package irc

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// scriptedServer is a minimal IRC server on localhost: it offers caps,
// acks every CAP REQ, welcomes the client and records every line after
// registration.
type scriptedServer struct {
	addr  string
	caps  string
	lines chan string
}

func startScriptedServer(t *testing.T, caps string) *scriptedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &scriptedServer{addr: ln.Addr().String(), caps: caps, lines: make(chan string, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	nick, registered := "", false
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "CAP" && len(f) > 1 && f[1] == "LS":
			fmt.Fprintf(c, ":srv CAP * LS :%s\r\n", s.caps)
		case f[0] == "CAP" && len(f) > 1 && f[1] == "REQ":
			fmt.Fprintf(c, ":srv CAP * ACK %s\r\n", strings.Join(f[2:], " "))
		case f[0] == "NICK" && len(f) > 1:
			nick = f[1]
		case f[0] == "CAP" && len(f) > 1 && f[1] == "END" && !registered:
			registered = true
			fmt.Fprintf(c, ":srv 001 %s :Welcome\r\n:srv 376 %s :End of MOTD\r\n", nick, nick)
		case registered:
			s.lines <- l
		}
	}
}

// next returns the next line the server received, failing after a while.
func (s *scriptedServer) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-s.lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("the server received nothing")
		return ""
	}
}

// newTestModule returns a module with one network "test" at addr, an
// SQLite store, a DM portal !dm between @u:localhost and IRC user "friend",
// and a link of event $ev to IRC msgid abc.
func newTestModule(t *testing.T, addr string) *Module {
	t.Helper()
	m := New()
	dec := decodeFunc(func(out any) error {
		*out.(*Config) = Config{Networks: map[string]*NetworkConfig{"test": {Address: addr, Flood: FloodConfig{Rate: 100, Burst: 100}}}}
		return nil
	})
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@bot:localhost"}, dec); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m.store, m.log = st, slog.New(slog.DiscardHandler)
	m.ctx, m.cancel = context.WithCancel(ctx)
	t.Cleanup(func() { m.networks["test"].closeAll("test over"); m.cancel() })
	if err := st.PutPortal(ctx, store.Portal{Module: ID, RemoteID: pmKey("test", "@u:localhost", "friend").String(),
		RoomID: "!dm", Meta: []byte(`{"name":"friend"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "msgid:abc", RoomID: "!dm", EventID: "$ev"}); err != nil {
		t.Fatal(err)
	}
	return m
}

type decodeFunc func(out any) error

func (f decodeFunc) Decode(out any) error { return f(out) }

func TestRedactionAndReactionOnTheWire(t *testing.T) {
	srv := startScriptedServer(t, "message-tags draft/message-redaction")
	m := newTestModule(t, srv.addr)
	ctx := t.Context()
	evt := &matrix.Event{ID: "$red", RoomID: "!dm", Sender: "@u:localhost"}

	if err := m.HandleMatrixRedaction(ctx, &bridges.Redaction{Event: evt, Target: "$ev", Reason: "oops\r\nQUIT :injected"}); err != nil {
		t.Fatal(err)
	}
	if l := srv.next(t); l != "REDACT friend abc :oops QUIT :injected" {
		t.Fatalf("server got %q", l)
	}
	if err := m.HandleMatrixReaction(ctx, &bridges.Reaction{Event: &matrix.Event{ID: "$re", RoomID: "!dm", Sender: "@u:localhost"}, Target: "$ev", Key: "👍"}); err != nil {
		t.Fatal(err)
	}
	l := srv.next(t)
	if !strings.HasSuffix(l, " TAGMSG friend") || !strings.Contains(l, "+draft/react=👍") || !strings.Contains(l, "+draft/reply=abc") {
		t.Fatalf("server got %q", l)
	}
	// Someone else's DM, and events without an IRC msgid, send nothing.
	_ = m.HandleMatrixRedaction(ctx, &bridges.Redaction{Event: &matrix.Event{RoomID: "!dm", Sender: "@other:localhost"}, Target: "$ev"})
	_ = m.HandleMatrixRedaction(ctx, &bridges.Redaction{Event: evt, Target: "$unknown"})
	select {
	case l := <-srv.lines:
		t.Fatalf("server got %q, want nothing", l)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNoRedactWithoutTheCap(t *testing.T) {
	srv := startScriptedServer(t, "message-tags")
	m := newTestModule(t, srv.addr)
	web := httptest.NewServer(&fakeHomeserver{}) // redact_test.go: knows no event, so $ev is no reaction
	t.Cleanup(web.Close)
	client, err := intent.New(intent.Options{HomeserverURL: web.URL, ASToken: "as", BotUserID: "@bot:localhost"})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: the notice stays in the store, where the test reads it.
	if m.outbox, err = intent.NewOutbox(intent.OutboxOptions{Client: client, Store: m.store}); err != nil {
		t.Fatal(err)
	}
	m.client = client
	evt := &matrix.Event{ID: "$red", RoomID: "!dm", Sender: "@u:localhost"}
	if err := m.HandleMatrixRedaction(t.Context(), &bridges.Redaction{Event: evt, Target: "$ev"}); err != nil {
		t.Fatal(err)
	}
	// The next line proves the connection works and nothing came before it.
	u := m.networks["test"].userConnFor("@u:localhost", "")
	c, err := u.connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(t.Context(), nil, "PING", "marker"); err != nil {
		t.Fatal(err)
	}
	if l := srv.next(t); l != "PING marker" {
		t.Fatalf("server got %q before the marker: REDACT without draft/message-redaction", l)
	}
	// The user is told that IRC users still see the message.
	items, err := m.store.PendingOutbox(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || !strings.Contains(string(items[0].Payload), "Not removed on IRC") || !strings.Contains(string(items[0].Payload), `"$ev"`) {
		t.Fatalf("queued %d items, want one notice replying to $ev: %+v", len(items), items)
	}
}
