package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestParseModerated: both forms of a MUC's moderation announcement are
// read (target stanza-id, moderator's nick, reason); a plain retraction
// is none, and a "by" outside the MUC names no nick.
func TestParseModerated(t *testing.T) {
	for _, c := range []struct {
		name, xml string
		want      moderation
		ok        bool
	}{
		{"current", `<message from='` + testMUC + `' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1' id='s1'>` +
			`<moderated xmlns='urn:xmpp:message-moderate:1' by='` + testMUC + `/Mod'><occupant-id xmlns='urn:xmpp:occupant-id:0' id='o'/></moderated>` +
			`<reason>spam</reason></retract><body>retracted</body></message>`, moderation{"s1", "Mod", "spam"}, true},
		{"old", `<message from='` + testMUC + `' type='groupchat'><apply-to xmlns='urn:xmpp:fasten:0' id='s2'>` +
			`<moderated xmlns='urn:xmpp:message-moderate:0' by='` + testMUC + `/Mod'><retract xmlns='urn:xmpp:message-retract:0'/>` +
			`<reason>rude</reason></moderated></apply-to></message>`, moderation{"s2", "Mod", "rude"}, true},
		{"plain retraction", `<message from='` + testMUC + `/A' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1' id='s3'/></message>`,
			moderation{}, false},
		{"foreign by", `<message from='` + testMUC + `' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1' id='s4'>` +
			`<moderated xmlns='urn:xmpp:message-moderate:1' by='other@x.org/Mod'/></retract></message>`, moderation{"s4", "", ""}, true},
	} {
		got, ok := parseModerated(parse(t, []byte(c.xml)).Inner, testMUC)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// TestModerateRequest: the request names the stanza-id in the form the
// MUC advertised, from the occupant, and escapes the Matrix reason.
func TestModerateRequest(t *testing.T) {
	cur := string(moderateRequest(testSelf, testMUC, nsModerate, "s1", "<b>spam</b>"))
	for _, want := range []string{`<iq from="` + testSelf + `" to="` + testMUC + `" type="set">`,
		`<moderate xmlns="urn:xmpp:message-moderate:1" id="s1"><retract xmlns="urn:xmpp:message-retract:1"></retract>`,
		`<reason>&lt;b&gt;spam&lt;/b&gt;</reason>`} {
		if !strings.Contains(cur, want) {
			t.Errorf("request lacks %s: %s", want, cur)
		}
	}
	old := string(moderateRequest(testSelf, testMUC, nsModerate0, "s1", ""))
	if !strings.Contains(old, `<apply-to xmlns="urn:xmpp:fasten:0" id="s1"><moderate xmlns="urn:xmpp:message-moderate:0">`+
		`<retract xmlns="urn:xmpp:message-retract:0"></retract></moderate></apply-to>`) || strings.Contains(old, "reason") {
		t.Errorf("old request: %s", old)
	}
}

// TestReverseModeration: a Matrix redaction of someone else's message
// is a moderation request only from a moderator and in a MUC that
// supports it (else ErrUnsupported, which the core tells); a request
// the MUC does not answer is told in the room. The MUC's moderation
// announcement, received by two occupants, redacts the linked event
// once, as the bot, with the moderator and reason; one made by the
// bridge's own occupant is not redacted again.
func TestReverseModeration(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	m.cfg.MUCBackfill = 0
	rv := newReverse(m, g)
	m.rev = rv
	room := matrix.RoomID("!portal:localhost")
	rp := rv.add(room, testMUC)
	from := func(nick string) jid.JID { return jid.MustParse(testMUC + "/" + nick) }
	daveSelf := `dave\3alocalhost@matrix.test/` + occupantResource

	rv.membership(ctx, rp, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Carol"})
	rv.membership(ctx, rp, "@dave:localhost", matrix.MemberContent{Membership: "join", Displayname: "Dave"})
	self := func(nick, to, role string) string {
		return `<presence from='` + testMUC + `/` + nick + `' to='` + to + `'><x xmlns='http://jabber.org/protocol/muc#user'>` +
			`<item affiliation='none' role='` + role + `'/><status code='110'/></x></presence>`
	}
	rv.presence(ctx, rp, parse(t, []byte(self("Carol", testSelf, "participant"))), from("Carol"), jid.MustParse(testSelf))
	rv.presence(ctx, rp, parse(t, []byte(self("Dave", daveSelf, "participant"))), from("Dave"), jid.MustParse(daveSelf))

	// Alice's message, known by its stanza-id.
	h.HS.PutEvent(fakehs.Event{ID: "$hello", Room: room, Sender: "@_xmpp_alice=40x.org:localhost", Type: matrix.EventMessage,
		Content: json.RawMessage(`{"body":"hello"}`)})
	if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: revKeyPrefix + testMUC + "/s1"}, Room: room, Event: "$hello"}); err != nil {
		t.Fatal(err)
	}
	rv.rememberSID(ctx, "$hello", "s1")
	red := &bridges.Redaction{Portal: &bridges.Portal{Key: bridges.PortalKey{ID: revPortalPrefix + testMUC}, Room: room},
		Event: &matrix.Event{ID: "$red", Sender: "@carol:localhost"}, Target: "$hello", Reason: "spam"}

	// A participant may not moderate.
	if err := rv.redact(ctx, rp, red); !errors.Is(err, bridges.ErrUnsupported) {
		t.Fatalf("a participant's moderation: %v", err)
	}
	// A moderator (the MUC said so in a later self-presence) in a MUC
	// without moderation may not either.
	rv.presence(ctx, rp, parse(t, []byte(self("Carol", testSelf, "moderator"))), from("Carol"), jid.MustParse(testSelf))
	rv.mu.Lock()
	role := rp.clients["@carol:localhost"].role
	rp.modNS, rp.modAt = "", time.Now()
	rv.mu.Unlock()
	if role != "moderator" {
		t.Fatalf("role after the presence: %q", role)
	}
	if err := rv.redact(ctx, rp, red); !errors.Is(err, bridges.ErrUnsupported) {
		t.Fatalf("a moderation in a MUC without it: %v", err)
	}
	// In a MUC with moderation it is sent; this component is not
	// connected, so the room is told it did not go.
	rv.mu.Lock()
	rp.modNS = nsModerate
	rv.mu.Unlock()
	if err := rv.redact(ctx, rp, red); err != nil {
		t.Fatalf("a moderator's moderation: %v", err)
	}
	poll.Until(t, "the notice of an unanswered moderation", 10*time.Second, func() bool {
		for _, op := range h.Sent.Ops() {
			if op.Kind == intent.OpMessage && strings.Contains(string(op.Content), "did not answer the moderation") {
				return true
			}
		}
		return false
	})

	// The MUC's announcement, to both occupants: one redaction by the bot.
	ann := `<message from='` + testMUC + `' to='%s' type='groupchat' id='m1'><retract xmlns='urn:xmpp:message-retract:1' id='s1'>` +
		`<moderated xmlns='urn:xmpp:message-moderate:1' by='` + testMUC + `/Mod'/><reason>off topic</reason></retract>` +
		`<body>This message has been moderated</body></message>`
	for _, to := range []string{testSelf, daveSelf} {
		rv.message(ctx, rp, parse(t, []byte(strings.Replace(ann, "%s", to, 1))), jid.MustParse(testMUC), jid.MustParse(to))
	}
	var reds []intent.Op
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpRedaction {
			reds = append(reds, op)
		}
	}
	if len(reds) != 1 || reds[0].Sender != "" || reds[0].Redacts != "$hello" || !strings.Contains(reds[0].Reason, "Mod") ||
		!strings.Contains(reds[0].Reason, "off topic") {
		t.Fatalf("redactions after the announcement: %+v", reds)
	}
	// Carol's own moderation, announced back: not redacted again.
	if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: revKeyPrefix + testMUC + "/s2"}, Room: room, Event: "$other"}); err != nil {
		t.Fatal(err)
	}
	mine := strings.NewReplacer("id='s1'", "id='s2'", "/Mod", "/Carol", "%s", testSelf).Replace(ann)
	rv.message(ctx, rp, parse(t, []byte(mine)), jid.MustParse(testMUC), jid.MustParse(testSelf))
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpRedaction && op.Redacts == "$other" {
			t.Fatalf("the bridge's own moderation redacted again: %+v", op)
		}
	}
}
