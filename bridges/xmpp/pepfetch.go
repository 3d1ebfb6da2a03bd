package xmpp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// XMPP users' avatars → their puppets' Matrix avatars, XEP-0084 (PEP)
// first, the vCard (XEP-0153, avatars.go) when the user has no usable
// PEP avatar.
//
// When: a presence of an XMPP user in a hosted room or a portal to an
// existing MUC (real JID known), or to a Matrix user's JID (a contact),
// checks the user's avatar when its XEP-0153 hash differs from the one
// of the last check or that check is older than pepRecheck; a PEP
// notification of a new avatar (a message with
// <event><items node='urn:xmpp:avatar:metadata'>, from the user's bare
// JID to a Matrix user's JID) fetches it at once.
//
// How: in a lane of its own per bare JID, the bridge asks the user's bare
// JID for the last item of urn:xmpp:avatar:metadata (from the component's
// domain, or from the Matrix user's JID for a contact, which the default
// 'presence' access model lets read). An <info/> that is in the data node
// (no url), at most max_avatar_bytes, image/png first, is taken; when its
// id (the SHA-1 of the image) is the one the puppet's avatar was made
// from, nothing is done; else the data item of that id is fetched, its
// size and SHA-1 checked, uploaded to the media repository as the puppet
// and set as its avatar (kit.SyncProfile). Without a PEP avatar (no node,
// access refused, an empty <metadata/>, or unusable data) the vCard of a
// new XEP-0153 hash is used as before.

const (
	// pepRecheck is how long an XMPP user's avatar is trusted without a
	// new hash in its presence or a notification.
	pepRecheck = time.Hour
	// avatarChecksMax bounds the users whose last check is remembered.
	avatarChecksMax = 4096
)

// avatarChecks remembers when each XMPP user's avatar was last checked
// and the XEP-0153 hash its presence told then.
type avatarChecks struct {
	mu sync.Mutex
	m  map[string]avatarCheck
}

type avatarCheck struct {
	at   time.Time
	hint string
}

// due reports whether real's avatar is to be checked now, given the hash
// hint of its presence, and records the check.
func (c *avatarChecks) due(real, hint string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.m[real]; ok && last.hint == hint && now.Sub(last.at) < pepRecheck {
		return false
	}
	if c.m == nil || len(c.m) >= avatarChecksMax {
		c.m = map[string]avatarCheck{}
	}
	c.m[real] = avatarCheck{at: now, hint: hint}
	return true
}

// avatarReq is a check of an XMPP user's avatar.
type avatarReq struct {
	real   jid.JID       // the user's bare JID
	asker  string        // the JID the queries come from
	puppet matrix.UserID // its puppet
	room   matrix.RoomID // where the profile change is queued ("": set at once)
	hint   string        // the XEP-0153 hash its presence told ("": none)
	// meta holds the infos of a notification (notified set): they are
	// not asked for again.
	meta     []avatarInfo
	notified bool
}

// avatarFromXMPP makes the avatar of the XMPP user real (XEP-0084, else
// the vCard of photo hash hash) the avatar of its puppet p, unless it
// already is. Queries come from the component's domain.
func (g *gateway) avatarFromXMPP(ctx context.Context, real jid.JID, p matrix.UserID, room matrix.RoomID, hash string) {
	g.syncAvatar(ctx, avatarReq{real: real, asker: g.m.domain.String(), puppet: p, room: room, hint: hash})
}

// syncAvatar runs the check a (in the user's avatar lane).
func (g *gateway) syncAvatar(ctx context.Context, a avatarReq) {
	key := avatarKeyPrefix + a.real.String()
	last, err := g.m.host.KV().Get(ctx, key)
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		g.log.Warn("xmpp: could not read an avatar's hash", "jid", a.real.String(), "err", err)
		return
	}
	infos := a.meta
	if !a.notified {
		infos = g.pepMetadata(ctx, a)
	}
	if in, ok := pickAvatar(infos, g.m.cfg.MaxAvatarBytes); ok {
		if in.ID == string(last) {
			return
		}
		data, err := g.pepData(ctx, a, in.ID)
		if err == nil {
			mime := in.Type
			if !strings.HasPrefix(mime, "image/") {
				mime = http.DetectContentType(data)
			}
			g.setPuppetAvatar(ctx, a, in.ID, mime, data)
			return
		}
		g.log.Info("xmpp: no usable PEP avatar data", "jid", a.real.String(), "id", in.ID, "err", err)
	} else if len(infos) > 0 {
		g.log.Info("xmpp: the PEP avatar is only at a URL or too large", "jid", a.real.String(), "limit", g.m.cfg.MaxAvatarBytes)
	}
	if a.hint == "" || a.hint == string(last) {
		return
	}
	mime, data, ok := g.vcardAvatar(ctx, a.real)
	if !ok {
		return
	}
	if photoSum(data) != a.hint {
		g.log.Debug("xmpp: the vCard photo does not match the presence's hash", "jid", a.real.String())
	}
	g.setPuppetAvatar(ctx, a, a.hint, mime, data)
}

// pepMetadata returns the infos of the last avatar metadata item of
// a.real (none when it has none or does not let the bridge read it).
func (g *gateway) pepMetadata(ctx context.Context, a avatarReq) []avatarInfo {
	res, err := g.m.conn.SendIQ(ctx, decoder(pubsubItemsRequest(a.asker, a.real.String(), nsAvatarMeta, "")))
	if err != nil {
		g.log.Info("xmpp: could not ask for a PEP avatar", "jid", a.real.String(), "err", err)
		return nil
	}
	if res.Attr("type") != "result" || res.Oversize {
		g.log.Debug("xmpp: no readable PEP avatar", "jid", a.real.String(), "type", res.Attr("type"), "oversize", res.Oversize)
		return nil
	}
	infos, _ := avatarMetadata(res.Inner)
	return infos
}

