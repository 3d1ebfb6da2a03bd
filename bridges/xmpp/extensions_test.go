package xmpp

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// innerOf decodes raw, a message, and returns its content tokens (nil
// when raw is not one well-formed element).
func innerOf(raw string) []xml.Token {
	d := xml.NewDecoder(strings.NewReader(raw))
	var inner []xml.Token
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		tok = xml.CopyToken(tok)
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				continue
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				return inner
			}
		}
		if depth == 0 {
			continue // text or comments before the element
		}
		inner = append(inner, tok)
	}
}

func TestParseExt(t *testing.T) {
	for i, c := range []struct {
		raw  string
		want msgExt
	}{
		0: {`<message><body>x</body></message>`, msgExt{}},
		1: {`<message><body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>`, msgExt{Replace: "m1"}},
		2: {`<message><retract xmlns='urn:xmpp:message-retract:1' id='$e'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>fb</body></message>`,
			msgExt{Retract: "$e", Fallbacks: []fallbackRange{{For: nsRetract, All: true}}}},
		3: {`<message><apply-to xmlns='urn:xmpp:fasten:0' id='o1'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`,
			msgExt{Retract: "o1"}},
		// The current form wins over the old one.
		4: {`<message><apply-to xmlns='urn:xmpp:fasten:0' id='old'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to><retract xmlns='urn:xmpp:message-retract:1' id='new'/></message>`,
			msgExt{Retract: "new"}},
		// Fastening of something else is no retraction.
		5: {`<message><apply-to xmlns='urn:xmpp:fasten:0' id='o1'><other xmlns='x'/></apply-to></message>`, msgExt{}},
		6: {`<message><reactions xmlns='urn:xmpp:reactions:0' id='$e'><reaction>👍</reaction><reaction> 🎉 </reaction><reaction>👍</reaction><reaction></reaction></reactions></message>`,
			msgExt{HasReactions: true, ReactionsTo: "$e", Reactions: []string{"👍", "🎉"}}},
		7: {`<message><reactions xmlns='urn:xmpp:reactions:0' id='$e'/></message>`,
			msgExt{HasReactions: true, ReactionsTo: "$e", Reactions: []string{}}},
		// Reactions without an id name no message.
		8: {`<message><reactions xmlns='urn:xmpp:reactions:0'><reaction>👍</reaction></reactions></message>`, msgExt{}},
		9: {`<message><body>&gt; Bob: hi
yes</body><reply xmlns='urn:xmpp:reply:0' to='r@m/Bob' id='$e'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='10'/></fallback></message>`,
			msgExt{ReplyTo: "r@m/Bob", ReplyID: "$e", Fallbacks: []fallbackRange{{For: nsReply, Start: 0, End: 10}}}},
		// Ranges that make no sense are dropped.
		10: {`<message><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='5' end='2'/><body start='x' end='2'/><body start='-1' end='2'/><body start='1'/></fallback></message>`,
			msgExt{}},
		// Unknown namespaces and same names elsewhere are ignored.
		11: {`<message><replace xmlns='urn:other' id='m1'/><reply id='x'/><reactions id='y'/></message>`, msgExt{}},
	} {
		got := parseExt(innerOf(c.raw))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%d: parseExt = %+v, want %+v", i, got, c.want)
		}
	}
}

func TestParseModerate(t *testing.T) {
	for i, c := range []struct {
		raw        string
		id, reason string
		ok         bool
	}{
		0: {`<iq><moderate xmlns='urn:xmpp:message-moderate:1' id='$e'><retract xmlns='urn:xmpp:message-retract:1'/><reason> spam </reason></moderate></iq>`, "$e", "spam", true},
		1: {`<iq><apply-to xmlns='urn:xmpp:fasten:0' id='$e'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/><reason>r</reason></moderate></apply-to></iq>`, "$e", "r", true},
		2: {`<iq><moderate xmlns='urn:xmpp:message-moderate:1' id='$e'/></iq>`, "", "", false},
		3: {`<iq><moderate xmlns='urn:xmpp:message-moderate:1'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`, "", "", false},
		4: {`<iq><apply-to xmlns='urn:xmpp:fasten:0' id='$e'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></iq>`, "", "", false},
	} {
		id, reason, ok := parseModerate(innerOf(c.raw))
		if id != c.id || reason != c.reason || ok != c.ok {
			t.Errorf("%d: parseModerate = %q %q %v, want %q %q %v", i, id, reason, ok, c.id, c.reason, c.ok)
		}
	}
}

