//go:build integration

package irc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationRedactionReachesBridgeOnDendrite: Dendrite 0.15 does not
// push m.room.redaction to appservices; with ephemeral_sync the bot's /sync
// picks redactions up and the bridge handles them like pushed events. Ergo
// 2.8 cannot delete messages, so the bridge answers the redaction of a
// message that reached IRC with a notice saying IRC users still see it —
// which proves the redaction arrived.
func TestIntegrationRedactionReachesBridgeOnDendrite(t *testing.T) {
	e := startRich(t, "", true)
	ev, err := e.user.SendText(e.ctx, e.room, "oops, wrong channel")
	if err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "oops, wrong channel")
	if err := e.user.Redact(e.ctx, e.room, ev, "mistake"); err != nil {
		t.Fatal(err)
	}
	notice, err := e.user.WaitForEvent(e.ctx, func(x *matrix.Event) bool {
		if x.RoomID != e.room || x.Type != matrix.EventMessage {
			return false
		}
		var m matrix.MessageContent
		return json.Unmarshal(x.Content, &m) == nil && strings.HasPrefix(m.Body, "Not removed on IRC")
	})
	if err != nil {
		t.Fatalf("the bridge never handled the redaction: %v", err)
	}
	var m struct {
		RelatesTo struct {
			InReplyTo struct {
				EventID matrix.EventID `json:"event_id"`
			} `json:"m.in_reply_to"`
		} `json:"m.relates_to"`
	}
	if err := json.Unmarshal(notice.Content, &m); err != nil || m.RelatesTo.InReplyTo.EventID != ev {
		t.Fatalf("notice does not reply to the redacted message %s: %s", ev, notice.Content)
	}
}
