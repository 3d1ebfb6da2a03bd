package intent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// OutboxStore persists outbox items. *store.Store implements it.
type OutboxStore interface {
	// Enqueue stores item (setting Seq and Created) unless an item with the
	// same Queue and non-empty Key was stored before, in which case it
	// returns the earlier item and duplicate true.
	Enqueue(ctx context.Context, item store.OutboxItem) (stored store.OutboxItem, duplicate bool, err error)
	// PendingOutbox returns up to limit pending items, oldest first.
	PendingOutbox(ctx context.Context, limit int) ([]store.OutboxItem, error)
	// CompleteOutboxBatch marks items delivered and stores their message
	// links, all in one transaction.
	CompleteOutboxBatch(ctx context.Context, done []store.OutboxCompletion) error
	// StageLink makes a delivered item's link visible to lookups until
	// its completion is committed.
	StageLink(l store.MessageLink)
	RecordOutboxAttempt(ctx context.Context, seq int64, errText string) error
	FailOutbox(ctx context.Context, seq int64, errText string) error
}

// OpKind says what an outbox Op does.
type OpKind string

// Outbox operation kinds.
const (
	OpMessage   OpKind = "message"
	OpState     OpKind = "state"
	OpRedaction OpKind = "redaction"
	// OpProfile sets Sender's global profile from Content
	// ({"displayname": …, "avatar_url": …}); Room only orders it in that
	// room's lane, so a puppet's name is set before its first message.
	OpProfile OpKind = "profile"
	// OpMembership changes a membership in Room, in order with the room's
	// messages: Type is "join" or "leave" (Sender itself), or "invite",
	// "kick", "ban", "unban" (Sender acting on StateKey, the target).
	OpMembership OpKind = "membership"
)

// Op is one remote→Matrix operation for the outbox: send a message or state
// event, or redact an event, as Sender in Room.
type Op struct {
	Kind OpKind
	Room matrix.RoomID
	// Sender is the puppet to act as; empty means the bot.
	Sender matrix.UserID
	// Type is the event type (message and state).
	Type string
	// StateKey is the state key (state).
	StateKey string
	// Content is the event content (message and state).
	Content json.RawMessage
	// Redacts and Reason describe a redaction.
	Redacts matrix.EventID
	Reason  string
	// Timestamp, when set, is sent as ?ts= (the remote message's time).
	Timestamp time.Time
	// Key deduplicates: a second Send with the same Room and Key is ignored.
	// Use the remote message ID. Empty means no deduplication.
	Key string
	// Link, when set, links the remote message to the event this op
	// becomes: the link is stored in the same transaction that marks the
	// item delivered (see store.Store.MessageByRemote).
	Link *Link
	// Module is the ID of the module that queued the op (bridges.Info.ID),
	// stored with it: the core tells only that module of the op's
	// completion. A module's outbox from its Host sets it. Items stored
	// before the field existed take Link.Module when they have a link and
	// are left empty otherwise (the core then tells every module).
	Module string
}

// Link names a remote message for Op.Link.
type Link struct {
	Module   string
	RemoteID string
}