func TestStripFallbacks(t *testing.T) {
	quote := "> Bob: 🎉 hi\n"
	n := utf8.RuneCountInString(quote)
	for i, c := range []struct {
		body   string
		ranges []fallbackRange
		want   string
		all    bool
	}{
		0: {quote + "yes", []fallbackRange{{For: nsReply, End: n}}, "yes", false},
		1: {quote + "yes", []fallbackRange{{For: "other", End: n}}, quote + "yes", false},
		2: {"short", []fallbackRange{{For: nsReply, Start: 2, End: 99}}, "sh", false},
		3: {"abcdef", []fallbackRange{{For: nsReply, Start: 0, End: 2}, {For: nsReply, Start: 1, End: 3}}, "def", false},
		4: {"abc", []fallbackRange{{For: nsReply, All: true}}, "", true},
		5: {"abc", []fallbackRange{{For: nsReply, Start: 9, End: 12}}, "abc", false},
	} {
		got, all := stripFallbacks(c.body, c.ranges, nsReply)
		if got != c.want || all != c.all {
			t.Errorf("%d: stripFallbacks = %q %v, want %q %v", i, got, all, c.want, c.all)
		}
	}
}

// FuzzParseExt: whatever a message holds, the extension parser neither
// panics nor returns reactions over the limits, and stripping any
// fallback it found gives valid UTF-8 no longer than the body.
func FuzzParseExt(f *testing.F) {
	f.Add(`<message><body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>`)
	f.Add(`<message><reactions xmlns='urn:xmpp:reactions:0' id='$e'><reaction>👍</reaction></reactions></message>`)
	f.Add(`<message><body>&gt; a: b
c</body><reply xmlns='urn:xmpp:reply:0' to='r@m/a' id='$e'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='7'/></fallback></message>`)
	f.Add(`<message><apply-to xmlns='urn:xmpp:fasten:0' id='o'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`)
	f.Add(`<iq><moderate xmlns='urn:xmpp:message-moderate:1' id='$e'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`)
	f.Fuzz(func(t *testing.T, raw string) {
		inner := innerOf(raw)
		e := parseExt(inner)
		_, _, _ = parseModerate(inner)
		if len(e.Reactions) > maxReactions {
			t.Fatalf("%d reactions", len(e.Reactions))
		}
		for _, r := range e.Reactions {
			if r == "" || len(r) > maxReaction || !utf8.ValidString(r) {
				t.Fatalf("reaction %q", r)
			}
		}
		for _, fb := range e.Fallbacks {
			if !fb.All && (fb.Start < 0 || fb.End < fb.Start) {
				t.Fatalf("range %+v", fb)
			}
		}
		body := "> quoted 🎉\nanswer"
		got, _ := stripFallbacks(body, e.Fallbacks, nsReply)
		if !utf8.ValidString(got) || len(got) > len(body) {
			t.Fatalf("stripped %q", got)
		}
	})
}

func TestReactionDiff(t *testing.T) {
	have := []reaction{{"$a", "👍"}, {"$b", "🎉"}, {"$c", "👍"}}
	for i, c := range []struct {
		want []string
		add  []string
		drop []reaction
	}{
		0: {[]string{"👍", "🎉"}, nil, []reaction{{"$c", "👍"}}},
		1: {[]string{"🎉"}, nil, []reaction{{"$a", "👍"}, {"$c", "👍"}}},
		2: {[]string{}, nil, have},
		3: {[]string{"❤", "🎉", "👍"}, []string{"❤"}, []reaction{{"$c", "👍"}}},
	} {
		add, drop := reactionDiff(have, c.want)
		if !reflect.DeepEqual(add, c.add) || !reflect.DeepEqual(drop, c.drop) {
			t.Errorf("%d: reactionDiff = %v %v, want %v %v", i, add, drop, c.add, c.drop)
		}
	}
	if add, drop := reactionDiff(nil, []string{"a", "b"}); !reflect.DeepEqual(add, []string{"a", "b"}) || drop != nil {
		t.Errorf("from nothing: %v %v", add, drop)
	}
	if got := reactionKeys(have); !reflect.DeepEqual(got, []string{"👍", "🎉"}) {
		t.Errorf("reactionKeys = %v", got)
	}
}

