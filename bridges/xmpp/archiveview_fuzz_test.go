package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// FuzzArchivedStanza: whatever content and unsigned block a Matrix
// message event has, reading it for the archive (itemOf, edits,
// tombstones) never panics, and what history on join and MAM send of it
// is one well-formed <message/> whose children are only the elements the
// room writes: Matrix content cannot add or close elements.
func FuzzArchivedStanza(f *testing.F) {
	for _, s := range [][2]string{
		{`{"msgtype":"m.text","body":"hi </body><evil/>","format":"org.matrix.custom.html","formatted_body":"<b>hi</b></body><evil/><script>x</script>"}`, ``},
		{`{"msgtype":"m.image","body":"a</desc>.png","url":"mxc://localhost/x\"><evil/>"}`, ``},
		{`{"msgtype":"m.emote","body":"waves","m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}`, ``},
		{`{"msgtype":"m.text","body":"* x","m.new_content":{"msgtype":"m.text","body":"x<y>"},"m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}`, ``},
		{`{}`, `{"redacted_because":{"event_id":"$r\"<x/>","sender":"@dave:localhost","origin_server_ts":5}}`},
		{`{"msgtype":"m.text","body":"old"}`, `{"m.relations":{"m.replace":{"event_id":"$ed","type":"m.room.message","sender":"@carol:localhost","origin_server_ts":9,"content":{"m.new_content":{"msgtype":"m.file","body":"f","url":"mxc://a/b"},"m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}}}}`},
	} {
		f.Add(s[0], s[1])
	}
	_, g, _ := testGateway(f)
	room := matrix.RoomID("!r:localhost")
	r := g.room(room)
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol"}, "@dave:localhost": {nick: "Dave"}}
	allowed := map[string]bool{"body": true, "replace": true, "retracted": true, "reply": true, "fallback": true, "origin-id": true,
		"stanza-id": true, "occupant-id": true, "markable": true, "delay": true, "html": true, "x": true}
	f.Fuzz(func(t *testing.T, content, unsigned string) {
		ctx := context.Background()
		ev := &matrix.Event{ID: "$e", Type: matrix.EventMessage, Sender: "@carol:localhost", OriginServerTS: 1, Content: []byte(content)}
		if unsigned != "" {
			ev.Unsigned = []byte(unsigned)
		}
		a, ok := itemOf(ev)
		if !ok {
			return
		}
		win := newWindow()
		win.note(ev)
		s := g.senders(r, "@_xmpp_alice=40x.org:localhost")
		s.names["@carol:localhost"], s.names["@dave:localhost"] = "Carol", "Dave"
		out, ok := g.archiveShown(ctx, a, s.of(ctx, a), s, win)
		if !ok {
			return
		}
		out.Markable, out.Delayed, out.Real = true, time.UnixMilli(1), "carol@x"
		b := relStanza("room@x/Carol", "alice@x/r", "room@x", out)
		d := xml.NewDecoder(bytes.NewReader(b))
		depth, roots := 0, 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed: %v: %s", err, b)
			}
			switch tt := tok.(type) {
			case xml.StartElement:
				if depth == 0 {
					roots++
					if tt.Name.Local != "message" {
						t.Fatalf("root %s: %s", tt.Name.Local, b)
					}
				}
				if depth == 1 && !allowed[tt.Name.Local] {
					t.Fatalf("a child %s: %s", tt.Name.Local, b)
				}
				depth++
			case xml.EndElement:
				depth--
			}
		}
		if roots != 1 || depth != 0 {
			t.Fatalf("%d roots: %s", roots, b)
		}
	})
}
