package xmpp

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/internal/poll"
)

// TestPhotoHash: the XEP-0153 hash is read from its element only, in its
// namespace, lower-cased; none or an empty one is "".
func TestPhotoHash(t *testing.T) {
	for i, c := range []struct{ inner, want string }{
		0: {`<x xmlns='vcard-temp:x:update'><photo>ABCdef01</photo></x>`, "abcdef01"},
		1: {`<x xmlns='http://jabber.org/protocol/muc'/><x xmlns='vcard-temp:x:update'><photo> 12ab </photo></x>`, "12ab"},
		2: {`<x xmlns='vcard-temp:x:update'><photo/></x>`, ""},
		3: {`<x xmlns='vcard-temp:x:update'/>`, ""},
		4: {`<x xmlns='urn:other'><photo>12ab</photo></x>`, ""},
		5: {`<status>hi</status>`, ""},
		6: {`<x xmlns='vcard-temp:x:update'><y><photo>deep</photo></y></x>`, ""},
	} {
		st := parse(t, []byte(`<presence from='a@x.org/r' to='r@matrix.test/A'>`+c.inner+`</presence>`))
		if got := photoHash(st); got != c.want {
			t.Errorf("%d: %q, want %q", i, got, c.want)
		}
	}
}

// TestVCardPhoto: the PHOTO of a vCard is decoded (whitespace in the
// base64 allowed), its type guessed when missing; vCards without a
// photo, with bad base64, in another namespace or over the size limit
// have none.
func TestVCardPhoto(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n rest of a png")
	b64 := base64.StdEncoding.EncodeToString(png)
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, maxAvatarBytes+1))
	for i, c := range []struct {
		inner    string
		wantType string // "" for no photo
	}{
		0: {`<vCard xmlns='vcard-temp'><FN>A</FN><PHOTO><TYPE>image/webp</TYPE><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`, "image/webp"},
		1: {`<vCard xmlns='vcard-temp'><PHOTO><BINVAL>` + b64[:8] + "\n " + b64[8:] + `</BINVAL></PHOTO></vCard>`, "image/png"},
		2: {`<vCard xmlns='vcard-temp'><PHOTO><TYPE>text/html</TYPE><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`, "image/png"},
		3: {`<vCard xmlns='vcard-temp'><FN>A</FN></vCard>`, ""},
		4: {`<vCard xmlns='vcard-temp'><PHOTO><BINVAL>!!!</BINVAL></PHOTO></vCard>`, ""},
		5: {`<vCard xmlns='urn:other'><PHOTO><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`, ""},
		6: {`<vCard xmlns='vcard-temp'><PHOTO><BINVAL>` + big + `</BINVAL></PHOTO></vCard>`, ""},
		7: {`<vCard xmlns='vcard-temp'><X><PHOTO><BINVAL>` + b64 + `</BINVAL></PHOTO></X></vCard>`, ""},
	} {
		st := parse(t, []byte(`<iq type='result' id='v'>`+c.inner+`</iq>`))
		typ, data, ok := vcardPhoto(st.Inner, maxAvatarBytes)
		if c.wantType == "" {
			if ok {
				t.Errorf("%d: a photo (%s, %d bytes)", i, typ, len(data))
			}
			continue
		}
		if !ok || typ != c.wantType || !bytes.Equal(data, png) {
			t.Errorf("%d: %q %q %v, want %s", i, typ, data, ok, c.wantType)
		}
	}
}

