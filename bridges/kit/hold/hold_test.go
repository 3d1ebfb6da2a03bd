package hold

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store/storetest"
)

// recorder is a SendFunc that keeps what was sent, in order.
type recorder struct {
	mu   sync.Mutex
	sent []string // "<room> <body> <data>"
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 100)} }

func (r *recorder) send(_ context.Context, it *Item) {
	r.mu.Lock()
	r.sent = append(r.sent, string(it.Event.RoomID)+" "+it.Content.Body+" "+string(it.Data))
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// wait waits for n sends and returns everything sent.
func (r *recorder) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %d sends; got %q", n, r.got())
		}
	}
	return r.got()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func item(room, id, sender, body string, due time.Time) Item {
	return Item{Event: &matrix.Event{ID: matrix.EventID(id), RoomID: matrix.RoomID(room), Sender: matrix.UserID(sender)},
		Content: &matrix.MessageContent{MsgType: matrix.MsgText, Body: body}, Due: due, Data: json.RawMessage(`{"to":"#c"}`)}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestHoldEditOrder: a held message is sent when its window ends, with the
// text an edit in the window gave it (the reply relation kept); a room's
// sends keep their order, and one room's hold does not delay another's.
func TestHoldEditOrder(t *testing.T) {
	st := storetest.OpenSQLite(t)
	kv, links := bridges.StoredKV(st, "m"), bridges.StoredLinks(st, "m")
	rec := newRecorder()
	q := New(t.Context(), kv, links, quiet, rec.send)
	ctx := t.Context()
	now := time.Now()
	first := item("!a", "$1", "@u:hs", "helo", now.Add(300*time.Millisecond))
	first.Content.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: "$q"}}
	for _, it := range []Item{first, item("!a", "$2", "@u:hs", "second", now), item("!b", "$3", "@v:hs", "other room", now)} {
		if err := q.Hold(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.wait(t, 1); got[0] != "!b other room {\"to\":\"#c\"}" {
		t.Fatalf("first send %q, want room !b's, not held behind !a", got)
	}
	if ok, err := q.Replace(ctx, "!a", "$1", "@mallory:hs", &matrix.MessageContent{Body: "not yours"}); ok || err != nil {
		t.Fatalf("another sender's edit replaced a held message: %v %v", ok, err)
	}
	edited := &matrix.MessageContent{MsgType: matrix.MsgText, Body: "hello"}
	if ok, err := q.Replace(ctx, "!a", "$1", "@u:hs", edited); !ok || err != nil {
		t.Fatalf("edit in the window: %v %v", ok, err)
	}
	if edited.RelatesTo == nil || edited.RelatesTo.InReplyTo.EventID != "$q" {
		t.Errorf("the edit lost the reply relation: %+v", edited.RelatesTo)
	}
	got := rec.wait(t, 2)
	if got[1] != "!a hello {\"to\":\"#c\"}" || got[2] != "!a second {\"to\":\"#c\"}" {
		t.Fatalf("sent %q: want the edited text, then the later message", got)
	}
	// A record goes right after its send returns.
	poll.Until(t, "no record left after the sends", 10*time.Second, func() bool {
		kvs, err := kv.WithPrefix(ctx, keyPrefix)
		return err == nil && len(kvs) == 0
	})
}

// TestHoldSurvivesCrash: sends held when the process dies (the queue's
// context ends before their windows) are stored, edits included; a new
// queue on the same store restores them in order, drops the one linked
// before the crash (delivered) and the one the module no longer wants,
// and sends the rest; Flush sends at once.
func TestHoldSurvivesCrash(t *testing.T) {
	st := storetest.OpenSQLite(t)
	kv, links := bridges.StoredKV(st, "m"), bridges.StoredLinks(st, "m")
	ctx := t.Context()
	crashCtx, crash := context.WithCancel(ctx)
	dead := newRecorder()
	q := New(crashCtx, kv, links, quiet, dead.send)
	later := time.Now().Add(time.Hour)
	for _, it := range []Item{item("!a", "$1", "@u:hs", "one", later), item("!a", "$2", "@u:hs", "two", later),
		item("!a", "$3", "@u:hs", "three", later), item("!a", "$4", "@u:hs", "four", later)} {
		if err := q.Hold(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Replace(ctx, "!a", "$2", "@u:hs", &matrix.MessageContent{Body: "two, edited"}); err != nil {
		t.Fatal(err)
	}
	crash()
	if err := links.Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: "x"}, Room: "!a", Event: "$3"}); err != nil {
		t.Fatal(err)
	}

	rec := newRecorder()
	q2 := New(ctx, kv, links, quiet, rec.send)
	n, err := q2.Restore(ctx, func(it *Item) bool { return it.Event.ID != "$4" })
	if err != nil || n != 2 {
		t.Fatalf("restored %d, %v; want 2 ($3 was delivered, $4 not wanted)", n, err)
	}
	if err := q2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 2)
	if len(got) != 2 || got[0] != "!a one {\"to\":\"#c\"}" || got[1] != "!a two, edited {\"to\":\"#c\"}" {
		t.Fatalf("after the restart sent %q, want one, then two as edited", got)
	}
	if len(dead.got()) != 0 {
		t.Errorf("the crashed queue sent %q", dead.got())
	}
	poll.Until(t, "no record left after the sends", 10*time.Second, func() bool {
		kvs, err := kv.WithPrefix(ctx, keyPrefix)
		return err == nil && len(kvs) == 0
	})
	// Later items are not held after Flush.
	if err := q2.Hold(ctx, item("!a", "$5", "@u:hs", "five", later)); err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, 1); got[2] != "!a five {\"to\":\"#c\"}" {
		t.Fatalf("after Flush: %q", got)
	}
}
