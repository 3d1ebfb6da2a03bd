package xmpp

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Avatars both ways, with vCards (XEP-0054 vcard-temp, XEP-0153).
//
// XMPP → Matrix: an occupant's presence in a room (or an XMPP user's
// presence to a Matrix user it has a direct chat with) may carry the
// SHA-1 of its avatar (<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>).
// When the hash differs from the last one its puppet got (kept in the
// module's KV per bare JID), the bridge asks the user's server for the
// vCard of the bare JID, uploads its PHOTO (at most max_avatar_bytes) to
// the Matrix media repository as the puppet and makes it the puppet's
// avatar with kit.SyncProfile. This runs in a lane of its own per JID,
// so a slow vCard answer never holds a room's messages. An empty
// <photo/> (no avatar) leaves the puppet's avatar as it is.
//
// Matrix → XMPP: a vCard get to a Matrix user's JID, or to the occupant
// JID of a Matrix member in a hosted room, is answered with the user's
// displayname (FN) and avatar (PHOTO, downloaded from the media
// repository; left out when larger than max_avatar_bytes or unreadable).
// Presences of Matrix members carry the photo hash once known
// (mxavatars.go); XEP-0084 (PEP) avatars are read first (pepfetch.go)
// and served (pepserve.go).

const (
	nsVCard       = "vcard-temp"
	nsVCardUpdate = "vcard-temp:x:update"
	// maxAvatarBytes is the default of max_avatar_bytes, the bound of
	// an avatar image either way (Config.MaxAvatarBytes).
	maxAvatarBytes = 128 << 10
	// avatarKeyPrefix + bare JID is the photo hash the puppet's avatar
	// was last made from.
	avatarKeyPrefix = "muc/avatar/"
)

// presencePhoto returns the XEP-0153 photo hash of a presence: nil when
// it tells none, "" for no avatar (an empty <photo/>), else the hash,
// lower-cased (at most 128 bytes).
func presencePhoto(st *component.Stanza) *string {
	depth, inX, inPhoto := 0, false, false
	var b strings.Builder
	for _, t := range st.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				inX = t.Name.Space == nsVCardUpdate && t.Name.Local == "x"
			case depth == 2 && inX:
				inPhoto = t.Name.Local == "photo" && t.Name.Space == nsVCardUpdate
				b.Reset()
			}
		case xml.EndElement:
			if depth == 2 && inPhoto {
				h := strings.ToLower(strings.TrimSpace(b.String()))
				if len(h) > 128 {
					return nil
				}
				return &h
			}
			depth--
		case xml.CharData:
			if inPhoto && depth == 2 && b.Len() <= 128 {
				b.Write(t)
			}
		}
	}
	return nil
}

// photoHash returns the photo hash a presence tells ("" for none or no
// avatar).
func photoHash(st *component.Stanza) string {
	if h := presencePhoto(st); h != nil {
		return *h
	}
	return ""
}

// vcardUpdateEl tells an occupant's photo hash in its presence.
type vcardUpdateEl struct {
	Photo string `xml:"photo"`
}

// notePhoto keeps the photo hash a presence of an occupant's resource
// tells, so that the room's presences of it carry it (in the room's
// lane, before the presence is handled).
func (g *gateway) notePhoto(st *component.Stanza, from, roomJID jid.JID) {
	h := presencePhoto(st)
	if h == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, o := g.findOccupant(from, roomJID); o != nil {
		o.Photo = h
	}
}

// vcardPhoto returns the type and bytes of the PHOTO of the vCard in an
// IQ's content (the tokens inside the iq), or ok false when it has none
// or it cannot be read. The bytes are bounded by max.
func vcardPhoto(toks []xml.Token, max int) (mime string, data []byte, ok bool) {
	var path []string
	var typ, binval strings.Builder
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			if len(path) == 0 && (t.Name.Space != nsVCard || t.Name.Local != "vCard") {
				return "", nil, false
			}
			path = append(path, t.Name.Local)
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if len(path) == 3 && path[1] == "PHOTO" {
				switch path[2] {
				case "TYPE":
					if typ.Len() < 100 {
						typ.Write(t)
					}
				case "BINVAL":
					if binval.Len() > base64.StdEncoding.EncodedLen(max)+4096 {
						return "", nil, false
					}
					binval.Write(t)
				}
			}
		}
	}
	raw := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, binval.String())
	if raw == "" {
		return "", nil, false
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) == 0 || len(data) > max {
		return "", nil, false
	}
	mime = strings.TrimSpace(typ.String())
	if !strings.HasPrefix(mime, "image/") {
		mime = http.DetectContentType(data)
	}
	return mime, data, true
}

