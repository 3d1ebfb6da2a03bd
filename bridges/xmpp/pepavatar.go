package xmpp

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// XEP-0084 (User Avatar) in PEP: the stanzas and their parsing. An
// avatar is two PEP nodes of the user's bare JID: urn:xmpp:avatar:metadata
// (an item whose id is the SHA-1 of the image, holding <info/> elements
// that describe it) and urn:xmpp:avatar:data (an item with the same id
// holding the image, base64). pepfetch.go reads XMPP users' avatars,
// pepserve.go serves Matrix users'.

const (
	nsPubsub       = "http://jabber.org/protocol/pubsub"
	nsPubsubEvent  = "http://jabber.org/protocol/pubsub#event"
	nsAvatarMeta   = "urn:xmpp:avatar:metadata"
	nsAvatarData   = "urn:xmpp:avatar:data"
	maxAvatarInfos = 16 // <info/> elements read from one metadata item
)

// avatarInfo is one <info/> of an avatar's metadata.
type avatarInfo struct {
	ID     string // SHA-1 of the image, lower-case hex
	Type   string // its MIME type
	Bytes  int    // its size, 0 when not told
	Width  int
	Height int
	URL    string // set when the image is at an HTTP address, not in the data node
}

// errAvatarData: the data item is missing, too large, not base64 or does
// not match its id.
var errAvatarData = errors.New("unusable avatar data")

// isSHA1Hex reports whether s is a SHA-1 in lower-case hex.
func isSHA1Hex(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// avatarMetadata reads the metadata item in toks, the content of an IQ
// result (<pubsub><items node='urn:xmpp:avatar:metadata'><item>) or of a
// notification message (<event><items>...). found reports a <metadata/>
// element; without <info/> in it the user has no avatar (XEP-0084 §4.2).
// At most maxAvatarInfos infos are read; ones with an id that is no
// SHA-1 are left out.
func avatarMetadata(toks []xml.Token) (infos []avatarInfo, found bool) {
	var path []xml.Name
	inMeta := false
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			if len(path) == 4 && t.Name.Space == nsAvatarMeta && t.Name.Local == "metadata" && itemsPath(path) {
				found, inMeta = true, true
			}
			if len(path) == 5 && inMeta && t.Name.Space == nsAvatarMeta && t.Name.Local == "info" && len(infos) < maxAvatarInfos {
				if in, ok := infoOf(t); ok {
					infos = append(infos, in)
				}
			}
		case xml.EndElement:
			if len(path) == 4 {
				inMeta = false
			}
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		}
	}
	return infos, found
}

// itemsPath reports whether path starts pubsub/items/item (or the event
// form, event/items/item).
func itemsPath(path []xml.Name) bool {
	root := path[0]
	if !(root.Local == "pubsub" && root.Space == nsPubsub || root.Local == "event" && root.Space == nsPubsubEvent) {
		return false
	}
	return path[1].Local == "items" && path[1].Space == root.Space && path[2].Local == "item" && path[2].Space == root.Space
}

// infoOf reads an <info/> element.
func infoOf(t xml.StartElement) (avatarInfo, bool) {
	var in avatarInfo
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "id":
			in.ID = strings.ToLower(strings.TrimSpace(a.Value))
		case "type":
			in.Type = strings.TrimSpace(a.Value)
		case "url":
			in.URL = a.Value
		case "bytes":
			in.Bytes, _ = strconv.Atoi(a.Value)
		case "width":
			in.Width, _ = strconv.Atoi(a.Value)
		case "height":
			in.Height, _ = strconv.Atoi(a.Value)
		}
	}
	if !isSHA1Hex(in.ID) || in.Bytes < 0 || len(in.Type) > 100 {
		return avatarInfo{}, false
	}
	return in, true
}

