package xmpp

import (
	"encoding/xml"
	"testing"
)

// FuzzPEPAvatar: the XEP-0084 readers (metadata, data, items requests)
// never panic on any stanza and keep within their bounds: at most
// maxAvatarInfos infos, each with a SHA-1 id; data only within the limit
// and matching its id; what the bridge serves from what they read is
// well-formed XML.
func FuzzPEPAvatar(f *testing.F) {
	for _, s := range []string{
		metaIQ(`<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='3' id='0123456789abcdef0123456789abcdef01234567' type='image/png'/></metadata>`),
		`<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='a'>` +
			`<metadata xmlns='urn:xmpp:avatar:metadata'/></item></items></event></message>`,
		`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='a'>` +
			`<data xmlns='urn:xmpp:avatar:data'>QUJD</data></item></items></pubsub></iq>`,
		`<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='&lt;x'/></items></pubsub></iq>`,
	} {
		f.Add(s, "3c01bdbb26f358bab27f267924aa2c9a03fcfdb8")
	}
	f.Fuzz(func(t *testing.T, raw, id string) {
		st := fuzzStanza(raw)
		if st == nil {
			return
		}
		infos, found := avatarMetadata(st.Inner)
		if len(infos) > maxAvatarInfos || !found && len(infos) > 0 {
			t.Fatalf("%d infos, found %v", len(infos), found)
		}
		for _, in := range infos {
			if !isSHA1Hex(in.ID) {
				t.Fatalf("info id %q", in.ID)
			}
		}
		const max = 64
		if data, err := avatarData(st.Inner, id, max); err == nil {
			if len(data) == 0 || len(data) > max || photoSum(data) != id {
				t.Fatalf("data %q for id %q", data, id)
			}
			photo := &vcardPhotoEl{Type: "image/png", BinVal: "QUJD", Hash: id}
			if err := xml.Unmarshal(avatarMetadataPayload(photo), new(avatarMetadataEl)); err != nil {
				t.Fatal(err)
			}
		}
		if q, ok := pepQueryOf(st.Inner); ok {
			if len(q.ids) > 16 {
				t.Fatalf("%d ids", len(q.ids))
			}
			out := pubsubEl{Items: pubsubItemsEl{Node: q.node}}
			for _, i := range q.ids {
				out.Items.Items = append(out.Items.Items, pubsubItemEl{ID: i})
			}
			var back pubsubEl
			if err := xml.Unmarshal(mustMarshal(out), &back); err != nil || back.Items.Node != q.node {
				t.Fatalf("%v: node %q, want %q", err, back.Items.Node, q.node)
			}
		}
	})
}
