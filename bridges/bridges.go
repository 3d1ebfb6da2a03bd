// Package bridges defines the contract between the Causeway appservice core
// and its bridge modules, and the registry through which modules are made
// available to the core.
//
// A module implements the small required [Module] interface. Everything else
// is optional: the core detects capability interfaces such as [EditHandler],
// [ReactionHandler] or [AliasQuerier] with a type assertion and routes the
// matching Matrix events only to modules that declare them. A module that
// does not implement a capability never receives those events; for edits,
// reactions and redactions the bridge bot tells the room, once per room and
// kind every ten minutes, that they are not bridged to the module's
// [Info].Network.
//
// Lifecycle, driven by the core:
//
//  1. New (the factory in [Info]) creates an unconfigured module.
//  2. Configure decodes the module's section of the configuration file.
//  3. Namespaces reports the Matrix user and alias regexes the module claims;
//     the core writes them into the registration and routes by them.
//  4. Start receives a [Host]: intents for the bot and puppets, the durable
//     outbox, the module's own portal table, message links and key-value
//     store, and a logger. A module needs nothing else from the core or
//     the store; bridges/kit has the shared Matrix-side machinery.
//  5. The typed handlers ([MessageHandler], [EditHandler], ...) and, for
//     the rest, HandleMatrixEvent are called, per room in order, for events
//     in the module's portals and namespaces, the portal resolved once.
//  6. Stop is called on shutdown, before the store is closed; the core
//     then waits for the work the module started with [Host].Go.
//
// Modules never import one another; cmd/causeway enables them with blank
// imports, each module calling [Register] in an init function.
package bridges

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Info identifies a module and creates instances of it.
type Info struct {
	// ID is the module's short name, also its configuration section key
	// under "bridges" and the Module column of its portals in the store.
	ID string
	// Description is one line for `causeway version` and the docs.
	Description string
	// Network names the remote side for Matrix users, as in the core's
	// notice "Reactions are not bridged to IRC" (default: the ID).
	Network string
	// New returns a fresh, unconfigured module.
	New func() Module
}

// Module is the interface every bridge module implements.
type Module interface {
	// Info returns the module's registration info.
	Info() Info
	// Configure decodes the module's configuration section. It is called
	// once, before Namespaces and Start.
	Configure(env Env, section Decoder) error
	// Namespaces reports the namespaces the module claims. Valid after Configure.
	Namespaces() Namespaces
	// Start connects the module to its remote network.
	Start(ctx context.Context, host Host) error
	// Stop disconnects and releases resources; work in flight is drained.
	Stop(ctx context.Context) error
	// HandleMatrixEvent receives the Matrix events routed to the module that no
	// capability interface claimed (messages, membership, state...).
	//
	// Events come from the durable inbox, each room's in order. ctx is not
	// the homeserver's request: it is cancelled only if the bridge's Stop
	// deadline passes while the call runs. Returning nil marks the event
	// done. An error (or a panic) makes the core call again with the same
	// event, up to five calls in all, waiting 0.2, 0.4, 0.8 and 1.6 s
	// between them while the room's later events wait (other rooms go on).
	// After the fifth failure the error is logged ("giving up on event
	// after retries") and the event is marked done: it is dropped for good
	// and nobody in Matrix is told. If the bridge stops between attempts,
	// the event stays pending and is handled again after the restart. A
	// retry repeats the whole call, so return an error only when nothing
	// was done yet (or make the work idempotent): what was sent to the
	// remote network before the error is sent again. There is no per-call
	// timeout: a call that never returns holds up its room.
	HandleMatrixEvent(ctx context.Context, evt *matrix.Event) error
}

// Decoder decodes a configuration section strictly; config.Section implements it.
type Decoder interface {
	Decode(out any) error
}

// Env is what a module knows at configuration time.
type Env struct {
	// ServerName is the homeserver's server name.
	ServerName string
	// BotUserID is the bridge bot's user ID.
	BotUserID matrix.UserID
	// HomeserverURL is the client-server API base URL the bridge uses.
	HomeserverURL string
}

// Namespaces are the claims a module makes on the homeserver's namespaces.
type Namespaces struct {
	// UserRegexes are anchored regexes of the puppet user IDs.
	UserRegexes []string
	// AliasRegexes are anchored regexes of the room aliases.
	AliasRegexes []string
	// Protocols are third-party protocol IDs (for /thirdparty lookups).
	Protocols []string
}

