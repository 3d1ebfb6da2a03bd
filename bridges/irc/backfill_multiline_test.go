package irc

import (
	"encoding/json"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// TestBackfillNestedMultiline: a CHATHISTORY batch holding a
// draft/multiline batch (how Ergo replays a multi-line message) brings
// that message into Matrix as one message with its lines, in its place
// between the single-line messages around it, with its msgid as key; a
// multi-line NOTICE stays a notice.
func TestBackfillNestedMultiline(t *testing.T) {
	m := newTestModule(t, "127.0.0.1:1")
	useQueuedOutbox(t, m, "http://127.0.0.1:1") // sends stay queued
	n := m.networks["test"]
	n.addPortal("#chan", "!chan", []byte(`{"name":"#chan"}`))

	parse := func(line string) *ircmsg.Message {
		t.Helper()
		msg, err := ircmsg.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		return &msg
	}
	b := &ircconn.Batch{Ref: "h", Type: ircconn.BatchChathistory, Params: []string{"#chan"},
		Lines: []*ircmsg.Message{
			parse("@batch=h;msgid=a;time=2026-01-01T10:00:00.000Z :bob!~b@h PRIVMSG #chan :before"),
			parse("@batch=h;msgid=c;time=2026-01-01T10:02:00.000Z :bob!~b@h PRIVMSG #chan :between"),
			parse("@batch=h;msgid=e;time=2026-01-01T10:04:00.000Z :bob!~b@h PRIVMSG #chan :after"),
		},
		Nested: []*ircconn.Batch{
			{Ref: "m1", Type: ircconn.BatchMultiline, Params: []string{"#chan"}, Source: "carol!~c@h",
				Tags: map[string]string{"batch": "h", "msgid": "b", "time": "2026-01-01T10:01:00.000Z"},
				Lines: []*ircmsg.Message{
					parse("@batch=m1 :carol!~c@h PRIVMSG #chan :line one"),
					parse("@batch=m1 :carol!~c@h PRIVMSG #chan :line two"),
					parse("@batch=m1;draft/multiline-concat :carol!~c@h PRIVMSG #chan : continued"),
				}},
			{Ref: "m2", Type: ircconn.BatchMultiline, Params: []string{"#chan"}, Source: "carol!~c@h",
				Tags: map[string]string{"batch": "h", "msgid": "d", "time": "2026-01-01T10:03:00.000Z"},
				Lines: []*ircmsg.Message{
					parse("@batch=m2 :carol!~c@h NOTICE #chan :notice one"),
					parse("@batch=m2 :carol!~c@h NOTICE #chan :notice two"),
				}},
		}}
	n.backfillBatch(t.Context(), b)

	type got struct{ key, sender, msgtype, body string }
	want := []got{
		0: {"irc:a", "@irc_test_bob:localhost", matrix.MsgText, "before"},
		1: {"irc:b", "@irc_test_carol:localhost", matrix.MsgText, "line one\nline two continued"},
		2: {"irc:c", "@irc_test_bob:localhost", matrix.MsgText, "between"},
		3: {"irc:d", "@irc_test_carol:localhost", matrix.MsgNotice, "notice one\nnotice two"},
		4: {"irc:e", "@irc_test_bob:localhost", matrix.MsgText, "after"},
	}
	var msgs []got
	items, err := storeOf(m).PendingOutbox(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		var op intent.Op
		if err := json.Unmarshal(it.Payload, &op); err != nil {
			t.Fatal(err)
		}
		if op.Kind != intent.OpMessage {
			continue
		}
		var c matrix.MessageContent
		if err := json.Unmarshal(op.Content, &c); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, got{it.Key, string(op.Sender), c.MsgType, c.Body})
	}
	if len(msgs) != len(want) {
		t.Fatalf("backfilled %d messages, want %d: %+v", len(msgs), len(want), msgs)
	}
	for i := range want {
		if msgs[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, msgs[i], want[i])
		}
	}
}
