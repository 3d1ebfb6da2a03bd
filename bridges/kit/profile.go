package kit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Profile is a puppet's global Matrix profile as the remote side says.
// An empty field is left as it is on the homeserver.
type Profile struct {
	Displayname string
	// AvatarURL is an mxc:// URI (upload the remote avatar first).
	AvatarURL string
}

// profileKey is the module KV key of the last value of a puppet's field.
func profileKey(puppet matrix.UserID, field string) string {
	return "kit/profile/" + string(puppet) + "/" + field
}

// SyncProfile queues the puppet's profile in the durable outbox (an
// intent.OpProfile) with the fields that differ from the last ones the kit
// sent, and reports whether it queued anything. room orders the change in
// that room's outbox lane, so that the puppet has its name before its next
// message there; the profile itself is global. Calls for one puppet must
// not run concurrently (the check and the send are not atomic).
func SyncProfile(ctx context.Context, host bridges.Host, room matrix.RoomID, puppet matrix.UserID, p Profile) (bool, error) {
	kv := host.KV()
	content := map[string]string{}
	for _, f := range []struct{ field, value string }{{"displayname", p.Displayname}, {"avatar_url", p.AvatarURL}} {
		if f.value == "" {
			continue
		}
		changed, err := differs(ctx, kv, profileKey(puppet, f.field), f.value)
		if err != nil {
			return false, fmt.Errorf("profile of %s: %w", puppet, err)
		}
		if changed {
			content[f.field] = f.value
		}
	}
	if len(content) == 0 {
		return false, nil
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return false, fmt.Errorf("profile of %s: %w", puppet, err)
	}
	if _, err := host.Outbox().Send(ctx, intent.Op{Kind: intent.OpProfile, Room: room, Sender: puppet, Content: raw}); err != nil {
		return false, fmt.Errorf("queue profile of %s: %w", puppet, err)
	}
	for field, value := range content {
		if err := kv.Put(ctx, profileKey(puppet, field), []byte(value)); err != nil {
			return true, fmt.Errorf("remember profile of %s: %w", puppet, err)
		}
	}
	return true, nil
}
