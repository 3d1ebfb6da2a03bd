//go:build integration

package xmpp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPFormatAndFiles: on Dendrite and Prosody, in a
// Matrix room joined as a MUC: XEP-0393 styling and XHTML-IM from XMPP
// reach Matrix as a sanitized formatted_body (plain text gets none);
// Matrix HTML reaches XMPP with the Matrix body and sanitized XHTML-IM;
// a file posted on Matrix reaches XMPP as an OOB link that serves the
// file without a Matrix account; a link shared from XMPP with OOB (a
// file on a web server) becomes an m.image whose mxc serves the same
// bytes, and a link that cannot be fetched stays a text link.
func TestIntegrationXMPPFormatAndFiles(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	domain := p.ComponentDomain()
	// The test's file server is on 127.0.0.1: private addresses allowed.
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q, fetch_private_urls: true}\n",
			p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "Styled"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#Styled:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
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
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`); err != nil {
		t.Fatal(err)
	}
	wait("subject", func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") })

	// XMPP → Matrix: styling, XHTML-IM, plain.
	fromAlice := func(what string, match func(c matrixContent) bool) (*matrix.Event, matrixContent) {
		t.Helper()
		var c matrixContent
		ev, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
			c = matrixContent{}
			return ev.RoomID == room && ev.Sender == alicePuppet && ev.Type == matrix.EventMessage &&
				json.Unmarshal(ev.Content, &c) == nil && match(c)
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return ev, c
	}
	send := func(stanza string) {
		t.Helper()
		if err := alice.Send(ctx, stanza); err != nil {
			t.Fatal(err)
		}
	}
	send(`<message to='` + muc + `' type='groupchat' id='s1'><body>*bold* and _em_</body></message>`)
	_, c := fromAlice("styled message", func(c matrixContent) bool { return c.Body == "*bold* and _em_" })
	if c.Format != htmlFormat || c.FormattedBody != "<strong>bold</strong> and <em>em</em>" {
		t.Errorf("styling: %+v", c)
	}
	send(`<message to='` + muc + `' type='groupchat' id='s2'><body>hi there x</body>` +
		`<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>` +
		`<p>hi <strong>there</strong><script>alert(1)</script> <a href='javascript:alert(1)' onclick='x()'>x</a></p></body></html></message>`)
	_, c = fromAlice("XHTML-IM message", func(c matrixContent) bool { return c.Body == "hi there x" })
	if c.Format != htmlFormat || c.FormattedBody != "<p>hi <strong>there</strong> x</p>" || matrixhtml.Check(c.FormattedBody) != nil {
		t.Errorf("XHTML-IM: %+v", c)
	}
	send(`<message to='` + muc + `' type='groupchat' id='s3'><body>just * text</body></message>`)
	_, c = fromAlice("plain message", func(c matrixContent) bool { return c.Body == "just * text" })
	if c.Format != "" || c.FormattedBody != "" {
		t.Errorf("plain text got a formatted_body: %+v", c)
	}

	// Matrix → XMPP: the body stays, XHTML-IM is added, sanitized.
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, map[string]string{"msgtype": "m.text",
		"body": "**big** news </body><evil/>", "format": htmlFormat,
		"formatted_body": `<strong>big</strong> news <script>alert(1)</script><a href="javascript:x">y</a>`}); err != nil {
		t.Fatal(err)
	}
	got := wait("Carol's HTML message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "big")
	})
	strong := regexp.MustCompile(`<strong[^>]*>big</strong>`)
	if bodyOf(got) != "**big** news &lt;/body&gt;&lt;evil/&gt;" || !strings.Contains(got.XML, "http://jabber.org/protocol/xhtml-im") ||
		!strong.MatchString(got.XML) || strings.Contains(got.XML, "<script") || strings.Contains(got.XML, "<evil") || strings.Contains(got.XML, "javascript") {
		t.Errorf("Carol's HTML message: %s", got.XML)
	}

	// Matrix → XMPP: a file is an OOB link that serves it.
	notes := []byte("the notes of the meeting\n")
	mxc, err := uploadMedia(ctx, carol, "notes.txt", "text/plain", notes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, map[string]any{"msgtype": "m.file", "body": "notes.txt", "url": mxc,
		"info": map[string]any{"mimetype": "text/plain", "size": len(notes)}}); err != nil {
		t.Fatal(err)
	}
	file := wait("Carol's file", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "jabber:x:oob")
	})
	link := regexp.MustCompile(`<url[^>]*>([^<]+)</url>`).FindStringSubmatch(file.XML)
	if link == nil || bodyOf(file) != link[1] {
		t.Fatalf("Carol's file: %s", file.XML)
	}
	if data := getAnonymously(ctx, t, link[1]); !bytes.Equal(data, notes) {
		t.Fatalf("the OOB link %s serves %q, want %q", link[1], data, notes)
	}

	// XMPP → Matrix: a shared link (OOB) is downloaded and uploaded.
	var img bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 3, 2))
	pic.Set(1, 1, color.RGBA{R: 200, A: 255})
	if err := png.Encode(&img, pic); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upload/slot/cat.png" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img.Bytes())
	}))
	defer web.Close()
	shared := web.URL + "/upload/slot/cat.png"
	send(`<message to='` + muc + `' type='groupchat' id='f1'><body>` + shared + `</body><x xmlns='jabber:x:oob'><url>` + shared + `</url></x></message>`)
	ev, c := fromAlice("shared image", func(c matrixContent) bool { return c.MsgType == matrix.MsgImage })
	var info fileInfo
	if c.Body != "cat.png" || !strings.HasPrefix(c.URL, "mxc://") || json.Unmarshal(c.Info, &info) != nil ||
		info.Mimetype != "image/png" || info.Size != img.Len() || info.W != 3 || info.H != 2 {
		t.Fatalf("shared image: %s", ev.Content)
	}
	if data, err := downloadMedia(ctx, carol, c.URL); err != nil || !bytes.Equal(data, img.Bytes()) {
		t.Fatalf("the image's mxc serves %d bytes (%v), want the %d shared", len(data), err, img.Len())
	}
	refl := wait("the image's reflection", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.ID == "f1" && s.From == muc+"/Alice"
	})
	if bodyOf(refl) != shared || !strings.Contains(refl.XML, "jabber:x:oob") {
		t.Errorf("the reflection does not show the shared link: %s", refl.XML)
	}
	// A link that cannot be fetched stays a link.
	missing := web.URL + "/upload/slot/gone.png"
	send(`<message to='` + muc + `' type='groupchat' id='f2'><body>` + missing + `</body><x xmlns='jabber:x:oob'><url>` + missing + `</url></x></message>`)
	if _, c := fromAlice("missing file", func(c matrixContent) bool { return c.Body == missing }); c.MsgType != matrix.MsgText || c.URL != "" {
		t.Errorf("a link that cannot be fetched: %+v", c)
	}
}

// bodyOf returns the (escaped) text of a stanza's body.
func bodyOf(st integration.XMPPStanza) string {
	m := regexp.MustCompile(`<body[^>]*>([^<]*)</body>`).FindStringSubmatch(st.XML)
	if m == nil {
		return ""
	}
	return m[1]
}

// uploadMedia puts data in the media repository as c.
func uploadMedia(ctx context.Context, c *integration.Client, name, contentType string, data []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.HomeserverURL+"/_matrix/media/v3/upload?filename="+url.QueryEscape(name), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upload %s: HTTP %d: %v", name, resp.StatusCode, err)
	}
	return out.ContentURI, nil
}

// downloadMedia fetches an mxc URI as c (authenticated media, else the
// legacy endpoint).
func downloadMedia(ctx context.Context, c *integration.Client, mxc string) ([]byte, error) {
	rest := strings.TrimPrefix(mxc, "mxc://")
	var last error
	for _, path := range []string{"/_matrix/client/v1/media/download/", "/_matrix/media/v3/download/"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HomeserverURL+path+rest, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			return data, nil
		}
		last = fmt.Errorf("GET %s: HTTP %d: %v", path, resp.StatusCode, err)
	}
	return nil, last
}

// getAnonymously GETs a link as an XMPP user's client would: no token.
func getAnonymously(ctx context.Context, t *testing.T, link string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s without a token: HTTP %d: %s", link, resp.StatusCode, data)
	}
	return data
}