// TestVCardOfMatrixUsers: a vCard get to a Matrix user's JID, or to a
// Matrix member's occupant JID, is answered (later, from that JID) with
// the displayname and the avatar; a set is refused, a nick nobody has is
// item-not-found, other JIDs are left to the component; the avatar is
// downloaded once for several requests.
func TestVCardOfMatrixUsers(t *testing.T) {
	_, g, h := testGateway(t)
	r := ephemeralRoom(t, g)
	room := `#r\3alocalhost@matrix.test`
	r.occupants["alice@x.org"].RoomJID = room
	png := []byte("\x89PNG\r\n\x1a\nimage bytes")
	h.HS.SetProfile("@carol:localhost", "displayname", "Carol C")
	h.HS.SetProfile("@carol:localhost", "avatar_url", "mxc://localhost/carolpic")
	h.HS.Handle("", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/download/localhost/carolpic") {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
			return
		}
		http.NotFound(w, r)
	})
	ask := func(to, typ string) (bool, string) {
		t.Helper()
		before := len(queued(t, h))
		raw := `<iq type='` + typ + `' id='v1' from='alice@x.org/r' to='` + to + `'><vCard xmlns='vcard-temp'/></iq>`
		if !g.IQ(parse(t, []byte(raw)), jid.MustParse("alice@x.org/r"), jid.MustParse(to)) {
			return false, ""
		}
		var q []string
		poll.Until(t, "the vCard answer", 5*time.Second, func() bool { q = queued(t, h); return len(q) > before })
		return true, q[len(q)-1]
	}
	// Her JID, her nick in a hosted room, and her occupant JID in an
	// existing MUC (which such a MUC asks for a client).
	for _, to := range []string{`carol\3alocalhost@matrix.test`, room + "/Carol", `carol\3alocalhost@matrix.test/` + occupantResource} {
		taken, got := ask(to, "get")
		var card struct {
			XMLName xml.Name `xml:"iq"`
			VCard   struct {
				XMLName xml.Name `xml:"vcard-temp vCard"`
				FN      string   `xml:"FN"`
				Type    string   `xml:"PHOTO>TYPE"`
				BinVal  string   `xml:"PHOTO>BINVAL"`
			} `xml:"vCard"`
		}
		if !taken || xml.Unmarshal([]byte(got), &card) != nil || card.VCard.FN != "Carol C" || card.VCard.Type != "image/png" ||
			card.VCard.BinVal != base64.StdEncoding.EncodeToString(png) || !strings.Contains(got, `type="result"`) ||
			!strings.Contains(got, `from="`+jid.MustParse(to).String()+`"`) {
			t.Errorf("%s: %s", to, got)
		}
	}
	if n := len(requests(h, "/download/localhost/carolpic")); n != 1 {
		t.Errorf("the avatar was downloaded %d times for two vCards, want once", n)
	}
	if _, got := ask(`carol\3alocalhost@matrix.test`, "set"); !strings.Contains(got, "not-allowed") {
		t.Errorf("set: %s", got)
	}
	if _, got := ask(room+"/Nobody", "get"); !strings.Contains(got, "item-not-found") {
		t.Errorf("unknown nick: %s", got)
	}
	if taken, _ := ask("matrix.test", "get"); taken {
		t.Error("a vCard of the domain was taken")
	}
	// The answer is well-formed and escapes the name.
	h.HS.SetProfile("@carol:localhost", "displayname", "</FN><evil/>")
	h.HS.SetProfile("@carol:localhost", "avatar_url", "")
	_, got := ask(`carol\3alocalhost@matrix.test`, "get")
	if strings.Contains(got, "<evil") || xml.Unmarshal([]byte(got), new(struct{})) != nil {
		t.Errorf("escaping: %s", got)
	}
}

// TestOccupantPhotoInPresences: a presence tells a photo hash, an empty
// one (no avatar) or none; the room's presences of an occupant carry
// the hash it told, and none when it told none.
func TestOccupantPhotoInPresences(t *testing.T) {
	for i, c := range []struct {
		inner string
		want  *string
	}{
		0: {`<x xmlns='vcard-temp:x:update'><photo>AB12</photo></x>`, ptr("ab12")},
		1: {`<x xmlns='vcard-temp:x:update'><photo/></x>`, ptr("")},
		2: {`<x xmlns='vcard-temp:x:update'/>`, nil},
		3: {``, nil},
	} {
		got := presencePhoto(parse(t, []byte(`<presence>`+c.inner+`</presence>`)))
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%d: %v, want %v", i, got, c.want)
		}
	}
	ctx := t.Context()
	_, g, h := testGateway(t)
	r := ephemeralRoom(t, g)
	r.occupants["alice@x.org"].Photo = ptr("ab12")
	bob := &occupant{RoomJID: "room@matrix.test", Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"),
		Puppet: "@_xmpp_bob=40x.org:localhost", joining: true}
	r.occupants[bob.Real] = bob
	g.mu.Lock()
	g.sendJoin(ctx, r, bob, "bob@x.org/r", "", true, nil, nil)
	g.mu.Unlock()
	var alice, self string
	for _, s := range queued(t, h) {
		switch {
		case strings.HasPrefix(s, `<presence from="room@matrix.test/Alice" to="bob@x.org/r"`):
			alice = s
		case strings.HasPrefix(s, `<presence from="room@matrix.test/Bob" to="bob@x.org/r"`):
			self = s
		}
	}
	if !strings.Contains(alice, `<x xmlns="vcard-temp:x:update"><photo xmlns="vcard-temp:x:update">ab12</photo></x>`) {
		t.Errorf("alice's presence: %s", alice)
	}
	if self == "" || strings.Contains(self, "vcard-temp:x:update") {
		t.Errorf("bob's presence, who told no photo: %s", self)
	}
}

func ptr(s string) *string { return &s }

// TestAvatarCacheBounded: the cache of Matrix avatars keeps the last
// avatarCacheSize, failures to use included, the oldest forgotten first.
func TestAvatarCacheBounded(t *testing.T) {
	var c avatarCache
	for i := range avatarCacheSize + 5 {
		c.put("mxc://hs/"+strconv.Itoa(i), &vcardPhotoEl{Type: "image/png"})
	}
	c.put("mxc://hs/big", nil)
	if len(c.m) != avatarCacheSize || len(c.order) != avatarCacheSize {
		t.Fatalf("%d kept", len(c.m))
	}
	if _, ok := c.get("mxc://hs/0"); ok {
		t.Error("the oldest was kept")
	}
	if p, ok := c.get("mxc://hs/big"); !ok || p != nil {
		t.Error("an unusable avatar was not remembered as such")
	}
}
