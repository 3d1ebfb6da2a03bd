// Package format converts message formatting between XMPP and Matrix
// (issue 10 §3).
//
// XMPP → Matrix ([ToMatrix]): the formatted_body of a message is made
// from its XHTML-IM payload (XEP-0071) when it has one, else from the
// XEP-0393 message styling of its plain body (*strong*, _emphasis_,
// ~strike~, `pre`, ``` blocks, > quotes). The result is Matrix HTML
// passed through [matrixhtml.Sanitize], and it is "" when the message
// has no formatting, so that only messages that need one get a
// formatted_body. The plain body stays the Matrix body as it is.
//
// Matrix → XMPP ([FromMatrix]): the Matrix plain body stays the XMPP
// body (Matrix's body is already the plain fallback, and what clients
// without XHTML-IM show); the formatted_body, sanitized first, becomes an
// XHTML-IM payload, well-formed XML written through encoding/xml, so
// Matrix content cannot inject markup into the stanza.
//
// It is pure: no I/O, no logging, no global mutable state.
package format

import "github.com/causewaybridge/causeway/bridges/kit/matrixhtml"

// Namespaces of XHTML-IM.
const (
	// NSXHTMLIM is the namespace of the XEP-0071 <html/> wrapper.
	NSXHTMLIM = "http://jabber.org/protocol/xhtml-im"
	// NSXHTML is the namespace of its <body/>.
	NSXHTML = "http://www.w3.org/1999/xhtml"
)

// maxInput bounds the input, in bytes, the converters format: a Matrix
// event holds at most 64 KiB, body and formatted_body together, so
// larger messages are sent plain.
const maxInput = 24 << 10

// maxDepth bounds the elements the converters open at once; deeper
// elements are replaced by their content.
const maxDepth = matrixhtml.MaxDepth
