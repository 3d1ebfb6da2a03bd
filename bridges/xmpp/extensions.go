package xmpp

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Namespaces of the message extensions the rooms take and send (issue 10
// §3): corrections, retractions, moderation, reactions, replies.
const (
	nsCorrect    = "urn:xmpp:message-correct:0"  // XEP-0308
	nsRetract    = "urn:xmpp:message-retract:1"  // XEP-0424
	nsRetract0   = "urn:xmpp:message-retract:0"  // XEP-0424 before 0.4 (with fastening)
	nsFasten     = "urn:xmpp:fasten:0"           // XEP-0422, the carrier of the old forms
	nsModerate   = "urn:xmpp:message-moderate:1" // XEP-0425
	nsModerate0  = "urn:xmpp:message-moderate:0" // XEP-0425 before 0.3
	nsReactions  = "urn:xmpp:reactions:0"        // XEP-0444
	nsReply      = "urn:xmpp:reply:0"            // XEP-0461
	nsFallback   = "urn:xmpp:fallback:0"         // XEP-0428
	maxReactions = 32                            // reactions taken from one stanza
	maxReaction  = 64                            // bytes of one reaction
)

// msgExt is what a groupchat message says besides its body: the message
// it corrects, retracts, reacts to or replies to, and the parts of its
// body that are fallbacks for clients without the feature.
type msgExt struct {
	// Replace is the id of the message this one corrects (XEP-0308).
	Replace string
	// Retract is the id of the message this one retracts (XEP-0424,
	// either form).
	Retract string
	// Reactions, when HasReactions, is the sender's whole set of
	// reactions to the message ReactionsTo (XEP-0444); empty removes
	// them all.
	HasReactions bool
	ReactionsTo  string
	Reactions    []string
	// ReplyTo and ReplyID name the message this one replies to
	// (XEP-0461): its author's room JID (may be empty) and its id.
	ReplyTo, ReplyID string
	// Fallbacks are the body ranges marked as fallbacks, by the
	// namespace they stand in for (XEP-0428).
	Fallbacks []fallbackRange
}

// fallbackRange is a part of a body that a feature's fallback fills, in
// Unicode code points; All means the whole body.
type fallbackRange struct {
	For        string
	All        bool
	Start, End int
}

// related reports whether the message corrects, retracts, reacts to or
// replies to another.
func (e msgExt) related() bool {
	return e.Replace != "" || e.Retract != "" || e.HasReactions || e.ReplyID != ""
}

// Wire forms of the extensions, for decoding.
type (
	replaceIn struct {
		ID string `xml:"id,attr"`
	}
	reactionsIn struct {
		ID        string   `xml:"id,attr"`
		Reactions []string `xml:"urn:xmpp:reactions:0 reaction"`
	}
	replyIn struct {
		To string `xml:"to,attr"`
		ID string `xml:"id,attr"`
	}
	fallbackIn struct {
		For  string `xml:"for,attr"`
		Body []struct {
			Start *string `xml:"start,attr"`
			End   *string `xml:"end,attr"`
		} `xml:"urn:xmpp:fallback:0 body"`
	}
	applyToIn struct {
		ID      string    `xml:"id,attr"`
		Retract *struct{} `xml:"urn:xmpp:message-retract:0 retract"`
	}
)

// parseExt reads the extensions of a message from its content (the
// tokens between its start and end elements). Elements it does not know,
// and known ones it cannot decode, are skipped.
func parseExt(inner []xml.Token) msgExt {
	var e msgExt
	forChildren(inner, func(start xml.StartElement, d *xml.Decoder) {
		switch start.Name {
		case xml.Name{Space: nsCorrect, Local: "replace"}:
			var v replaceIn
			if d.Decode(&v) == nil && e.Replace == "" {
				e.Replace = v.ID
			}
		case xml.Name{Space: nsRetract, Local: "retract"}:
			var v replaceIn
			if d.Decode(&v) == nil && v.ID != "" {
				e.Retract = v.ID // the current form wins over the old one
			}
		case xml.Name{Space: nsFasten, Local: "apply-to"}:
			var v applyToIn
			if d.Decode(&v) == nil && v.Retract != nil && e.Retract == "" {
				e.Retract = v.ID
			}
		case xml.Name{Space: nsReactions, Local: "reactions"}:
			var v reactionsIn
			if d.Decode(&v) == nil && !e.HasReactions && v.ID != "" {
				e.HasReactions, e.ReactionsTo, e.Reactions = true, v.ID, cleanReactions(v.Reactions)
			}
		case xml.Name{Space: nsReply, Local: "reply"}:
			var v replyIn
			if d.Decode(&v) == nil && e.ReplyID == "" {
				e.ReplyTo, e.ReplyID = v.To, v.ID
			}
		case xml.Name{Space: nsFallback, Local: "fallback"}:
			var v fallbackIn
			if d.Decode(&v) != nil {
				return
			}
			if len(v.Body) == 0 {
				e.Fallbacks = append(e.Fallbacks, fallbackRange{For: v.For, All: true})
			}
			for _, b := range v.Body {
				r := fallbackRange{For: v.For, All: b.Start == nil && b.End == nil}
				if !r.All {
					var err1, err2 error
					r.Start, err1 = atoi(b.Start)
					r.End, err2 = atoi(b.End)
					if err1 != nil || err2 != nil || r.Start < 0 || r.End < r.Start {
						continue // a range that makes no sense marks nothing
					}
				}
				e.Fallbacks = append(e.Fallbacks, r)
			}
		}
	})
	return e
}

// parseModerate reads a moderation request (XEP-0425) from the payload
// of an IQ set: the current form <moderate id=…><retract/><reason/>
// </moderate> or the old <apply-to id=…><moderate><retract/>…. It
// returns the id of the message to retract and the reason.
func parseModerate(inner []xml.Token) (id, reason string, ok bool) {
	forChildren(inner, func(start xml.StartElement, d *xml.Decoder) {
		switch start.Name {
		case xml.Name{Space: nsModerate, Local: "moderate"}:
			var v struct {
				ID      string    `xml:"id,attr"`
				Retract *struct{} `xml:"urn:xmpp:message-retract:1 retract"`
				Reason  string    `xml:"reason"`
			}
			if d.Decode(&v) == nil && v.Retract != nil && v.ID != "" {
				id, reason, ok = v.ID, v.Reason, true
			}
		case xml.Name{Space: nsFasten, Local: "apply-to"}:
			var v struct {
				ID       string `xml:"id,attr"`
				Moderate *struct {
					Retract *struct{} `xml:"urn:xmpp:message-retract:0 retract"`
					Reason  string    `xml:"reason"`
				} `xml:"urn:xmpp:message-moderate:0 moderate"`
			}
			if d.Decode(&v) == nil && v.Moderate != nil && v.Moderate.Retract != nil && v.ID != "" {
				id, reason, ok = v.ID, v.Moderate.Reason, true
			}
		}
	})
	return id, strings.TrimSpace(reason), ok
}

// isModerate reports whether a payload is a moderation request, in
// either form.
func isModerate(p xml.StartElement) bool {
	return p.Name == xml.Name{Space: nsModerate, Local: "moderate"} || p.Name == xml.Name{Space: nsFasten, Local: "apply-to"}
}

// forChildren calls f with each direct child element of a stanza's
// content and a decoder of that element alone (f may decode it with
// Decode, or leave it).
func forChildren(inner []xml.Token, f func(start xml.StartElement, d *xml.Decoder)) {
	depth, from := 0, -1
	for i, t := range inner {
		switch t.(type) {
		case xml.StartElement:
			if depth == 0 {
				from = i
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 && from >= 0 {
				toks := inner[from : i+1]
				d := xml.NewTokenDecoder(&tokenSlice{toks: toks})
				f(toks[0].(xml.StartElement), d)
				from = -1
			}
			if depth < 0 {
				return
			}
		}
	}
}

// tokenSlice reads tokens from a slice.
type tokenSlice struct{ toks []xml.Token }

func (s *tokenSlice) Token() (xml.Token, error) {
	if len(s.toks) == 0 {
		return nil, io.EOF
	}
	t := s.toks[0]
	s.toks = s.toks[1:]
	return xml.CopyToken(t), nil
}

func atoi(s *string) (int, error) {
	if s == nil {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(strings.TrimSpace(*s))
}

// cleanReactions drops empty, oversized and repeated reactions and keeps
// at most maxReactions, in order.
func cleanReactions(in []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, r := range in {
		r = strings.TrimSpace(r)
		if r == "" || len(r) > maxReaction || !utf8.ValidString(r) || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
		if len(out) == maxReactions {
			break
		}
	}
	return out
}

// stripFallbacks returns body without the ranges marked as fallbacks for
// ns (code points, clamped to the body; overlapping ranges are fine),
// and whether the whole body is a fallback.
func stripFallbacks(body string, ranges []fallbackRange, ns string) (string, bool) {
	runes := []rune(body)
	drop := make([]bool, len(runes))
	marked := false
	for _, r := range ranges {
		if r.For != ns {
			continue
		}
		if r.All {
			return "", true
		}
		start, end := min(r.Start, len(runes)), min(r.End, len(runes))
		for i := start; i < end; i++ {
			drop[i], marked = true, true
		}
	}
	if !marked {
		return body, false
	}
	var b strings.Builder
	for i, c := range runes {
		if !drop[i] {
			b.WriteRune(c)
		}
	}
	return b.String(), false
}
