package component

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// fakeRooms knows #room:hs.test (named "The Room") and lists n public
// rooms; block, when set, holds every call until closed.
type fakeRooms struct {
	n     int
	block chan struct{}
	fail  bool
}

func (f *fakeRooms) wait(ctx context.Context) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
		}
	}
}

func (f *fakeRooms) Room(ctx context.Context, id string) (RoomInfo, error) {
	f.wait(ctx)
	if f.fail {
		return RoomInfo{}, errors.New("homeserver down")
	}
	if id == "#room:hs.test" || id == "!AbC:hs.test" {
		return RoomInfo{ID: id, Name: "The Room", Topic: "Hello <all>", Occupants: 7, OccupantsKnown: true}, nil
	}
	return RoomInfo{}, ErrNoRoom
}

func (f *fakeRooms) PublicRooms(ctx context.Context, limit int) ([]RoomInfo, error) {
	f.wait(ctx)
	var out []RoomInfo
	for i := range min(f.n, limit) {
		out = append(out, RoomInfo{ID: fmt.Sprintf("#r%d:hs.test", i), Name: fmt.Sprintf("Room %d", i)})
	}
	out = append(out, RoomInfo{ID: "not an id"}) // skipped
	return out, nil
}

// asyncHandler is a handler with rooms whose later answers arrive on the
// returned channel.
func asyncHandler(t *testing.T, rooms Rooms) (*handler, chan string) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan string, 100)
	var wg sync.WaitGroup
	h := &handler{domain: jid.MustParse("matrix.test"), maxBytes: 1024, log: slog.New(slog.DiscardHandler),
		rooms: rooms, ctx: ctx, busy: make(chan struct{}, asyncLimit), wg: &wg,
		send: func(_ context.Context, r *reply) error {
			b, err := xml.Marshal(r)
			if err != nil {
				return err
			}
			out <- string(b)
			return nil
		}}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h, out
}

func next(t *testing.T, out chan string) string {
	t.Helper()
	select {
	case s := <-out:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
		return ""
	}
}

// TestDiscoRooms: a room alias's or room ID's JID answers disco#info as
// a MUC with the room's name, later (off the receive goroutine) and from
// itself; a Matrix user's JID answers at once with what 1:1 chats carry;
// an unknown room, a user's full JID, an occupant JID or a node gets
// item-not-found; the domain's disco#items lists the public rooms by JID.
func TestDiscoRooms(t *testing.T) {
	h, out := asyncHandler(t, &fakeRooms{n: 3})
	info := `<query xmlns='http://jabber.org/protocol/disco#info'/>`
	items := `<query xmlns='http://jabber.org/protocol/disco#items'/>`
	iqTo := func(id, to, q string) string {
		return `<iq type='get' id='` + id + `' from='a@x/r' to='` + to + `'>` + q + `</iq>`
	}
	alias := `#room\3ahs.test@matrix.test`
	if got := call(t, h, iqTo("1", alias, info)); got != "" {
		t.Fatalf("answered on the receive goroutine: %s", got)
	}
	got := next(t, out)
	for _, want := range []string{`from="` + alias + `"`, `id="1"`, `type="result"`, `category="conference"`, `type="text"`,
		`name="The Room"`, `var="http://jabber.org/protocol/muc"`, `var="muc_persistent"`,
		`var="http://jabber.org/protocol/muc#self-ping-optimization"`, `var="urn:xmpp:occupant-id:0"`,
		`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/muc#roominfo</value></field>`,
		`<field var="muc#roomconfig_roomname" label="Natural-Language Room Name"><value>The Room</value></field>`,
		`<field var="muc#roominfo_description" label="Description"><value>Hello &lt;all&gt;</value></field>`,
		`<field var="muc#roominfo_occupants" label="Number of occupants"><value>7</value></field>`,
		`var="urn:xmpp:message-correct:0"`, `var="urn:xmpp:message-retract:1"`, `var="urn:xmpp:message-moderate:1"`, `var="urn:xmpp:reactions:0"`,
		`var="urn:xmpp:reply:0"`} {
		if !strings.Contains(got, want) {
			t.Errorf("disco#info of the room lacks %s: %s", want, got)
		}
	}
	call(t, h, iqTo("2", `!\41b\43\3ahs.test@matrix.test`, info))
	if got := next(t, out); !strings.Contains(got, `name="The Room"`) {
		t.Errorf("room ID: %s", got)
	}
	call(t, h, iqTo("3", `#nope\3ahs.test@matrix.test`, items))
	if got := next(t, out); !strings.Contains(got, "item-not-found") || !strings.Contains(got, `from="#nope\3ahs.test@matrix.test"`) {
		t.Errorf("unknown room: %s", got)
	}
	got = call(t, h, iqTo("u", `alice\3ahs.test@matrix.test`, info))
	for _, want := range []string{`type="result"`, `from="alice\3ahs.test@matrix.test"`, `category="client"`,
		`var="http://jabber.org/protocol/chatstates"`, `var="urn:xmpp:chat-markers:0"`, `var="urn:xmpp:message-correct:0"`,
		`var="urn:xmpp:message-retract:1"`, `var="urn:xmpp:reactions:0"`, `var="urn:xmpp:reply:0"`} {
		if !strings.Contains(got, want) {
			t.Errorf("disco#info of a Matrix user's JID lacks %s: %s", want, got)
		}
	}
	for _, to := range []string{`alice\3ahs.test@matrix.test/res`, alias + `/nick`, `#Bad@matrix.test`} {
		if got := call(t, h, iqTo("4", to, info)); !strings.Contains(got, "item-not-found") {
			t.Errorf("%s: %s", to, got)
		}
	}
	if got := call(t, h, `<iq type='get' id='5' from='a@x/r' to='`+alias+`'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>`); !strings.Contains(got, "item-not-found") {
		t.Errorf("node: %s", got)
	}
	call(t, h, iqTo("6", "matrix.test", items))
	got = next(t, out)
	for _, want := range []string{`type="result"`, `jid="#r0\3ahs.test@matrix.test" name="Room 0"`, `jid="#r2\3ahs.test@matrix.test"`} {
		if !strings.Contains(got, want) {
			t.Errorf("disco#items lacks %s: %s", want, got)
		}
	}
	if strings.Count(got, "<item ") != 3 {
		t.Errorf("want 3 items: %s", got)
	}
}

// TestDiscoRoomsFailures: a homeserver that fails gets a wait error; a
// flood of slow queries is bounded: past asyncLimit pending, queries get
// resource-constraint at once.
func TestDiscoRoomsFailures(t *testing.T) {
	h, out := asyncHandler(t, &fakeRooms{fail: true})
	call(t, h, `<iq type='get' id='1' from='a@x/r' to='#room\3ahs.test@matrix.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if got := next(t, out); !strings.Contains(got, "remote-server-timeout") || !strings.Contains(got, `type="wait"`) {
		t.Errorf("failing homeserver: %s", got)
	}

	block := make(chan struct{})
	h, out = asyncHandler(t, &fakeRooms{block: block})
	for i := range asyncLimit {
		if got := call(t, h, fmt.Sprintf(`<iq type='get' id='b%d' from='a@x/r' to='matrix.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`, i)); got != "" {
			t.Fatalf("query %d answered at once: %s", i, got)
		}
	}
	got := call(t, h, `<iq type='get' id='over' from='a@x/r' to='matrix.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(got, "resource-constraint") {
		t.Fatalf("over the limit: %s", got)
	}
	close(block)
	for range asyncLimit {
		next(t, out)
	}
}
