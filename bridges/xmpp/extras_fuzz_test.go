package xmpp

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// fuzzStanza reads raw as the component would (a start element and its
// content), or returns nil when raw is not one well-formed element.
func fuzzStanza(raw string) *component.Stanza {
	d := xml.NewDecoder(strings.NewReader(raw))
	st := &component.Stanza{}
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil
		}
		tok = xml.CopyToken(tok)
		switch tt := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				st.Start = tt
				continue
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				return st
			}
		}
		if depth > 0 {
			st.Inner = append(st.Inner, tok)
		}
	}
}

// FuzzMUCExtrasParsers: the readers of chat states, displayed markers,
// photo hashes and vCard photos never panic on any stanza, keep within
// their bounds, and what the room builds from what they return (chat
// states, markers, vCards) is well-formed XML that keeps the input in
// its attribute or text.
func FuzzMUCExtrasParsers(f *testing.F) {
	for _, s := range []string{
		`<message type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message type='groupchat'><displayed xmlns='urn:xmpp:chat-markers:0' id='$ev&amp;"x'/></message>`,
		`<presence><x xmlns='vcard-temp:x:update'><photo>01ab</photo></x></presence>`,
		`<iq type='result'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard></iq>`,
		`<iq><vCard xmlns='vcard-temp'><PHOTO><BINVAL><BINVAL>AAAA</BINVAL></BINVAL></PHOTO></vCard></iq>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st := fuzzStanza(raw)
		if st == nil {
			return
		}
		if s := chatState(st); s != "" {
			checkXML(t, chatStateStanza("r@m.test/n", "a@x.org/r", "groupchat", s, "id"))
		}
		if id := displayedID(st); id != "" {
			b := displayedStanza("r@m.test/n", "a@x.org/r", "chat", id, "id")
			checkXML(t, b)
			var m struct {
				Displayed struct {
					ID string `xml:"id,attr"`
				} `xml:"urn:xmpp:chat-markers:0 displayed"`
			}
			if err := xml.Unmarshal(b, &m); err != nil || m.Displayed.ID != id && validXMLText(id) {
				t.Fatalf("id %q came back as %q (%v)", id, m.Displayed.ID, err)
			}
		}
		if h := photoHash(st); len(h) > 128 {
			t.Fatalf("hash of %d bytes", len(h))
		}
		if mime, data, ok := vcardPhoto(st.Inner, maxAvatarBytes); ok {
			if len(data) == 0 || len(data) > maxAvatarBytes || mime == "" {
				t.Fatalf("photo %q of %d bytes", mime, len(data))
			}
			checkXML(t, mustMarshal(vcardEl{FN: raw, Photo: &vcardPhotoEl{Type: mime}}))
		}
	})
}

// validXMLText reports whether s survives XML unchanged (no characters
// XML cannot carry, which the encoder replaces).
func validXMLText(s string) bool {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	var out string
	if xml.Unmarshal([]byte("<a>"+b.String()+"</a>"), &out) != nil {
		return false
	}
	return out == s
}

// checkXML fails unless b is one well-formed element.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v: %s", err, b)
		}
	}
}
