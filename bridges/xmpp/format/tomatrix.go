package format

import (
	"encoding/xml"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
)

// ToMatrixOptions tune [ToMatrix].
type ToMatrixOptions struct {
	// TrimPrefix is removed from the start of the XHTML-IM text: the
	// "/me " of an emote, which the caller already cut from the body.
	TrimPrefix string
}

// ToMatrix returns the Matrix formatted_body (org.matrix.custom.html) of
// an XMPP message: from xhtmlIM, the tokens of its XHTML-IM payload (see
// [FindXHTML]), when it has one, else from the XEP-0393 styling of body
// (the plain body, without the "/me " of an emote). It is "" when the
// message has no formatting: then send the body alone. The result is
// always sanitized to the Matrix subset.
func ToMatrix(body string, xhtmlIM []xml.Token, opts ToMatrixOptions) string {
	var out string
	var formatted bool
	if len(xhtmlIM) > 0 {
		out, formatted = xhtmlToHTML(xhtmlIM, opts.TrimPrefix)
	} else {
		out, formatted = stylingToHTML(body)
	}
	if !formatted || len(out) > 2*maxInput {
		return "" // formatting only; an event that would be too large stays plain
	}
	if html := matrixhtml.Sanitize(out); len(html) <= maxInput {
		return html
	}
	return ""
}
