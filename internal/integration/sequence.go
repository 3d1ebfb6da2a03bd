package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// ReadTimeline reads room's timeline once, backwards in pages of pageSize
// like a client scrolling up, and returns it oldest first in the
// homeserver's own order (the order a client shows). Unlike
// [Client.RoomTimeline] it does not merge several readings or sort by
// timestamp, so it can tell whether the room really shows messages in
// order; Dendrite may skip an event at a page boundary (see RoomTimeline),
// so use it for order, not for counting.
func (c *Client) ReadTimeline(ctx context.Context, room matrix.RoomID, pageSize int) ([]matrix.Event, error) {
	return c.readTimeline(ctx, room, pageSize)
}

// WaitQuiet polls room until its newest timeline event has stayed the same
// for quiet, so that what is still on its way (late messages, duplicates)
// has arrived before a test reads the room. It returns ctx's error if ctx
// ends first.
func (c *Client) WaitQuiet(ctx context.Context, room matrix.RoomID, quiet time.Duration) error {
	var last matrix.EventID
	since := time.Now()
	for {
		m, err := c.Messages(ctx, room, "b", "", 1)
		if err != nil {
			return fmt.Errorf("wait for %s to be quiet: %w", room, err)
		}
		var newest matrix.EventID
		if len(m.Chunk) > 0 {
			newest = m.Chunk[0].ID
		}
		if newest != last {
			last, since = newest, time.Now()
		} else if time.Since(since) >= quiet {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be quiet: %w", room, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// MessageBodies returns the bodies of the m.room.message events of evs
// sent by sender (any sender when sender is ""), in the order of evs.
func MessageBodies(evs []matrix.Event, sender matrix.UserID) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type != matrix.EventMessage || ev.IsState() || (sender != "" && ev.Sender != sender) {
			continue
		}
		var m matrix.MessageContent
		if json.Unmarshal(ev.Content, &m) == nil {
			out = append(out, m.Body)
		}
	}
	return out
}

// SequenceCheck is what a room shows of a sequence of messages with
// distinct bodies sent in a known order (see [CheckSequence]).
type SequenceCheck struct {
	// Want is the number of messages sent.
	Want int
	// Shown is the number of distinct sent messages the room shows.
	Shown int
	// Missing lists the indexes (into the sent bodies) never shown.
	Missing []int
	// Duplicated lists one index per extra copy shown.
	Duplicated []int
	// Disorder describes the first place where the room shows a message
	// before one sent earlier, or is "".
	Disorder string
	bodies   []string
}

// CheckSequence compares sent (bodies, in the order sent) with what a room
// shows: shown is every body of the room (from a complete reading such as
// [Client.RoomTimeline], one entry per event), ordered the bodies in the
// room's own order (from [Client.ReadTimeline]). Bodies not in sent are
// ignored.
func CheckSequence(sent, shown, ordered []string) SequenceCheck {
	index := make(map[string]int, len(sent))
	for i, b := range sent {
		index[b] = i
	}
	s := SequenceCheck{Want: len(sent), bodies: sent}
	count := make([]int, len(sent))
	for _, b := range shown {
		if i, ok := index[b]; ok {
			count[i]++
			if count[i] > 1 {
				s.Duplicated = append(s.Duplicated, i)
			}
		}
	}
	slices.Sort(s.Duplicated)
	for i, n := range count {
		if n == 0 {
			s.Missing = append(s.Missing, i)
		} else {
			s.Shown++
		}
	}
	prev := -1
	for _, b := range ordered {
		i, ok := index[b]
		if !ok {
			continue
		}
		if i < prev && s.Disorder == "" {
			s.Disorder = fmt.Sprintf("%q shown after %q", sent[i], sent[prev])
		}
		prev = max(prev, i)
	}
	return s
}

// OK reports whether every message is shown exactly once, in order.
func (s SequenceCheck) OK() bool {
	return len(s.Missing) == 0 && len(s.Duplicated) == 0 && s.Disorder == ""
}

// String summarises the check for a test failure, such as
// `149 of 300 shown, 0 duplicated, in order; missing: "m 060".."m 210"`.
func (s SequenceCheck) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d shown, %d duplicated", s.Shown, s.Want, len(s.Duplicated))
	if s.Disorder == "" {
		b.WriteString(", in order")
	} else {
		b.WriteString(", out of order: " + s.Disorder)
	}
	if len(s.Missing) > 0 {
		b.WriteString("; missing: " + s.ranges(s.Missing))
	}
	if len(s.Duplicated) > 0 {
		b.WriteString("; duplicated: " + s.ranges(s.Duplicated))
	}
	return b.String()
}

// ranges writes sorted indexes as runs of bodies: "a".."c", "e".
func (s SequenceCheck) ranges(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("%q", s.bodies[idx[i]]))
		} else {
			parts = append(parts, fmt.Sprintf("%q..%q", s.bodies[idx[i]], s.bodies[idx[j]]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// OtherMessages returns "sender: body" for each m.room.message of evs whose
// sender's user ID starts with prefix (such as "@irc_test_") and is not
// one of except: messages from remote users a test did not expect, such
// as a history service's replay of joins and quits.
func OtherMessages(evs []matrix.Event, prefix string, except ...matrix.UserID) []string {
	var out []string
	for _, ev := range evs {
		if !strings.HasPrefix(string(ev.Sender), prefix) || slices.Contains(except, ev.Sender) {
			continue
		}
		for _, b := range MessageBodies([]matrix.Event{ev}, ev.Sender) {
			out = append(out, string(ev.Sender)+": "+b)
		}
	}
	return out
}

// Notices returns the bodies of the m.notice messages of evs whose body
// contains any of substrings.
func Notices(evs []matrix.Event, substrings ...string) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type != matrix.EventMessage || ev.IsState() {
			continue
		}
		var m matrix.MessageContent
		if json.Unmarshal(ev.Content, &m) != nil || m.MsgType != matrix.MsgNotice {
			continue
		}
		for _, s := range substrings {
			if strings.Contains(m.Body, s) {
				out = append(out, m.Body)
				break
			}
		}
	}
	return out
}
