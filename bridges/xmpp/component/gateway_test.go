package component

import (
	"strings"
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

// hookGateway takes IQs and chats whose id starts with "mine".
type hookGateway struct {
	gatewayRecorder
	iqs, chats []string
}

func (g *hookGateway) IQ(st *Stanza, from, to jid.JID) bool {
	g.iqs = append(g.iqs, st.Attr("id")+" "+to.String())
	return st.Attr("id") == "mine"
}

func (g *hookGateway) Chat(st *Stanza, from, to jid.JID) bool {
	g.chats = append(g.chats, st.Attr("id")+" "+to.String())
	return st.Attr("id") == "mine"
}

// TestHandlerOptionalGateways: an IQGateway and a ChatGateway are offered
// IQ requests and chats first; what they take gets no answer from the
// component (they answer later), what they decline gets the component's
// usual answer; malformed IQs never reach them.
func TestHandlerOptionalGateways(t *testing.T) {
	h := testHandler()
	g := &hookGateway{}
	h.gateway = g
	if out := call(t, h, `<iq from='a@x.org/r' to='#r@matrix.test' type='get' id='mine'><query xmlns='urn:xmpp:mam:2'/></iq>`); out != "" {
		t.Errorf("a taken IQ was answered by the component: %s", out)
	}
	if out := call(t, h, `<iq from='a@x.org/r' to='matrix.test' type='get' id='other'><ping xmlns='urn:xmpp:ping'/></iq>`); !strings.Contains(out, `type="result"`) {
		t.Errorf("a declined ping to the domain: %s", out)
	}
	if out := call(t, h, `<iq from='a@x.org/r' to='matrix.test' type='get' id='mine'/>`); !strings.Contains(out, "bad-request") {
		t.Errorf("an IQ without payload: %s", out)
	}
	if out := call(t, h, `<message from='a@x.org/r' to='u@matrix.test' type='chat' id='mine'><body>hi</body></message>`); out != "" {
		t.Errorf("a taken chat was answered: %s", out)
	}
	if out := call(t, h, `<message from='a@x.org/r' to='u@matrix.test' type='chat' id='no'><body>hi</body></message>`); !strings.Contains(out, "service-unavailable") {
		t.Errorf("a declined chat: %s", out)
	}
	if len(g.iqs) != 2 || len(g.chats) != 2 {
		t.Errorf("offered IQs %q, chats %q", g.iqs, g.chats)
	}
}
