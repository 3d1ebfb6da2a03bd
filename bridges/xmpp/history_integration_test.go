//go:build integration

package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationXMPPHistoryAndMAM: on Dendrite and Prosody, a Matrix
// user posts messages in a public room; an XMPP client joining with
// <history maxstanzas='3'/> gets exactly the last three, in order, each
// with a delay and the event ID as stanza-id, after its self-presence
// and before the subject. The room announces MAM; paging its archive
// back with max=2 from the last page gets every message once, in order,
// with the event IDs as ids, the same on a second run; after-id gets
// what follows a message, and a message from XMPP comes from its nick
// with its own ids; the form lists the fields, the metadata the first
// and last messages.
func TestIntegrationXMPPHistoryAndMAM(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "History", Topic: "Old times"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	var ids []matrix.EventID
	for i := range n {
		id, err := carol.SendText(ctx, room, fmt.Sprintf("message %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	local, err := address.Localpart("#History:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	waitComponent(ctx, t, alice, domain)
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}

	// History on join: the last three, between the self-presence and
	// the subject.
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='3'/></x></presence>`); err != nil {
		t.Fatal(err)
	}
	wait("subject", func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") })
	var seq []integration.XMPPStanza
	for _, st := range alice.Received() {
		if st.From == muc+"/Alice" || strings.HasPrefix(st.From, muc) && st.Name == "message" {
			seq = append(seq, st)
		}
	}
	if len(seq) != 5 || !strings.Contains(seq[0].XML, `code="110"`) || !strings.Contains(seq[4].XML, "Old times") {
		t.Fatalf("want self-presence, 3 messages, subject: %v", seq)
	}
	for i, st := range seq[1:4] {
		ev := ids[n-3+i]
		for _, want := range []string{fmt.Sprintf("message %d", n-3+i), `urn:xmpp:delay`, `stamp="`,
			`id="` + string(ev) + `"`, `by="` + muc + `"`} {
			if !strings.Contains(st.XML, want) {
				t.Errorf("history message %d lacks %s: %s", i, want, st.XML)
			}
		}
		if st.From != muc+"/Carol" || st.Type != "groupchat" {
			t.Errorf("history message %d from %s (%s)", i, st.From, st.Type)
		}
	}

	// MAM: announced, and served from Matrix.
	info, err := alice.IQ(ctx, "d1", `<iq type='get' id='d1' to='`+muc+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`var="urn:xmpp:mam:2"`, `var="urn:xmpp:mam:2#extended"`} {
		if !strings.Contains(info.XML, f) {
			t.Errorf("disco#info lacks %s: %s", f, info.XML)
		}
	}
	formIQ, err := alice.IQ(ctx, "f1", `<iq type='get' id='f1' to='`+muc+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if err != nil || formIQ.Type != "result" || !strings.Contains(formIQ.XML, `var="after-id"`) || !strings.Contains(formIQ.XML, `var="with"`) {
		t.Fatalf("form: %v %s", err, formIQ.XML)
	}
	pageBack := func(run string) []string {
		var all []string
		before := ""
		for i := 0; ; i++ {
			p := queryMAM(ctx, t, alice, muc, fmt.Sprintf("%s-%d", run, i),
				`<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>`+before+`</before></set>`)
			if len(p.ids) > 2 || i > n {
				t.Fatalf("page %d: %v", i, p.ids)
			}
			all = append(append([]string(nil), p.ids...), all...)
			if p.complete {
				return all
			}
			if p.first == "" || (len(p.ids) > 0 && p.first != p.ids[0]) {
				t.Fatalf("page %d: first %q, ids %v", i, p.first, p.ids)
			}
			before = p.first
		}
	}
	want := fmt.Sprint(ids)
	if got := pageBack("a"); fmt.Sprint(got) != want {
		t.Fatalf("paging back: %v, want %v", got, want)
	}
	if got := pageBack("b"); fmt.Sprint(got) != want {
		t.Fatalf("paging back again: %v, want %v", got, want)
	}
	// Forward from the start with RSM after, and back with flipped
	// pages: the same messages.
	var fwd []string
	for i, last := 0, ""; ; i++ {
		set := `<max>2</max>`
		if last != "" {
			set += `<after>` + last + `</after>`
		}
		p := queryMAM(ctx, t, alice, muc, fmt.Sprintf("f-%d", i), `<set xmlns='http://jabber.org/protocol/rsm'>`+set+`</set>`)
		if len(p.ids) > 2 || i > n {
			t.Fatalf("forward page %d: %v", i, p.ids)
		}
		fwd = append(fwd, p.ids...)
		if p.complete {
			break
		}
		last = p.ids[len(p.ids)-1]
	}
	if fmt.Sprint(fwd) != want {
		t.Fatalf("paging forward: %v, want %v", fwd, want)
	}
	meta, err := alice.IQ(ctx, "meta", `<iq type='get' id='meta' to='`+muc+`'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	if err != nil || meta.Type != "result" || !strings.Contains(meta.XML, `id="`+string(ids[0])+`"`) || !strings.Contains(meta.XML, `id="`+string(ids[n-1])+`"`) {
		t.Fatalf("metadata: %v %s", err, meta.XML)
	}
	flipped := queryMAM(ctx, t, alice, muc, "flip", `<set xmlns='http://jabber.org/protocol/rsm'><max>3</max><before/></set><flip-page/>`)
	if fmt.Sprint(flipped.ids) != fmt.Sprint([]matrix.EventID{ids[n-1], ids[n-2], ids[n-3]}) {
		t.Fatalf("flipped last page: %v", flipped.ids)
	}
	after := queryMAM(ctx, t, alice, muc, "after", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='after-id'><value>`+string(ids[n-3])+`</value></field></x>`)
	if fmt.Sprint(after.ids) != fmt.Sprint(ids[n-2:]) || !after.complete {
		t.Fatalf("after-id: %v complete=%v, want %v", after.ids, after.complete, ids[n-2:])
	}
	r := after.results[0].XML
	for _, want := range []string{`<forwarded xmlns="urn:xmpp:forward:0"`, `from="` + muc + `/Carol"`, "message " + fmt.Sprint(n-2),
		`<delay xmlns="urn:xmpp:delay"`, `type="groupchat"`} {
		if !strings.Contains(r, want) {
			t.Errorf("result lacks %s: %s", want, r)
		}
	}
	missing, err := alice.IQ(ctx, "m1", `<iq type='set' id='m1' to='`+muc+`'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before>$nope:localhost</before></set></query></iq>`)
	if err != nil || missing.Type != "error" || !strings.Contains(missing.XML, "item-not-found") {
		t.Fatalf("an unknown id: %v %s", err, missing.XML)
	}

	// A message from XMPP is archived from its sender's nick, with its
	// own id and origin-id, and the same archive id as its stanza-id.
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='a1'><body>from alice</body><origin-id xmlns='urn:xmpp:sid:0' id='o-a1'/></message>`); err != nil {
		t.Fatal(err)
	}
	refl := wait("the reflection", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "a1" })
	own := queryMAM(ctx, t, alice, muc, "own", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='after-id'><value>`+string(ids[n-1])+`</value></field></x>`)
	if len(own.ids) != 1 || !own.complete || !strings.Contains(refl.XML, `id="`+own.ids[0]+`"`) {
		t.Fatalf("alice's message in the archive: %v (reflection %s)", own.ids, refl.XML)
	}
	for _, want := range []string{`from="` + muc + `/Alice"`, `id="a1"`, `id="o-a1"`, "from alice", `jid="alice@` + integration.ProsodyHost + `"`} {
		if !strings.Contains(own.results[0].XML, want) {
			t.Errorf("alice's archived message lacks %s: %s", want, own.results[0].XML)
		}
	}
}

