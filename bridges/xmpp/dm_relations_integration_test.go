//go:build integration

package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPDirectChatRelations: on Dendrite and Prosody, an
// XMPP client (alice) and a Matrix user (Carol) in a 1:1 chat correct,
// react to, reply to and retract each other's messages, each both ways,
// as in hosted rooms but addressed as chats: a correction is an
// m.replace of the right event and a Matrix edit a <replace> of the
// original's id; reactions add and remove m.reaction events, and Carol's
// reactions reach alice as her whole set by the id alice's client gave
// the message, shrinking when one is redacted; replies carry
// m.in_reply_to one way and <reply> with a fallback quoting the author
// by name the other (never a Matrix ID); a retraction redacts and a
// redaction retracts. Chat states are the puppet's typing and Carol's
// typing is composing/active; displayed markers are read receipts both
// ways. A new XEP-0172 nick renames the puppet, and a new vCard photo
// hash in alice's presence to Carol becomes its avatar. Carol's JID
// announces these features (disco#info). After a bridge restart alice's
// chat is still corrected, and reacted to, by its id. The bridge bot is
// in the chat (Dendrite gives typing, receipts and redactions only
// to its /sync) and is marked as a service member.
func TestIntegrationXMPPDirectChatRelations(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyModules("vcard"))
	s := startSyncingBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	domain := p.ComponentDomain()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("@carol:localhost")
	if err != nil {
		t.Fatal(err)
	}
	carolJID := local + "@" + domain
	users, _ := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	aliceBare := "alice@" + integration.ProsodyHost
	pup, err := users.Format(puppet.Values{"name": aliceBare})
	if err != nil {
		t.Fatal(err)
	}
	bot := matrix.UserID(s.Config.BotUserID())

	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	if err := alice.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	n := 0
	connected := func() {
		t.Helper()
		poll.Check(t, "the component's connection", 30*time.Second, func() error {
			n++
			id := fmt.Sprintf("c%d", n)
			r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
			if err == nil && r.Type != "result" {
				err = fmt.Errorf("ping answered %s", r.XML)
			}
			return err
		})
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
			if st.Name != "message" || st.Type != "chat" || st.From != carolJID {
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
	var dm matrix.RoomID
	matrixWait := func(what string, match func(ev *matrix.Event) bool) *matrix.Event {
		t.Helper()
		ev, err := tl.wait(ctx, func(ev *matrix.Event) bool { return (dm == "" || ev.RoomID == dm) && match(ev) })
		if err != nil {
			for _, ev := range tl.seen {
				t.Logf("seen %s %s %s %s", ev.ID, ev.Type, ev.Sender, ev.Content)
			}
			t.Fatalf("%s: %v", what, err)
		}
		return ev
	}
	chat := func(id, inner string) {
		t.Helper()
		send(`<message to='` + carolJID + `' type='chat' id='` + id + `'>` + inner + `</message>`)
	}

	// Carol's JID tells what chats with her carry.
	r, err := alice.IQ(ctx, "disco", `<iq type='get' id='disco' to='`+carolJID+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{nsChatStates, nsChatMarkers, nsCorrect, nsRetract, nsReactions, nsReply} {
		if r.Type != "result" || !strings.Contains(r.XML, `var="`+f+`"`) {
			t.Errorf("carol's JID does not announce %s: %s", f, r.XML)
		}
	}

	// The chat opens, the puppet named after the nick; the bot is in it.
	chat("m1", `<body>helo wrld</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/><nick xmlns='http://jabber.org/protocol/nick'>Alice A</nick>`)
	inv := matrixWait("the invite", func(ev *matrix.Event) bool {
		var c matrix.MemberContent
		return ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(carol.UserID) && ev.Sender == pup &&
			json.Unmarshal(ev.Content, &c) == nil && c.Membership == "invite"
	})
	dm = inv.RoomID
	if _, err := carol.Join(ctx, string(dm)); err != nil {
		t.Fatal(err)
	}
	ev1 := matrixWait("alice's first chat", func(ev *matrix.Event) bool { return relOf(ev).Body == "helo wrld" }).ID
	if pr, err := carol.Profile(ctx, pup); err != nil || pr.Displayname != "Alice A" {
		t.Fatalf("the puppet's name: %+v %v", pr, err)
	}
	members, err := carol.JoinedMembers(ctx, dm)
	if err != nil || !slices.Contains(members, bot) {
		t.Fatalf("the bot is not in the direct chat: %v %v", members, err)
	}
	if raw, err := carol.StateEvent(ctx, dm, "io.element.functional_members", ""); err != nil || !strings.Contains(string(raw), string(bot)) {
		t.Fatalf("the bot is not a service member: %s %v", raw, err)
	}

	// XMPP correction → m.replace of the right event.
	chat("m2", `<body>hello world</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>`)
	edit := matrixWait("the correction", func(ev *matrix.Event) bool { return ev.Type == matrix.EventMessage && relOf(ev).NewContent != nil })
	if c := relOf(edit); edit.Sender != pup || c.RelatesTo == nil || c.RelatesTo.RelType != "m.replace" || c.RelatesTo.EventID != ev1 ||
		c.NewContent.Body != "hello world" {
		t.Fatalf("correction on Matrix: %s %s", edit.Sender, edit.Content)
	}

	// Matrix edit → <replace id=original>.
	c1, err := carol.SendText(ctx, dm, "tpyo")
	if err != nil {
		t.Fatal(err)
	}
	cm := wait("carol's chat", fromCarol(`id="`+string(c1)+`"`, "tpyo"))
	if !strings.Contains(cm.XML, "markable") {
		t.Errorf("carol's chat is not markable: %s", cm.XML)
	}
	if _, err := carol.SendEvent(ctx, dm, matrix.EventMessage, map[string]any{"msgtype": "m.text", "body": "* typo",
		"m.new_content": map[string]string{"msgtype": "m.text", "body": "typo"},
		"m.relates_to":  map[string]string{"rel_type": "m.replace", "event_id": string(c1)}}); err != nil {
		t.Fatal(err)
	}
	wait("carol's edit", fromCarol(nsCorrect, `id="`+string(c1)+`"`, ">typo</body>"))

	// XMPP reactions → m.reaction, and their removal → redaction.
	chat("x1", `<reactions xmlns='urn:xmpp:reactions:0' id='`+string(c1)+`'><reaction>👍</reaction><reaction>🎉</reaction></reactions><store xmlns='urn:xmpp:hints'/>`)
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
	chat("x2", `<reactions xmlns='urn:xmpp:reactions:0' id='`+string(c1)+`'><reaction>🎉</reaction></reactions>`)
	matrixWait("the removed reaction", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == reactions["👍"]
	})

	// Matrix reactions → the whole set, by the id alice's client gave;
	// a redacted one shrinks it.
	react := func(key string) matrix.EventID {
		t.Helper()
		id, err := carol.SendEvent(ctx, dm, matrix.EventReaction, map[string]any{
			"m.relates_to": map[string]string{"rel_type": "m.annotation", "event_id": string(ev1), "key": key}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	eyes := react("👀")
	wait("carol's reaction", fromCarol(nsReactions, `id="m1"`, ">👀</reaction>"))
	react("✅")
	wait("carol's second reaction", fromCarol(`id="m1"`, ">👀</reaction>", ">✅</reaction>"))
	if err := carol.Redact(ctx, dm, eyes, ""); err != nil {
		t.Fatal(err)
	}
	wait("carol's set without the redacted reaction", func(st integration.XMPPStanza) bool {
		return fromCarol(`id="m1"`, ">✅</reaction>")(st) && !strings.Contains(st.XML, "👀")
	})

	// Matrix reply → <reply> to alice's JID and id, quoting her by name.
	reply, err := carol.SendEvent(ctx, dm, matrix.EventMessage, map[string]any{"msgtype": "m.text",
		"body":         "> <" + string(pup) + "> helo wrld\n\nnice",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]string{"event_id": string(ev1)}}})
	if err != nil {
		t.Fatal(err)
	}
	got := wait("carol's reply", fromCarol(`id="`+string(reply)+`"`))
	if !strings.Contains(got.XML, nsReply) || !strings.Contains(got.XML, `to="`+aliceBare+`"`) || !strings.Contains(got.XML, `id="m1"`) ||
		!strings.Contains(got.XML, ">&gt; Alice A: helo wrld\nnice</body>") || !strings.Contains(got.XML, `for="urn:xmpp:reply:0"`) ||
		strings.Contains(got.XML, "@_xmpp") || strings.Contains(got.XML, ":localhost&gt;") {
		t.Fatalf("carol's reply: %s", got.XML)
	}

	// XMPP reply → m.in_reply_to without the quote.
	quote := "> Carol: typo\n"
	chat("m3", `<body>`+strings.ReplaceAll(quote, ">", "&gt;")+`agreed</body>`+
		`<reply xmlns='urn:xmpp:reply:0' to='`+carolJID+`' id='`+string(c1)+`'/>`+
		`<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='`+fmt.Sprint(len([]rune(quote)))+`'/></fallback>`)
	re := matrixWait("alice's reply", func(ev *matrix.Event) bool { return ev.Sender == pup && relOf(ev).Body == "agreed" })
	if c := relOf(re); c.RelatesTo == nil || c.RelatesTo.InReplyTo == nil || c.RelatesTo.InReplyTo.EventID != c1 {
		t.Fatalf("alice's reply on Matrix: %s", re.Content)
	}

	// XMPP retraction by the id alice's client gave → redaction.
	chat("d1", `<retract xmlns='urn:xmpp:message-retract:1' id='m3'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>retracted</body>`)
	matrixWait("alice's retraction", func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventRedaction && ev.Sender == pup && relOf(ev).Redacts == re.ID
	})

	// Matrix redaction of Carol's own message → retraction.
	if err := carol.Redact(ctx, dm, c1, ""); err != nil {
		t.Fatal(err)
	}
	wait("carol's retraction", fromCarol(nsRetract, `id="`+string(c1)+`"`))

	// Chat states ↔ typing.
	const cs = `xmlns='http://jabber.org/protocol/chatstates'`
	puppetTyping := func(on bool) {
		t.Helper()
		matrixWait(fmt.Sprintf("the puppet typing %t", on), func(ev *matrix.Event) bool {
			var c struct {
				UserIDs []matrix.UserID `json:"user_ids"`
			}
			return ev.Type == matrix.EventTyping && json.Unmarshal(ev.Content, &c) == nil && slices.Contains(c.UserIDs, pup) == on
		})
	}
	chat("t1", `<composing `+cs+`/>`)
	puppetTyping(true)
	chat("t2", `<paused `+cs+`/>`)
	puppetTyping(false)
	typing := "/rooms/" + url.PathEscape(string(dm)) + "/typing/" + url.PathEscape(string(carol.UserID))
	matrixPut(ctx, t, carol, http.MethodPut, typing, `{"typing":true,"timeout":30000}`)
	composing := wait("carol composing", fromCarol("<composing"))
	if strings.Contains(composing.XML, "<body") {
		t.Fatalf("carol composing: %s", composing.XML)
	}
	matrixPut(ctx, t, carol, http.MethodPut, typing, `{"typing":false}`)
	wait("carol active", fromCarol("<active"))

	// Displayed markers ↔ read receipts.
	c2, err := carol.SendText(ctx, dm, "read me")
	if err != nil {
		t.Fatal(err)
	}
	wait("carol's chat to read", fromCarol(`id="`+string(c2)+`"`))
	chat("r1", `<displayed xmlns='urn:xmpp:chat-markers:0' id='`+string(c2)+`'/>`)
	matrixWait("alice's read receipt", func(ev *matrix.Event) bool {
		var c map[matrix.EventID]map[string]map[matrix.UserID]json.RawMessage
		return ev.Type == matrix.EventReceipt && json.Unmarshal(ev.Content, &c) == nil && c[c2]["m.read"][pup] != nil
	})
	chat("m4", `<body>did you read this?</body><markable xmlns='urn:xmpp:chat-markers:0'/>`)
	ev4 := matrixWait("alice's chat to read", func(ev *matrix.Event) bool { return relOf(ev).Body == "did you read this?" }).ID
	matrixPut(ctx, t, carol, http.MethodPost, "/rooms/"+url.PathEscape(string(dm))+"/receipt/m.read/"+url.PathEscape(string(ev4)), `{}`)
	wait("carol's displayed marker", fromCarol("displayed", `id="m4"`))

	// A new nick renames the puppet; a new photo hash in alice's
	// presence to Carol becomes its avatar.
	chat("m5", `<body>call me B</body><nick xmlns='http://jabber.org/protocol/nick'>Alice B</nick>`)
	matrixWait("the chat with a new nick", func(ev *matrix.Event) bool { return relOf(ev).Body == "call me B" })
	if pr, err := carol.Profile(ctx, pup); err != nil || pr.Displayname != "Alice B" {
		t.Fatalf("the puppet's new name: %+v %v", pr, err)
	}
	pic := []byte("\x89PNG\r\n\x1a\nalice's avatar in a chat")
	sum := sha1.Sum(pic)
	if r, err := alice.IQ(ctx, "vc1", `<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+
		base64.StdEncoding.EncodeToString(pic)+`</BINVAL></PHOTO></vCard></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("publishing alice's vCard: %v %s", err, r.XML)
	}
	send(`<presence to='` + carolJID + `'><x xmlns='vcard-temp:x:update'><photo>` + hex.EncodeToString(sum[:]) + `</photo></x></presence>`)
	poll.Check(t, "the puppet's avatar in the direct chat", 30*time.Second, func() error {
		raw, err := carol.StateEvent(ctx, dm, matrix.EventMember, string(pup))
		if err != nil {
			return err
		}
		var mc matrix.MemberContent
		if err := json.Unmarshal(raw, &mc); err != nil {
			return err
		}
		if mc.AvatarURL == "" || mc.Displayname != "Alice B" {
			return fmt.Errorf("the puppet's membership: %s", raw)
		}
		return nil
	})

	// Across a restart: alice's chat is still corrected by its id, and
	// Carol's reaction names it by that id.
	s.StopBridge()
	s.StartBridge()
	connected()
	chat("m6", `<body>did you read this now?</body><replace xmlns='urn:xmpp:message-correct:0' id='m4'/>`)
	edit = matrixWait("the correction after the restart", func(ev *matrix.Event) bool {
		c := relOf(ev)
		return c.NewContent != nil && c.NewContent.Body == "did you read this now?"
	})
	if c := relOf(edit); c.RelatesTo == nil || c.RelatesTo.EventID != ev4 {
		t.Fatalf("correction after the restart: %s", edit.Content)
	}
	if _, err := carol.SendEvent(ctx, dm, matrix.EventReaction, map[string]any{
		"m.relates_to": map[string]string{"rel_type": "m.annotation", "event_id": string(ev4), "key": "🙂"}}); err != nil {
		t.Fatal(err)
	}
	wait("carol's reaction after the restart", fromCarol(nsReactions, `id="m4"`, ">🙂</reaction>"))
}
