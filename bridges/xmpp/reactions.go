package xmpp

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/matrix"
)

// XEP-0444 sends a user's whole set of reactions to a message each time;
// Matrix has one m.reaction event per reaction. The bridge keeps, per
// room, message and user (Matrix users and puppets alike), the set of
// reaction events and their keys in the module's KV (reactionSetKey),
// and links each reaction event to "rx/<message>/<user>/<key>"
// (reactionRemoteID), so that the redaction of a reaction tells whose
// set shrank.

// reaction is one m.reaction event and its key.
type reaction struct {
	Event matrix.EventID `json:"event"`
	Key   string         `json:"key"`
}

const reactionLinkPrefix = "rx/"

// reactionRemoteID is the remote ID of user's reaction key to event.
func reactionRemoteID(event matrix.EventID, user matrix.UserID, key string) string {
	return reactionLinkPrefix + address.Escape(string(event)) + "/" + address.Escape(string(user)) + "/" + address.Escape(key)
}

// parseReactionRemoteID reverses reactionRemoteID.
func parseReactionRemoteID(s string) (event matrix.EventID, user matrix.UserID, key string, ok bool) {
	rest, found := strings.CutPrefix(s, reactionLinkPrefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 3 {
		return "", "", "", false
	}
	for i, p := range parts {
		u, err := address.Unescape(p)
		if err != nil {
			return "", "", "", false
		}
		parts[i] = u
	}
	return matrix.EventID(parts[0]), matrix.UserID(parts[1]), parts[2], true
}

// reactionDiff compares a user's reactions with the set a stanza wants:
// the keys to add, in the stanza's order, and the reactions to redact.
func reactionDiff(have []reaction, want []string) (add []string, drop []reaction) {
	wanted := map[string]bool{}
	for _, k := range want {
		wanted[k] = true
	}
	had := map[string]bool{}
	for _, r := range have {
		if !wanted[r.Key] || had[r.Key] {
			drop = append(drop, r) // gone, or a second event of one key
			continue
		}
		had[r.Key] = true
	}
	for _, k := range want {
		if !had[k] {
			add = append(add, k)
			had[k] = true
		}
	}
	return add, drop
}

// reactionKeys returns the distinct keys of a set, in order.
func reactionKeys(set []reaction) []string {
	keys := []string{}
	seen := map[string]bool{}
	for _, r := range set {
		if !seen[r.Key] {
			seen[r.Key] = true
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func addReaction(set []reaction, ev matrix.EventID, key string) []reaction {
	for _, r := range set {
		if r.Event == ev {
			return set
		}
	}
	return append(set, reaction{Event: ev, Key: key})
}

func removeReaction(set []reaction, ev matrix.EventID) []reaction {
	out := set[:0]
	for _, r := range set {
		if r.Event != ev {
			out = append(out, r)
		}
	}
	return out
}

// reactionSet reads user's reactions to event in room.
func (g *gateway) reactionSet(ctx context.Context, room matrix.RoomID, event matrix.EventID, user matrix.UserID) ([]reaction, error) {
	g.rxMu.Lock()
	defer g.rxMu.Unlock()
	return g.loadReactions(ctx, room, event, user)
}

func (g *gateway) loadReactions(ctx context.Context, room matrix.RoomID, event matrix.EventID, user matrix.UserID) ([]reaction, error) {
	b, err := g.m.host.KV().Get(ctx, reactionSetKey(room, event, user))
	if bridges.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var set []reaction
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil // unreadable: start again
	}
	return set, nil
}

// updateReactions changes user's reactions to event with f and returns
// the new set.
func (g *gateway) updateReactions(ctx context.Context, room matrix.RoomID, event matrix.EventID, user matrix.UserID,
	f func([]reaction) []reaction) []reaction {
	g.rxMu.Lock()
	defer g.rxMu.Unlock()
	set, err := g.loadReactions(ctx, room, event, user)
	if err != nil {
		g.log.Warn("xmpp: could not read reactions", "room", room, "err", err)
		return nil
	}
	set = f(set)
	kv, key := g.m.host.KV(), reactionSetKey(room, event, user)
	if len(set) == 0 {
		err = kv.Delete(ctx, key)
	} else {
		var b []byte
		if b, err = json.Marshal(set); err == nil {
			err = kv.Put(ctx, key, b)
		}
	}
	if err != nil {
		g.log.Warn("xmpp: could not store reactions", "room", room, "err", err)
	}
	return set
}
