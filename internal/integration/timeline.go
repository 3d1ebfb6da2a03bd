package integration

import (
	"context"
	"fmt"
	"sort"

	"github.com/causewaybridge/causeway/matrix"
)

// RoomTimeline returns every timeline event of room, oldest first, read
// back with /messages like a client scrolling up.
//
// Dendrite 0.15.2's backward pagination can skip an event at a page
// boundary when two senders' events share a depth (seen with pages of 100
// while a bridge and a user talk at once; pages of 7 listed the event). So
// the timeline is read with several page sizes and the readings are merged
// by event ID, ordered by timestamp and then by position in the longest
// reading; a test comparing counts then sees what is really in the room,
// not a pagination gap.
func (c *Client) RoomTimeline(ctx context.Context, room matrix.RoomID) ([]matrix.Event, error) {
	var readings [][]matrix.Event
	longest := 0
	for i, size := range []int{100, 7, 31} {
		evs, err := c.readTimeline(ctx, room, size)
		if err != nil {
			return nil, err
		}
		readings = append(readings, evs)
		if len(evs) > len(readings[longest]) {
			longest = i
		}
	}
	pos := map[matrix.EventID]int{}
	for i, ev := range readings[longest] {
		pos[ev.ID] = i
	}
	seen := map[matrix.EventID]bool{}
	var all []matrix.Event
	for _, r := range readings {
		for _, ev := range r {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				all = append(all, ev)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].OriginServerTS != all[j].OriginServerTS {
			return all[i].OriginServerTS < all[j].OriginServerTS
		}
		pi, iok := pos[all[i].ID]
		pj, jok := pos[all[j].ID]
		return iok && jok && pi < pj
	})
	return all, nil
}

func (c *Client) readTimeline(ctx context.Context, room matrix.RoomID, size int) ([]matrix.Event, error) {
	var newestFirst []matrix.Event
	from := ""
	for page := 0; page < 10000; page++ {
		m, err := c.Messages(ctx, room, "b", from, size)
		if err != nil {
			return nil, fmt.Errorf("read timeline of %s: %w", room, err)
		}
		newestFirst = append(newestFirst, m.Chunk...)
		if len(m.Chunk) == 0 || m.End == "" || m.End == from {
			break
		}
		from = m.End
	}
	out := make([]matrix.Event, len(newestFirst))
	for i, ev := range newestFirst {
		out[len(out)-1-i] = ev
	}
	return out, nil
}