// pepData fetches the avatar data item id of a.real and checks it.
func (g *gateway) pepData(ctx context.Context, a avatarReq, id string) ([]byte, error) {
	res, err := g.m.conn.SendIQ(ctx, decoder(pubsubItemsRequest(a.asker, a.real.String(), nsAvatarData, id)))
	switch {
	case err != nil:
		return nil, err
	case res.Oversize:
		return nil, errAvatarData
	case res.Attr("type") != "result":
		return nil, errors.New("the data item was refused: " + res.Attr("type"))
	}
	return avatarData(res.Inner, id, g.m.cfg.MaxAvatarBytes)
}

// vcardAvatar returns the PHOTO of real's vCard, asked of its server.
func (g *gateway) vcardAvatar(ctx context.Context, real jid.JID) (mime string, data []byte, ok bool) {
	req := mustMarshal(iqStanza{From: g.m.domain.String(), To: real.String(), Type: "get",
		Inner: []byte(`<vCard xmlns='vcard-temp'/>`)})
	st, err := g.m.conn.SendIQ(ctx, decoder(req))
	if err != nil {
		g.log.Info("xmpp: could not fetch a vCard", "jid", real.String(), "err", err)
		return "", nil, false
	}
	if st.Attr("type") != "result" || st.Oversize {
		g.log.Info("xmpp: no usable vCard", "jid", real.String(), "type", st.Attr("type"), "oversize", st.Oversize)
		return "", nil, false
	}
	mime, data, ok = vcardPhoto(st.Inner, g.m.cfg.MaxAvatarBytes)
	if !ok {
		g.log.Info("xmpp: the vCard has no usable photo", "jid", real.String(), "limit", g.m.cfg.MaxAvatarBytes)
	}
	return mime, data, ok
}

// setPuppetAvatar uploads the image data as a's puppet, makes it its
// avatar and remembers hash as the one it was made from.
func (g *gateway) setPuppetAvatar(ctx context.Context, a avatarReq, hash, mime string, data []byte) {
	mxc, err := g.m.host.Matrix().Intent(a.puppet).UploadMedia(ctx, mime, "avatar", data)
	if err != nil {
		g.log.Warn("xmpp: could not upload an avatar", "puppet", a.puppet, "err", err)
		return
	}
	if a.room == "" {
		// A contact without a direct chat yet: no room orders it, so it
		// is set at once (the outbox queues per room).
		if err := g.m.host.Matrix().Intent(a.puppet).SetAvatarURL(ctx, mxc); err != nil {
			g.log.Warn("xmpp: could not set a puppet's avatar", "puppet", a.puppet, "err", err)
			return
		}
	} else if _, err := kit.SyncProfile(ctx, g.m.host, a.room, a.puppet, kit.Profile{AvatarURL: mxc}); err != nil {
		g.log.Warn("xmpp: could not queue a puppet's avatar", "puppet", a.puppet, "err", err)
		return
	}
	if err := g.m.host.KV().Put(ctx, avatarKeyPrefix+a.real.String(), []byte(hash)); err != nil {
		g.log.Warn("xmpp: could not remember an avatar", "jid", a.real.String(), "err", err)
	}
}

// contactAvatar checks the avatar of an XMPP user whose available
// presence reached Matrix user u's JID to, when due.
func (g *gateway) contactAvatar(st *component.Stanza, from, to jid.JID, u matrix.UserID) {
	real := from.Bare()
	hint := photoHash(st)
	if !g.avatarChecks.due(real.String(), hint, time.Now()) {
		return
	}
	g.contactAvatarCheck(real, to.Bare(), u, avatarReq{hint: hint})
}

// contactAvatarCheck runs a, a check of the avatar of real (a contact of
// u, whose JID is userJID), in real's avatar lane.
func (g *gateway) contactAvatarCheck(real, userJID jid.JID, u matrix.UserID, a avatarReq) {
	p, err := g.puppetOf(real.String())
	if err != nil {
		return
	}
	a.real, a.asker, a.puppet = real, userJID.String(), p
	g.push("avatar/"+real.String(), nil, func(ctx context.Context) {
		if dm, err := g.m.host.Portals().ByKey(ctx, dmPortalKey(real.String(), u)); err == nil {
			a.room = dm.Room
		}
		g.syncAvatar(ctx, a)
	})
}

// pepEventRoute takes PEP notifications (XEP-0163) sent to Matrix users'
// JIDs: a new avatar of the sender (XEP-0084 metadata) is fetched for its
// puppet. Other events are dropped; none is answered.
func (g *gateway) pepEventRoute(st *component.Stanza, from, to jid.JID) bool {
	if !hasPayload(st, nsPubsubEvent, "event") {
		return false
	}
	u, ok := contactOf(to)
	if !ok || from.Resourcepart() != "" || itemsNode(st.Inner) != nsAvatarMeta {
		g.log.Debug("xmpp: pubsub event ignored", "from", from.String(), "to", to.String())
		return true
	}
	infos, found := avatarMetadata(st.Inner)
	if !found {
		return true
	}
	g.avatarChecks.due(from.Bare().String(), "", time.Now())
	g.contactAvatarCheck(from.Bare(), to.Bare(), u, avatarReq{meta: infos, notified: true})
	return true
}

// hasPayload reports whether st has a direct child space local.
func hasPayload(st *component.Stanza, space, local string) bool {
	for _, p := range st.Payloads() {
		if p.Name.Space == space && p.Name.Local == local {
			return true
		}
	}
	return false
}
