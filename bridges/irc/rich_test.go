package irc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

func TestEditCorrection(t *testing.T) {
	for i, tc := range []struct {
		old  string
		new  []string
		want []string
	}{
		0: {"the quick brwn fox", []string{"the quick brown fox"}, []string{"* brown"}},
		1: {"hello", []string{"goodbye"}, []string{"* goodbye"}}, // one word only: the whole text
		2: {"a b c", []string{"x b z"}, []string{"* x b z"}},
		3: {"same text", []string{"same text"}, nil},
		4: {"same  text", []string{"same text"}, nil}, // only spacing changed
		5: {"", []string{"unknown original"}, []string{"* unknown original"}},
		6: {"one line", []string{"two", "lines"}, []string{"* two", "lines"}},
		7: {"something", []string{"  "}, nil},
		8: {"short", []string{"a much longer replacement"}, []string{"* a much longer replacement"}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got := editCorrection(tc.old, tc.new)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("editCorrection(%q, %q) = %q, want %q", tc.old, tc.new, got, tc.want)
			}
		})
	}
}

// recorder collects what held items send, in order.
type recorder struct {
	mu   sync.Mutex
	sent []string
	at   map[string]time.Time
}

func (r *recorder) item(event, sender string, due time.Time, body string) *heldItem {
	return &heldItem{event: matrix.EventID(event), sender: matrix.UserID(sender), due: due,
		content: &matrix.MessageContent{MsgType: matrix.MsgText, Body: body},
		run: func(_ context.Context, c *matrix.MessageContent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.sent = append(r.sent, c.Body)
			if r.at == nil {
				r.at = map[string]time.Time{}
			}
			r.at[c.Body] = time.Now()
		}}
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func TestHoldQueueEditReplacesHeldMessage(t *testing.T) {
	var q holdQueue
	var r recorder
	ctx := t.Context()
	now := time.Now()
	q.enqueue(ctx, "!a", r.item("$1", "@u:x", now.Add(100*time.Millisecond), "typo"))
	q.enqueue(ctx, "!a", r.item("$2", "@u:x", now.Add(10*time.Millisecond), "second"))
	if q.replace("!a", "$1", "@v:x", &matrix.MessageContent{Body: "by someone else"}) {
		t.Fatal("another user's edit replaced the message")
	}
	if !q.replace("!a", "$1", "@u:x", &matrix.MessageContent{Body: "fixed"}) {
		t.Fatal("edit in the window did not replace the held message")
	}
	poll.Until(t, "both sent", 15*time.Second, func() bool { return len(r.list()) == 2 })
	if got := strings.Join(r.list(), ","); got != "fixed,second" {
		t.Fatalf("sent %s, want fixed,second (the later message must not overtake)", got)
	}
	if q.replace("!a", "$1", "@u:x", &matrix.MessageContent{Body: "late"}) {
		t.Fatal("an edit after sending replaced nothing, but replace reported true")
	}
}

func TestHoldQueueKeepsReplyRelation(t *testing.T) {
	var q holdQueue
	var got *matrix.MessageContent
	done := make(chan struct{})
	rel := &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: "$q"}}
	q.enqueue(t.Context(), "!a", &heldItem{event: "$1", sender: "@u:x", due: time.Now().Add(50 * time.Millisecond),
		content: &matrix.MessageContent{Body: "answr", RelatesTo: rel},
		run:     func(_ context.Context, c *matrix.MessageContent) { got = c; close(done) }})
	q.replace("!a", "$1", "@u:x", &matrix.MessageContent{Body: "answer"})
	<-done
	if got.Body != "answer" || got.RelatesTo != rel {
		t.Fatalf("sent %+v: the edit lost the reply relation", got)
	}
}

func TestHoldQueueRoomsDoNotBlockEachOther(t *testing.T) {
	var q holdQueue
	var r recorder
	ctx := t.Context()
	now := time.Now()
	q.enqueue(ctx, "!slow", r.item("$1", "@u:x", now.Add(time.Hour), "held for an hour"))
	q.enqueue(ctx, "!fast", r.item("$2", "@u:x", now.Add(10*time.Millisecond), "other room"))
	poll.Until(t, "the other room's message", 15*time.Second, func() bool { return len(r.list()) == 1 })
	if r.list()[0] != "other room" {
		t.Fatalf("sent %q", r.list())
	}
	if q.pending("!slow") != 1 {
		t.Fatalf("pending in !slow = %d, want 1", q.pending("!slow"))
	}
	// Stopping sends what is held instead of losing it.
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := q.flush(ctx2); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.list(), ","); got != "other room,held for an hour" {
		t.Fatalf("after flush sent %s", got)
	}
	// After flush nothing is held.
	q.enqueue(ctx, "!slow", r.item("$3", "@u:x", time.Now().Add(time.Hour), "after stop"))
	poll.Until(t, "the message enqueued after flush", 15*time.Second, func() bool { return len(r.list()) == 3 })
}

func TestSentCache(t *testing.T) {
	var s sentCache
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("unknown event reported delivered")
	}
	s.setContent("$x", &matrix.MessageContent{Body: "never delivered"})
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("setContent marked an undelivered event as delivered")
	}
	s.markDelivered("$x")
	s.setContent("$x", &matrix.MessageContent{Body: "v2"})
	if ok, c := s.lookup("$x"); !ok || c == nil || c.Body != "v2" {
		t.Fatalf("lookup = %v %+v", ok, c)
	}
	for i := range sentCacheSize {
		s.markDelivered(matrix.EventID(fmt.Sprint("$", i)))
	}
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("the cache is not bounded: the oldest entry survived")
	}
	if ok, _ := s.lookup(matrix.EventID(fmt.Sprint("$", sentCacheSize-1))); !ok {
		t.Fatal("the newest entry was evicted")
	}
}
