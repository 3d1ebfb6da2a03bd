package xmpp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"
)

// metaIQ wraps a metadata payload in an items result.
func metaIQ(payload string) string {
	return `<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'>` +
		`<item id='x'>` + payload + `</item></items></pubsub></iq>`
}

// TestAvatarMetadata: the <info/>s of a metadata item are read from an
// items result and from a notification, ids lower-cased, bad ids left
// out; an empty <metadata/> is found without infos; metadata outside an
// item, in another namespace or of another shape is not found.
func TestAvatarMetadata(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef01234567"
	info := `<info bytes='12345' width='64' height='48' id='` + strings.ToUpper(id) + `' type='image/png'/>`
	for i, c := range []struct {
		raw       string
		found     bool
		wantInfos []avatarInfo
	}{
		0: {metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'>` + info + `</metadata>`), true,
			[]avatarInfo{{ID: id, Type: "image/png", Bytes: 12345, Width: 64, Height: 48}}},
		1: {`<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='x'>` +
			`<metadata xmlns='urn:xmpp:avatar:metadata'>` + info + `<info id='` + id + `' type='image/gif' url='https://x/a.gif' bytes='9'/></metadata>` +
			`</item></items></event></message>`, true,
			[]avatarInfo{{ID: id, Type: "image/png", Bytes: 12345, Width: 64, Height: 48}, {ID: id, Type: "image/gif", Bytes: 9, URL: "https://x/a.gif"}}},
		2: {metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'/>`), true, nil},
		3: {metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'><info id='nothex' type='image/png'/><info id='` + id + `' bytes='-1'/></metadata>`), true, nil},
		4: {metaIQ(`<metadata xmlns='urn:other'>` + info + `</metadata>`), false, nil},
		5: {`<iq><pubsub xmlns='urn:other'><items><item><metadata xmlns='urn:xmpp:avatar:metadata'>` + info + `</metadata></item></items></pubsub></iq>`, false, nil},
		6: {metaIQ(`<wrap><metadata xmlns='urn:xmpp:avatar:metadata'>` + info + `</metadata></wrap>`), false, nil},
		7: {metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'><x>` + info + `</x></metadata>`), true, nil},
	} {
		st := parse(t, []byte(c.raw))
		infos, found := avatarMetadata(st.Inner)
		if found != c.found || len(infos) != len(c.wantInfos) {
			t.Errorf("%d: found %v, infos %+v; want %v, %+v", i, found, infos, c.found, c.wantInfos)
			continue
		}
		for j := range infos {
			if infos[j] != c.wantInfos[j] {
				t.Errorf("%d: info %d %+v, want %+v", i, j, infos[j], c.wantInfos[j])
			}
		}
	}
}

// TestAvatarMetadataBounded: a metadata item with many infos yields at
// most maxAvatarInfos.
func TestAvatarMetadataBounded(t *testing.T) {
	info := `<info id='0123456789abcdef0123456789abcdef01234567' type='image/png'/>`
	st := parse(t, []byte(metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'>`+strings.Repeat(info, 100)+`</metadata>`)))
	if infos, _ := avatarMetadata(st.Inner); len(infos) != maxAvatarInfos {
		t.Fatalf("%d infos, want %d", len(infos), maxAvatarInfos)
	}
}

// TestPickAvatar: the info in the data node within the limit is taken,
// image/png first; URL-only and too large ones never.
func TestPickAvatar(t *testing.T) {
	png := avatarInfo{ID: "a", Type: "image/png", Bytes: 10}
	webp := avatarInfo{ID: "b", Type: "image/webp"}
	for i, c := range []struct {
		in   []avatarInfo
		want string // "" for none
	}{
		0: {[]avatarInfo{webp, png}, "a"},
		1: {[]avatarInfo{webp}, "b"},
		2: {[]avatarInfo{{ID: "c", Type: "image/png", URL: "https://x"}}, ""},
		3: {[]avatarInfo{{ID: "d", Type: "image/png", Bytes: 200}, webp}, "b"},
		4: {nil, ""},
	} {
		got, ok := pickAvatar(c.in, 100)
		if ok != (c.want != "") || got.ID != c.want {
			t.Errorf("%d: %+v %v, want %q", i, got, ok, c.want)
		}
	}
}

// TestAvatarData: the image of a data item is decoded (whitespace in the
// base64 allowed) when its SHA-1 is the id and it is within the limit;
// else an errAvatarData.
func TestAvatarData(t *testing.T) {
	pic := []byte("\x89PNG\r\n\x1a\n an avatar")
	id := photoSum(pic)
	b64 := base64.StdEncoding.EncodeToString(pic)
	wrap := func(data string) string {
		return `<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='` + id +
			`'>` + data + `</item></items></pubsub></iq>`
	}
	big := bytes.Repeat([]byte{7}, 200)
	for i, c := range []struct {
		raw, id string
		ok      bool
	}{
		0: {wrap(`<data xmlns='urn:xmpp:avatar:data'>` + b64 + `</data>`), id, true},
		1: {wrap(`<data xmlns='urn:xmpp:avatar:data'>` + b64[:5] + "\n\t " + b64[5:] + `</data>`), id, true},
		2: {wrap(`<data xmlns='urn:xmpp:avatar:data'>` + b64 + `</data>`), photoSum([]byte("other")), false},
		3: {wrap(`<data xmlns='urn:xmpp:avatar:data'>!!!</data>`), id, false},
		4: {wrap(`<data xmlns='urn:other'>` + b64 + `</data>`), id, false},
		5: {wrap(`<data xmlns='urn:xmpp:avatar:data'/>`), id, false},
		6: {wrap(`<data xmlns='urn:xmpp:avatar:data'>` + base64.StdEncoding.EncodeToString(big) + `</data>`), photoSum(big), false},
		7: {wrap(`<data xmlns='urn:xmpp:avatar:data'>` + strings.Repeat("QUFB", 5000) + `</data>`), id, false},
		8: {`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><x><item><data xmlns='urn:xmpp:avatar:data'>` + b64 + `</data></item></x></pubsub></iq>`, id, false},
	} {
		st := parse(t, []byte(c.raw))
		data, err := avatarData(st.Inner, c.id, 100)
		switch {
		case c.ok && (err != nil || !bytes.Equal(data, pic)):
			t.Errorf("%d: %q %v, want the picture", i, data, err)
		case !c.ok && !errors.Is(err, errAvatarData):
			t.Errorf("%d: %q %v, want errAvatarData", i, data, err)
		}
	}
}

// TestPEPQuery: items requests are read with their node and item ids;
// other pubsub requests are not items requests.
func TestPEPQuery(t *testing.T) {
	for i, c := range []struct {
		raw  string
		ok   bool
		node string
		ids  int
	}{
		0: {`<iq><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata' max_items='1'/></pubsub></iq>`, true, nsAvatarMeta, 0},
		1: {`<iq><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='a'/><item id='b'/></items></pubsub></iq>`, true, nsAvatarData, 2},
		2: {`<iq><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'/></pubsub></iq>`, false, "", 0},
		3: {`<iq><pubsub xmlns='http://jabber.org/protocol/pubsub'><items xmlns='urn:other' node='x'/></pubsub></iq>`, false, "", 0},
	} {
		q, ok := pepQueryOf(parse(t, []byte(c.raw)).Inner)
		if ok != c.ok || q.node != c.node || len(q.ids) != c.ids {
			t.Errorf("%d: %+v %v", i, q, ok)
		}
	}
}

// TestPEPAnswerPayloads: what the bridge serves reads back with its own
// parsers (metadata info of the right size and id, data matching it),
// and a notification is read as one.
func TestPEPAnswerPayloads(t *testing.T) {
	pic := []byte("GIF89a a matrix avatar")
	photo := &vcardPhotoEl{Type: "image/gif", BinVal: base64.StdEncoding.EncodeToString(pic), Hash: photoSum(pic)}
	meta := mustMarshal(pubsubEl{Items: pubsubItemsEl{Node: nsAvatarMeta, Items: []pubsubItemEl{{ID: photo.Hash, Inner: avatarMetadataPayload(photo)}}}})
	infos, found := avatarMetadata(parse(t, []byte(`<iq type='result'>`+string(meta)+`</iq>`)).Inner)
	if !found || len(infos) != 1 || infos[0] != (avatarInfo{ID: photo.Hash, Type: "image/gif", Bytes: len(pic)}) {
		t.Fatalf("metadata %s read as %+v %v", meta, infos, found)
	}
	data := mustMarshal(pubsubEl{Items: pubsubItemsEl{Node: nsAvatarData, Items: []pubsubItemEl{{ID: photo.Hash, Inner: mustMarshal(avatarDataEl{Data: photo.BinVal})}}}})
	if got, err := avatarData(parse(t, []byte(`<iq type='result'>`+string(data)+`</iq>`)).Inner, photo.Hash, maxAvatarBytes); err != nil || !bytes.Equal(got, pic) {
		t.Fatalf("data %s read as %q %v", data, got, err)
	}
	ev := mustMarshal(pepEventMessage{From: "u@x", To: "a@y", Type: "headline", ID: "1",
		Event: pepEventEl{Items: pubsubItemsEl{Node: nsAvatarMeta, Items: []pubsubItemEl{{ID: photo.Hash, Inner: avatarMetadataPayload(photo)}}}}})
	st := parse(t, ev)
	if !hasPayload(st, nsPubsubEvent, "event") || itemsNode(st.Inner) != nsAvatarMeta {
		t.Fatalf("notification %s not read as one", ev)
	}
	if infos, found := avatarMetadata(st.Inner); !found || len(infos) != 1 || infos[0].ID != photo.Hash {
		t.Fatalf("notification %s read as %+v", ev, infos)
	}
}

// TestImageSize: a PNG's size is read from its header; other bytes have
// none.
func TestImageSize(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	if w, h := imageSize(b.Bytes()); w != 3 || h != 2 {
		t.Fatalf("PNG %dx%d, want 3x2", w, h)
	}
	if w, h := imageSize([]byte("not an image")); w != 0 || h != 0 {
		t.Fatalf("garbage %dx%d", w, h)
	}
	photo := &vcardPhotoEl{Type: "image/png", BinVal: base64.StdEncoding.EncodeToString(b.Bytes()), Hash: photoSum(b.Bytes()), Width: 3, Height: 2}
	if got := string(avatarMetadataPayload(photo)); !strings.Contains(got, `width="3" height="2"`) {
		t.Fatalf("metadata %s lacks the size", got)
	}
}

// TestAvatarChecksDue: a user's avatar is checked again only when its
// presence tells another hash or the last check is older than
// pepRecheck.
func TestAvatarChecksDue(t *testing.T) {
	var c avatarChecks
	now := time.Unix(1000, 0)
	for i, s := range []struct {
		real, hint string
		after      time.Duration
		want       bool
	}{
		0: {"a@x", "", 0, true},
		1: {"a@x", "", time.Minute, false},
		2: {"b@x", "", time.Minute, true},
		3: {"a@x", "h1", 2 * time.Minute, true},
		4: {"a@x", "h1", 3 * time.Minute, false},
		5: {"a@x", "h1", 3*time.Minute + pepRecheck, true},
	} {
		if got := c.due(s.real, s.hint, now.Add(s.after)); got != s.want {
			t.Errorf("%d: due %v, want %v", i, got, s.want)
		}
	}
}