func TestReactionRemoteID(t *testing.T) {
	id := reactionRemoteID("$e/1:x", "@a/b:x", "👍/x")
	ev, u, key, ok := parseReactionRemoteID(id)
	if !ok || ev != "$e/1:x" || u != "@a/b:x" || key != "👍/x" || strings.Contains(id, "\t") {
		t.Fatalf("%q → %q %q %q %v", id, ev, u, key, ok)
	}
	if _, _, _, ok := parseReactionRemoteID(msgRemoteID("!r:x", "a@b", "m1")); ok {
		t.Fatal("a message's link read as a reaction's")
	}
	if real, ok := parseMsgRemoteID(msgRemoteID("!r:x", "a@b/c", "m/1")); !ok || real != "a@b/c" {
		t.Fatalf("parseMsgRemoteID: %q %v", real, ok)
	}
}

func TestRelStanza(t *testing.T) {
	body := "fixed </body><evil/>"
	for i, c := range []struct {
		from string
		m    relOut
		want []string
		not  []string
	}{
		0: {"r@m/Carol", relOut{ID: "$ed", Body: &body, Replace: "$orig", StanzaID: "$ed"}, []string{
			`from="r@m/Carol"`, `<replace xmlns="urn:xmpp:message-correct:0" id="$orig"></replace>`,
			`fixed &lt;/body&gt;&lt;evil/&gt;`, `<stanza-id xmlns="urn:xmpp:sid:0" id="$ed" by="r@m">`}, []string{"<evil"}},
		1: {"r@m/Carol", relOut{ID: "$red", Retract: "$orig"}, []string{
			`<retract xmlns="urn:xmpp:message-retract:1" id="$orig"></retract>`,
			`<apply-to xmlns="urn:xmpp:fasten:0" id="$orig"><retract xmlns="urn:xmpp:message-retract:0"></retract></apply-to>`,
			`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:message-retract:1"></fallback>`, `<body>This person attempted`,
			`<store xmlns="urn:xmpp:hints"></store>`}, []string{"moderated"}},
		2: {"r@m", relOut{ID: "$red", Retract: "$orig", ModeratedBy: "Mod", Reason: "spam <3"}, []string{
			`from="r@m"`, `<retract xmlns="urn:xmpp:message-retract:1" id="$orig"><moderated xmlns="urn:xmpp:message-moderate:1" by="r@m/Mod"></moderated><reason>spam &lt;3</reason></retract>`,
			`<moderated xmlns="urn:xmpp:message-moderate:0" by="r@m/Mod"><retract xmlns="urn:xmpp:message-retract:0"></retract><reason>spam &lt;3</reason></moderated>`},
			[]string{"<body", "fallback"}},
		3: {"r@m/Carol", relOut{ID: "$rx", HasReactions: true, ReactionsTo: "$orig", Reactions: []string{"👍", "<"}}, []string{
			`<reactions xmlns="urn:xmpp:reactions:0" id="$orig"><reaction>👍</reaction><reaction>&lt;</reaction></reactions>`}, []string{"<body"}},
		4: {"r@m/Carol", relOut{ID: "$rx", HasReactions: true, ReactionsTo: "$orig", Reactions: []string{}}, []string{
			`<reactions xmlns="urn:xmpp:reactions:0" id="$orig"></reactions>`}, nil},
		5: {"r@m/Carol", relOut{ID: "$re", Body: &body, ReplyID: "$orig", ReplyNick: "Bob", ReplyQuote: 9}, []string{
			`<reply xmlns="urn:xmpp:reply:0" to="r@m/Bob" id="$orig"></reply>`,
			`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="9"></body></fallback>`}, nil},
	} {
		got := string(relStanza(c.from, "a@x/r", "r@m", c.m))
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%d: lacks %s: %s", i, w, got)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("%d: has %s: %s", i, w, got)
			}
		}
		if err := xml.Unmarshal([]byte(got), new(struct{})); err != nil {
			t.Errorf("%d: not well-formed: %v", i, err)
		}
	}
}
