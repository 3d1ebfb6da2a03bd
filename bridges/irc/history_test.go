package irc

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// TestBackfillSkipsWhatCameFromMatrix: a CHATHISTORY catch-up brings back
// the bridge's own relays (RELAYMSG and "<nick> text" by the bot) and every
// line of messages Matrix users' connections sent; none of them is
// bridged into Matrix again, while IRC users' lines and other relayers'
// lines are. Live, the server's echo of the bot's RELAYMSG is not bridged
// either.
func TestBackfillSkipsWhatCameFromMatrix(t *testing.T) {
	m := newTestModule(t, "127.0.0.1:1")
	ctx := t.Context()
	useQueuedOutbox(t, m, "http://127.0.0.1:1") // sends stay queued
	n := m.networks["test"]
	n.addPortal("#chan", "!chan", []byte(`{"name":"#chan"}`))
	// mallory's three-line message from Matrix went out as three IRC lines.
	evt := &matrix.Event{ID: "$multi", RoomID: "!chan", Sender: "@mallory:localhost"}
	if err := storeOf(m).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "l3", RoomID: "!chan", EventID: "$multi"}); err != nil {
		t.Fatal(err)
	}
	n.linkEarlierLines(ctx, evt, []string{"l1", "l2"})
	if got := m.msgidOf(ctx, "$multi"); got != "l3" {
		t.Fatalf("msgidOf the multi-line message = %q, want its last line l3", got)
	}

	for i, tc := range []struct {
		line    string
		history bool
		bridged bool
	}{
		0:  {"@msgid=l1 :mallory!~u@h PRIVMSG #chan :first line", true, false},
		1:  {"@msgid=l2 :mallory!~u@h PRIVMSG #chan :second line", true, false},
		2:  {"@msgid=l3 :mallory!~u@h PRIVMSG #chan :third line", true, false},
		3:  {"@msgid=r1 :causeway!~u@h PRIVMSG #chan :<alice> relayed by the bot", true, false},
		4:  {"@msgid=r2 :alice/m!~u@h PRIVMSG #chan :relayed with RELAYMSG", true, false},
		5:  {"@msgid=r3;draft/relaymsg=causeway :alice/m!~u@h PRIVMSG #chan :RELAYMSG echo", false, false},
		6:  {"@msgid=o1;draft/relaymsg=otherbridge :dave/d!~u@h PRIVMSG #chan :another relayer", false, true},
		7:  {"@msgid=o2;draft/relaymsg=otherbridge :dave/m!~u@h PRIVMSG #chan :another relayer, same suffix", false, true},
		8:  {"@msgid=i1 :ircbob!~b@h PRIVMSG #chan :an IRC user in history", true, true},
		9:  {"@msgid=i2 :ircbob!~b@h PRIVMSG #chan :an IRC user live", false, true},
		10: {":ircbob!~b@h PRIVMSG #chan :no msgid in history", true, true},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			msg, err := ircmsg.ParseLine(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			n.channelMessage(ctx, &msg, "#chan", msg.Params[1], false, tc.history)
			items, err := storeOf(m).PendingOutbox(ctx, 1000)
			if err != nil {
				t.Fatal(err)
			}
			queued := false
			for _, it := range items {
				queued = queued || bytes.Contains(it.Payload, []byte(msg.Params[1]))
			}
			if queued != tc.bridged {
				t.Fatalf("%q (history %v) bridged = %v, want %v", tc.line, tc.history, queued, tc.bridged)
			}
		})
	}
}
