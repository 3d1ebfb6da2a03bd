package xmpp

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// stanzaOf decodes a message stanza as the component hands it over.
func stanzaOf(t *testing.T, raw string) *component.Stanza {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	st := &component.Stanza{Start: tok.(xml.StartElement).Copy()}
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tok.(xml.EndElement); ok && depth == 0 {
			return st
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		st.Inner = append(st.Inner, xml.CopyToken(tok))
	}
}

// TestToMatrixContent: XMPP messages become Matrix content with a
// formatted_body only when they have formatting (styling or XHTML-IM),
// sanitized; a shared link that cannot be fetched (here: a private
// address, refused by default) stays a plain link.
func TestToMatrixContent(t *testing.T) {
	_, g, _ := testGateway(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }))
	defer srv.Close()
	const xhtml = `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>`
	for i, tc := range []struct {
		stanza                   string
		msgtype, body, formatted string
	}{
		0: {`<message><body>plain words</body></message>`, matrix.MsgText, "plain words", ""},
		1: {`<message><body>*bold* text</body></message>`, matrix.MsgText, "*bold* text", "<strong>bold</strong> text"},
		2: {`<message><body>/me _waves_</body></message>`, matrix.MsgEmote, "_waves_", "<em>waves</em>"},
		3: {`<message><body>hi &lt;script&gt;</body>` + xhtml + `hi <strong>there</strong><script>alert(1)</script><a href='javascript:x'>j</a></body></html></message>`,
			matrix.MsgText, "hi <script>", "hi <strong>there</strong>j"},
		4: {`<message><body>/me waves</body>` + xhtml + `/me <em>waves</em></body></html></message>`, matrix.MsgEmote, "waves", "<em>waves</em>"},
		5: {`<message><body>` + srv.URL + `/a.png</body><x xmlns='jabber:x:oob'><url>` + srv.URL + `/a.png</url></x></message>`,
			matrix.MsgText, srv.URL + "/a.png", ""},
		6: {`<message><body>look</body><x xmlns='jabber:x:oob'><url>https://example.org/f</url></x></message>`,
			matrix.MsgText, "look\nhttps://example.org/f", ""},
	} {
		st := stanzaOf(t, tc.stanza)
		c := g.toMatrix(context.Background(), "@_xmpp_a:localhost", inboundOf(st))
		if c.MsgType != tc.msgtype || c.Body != tc.body || c.FormattedBody != tc.formatted || (tc.formatted != "") != (c.Format == htmlFormat) {
			t.Errorf("%d: %+v", i, c)
		}
	}
}

// TestInboundOOB: the link of an OOB payload is read, other namespaces
// are not.
func TestInboundOOB(t *testing.T) {
	in := inboundOf(stanzaOf(t, `<message><body>b</body><x xmlns='urn:other'><url>no</url></x><x xmlns='jabber:x:oob'><desc>d</desc><url> https://h/f </url></x></message>`))
	if in.oob != "https://h/f" || in.text != "b" || in.xhtml != nil {
		t.Fatalf("%+v", in)
	}
}

