package irc

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// scriptedServer is a minimal IRC server on localhost: it offers its
// script's caps, acks every CAP REQ, welcomes each client at CAP END,
// answers PING and records the lines registered clients send (see
// serverScript for the rest). Tests read the lines with next and until.
type scriptedServer struct {
	addr    string
	script  serverScript
	lines   chan string
	accepts atomic.Int32 // connections accepted
}

// serverScript says how a scriptedServer behaves beyond registration.
type serverScript struct {
	caps string
	// answer, when set, returns the lines to send back for a line
	// (":srv 474 ..."), or drop=true to close the connection instead.
	answer func(nick, line string) (reply []string, drop bool)
	// tagNick records each line as "nick: line".
	tagNick bool
	// echoJoins echoes the JOINs answer did not answer; with joinBatch > 0
	// a connection's JOINs are held and echoed once joinBatch of them are,
	// as a busy server answers late.
	echoJoins bool
	joinBatch int
	// buffer is how many unread lines the server keeps before it stops
	// reading; 0 records nothing.
	buffer int
}

// startServer starts a scripted server, closed when the test ends.
func startServer(t *testing.T, script serverScript) *scriptedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &scriptedServer{addr: ln.Addr().String(), script: script}
	if script.buffer > 0 {
		s.lines = make(chan string, script.buffer)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			go s.serve(c)
		}
	}()
	return s
}

// startScriptedServer starts a server offering caps that records the
// lines as they are and answers nothing but registration and PING.
func startScriptedServer(t *testing.T, caps string) *scriptedServer {
	t.Helper()
	return startServer(t, serverScript{caps: caps, buffer: 100})
}

func (s *scriptedServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	nick, registered := "", false
	var held []string // JOINs waiting for their batch
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		f := strings.Fields(l)
		if registered && s.lines != nil {
			if s.script.tagNick {
				s.lines <- nick + ": " + l
			} else {
				s.lines <- l
			}
		}
		answered := false
		if s.script.answer != nil && len(f) > 0 {
			reply, drop := s.script.answer(nick, l)
			if drop {
				return
			}
			for _, r := range reply {
				fmt.Fprintf(c, "%s\r\n", r)
			}
			answered = len(reply) > 0
		}
		switch {
		case len(f) == 0:
		case f[0] == "CAP" && len(f) > 1 && f[1] == "LS":
			fmt.Fprintf(c, ":srv CAP * LS :%s\r\n", s.script.caps)
		case f[0] == "CAP" && len(f) > 1 && f[1] == "REQ":
			fmt.Fprintf(c, ":srv CAP * ACK %s\r\n", strings.Join(f[2:], " "))
		case f[0] == "NICK" && len(f) > 1:
			nick = f[1]
		case f[0] == "CAP" && len(f) > 1 && f[1] == "END" && !registered:
			registered = true
			fmt.Fprintf(c, ":srv 001 %s :Welcome\r\n:srv 376 %s :End of MOTD\r\n", nick, nick)
		case f[0] == "PING" && len(f) > 1:
			fmt.Fprintf(c, ":srv PONG srv %s\r\n", f[len(f)-1])
		case f[0] == "JOIN" && len(f) > 1 && s.script.echoJoins && !answered:
			held = append(held, f[1])
			if len(held) < s.script.joinBatch {
				continue
			}
			for _, ch := range held {
				fmt.Fprintf(c, ":%s!u@h JOIN %s\r\n", nick, ch)
			}
			held = nil
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

// until returns the lines received until one equal to last, failing after
// a while.
func (s *scriptedServer) until(t *testing.T, last string) []string {
	t.Helper()
	var got []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l := <-s.lines:
			got = append(got, l)
			if l == last {
				return got
			}
		case <-timeout:
			t.Fatalf("the server never received %q; got %q", last, got)
			return nil
		}
	}
}

// newModule returns a module configured with cfg, its store the SQLite
// file db (a new one when db is ""), logging nowhere; its root context is
// cancelled and its connections closed when the test ends.
func newModule(t *testing.T, cfg Config, db string) *Module {
	t.Helper()
	m := New()
	dec := decodeFunc(func(out any) error {
		*out.(*Config) = cfg
		return nil
	})
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@bot:localhost"}, dec); err != nil {
		t.Fatal(err)
	}
	if db == "" {
		db = filepath.Join(t.TempDir(), "db")
	}
	st, err := store.Open(t.Context(), "sqlite:"+db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	useStore(m, st)
	m.log, m.host = slog.New(slog.DiscardHandler), &tellHost{m: m}
	m.ctx, m.cancel = context.WithCancel(t.Context())
	t.Cleanup(func() {
		m.cancel()
		for _, n := range m.networks {
			n.closeAll("test over")
		}
	})
	return m
}

