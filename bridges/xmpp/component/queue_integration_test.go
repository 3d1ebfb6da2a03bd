//go:build integration

package component

import (
	"context"
	"encoding/xml"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/internal/integration"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var bodyRE = regexp.MustCompile(`<body[^>]*>([^<]*)</body>`)

// TestIntegrationXMPPQueueOutage: stanzas enqueued for a c2s client while
// Prosody is down (SIGKILL) are stored, survive a restart of the bridge
// (a new queue on the same store), and reach the client in order and
// once after Prosody is back; the store is empty afterwards. The test
// server keeps offline messages (mod_offline), so that it does not matter
// whether the client or the component is back first.
func TestIntegrationXMPPQueueOutage(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("bob", "pw"),
		integration.WithProsodyOffline())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("component log:\n%s", logs.String())
		}
	})
	domain := jid.MustParse(p.ComponentDomain())
	run := func(q *Queue) (*Conn, func()) {
		c := New(Options{Server: p.ComponentAddr(), Domain: domain, Secret: p.ComponentSecret(),
			ReconnectMax: time.Second, Queue: q,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Run(rctx)
		}()
		stop := func() { rcancel(); <-done }
		t.Cleanup(stop)
		return c, stop
	}
	enqueue := func(c *Conn, body string) {
		t.Helper()
		raw := `<message from='bot@` + domain.String() + `' to='bob@localhost' type='chat' id='m` + body + `'><body>` + body + `</body></message>`
		if err := c.Enqueue(ctx, xml.NewDecoder(strings.NewReader(raw))); err != nil {
			t.Fatalf("enqueue %s: %v", body, err)
		}
	}
	// bodies waits until c has received a message with body last and
	// returns the bodies of the messages from the component, in order.
	bodies := func(c *integration.XMPPClient, last string) []string {
		t.Helper()
		var got []string
		_, err := c.Wait(ctx, func(s integration.XMPPStanza) bool {
			if s.Name != "message" || !strings.HasPrefix(s.From, "bot@") {
				return false
			}
			m := bodyRE.FindStringSubmatch(s.XML)
			if m == nil {
				return false
			}
			got = append(got, m[1])
			return m[1] == last
		})
		if err != nil {
			t.Fatalf("waiting for %q (got %v): %v", last, got, err)
		}
		return got
	}

	kv := newMemKV()
	q, err := OpenQueue(ctx, kv, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, stopA := run(q)
	if err := a.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	bob := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	if err := bob.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	enqueue(a, "0")
	if got := bodies(bob, "0"); strings.Join(got, ",") != "0" {
		t.Fatalf("while up: %v", got)
	}
	for q.Len() > 0 { // acknowledged: a kill now would resend it (at least once)
		if ctx.Err() != nil {
			t.Fatal("0 never acknowledged")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	for a.Connected() {
		if ctx.Err() != nil {
			t.Fatal("the component did not notice Prosody's death")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, b := range []string{"1", "2", "3"} {
		enqueue(a, b) // while the component tries to reconnect
	}
	stopA() // the bridge restarts while the server is still down
	q2, err := OpenQueue(ctx, kv, 0)
	if err != nil {
		t.Fatal(err)
	}
	if q2.Len() != 3 {
		t.Fatalf("after the bridge's restart %d stanzas queued, want 3", q2.Len())
	}
	b2, _ := run(q2)
	enqueue(b2, "4")

	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	bob2 := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	if err := bob2.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	if err := b2.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bodies(bob2, "4"); strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("after the outage bob got %v, want 1,2,3,4 in order, once", got)
	}
	enqueue(b2, "end") // anything sent twice would arrive before it
	if got := bodies(bob2, "end"); strings.Join(got, ",") != "1,2,3,4,end" {
		t.Fatalf("bob got %v, want 1,2,3,4,end", got)
	}
	for q2.Len() > 0 || len(kv.WithPrefixNow()) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("queue not emptied: %d queued, %d stored", q2.Len(), len(kv.WithPrefixNow()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
