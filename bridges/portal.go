package bridges

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// ErrNotFound is returned by [Portals], [Links] and [KV] lookups that find
// nothing; test with errors.Is.
var ErrNotFound = store.ErrNotFound

// ErrConflict is returned by [Portals].Put when the room already belongs
// to another portal.
var ErrConflict = store.ErrConflict

// PortalKey names a module's remote conversation: an IRC channel, an XMPP
// MUC, a direct chat.
type PortalKey struct {
	// ID is the conversation's ID as the module writes it ("chan:libera:#go").
	// It may not contain a tab.
	ID string
	// Receiver is the Matrix user a per-user portal (a direct chat with a
	// remote user) belongs to; empty for portals everyone shares. Only the
	// receiver's events in such a portal reach the module.
	Receiver matrix.UserID
}

// String is the key as stored: ID, or ID, a tab and the receiver.
func (k PortalKey) String() string {
	if k.Receiver == "" {
		return k.ID
	}
	return k.ID + "\t" + string(k.Receiver)
}

// ParsePortalKey reads a key written by [PortalKey.String].
func ParsePortalKey(s string) PortalKey {
	if id, recv, ok := strings.Cut(s, "\t"); ok {
		return PortalKey{ID: id, Receiver: matrix.UserID(recv)}
	}
	return PortalKey{ID: s}
}

// Portal is a Matrix room bridged to a remote conversation of a module.
type Portal struct {
	// Module is the ID of the module the portal belongs to.
	Module string
	Key    PortalKey
	// Room is the portal's Matrix room ("" while it has none).
	Room matrix.RoomID
	// Meta is the module's own data about the portal, JSON (see [PortalMeta]).
	Meta json.RawMessage
}

// PortalMeta decodes a portal's metadata into the module's type T; a
// portal without metadata decodes to T's zero value.
func PortalMeta[T any](p *Portal) (T, error) {
	var v T
	if p == nil || len(p.Meta) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(p.Meta, &v); err != nil {
		return v, fmt.Errorf("portal %s metadata: %w", p.Key, err)
	}
	return v, nil
}

// SetPortalMeta encodes v as the portal's metadata.
func SetPortalMeta(p *Portal, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("portal %s metadata: %w", p.Key, err)
	}
	p.Meta = raw
	return nil
}

// MayAct reports whether user may act in the portal: anyone in a shared
// portal, only the receiver in a per-user one.
func (p *Portal) MayAct(user matrix.UserID) bool {
	return p.Key.Receiver == "" || p.Key.Receiver == user
}

// Portals is a module's portal table (Host.Portals): every call is about
// the module's own portals.
type Portals interface {
	// ByKey returns the portal of a remote conversation, or ErrNotFound.
	ByKey(ctx context.Context, key PortalKey) (*Portal, error)
	// ByRoom returns the module's portal whose room is room, or ErrNotFound.
	ByRoom(ctx context.Context, room matrix.RoomID) (*Portal, error)
	// Put creates or replaces the portal of p.Key (p.Module is set by the
	// table). A room belongs to at most one portal: ErrConflict.
	Put(ctx context.Context, p *Portal) error
	// Delete removes the portal of key (its message links stay).
	Delete(ctx context.Context, key PortalKey) error
	// All lists the module's portals.
	All(ctx context.Context) ([]*Portal, error)
}

// MessageID names a remote message, or one part of it, in message links.
// Part 0 is the message itself (or its main part); a remote message that
// several Matrix events stand for (a text and its attachments), or a
// Matrix event sent as several remote messages (a long message split into
// IRC lines), links the others with parts 1, 2, ...
type MessageID struct {
	// ID is the remote message's ID (an IRC msgid, an XMPP stanza or
	// origin ID). It may not contain a tab.
	ID   string
	Part int
}

// String is the ID as stored: the ID, and for a part other than 0 a tab
// and the part number.
func (id MessageID) String() string {
	if id.Part == 0 {
		return id.ID
	}
	return id.ID + "\t" + strconv.Itoa(id.Part)
}

// ParseMessageID reads an ID written by [MessageID.String].
func ParseMessageID(s string) MessageID {
	if id, part, ok := strings.Cut(s, "\t"); ok {
		if n, err := strconv.Atoi(part); err == nil {
			return MessageID{ID: id, Part: n}
		}
	}
	return MessageID{ID: s}
}

// Link is a remote message (part) and the Matrix event it became, or came
// from.
type Link struct {
	Remote MessageID
	Room   matrix.RoomID
	Event  matrix.EventID
}

// Links is a module's message links (Host.Links), one schema for every
// module: replies, edits, redactions and reactions find their target by
// them. The outbox also writes them, for ops queued with an
// intent.Link.
type Links interface {
	// Put links a remote message (part) to a Matrix event in room,
	// replacing an earlier link of the same remote ID.
	Put(ctx context.Context, l Link) error
	// ByRemote returns the link of a remote message (part), or
	// ErrNotFound.
	ByRemote(ctx context.Context, id MessageID) (Link, error)
	// ByEvent returns the module's link of a Matrix event with the lowest
	// part, or ErrNotFound.
	ByEvent(ctx context.Context, event matrix.EventID) (Link, error)
}

// KV is a module's own key-value store (Host.KV): keys are the module's
// alone, values opaque bytes.
type KV interface {
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value under key.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key (no error when it is absent).
	Delete(ctx context.Context, key string) error
	// WithPrefix returns the entries whose key starts with prefix, by key.
	WithPrefix(ctx context.Context, prefix string) ([]KVEntry, error)
}

// KVBatch is implemented by a [KV] that writes several entries in one
// commit (the one Host.KV returns does): a module writing or deleting
// many keys at once (a queue of stanzas, say) should use it when the KV
// has it, and fall back to one call per key otherwise.
type KVBatch interface {
	// PutMany stores every entry, all or none.
	PutMany(ctx context.Context, entries []KVEntry) error
	// DeleteMany removes every key (no error for absent ones).
	DeleteMany(ctx context.Context, keys []string) error
}

// KVEntry is one entry of a module's [KV].
type KVEntry struct {
	Key   string
	Value []byte
}

// IsNotFound reports whether err says that nothing was found.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
