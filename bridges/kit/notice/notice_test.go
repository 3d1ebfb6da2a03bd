package notice

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

type ops []intent.Op

func (o *ops) Send(_ context.Context, op intent.Op) (bool, error) {
	*o = append(*o, op)
	return true, nil
}

// TestNotDelivered: a failure report is a notice replying to the event,
// worded "Not delivered to <network>: <reason>.", keyed by the event so a
// retried event reports once, sent as the puppet when asked.
func TestNotDelivered(t *testing.T) {
	var out ops
	r := Report{Room: "!r", Event: "$e", Network: "IRC", Reason: "the channel is invite only", As: "@irc_bob:hs"}
	if err := NotDelivered(t.Context(), &out, r); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d ops", len(out))
	}
	var c matrix.MessageContent
	if err := json.Unmarshal(out[0].Content, &c); err != nil {
		t.Fatal(err)
	}
	if c.MsgType != matrix.MsgNotice || c.Body != "Not delivered to IRC: the channel is invite only." ||
		c.RelatesTo == nil || c.RelatesTo.InReplyTo.EventID != "$e" {
		t.Errorf("notice %+v", c)
	}
	if out[0].Room != "!r" || out[0].Sender != "@irc_bob:hs" || out[0].Key == "" {
		t.Errorf("op %+v", out[0])
	}
	if got := NotDeliveredText("XMPP", "  "); got != "Not delivered to XMPP: the bridge could not send it." {
		t.Errorf("empty reason: %q", got)
	}
	if got := NotDeliveredText("XMPP", "recipient unavailable!"); got != "Not delivered to XMPP: recipient unavailable!" {
		t.Errorf("reason with its own ending: %q", got)
	}
	if text, ok := UnsupportedText("reaction", "IRC"); !ok || text != "Reactions are not bridged to IRC: people on IRC do not see them." {
		t.Errorf("unsupported reaction: %q %v", text, ok)
	}
	if _, ok := UnsupportedText("poll", "IRC"); ok {
		t.Error("a kind without words was worded")
	}
}

// TestTell: a notice from the bot in the room, with its key.
func TestTell(t *testing.T) {
	var out ops
	if err := Tell(t.Context(), &out, "!r", "You were kicked.", "k1"); err != nil {
		t.Fatal(err)
	}
	var c matrix.MessageContent
	if len(out) != 1 || json.Unmarshal(out[0].Content, &c) != nil {
		t.Fatalf("ops %+v", out)
	}
	if op := out[0]; op.Room != "!r" || op.Sender != "" || op.Key != "k1" || op.Kind != intent.OpMessage ||
		c.MsgType != matrix.MsgNotice || c.Body != "You were kicked." || c.RelatesTo != nil {
		t.Errorf("op %+v content %+v", op, c)
	}
}
