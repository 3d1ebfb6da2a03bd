package xmpp

import (
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// TestSelfPing: XEP-0410 answers from the gateway's state: a joined
// resource pinging its own occupant JID gets a result, another resource
// of the same user or a stranger not-acceptable, a joined occupant
// pinging a nick nobody has item-not-found (a Matrix member's nick is
// there); pings that are not gets are bad requests; pings elsewhere are
// left to the component.
func TestSelfPing(t *testing.T) {
	_, g, h := testGateway(t)
	r := g.room(matrix.RoomID("!r:localhost"))
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol"}}
	r.occupants["alice@x.org"] = &occupant{RoomJID: `#r\3alocalhost@matrix.test`, Nick: "Alice", Real: "alice@x.org",
		Resources: newResourceSet("alice@x.org/r")}
	room := `#r\3alocalhost@matrix.test`
	for i, c := range []struct {
		from, to, typ string
		want          string // "result" or an error condition
	}{
		0: {"alice@x.org/r", room + "/Alice", "get", `type="result"`},
		1: {"alice@x.org/phone", room + "/Alice", "get", "not-acceptable"},
		2: {"mallory@x.org/r", room + "/Alice", "get", "not-acceptable"},
		3: {"alice@x.org/r", room + "/Nobody", "get", "item-not-found"},
		4: {"alice@x.org/r", room + "/Carol", "get", `type="result"`},
		5: {"alice@x.org/r", `#other\3alocalhost@matrix.test/Alice`, "get", "not-acceptable"},
		6: {"alice@x.org/r", room + "/Alice", "set", "bad-request"},
	} {
		raw := `<iq type='` + c.typ + `' id='p` + string(rune('0'+i)) + `' from='` + c.from + `' to='` + c.to + `'><ping xmlns='urn:xmpp:ping'/></iq>`
		before := len(queued(t, h))
		if !g.IQ(parse(t, []byte(raw)), jid.MustParse(c.from), jid.MustParse(c.to)) {
			t.Fatalf("%d: ping not taken", i)
		}
		q := queued(t, h)
		if len(q) != before+1 {
			t.Fatalf("%d: %d answers", i, len(q)-before)
		}
		got := q[len(q)-1]
		if !strings.Contains(got, c.want) || !strings.Contains(got, `from="`+jid.MustParse(c.to).String()+`"`) ||
			!strings.Contains(got, `to="`+c.from+`"`) || !strings.Contains(got, `id="p`+string(rune('0'+i))+`"`) {
			t.Errorf("%d: want %s: %s", i, c.want, got)
		}
		if c.want != `type="result"` && !strings.Contains(got, `type="error"`) {
			t.Errorf("%d: not an error: %s", i, got)
		}
	}
	// Not a ping, or not to a room: left to the component.
	for _, c := range [][2]string{
		{`<iq type='get' id='x' from='alice@x.org/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`, "matrix.test"},
		{`<iq type='get' id='x' from='alice@x.org/r' to='alice\3ax.org@matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`, `alice\3ax.org@matrix.test`},
		{`<iq type='get' id='x' from='alice@x.org/r' to='` + room + `/Alice'><query xmlns='urn:x'/></iq>`, room + "/Alice"},
	} {
		if g.IQ(parse(t, []byte(c[0])), jid.MustParse("alice@x.org/r"), jid.MustParse(c[1])) {
			t.Errorf("taken: %s", c[0])
		}
	}
}