// avatarHint follows a presence from from to roomJID (after its join,
// in the room's lane): the avatar of a joined occupant is checked in the
// JID's own lane when its photo hash is new or the last check is old
// (XEP-0084 first, then the vCard: pepfetch.go).
func (g *gateway) avatarHint(st *component.Stanza, from, roomJID jid.JID) {
	hash := photoHash(st)
	g.mu.Lock()
	r, o := g.findOccupant(from, roomJID)
	var room matrix.RoomID
	var p matrix.UserID
	if o != nil {
		room, p = r.id, o.Puppet
	}
	g.mu.Unlock()
	if o == nil {
		return
	}
	real := from.Bare()
	if !g.avatarChecks.due(real.String(), hash, time.Now()) {
		return // checked lately (pepfetch.go)
	}
	g.push("avatar/"+real.String(), nil, func(ctx context.Context) { g.avatarFromXMPP(ctx, real, p, room, hash) })
}

// routeVCard takes vCard requests to Matrix users' JIDs and to the
// occupant JIDs of hosted rooms (a Matrix member's is answered from
// Matrix, an XMPP user's relayed from its own vCard).
func (g *gateway) routeVCard(st *component.Stanza, from, to jid.JID) bool {
	p := st.Payloads()
	if len(p) != 1 || p[0].Name.Space != nsVCard || p[0].Name.Local != "vCard" {
		return false
	}
	u, ok := contactOf(to)
	switch {
	case ok && (to.Resourcepart() == "" || to.Resourcepart() == occupantResource):
		// A Matrix user's JID, or their occupant's in an existing MUC
		// (reverse_avatars.go), which such MUCs may ask in the name of
		// a client asking the occupant's vCard.
	case isRoomJID(to) && to.Resourcepart() != "":
		var real jid.JID
		u, real = g.occupantByNick(to)
		switch {
		case st.Attr("type") != "get":
			g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "not-allowed", "vCards of occupants are read-only"))
			return true
		case real.String() != "":
			g.push("vcard/"+real.String(), func() {
				g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "too many requests; try again"))
			}, func(ctx context.Context) { g.enqueue(ctx, g.relayVCard(ctx, st, to, real)) })
			return true
		case u == "":
			g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "item-not-found", "nobody has this nick here"))
			return true
		}
	default:
		return false
	}
	if st.Attr("type") != "get" {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "not-allowed", "the vCards of Matrix users are read-only"))
		return true
	}
	g.push("vcard/"+string(u), func() {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "too many requests; try again"))
	}, func(ctx context.Context) { g.enqueue(ctx, g.vcardOf(ctx, st, to, u)) })
	return true
}

// occupantByNick returns who has the occupant JID to in a hosted room:
// a Matrix member (u) or an XMPP occupant (its bare real JID), or
// neither.
func (g *gateway) occupantByNick(to jid.JID) (u matrix.UserID, real jid.JID) {
	bare, nick := to.Bare().String(), to.Resourcepart()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		joinedThrough := false
		for _, o := range r.occupants {
			if o.RoomJID != bare {
				continue
			}
			joinedThrough = true
			if o.Nick == nick && !o.joining {
				if j, err := jid.Parse(o.Real); err == nil {
					return "", j
				}
			}
		}
		if !joinedThrough {
			continue
		}
		for id, mb := range r.members {
			if mb.nick == nick {
				return id, jid.JID{}
			}
		}
	}
	return "", jid.JID{}
}

