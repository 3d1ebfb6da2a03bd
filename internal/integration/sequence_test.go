package integration

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

func TestCheckSequence(t *testing.T) {
	sent := make([]string, 6)
	for i := range sent {
		sent[i] = fmt.Sprintf("m %d", i)
	}
	tests := []struct {
		shown, ordered []string
		ok             bool
		want           string
	}{
		0: {sent, sent, true, "6 of 6 shown, 0 duplicated, in order"},
		1: {[]string{"m 0", "m 4", "m 5", "other"}, []string{"m 0", "m 4", "m 5"}, false,
			`3 of 6 shown, 0 duplicated, in order; missing: "m 1".."m 3"`},
		2: {append(append([]string{}, sent...), "m 3", "m 1", "m 2"), sent, false,
			`6 of 6 shown, 3 duplicated, in order; duplicated: "m 1".."m 3"`},
		3: {sent, []string{"m 0", "m 2", "m 1", "m 3", "m 5", "m 4"}, false,
			`6 of 6 shown, 0 duplicated, out of order: "m 1" shown after "m 2"`},
		4: {[]string{"m 1", "m 5"}, nil, false, `2 of 6 shown, 0 duplicated, in order; missing: "m 0", "m 2".."m 4"`},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := CheckSequence(sent, tc.shown, tc.ordered)
			if s.OK() != tc.ok || s.String() != tc.want {
				t.Errorf("CheckSequence = %v, %q; want %v, %q", s.OK(), s.String(), tc.ok, tc.want)
			}
		})
	}
}

func TestNoticesAndOtherMessages(t *testing.T) {
	msg := func(sender matrix.UserID, msgtype, body string) matrix.Event {
		raw, _ := json.Marshal(matrix.MessageContent{MsgType: msgtype, Body: body})
		return matrix.Event{Type: matrix.EventMessage, Sender: sender, Content: raw}
	}
	evs := []matrix.Event{
		msg("@irc_test_talker:localhost", matrix.MsgText, "hello"),
		msg("@irc_test_histserv:localhost", matrix.MsgNotice, "talker joined the channel"),
		msg("@bot:localhost", matrix.MsgNotice, "30 messages were not bridged"),
		msg("@bot:localhost", matrix.MsgText, "were not bridged, but not a notice"),
	}
	if got := Notices(evs, "were not bridged", "away"); len(got) != 1 || got[0] != "30 messages were not bridged" {
		t.Errorf("Notices = %q", got)
	}
	got := OtherMessages(evs, "@irc_test_", "@irc_test_talker:localhost")
	if len(got) != 1 || got[0] != "@irc_test_histserv:localhost: talker joined the channel" {
		t.Errorf("OtherMessages = %q", got)
	}
}
