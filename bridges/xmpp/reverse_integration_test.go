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
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPReversePortal: on Dendrite and Prosody, an XMPP user
// makes a MUC on Prosody's MUC service (real JIDs shown to all) and says
// two things; a Matrix user joins the alias
// #_xmpp_lounge_conference.localhost:localhost: the portal room exists with
// those two messages from the XMPP user's puppet, in order, with their
// original times. The Matrix user is in the MUC as an occupant from their
// JID on the component; their displayname was taken by another XMPP
// occupant, so they are there with the suffix and a notice in the room says
// so. A live XMPP message reaches Matrix from the puppet (its XEP-0393
// styling formatted); a Matrix message (with HTML, sent as XHTML-IM too)
// reaches the XMPP user once, and nothing of it comes back to Matrix.
// Corrections cross both ways as edits, retractions as redactions,
// reactions as reactions, replies as replies (quoting by nick). A ping
// through the MUC to the Matrix user's occupant is answered. Presence
// crosses both ways (Matrix away is the occupant's away, the XMPP user's
// dnd is their puppet's unavailable), and the XMPP user's vCard avatar is
// their puppet's. A new displayname is a nick change. After a bridge
// restart the Matrix user is in the MUC again and what was said meanwhile
// reaches Matrix from the archive. After a restart of Prosody, the Matrix
// user's occupant joins the (persistent) MUC again and their messages reach
// it. A moderator's redaction of someone else's message, in a MUC without
// XEP-0425 moderation (Prosody here), gets the "not bridged" notice.
// Displayed markers and read receipts cross both ways. The Matrix user's
// new avatar is in her occupant's presence (XEP-0153 hash) and vCard.
// Leaving the Matrix room leaves the MUC. Another Matrix user kicked by
// the MUC's owner gets a notice, is not joined again and gets a not-
// delivered notice for their next message. In a MUC that hides real JIDs
// the puppets are of occupant JIDs; a MUC that does not exist has no alias.
func TestIntegrationXMPPReversePortal(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"),
		integration.WithProsodyModules("vcard"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges:       fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
		EphemeralSync: true, // Dendrite does not push presence to appservices; the bot is in the portal room
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wait := func(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := c.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	send := func(c *integration.XMPPClient, raw string) {
		t.Helper()
		if err := c.Send(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	muc := "lounge@" + integration.ProsodyMUC
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	bob := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")

	// Alice makes the room (an instant room whose real JIDs everyone
	// sees) and says two things, archived by the MUC.
	send(alice, `<presence to='`+muc+`/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	wait(alice, "alice's self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/alice" && strings.Contains(s.XML, `code="110"`)
	})
	cfg, err := alice.IQ(ctx, "cfg", `<iq type='set' id='cfg' to='`+muc+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`+
		`<field var='muc#roomconfig_whois'><value>anyone</value></field>`+
		`<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`)
	if err != nil || cfg.Type != "result" {
		t.Fatalf("room configuration: %v %s", err, cfg.XML)
	}
	for i, text := range []string{"first from xmpp", "second from xmpp"} {
		id := fmt.Sprintf("h%d", i)
		send(alice, `<message to='`+muc+`' type='groupchat' id='`+id+`'><body>`+text+`</body></message>`)
		wait(alice, "reflection of "+text, func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == id })
	}
	// Bob takes the nick the Matrix user will want.
	send(bob, `<presence to='`+muc+`/Carol'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`)
	wait(bob, "bob's self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Carol" && strings.Contains(s.XML, `code="110"`)
	})
	// The component connects in the background.
	for n := 0; ; n++ {
		id := fmt.Sprintf("c%d", n)
		r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	joinedAt := time.Now()
	room, err := carol.Join(ctx, "#_xmpp_lounge_conference.localhost:localhost")
	if err != nil {
		t.Fatalf("join the MUC's alias: %v", err)
	}

	// Backfill: both messages, from alice's puppet, at their own times,
	// in order; and the notice about the nick.
	var history []*matrix.Event
	var note string
	if _, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c matrix.MessageContent
		if ev.RoomID != room || ev.Type != matrix.EventMessage || json.Unmarshal(ev.Content, &c) != nil {
			return false
		}
		if strings.Contains(c.Body, "from xmpp") {
			e := *ev
			history = append(history, &e)
		}
		if c.MsgType == matrix.MsgNotice && strings.Contains(c.Body, "Carol[m]") {
			note = c.Body
		}
		return len(history) == 2 && note != ""
	}); err != nil {
		t.Fatalf("history %d messages, notice %q: %v", len(history), note, err)
	}
	for i, want := range []string{"first from xmpp", "second from xmpp"} {
		ev := history[i]
		var c matrix.MessageContent
		_ = json.Unmarshal(ev.Content, &c)
		if c.Body != want || ev.Sender != alicePuppet {
			t.Errorf("history %d: %q from %s, want %q from %s", i, c.Body, ev.Sender, want, alicePuppet)
		}
		if ts := time.UnixMilli(ev.OriginServerTS); !ts.Before(joinedAt) {
			t.Errorf("history %d at %v, not its original time (before the join at %v)", i, ts, joinedAt)
		}
	}
	if history[0].OriginServerTS > history[1].OriginServerTS {
		t.Errorf("history out of order: %d then %d", history[0].OriginServerTS, history[1].OriginServerTS)
	}

	checkReverseNotHosted(ctx, t, carol, bob, domain, room, "#_xmpp_lounge_conference.localhost:localhost", muc) // reverse_hosted_integration_test.go

	// Carol is in the MUC from her JID on the component, with the suffix.
	occ := muc + "/Carol[m]"
	pres := wait(alice, "carol's occupant", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && s.Type == ""
	})
	if !strings.Contains(pres.XML, `carol\3alocalhost@`+domain+`/`) {
		t.Errorf("carol's occupant presence without her JID: %s", pres.XML)
	}

	// Live, both ways.
	send(alice, `<message to='`+muc+`' type='groupchat' id='l1'><body>live *from* xmpp</body></message>`)
	live, err := carol.WaitForMessage(ctx, room, "live *from* xmpp")
	if err != nil || live.Sender != alicePuppet {
		t.Fatalf("live message: %v %v", live, err)
	}
	var lc matrix.MessageContent
	if json.Unmarshal(live.Content, &lc) != nil || !strings.Contains(lc.FormattedBody, "<strong>from</strong>") {
		t.Errorf("live message's styling not formatted: %s", live.Content)
	}
	ev, err := carol.SendEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText,
		Body: "hello from matrix <b>&</b>", Format: "org.matrix.custom.html", FormattedBody: "hello <em>from</em> matrix &lt;b&gt;&amp;&lt;/b&gt;"})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(alice, "carol's message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "hello from matrix")
	})
	if got.Type != "groupchat" || !strings.Contains(got.XML, "hello from matrix &lt;b&gt;&amp;&lt;/b&gt;") ||
		!strings.Contains(got.XML, string(ev)) || !strings.Contains(got.XML, "http://jabber.org/protocol/xhtml-im") ||
		!strings.Contains(got.XML, ">from</em>") {
		t.Errorf("carol's message on XMPP: %s", got.XML)
	}

	// Corrections both ways: alice's XEP-0308 correction is an edit of
	// her message; carol's edit is a correction of hers.
	send(alice, `<message to='`+muc+`' type='groupchat' id='l1c'><body>live from xmpp, corrected</body>`+
		`<replace xmlns='urn:xmpp:message-correct:0' id='l1'/></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c matrix.MessageContent
		return e.RoomID == room && e.Sender == alicePuppet && json.Unmarshal(e.Content, &c) == nil && c.RelatesTo != nil &&
			c.RelatesTo.RelType == "m.replace" && c.RelatesTo.EventID == live.ID && c.NewContent != nil &&
			c.NewContent.Body == "live from xmpp, corrected"
	}); err != nil {
		t.Fatalf("alice's correction as an edit: %v", err)
	}
	nc := matrix.MessageContent{MsgType: matrix.MsgText, Body: "hello from matrix, edited"}
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText,
		Body: "* hello from matrix, edited", NewContent: &nc, RelatesTo: &matrix.RelatesTo{RelType: "m.replace", EventID: ev}}); err != nil {
		t.Fatal(err)
	}
	if fix := wait(alice, "carol's correction", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "urn:xmpp:message-correct:0")
	}); !strings.Contains(fix.XML, `id="`+string(ev)+`"`) || !strings.Contains(fix.XML, "hello from matrix, edited") {
		t.Errorf("carol's correction: %s", fix.XML)
	}

	// Retractions both ways: alice's XEP-0424 retraction (by the
	// stanza-id the MUC gave her message) redacts it on Matrix; carol's
	// redaction of her message retracts it on XMPP.
	send(alice, `<message to='`+muc+`' type='groupchat' id='o1'><body>oops from xmpp</body></message>`)
	oopsRefl := wait(alice, "reflection of the message to retract", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.ID == "o1"
	})
	sid := regexp.MustCompile(`stanza-id[^>]* id="([^"]+)"`).FindStringSubmatch(oopsRefl.XML)
	if sid == nil {
		t.Fatalf("no stanza-id in %s", oopsRefl.XML)
	}
	oops, err := carol.WaitForMessage(ctx, room, "oops from xmpp")
	if err != nil {
		t.Fatal(err)
	}
	send(alice, `<message to='`+muc+`' type='groupchat' id='r1'><retract xmlns='urn:xmpp:message-retract:1' id='`+sid[1]+`'/>`+
		`<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>alice retracted a message</body></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c struct {
			Redacts matrix.EventID `json:"redacts"`
		}
		_ = json.Unmarshal(e.Content, &c)
		return e.RoomID == room && e.Type == "m.room.redaction" && e.Sender == alicePuppet && (e.Redacts == oops.ID || c.Redacts == oops.ID)
	}); err != nil {
		t.Fatalf("alice's retraction as a redaction: %v", err)
	}
	mine, err := carol.SendText(ctx, room, "oops from matrix")
	if err != nil {
		t.Fatal(err)
	}
	wait(alice, "carol's message to retract", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "oops from matrix")
	})
	if err := carol.Redact(ctx, room, mine, ""); err != nil {
		t.Fatal(err)
	}
	if retr := wait(alice, "carol's retraction", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "urn:xmpp:message-retract:1")
	}); !strings.Contains(retr.XML, `id="`+string(mine)+`"`) {
		t.Errorf("carol's retraction does not name her message: %s", retr.XML)
	}

	// Moderation: alice makes carol's occupant a moderator; carol's
	// redaction of alice's message asks the MUC's disco#info, and
	// Prosody (without mod_muc_moderation) advertises no XEP-0425, so
	// the room is told deletions are not bridged.
	if r, err := alice.IQ(ctx, "mod1", `<iq type='set' id='mod1' to='`+muc+`'><query xmlns='http://jabber.org/protocol/muc#admin'>`+
		`<item nick='Carol[m]' role='moderator'/></query></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("carol made a moderator: %v %s", err, r.XML)
	}
	// On Matrix carol needs the power to redact others' events.
	bot := integration.NewClient(s.HS.URL(), "@causeway:localhost", s.Reg.ASToken)
	raw, err := bot.StateEvent(ctx, room, matrix.EventPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	var pl map[string]any
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	plUsers, _ := pl["users"].(map[string]any)
	if plUsers == nil {
		plUsers = map[string]any{}
	}
	plUsers["@carol:localhost"] = 50
	pl["users"] = plUsers
	if _, err := bot.SendState(ctx, room, matrix.EventPowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
	send(alice, `<message to='`+muc+`' type='groupchat' id='sp1'><body>spam from xmpp</body></message>`)
	spam, err := carol.WaitForMessage(ctx, room, "spam from xmpp")
	if err != nil {
		t.Fatal(err)
	}
	if err := carol.Redact(ctx, room, spam.ID, "spam"); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c matrix.MessageContent
		return e.RoomID == room && e.Type == matrix.EventMessage && json.Unmarshal(e.Content, &c) == nil &&
			c.MsgType == matrix.MsgNotice && strings.Contains(c.Body, "Deletions are not bridged to XMPP")
	}); err != nil {
		t.Fatalf("the notice about a moderation the MUC does not support: %v", err)
	}

	// Reactions both ways, naming messages by their stanza-ids: alice's
	// 👍 to carol's message is an m.reaction of her puppet; carol's 🎉 to
	// alice's message is a reactions stanza from her occupant.
	sidOf := func(xml string) string {
		t.Helper()
		m := regexp.MustCompile(`stanza-id[^>]* id="([^"]+)"`).FindStringSubmatch(xml)
		if m == nil {
			t.Fatalf("no stanza-id in %s", xml)
		}
		return m[1]
	}
	send(alice, `<message to='`+muc+`' type='groupchat' id='x1'><reactions xmlns='urn:xmpp:reactions:0' id='`+sidOf(got.XML)+`'>`+
		`<reaction>👍</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c struct {
			RelatesTo matrix.RelatesTo `json:"m.relates_to"`
		}
		return e.RoomID == room && e.Type == matrix.EventReaction && e.Sender == alicePuppet && json.Unmarshal(e.Content, &c) == nil &&
			c.RelatesTo.EventID == ev && c.RelatesTo.Key == "👍"
	}); err != nil {
		t.Fatalf("alice's reaction: %v", err)
	}
	liveRefl := wait(alice, "reflection of the live message", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "l1" })
	if _, err := carol.SendEvent(ctx, room, matrix.EventReaction, map[string]any{
		"m.relates_to": matrix.RelatesTo{RelType: "m.annotation", EventID: live.ID, Key: "🎉"}}); err != nil {
		t.Fatal(err)
	}
	if rx := wait(alice, "carol's reaction", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "urn:xmpp:reactions:0")
	}); !strings.Contains(rx.XML, `id="`+sidOf(liveRefl.XML)+`"`) || !strings.Contains(rx.XML, "🎉") {
		t.Errorf("carol's reaction: %s", rx.XML)
	}

	// Markers both ways, by stanza-id: alice's displayed marker of
	// carol's message is her puppet's read receipt; carol's read receipt
	// of alice's live message is a displayed marker from her occupant.
	send(alice, `<message to='`+muc+`' type='groupchat' id='dm1'><displayed xmlns='urn:xmpp:chat-markers:0' id='`+sidOf(got.XML)+`'/></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c map[matrix.EventID]map[string]map[matrix.UserID]any
		return e.RoomID == room && e.Type == matrix.EventReceipt && json.Unmarshal(e.Content, &c) == nil && c[ev]["m.read"][alicePuppet] != nil
	}); err != nil {
		t.Fatalf("alice's marker as a read receipt: %v", err)
	}
	matrixPut(ctx, t, carol, http.MethodPost, "/rooms/"+url.PathEscape(string(room))+"/receipt/m.read/"+url.PathEscape(string(live.ID)), `{}`)
	if mk := wait(alice, "carol's displayed marker", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "<displayed")
	}); !strings.Contains(mk.XML, `id="`+sidOf(liveRefl.XML)+`"`) || strings.Contains(mk.XML, "<body") {
		t.Errorf("carol's marker: %s", mk.XML)
	}

	// Carol's Matrix avatar: her occupant's presence goes again with its
	// XEP-0153 hash, and the vCard of her occupant has the image.
	carolPic := []byte("GIF89a carol's avatar in a portal")
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(matrixDo(ctx, t, carol, http.MethodPost, "/_matrix/media/v3/upload?filename=c.gif", "image/gif", carolPic), &up); err != nil {
		t.Fatal(err)
	}
	matrixPut(ctx, t, carol, http.MethodPut, "/profile/"+url.PathEscape(string(carol.UserID))+"/avatar_url",
		`{"avatar_url":"`+up.ContentURI+`"}`)
	carolSum := sha1.Sum(carolPic)
	wait(alice, "carol's presence with her photo hash", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && strings.Contains(s.XML, hex.EncodeToString(carolSum[:])+"</photo>")
	})
	if r, err := alice.IQ(ctx, "cv1", `<iq type='get' id='cv1' to='`+occ+`'><vCard xmlns='vcard-temp'/></iq>`); err != nil || r.Type != "result" ||
		!strings.Contains(r.XML, base64.StdEncoding.EncodeToString(carolPic)) {
		t.Errorf("the vCard of carol's occupant: %v %s", err, r.XML)
	}

	// Replies both ways: carol's Matrix reply reaches XMPP as an XEP-0461
	// reply quoting alice by nick (no Matrix ID); alice's reply to
	// carol's message is an m.in_reply_to without its quote.
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText,
		Body:      "> <" + string(alicePuppet) + "> live *from* xmpp\n\nnice",
		RelatesTo: &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: live.ID}}}); err != nil {
		t.Fatal(err)
	}
	if re := wait(alice, "carol's reply", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "urn:xmpp:reply:0")
	}); !strings.Contains(re.XML, `id="`+sidOf(liveRefl.XML)+`"`) || strings.Contains(re.XML, "@_xmpp") ||
		!strings.Contains(re.XML, "&gt; alice: live *from* xmpp") || !strings.Contains(re.XML, "nice") {
		t.Errorf("carol's reply: %s", re.XML)
	}
	send(alice, `<message to='`+muc+`' type='groupchat' id='y1'><body>&gt; Carol[m]: hello
agreed</body>`+
		`<reply xmlns='urn:xmpp:reply:0' to='`+occ+`' id='`+sidOf(got.XML)+`'/>`+
		`<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='18'/></fallback></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c matrix.MessageContent
		return e.RoomID == room && e.Sender == alicePuppet && json.Unmarshal(e.Content, &c) == nil && c.RelatesTo != nil &&
			c.RelatesTo.InReplyTo != nil && c.RelatesTo.InReplyTo.EventID == ev && c.Body == "agreed"
	}); err != nil {
		t.Fatalf("alice's reply: %v", err)
	}

	// A ping through the MUC to carol's occupant is answered by the bridge.
	if r, err := alice.IQ(ctx, "op1", `<iq type='get' id='op1' to='`+occ+`'><ping xmlns='urn:xmpp:ping'/></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("ping to carol's occupant: %v %s", err, r.XML)
	}

	// Presence both ways: carol's away reaches the MUC from her
	// occupant; alice's new availability in the MUC is her puppet's.
	if err := carol.SetPresence(ctx, "unavailable", "in a meeting"); err != nil {
		t.Fatal(err)
	}
	if away := wait(alice, "carol's away", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && strings.Contains(s.XML, "in a meeting")
	}); !strings.Contains(away.XML, ">away</show>") {
		t.Errorf("carol's away: %s", away.XML)
	}
	send(alice, `<presence to='`+muc+`/alice'><show>dnd</show><status>focus</status></presence>`)
	poll.Check(t, "alice's puppet presence", 30*time.Second, func() error {
		pr, err := carol.Presence(ctx, alicePuppet)
		if err != nil {
			return err
		}
		if pr.Presence != "unavailable" || pr.StatusMsg != "focus" {
			return fmt.Errorf("presence %+v", pr)
		}
		return nil
	})

	// Chat states: alice composing is her puppet typing; carol typing is
	// composing from her occupant.
	send(alice, `<message to='`+muc+`' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	if _, err := carol.WaitForEvent(ctx, func(e *matrix.Event) bool {
		var c struct {
			UserIDs []matrix.UserID `json:"user_ids"`
		}
		return e.RoomID == room && e.Type == matrix.EventTyping && json.Unmarshal(e.Content, &c) == nil && slices.Contains(c.UserIDs, alicePuppet)
	}); err != nil {
		t.Fatalf("alice's puppet typing: %v", err)
	}
	matrixPut(ctx, t, carol, http.MethodPut, "/rooms/"+url.PathEscape(string(room))+"/typing/"+url.PathEscape(string(carol.UserID)),
		`{"typing":true,"timeout":30000}`)
	wait(alice, "carol composing", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "composing")
	})

	// Alice's XEP-0153 avatar (her vCard photo, its hash in her MUC
	// presence) becomes her puppet's.
	pic := []byte("\x89PNG\r\n\x1a\nalice's avatar, not really a png")
	sum := sha1.Sum(pic)
	if r, err := alice.IQ(ctx, "vc1", `<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+
		base64.StdEncoding.EncodeToString(pic)+`</BINVAL></PHOTO></vCard></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("publishing alice's vCard: %v %s", err, r.XML)
	}
	send(alice, `<presence to='`+muc+`/alice'><x xmlns='vcard-temp:x:update'><photo>`+hex.EncodeToString(sum[:])+`</photo></x></presence>`)
	poll.Check(t, "alice's puppet avatar", 20*time.Second, func() error {
		pr, err := carol.Profile(ctx, alicePuppet)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(pr.AvatarURL, "mxc://") {
			return fmt.Errorf("avatar_url %q", pr.AvatarURL)
		}
		return nil
	})

	// A marker after it: once it is in Matrix, the Matrix message would
	// have come back by now if it were to.
	send(alice, `<message to='`+muc+`' type='groupchat' id='l2'><body>marker</body></message>`)
	if _, err := carol.WaitForMessage(ctx, room, "marker"); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, s := range alice.Received() {
		if s.Name == "message" && strings.Contains(s.XML, "hello from matrix &lt;b&gt;") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("alice got carol's message %d times", count)
	}
	timeline, err := carol.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	echoes := 0
	for _, e := range timeline {
		var c matrix.MessageContent
		if e.Type == matrix.EventMessage && json.Unmarshal(e.Content, &c) == nil && c.Body == "hello from matrix <b>&</b>" {
			echoes++
		}
	}
	if echoes != 1 {
		t.Errorf("carol's message is %d times in the Matrix room", echoes)
	}

	// A new displayname is a new nick in the MUC.
	if err := carol.SetDisplayname(ctx, "Caroline"); err != nil {
		t.Fatal(err)
	}
	moved := wait(alice, "carol's nick change", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && s.Type == "unavailable"
	})
	if !strings.Contains(moved.XML, `code="303"`) || !strings.Contains(moved.XML, `nick="Caroline"`) {
		t.Errorf("nick change: %s", moved.XML)
	}
	occ = muc + "/Caroline"
	wait(alice, "carol's new nick", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && s.Type == ""
	})

	// A bridge restart: carol is back in the MUC, and what was said
	// meanwhile reaches Matrix from the archive.
	s.StopBridge()
	before := len(alice.Received())
	send(alice, `<message to='`+muc+`' type='groupchat' id='d1'><body>said while the bridge was down</body></message>`)
	wait(alice, "reflection while down", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "d1" })
	s.StartBridge()
	if ev, err := carol.WaitForMessage(ctx, room, "said while the bridge was down"); err != nil || ev.Sender != alicePuppet {
		t.Fatalf("caught up after the restart: %v %v", ev, err)
	}
	// The catch-up read the archive again: what was posted is not posted
	// twice (it would come before the message just seen).
	timeline, err = carol.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]int{}
	for _, e := range timeline {
		var c matrix.MessageContent
		if e.Type == matrix.EventMessage && json.Unmarshal(e.Content, &c) == nil {
			bodies[c.Body]++
		}
	}
	for _, b := range []string{"first from xmpp", "second from xmpp", "live *from* xmpp", "marker", "said while the bridge was down"} {
		if bodies[b] != 1 {
			t.Errorf("%q is %d times in the room after the catch-up", b, bodies[b])
		}
	}
	seen := 0
	wait(alice, "carol's occupant after the restart", func(s integration.XMPPStanza) bool {
		seen++
		return seen > before && s.Name == "presence" && s.From == occ && s.Type == ""
	})
	if _, err := carol.SendText(ctx, room, "after the restart"); err != nil {
		t.Fatal(err)
	}
	wait(alice, "carol's message after the restart", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "after the restart")
	})

	// The XMPP server restarts: the (persistent) MUC comes back empty,
	// and carol's occupant joins it again once the component is back.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	alice = integration.DialXMPPResource(t, p.C2SAddr(), "alice", "pw", "again")
	bob = integration.DialXMPPResource(t, p.C2SAddr(), "bob", "pw", "again")
	send(alice, `<presence to='`+muc+`/alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`)
	wait(alice, "carol's occupant after the server restart", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && s.Type == ""
	})
	if _, err := carol.SendText(ctx, room, "after the server restart"); err != nil {
		t.Fatal(err)
	}
	wait(alice, "carol's message after the server restart", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "after the server restart")
	})

	// Leaving the Matrix room leaves the MUC.
	if err := carol.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	wait(alice, "carol's occupant leaving", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == occ && s.Type == "unavailable" && !strings.Contains(s.XML, `code="303"`)
	})

	// Kicked by the room's owner: dave is told, is not joined again,
	// and his next message is reported as not delivered.
	dave := s.User(ctx, "dave")
	if _, err := dave.Join(ctx, string(room)); err != nil {
		t.Fatal(err)
	}
	daveOcc := muc + "/dave"
	wait(alice, "dave's occupant", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == daveOcc && s.Type == ""
	})
	kick, err := alice.IQ(ctx, "k1", `<iq type='set' id='k1' to='`+muc+`'><query xmlns='http://jabber.org/protocol/muc#admin'>`+
		`<item nick='dave' role='none'><reason>off topic</reason></item></query></iq>`)
	if err != nil || kick.Type != "result" {
		t.Fatalf("kick: %v %s", err, kick.XML)
	}
	if _, err := dave.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c matrix.MessageContent
		return ev.RoomID == room && json.Unmarshal(ev.Content, &c) == nil && c.MsgType == matrix.MsgNotice &&
			strings.Contains(c.Body, "kicked") && strings.Contains(c.Body, "off topic")
	}); err != nil {
		t.Fatalf("kick notice: %v", err)
	}
	late, err := dave.SendText(ctx, room, "after the kick")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c matrix.MessageContent
		return ev.RoomID == room && json.Unmarshal(ev.Content, &c) == nil && c.MsgType == matrix.MsgNotice &&
			strings.Contains(c.Body, "Not delivered to XMPP") && c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil &&
			c.RelatesTo.InReplyTo.EventID == late
	}); err != nil {
		t.Fatalf("not-delivered notice: %v", err)
	}
	for _, st := range alice.Received() {
		if st.Name == "message" && strings.Contains(st.XML, "after the kick") {
			t.Errorf("a kicked user's message reached the MUC: %s", st.XML)
		}
	}

	// A room that hides real JIDs: its occupants are puppets of their
	// occupant JIDs. A MUC that does not exist has no alias.
	back := "backroom@" + integration.ProsodyMUC
	send(bob, `<presence to='`+back+`/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	wait(bob, "bob's backroom", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == back+"/bob" && strings.Contains(s.XML, `code="110"`)
	})
	if r, err := bob.IQ(ctx, "cfg2", `<iq type='set' id='cfg2' to='`+back+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'/></query></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("instant room: %v %s", err, r.XML)
	}
	send(bob, `<message to='`+back+`' type='groupchat' id='b1'><body>behind closed doors</body></message>`)
	wait(bob, "backroom reflection", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "b1" })
	backRoom, err := dave.Join(ctx, "#_xmpp_backroom_conference.localhost:localhost")
	if err != nil {
		t.Fatal(err)
	}
	bobNick, err := users.Format(puppet.Values{"name": back + "/bob"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := dave.WaitForMessage(ctx, backRoom, "behind closed doors"); err != nil || ev.Sender != bobNick {
		t.Fatalf("backroom history: %v %v (want from %s)", ev, err, bobNick)
	}
	if _, err := dave.Join(ctx, "#_xmpp_nosuchroom_conference.localhost:localhost"); err == nil {
		t.Error("the alias of a MUC that does not exist was joined")
	}
}
