package xmpp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"image"
	_ "image/gif"  // avatar sizes
	_ "image/jpeg" // avatar sizes
	_ "image/png"  // avatar sizes
	"slices"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Matrix users' avatars as XEP-0084 PEP nodes of their JIDs, for the
// clients that no longer read vCards (Conversations, Dino, Gajim): a
// pubsub items get to a Matrix user's bare JID for urn:xmpp:avatar:metadata
// is answered with one item, id the SHA-1 of the user's global avatar,
// whose <info/> tells its size and type (and width and height for PNG,
// JPEG and GIF); urn:xmpp:avatar:data with the
// image (base64) of that id. The avatar is read as for vCards (avatars.go:
// the avatar cache, at most max_avatar_bytes). A user without a usable
// avatar, an unknown user, another node or an item id that is not the
// current one get item-not-found; publishing is forbidden. When a Matrix
// user's avatar changes, its presence subscribers get a metadata
// notification (mxavatars.go calls notifyAvatar), and a new subscriber
// or a probe gets the current one (presence.go calls lastAvatar).

// pepQuery is a pubsub items request: its node and the item ids it names.
type pepQuery struct {
	node string
	ids  []string
}

// pepQueryOf reads the pubsub request in toks (an IQ's content); ok is
// false when it is not an items request.
func pepQueryOf(toks []xml.Token) (q pepQuery, ok bool) {
	depth := 0
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && t.Name.Local == "items" && t.Name.Space == nsPubsub:
				ok = true
				q.node = attr(t, "node")
			case depth == 3 && ok && t.Name.Local == "item" && t.Name.Space == nsPubsub && len(q.ids) < 16:
				q.ids = append(q.ids, attr(t, "id"))
			}
		case xml.EndElement:
			depth--
		}
	}
	return q, ok
}

// routePEPAvatar takes pubsub requests to Matrix users' bare JIDs.
func (g *gateway) routePEPAvatar(st *component.Stanza, from, to jid.JID) bool {
	p := st.Payloads()
	if len(p) != 1 || p[0].Name.Space != nsPubsub || p[0].Name.Local != "pubsub" {
		return false
	}
	u, ok := contactOf(to)
	if !ok || to.Resourcepart() != "" {
		return false
	}
	q, isItems := pepQueryOf(st.Inner)
	switch {
	case st.Attr("type") != "get":
		g.enqueue(context.Background(), iqErrorStanza(st, to, "auth", "forbidden", "the PEP nodes of Matrix users are read-only"))
		return true
	case !isItems:
		g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "feature-not-implemented", "only items requests are served"))
		return true
	case q.node != nsAvatarMeta && q.node != nsAvatarData:
		g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "item-not-found", "no such node"))
		return true
	}
	g.push("pep/"+string(u), func() {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "too many requests; try again"))
	}, func(ctx context.Context) { g.enqueue(ctx, g.pepAnswer(ctx, st, to, u, q)) })
	return true
}

// pepAnswer answers the items request q to u's JID to.
func (g *gateway) pepAnswer(ctx context.Context, st *component.Stanza, to jid.JID, u matrix.UserID, q pepQuery) []byte {
	photo, err := g.matrixAvatar(ctx, u)
	if errors.Is(err, intent.ErrNotFound) || err == nil && photo == nil {
		return iqErrorStanza(st, to, "cancel", "item-not-found", "no avatar")
	}
	if err != nil {
		return iqErrorStanza(st, to, "wait", "remote-server-timeout", "the Matrix homeserver did not answer")
	}
	if len(q.ids) > 0 && !slices.Contains(q.ids, photo.Hash) {
		return iqErrorStanza(st, to, "cancel", "item-not-found", "no such item")
	}
	item := pubsubItemEl{ID: photo.Hash}
	if q.node == nsAvatarMeta {
		item.Inner = avatarMetadataPayload(photo)
	} else {
		item.Inner = mustMarshal(avatarDataEl{Data: photo.BinVal})
	}
	return iqResultStanza(st, to, mustMarshal(pubsubEl{Items: pubsubItemsEl{Node: q.node, Items: []pubsubItemEl{item}}}))
}