// useQueuedOutbox gives m a client of the homeserver at url and an outbox
// that is not started: what the module sends stays queued in its store
// (read it with PendingOutbox, or queued).
func useQueuedOutbox(t *testing.T, m *Module, url string) {
	t.Helper()
	client, err := intent.New(intent.Options{HomeserverURL: url, ASToken: fakehs.ASToken, BotUserID: "@bot:localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := intent.NewOutbox(intent.OutboxOptions{Client: client, Store: storeOf(m),
		Retry: intent.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	m.client, m.outbox = client, ob
}

// newHomeserver starts the shared fake homeserver of the tests' bot
// @bot:localhost.
func newHomeserver(t *testing.T) *fakehs.Homeserver {
	return fakehs.New(t, "localhost", "@bot:localhost")
}

// useHomeserver gives m a client of a new fake homeserver and a started
// outbox (quick retries), stopped when the test ends.
func useHomeserver(t *testing.T, m *Module) *fakehs.Homeserver {
	t.Helper()
	hs := newHomeserver(t)
	useQueuedOutbox(t, m, hs.URL)
	ob := m.outbox.(*intent.Outbox)
	if err := ob.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Stop(t.Context()) })
	return hs
}

// newTestModule returns a module with one network "test" at addr, an
// SQLite store, a DM portal !dm between @u:localhost and IRC user "friend",
// and a link of event $ev to IRC msgid abc.
func newTestModule(t *testing.T, addr string) *Module {
	t.Helper()
	m := newModule(t, Config{Networks: map[string]*NetworkConfig{"test": {Address: addr, Flood: FloodConfig{Rate: 100, Burst: 100}}}}, "")
	ctx := t.Context()
	if err := storeOf(m).PutPortal(ctx, store.Portal{Module: ID, RemoteID: pmKey("test", "@u:localhost", "friend").String(),
		RoomID: "!dm", Meta: []byte(`{"name":"friend"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := storeOf(m).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "abc", RoomID: "!dm", EventID: "$ev"}); err != nil {
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

	if err := m.HandleMatrixRedaction(ctx, routed(t, m, &bridges.Redaction{Event: evt, Target: "$ev", Reason: "oops\r\nQUIT :injected"})); err != nil {
		t.Fatal(err)
	}
	if l := srv.next(t); l != "REDACT friend abc :oops QUIT :injected" {
		t.Fatalf("server got %q", l)
	}
	if err := m.HandleMatrixReaction(ctx, routed(t, m, &bridges.Reaction{Event: &matrix.Event{ID: "$re", RoomID: "!dm", Sender: "@u:localhost"}, Target: "$ev", Key: "👍"})); err != nil {
		t.Fatal(err)
	}
	l := srv.next(t)
	if !strings.HasSuffix(l, " TAGMSG friend") || !strings.Contains(l, "+draft/react=👍") || !strings.Contains(l, "+draft/reply=abc") {
		t.Fatalf("server got %q", l)
	}
	// Someone else's DM, and events without an IRC msgid, send nothing.
	_ = m.HandleMatrixRedaction(ctx, routed(t, m, &bridges.Redaction{Event: &matrix.Event{RoomID: "!dm", Sender: "@other:localhost"}, Target: "$ev"}))
	_ = m.HandleMatrixRedaction(ctx, routed(t, m, &bridges.Redaction{Event: evt, Target: "$unknown"}))
	select {
	case l := <-srv.lines:
		t.Fatalf("server got %q, want nothing", l)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNoRedactWithoutTheCap(t *testing.T) {
	srv := startScriptedServer(t, "message-tags")
	m := newTestModule(t, srv.addr)
	// Not started: the notice stays in the store, where the test reads it.
	// The homeserver knows no event, so $ev is no reaction.
	useQueuedOutbox(t, m, newHomeserver(t).URL)
	evt := &matrix.Event{ID: "$red", RoomID: "!dm", Sender: "@u:localhost"}
	if err := m.HandleMatrixRedaction(t.Context(), routed(t, m, &bridges.Redaction{Event: evt, Target: "$ev"})); err != nil {
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
	items, err := storeOf(m).PendingOutbox(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || !strings.Contains(string(items[0].Payload), "Not removed on IRC") || !strings.Contains(string(items[0].Payload), `"$ev"`) {
		t.Fatalf("queued %d items, want one notice replying to $ev: %+v", len(items), items)
	}
}
