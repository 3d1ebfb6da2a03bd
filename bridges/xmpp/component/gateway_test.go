package component

import (
	"testing"

	"mellium.im/xmpp/jid"
)

type gatewayRecorder struct{ presences, messages []string }

func (g *gatewayRecorder) Presence(st *Stanza, from, to jid.JID) {
	g.presences = append(g.presences, st.Attr("type")+" "+from.String()+" "+to.String())
}

func (g *gatewayRecorder) Message(st *Stanza, from, to jid.JID) {
	g.messages = append(g.messages, st.Attr("type")+" "+from.String()+" "+to.String())
}

// TestHandlerGateway: presences and groupchat messages go to the
// gateway, unanswered; errors from occupants too; nothing from the
// component's own domain does (loop guard); chats keep their error.
func TestHandlerGateway(t *testing.T) {
	h := testHandler()
	g := &gatewayRecorder{}
	h.gateway = g
	for _, c := range []struct{ raw, out string }{
		{`<presence from='a@x.org/r' to='#r@matrix.test/A'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, ""},
		{`<presence from='a@x.org/r' to='#r@matrix.test/A' type='unavailable'/>`, ""},
		{`<presence from='a@x.org/r' to='#r@matrix.test/A' type='error'><error type='cancel'/></presence>`, ""},
		{`<message from='a@x.org/r' to='#r@matrix.test' type='groupchat'><body>hi</body></message>`, ""},
		{`<message from='a@x.org/r' to='#r@matrix.test/A' type='error'><error type='cancel'/></message>`, ""},
		{`<presence from='u@matrix.test/r' to='#r@matrix.test/A'/>`, ""},
		{`<message from='matrix.test' to='#r@matrix.test' type='groupchat'><body>loop</body></message>`, ""},
		{`<presence from='a@x.org/r' to='#r@elsewhere.test/A' type='error'/>`, ""},
	} {
		if got := call(t, h, c.raw); got != c.out {
			t.Errorf("%s: answered %s", c.raw, got)
		}
	}
	wantP := []string{" a@x.org/r #r@matrix.test/A", "unavailable a@x.org/r #r@matrix.test/A", "error a@x.org/r #r@matrix.test/A"}
	wantM := []string{"groupchat a@x.org/r #r@matrix.test", "error a@x.org/r #r@matrix.test/A"}
	if len(g.presences) != len(wantP) || len(g.messages) != len(wantM) {
		t.Fatalf("presences %q, messages %q", g.presences, g.messages)
	}
	for i := range wantP {
		if g.presences[i] != wantP[i] {
			t.Errorf("presence %d: %q, want %q", i, g.presences[i], wantP[i])
		}
	}
	for i := range wantM {
		if g.messages[i] != wantM[i] {
			t.Errorf("message %d: %q, want %q", i, g.messages[i], wantM[i])
		}
	}
	if out := call(t, h, `<message from='a@x.org/r' to='u@matrix.test' type='chat' id='c1'><body>hi</body></message>`); out == "" {
		t.Error("a chat got no error")
	}
}