// itemsNode returns the node attribute of the <items/> in toks (an IQ
// result's or a notification's content), or "".
func itemsNode(toks []xml.Token) string {
	depth := 0
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "items" {
				for _, a := range t.Attr {
					if a.Name.Local == "node" && a.Name.Space == "" {
						return a.Value
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	return ""
}

// pickAvatar chooses the info to fetch from the data node: one without
// a URL, whose told size is within max, image/png first (every
// publisher must offer it, XEP-0084 §4.2.1).
func pickAvatar(infos []avatarInfo, max int) (avatarInfo, bool) {
	var best avatarInfo
	ok := false
	for _, in := range infos {
		if in.URL != "" || in.Bytes > max {
			continue
		}
		if !ok || in.Type == "image/png" && best.Type != "image/png" {
			best, ok = in, true
		}
	}
	return best, ok
}

// avatarData returns the image of the data item id in toks, the content
// of an IQ result (<pubsub><items node='urn:xmpp:avatar:data'><item
// id=...><data>base64</data>). The image must be at most max bytes and
// its SHA-1 must be id.
func avatarData(toks []xml.Token, id string, max int) ([]byte, error) {
	var path []xml.Name
	var b strings.Builder
	in, seen := false, false
	limit := base64.StdEncoding.EncodedLen(max) + 4096 // whitespace
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			in = false
			if len(path) == 4 && !seen && t.Name.Space == nsAvatarData && t.Name.Local == "data" &&
				itemsPath(path) {
				in, seen = true, true
			}
		case xml.EndElement:
			in = false
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if in {
				if b.Len()+len(t) > limit {
					return nil, fmt.Errorf("%w: over %d bytes", errAvatarData, max)
				}
				b.Write(t)
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("%w: no data item", errAvatarData)
	}
	raw := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, b.String())
	data, err := base64.StdEncoding.DecodeString(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errAvatarData, err)
	case len(data) == 0:
		return nil, fmt.Errorf("%w: empty", errAvatarData)
	case len(data) > max:
		return nil, fmt.Errorf("%w: %d bytes, over %d", errAvatarData, len(data), max)
	case photoSum(data) != id:
		return nil, fmt.Errorf("%w: its SHA-1 is not its id %s", errAvatarData, id)
	}
	return data, nil
}

// pubsubItemsRequest is an IQ get for the items of node at to (the last
// one only: max_items='1'), or for item id when id is set.
func pubsubItemsRequest(from, to, node, id string) []byte {
	items := pubsubItemsEl{Node: node}
	if id != "" {
		items.Items = []pubsubItemEl{{ID: id}}
	} else {
		items.MaxItems = "1"
	}
	return mustMarshal(iqStanza{From: from, To: to, Type: "get", ID: "avatar-" + randomID(),
		Inner: mustMarshal(pubsubEl{Items: items})})
}

type pubsubEl struct {
	XMLName xml.Name      `xml:"http://jabber.org/protocol/pubsub pubsub"`
	Items   pubsubItemsEl `xml:"items"`
}

type pubsubItemsEl struct {
	Node     string         `xml:"node,attr"`
	MaxItems string         `xml:"max_items,attr,omitempty"`
	Items    []pubsubItemEl `xml:"item"`
}

type pubsubItemEl struct {
	ID    string `xml:"id,attr,omitempty"`
	Inner []byte `xml:",innerxml"`
}

// avatarMetadataEl is the payload of a metadata item.
type avatarMetadataEl struct {
	XMLName xml.Name       `xml:"urn:xmpp:avatar:metadata metadata"`
	Infos   []avatarInfoEl `xml:"info"`
}

type avatarInfoEl struct {
	Bytes  int    `xml:"bytes,attr"`
	ID     string `xml:"id,attr"`
	Type   string `xml:"type,attr"`
	Width  int    `xml:"width,attr,omitempty"`
	Height int    `xml:"height,attr,omitempty"`
}

// avatarDataEl is the payload of a data item.
type avatarDataEl struct {
	XMLName xml.Name `xml:"urn:xmpp:avatar:data data"`
	Data    string   `xml:",chardata"`
}
