package intent

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// dendriteLeave makes hs answer every leave as Dendrite 0.15 does when
// the user is not in the room (400 M_UNKNOWN, not Synapse's 403), and
// the user's m.room.member state with status and body.
func dendriteLeave(hs *fakeHS, status int, body string) {
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/leave"):
			writeErr(w, http.StatusBadRequest, "M_UNKNOWN", `user "`+string(rec.User)+`" is not a member of room`)
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/state/m.room.member/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		default:
			return false
		}
		return true
	})
}

// TestLeaveRefusedNotInRoom: a leave the homeserver refuses with something
// other than M_FORBIDDEN (Dendrite's 400 M_UNKNOWN) is done when the
// user's membership, read from the homeserver, says they are not in the
// room; an error when it says they are; retried (a transient error) when
// the membership cannot be read.
func TestLeaveRefusedNotInRoom(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		wantErr   bool
		transient bool
	}{
		0: {http.StatusNotFound, `{"errcode":"M_NOT_FOUND","error":"no member event"}`, false, false}, // never in the room
		1: {http.StatusForbidden, `{"errcode":"M_FORBIDDEN","error":"not in room"}`, false, false},    // may not read it, or no such room
		2: {http.StatusOK, `{"membership":"leave"}`, false, false},                                    // left before: the cache forgot
		3: {http.StatusOK, `{"membership":"ban"}`, false, false},
		4: {http.StatusOK, `{"membership":"join"}`, true, false}, // in the room: the refusal stands
		5: {http.StatusOK, `{"membership":"invite"}`, true, false},
		6: {http.StatusBadGateway, `{}`, true, true}, // unknown: try again
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			ctx := context.Background()
			hs := newFakeHS(t)
			hs.makeRoom(room1, false, testBot)
			dendriteLeave(hs, tc.status, tc.body)
			c := newTestClient(t, hs, nil)
			err := c.Intent(bob).Leave(ctx, room1, "quit")
			if (err != nil) != tc.wantErr || IsTransient(err) != tc.transient {
				t.Fatalf("Leave = %v (transient %t), want error %t, transient %t", err, IsTransient(err), tc.wantErr, tc.transient)
			}
			if tc.wantErr {
				return
			}
			// Done: the cache knows, another leave makes no request.
			if err := c.Intent(bob).Leave(ctx, room1, "quit"); err != nil {
				t.Fatal(err)
			}
			if n := len(hs.requests(http.MethodPost, "/leave")); n != 1 {
				t.Fatalf("%d leave requests, want 1", n)
			}
		})
	}
}

// TestOutboxLeaveOfPuppetNotInRoom: a queued leave of a puppet that is not
// in the room (an IRC user who quits without ever having been shown there,
// or who left it already) on a homeserver answering like Dendrite is
// carried out as done: no permanent failure, no OnFailed, nothing logged
// at WARN or above, and OnSent is called (the IRC module frees its record
// of the puppet then).
func TestOutboxLeaveOfPuppetNotInRoom(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, testBot)
	dendriteLeave(hs, http.StatusForbidden, `{"errcode":"M_FORBIDDEN","error":"You aren't a member of the room"}`)
	st := newMemOutboxStore()
	logs := &levelRecorder{}
	var failed, sent atomic.Int32
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{Logger: slog.New(logs),
		OnFailed: func(context.Context, store.OutboxItem, Op, error) { failed.Add(1) },
		OnSent:   func(context.Context, store.OutboxItem, Op, matrix.EventID) { sent.Add(1) }})
	if _, err := o.SendAndWait(ctx, Op{Kind: OpMembership, Room: room1, Sender: bob, Type: "leave", Reason: "quit: bye"}); err != nil {
		t.Fatalf("leave of a puppet not in the room: %v", err)
	}
	poll.Until(t, "the leave committed", 10*time.Second, func() bool { _, done, _ := st.counts(); return done == 1 })
	poll.Until(t, "OnSent", 10*time.Second, func() bool { return sent.Load() == 1 })
	if _, _, f := st.counts(); f != 0 || failed.Load() != 0 {
		t.Fatalf("%d items failed, OnFailed called %d times; want none", f, failed.Load())
	}
	if got := logs.messages(); len(got) > 0 {
		t.Fatalf("logged %q", got)
	}
}
