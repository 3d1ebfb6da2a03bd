package xmpp

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // image sizes for info.w/h
	_ "image/jpeg" // image sizes for info.w/h
	_ "image/png"  // image sizes for info.w/h
	"net/url"
	"strings"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/bridges/xmpp/format"
	"github.com/causewaybridge/causeway/matrix"
)

// Message content both ways (issue 10 §3): formatting (package format)
// and files. XMPP → Matrix, a message whose body is the URL of its
// XEP-0066 <x xmlns='jabber:x:oob'/> (how XEP-0363 uploads are shared)
// is downloaded and posted as m.image, m.video, m.audio or m.file;
// anything else is text with a formatted_body when it has formatting.
// Matrix → XMPP, a file becomes its public link as body and OOB URL;
// text keeps the Matrix body and gets XHTML-IM when it has formatting.

const nsOOB = "jabber:x:oob"

// htmlFormat is the Matrix format of formatted_body.
const htmlFormat = "org.matrix.custom.html"

// inbound is what an XMPP message gives Matrix: its body, its XHTML-IM
// payload (tokens) and its XEP-0066 link.
type inbound struct {
	text  string
	xhtml []xml.Token
	oob   string
}

// inboundOf reads a message stanza's body, XHTML-IM and OOB link.
func inboundOf(st *component.Stanza) inbound {
	in := inbound{text: body(st), xhtml: format.FindXHTML(st.Inner)}
	if x, ok := find(st, nsOOB, "x"); ok {
		in.oob = oobURL(st, x)
	}
	return in
}

