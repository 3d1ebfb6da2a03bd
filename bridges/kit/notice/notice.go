// Package notice words and queues the bridge's notices to Matrix users,
// the same way for every module: what was not delivered to the remote
// network and why, what a module does not bridge at all, and errors the
// remote side gave.
//
// A notice is an m.notice queued in the durable outbox. A failure report
// replies to the Matrix event it is about, so the user sees which message
// it concerns, and is keyed by that event, so a retried event does not
// report twice.
package notice

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Sender is what notices need from the outbox (bridges.Sender has it).
type Sender interface {
	Send(ctx context.Context, op intent.Op) (queued bool, err error)
}

// NotDeliveredText is the text of a failure report: "Not delivered to
// IRC: the channel is invite only." (the reason's first letter kept, a
// final period added when missing).
func NotDeliveredText(network, reason string) string {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "the bridge could not send it"
	}
	if !strings.HasSuffix(reason, ".") && !strings.HasSuffix(reason, "!") && !strings.HasSuffix(reason, "?") {
		reason += "."
	}
	return fmt.Sprintf("Not delivered to %s: %s", network, reason)
}

// Report is a failure report about one Matrix event.
type Report struct {
	// Room and Event are the Matrix event the report is about; the notice
	// replies to Event.
	Room  matrix.RoomID
	Event matrix.EventID
	// Network names the remote side ("IRC", "XMPP", a network's name).
	Network string
	// Reason says why, in words for the user (a remote error text may be
	// part of it).
	Reason string
	// As sends the notice as this user instead of the bridge bot (a
	// puppet, in a direct chat the bot is not in).
	As matrix.UserID
}

// NotDelivered queues r's notice: "Not delivered to <network>: <reason>",
// replying to the event. Reports of the same event with the same text
// are queued once.
func NotDelivered(ctx context.Context, out Sender, r Report) error {
	text := NotDeliveredText(r.Network, r.Reason)
	c := matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text}
	key := ""
	if r.Event != "" {
		c.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: r.Event}}
		key = fmt.Sprintf("notice:%s:%d", r.Event, len(text))
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	if _, err := out.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: r.Room, Sender: r.As, Type: matrix.EventMessage,
		Content: raw, Key: key}); err != nil {
		return fmt.Errorf("queue notice: %w", err)
	}
	return nil
}

// unsupported words, per kind, what a module does not bridge (%[1]s is
// the remote network's name).
var unsupported = map[string]string{
	"edit":      "Edits are not bridged to %[1]s: people on %[1]s see only the original message.",
	"reaction":  "Reactions are not bridged to %[1]s: people on %[1]s do not see them.",
	"redaction": "Deletions are not bridged to %[1]s: people on %[1]s still see the deleted message.",
}

// UnsupportedText is the notice telling a room that kind ("edit",
// "reaction", "redaction") is not bridged to network; ok is false for a
// kind it has no words for.
func UnsupportedText(kind, network string) (text string, ok bool) {
	f, ok := unsupported[kind]
	if !ok {
		return "", false
	}
	return fmt.Sprintf(f, network), true
}

// Tell queues text as an m.notice from the bridge bot in room: news
// from the remote side that a Matrix user there should read (a nickname
// changed to fit, a kick). Notices with the same non-empty key in one
// room are queued once.
func Tell(ctx context.Context, out Sender, room matrix.RoomID, text, key string) error {
	raw, err := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text})
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	if _, err := out.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Type: matrix.EventMessage,
		Content: raw, Key: key}); err != nil {
		return fmt.Errorf("queue notice: %w", err)
	}
	return nil
}