// avatarMetadataPayload is the metadata item payload of a Matrix avatar.
func avatarMetadataPayload(photo *vcardPhotoEl) []byte {
	n, _ := base64.StdEncoding.DecodeString(photo.BinVal)
	return mustMarshal(avatarMetadataEl{Infos: []avatarInfoEl{{Bytes: len(n), ID: photo.Hash, Type: photo.Type,
		Width: photo.Width, Height: photo.Height}}})
}

// imageSize returns the width and height of a PNG, JPEG or GIF image,
// or zeros (the header only is read).
func imageSize(data []byte) (w, h int) {
	c, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0
	}
	return c.Width, c.Height
}

// matrixAvatar returns u's global avatar as a vCard photo (through the
// avatar cache), nil when it has none or none usable, or an error
// (intent.ErrNotFound for an unknown user).
func (g *gateway) matrixAvatar(ctx context.Context, u matrix.UserID) (*vcardPhotoEl, error) {
	mxc, err := g.m.host.Matrix().Bot().AvatarURL(ctx, u)
	if err != nil || mxc == "" {
		return nil, err
	}
	if a, ok := g.avatars.get(mxc); ok {
		return a, nil
	}
	photo, keep := g.downloadAvatar(ctx, u, mxc)
	if keep {
		g.avatars.put(mxc, photo)
	}
	return photo, nil
}

// notifyAvatar sends the metadata of u's avatar photo (nil: none) to the
// XMPP users subscribed to u's presence, as a PEP notification from u's
// JID (XEP-0084 §4.2: an empty <metadata/> says there is none).
func (g *gateway) notifyAvatar(ctx context.Context, u matrix.UserID, photo *vcardPhotoEl) {
	subs, err := g.subscribers(ctx, u)
	g.log.Debug("xmpp: notifying a Matrix user's new avatar", "user", u, "subscribers", len(subs), "err", err)
	if err != nil || len(subs) == 0 {
		return
	}
	userJID, err := address.UserJID(g.m.domain, u)
	if err != nil {
		return
	}
	item := pubsubItemEl{Inner: mustMarshal(avatarMetadataEl{})}
	if photo != nil {
		item = pubsubItemEl{ID: photo.Hash, Inner: avatarMetadataPayload(photo)}
	}
	for _, s := range subs {
		g.enqueue(ctx, mustMarshal(pepEventMessage{From: userJID.String(), To: s, Type: "headline", ID: randomID(),
			Event: pepEventEl{Items: pubsubItemsEl{Node: nsAvatarMeta, Items: []pubsubItemEl{item}}}}))
	}
}

// lastAvatar sends the metadata of u's avatar, when it has one, to the
// XMPP user to (a subscriber, or a server probing for one) from u's JID
// from: what a PEP service sends a new subscriber and on presence
// (XEP-0163 send_last_published_item), so that its clients fetch the
// avatar without waiting for a change.
func (g *gateway) lastAvatar(ctx context.Context, u matrix.UserID, from, to string) {
	photo, err := g.matrixAvatar(ctx, u)
	if err != nil || photo == nil {
		return
	}
	g.enqueue(ctx, mustMarshal(pepEventMessage{From: from, To: to, Type: "headline", ID: randomID(),
		Event: pepEventEl{Items: pubsubItemsEl{Node: nsAvatarMeta, Items: []pubsubItemEl{{ID: photo.Hash, Inner: avatarMetadataPayload(photo)}}}}}))
}

// pepEventMessage is a PEP notification.
type pepEventMessage struct {
	XMLName xml.Name   `xml:"message"`
	From    string     `xml:"from,attr"`
	To      string     `xml:"to,attr"`
	Type    string     `xml:"type,attr"`
	ID      string     `xml:"id,attr"`
	Event   pepEventEl `xml:"event"`
}

type pepEventEl struct {
	XMLName xml.Name      `xml:"http://jabber.org/protocol/pubsub#event event"`
	Items   pubsubItemsEl `xml:"items"`
}
