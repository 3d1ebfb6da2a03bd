//go:build integration

package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// relContent is the part of an event's content the relation checks read.
type relContent struct {
	Body       string `json:"body"`
	NewContent *struct {
		Body string `json:"body"`
	} `json:"m.new_content"`
	RelatesTo *struct {
		RelType   string         `json:"rel_type"`
		EventID   matrix.EventID `json:"event_id"`
		Key       string         `json:"key"`
		InReplyTo *struct {
			EventID matrix.EventID `json:"event_id"`
		} `json:"m.in_reply_to"`
	} `json:"m.relates_to"`
	Redacts matrix.EventID `json:"redacts"`
	Reason  string         `json:"reason"`
}

// timeline keeps every event a Matrix user's /sync returned, so that
// waits for events that arrive together each find theirs (WaitForEvent
// drops the rest of an answer after its match).
type timeline struct {
	c     *integration.Client
	since string
	seen  []matrix.Event
	used  []bool
}

// wait returns the first event not returned before that match accepts,
// syncing until one arrives or ctx ends.
func (tl *timeline) wait(ctx context.Context, match func(ev *matrix.Event) bool) (*matrix.Event, error) {
	for {
		for i := range tl.seen {
			if !tl.used[i] && match(&tl.seen[i]) {
				tl.used[i] = true
				return &tl.seen[i], nil
			}
		}
		s, err := tl.c.Sync(ctx, tl.since, 2*time.Second)
		if err != nil {
			return nil, err
		}
		tl.since = s.NextBatch
		evs := s.Events()
		tl.seen = append(tl.seen, evs...)
		tl.used = append(tl.used, make([]bool, len(evs))...)
	}
}

func relOf(ev *matrix.Event) relContent {
	var c relContent
	_ = json.Unmarshal(ev.Content, &c)
	if c.Redacts == "" {
		c.Redacts = ev.Redacts
	}
	return c
}

