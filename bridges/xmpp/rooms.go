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
	// hidden reports the rooms the list leaves out (reverse portals:
	// reverse_hosted.go); nil hides none.
	hidden func(matrix.RoomID) bool
}

// Room implements component.Rooms. An alias exists when the directory
// resolves it; a room ID when the bridge bot can read its state (a room
// it is in) or the public directory lists it. The name is the room's
// m.room.name when the bot can read it, else its name in the public
// directory, else the ID asked for; the topic likewise. The occupants
// are the joined members but the bot (the XMPP occupants' puppets are
// among them, so none counts twice) when the bot is in the room, else
// the directory's num_joined_members.
func (r *rooms) Room(ctx context.Context, id string) (component.RoomInfo, error) {
	bot := r.mx.Bot()
	var room matrix.RoomID
	readable := false
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
		switch {
		case err == nil:
			readable = true
		case !errors.Is(err, intent.ErrNotFound) && !errors.Is(err, intent.ErrForbidden):
			return component.RoomInfo{}, err
		}
	default:
		return component.RoomInfo{}, component.ErrNoRoom
	}
	info := component.RoomInfo{ID: id, Name: id}
	var name struct {
		Name string `json:"name"`
	}
	if err := bot.StateEventContent(ctx, room, "m.room.name", "", &name); err == nil {
		readable = true
		if name.Name != "" {
			info.Name = name.Name
		}
	}
	var topic struct {
		Topic string `json:"topic"`
	}
	if err := bot.StateEventContent(ctx, room, "m.room.topic", "", &topic); err == nil {
		readable = true
		info.Topic = topic.Topic
	}
	if joined, err := bot.JoinedMembers(ctx, room); err == nil {
		readable = true
		info.Occupants, info.OccupantsKnown = len(joined), true
		if _, in := joined[r.mx.BotUserID()]; in {
			info.Occupants--
		}
	}
	if readable && info.Name != id && info.OccupantsKnown {
		return info, nil
	}
	// The bot is not in the room: the public directory may know it.
	found := false
	err := r.eachPublic(ctx, component.MaxDiscoItems, func(e publicRoom) bool {
		if e.RoomID != string(room) {
			return true
		}
		found = true
		if e.Name != "" && info.Name == id {
			info.Name = e.Name
		}
		if e.Topic != "" && info.Topic == "" {
			info.Topic = e.Topic
		}
		if !info.OccupantsKnown {
			info.Occupants, info.OccupantsKnown = e.Members, true
		}
		return false
	})
	if err != nil && !readable && info.ID[0] == '!' {
		return component.RoomInfo{}, err
	}
	if !found && !readable && info.ID[0] == '!' {
		return component.RoomInfo{}, component.ErrNoRoom
	}
	return info, nil
}

// publicRoom is one entry of the public room directory.
type publicRoom struct {
	RoomID         string `json:"room_id"`
	CanonicalAlias string `json:"canonical_alias"`
	Name           string `json:"name"`
	Topic          string `json:"topic"`
	Members        int    `json:"num_joined_members"`
}

// PublicRooms implements component.Rooms: up to limit rooms of the
// homeserver's public directory, in its order, each by its canonical
// alias when it has one, but the hidden ones.
func (r *rooms) PublicRooms(ctx context.Context, limit int) ([]component.RoomInfo, error) {
	var out []component.RoomInfo
	err := r.eachPublic(ctx, limit, func(e publicRoom) bool {
		if r.hidden != nil && r.hidden(matrix.RoomID(e.RoomID)) {
			return true
		}
		id := e.CanonicalAlias
		if id == "" {
			id = e.RoomID
		}
		name := e.Name
		if name == "" {
			name = id
		}
		out = append(out, component.RoomInfo{ID: id, Name: name})
		return true
	})
	return out, err
}

// eachPublic calls f on up to limit entries of the public room directory
// (GET /publicRooms, paged) until f returns false.
func (r *rooms) eachPublic(ctx context.Context, limit int, f func(publicRoom) bool) error {
	since, seen := "", 0
	for seen < limit {
		q := url.Values{"limit": {strconv.Itoa(min(publicRoomsPage, limit-seen))}}
		if since != "" {
			q.Set("since", since)
		}
		var page struct {
			Chunk     []publicRoom `json:"chunk"`
			NextBatch string       `json:"next_batch"`
		}
		if err := r.get(ctx, "/_matrix/client/v3/publicRooms?"+q.Encode(), &page); err != nil {
			return err
		}
		for _, e := range page.Chunk {
			if seen >= limit {
				return nil
			}
			seen++
			if !f(e) {
				return nil
			}
		}
		if page.NextBatch == "" || page.NextBatch == since || len(page.Chunk) == 0 {
			return nil
		}
		since = page.NextBatch
	}
	return nil
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
