package store

import (
	"encoding/json"
	"time"
)

// InboxEvent is one Matrix event received in an appservice transaction and
// persisted before the transaction is acknowledged.
type InboxEvent struct {
	// Seq is assigned by the store; it orders events globally and therefore
	// within each room.
	Seq int64
	// EventID is the Matrix event ID; an event ID is stored at most once.
	EventID string
	// RoomID is the room the event belongs to ("" for events without a room).
	RoomID string
	// Raw is the event JSON exactly as received.
	Raw json.RawMessage
	// Received is when the store recorded the event.
	Received time.Time
}

// OutboxItem is one request to the homeserver persisted before it is attempted.
type OutboxItem struct {
	// Seq is assigned by the store and orders items within a queue.
	Seq int64
	// Queue names the ordered lane the item belongs to, usually a room ID.
	Queue string
	// Key deduplicates enqueues: a second item with the same key is not stored.
	// Modules use the remote message ID or another stable identifier.
	Key string
	// Payload is the serialised request, opaque to the store.
	Payload json.RawMessage
	// Created is when the item was enqueued.
	Created time.Time
	// Attempts counts failed delivery attempts so far.
	Attempts int
}

// Portal links a remote conversation (an IRC channel, an XMPP MUC, a DM) of a
// bridge module to a Matrix room.
type Portal struct {
	Module   string
	RemoteID string
	RoomID   string
	// Meta is module-defined JSON.
	Meta json.RawMessage
}

// MessageLink maps a remote message ID to the Matrix event it became (or came from).
type MessageLink struct {
	Module   string
	RemoteID string
	RoomID   string
	EventID  string
}