// mamPage is one MAM answer as a client sees it.
type mamPage struct {
	ids      []string
	results  []integration.XMPPStanza
	fin      integration.XMPPStanza
	complete bool
	first    string
}

// queryMAM sends a MAM query (inner is the query's content) from c to
// muc and returns the results with its queryid and the fin.
func queryMAM(ctx context.Context, t *testing.T, c *integration.XMPPClient, muc, qid, inner string) mamPage {
	t.Helper()
	fin, err := c.IQ(ctx, qid, `<iq type='set' id='`+qid+`' to='`+muc+`'><query xmlns='urn:xmpp:mam:2' queryid='`+qid+`'>`+inner+`</query></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	if fin.Type != "result" || fin.From != muc {
		t.Fatalf("query %s: %s", qid, fin.XML)
	}
	p := mamPage{fin: fin, complete: strings.Contains(fin.XML, `complete="true"`)}
	if m := regexp.MustCompile(`<first[^>]*>([^<]*)</first>`).FindStringSubmatch(fin.XML); m != nil {
		p.first = m[1]
	}
	for _, st := range c.Received() {
		var m struct {
			Result *struct {
				QueryID string `xml:"queryid,attr"`
				ID      string `xml:"id,attr"`
			} `xml:"urn:xmpp:mam:2 result"`
		}
		if st.Name != "message" || xml.Unmarshal([]byte(st.XML), &m) != nil || m.Result == nil || m.Result.QueryID != qid {
			continue
		}
		if st.From != muc {
			t.Fatalf("a result from %s: %s", st.From, st.XML)
		}
		p.ids = append(p.ids, m.Result.ID)
		p.results = append(p.results, st)
	}
	return p
}

// waitComponent waits until the component answers a ping through the
// server c is connected to: it connects in the background.
func waitComponent(ctx context.Context, t *testing.T, c *integration.XMPPClient, domain string) {
	t.Helper()
	for n := 0; ; n++ {
		id := fmt.Sprintf("c%d", n)
		r, err := c.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
