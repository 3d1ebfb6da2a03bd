package component

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
)

// recorder is the session side of a handler call: it serves the stanza's
// tokens and records what the handler writes.
type recorder struct {
	xml.TokenReader
	out strings.Builder
	enc *xml.Encoder
}

// EncodeToken drops xmlns attributes of namespaced elements, as mellium's
// session encoder does.
func (r *recorder) EncodeToken(t xml.Token) error {
	if s, ok := t.(xml.StartElement); ok {
		t = withoutXMLNS(s)
	}
	return r.enc.EncodeToken(t)
}
func (r *recorder) Flush() error       { return r.enc.Flush() }
func (r *recorder) Encode(v any) error { return r.enc.Encode(v) }
func (r *recorder) EncodeElement(v any, s xml.StartElement) error {
	return r.enc.EncodeElement(v, s)
}

// call runs the handler on raw the way mellium's Serve does (the reader
// yields the content and then the end element) and returns what it wrote.
func call(t *testing.T, h *handler, raw string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	rec := &recorder{TokenReader: xmlstream.InnerElement(d)}
	rec.enc = xml.NewEncoder(&rec.out)
	if err := h.HandleXMPP(rec, &start); err != nil {
		t.Fatalf("handler returned %v: it must never end the session", err)
	}
	_ = rec.enc.Flush()
	return rec.out.String()
}

func testHandler() *handler {
	return &handler{domain: jid.MustParse("matrix.test"), maxBytes: 1024, log: slog.New(slog.DiscardHandler)}
}

// TestHandlerHostile: no input makes the handler return an error; each
// gets the expected answer (or none), always with a from.
func TestHandlerHostile(t *testing.T) {
	h := testHandler()
	for i, tt := range []struct {
		raw  string
		want []string // substrings of the answer; nil: no answer
	}{
		0: {`<iq type='get' id='1' from='a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{`<iq from="matrix.test" to="a@x/r" id="1" type="result"`}},
		// A sender that fails PRECIS (bidi rule) ended mellium sessions.
		1: {"<message type='chat' id='2' from='\u05d0a@x/r' to='u@matrix.test'><body>x</body></message>", nil},
		2: {`<message id='3' from='a@x/r'><body>x</body></message>`, []string{`from="matrix.test"`, "jid-malformed"}},
		3: {`<iq type='get' id='4' from='a@x/r' to='a b@matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{`from="matrix.test"`, "jid-malformed"}},
		4: {`<iq type='get' id='5' from='a@x/r' to='other.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{`from="matrix.test"`, "item-not-found"}},
		5: {`<message id='6' from='a@x/r' to='matrix.test'><body>` + strings.Repeat("A", 2000) + `</body></message>`,
			[]string{`from="matrix.test"`, "policy-violation"}},
		6: {`<iq type='get' id='7' from='a@x/r' to='matrix.test'><q xmlns='urn:nope'/></iq>`,
			[]string{"service-unavailable"}},
		7: {`<iq type='weird' id='8' from='a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{"bad-request"}},
		8:  {`<iq type='error' id='9' from='a@x/r' to='matrix.test'/>`, nil},
		9:  {`<iq type='result' id='10' from='a@x/r' to='matrix.test'/>`, nil},
		10: {`<presence from='a@x/r' to='r@matrix.test/n'/>`, nil},
		11: {`<iq type='get' id='12' from='a@x/r' to='r@matrix.test/n'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			[]string{`from="r@matrix.test/n"`, "item-not-found"}},
		12: {`<message type='headline' id='13' from='a@x/r' to='matrix.test'><body>x</body></message>`, nil},
		14: {"<iq type='get' id='15' from='\u05d0a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>",
			[]string{`from="matrix.test"`, `type="error"`, "jid-malformed"}},
		15: {`<iq type='set' id='16' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{`from="matrix.test" to="matrix.test"`, "jid-malformed"}},
		13: {`<iq type='get' id='"&lt;' from='a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`,
			[]string{`id="&#34;&lt;"`, "result"}},
	} {
		got := call(t, h, tt.raw)
		if tt.want == nil {
			if got != "" {
				t.Errorf("%d: want no answer, got %s", i, got)
			}
			continue
		}
		if strings.Contains(got, `xmpp-stanzas" xmlns=`) {
			t.Errorf("%d: namespaces declared more than once: %s", i, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%d: answer lacks %q: %s", i, w, got)
			}
		}
	}
}

// TestHandlerDiscoInfo: the domain answers as a conference service and a
// gateway with its features.
func TestHandlerDiscoInfo(t *testing.T) {
	got := call(t, testHandler(), `<iq type='get' id='d' from='a@x/r' to='matrix.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	for _, w := range []string{`type="result"`, `from="matrix.test"`, `category="conference"`, `category="gateway"`,
		`var="urn:xmpp:ping"`, `var="http://jabber.org/protocol/disco#items"`} {
		if !strings.Contains(got, w) {
			t.Errorf("disco#info lacks %s: %s", w, got)
		}
	}
}

// failingWriter fails every write, like a connection that went away.
type failingWriter struct{ xml.TokenReader }

func (failingWriter) EncodeToken(xml.Token) error { return errors.New("broken pipe") }
func (failingWriter) Encode(any) error            { return errors.New("broken pipe") }
func (failingWriter) EncodeElement(any, xml.StartElement) error {
	return errors.New("broken pipe")
}

// TestHandlerWriteError: a reply that cannot be written is logged, not
// returned.
func TestHandlerWriteError(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(`<iq type='get' id='1' from='a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`))
	tok, _ := d.Token()
	start := tok.(xml.StartElement)
	if err := testHandler().HandleXMPP(failingWriter{xmlstream.InnerElement(d)}, &start); err != nil {
		t.Fatal(err)
	}
}

// FuzzHandler: whatever a stanza holds, the handler neither panics nor
// returns an error.
func FuzzHandler(f *testing.F) {
	f.Add(`<iq type='get' id='1' from='a@x/r' to='matrix.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
	f.Add("<message from='\u05d0a@x' to='matrix.test'><body>x</body></message>")
	f.Add(`<presence from='a@x/r' to='r@matrix.test/n' type='x'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	f.Fuzz(func(t *testing.T, raw string) {
		d := xml.NewDecoder(strings.NewReader(raw))
		tok, err := d.Token()
		start, ok := tok.(xml.StartElement)
		if err != nil || !ok {
			return
		}
		rec := &recorder{TokenReader: xmlstream.InnerElement(d)}
		rec.enc = xml.NewEncoder(&rec.out)
		if err := testHandler().HandleXMPP(rec, &start); err != nil {
			t.Fatalf("handler returned %v", err)
		}
	})
}
