package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// fakeNoticeQueue records the ops the router queues.
type fakeNoticeQueue struct{ ops []intent.Op }

func (q *fakeNoticeQueue) Send(_ context.Context, op intent.Op) (bool, error) {
	q.ops = append(q.ops, op)
	return true, nil
}

// plainModule bridges messages only: no edits, reactions or redactions.
type plainModule struct{ fakeModule }

func (p *plainModule) Info() bridges.Info { return bridges.Info{ID: p.id, Network: "Plainnet"} }

// HandleMatrixEdit hides fakeModule's: plainModule is not an EditHandler.
func (p *plainModule) HandleMatrixEdit() {}

// TestUnsupportedCapabilityNotice: a Matrix user's reaction, edit or
// redaction in a portal of a module that does not bridge it gets one notice
// from the bot per room and kind within the window, queued in the outbox;
// the module never sees the event.
func TestUnsupportedCapabilityNotice(t *testing.T) {
	m := &plainModule{fakeModule{id: "p"}}
	if _, ok := any(m).(bridges.EditHandler); ok {
		t.Fatal("plainModule must not be an EditHandler")
	}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{m},
		fakePortals{"!r1:hs": "p", "!r2:hs": "p"}, &fakeActions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeNoticeQueue{}
	now := time.Unix(1_700_000_000, 0)
	r.unsupported = newUnsupportedNotices(q, 10*time.Minute)
	r.unsupported.now = func() time.Time { return now }

	n := 0
	reaction := func(room string) *matrix.Event {
		n++
		return ev("$re"+strconv.Itoa(n), matrix.EventReaction, room, "@u:hs", nil,
			map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": "$m", "key": "👍"}})
	}
	edit := func(room string) *matrix.Event {
		n++
		return ev("$ed"+strconv.Itoa(n), matrix.EventMessage, room, "@u:hs", nil, map[string]any{"msgtype": "m.text", "body": "* x",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "x"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": "$m"}})
	}
	redaction := func(room string) *matrix.Event {
		n++
		e := ev("$rd"+strconv.Itoa(n), matrix.EventRedaction, room, "@u:hs", nil, map[string]any{})
		e.Redacts = "$m"
		return e
	}
	reactions := func(count int, room string) []*matrix.Event {
		evs := make([]*matrix.Event, count)
		for i := range evs {
			evs[i] = reaction(room)
		}
		return evs
	}
	steps := []struct {
		name    string
		events  []*matrix.Event
		advance time.Duration // before the events
		want    []string      // rooms told, in order
	}{
		0: {name: "first reaction is reported", events: []*matrix.Event{reaction("!r1:hs")}, want: []string{"!r1:hs"}},
		1: {name: "99 more reactions in the window are not", events: reactions(99, "!r1:hs"), advance: time.Minute},
		2: {name: "another room gets its own", events: []*matrix.Event{reaction("!r2:hs"), reaction("!r2:hs")}, want: []string{"!r2:hs"}},
		3: {name: "another kind gets its own", events: []*matrix.Event{edit("!r1:hs"), redaction("!r1:hs"), edit("!r1:hs")}, want: []string{"!r1:hs", "!r1:hs"}},
		4: {name: "still in the window", events: []*matrix.Event{reaction("!r1:hs")}, advance: 8*time.Minute + 59*time.Second},
		5: {name: "after the window, again one", events: []*matrix.Event{reaction("!r1:hs"), reaction("!r1:hs")}, advance: time.Second, want: []string{"!r1:hs"}},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now = now.Add(s.advance)
			before := len(q.ops)
			for _, e := range s.events {
				if err := r.HandleEvent(t.Context(), e); err != nil {
					t.Fatalf("step %d: %s: %v", i, e.ID, err)
				}
			}
			got := q.ops[before:]
			if len(got) != len(s.want) {
				t.Fatalf("step %d: %d notices, want %d: %+v", i, len(got), len(s.want), got)
			}
			for j, op := range got {
				if string(op.Room) != s.want[j] {
					t.Errorf("step %d: notice %d in %s, want %s", i, j, op.Room, s.want[j])
				}
				checkUnsupportedNotice(t, op)
			}
		})
	}
	if len(m.events) != 0 {
		t.Errorf("the module received %v", m.events)
	}
}

// decliningModule bridges edits, reactions and redactions in no portal:
// its handlers answer bridges.ErrUnsupported.
type decliningModule struct{ fakeModule }

func (d *decliningModule) Info() bridges.Info { return bridges.Info{ID: d.id, Network: "Plainnet"} }

func (d *decliningModule) HandleMatrixEdit(context.Context, *bridges.Edit) error {
	return fmt.Errorf("edit: %w", bridges.ErrUnsupported)
}

func (d *decliningModule) HandleMatrixReaction(context.Context, *bridges.Reaction) error {
	return bridges.ErrUnsupported
}

func (d *decliningModule) HandleMatrixRedaction(context.Context, *bridges.Redaction) error {
	return bridges.ErrUnsupported
}

// TestDeclinedCapabilityNotice: a module that has the capabilities but
// answers bridges.ErrUnsupported for a portal gets the room the same
// notice as a module without them, and the events are done (no error).
func TestDeclinedCapabilityNotice(t *testing.T) {
	m := &decliningModule{fakeModule{id: "p"}}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{m},
		fakePortals{"!r1:hs": "p"}, &fakeActions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeNoticeQueue{}
	r.unsupported = newUnsupportedNotices(q, 10*time.Minute)
	redaction := ev("$rd", matrix.EventRedaction, "!r1:hs", "@u:hs", nil, map[string]any{})
	redaction.Redacts = "$m"
	for _, e := range []*matrix.Event{
		ev("$re", matrix.EventReaction, "!r1:hs", "@u:hs", nil,
			map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": "$m", "key": "👍"}}),
		ev("$ed", matrix.EventMessage, "!r1:hs", "@u:hs", nil, map[string]any{"msgtype": "m.text", "body": "* x",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "x"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": "$m"}}),
		redaction,
	} {
		if err := r.HandleEvent(t.Context(), e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}
	if len(q.ops) != 3 {
		t.Fatalf("%d notices, want one per kind: %+v", len(q.ops), q.ops)
	}
	for _, op := range q.ops {
		checkUnsupportedNotice(t, op)
	}
}

// checkUnsupportedNotice checks that op is an m.notice from the bot that
// names the network.
func checkUnsupportedNotice(t *testing.T, op intent.Op) {
	t.Helper()
	var c matrix.MessageContent
	if err := json.Unmarshal(op.Content, &c); err != nil {
		t.Fatal(err)
	}
	if op.Kind != intent.OpMessage || op.Sender != "" || op.Type != matrix.EventMessage || c.MsgType != matrix.MsgNotice || op.Key == "" {
		t.Errorf("not a keyed m.notice from the bot: %+v", op)
	}
	if want := "not bridged to Plainnet"; !strings.Contains(c.Body, want) {
		t.Errorf("body %q does not say %q", c.Body, want)
	}
}