// Host is the core's side of the contract, given to a module on Start.
type Host interface {
	// ServerName is the homeserver's server name.
	ServerName() string
	// Logger is the module's logger.
	Logger() *slog.Logger
	// Matrix returns the client used to act as the bot and as puppets.
	Matrix() *intent.Client
	// Outbox returns the durable remote→Matrix send queue, as seen by
	// the module: every op it queues there carries the module's ID.
	Outbox() Sender
	// Portals returns the module's portal table.
	Portals() Portals
	// Links returns the module's message links.
	Links() Links
	// KV returns the module's own key-value store.
	KV() KV
	// IsAdmin reports whether a Matrix user is a bridge admin by config.
	IsAdmin(user matrix.UserID) bool
	// MediaURL returns the public download URL of an mxc:// URI, a link
	// people on the remote side open without a Matrix account:
	// <homeserver.public_url>/_matrix/media/v3/download/<server>/<id>
	// (homeserver.public_url defaults to homeserver.url). A URI that is
	// not mxc://server/id is an error naming it.
	MediaURL(mxc string) (string, error)
	// TellUser sends text as a notice from the bot to the user's
	// management room, the one direct chat with the bot that all modules
	// share: the room where the user last ran a command, or a new one
	// (named after the bridge) when they have none. The notice is queued
	// durably; an error means it was not.
	TellUser(ctx context.Context, user matrix.UserID, text string) error
	// Go runs f on a goroutine of its own as background work of the
	// module; use it instead of a bare go statement for anything that can
	// outlive a call. f's ctx is cancelled when the core begins to stop
	// the module, just before it calls the module's Stop. After Stop
	// returns, the core waits for every f to return (up to Stop's
	// deadline) before it stops the outbox and closes the store, so f may
	// use them until it returns. The module's Stop does not wait for this
	// work itself, and f should return soon after ctx is done. Go called
	// after the module's Stop has returned does not run f.
	Go(f func(ctx context.Context))
}

// Sender is a module's side of the durable remote→Matrix outbox
// (*intent.Outbox implements it). The one a [Host] gives sets each op's
// intent.Op.Module to the module's ID, so that the op's completion reaches
// only that module ([SentListener], [FailureListener]).
type Sender interface {
	// Send stores op and returns once it is persisted (see intent.Outbox.Send).
	Send(ctx context.Context, op intent.Op) (queued bool, err error)
	// SendAndWait stores op and waits for its delivery (see intent.Outbox.SendAndWait).
	SendAndWait(ctx context.Context, op intent.Op) (matrix.EventID, error)
	// LatestKeyed returns the newest op queued for room whose Key starts
	// with prefix (see intent.Outbox.LatestKeyed).
	LatestKeyed(ctx context.Context, room matrix.RoomID, prefix string) (op intent.Op, ok bool, err error)
	// HasKey reports whether an op with key was queued for room, delivered
	// or not (see intent.Outbox.HasKey).
	HasKey(ctx context.Context, room matrix.RoomID, key string) (bool, error)
}

// Registry holds the known modules. The zero value is not usable; use
// [NewRegistry] or the process-wide [Default] registry that init functions
// fill through [Register].
type Registry struct {
	mu      sync.Mutex
	modules map[string]Info
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{modules: map[string]Info{}} }

// Add registers a module; it fails on an empty or duplicate ID or a nil factory.
func (r *Registry) Add(info Info) error {
	if info.ID == "" || info.New == nil {
		return fmt.Errorf("bridges: module %q needs an ID and a New func", info.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.modules[info.ID]; dup {
		return fmt.Errorf("bridges: module %q registered twice", info.ID)
	}
	r.modules[info.ID] = info
	return nil
}

// Get returns a module's info by ID.
func (r *Registry) Get(id string) (Info, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.modules[id]
	return i, ok
}

// IDs lists the registered module IDs in sorted order.
func (r *Registry) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.modules))
	for id := range r.modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Default is the registry that modules add themselves to from init
// functions, like database/sql drivers; it is written only during package
// initialisation.
var Default = NewRegistry()

// Register adds a module to [Default]. It panics on an invalid or duplicate
// registration, which is a programming error caught at start-up.
func Register(info Info) {
	if err := Default.Add(info); err != nil {
		panic(err)
	}
}

var _ Sender = (*intent.Outbox)(nil)
