package xmpp

import (
	"strings"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/matrix"
)

// How the rooms show a Matrix message, live and in the archive alike
// (history on join, MAM): one conversion, shownOf, so that a message
// scrolled back to looks as it did when it arrived.

// replyRef is the message a reply answers: its id (the event ID, the
// stanza-id the room gave it), its author's nick and the line its
// fallback quotes (Nick "" when the message is not known: the reply then
// has no quote).
type replyRef struct {
	ID         matrix.EventID
	Nick, Line string
}

// shownOf is the groupchat message a Matrix message of content c is, as
// the rooms send it: the body and payloads of outgoing (the Matrix body;
// XHTML-IM for formatting; a file's link as body and XEP-0066 OOB link,
// link being the original link of a file shared from XMPP; "/me " for
// emotes). A reply (ref set) drops Matrix's own fallback, which names
// people by Matrix ID, and gets an XEP-0461 reply and, when the
// replied-to message is known, a quote of it by nick that starts the
// body and is marked as its fallback (not for a file, whose body stays
// its link so that clients show it inline). ok is false for message
// types that are not bridged. The caller sets the ids.
func (g *gateway) shownOf(c matrix.MessageContent, link string, ref *replyRef) (relOut, bool) {
	if ref != nil {
		c.Body = matrix.StripReplyFallback(c.Body)
	}
	text, extra, ok := g.outgoing(&c, link)
	if !ok {
		return relOut{}, false
	}
	out := relOut{Extra: extra}
	if ref != nil {
		out.ReplyID, out.ReplyNick = string(ref.ID), ref.Nick
		if ref.Nick != "" && !isFileMsgType(c.MsgType) {
			quote := "> " + ref.Nick + ": " + ref.Line + "\n"
			out.ReplyQuote = utf8.RuneCountInString(quote)
			text = quote + text
		}
	}
	out.Body = &text
	return out, true
}

// isFileMsgType reports whether msgtype t is a file.
func isFileMsgType(t string) bool {
	switch t {
	case matrix.MsgImage, matrix.MsgFile, matrix.MsgVideo, matrix.MsgAudio:
		return true
	}
	return false
}

// quoteLine is the line of a message of content c that a reply's
// fallback quotes: its first line without Matrix's reply fallback,
// "/me " before an emote, at most maxQuote code points.
func quoteLine(c matrix.MessageContent) string {
	text := matrix.StripReplyFallback(c.Body)
	if c.MsgType == matrix.MsgEmote {
		text = "/me " + text
	}
	line, _, _ := strings.Cut(text, "\n")
	if utf8.RuneCountInString(line) > maxQuote {
		line = string([]rune(line)[:maxQuote]) + "…"
	}
	return line
}