type opPayload struct {
	Kind     OpKind          `json:"kind"`
	Room     matrix.RoomID   `json:"room"`
	Sender   matrix.UserID   `json:"sender,omitempty"`
	Type     string          `json:"type,omitempty"`
	StateKey string          `json:"state_key,omitempty"`
	Content  json.RawMessage `json:"content,omitempty"`
	Redacts  matrix.EventID  `json:"redacts,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	TS       int64           `json:"ts,omitempty"`
	LinkMod  string          `json:"link_module,omitempty"`
	LinkID   string          `json:"link_remote,omitempty"`
	Module   string          `json:"module,omitempty"`
}

func (op Op) validate() error {
	if op.Room == "" {
		return errors.New("outbox op has no room")
	}
	switch op.Kind {
	case OpMessage, OpState:
		if op.Type == "" {
			return fmt.Errorf("outbox %s op has no event type", op.Kind)
		}
		if len(op.Content) > 0 && !json.Valid(op.Content) {
			return fmt.Errorf("outbox %s op content is not JSON", op.Kind)
		}
	case OpRedaction:
		if op.Redacts == "" {
			return errors.New("outbox redaction op names no event")
		}
	case OpProfile:
		if op.Sender == "" || !json.Valid(op.Content) {
			return errors.New("outbox profile op needs a sender and JSON content")
		}
	case OpMembership:
		switch op.Type {
		case "join", "leave":
		case "invite", "kick", "ban", "unban":
			if op.StateKey == "" {
				return fmt.Errorf("outbox %s op names no target", op.Type)
			}
		default:
			return fmt.Errorf("outbox membership op type %q", op.Type)
		}
	default:
		return fmt.Errorf("unknown outbox op kind %q", op.Kind)
	}
	return nil
}

func (op Op) marshal() (json.RawMessage, error) {
	pl := opPayload{Kind: op.Kind, Room: op.Room, Sender: op.Sender, Type: op.Type, StateKey: op.StateKey,
		Content: op.Content, Redacts: op.Redacts, Reason: op.Reason, Module: op.Module}
	if op.Link != nil {
		pl.LinkMod, pl.LinkID = op.Link.Module, op.Link.RemoteID
	}
	if !op.Timestamp.IsZero() {
		pl.TS = op.Timestamp.UnixMilli()
	}
	return json.Marshal(pl)
}

func decodeOp(item store.OutboxItem) (Op, error) {
	var pl opPayload
	if err := json.Unmarshal(item.Payload, &pl); err != nil {
		return Op{}, fmt.Errorf("decode outbox item %d: %w", item.Seq, err)
	}
	op := Op{Kind: pl.Kind, Room: pl.Room, Sender: pl.Sender, Type: pl.Type, StateKey: pl.StateKey,
		Content: pl.Content, Redacts: pl.Redacts, Reason: pl.Reason, Key: item.Key, Module: pl.Module}
	if pl.LinkMod != "" && pl.LinkID != "" {
		op.Link = &Link{Module: pl.LinkMod, RemoteID: pl.LinkID}
	}
	if op.Module == "" && op.Link != nil {
		op.Module = op.Link.Module // stored before Op.Module existed
	}
	if pl.TS != 0 {
		op.Timestamp = time.UnixMilli(pl.TS)
	}
	return op, op.validate()
}

// TxnIDForItem returns the transaction ID the outbox uses for item: "cw", a
// hash of the queue, key and creation time, and the sequence number. It
// depends only on what the store keeps, so the resend of an item after a
// crash carries the same ID and the homeserver deduplicates it.
func TxnIDForItem(item store.OutboxItem) string {
	h := sha256.New()
	h.Write([]byte(item.Queue))
	h.Write([]byte{0})
	h.Write([]byte(item.Key))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(item.Created.UnixMicro(), 10)))
	return "cw" + hex.EncodeToString(h.Sum(nil)[:8]) + "." + strconv.FormatInt(item.Seq, 10)
}

// ErrDuplicate is returned by SendAndWait when an op with the same key was
// stored before and is no longer in flight, so its result is unknown.
var ErrDuplicate = errors.New("outbox: duplicate key")

// OutboxOptions configures an Outbox.
type OutboxOptions struct {
	Client *Client
	Store  OutboxStore
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Workers bounds concurrent deliveries (default 8). Rooms waiting to
	// retry hold no worker.
	Workers int
	// Retry sets the backoff between attempts of one item (MaxAttempts is
	// ignored: transient failures are retried until they succeed).
	Retry RetryPolicy
	// MaxInMemory bounds the items held in memory (default 10000); the rest
	// wait in the store and are loaded as memory frees up.
	MaxInMemory int
	// PollInterval is how often the store is rescanned for pending items
	// (default 1 minute), a safety net behind the in-memory hand-off.
	PollInterval time.Duration
	// CommitDelay is how long delivered items are gathered before their
	// completions are committed in one transaction (default 100ms). It does
	// not delay deliveries: a room's next item is sent meanwhile.
	CommitDelay time.Duration
	// OnSent, if set, is called after an item was delivered and its
	// completion committed to the store. Completions are committed in
	// batches by one goroutine (group commit) while the room's next item is
	// already being sent, so OnSent runs in delivery order per room but
	// possibly after later items of the room were sent.
	OnSent func(ctx context.Context, item store.OutboxItem, op Op, eventID matrix.EventID)
	// OnFailed, if set, is called when an item failed permanently (a 4xx
	// answer other than 429, or an undecodable payload), so a module can
	// tell the remote user.
	OnFailed func(ctx context.Context, item store.OutboxItem, op Op, err error)
}

// Outbox delivers remote→Matrix operations durably: each op is stored before
// it is attempted, items of one queue (room) are delivered strictly in
// order, queues progress independently, transient failures are retried with
// capped backoff forever, and every send carries a transaction ID derived
// from the stored item so a resend after a crash is not duplicated.
type Outbox struct {
	client *Client
	store  OutboxStore
	log    *slog.Logger
	opts   OutboxOptions

	// sendMu and queueLocks serialise Enqueue with the hand-off to memory
	// per queue, so that the sequence numbers of one queue enter its lane
	// in order while other queues enqueue concurrently. A rescan of the
	// store takes sendMu exclusively.
	sendMu     sync.RWMutex
	queueLocks keyedMutex

	mu       sync.Mutex
	running  bool
	lanes    map[string]*lane
	known    map[int64]struct{}
	overflow bool
	pumping  bool
	recent   map[int64]struct{}
	waiters  map[int64][]chan sendResult
	// completing holds items delivered whose completion is not committed
	// yet: a rescan of the store must not load them again.
	completing map[int64]struct{}

	doneCh chan completion

	ready  chan *lane
	pumpCh chan struct{}
	cancel context.CancelFunc
	// abandon cancels the context of the completion commits, which Stop
	// does not cancel (see completeLoop): Stop calls it once the
	// goroutines ended or its own ctx is done.
	abandon context.CancelFunc
	wg      sync.WaitGroup
}

type pendingItem struct {
	item store.OutboxItem
	op   Op
	err  error // decode error: the item fails permanently
	// uncertain is set when an earlier attempt may have reached the
	// homeserver without an answer: the item was in flight when the
	// previous process died, or the connection broke mid-request. Before
	// resending, the room is searched for the item's marker (see
	// TxnMarkerKey), because homeservers do not always remember the
	// transaction ID of a request whose client vanished.
	uncertain bool
}

// lane is the in-memory queue of one room. busy is true while the lane is
// in the ready channel, being worked on, or waiting to retry.
type lane struct {
	queue string
	items []pendingItem // sorted by seq
	busy  bool
}

// completion is a delivered item waiting for the group commit.
type completion struct {
	item    store.OutboxItem
	op      Op
	eventID matrix.EventID
}

// completeBatch bounds the items committed in one transaction.
const completeBatch = 256

// finalCommitTimeout bounds the commit of the completions gathered when
// the outbox stops (Stop's ctx may end it sooner).
const finalCommitTimeout = 10 * time.Second

type sendResult struct {
	eventID matrix.EventID
	err     error
}

// NewOutbox returns an outbox; call Start to deliver.
func NewOutbox(opts OutboxOptions) (*Outbox, error) {
	if opts.Client == nil || opts.Store == nil {
		return nil, errors.New("outbox: client and store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.MaxInMemory <= 0 {
		opts.MaxInMemory = 10000
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.CommitDelay <= 0 {
		opts.CommitDelay = 100 * time.Millisecond
	}
	opts.Retry = opts.Retry.withDefaults()
	return &Outbox{
		client:     opts.Client,
		store:      opts.Store,
		log:        opts.Logger,
		opts:       opts,
		lanes:      map[string]*lane{},
		known:      map[int64]struct{}{},
		waiters:    map[int64][]chan sendResult{},
		completing: map[int64]struct{}{},
		doneCh:     make(chan completion, completeBatch),
		ready:      make(chan *lane, opts.MaxInMemory+1),
		pumpCh:     make(chan struct{}, 1),
	}, nil
}

// Start loads the pending items left by a previous run and starts
// delivering. Deliveries stop when ctx is done or Stop is called. An Outbox
// is started once; after Stop, create a new one over the same store.
func (o *Outbox) Start(ctx context.Context) error {
	o.mu.Lock()
	if o.running || o.cancel != nil {
		o.mu.Unlock()
		return errors.New("outbox already started")
	}
	// Completions are committed on a context of their own: items
	// delivered before Stop must be marked delivered even though ctx is
	// cancelled by then, or the next run looks for them again.
	commitCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	ctx, o.cancel = context.WithCancel(ctx)
	o.abandon = abandon
	o.running = true
	o.mu.Unlock()
	if err := o.pump(ctx, true); err != nil {
		o.cancel()
		abandon()
		o.mu.Lock()
		o.running = false
		o.mu.Unlock()
		return err
	}
	var workers sync.WaitGroup
	for range o.opts.Workers {
		workers.Go(func() { o.work(ctx) })
	}
	workersDone := make(chan struct{})
	o.wg.Go(func() { workers.Wait(); close(workersDone) })
	o.wg.Go(func() { o.completeLoop(ctx, commitCtx, workersDone) })
	o.wg.Go(func() { o.pumpLoop(ctx) })
	return nil
}

// Stop stops delivering and waits for attempts in flight to end and for
// the completions of the items delivered so far to be committed (or for
// ctx, which then also ends that commit). Items not yet delivered stay in
// the store for the next Start.
func (o *Outbox) Stop(ctx context.Context) error {
	o.mu.Lock()
	cancel, abandon := o.cancel, o.abandon
	o.running = false
	o.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	defer abandon()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop outbox: %w", ctx.Err())
	}
}

// Send stores op and returns once it is persisted; delivery happens in the
// background. queued is false when an op with the same Room and Key was
// stored before (nothing new is sent).
func (o *Outbox) Send(ctx context.Context, op Op) (queued bool, err error) {
	_, queued, err = o.send(ctx, op, false)
	return queued, err
}

// SendAndWait stores op and waits until it is delivered, returning the event
// ID, or until it fails permanently or ctx is done (the op stays queued and
// is still delivered then). A duplicate Key yields ErrDuplicate unless the
// earlier op is still in flight, in which case its result is returned.
func (o *Outbox) SendAndWait(ctx context.Context, op Op) (matrix.EventID, error) {
	ch, _, err := o.send(ctx, op, true)
	if err != nil {
		return "", err
	}
	select {
	case r := <-ch:
		return r.eventID, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (o *Outbox) send(ctx context.Context, op Op, wait bool) (chan sendResult, bool, error) {
	if err := op.validate(); err != nil {
		return nil, false, err
	}
	payload, err := op.marshal()
	if err != nil {
		return nil, false, fmt.Errorf("outbox: encode op: %w", err)
	}
	item := store.OutboxItem{
		Queue:   string(op.Room),
		Key:     op.Key,
		Payload: payload,
	}
	o.sendMu.RLock()
	defer o.sendMu.RUnlock()
	unlock := o.queueLocks.lock(item.Queue)
	defer unlock()
	stored, duplicate, err := o.store.Enqueue(ctx, item)
	if err != nil {
		return nil, false, fmt.Errorf("outbox: store op for %s: %w", op.Room, err)
	}
	var ch chan sendResult
	o.mu.Lock()
	defer o.mu.Unlock()
	if wait {
		if _, inFlight := o.known[stored.Seq]; duplicate && !inFlight {
			return nil, false, fmt.Errorf("%w %q in %s", ErrDuplicate, op.Key, op.Room)
		}
		ch = make(chan sendResult, 1)
		o.waiters[stored.Seq] = append(o.waiters[stored.Seq], ch)
	}
	if duplicate {
		return ch, false, nil
	}
	switch {
	case !o.running:
	case o.overflow || len(o.known) >= o.opts.MaxInMemory:
		o.overflow = true
	default:
		o.addLocked(pendingItem{item: stored, op: op})
	}
	return ch, true, nil
}

// addLocked hands an item to its lane; o.mu must be held.
func (o *Outbox) addLocked(p pendingItem) bool {
	if _, ok := o.known[p.item.Seq]; ok {
		return false
	}
	if _, ok := o.recent[p.item.Seq]; ok {
		return false
	}
	if _, ok := o.completing[p.item.Seq]; ok {
		return false
	}
	o.known[p.item.Seq] = struct{}{}
	l := o.lanes[p.item.Queue]
	if l == nil {
		l = &lane{queue: p.item.Queue}
		o.lanes[p.item.Queue] = l
	}
	i, _ := slices.BinarySearchFunc(l.items, p.item.Seq, func(e pendingItem, seq int64) int {
		return cmpInt64(e.item.Seq, seq)
	})
	l.items = slices.Insert(l.items, i, p)
	if !l.busy {
		l.busy = true
		o.ready <- l
	}
	return true
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pump loads pending items from the store that are not in memory yet.
func (o *Outbox) pump(ctx context.Context, startup bool) error {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	o.mu.Lock()
	o.pumping = true
	o.recent = map[int64]struct{}{}
	o.mu.Unlock()
	limit := o.opts.MaxInMemory
	items, err := o.store.PendingOutbox(ctx, limit)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pumping = false
	defer func() { o.recent = nil }()
	if err != nil {
		return fmt.Errorf("outbox: load pending items: %w", err)
	}
	full := false
	for _, it := range items {
		if len(o.known) >= o.opts.MaxInMemory {
			full = true
			break
		}
		op, derr := decodeOp(it)
		o.addLocked(pendingItem{item: it, op: op, err: derr, uncertain: startup})
	}
	o.overflow = full || len(items) >= limit
	return nil
}

func (o *Outbox) pumpLoop(ctx context.Context) {
	t := time.NewTicker(o.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.pumpCh:
		}
		if err := o.pump(ctx, false); err != nil && ctx.Err() == nil {
			o.log.WarnContext(ctx, "outbox rescan failed", slog.Any("err", err))
		}
	}
}

func (o *Outbox) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-o.ready:
			o.attempt(ctx, l)
		}
	}
}

// attempt tries to deliver the head of lane l once.
func (o *Outbox) attempt(ctx context.Context, l *lane) {
	o.mu.Lock()
	head := l.items[0]
	o.mu.Unlock()

	var eventID matrix.EventID
	err := head.err
	if err == nil {
		eventID, err = o.deliver(withAttempts(ctx, 1), head)
	}
	switch {
	case err == nil:
		// The lane goes on at once; the completion is committed by
		// completeLoop together with others. Should the process die first,
		// the item is loaded again as uncertain and found in the room
		// instead of being sent twice.
		// The completion is queued before the lane is handed back, so
		// completions (and OnSent) keep the room's order.
		if l := head.op.Link; l != nil && eventID != "" {
			o.store.StageLink(store.MessageLink{Module: l.Module, RemoteID: l.RemoteID, RoomID: string(head.op.Room), EventID: string(eventID)})
		}
		o.mu.Lock()
		o.completing[head.item.Seq] = struct{}{}
		o.mu.Unlock()
		o.doneCh <- completion{item: head.item, op: head.op, eventID: eventID}
		o.finish(l, head, sendResult{eventID: eventID})
	case ctx.Err() != nil:
		// Stopping: the item stays pending in the store.
	case IsTransient(err):
		head.item.Attempts++
		var te *transportError
		o.mu.Lock()
		l.items[0].item.Attempts = head.item.Attempts
		if errors.As(err, &te) {
			l.items[0].uncertain = true
		}
		o.mu.Unlock()
		if rerr := o.store.RecordOutboxAttempt(ctx, head.item.Seq, err.Error()); rerr != nil {
			o.log.WarnContext(ctx, "outbox: cannot record attempt", slog.Int64("seq", head.item.Seq), slog.Any("err", rerr))
		}
		d := o.opts.Retry.Delay(head.item.Attempts, err)
		o.log.WarnContext(ctx, "outbox delivery failed, will retry",
			slog.String("room_id", l.queue), slog.Int64("seq", head.item.Seq),
			slog.Int("attempts", head.item.Attempts), slog.Duration("delay", d), slog.Any("err", err))
		time.AfterFunc(d, func() {
			if ctx.Err() == nil {
				o.ready <- l
			}
		})
	default:
		if ferr := o.store.FailOutbox(ctx, head.item.Seq, err.Error()); ferr != nil {
			o.log.ErrorContext(ctx, "outbox: cannot mark item failed", slog.Int64("seq", head.item.Seq), slog.Any("err", ferr))
		}
		o.log.WarnContext(ctx, "outbox delivery failed permanently",
			slog.String("room_id", l.queue), slog.Int64("seq", head.item.Seq), slog.Any("err", err))
		o.finish(l, head, sendResult{err: err})
		if o.opts.OnFailed != nil {
			o.opts.OnFailed(ctx, head.item, head.op, err)
		}
	}
}

// finish removes the delivered or failed head of l, wakes waiters and hands
// the lane back (or drops it when empty).
func (o *Outbox) finish(l *lane, head pendingItem, res sendResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l.items = l.items[1:]
	delete(o.known, head.item.Seq)
	if o.pumping {
		o.recent[head.item.Seq] = struct{}{}
	}
	for _, ch := range o.waiters[head.item.Seq] {
		ch <- res
	}
	delete(o.waiters, head.item.Seq)
	if len(l.items) > 0 {
		o.ready <- l
	} else {
		l.busy = false
		delete(o.lanes, l.queue)
	}
	if o.overflow && len(o.known) <= o.opts.MaxInMemory/2 {
		select {
		case o.pumpCh <- struct{}{}:
		default:
		}
	}
}

// completeLoop commits the completions of delivered items in batches (one
// transaction each, with their message links) and then calls OnSent. It
// ends once the workers have ended and every completion is committed.
//
// The commits run on commitCtx, not on the delivery context ctx: Stop
// cancels ctx, and a completion whose commit failed for that reason would
// be logged as an error and looked for again after the restart. commitCtx
// ends only when Stop gives up waiting.
func (o *Outbox) completeLoop(ctx, commitCtx context.Context, workersDone <-chan struct{}) {
	batch := make([]completion, 0, completeBatch)
	for {
		select {
		case c := <-o.doneCh:
			batch = append(batch[:0], c)
		case <-workersDone:
			// Stopping: commit what the last attempts delivered.
			fctx, cancel := context.WithTimeout(commitCtx, finalCommitTimeout)
			defer cancel()
			batch = batch[:0]
			for len(o.doneCh) > 0 {
				batch = append(batch, <-o.doneCh)
			}
			o.commit(fctx, batch)
			return
		}
		// Gather what else is delivered within CommitDelay: the lanes do
		// not wait for this, and one transaction for several items costs
		// about what one costs for a single item.
		timer := time.NewTimer(o.opts.CommitDelay)
	gather:
		for len(batch) < completeBatch {
			select { // what is queued already goes first
			case c := <-o.doneCh:
				batch = append(batch, c)
				continue
			default:
			}
			select {
			case c := <-o.doneCh:
				batch = append(batch, c)
			case <-timer.C:
				break gather
			case <-workersDone:
				for len(o.doneCh) > 0 && len(batch) < completeBatch {
					batch = append(batch, <-o.doneCh)
				}
				break gather
			}
		}
		timer.Stop()
		if ctx.Err() != nil {
			// Stopping: bound the commit like the final one.
			fctx, cancel := context.WithTimeout(commitCtx, finalCommitTimeout)
			o.commit(fctx, batch)
			cancel()
			continue
		}
		o.commit(commitCtx, batch)
	}
}

// commit stores the completions of batch, forgets them as completing and
// calls OnSent for each.
func (o *Outbox) commit(ctx context.Context, batch []completion) {
	if len(batch) == 0 {
		return
	}
	done := make([]store.OutboxCompletion, len(batch))
	for i, c := range batch {
		done[i] = store.OutboxCompletion{Seq: c.item.Seq, Result: string(c.eventID)}
		if c.op.Link != nil && c.eventID != "" {
			done[i].Link = &store.MessageLink{Module: c.op.Link.Module, RemoteID: c.op.Link.RemoteID,
				RoomID: string(c.op.Room), EventID: string(c.eventID)}
		}
	}
	if err := o.store.CompleteOutboxBatch(ctx, done); err != nil {
		// One bad item must not hold back the others: commit one by one.
		for i := range done {
			if err := o.store.CompleteOutboxBatch(ctx, done[i:i+1]); err != nil {
				o.log.ErrorContext(ctx, "outbox: cannot mark item delivered; a restart will look for it in the room before resending",
					slog.Int64("seq", done[i].Seq), slog.Any("err", err))
			}
		}
	}
	o.mu.Lock()
	for _, c := range batch {
		delete(o.completing, c.item.Seq)
		if o.pumping {
			o.recent[c.item.Seq] = struct{}{}
		}
	}
	// A rescan that ran before this commit saw these items still pending
	// and may have stopped short of the newer ones: rescan again.
	if o.overflow && len(o.known) <= o.opts.MaxInMemory/2 {
		select {
		case o.pumpCh <- struct{}{}:
		default:
		}
	}
	o.mu.Unlock()
	if o.opts.OnSent != nil {
		for _, c := range batch {
			o.opts.OnSent(ctx, c.item, c.op, c.eventID)
		}
	}
}

// deliver performs the op of p against the homeserver.
func (o *Outbox) deliver(ctx context.Context, p pendingItem) (matrix.EventID, error) {
	op := p.op
	in := o.client.Bot()
	if op.Sender != "" {
		in = o.client.Intent(op.Sender)
	}
	txn := TxnIDForItem(p.item)
	switch op.Kind {
	case OpMessage:
		if p.uncertain {
			if id, found, err := o.findDelivered(ctx, in, op, txn); err != nil {
				return "", err
			} else if found {
				o.log.InfoContext(ctx, "outbox: item was delivered before the interruption; not resending",
					slog.String("room_id", string(op.Room)), slog.Int64("seq", p.item.Seq), slog.String("event_id", string(id)))
				return id, nil
			}
		}
		return in.SendMessageEvent(ctx, op.Room, op.Type, withTxnMarker(op.Content, txn), SendOptions{TxnID: txn, Timestamp: op.Timestamp})
	case OpState:
		return in.SendState(ctx, op.Room, op.Type, op.StateKey, op.Content, op.Timestamp)
	case OpRedaction:
		body := map[string]string{}
		if op.Reason != "" {
			body["reason"] = op.Reason
		}
		raw, _ := json.Marshal(body)
		return in.redact(ctx, op.Room, op.Redacts, raw, txn, op.Timestamp)
	case OpProfile:
		var pc struct {
			Displayname *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		if err := json.Unmarshal(op.Content, &pc); err != nil {
			return "", err
		}
		if pc.Displayname != nil {
			if err := in.SetDisplayname(ctx, *pc.Displayname); err != nil {
				return "", err
			}
		}
		if pc.AvatarURL != nil {
			if err := in.SetAvatarURL(ctx, *pc.AvatarURL); err != nil {
				return "", err
			}
		}
		return "", nil
	case OpMembership:
		if !op.Timestamp.IsZero() {
			in = in.At(op.Timestamp)
		}
		target := matrix.UserID(op.StateKey)
		switch op.Type {
		case "join":
			return "", in.EnsureJoined(ctx, op.Room)
		case "leave":
			return "", in.Leave(ctx, op.Room, op.Reason)
		case "invite":
			return "", in.Invite(ctx, op.Room, target, op.Reason)
		case "kick":
			return "", in.Kick(ctx, op.Room, target, op.Reason)
		case "ban":
			return "", in.Ban(ctx, op.Room, target, op.Reason)
		case "unban":
			return "", in.Unban(ctx, op.Room, target, op.Reason)
		}
	}
	return "", fmt.Errorf("unknown outbox op kind %q", op.Kind)
}

// TxnMarkerKey is the content field in which the outbox records the
// transaction ID of every message it sends. It lets a restarted bridge find
// out whether a message whose send was interrupted did reach the room.
const TxnMarkerKey = "io.causeway.txn_id"

// recoveryScan is how many of the sender's newest events are searched for
// an interrupted send's marker.
const recoveryScan = 50

// withTxnMarker adds TxnMarkerKey to a JSON object without re-encoding it.
func withTxnMarker(content json.RawMessage, txn string) json.RawMessage {
	c := bytes.TrimSpace(content)
	if len(c) < 2 || c[0] != '{' {
		return content
	}
	field, _ := json.Marshal(txn)
	out := make([]byte, 0, len(c)+len(TxnMarkerKey)+len(field)+5)
	out = append(out, '{', '"')
	out = append(out, TxnMarkerKey...)
	out = append(out, '"', ':')
	out = append(out, field...)
	rest := bytes.TrimSpace(c[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// findDelivered looks for an event carrying txn's marker among the newest
// events of op's sender in op's room.
func (o *Outbox) findDelivered(ctx context.Context, in *Intent, op Op, txn string) (matrix.EventID, bool, error) {
	evs, err := in.RecentEvents(ctx, op.Room, recoveryScan, []matrix.UserID{in.UserID()}, []string{op.Type})
	if err != nil {
		if IsTransient(err) {
			return "", false, err
		}
		// Not allowed to read the room (e.g. not joined yet): the message
		// cannot be there either.
		return "", false, nil
	}
	for _, ev := range evs {
		var c map[string]json.RawMessage
		if json.Unmarshal(ev.Content, &c) != nil {
			continue
		}
		var got string
		if json.Unmarshal(c[TxnMarkerKey], &got) == nil && got == txn {
			return ev.ID, true, nil
		}
	}
	return "", false, nil
}

// keyedMutex is a set of mutexes by key, created on demand and dropped when
// unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

// lock locks key and returns the function that unlocks it.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// keyedLookup is the optional store method behind [Outbox.LatestKeyed].
type keyedLookup interface {
	LatestOutboxKeyed(ctx context.Context, queue, prefix string) (store.OutboxItem, error)
	OutboxHasKey(ctx context.Context, queue, key string) (bool, error)
}

// LatestKeyed returns the newest op queued for room whose Key starts with
// prefix, delivered or not: what is stored is on its way to Matrix and
// survives a crash. ok is false when there is none (or the store cannot
// tell).
func (o *Outbox) LatestKeyed(ctx context.Context, room matrix.RoomID, prefix string) (op Op, ok bool, err error) {
	kl, can := o.store.(keyedLookup)
	if !can {
		return Op{}, false, nil
	}
	item, err := kl.LatestOutboxKeyed(ctx, string(room), prefix)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Op{}, false, nil
	case err != nil:
		return Op{}, false, err
	}
	op, err = decodeOp(item)
	if err != nil {
		return Op{}, false, err
	}
	return op, true, nil
}

// HasKey reports whether an op with key was queued for room, whether it is
// pending, delivered or failed (until the store prunes it): Send would
// call another one with that key a duplicate. A store without keyed
// lookups answers false.
func (o *Outbox) HasKey(ctx context.Context, room matrix.RoomID, key string) (bool, error) {
	kl, can := o.store.(keyedLookup)
	if !can {
		return false, nil
	}
	return kl.OutboxHasKey(ctx, string(room), key)
}