// oobURL returns the <url/> text of the OOB element x of st.
func oobURL(st *component.Stanza, x child) string {
	depth, inX, inURL := 0, false, false
	var b strings.Builder
	for _, t := range st.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && t.Name == x.Start.Name {
				inX = true
			}
			inURL = inX && depth == 2 && t.Name.Local == "url" && t.Name.Space == nsOOB
		case xml.EndElement:
			if depth == 1 && inX {
				return strings.TrimSpace(b.String())
			}
			inURL = false
			depth--
		case xml.CharData:
			if inURL {
				b.Write(t)
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// matrixContent is the content of a Matrix message made from XMPP. A
// file keeps the link it was shared as (external_url, as other bridges
// write it), so that the XMPP side is shown the original link.
type matrixContent struct {
	matrix.MessageContent
	ExternalURL string `json:"external_url,omitempty"`
}

// fileInfo is the info of a Matrix file message; w and h for images
// whose size the standard decoders read (PNG, JPEG, GIF).
type fileInfo struct {
	Mimetype string `json:"mimetype,omitempty"`
	Size     int    `json:"size"`
	W        int    `json:"w,omitempty"`
	H        int    `json:"h,omitempty"`
}

// toMatrix returns the Matrix content of an XMPP message sent by puppet
// p: a file link shared alone is downloaded and uploaded as p (on
// failure the link stays text, and the failure is logged); "/me " makes
// an emote; formatting gives a formatted_body.
func (g *gateway) toMatrix(ctx context.Context, p matrix.UserID, in inbound) matrixContent {
	if in.oob != "" && strings.TrimSpace(in.text) == in.oob {
		c, err := g.fileToMatrix(ctx, p, in.oob)
		if err == nil {
			return c
		}
		g.log.Warn("xmpp: a shared file stays a link", "puppet", p, "err", err)
	}
	text, msgtype, trim := in.text, matrix.MsgText, ""
	if rest, ok := strings.CutPrefix(text, "/me "); ok {
		text, msgtype, trim = rest, matrix.MsgEmote, "/me "
	}
	if in.oob != "" && !strings.Contains(text, in.oob) {
		text += "\n" + in.oob
	}
	c := matrixContent{MessageContent: matrix.MessageContent{MsgType: msgtype, Body: text}}
	if html := format.ToMatrix(text, in.xhtml, format.ToMatrixOptions{TrimPrefix: trim}); html != "" {
		c.Format, c.FormattedBody = htmlFormat, html
	}
	return c
}

// fileToMatrix downloads link and uploads it to the media repository as
// p, returning the content of a Matrix file message.
func (g *gateway) fileToMatrix(ctx context.Context, p matrix.UserID, link string) (matrixContent, error) {
	f, err := g.fetch.fetch(ctx, link)
	if err != nil {
		return matrixContent{}, err
	}
	mxc, err := g.m.host.Matrix().Intent(p).UploadMedia(ctx, f.mimetype, f.name, f.data)
	if err != nil {
		return matrixContent{}, fmt.Errorf("xmpp: upload a shared file: %w", err)
	}
	fi := fileInfo{Mimetype: f.mimetype, Size: len(f.data)}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(f.data)); err == nil && strings.HasPrefix(f.mimetype, "image/") {
		fi.W, fi.H = cfg.Width, cfg.Height
	}
	info, err := json.Marshal(fi)
	if err != nil {
		return matrixContent{}, err
	}
	return matrixContent{MessageContent: matrix.MessageContent{MsgType: fileMsgType(f.mimetype), Body: f.name, URL: mxc, Info: info},
		ExternalURL: link}, nil
}

// fileMsgType is the Matrix msgtype of a file of MIME type mt.
func fileMsgType(mt string) string {
	switch {
	case strings.HasPrefix(mt, "image/"):
		return matrix.MsgImage
	case strings.HasPrefix(mt, "video/"):
		return matrix.MsgVideo
	case strings.HasPrefix(mt, "audio/"):
		return matrix.MsgAudio
	}
	return matrix.MsgFile
}

// outgoing returns the XMPP body of Matrix content c and the payloads
// to add to its stanza (XHTML-IM, OOB), encoded; ok is false for
// message types that are not bridged. link, when set, is the file's
// link to show instead of its public Matrix link (the original link of
// a file shared from XMPP).
func (g *gateway) outgoing(c *matrix.MessageContent, link string) (text string, extra []byte, ok bool) {
	prefix := ""
	switch c.MsgType {
	case matrix.MsgText, matrix.MsgNotice:
	case matrix.MsgEmote:
		prefix = "/me "
	case matrix.MsgImage, matrix.MsgFile, matrix.MsgVideo, matrix.MsgAudio:
		text, extra = g.fileOut(c, link)
		return text, extra, true
	default:
		return "", nil, false
	}
	if g.m.cfg.XHTMLIM && c.Format == htmlFormat && c.FormattedBody != "" {
		extra = format.FromMatrix(c.FormattedBody, format.FromMatrixOptions{Prefix: prefix, MediaURL: g.publicLink})
	}
	return prefix + c.Body, extra, true
}

// oobX is the XEP-0066 payload of a link.
type oobX struct {
	XMLName xml.Name `xml:"jabber:x:oob x"`
	URL     string   `xml:"url"`
	Desc    string   `xml:"desc,omitempty"`
}

// fileOut is the XMPP body and OOB payload of a Matrix file: its public
// link (clients show the file inline when the body is the OOB URL), or
// a note that the file stays on Matrix when there is no link to give. A
// caption (a body that differs from the file's name, MSC2530) is the
// OOB <desc/> and a line of the body after the link, so that clients
// that ignore <desc/> show it too (they then show the link as text,
// not the file inline).
func (g *gateway) fileOut(c *matrix.MessageContent, link string) (string, []byte) {
	name, caption := fileCaption(c)
	if link == "" {
		var ok bool
		if link, ok = g.publicLink(c.URL); ok {
			if name != "" && len(name) <= 200 && !strings.ContainsAny(name, "/\\") {
				link += "/" + url.PathEscape(name)
			}
		}
	}
	if link == "" {
		what := name
		if what == "" {
			what = "a file"
		}
		return withCaption(fmt.Sprintf("%s (a file on Matrix; the bridge has no public link to it)", what), caption), nil
	}
	desc := name
	if caption != "" {
		desc = caption
	}
	if desc == link {
		desc = ""
	}
	return withCaption(link, caption), mustMarshal(oobX{URL: link, Desc: desc})
}

// fileCaption returns the name of a Matrix file and its caption ("" for
// none): with a filename that differs from the body, the body is the
// caption; else the body is the name.
func fileCaption(c *matrix.MessageContent) (name, caption string) {
	if c.FileName != "" && c.FileName != c.Body {
		return c.FileName, c.Body
	}
	return c.Body, ""
}

// withCaption adds the caption line to a file's body.
func withCaption(body, caption string) string {
	if caption == "" {
		return body
	}
	return body + "\n" + caption
}

// publicLink is the public download link of an mxc:// URI, if any.
func (g *gateway) publicLink(mxc string) (string, bool) {
	if mxc == "" {
		return "", false
	}
	link, err := g.m.host.MediaURL(mxc)
	if err != nil {
		g.log.Debug("xmpp: no public link for Matrix media", "mxc", mxc, "err", err)
		return "", false
	}
	return link, true
}

// withPayload adds extra (encoded elements) at the end of an encoded
// message stanza.
func withPayload(b, extra []byte) []byte {
	if len(extra) == 0 {
		return b
	}
	const end = "</message>"
	if !bytes.HasSuffix(b, []byte(end)) {
		return b
	}
	out := make([]byte, 0, len(b)+len(extra))
	out = append(out, b[:len(b)-len(end)]...)
	out = append(out, extra...)
	return append(out, end...)
}

// reflected returns the XMPP body and payloads of an XMPP message as it
// went to Matrix (content of the outbox op): a file shows its original
// link.
func (g *gateway) reflected(raw json.RawMessage) (string, []byte, error) {
	var c matrixContent
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", nil, err
	}
	text, extra, ok := g.outgoing(&c.MessageContent, c.ExternalURL)
	if !ok {
		return "", nil, errors.New("xmpp: not a bridged message type")
	}
	return text, extra, nil
}
