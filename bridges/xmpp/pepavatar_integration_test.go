//go:build integration

package xmpp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPPEPAvatars: XEP-0084 avatars both ways on Prosody
// (mod_pep, mod_vcard) and Dendrite. alice has a vCard photo and a
// different PEP avatar (open access): when she joins a hosted room
// telling the vCard's hash, her puppet gets the PEP one; dave's PEP
// avatar is over max_avatar_bytes, so his puppet gets his vCard photo. bob (PEP only,
// the default 'presence' access model) subscribes to Carol's JID and
// approves hers: his presence to it gets his puppet his avatar (asked
// from Carol's JID); a new avatar with a new hash in his presence
// replaces it, and one published later reaches the bridge as a PEP
// notification (Carol's presence names caps with +notify), with no
// presence from bob. Carol's Matrix avatar is served as the metadata and data
// nodes of her JID (an id that is not hers and publishing are refused),
// bob is told its metadata when subscribed,
// and when she changes it bob gets a metadata notification with the new
// id and can fetch the new data. Also: a captioned Matrix image reaches
// the MUC with its caption as a body line and as the OOB desc.
func TestIntegrationXMPPPEPAvatars(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"),
		integration.WithProsodyUser("dave", "pw"), integration.WithProsodyModules("pep", "vcard"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{EphemeralSync: true,
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q, max_avatar_bytes: 2048}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public",
		Name: "Avatars", RoomAliasName: "Avatars"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#Avatars:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	puppetOf := func(name string) matrix.UserID {
		u, err := users.Format(puppet.Values{"name": name + "@" + integration.ProsodyHost})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cj, err := address.UserJID(jid.MustParse(domain), carol.UserID)
	if err != nil {
		t.Fatal(err)
	}
	carolJID := cj.String()
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	bob := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	n := 0
	iq := func(c *integration.XMPPClient, typ, to, payload string) integration.XMPPStanza {
		t.Helper()
		n++
		id := fmt.Sprintf("p%d", n)
		toAttr := ""
		if to != "" {
			toAttr = ` to='` + to + `'`
		}
		r, err := c.IQ(ctx, id, `<iq type='`+typ+`' id='`+id+`'`+toAttr+`>`+payload+`</iq>`)
		if err != nil {
			t.Fatalf("iq to %q: %v", to, err)
		}
		return r
	}
	const ping = `<ping xmlns='urn:xmpp:ping'/>`
	poll.Check(t, "the component", 20*time.Second, func() error {
		if r := iq(alice, "get", domain, ping); r.Type != "result" {
			return fmt.Errorf("ping: %s", r.XML)
		}
		return nil
	})
	wait := func(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := c.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	// publish publishes pic as c's PEP avatar (data, then metadata).
	publish := func(c *integration.XMPPClient, pic []byte, access string) string {
		t.Helper()
		id := photoSum(pic)
		opts := ""
		if access != "" {
			opts = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>` +
				`<value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>` +
				access + `</value></field></x></publish-options>`
		}
		for _, item := range []string{
			`<publish node='urn:xmpp:avatar:data'><item id='` + id + `'><data xmlns='urn:xmpp:avatar:data'>` +
				base64.StdEncoding.EncodeToString(pic) + `</data></item></publish>`,
			`<publish node='urn:xmpp:avatar:metadata'><item id='` + id + `'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='` +
				fmt.Sprint(len(pic)) + `' id='` + id + `' type='image/png' width='1' height='1'/></metadata></item></publish>`,
		} {
			if r := iq(c, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'>`+item+opts+`</pubsub>`); r.Type != "result" {
				t.Fatalf("publishing an avatar: %s", r.XML)
			}
		}
		return id
	}
	// avatarIs waits for the avatar of puppet u to be pic.
	avatarIs := func(what string, u matrix.UserID, pic []byte) {
		t.Helper()
		poll.Check(t, what, 20*time.Second, func() error {
			pr, err := carol.Profile(ctx, u)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(pr.AvatarURL, "mxc://") {
				return fmt.Errorf("avatar_url %q", pr.AvatarURL)
			}
			if got := matrixGet(ctx, t, carol, "/_matrix/media/v3/download/"+strings.TrimPrefix(pr.AvatarURL, "mxc://")); !bytes.Equal(got, pic) {
				return fmt.Errorf("avatar is %q, want %q", got, pic)
			}
			return nil
		})
	}

	// alice: a vCard photo and another PEP avatar; the PEP one wins.
	vcardPic := []byte("\x89PNG\r\n\x1a\nalice's vCard photo")
	if r := iq(alice, "set", "", `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+
		base64.StdEncoding.EncodeToString(vcardPic)+`</BINVAL></PHOTO></vCard>`); r.Type != "result" {
		t.Fatalf("publishing alice's vCard: %s", r.XML)
	}
	alicePic := []byte("\x89PNG\r\n\x1a\nalice's PEP avatar")
	publish(alice, alicePic, "open")
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/>`+
		`<x xmlns='vcard-temp:x:update'><photo>`+photoSum(vcardPic)+`</photo></x></presence>`); err != nil {
		t.Fatal(err)
	}
	avatarIs("alice's puppet avatar from PEP", puppetOf("alice"), alicePic)

	// dave's PEP avatar is over max_avatar_bytes (2048): his puppet gets
	// his vCard photo instead.
	dave := integration.DialXMPP(t, p.C2SAddr(), "dave", "pw")
	davePic := []byte("\x89PNG\r\n\x1a\ndave's vCard photo")
	if r := iq(dave, "set", "", `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+
		base64.StdEncoding.EncodeToString(davePic)+`</BINVAL></PHOTO></vCard>`); r.Type != "result" {
		t.Fatalf("publishing dave's vCard: %s", r.XML)
	}
	publish(dave, bytes.Repeat([]byte("big "), 1024), "open")
	if err := dave.Send(ctx, `<presence to='`+muc+`/Dave'><x xmlns='http://jabber.org/protocol/muc'/>`+
		`<x xmlns='vcard-temp:x:update'><photo>`+photoSum(davePic)+`</photo></x></presence>`); err != nil {
		t.Fatal(err)
	}
	avatarIs("dave's puppet avatar from his vCard", puppetOf("dave"), davePic)

	// Carol's avatar, served as PEP nodes of her JID.
	setCarolAvatar := func(pic []byte) string {
		t.Helper()
		var up struct {
			ContentURI string `json:"content_uri"`
		}
		if err := json.Unmarshal(matrixDo(ctx, t, carol, http.MethodPost, "/_matrix/media/v3/upload?filename=c.gif", "image/gif", pic), &up); err != nil {
			t.Fatal(err)
		}
		matrixPut(ctx, t, carol, http.MethodPut, "/profile/"+url.PathEscape(string(carol.UserID))+"/avatar_url",
			`{"avatar_url":"`+up.ContentURI+`"}`)
		return up.ContentURI
	}
	carolPic := []byte("GIF89a carol's first avatar")
	carolMXC := setCarolAvatar(carolPic)
	readCarol := func(c *integration.XMPPClient, pic []byte) {
		t.Helper()
		var meta struct {
			Info struct {
				ID    string `xml:"id,attr"`
				Bytes int    `xml:"bytes,attr"`
				Type  string `xml:"type,attr"`
			} `xml:"pubsub>items>item>metadata>info"`
		}
		poll.Check(t, "Carol's avatar metadata", 20*time.Second, func() error {
			r := iq(c, "get", carolJID, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata' max_items='1'/></pubsub>`)
			if err := xml.Unmarshal([]byte(r.XML), &meta); err != nil || r.Type != "result" || meta.Info.ID != photoSum(pic) {
				return fmt.Errorf("%v: %s", err, r.XML)
			}
			return nil
		})
		if meta.Info.Bytes != len(pic) || meta.Info.Type != "image/gif" {
			t.Fatalf("Carol's avatar metadata: %+v", meta.Info)
		}
		r := iq(c, "get", carolJID, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='`+
			meta.Info.ID+`'/></items></pubsub>`)
		var data struct {
			Data string `xml:"pubsub>items>item>data"`
		}
		if err := xml.Unmarshal([]byte(r.XML), &data); err != nil || r.Type != "result" || data.Data != base64.StdEncoding.EncodeToString(pic) {
			t.Fatalf("Carol's avatar data: %v %s", err, r.XML)
		}
	}
	readCarol(alice, carolPic)
	if r := iq(alice, "get", carolJID, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='`+
		photoSum([]byte("not hers"))+`'/></items></pubsub>`); r.Type != "error" || !strings.Contains(r.XML, "item-not-found") {
		t.Fatalf("another avatar's data: %s", r.XML)
	}
	if r := iq(alice, "set", carolJID, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'/></pubsub>`); r.Type != "error" || !strings.Contains(r.XML, "forbidden") {
		t.Fatalf("publishing to Carol's node: %s", r.XML)
	}

	// bob, a contact of Carol's JID with a PEP avatar only readable by
	// his contacts.
	bobPic := []byte("\x89PNG\r\n\x1a\nbob's PEP avatar")
	publish(bob, bobPic, "")
	// The roster first, so that Prosody hands subscription presences
	// to bob's client.
	if r := iq(bob, "get", "", `<query xmlns='jabber:iq:roster'/>`); r.Type != "result" {
		t.Fatalf("roster: %s", r.XML)
	}
	if err := bob.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, `<presence to='`+carolJID+`' type='subscribe'/>`); err != nil {
		t.Fatal(err)
	}
	wait(bob, "the component's subscribe", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == carolJID && s.Type == "subscribe"
	})
	// Subscribed, bob is told Carol's current avatar.
	wait(bob, "Carol's avatar metadata on subscription", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == carolJID && strings.Contains(s.XML, "urn:xmpp:avatar:metadata") &&
			strings.Contains(s.XML, photoSum(carolPic))
	})
	// Approving Carol's subscription sends bob's presence to her JID.
	if err := bob.Send(ctx, `<presence to='`+carolJID+`' type='subscribed'/>`); err != nil {
		t.Fatal(err)
	}
	avatarIs("bob's puppet avatar from PEP", puppetOf("bob"), bobPic)
	bobPic2 := []byte("\x89PNG\r\n\x1a\nbob's second PEP avatar")
	publish(bob, bobPic2, "")
	if err := bob.Send(ctx, `<presence><x xmlns='vcard-temp:x:update'><photo>`+photoSum(bobPic2)+`</photo></x></presence>`); err != nil {
		t.Fatal(err)
	}
	avatarIs("bob's puppet's new avatar", puppetOf("bob"), bobPic2)
	// Carol's presences carry caps asking for avatar notifications
	// (+notify): Prosody notifies her JID of bob's next avatar, with no
	// presence from bob.
	bobPic3 := []byte("\x89PNG\r\n\x1a\nbob's third PEP avatar")
	publish(bob, bobPic3, "")
	avatarIs("bob's puppet's avatar from a notification", puppetOf("bob"), bobPic3)

	// Carol's new avatar: bob, subscribed to her, is notified.
	carolPic2 := []byte("GIF89a carol's second avatar")
	setCarolAvatar(carolPic2)
	wait(bob, "the notification of Carol's new avatar", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == carolJID && strings.Contains(s.XML, "urn:xmpp:avatar:metadata") &&
			strings.Contains(s.XML, photoSum(carolPic2))
	})
	readCarol(bob, carolPic2)

	// A Matrix file with a caption (a body other than its filename): the
	// caption is a line of the body after the link, and the OOB desc.
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, map[string]any{"msgtype": "m.image",
		"body": "my <b>avatar</b>", "filename": "carol.gif", "url": carolMXC}); err != nil {
		t.Fatal(err)
	}
	file := wait(alice, "Carol's captioned image", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "jabber:x:oob")
	})
	var oob struct {
		Body string `xml:"body"`
		URL  string `xml:"x>url"`
		Desc string `xml:"x>desc"`
	}
	if err := xml.Unmarshal([]byte(file.XML), &oob); err != nil || !strings.HasSuffix(oob.URL, "/carol.gif") ||
		oob.Body != oob.URL+"\nmy <b>avatar</b>" || oob.Desc != "my <b>avatar</b>" {
		t.Fatalf("Carol's captioned image: %v %s", err, file.XML)
	}
}
