package core

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// nopHandler is an appservice.Handler that accepts everything.
type nopHandler struct{}

func (nopHandler) HandleEvent(context.Context, *matrix.Event) error           { return nil }
func (nopHandler) HandleEphemeral(context.Context, *matrix.Event)             {}
func (nopHandler) QueryUser(context.Context, matrix.UserID) (bool, error)     { return false, nil }
func (nopHandler) QueryAlias(context.Context, matrix.RoomAlias) (bool, error) { return false, nil }

// TestInjectSyncedDropsOnlyTheBadEvent: an event from the bot's /sync that
// the inbox cannot take (here its event_id is not a string) is dropped on
// its own; the redactions beside it are stored, and the hand-over succeeds
// so the syncer saves its position instead of repeating the poll forever.
func TestInjectSyncedDropsOnlyTheBadEvent(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv, err := appservice.New(appservice.Options{HSToken: "hs", Inbox: s, Handler: nopHandler{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bridge{store: s, server: srv, log: log}
	redaction := func(id string) intent.TimelineEvent {
		return intent.TimelineEvent{Room: "!r:x", Raw: []byte(`{"event_id":"` + id + `","type":"m.room.redaction","sender":"@u:x","redacts":"$m","content":{}}`)}
	}
	evs := []intent.TimelineEvent{
		redaction("$good1"),
		{Room: "!r:x", Raw: []byte(`{"event_id":42,"type":"m.room.redaction","sender":"@u:x","content":{}}`)},
		redaction("$good2"),
	}
	if err := b.injectSynced(ctx, "s1_2_3", evs); err != nil {
		t.Fatalf("injectSynced: %v (the poll would repeat forever)", err)
	}
	pending, err := s.PendingEvents(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range pending {
		got = append(got, e.EventID)
	}
	if len(got) != 2 || got[0] != "$good1" || got[1] != "$good2" {
		t.Fatalf("stored %q, want the two good redactions in order", got)
	}
}
