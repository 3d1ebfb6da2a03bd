package component

import (
	"encoding/xml"
	"fmt"
	"io"
)

// Stanza is one incoming stanza, read up to the size limit.
type Stanza struct {
	// Start is the stanza's start element (iq, message or presence).
	Start xml.StartElement
	// Inner holds the stanza's content, without its end element. It is
	// incomplete when Oversize is set.
	Inner []xml.Token
	// Oversize reports that the stanza was larger than the limit; the
	// rest of it was not read.
	Oversize bool
}

// Kind returns the stanza's element name: "iq", "message" or "presence".
func (s *Stanza) Kind() string { return s.Start.Name.Local }

// Attr returns the value of the stanza's attribute name (no namespace), or "".
func (s *Stanza) Attr(name string) string {
	for _, a := range s.Start.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// Payloads returns the start elements of the stanza's direct children.
func (s *Stanza) Payloads() []xml.StartElement {
	var out []xml.StartElement
	depth := 0
	for _, t := range s.Inner {
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				out = append(out, t)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return out
}

// readStanza reads the content of the stanza that starts with start from
// r (which yields the content and then the end element) into memory,
// stopping once more than limit bytes of names, attributes and text were
// read: the stanza is then marked Oversize and the caller leaves the rest
// unread. Any other read error is returned.
func readStanza(r xml.TokenReader, start xml.StartElement, limit int) (*Stanza, error) {
	s := &Stanza{Start: start.Copy()}
	size := tokenSize(start)
	depth := 0
	for {
		tok, err := r.Token()
		if tok != nil {
			if _, ok := tok.(xml.EndElement); ok && depth == 0 {
				return s, nil // the stanza's own end element
			}
			switch tok.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
			}
			size += tokenSize(tok)
			if size > limit {
				s.Oversize = true
				return s, nil
			}
			s.Inner = append(s.Inner, xml.CopyToken(tok))
		}
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("read %s: %w", start.Name.Local, err)
		}
	}
}

// tokenSize approximates the bytes a token took on the wire.
func tokenSize(t xml.Token) int {
	switch t := t.(type) {
	case xml.StartElement:
		n := 2 + len(t.Name.Local) + len(t.Name.Space)
		for _, a := range t.Attr {
			n += 4 + len(a.Name.Local) + len(a.Name.Space) + len(a.Value)
		}
		return n
	case xml.EndElement:
		return 3 + len(t.Name.Local)
	case xml.CharData:
		return len(t)
	case xml.Comment:
		return len(t)
	case xml.ProcInst:
		return len(t.Target) + len(t.Inst)
	case xml.Directive:
		return len(t)
	}
	return 0
}