// TestIntegrationXMPPRelations: on Dendrite and Prosody, an XMPP client
// (Alice) and a Matrix user (Carol) in a room the bridge hosts as a MUC
// correct, retract, moderate, react to and reply to each other's
// messages, each both ways: a correction is an m.replace of the right
// event and a Matrix edit a <replace> of the original's id; a retraction
// redacts and a redaction retracts (by someone else: moderated from the
// room); reactions add and remove m.reaction events and Matrix reactions
// reach XMPP as the user's whole set, shrinking when one is redacted;
// replies carry m.in_reply_to one way and <reply> with a fallback that
// quotes the author by nick the other, never a Matrix ID. Moderation
// from XMPP is refused until Alice's puppet may redact others' events.
// After a bridge restart, Alice's message sent before it is still
// corrected and retracted by the ids her client gave it.
func TestIntegrationXMPPRelations(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		EphemeralSync: true, // Dendrite pushes no redactions: the bot's /sync fetches them
		Bridges:       fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "Rel"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#Rel:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, _ := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	pup, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	connected := func() { // the component connects in the background
		t.Helper()
		for n := 0; ; n++ {
			id := fmt.Sprintf("c%d-%d", time.Now().UnixNano(), n)
			r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
			if err != nil {
				t.Fatal(err)
			}
			if r.Type == "result" {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	connected()
	send := func(raw string) {
		t.Helper()
		if err := alice.Send(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			for _, st := range alice.Received() {
				t.Logf("received %s", st.XML)
			}
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	fromCarol := func(extra ...string) func(integration.XMPPStanza) bool {
		return func(st integration.XMPPStanza) bool {
			if st.Name != "message" || st.From != muc+"/Carol" {
				return false
			}
			for _, x := range extra {
				if !strings.Contains(st.XML, x) {
					return false
				}
			}
			return true
		}
	}
	tl := &timeline{c: carol}
	matrixWait := func(what string, match func(ev *matrix.Event) bool) *matrix.Event {
		t.Helper()
		ev, err := tl.wait(ctx, func(ev *matrix.Event) bool { return ev.RoomID == room && match(ev) })
		if err != nil {
			for _, ev := range tl.seen {
				t.Logf("seen %s %s %s %s", ev.ID, ev.Type, ev.Sender, ev.Content)
			}
			t.Fatalf("%s: %v", what, err)
		}
		return ev
	}
	send(`<presence to='` + muc + `/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	wait("self-presence", func(st integration.XMPPStanza) bool {
		return st.Name == "presence" && st.From == muc+"/Alice" && strings.Contains(st.XML, `code="110"`)
	})
	r, err := alice.IQ(ctx, "disco", `<iq type='get' id='disco' to='`+muc+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{nsCorrect, nsRetract, nsModerate, nsReactions, nsReply} {
		if !strings.Contains(r.XML, `var="`+f+`"`) {
			t.Errorf("the room does not announce %s: %s", f, r.XML)
		}
	}

	// XMPP correction → m.replace of the right event.
	send(`<message to='` + muc + `' type='groupchat' id='m1'><body>helo wrld</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>`)
	ev1 := matrixWait("alice's message", func(ev *matrix.Event) bool { return relOf(ev).Body == "helo wrld" }).ID
	send(`<message to='` + muc + `' type='groupchat' id='m2'><body>hello world</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>`)
	edit := matrixWait("the correction", func(ev *matrix.Event) bool { return ev.Type == matrix.EventMessage && relOf(ev).NewContent != nil })
	if c := relOf(edit); edit.Sender != pup || c.RelatesTo == nil || c.RelatesTo.RelType != "m.replace" || c.RelatesTo.EventID != ev1 ||
		c.NewContent.Body != "hello world" {
		t.Fatalf("correction on Matrix: %s %s", edit.Sender, edit.Content)
	}
	wait("the correction's reflection", func(st integration.XMPPStanza) bool {
		return st.Name == "message" && st.ID == "m2" && strings.Contains(st.XML, nsCorrect) && strings.Contains(st.XML, `id="m1"`)
	})

	// Matrix edit → <replace id=original>.
	c1, err := carol.SendText(ctx, room, "tpyo")
	if err != nil {
		t.Fatal(err)
	}
	wait("carol's message", fromCarol(`id="`+string(c1)+`"`, "tpyo"))
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, map[string]any{"msgtype": "m.text", "body": "* typo",
		"m.new_content": map[string]string{"msgtype": "m.text", "body": "typo"},
		"m.relates_to":  map[string]string{"rel_type": "m.replace", "event_id": string(c1)}}); err != nil {
		t.Fatal(err)
	}
	wait("carol's edit", fromCarol(nsCorrect, `id="`+string(c1)+`"`, ">typo</body>"))

	// XMPP reactions → m.reaction, and their removal → redaction.
	send(`<message to='` + muc + `' type='groupchat' id='x1'><reactions xmlns='urn:xmpp:reactions:0' id='` + string(c1) +
		`'><reaction>👍</reaction><reaction>🎉</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>`)
	reactions := map[string]matrix.EventID{}
	matrixWait("alice's reactions", func(ev *matrix.Event) bool {
		if c := relOf(ev); ev.Type == matrix.EventReaction && ev.Sender == pup && c.RelatesTo != nil && c.RelatesTo.EventID == c1 {
			reactions[c.RelatesTo.Key] = ev.ID
		}
		return len(reactions) == 2
	})
	if reactions["👍"] == "" || reactions["🎉"] == "" {
		t.Fatalf("reactions on Matrix: %v", reactions)
	}
	send(`<message to='` + muc + `' type='groupchat' id='x2'><reactions xmlns='urn:xmpp:reactions:0' id='` + string(c1) +
		`'><reaction>🎉</reaction></reactions></message>`)
	matrixWait("the removed reaction", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == reactions["👍"]
	})

	// Matrix reactions → the user's whole set; a redacted one shrinks it.
	react := func(key string) matrix.EventID {
		t.Helper()
		id, err := carol.SendEvent(ctx, room, matrix.EventReaction, map[string]any{
			"m.relates_to": map[string]string{"rel_type": "m.annotation", "event_id": string(ev1), "key": key}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	eyes := react("👀")
	wait("carol's reaction", fromCarol(nsReactions, `id="`+string(ev1)+`"`, ">👀</reaction>"))
	react("✅")
	wait("carol's second reaction", fromCarol(`id="`+string(ev1)+`"`, ">👀</reaction>", ">✅</reaction>"))
	if err := carol.Redact(ctx, room, eyes, ""); err != nil {
		t.Fatal(err)
	}
	wait("carol's set without the redacted reaction", func(st integration.XMPPStanza) bool {
		return fromCarol(`id="`+string(ev1)+`"`, ">✅</reaction>")(st) && !strings.Contains(st.XML, "👀")
	})

	// Matrix reply → <reply> with a nick fallback, no Matrix ID.
	reply, err := carol.SendEvent(ctx, room, matrix.EventMessage, map[string]any{"msgtype": "m.text",
		"body":         "> <" + string(pup) + "> helo wrld\n\nnice",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]string{"event_id": string(ev1)}}})
	if err != nil {
		t.Fatal(err)
	}
	got := wait("carol's reply", fromCarol(`id="`+string(reply)+`"`))
	if !strings.Contains(got.XML, nsReply) || !strings.Contains(got.XML, `to="`+muc+`/Alice"`) || !strings.Contains(got.XML, `id="`+string(ev1)+`"`) ||
		!strings.Contains(got.XML, ">&gt; Alice: helo wrld\nnice</body>") || !strings.Contains(got.XML, `for="urn:xmpp:reply:0"`) ||
		strings.Contains(got.XML, "@_xmpp") || strings.Contains(got.XML, ":localhost&gt;") {
		t.Fatalf("carol's reply: %s", got.XML)
	}

	// XMPP reply → m.in_reply_to without the quote.
	quote := "> Carol: typo\n"
	send(`<message to='` + muc + `' type='groupchat' id='m3'><body>` + strings.ReplaceAll(quote, ">", "&gt;") + `agreed</body>` +
		`<reply xmlns='urn:xmpp:reply:0' to='` + muc + `/Carol' id='` + string(c1) + `'/>` +
		`<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='` + fmt.Sprint(len([]rune(quote))) + `'/></fallback></message>`)
	re := matrixWait("alice's reply", func(ev *matrix.Event) bool { return ev.Sender == pup && relOf(ev).Body == "agreed" })
	if c := relOf(re); c.RelatesTo == nil || c.RelatesTo.InReplyTo == nil || c.RelatesTo.InReplyTo.EventID != c1 {
		t.Fatalf("alice's reply on Matrix: %s", re.Content)
	}

	// XMPP retraction (by stanza-id) → redaction.
	send(`<message to='` + muc + `' type='groupchat' id='d1'><retract xmlns='urn:xmpp:message-retract:1' id='` + string(re.ID) +
		`'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>retracted</body></message>`)
	matrixWait("alice's retraction", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == re.ID
	})

	// Matrix redactions → retraction by the author, moderation by others.
	if err := carol.Redact(ctx, room, c1, ""); err != nil {
		t.Fatal(err)
	}
	got = wait("carol's retraction", fromCarol(nsRetract, `id="`+string(c1)+`"`))
	if strings.Contains(got.XML, "moderated") {
		t.Fatalf("carol's own retraction is moderated: %s", got.XML)
	}
	if err := carol.Redact(ctx, room, ev1, "off topic"); err != nil {
		t.Fatal(err)
	}
	wait("carol's moderation", func(st integration.XMPPStanza) bool {
		return st.Name == "message" && st.From == muc && strings.Contains(st.XML, nsRetract) && strings.Contains(st.XML, `id="`+string(ev1)+`"`) &&
			strings.Contains(st.XML, `by="`+muc+`/Carol"`) && strings.Contains(st.XML, "off topic")
	})

	// XMPP moderation: refused without the power, done with it.
	c2, err := carol.SendText(ctx, room, "spam")
	if err != nil {
		t.Fatal(err)
	}
	wait("carol's spam", fromCarol(`id="`+string(c2)+`"`))
	moderate := `<iq type='set' id='%s' to='` + muc + `'><moderate xmlns='urn:xmpp:message-moderate:1' id='` + string(c2) +
		`'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>`
	if r, err := alice.IQ(ctx, "mod1", fmt.Sprintf(moderate, "mod1")); err != nil || r.Type != "error" || !strings.Contains(r.XML, "forbidden") {
		t.Fatalf("moderation without the power: %v %s", err, r.XML)
	}
	raw, err := carol.StateEvent(ctx, room, matrix.EventPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	var pl map[string]any
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	pl["users"].(map[string]any)[string(pup)] = 50
	if _, err := carol.SendState(ctx, room, matrix.EventPowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
	// Events reach the bridge in order: once this one reached Alice,
	// the bridge knows the new power levels.
	if _, err := carol.SendText(ctx, room, "you moderate now"); err != nil {
		t.Fatal(err)
	}
	wait("the message after the power change", fromCarol("you moderate now"))
	if r, err := alice.IQ(ctx, "mod2", fmt.Sprintf(moderate, "mod2")); err != nil || r.Type != "result" {
		t.Fatalf("moderation with the power: %v %s", err, r.XML)
	}
	matrixWait("alice's moderation", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == c2 && relOf(ev).Reason == "spam"
	})
	wait("alice's moderation to the room", func(st integration.XMPPStanza) bool {
		return st.Name == "message" && st.From == muc && strings.Contains(st.XML, `by="`+muc+`/Alice"`) && strings.Contains(st.XML, string(c2))
	})

	// Across a restart: a correction and a retraction by the ids Alice's
	// client gave (the old retraction form, by origin-id).
	send(`<message to='` + muc + `' type='groupchat' id='m9'><body>before the restart</body><origin-id xmlns='urn:xmpp:sid:0' id='o9'/></message>`)
	ev9 := matrixWait("the message before the restart", func(ev *matrix.Event) bool { return relOf(ev).Body == "before the restart" }).ID
	wait("its reflection", func(st integration.XMPPStanza) bool { return st.Name == "message" && st.ID == "m9" })
	s.StopBridge()
	s.StartBridge()
	connected()
	send(`<message to='` + muc + `' type='groupchat' id='m10'><body>after the restart</body><replace xmlns='urn:xmpp:message-correct:0' id='m9'/></message>`)
	edit = matrixWait("the correction after the restart", func(ev *matrix.Event) bool {
		c := relOf(ev)
		return c.NewContent != nil && c.NewContent.Body == "after the restart"
	})
	if c := relOf(edit); c.RelatesTo == nil || c.RelatesTo.EventID != ev9 {
		t.Fatalf("correction after the restart: %s", edit.Content)
	}
	send(`<message to='` + muc + `' type='groupchat' id='d9'><apply-to xmlns='urn:xmpp:fasten:0' id='o9'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`)
	matrixWait("the retraction after the restart", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == ev9
	})
}