// TestOutgoing: Matrix content becomes the XMPP body plus payloads:
// XHTML-IM for formatting (not with xhtml_im off), the public link and
// an OOB payload for files, a note when a file has no public link; a
// caption (a body that differs from the filename) is the OOB desc and a
// body line after the link.
func TestOutgoing(t *testing.T) {
	m, g, h := testGateway(t)
	base := h.HS.URL + "/_matrix/media/v3/download/localhost/abc"
	for i, tc := range []struct {
		c          matrix.MessageContent
		text       string
		extraHas   []string
		extraLacks []string
	}{
		0: {c: matrix.MessageContent{MsgType: matrix.MsgText, Body: "plain"}, text: "plain"},
		1: {c: matrix.MessageContent{MsgType: matrix.MsgText, Body: "**b** </body><evil/>", Format: htmlFormat,
			FormattedBody: "<strong>b</strong> &lt;/body&gt;<evil/><script>x</script>"}, text: "**b** </body><evil/>",
			extraHas:   []string{`<html xmlns="http://jabber.org/protocol/xhtml-im"><body xmlns="http://www.w3.org/1999/xhtml"><strong>b</strong> &lt;/body&gt;</body></html>`},
			extraLacks: []string{"script", "<evil"}},
		2: {c: matrix.MessageContent{MsgType: matrix.MsgEmote, Body: "waves", Format: htmlFormat, FormattedBody: "<em>waves</em>"},
			text: "/me waves", extraHas: []string{"/me <em>waves</em>"}},
		3: {c: matrix.MessageContent{MsgType: matrix.MsgImage, Body: "cat pic.png", URL: "mxc://localhost/abc"},
			text: base + "/cat%20pic.png", extraHas: []string{`<x xmlns="jabber:x:oob"><url>` + base + `/cat%20pic.png</url><desc>cat pic.png</desc></x>`}},
		4: {c: matrix.MessageContent{MsgType: matrix.MsgFile, Body: "a/b", URL: "mxc://localhost/abc"},
			text: base, extraHas: []string{`<url>` + base + `</url>`}},
		5: {c: matrix.MessageContent{MsgType: matrix.MsgVideo, Body: "secret.mp4"},
			text: "secret.mp4 (a file on Matrix; the bridge has no public link to it)"},
		6: {c: matrix.MessageContent{MsgType: matrix.MsgText, Body: "p", Format: htmlFormat, FormattedBody: "<p>p</p>"}, text: "p"},
		7: {c: matrix.MessageContent{MsgType: matrix.MsgImage, Body: "look </body><evil/>", FileName: "cat.png", URL: "mxc://localhost/abc"},
			text:     base + "/cat.png\nlook </body><evil/>",
			extraHas: []string{`<url>` + base + `/cat.png</url><desc>look &lt;/body&gt;&lt;evil/&gt;</desc>`}, extraLacks: []string{"<evil"}},
		8: {c: matrix.MessageContent{MsgType: matrix.MsgImage, Body: "cat.png", FileName: "cat.png", URL: "mxc://localhost/abc"},
			text: base + "/cat.png", extraHas: []string{`<desc>cat.png</desc>`}},
		9: {c: matrix.MessageContent{MsgType: matrix.MsgFile, Body: "the report", FileName: "r.pdf"},
			text: "r.pdf (a file on Matrix; the bridge has no public link to it)\nthe report"},
	} {
		text, extra, ok := g.outgoing(&tc.c, "")
		if !ok || text != tc.text {
			t.Errorf("%d: %v %q, want %q", i, ok, text, tc.text)
		}
		if len(tc.extraHas) == 0 && extra != nil {
			t.Errorf("%d: unexpected payload %s", i, extra)
		}
		for _, want := range tc.extraHas {
			if !bytes.Contains(extra, []byte(want)) {
				t.Errorf("%d: payload %s lacks %s", i, extra, want)
			}
		}
		for _, bad := range tc.extraLacks {
			if bytes.Contains(extra, []byte(bad)) {
				t.Errorf("%d: payload %s has %s", i, extra, bad)
			}
		}
		// The whole stanza stays one well-formed message.
		st := withPayload(messageStanza("r@m/n", "a@b/c", "1", text, "", "", "", "occ"), extra)
		if err := wellFormed(st); err != nil {
			t.Errorf("%d: %v: %s", i, err, st)
		}
	}
	if _, _, ok := g.outgoing(&matrix.MessageContent{MsgType: "m.location", Body: "geo"}, ""); ok {
		t.Error("m.location is bridged")
	}
	m.cfg.XHTMLIM = false
	if _, extra, _ := g.outgoing(&matrix.MessageContent{MsgType: matrix.MsgText, Body: "b", Format: htmlFormat, FormattedBody: "<b>b</b>"}, ""); extra != nil {
		t.Errorf("xhtml_im off: %s", extra)
	}
}

// wellFormed checks that b is one well-formed element.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return errors.New("not one root element")
	}
	return nil
}

// TestReflectFile: the reflection of a file shared from XMPP shows the
// original link, not the Matrix one.
func TestReflectFile(t *testing.T) {
	_, g, _ := testGateway(t)
	raw, err := json.Marshal(matrixContent{MessageContent: matrix.MessageContent{MsgType: matrix.MsgImage, Body: "a.png", URL: "mxc://localhost/x"},
		ExternalURL: "https://upload.example/a.png"})
	if err != nil {
		t.Fatal(err)
	}
	text, extra, err := g.reflected(raw)
	if err != nil || text != "https://upload.example/a.png" || !bytes.Contains(extra, []byte("<url>https://upload.example/a.png</url>")) {
		t.Fatalf("%q %s %v", text, extra, err)
	}
}

// TestFetcher: downloads are bounded in size, http(s) only, refuse
// private addresses unless allowed (redirects included), and get a MIME
// type and a name.
func TestFetcher(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n0000")
	mux := http.NewServeMux()
	mux.HandleFunc("/pics/cat.png", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(png) })
	mux.HandleFunc("/typed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/ogg; codecs=opus")
		_, _ = w.Write([]byte("OggS"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 2000)) })
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	open := newFetcher(1000, true)
	f, err := open.fetch(ctx, srv.URL+"/pics/cat.png")
	if err != nil || !bytes.Equal(f.data, png) || f.mimetype != "image/png" || f.name != "cat.png" {
		t.Fatalf("cat.png: %+v %v", f, err)
	}
	if f, err := open.fetch(ctx, srv.URL+"/typed"); err != nil || f.mimetype != "audio/ogg" || fileMsgType(f.mimetype) != matrix.MsgAudio {
		t.Fatalf("typed: %+v %v", f, err)
	}
	if _, err := open.fetch(ctx, srv.URL+"/big"); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("big: %v", err)
	}
	if _, err := open.fetch(ctx, srv.URL+"/missing"); err == nil {
		t.Error("a 404 was fetched")
	}
	for _, bad := range []string{"ftp://x/y", "file:///etc/passwd", "javascript:x", "https://"} {
		if _, err := open.fetch(ctx, bad); !errors.Is(err, ErrBadLink) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := newFetcher(0, true).fetch(ctx, srv.URL+"/pics/cat.png"); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("max 0: %v", err)
	}
	closed := newFetcher(1000, false)
	if _, err := closed.fetch(ctx, srv.URL+"/pics/cat.png"); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("loopback fetched with fetch_private_urls off: %v", err)
	}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "fd00::1", "0.0.0.0", "::ffff:127.0.0.1", "224.0.0.1"} {
		if publicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as public", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "2606:4700::1111"} {
		if !publicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as private", a)
		}
	}
}
