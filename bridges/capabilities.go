package bridges

import (
	"context"
	"errors"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// The typed events below are what the core hands a module for a Matrix
// event in one of its portals: the portal is looked up once, by the core,
// and the events a message relates to (the one it replies to, edits,
// reacts to or redacts) are resolved to the module's remote message IDs
// through its message links ([Links]). A related event that has no link
// (a Matrix message that never reached the remote side) leaves the remote
// target nil.

// Message is a Matrix message in a portal, other than an edit
// (m.room.message without rel_type m.replace).
type Message struct {
	Portal *Portal
	Event  *matrix.Event
	// Content is the event's content, decoded.
	Content matrix.MessageContent
	// ReplyTo is the event the message replies to, if any, and
	// ReplyToRemote its remote message when it has one.
	ReplyTo       matrix.EventID
	ReplyToRemote *Link
}

// MessageHandler is implemented by modules that take Matrix messages
// typed. A module that does not implement it gets them as raw events in
// [Module].HandleMatrixEvent. Errors mean what they mean there.
type MessageHandler interface {
	HandleMatrixMessage(ctx context.Context, m *Message) error
}

// Membership is a Matrix membership change (m.room.member): of anyone in
// a portal, or of one of the module's puppets in any room (Portal is nil
// in a room that is not a portal, such as an invite of a puppet to a new
// direct chat).
type Membership struct {
	Portal *Portal
	Event  *matrix.Event
	// Target is the user whose membership changed (the state key).
	Target  matrix.UserID
	Content matrix.MemberContent
}

// MembershipHandler is implemented by modules that take membership
// changes typed; others get them in [Module].HandleMatrixEvent.
type MembershipHandler interface {
	HandleMatrixMembership(ctx context.Context, m *Membership) error
}

// Topic is a change of a portal room's topic (m.room.topic).
type Topic struct {
	Portal *Portal
	Event  *matrix.Event
	Topic  string
}

// TopicHandler is implemented by modules that take topic changes typed;
// others get them in [Module].HandleMatrixEvent.
type TopicHandler interface {
	HandleMatrixTopic(ctx context.Context, t *Topic) error
}

// PortalMover is implemented by modules that keep portal rooms in memory:
// when a portal room is upgraded (m.room.tombstone naming its replacement
// room), the core makes the bot join the replacement room, moves the
// portal there in the store, and then calls PortalMoved with the portal
// as it is now and the room it left. Events in the old room no longer
// reach the module.
type PortalMover interface {
	PortalMoved(ctx context.Context, p *Portal, from matrix.RoomID) error
}

// Edit is a Matrix message edit (rel_type m.replace).
type Edit struct {
	Portal *Portal
	// Event is the edit event itself.
	Event *matrix.Event
	// Target is the event being edited, TargetRemote its remote message.
	Target       matrix.EventID
	TargetRemote *Link
	// NewContent is the replacement content (m.new_content).
	NewContent matrix.MessageContent
}

// Reaction is a Matrix annotation (m.reaction).
type Reaction struct {
	Portal *Portal
	Event  *matrix.Event
	// Target is the event reacted to, TargetRemote its remote message.
	Target       matrix.EventID
	TargetRemote *Link
	Key          string
}

// Redaction is a Matrix redaction of an earlier event.
type Redaction struct {
	Portal *Portal
	Event  *matrix.Event
	// Target is the redacted event, TargetRemote its remote message.
	Target       matrix.EventID
	TargetRemote *Link
	Reason       string
}

// Typing is the set of users typing in a room.
type Typing struct {
	RoomID  matrix.RoomID
	UserIDs []matrix.UserID
}

// Presence is a Matrix user's presence.
type Presence struct {
	UserID matrix.UserID
	// Presence is "online", "unavailable" or "offline".
	Presence  string
	StatusMsg string
}

// Receipt is a read receipt by a Matrix user.
type Receipt struct {
	RoomID  matrix.RoomID
	UserID  matrix.UserID
	EventID matrix.EventID
}

// ErrUnsupported, returned (wrapped or not) by a module's
// [EditHandler], [ReactionHandler] or [RedactionHandler], says that the
// module does not bridge that kind of event in this portal (a module
// that bridges edits in some of its portals only): the core tells the
// room as it does for a module without the capability, once per room
// and kind every ten minutes, and the event is done.
var ErrUnsupported = errors.New("not bridged in this portal")

// EditHandler is implemented by modules that bridge Matrix edits. Like
// [ReactionHandler] and [RedactionHandler], it is called from the durable
// inbox, and an error means what it means for [Module].HandleMatrixEvent:
// the call is repeated up to five calls in all, then the event is logged
// and dropped for good.
type EditHandler interface {
	HandleMatrixEdit(ctx context.Context, e *Edit) error
}

// ReactionHandler is implemented by modules that bridge Matrix reactions.
type ReactionHandler interface {
	HandleMatrixReaction(ctx context.Context, r *Reaction) error
}

// RedactionHandler is implemented by modules that bridge Matrix redactions.
type RedactionHandler interface {
	HandleMatrixRedaction(ctx context.Context, r *Redaction) error
}

// TypingHandler is implemented by modules that bridge typing notifications.
// Typing, presence and receipts are not stored: each reaches the module
// once, from a bounded in-memory queue that drops events when full, and is
// never repeated.
type TypingHandler interface {
	HandleMatrixTyping(ctx context.Context, t *Typing)
}

// PresenceHandler is implemented by modules that bridge Matrix presence.
type PresenceHandler interface {
	HandleMatrixPresence(ctx context.Context, p *Presence)
}

// ReceiptHandler is implemented by modules that bridge read receipts.
type ReceiptHandler interface {
	HandleMatrixReceipt(ctx context.Context, r *Receipt)
}

// UserQuerier answers the homeserver's query for a user in the module's
// namespace: it creates the puppet (registers it) and returns true when the
// remote user exists. An error answers the homeserver's query with HTTP
// 500 (and is logged).
type UserQuerier interface {
	QueryUser(ctx context.Context, id matrix.UserID) (bool, error)
}

// AliasQuerier answers the homeserver's query for an alias in the module's
// namespace: it creates the portal room with that alias and returns true,
// or returns false when no such remote conversation exists. An error
// answers the homeserver's query with HTTP 500 (and is logged).
type AliasQuerier interface {
	QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error)
}