// relayVCard answers the vCard request st to the occupant JID to of an
// XMPP user with the photo of the vCard of its bare JID real, asked of
// its server, and its nick as FN.
func (g *gateway) relayVCard(ctx context.Context, st *component.Stanza, to, real jid.JID) []byte {
	req := mustMarshal(iqStanza{From: g.m.domain.String(), To: real.String(), Type: "get",
		Inner: []byte(`<vCard xmlns='vcard-temp'/>`)})
	res, err := g.m.conn.SendIQ(ctx, decoder(req))
	if err != nil {
		g.log.Info("xmpp: could not fetch a vCard to relay", "jid", real.String(), "err", err)
		return iqErrorStanza(st, to, "wait", "remote-server-timeout", "the occupant's server did not answer")
	}
	card := vcardEl{FN: to.Resourcepart()}
	if res.Attr("type") == "result" && !res.Oversize {
		if mime, data, ok := vcardPhoto(res.Inner, g.m.cfg.MaxAvatarBytes); ok {
			card.Photo = &vcardPhotoEl{Type: mime, BinVal: base64.StdEncoding.EncodeToString(data)}
		}
	}
	return iqResultStanza(st, to, mustMarshal(card))
}

// vcardOf answers the vCard request st to to with Matrix user u's name
// and avatar.
func (g *gateway) vcardOf(ctx context.Context, st *component.Stanza, to jid.JID, u matrix.UserID) []byte {
	bot := g.m.host.Matrix().Bot()
	name, err := bot.Displayname(ctx, u)
	if errors.Is(err, intent.ErrNotFound) {
		return iqErrorStanza(st, to, "cancel", "item-not-found", "no such Matrix user")
	}
	if err != nil {
		g.log.Info("xmpp: could not read a Matrix user's name", "user", u, "err", err)
	}
	card := vcardEl{FN: name}
	if mxc, err := bot.AvatarURL(ctx, u); err == nil && mxc != "" {
		if a, ok := g.avatars.get(mxc); ok {
			card.Photo = a
		} else {
			var keep bool
			if card.Photo, keep = g.downloadAvatar(ctx, u, mxc); keep {
				g.avatars.put(mxc, card.Photo)
			}
		}
	}
	return iqResultStanza(st, to, mustMarshal(card))
}

// downloadAvatar returns the vCard PHOTO of the avatar mxc of Matrix user
// u, or nil when it cannot be read or is over max_avatar_bytes; keep says
// whether the answer holds for good (not a failure to download).
func (g *gateway) downloadAvatar(ctx context.Context, u matrix.UserID, mxc string) (photo *vcardPhotoEl, keep bool) {
	data, mime, err := g.m.host.Matrix().Bot().DownloadMedia(ctx, mxc)
	switch {
	case err != nil:
		g.log.Info("xmpp: could not download an avatar", "user", u, "err", err)
		return nil, false
	case len(data) > g.m.cfg.MaxAvatarBytes:
		g.log.Info("xmpp: avatar too large for a vCard", "user", u, "bytes", len(data), "limit", g.m.cfg.MaxAvatarBytes)
		return nil, true
	}
	if !strings.HasPrefix(mime, "image/") {
		mime = http.DetectContentType(data)
	}
	w, h := imageSize(data)
	return &vcardPhotoEl{Type: mime, BinVal: base64.StdEncoding.EncodeToString(data), Hash: photoSum(data), Width: w, Height: h}, true
}

// avatarCacheSize bounds the Matrix avatars kept for vCards (each at
// most max_avatar_bytes, base64).
const avatarCacheSize = 32

// avatarCache keeps the vCard photos of the last Matrix avatars served
// (by mxc URI, which names immutable content; nil for one that could not
// be used), so that repeated vCard requests do not download them again.
type avatarCache struct {
	mu    sync.Mutex
	m     map[string]*vcardPhotoEl
	order []string
}

func (c *avatarCache) get(mxc string) (*vcardPhotoEl, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[mxc]
	return p, ok
}

func (c *avatarCache) put(mxc string, p *vcardPhotoEl) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*vcardPhotoEl{}
	}
	if _, ok := c.m[mxc]; !ok {
		c.order = append(c.order, mxc)
	}
	c.m[mxc] = p
	for len(c.order) > avatarCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

type vcardEl struct {
	XMLName xml.Name      `xml:"vcard-temp vCard"`
	FN      string        `xml:"FN,omitempty"`
	Photo   *vcardPhotoEl `xml:"PHOTO,omitempty"`
}

type vcardPhotoEl struct {
	Type   string `xml:"TYPE"`
	BinVal string `xml:"BINVAL"`
	Hash   string `xml:"-"` // of a Matrix avatar: the SHA-1 of its bytes
	// Width and Height of a Matrix avatar in PNG, JPEG or GIF (else 0),
	// for its XEP-0084 metadata (pepserve.go).
	Width, Height int `xml:"-"`
}
