package component

import (
	"bytes"
	"encoding/xml"

	"mellium.im/xmpp/stanza"
)

// reply is an outgoing stanza built with encoding/xml. Its name has no
// namespace: the session puts it in the component namespace.
type reply struct {
	XMLName xml.Name
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr,omitempty"`
	ID      string `xml:"id,attr,omitempty"`
	Type    string `xml:"type,attr"`
	Inner   []byte `xml:",innerxml"`
}

// tokens encodes r and returns it as a token stream. from must be set:
// every stanza the component writes carries it.
func (r reply) tokens() (xml.TokenReader, error) {
	b, err := xml.Marshal(r)
	if err != nil {
		return nil, err
	}
	return xml.NewDecoder(bytes.NewReader(b)), nil
}

// iqResult answers the IQ in with a result carrying payload (raw XML, may
// be nil), from the JID the IQ was addressed to.
func iqResult(in *Stanza, from string, payload []byte) reply {
	return reply{XMLName: xml.Name{Local: "iq"}, From: from, To: in.Attr("from"), ID: in.Attr("id"),
		Type: string(stanza.ResultIQ), Inner: payload}
}

// errorReply answers in (any kind) with a stanza error of type typ and
// condition cond, with an explanatory text when text is not empty.
func errorReply(in *Stanza, from string, typ stanza.ErrorType, cond stanza.Condition, text string) reply {
	e := stanza.Error{Type: typ, Condition: cond}
	if text != "" {
		e.Text = map[string]string{"": text}
	}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	for r := e.TokenReader(); ; {
		tok, err := r.Token()
		if start, ok := tok.(xml.StartElement); ok {
			tok = withoutXMLNS(start) // the encoder writes it from Name.Space
		}
		if tok != nil {
			_ = enc.EncodeToken(tok) // to a bytes.Buffer: cannot fail on well-formed tokens
		}
		if err != nil {
			break
		}
	}
	_ = enc.Flush()
	return reply{XMLName: xml.Name{Local: in.Kind()}, From: from, To: in.Attr("from"), ID: in.Attr("id"),
		Type: "error", Inner: b.Bytes()}
}

// withoutXMLNS drops xmlns attributes of an element whose name has a
// namespace, which encoding/xml would otherwise write twice.
func withoutXMLNS(start xml.StartElement) xml.StartElement {
	if start.Name.Space == "" {
		return start
	}
	attrs := make([]xml.Attr, 0, len(start.Attr))
	for _, a := range start.Attr {
		if a.Name.Local != "xmlns" || a.Name.Space != "" {
			attrs = append(attrs, a)
		}
	}
	start.Attr = attrs
	return start
}