// Backfiller is implemented by modules that can fetch remote history into a
// portal (on creation and after downtime).
type Backfiller interface {
	Backfill(ctx context.Context, room matrix.RoomID) error
}

// ThirdPartyProvider answers /_matrix/app/v1/thirdparty lookups for the
// module's protocols (Namespaces().Protocols), aliases and users. The core
// routes each lookup to the module owning the protocol, alias or user ID.
type ThirdPartyProvider interface {
	appservice.ThirdPartyHandler
}

// SentListener is implemented by modules that want to know the Matrix event
// ID of what the outbox delivered for them (to map remote message IDs to
// events for replies, edits and redactions). It is called for the items the
// module queued (op.Module), after their completion is stored. An item
// stored by a version that did not record the module, and had no link,
// is reported to every SentListener: check op.Kind and op.Key.
type SentListener interface {
	OnOutboxSent(ctx context.Context, op intent.Op, eventID matrix.EventID)
}

// FailureListener is implemented by modules that want to know when an op
// they queued failed permanently (the homeserver refused it, or its stored
// payload cannot be decoded), for instance to tell the remote user. The
// core logs the failure either way. It is routed like [SentListener].
type FailureListener interface {
	OnOutboxFailed(ctx context.Context, op intent.Op, err error)
}

// CommandProvider is implemented by modules that offer commands in the
// user's management room (a direct chat with the bridge bot, one per user
// for all modules) and other rooms that are not portals. Commands are
// registered per module: "!help" lists every module's, grouped by module;
// "!<module ID> <name>" always runs the module's command <name>, and
// "!<name>" does when no other module defines that name (else the bot
// answers with the choices). A module may not define "help".
type CommandProvider interface {
	Commands() []Command
}

// Command is one bot command such as "!join".
type Command struct {
	// Name without the leading "!".
	Name string
	// Args is a short usage string ("<channel> [key]").
	Args string
	// Help is one line of help text.
	Help string
	// AdminOnly restricts the command to bridge admins.
	AdminOnly bool
	// Subcommands are first words this command takes, for a command named
	// like its module (the IRC module's "irc"): "!irc link …" runs that
	// command when "link" is one of its Subcommands, although "!irc <name>"
	// otherwise runs the module's command <name> (see [CommandProvider]).
	Subcommands []string
	// Run executes the command; its reply is sent to the room as a notice.
	Run func(ctx context.Context, c *CommandContext) (reply string, err error)
}

// CommandContext describes one command invocation.
type CommandContext struct {
	RoomID matrix.RoomID
	Sender matrix.UserID
	Event  *matrix.Event
	// Args are the whitespace-separated words after the command name.
	Args []string
	// Raw is everything after the command name, untrimmed of inner spaces.
	Raw string
	// IsAdmin reports whether Sender is a bridge admin.
	IsAdmin bool
}
