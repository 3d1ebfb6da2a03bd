package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// publicRoomsPage is how many rooms one /publicRooms request asks for.
const publicRoomsPage = 100

// rooms implements component.Rooms on the homeserver: aliases resolve
// through the room directory, names come from m.room.name, and the room
// list is GET /publicRooms (which needs no token), paged.
type rooms struct {
	mx   *intent.Client
	hs   string // homeserver base URL
	http *http.Client
}

// Room implements component.Rooms. An alias exists when the directory
// resolves it; a room ID when the bridge bot can read its state (a room
// it is in: other rooms' state is not readable, so their IDs answer
// item-not-found for now).
func (r *rooms) Room(ctx context.Context, id string) (component.RoomInfo, error) {
	bot := r.mx.Bot()
	var room matrix.RoomID
	switch {
	case strings.HasPrefix(id, "#"):
		rid, _, err := bot.ResolveAlias(ctx, matrix.RoomAlias(id))
		if errors.Is(err, intent.ErrNotFound) {
			return component.RoomInfo{}, component.ErrNoRoom
		}
		if err != nil {
			return component.RoomInfo{}, err
		}
		room = rid
	case strings.HasPrefix(id, "!"):
		room = matrix.RoomID(id)
		var create json.RawMessage
		err := bot.StateEventContent(ctx, room, "m.room.create", "", &create)
		if errors.Is(err, intent.ErrNotFound) || errors.Is(err, intent.ErrForbidden) {
			return component.RoomInfo{}, component.ErrNoRoom
		}
		if err != nil {
			return component.RoomInfo{}, err
		}
	default:
		return component.RoomInfo{}, component.ErrNoRoom
	}
	info := component.RoomInfo{ID: id, Name: id}
	var name struct {
		Name string `json:"name"`
	}
	// The bot may not be in the room: then it has no name to tell.
	if err := bot.StateEventContent(ctx, room, "m.room.name", "", &name); err == nil && name.Name != "" {
		info.Name = name.Name
	}
	return info, nil
}

// PublicRooms implements component.Rooms: up to limit rooms of the
// homeserver's public directory, in its order, each by its canonical
// alias when it has one.
func (r *rooms) PublicRooms(ctx context.Context, limit int) ([]component.RoomInfo, error) {
	var out []component.RoomInfo
	since := ""
	for len(out) < limit {
		q := url.Values{"limit": {strconv.Itoa(min(publicRoomsPage, limit-len(out)))}}
		if since != "" {
			q.Set("since", since)
		}
		var page struct {
			Chunk []struct {
				RoomID         string `json:"room_id"`
				CanonicalAlias string `json:"canonical_alias"`
				Name           string `json:"name"`
			} `json:"chunk"`
			NextBatch string `json:"next_batch"`
		}
		if err := r.get(ctx, "/_matrix/client/v3/publicRooms?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, c := range page.Chunk {
			id := c.CanonicalAlias
			if id == "" {
				id = c.RoomID
			}
			name := c.Name
			if name == "" {
				name = id
			}
			out = append(out, component.RoomInfo{ID: id, Name: name})
		}
		if page.NextBatch == "" || page.NextBatch == since || len(page.Chunk) == 0 {
			break
		}
		since = page.NextBatch
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// get GETs path on the homeserver into out.
func (r *rooms) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.hs, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("public rooms: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("public rooms: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("public rooms: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("public rooms: %w", err)
	}
	return nil
}
