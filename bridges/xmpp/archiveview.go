package xmpp

import (
	"context"

	"github.com/causewaybridge/causeway/matrix"
)

// What the archive shows of a message (history on join and MAM): the
// message as a live one would have been (shownOf), its latest edit
// applied, a reply quoting the message it answers, or the tombstone of
// a redacted one. Edits and replied-to messages are looked up only among
// the events the query already got from the homeserver (its window), so
// a page costs no request more than reading it.

// window is what one archive read got from the homeserver: the edits by
// the event they edit, and the messages by ID (for reply quotes, read
// only when asked for).
type window struct {
	edits map[matrix.EventID][]*matrix.Event
	msgs  map[matrix.EventID]*matrix.Event
}

func newWindow() *window {
	return &window{edits: map[matrix.EventID][]*matrix.Event{}, msgs: map[matrix.EventID]*matrix.Event{}}
}

// note keeps the edits and messages among evs (a nil window keeps none).
func (w *window) note(evs ...*matrix.Event) {
	if w == nil {
		return
	}
	for _, ev := range evs {
		if ev == nil || ev.Type != matrix.EventMessage || ev.StateKey != nil {
			continue
		}
		if target, ok := editOf(ev); ok {
			w.edits[target] = append(w.edits[target], ev)
			continue
		}
		w.msgs[ev.ID] = ev
	}
}

// latest returns a with the latest edit the window has of it applied.
func (w *window) latest(a archived) archived {
	if w == nil {
		return a
	}
	for _, ed := range w.edits[a.ID] {
		a.applyEdit(ed)
	}
	return a
}

// message returns the message id as the window has it, its latest edit
// applied.
func (w *window) message(id matrix.EventID) (archived, bool) {
	if w == nil || w.msgs[id] == nil {
		return archived{}, false
	}
	a, ok := archivedOf(w.msgs[id])
	if !ok {
		return archived{}, false
	}
	return w.latest(a), true
}

// archiveShown is how the archive shows a (its latest edit in win
// applied), sent by from, in a room whose senders s knows: the message
// a live one would have been, with the XMPP message's own id and
// origin-id when it came from XMPP, else the event ID, the event ID as
// stanza-id, the author's occupant-id; a redacted message is a
// tombstone. ok is false when a is of a kind the rooms do not show.
func (g *gateway) archiveShown(ctx context.Context, a archived, from sender, s *senders, win *window) (relOut, bool) {
	var out relOut
	switch rd := a.Redacted; {
	case a.Corrects != "":
		var ok bool
		if out, ok = g.shownOf(a.Content.MessageContent, a.Content.ExternalURL, nil); !ok {
			return relOut{}, false
		}
		// The id the corrected message was shown with.
		out.Replace = string(a.Corrects)
		if m, ok := g.sentMetaOf(ctx, a.Corrects); ok && m.ID != "" {
			out.Replace = m.ID
		}
	case rd != nil:
		out.Tombstone = &tombstone{ID: string(rd.ID), At: rd.TS}
		if rd.Sender != "" && rd.Sender != a.Sender {
			out.Tombstone.ModeratedBy = s.of(ctx, archived{ID: rd.ID, Sender: rd.Sender}).Nick
		}
	default:
		a = win.latest(a)
		var ref *replyRef
		if a.ReplyTo != "" {
			ref = &replyRef{ID: a.ReplyTo}
			if t, ok := win.message(a.ReplyTo); ok && t.Redacted == nil {
				ref.Nick, ref.Line = s.of(ctx, t).Nick, quoteLine(t.Content.MessageContent)
			}
		}
		var ok bool
		if out, ok = g.shownOf(a.Content.MessageContent, a.Content.ExternalURL, ref); !ok {
			return relOut{}, false
		}
	}
	out.ID, out.Origin, out.StanzaID, out.OccupantID = string(a.ID), from.OriginID, string(a.ID), from.OccupantID
	if from.ID != "" {
		out.ID = from.ID
	}
	return out, true
}
