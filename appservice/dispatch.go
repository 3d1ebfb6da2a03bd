package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// errClosed is returned by ingest once Stop has begun.
var errClosed = errors.New("appservice: server is stopping")

// roomBatch is how many events a worker takes from one room before letting
// the next ready room have its turn.
const roomBatch = 32

// markFlushTimeout bounds the final flush of done marks during Stop.
const markFlushTimeout = 5 * time.Second

// storeRetryDelay is the wait before retrying a failed inbox read or mark.
const storeRetryDelay = time.Second

type dispatcherLimits struct {
	workers int
	queued  int
	retry   RetryPolicy
}

// roomQueue holds the in-memory events of one room. A room is scheduled
// while it sits in the ready list or a worker handles it; that is what keeps
// its events strictly sequential.
type roomQueue struct {
	id        string
	events    []store.InboxEvent
	scheduled bool
}

// dispatcher moves events from the inbox to the handler: per-room FIFO
// queues, a bounded set of worker goroutines that round-robin over ready
// rooms and exit when none is left, and a marker goroutine that batches done
// marks.
type dispatcher struct {
	inbox   Inbox
	handler Handler
	log     *slog.Logger
	lim     dispatcherLimits

	// ingestMu serialises storing a transaction with enqueueing it (and
	// with refills), so that memory order equals Seq order.
	ingestMu sync.Mutex

	mu          sync.Mutex
	rooms       map[string]*roomQueue
	ready       []*roomQueue
	active      int   // worker goroutines
	queued      int   // events in memory not yet taken by a worker
	outstanding int   // events enqueued and not yet marked done in the store
	highSeq     int64 // highest Seq ever enqueued
	backlog     bool  // the store may hold pending events not in memory
	refilling   bool
	running     bool
	closed      bool
	done        []int64 // processed, waiting to be marked

	ctx        context.Context // processing context, cancelled by stop
	cancel     context.CancelFunc
	stopCh     chan struct{} // closed when intake closes
	wg         sync.WaitGroup
	markWake   chan struct{}
	markStop   chan struct{}
	markOnce   sync.Once
	markerDone chan struct{}
}

func newDispatcher(inbox Inbox, h Handler, log *slog.Logger, lim dispatcherLimits) *dispatcher {
	return &dispatcher{
		inbox:    inbox,
		handler:  h,
		log:      log,
		lim:      lim,
		rooms:    make(map[string]*roomQueue),
		backlog:  true, // whatever is pending in the store is loaded by start
		stopCh:   make(chan struct{}),
		markWake: make(chan struct{}, 1),
		markStop: make(chan struct{}),
	}
}

// start loads the pending events and starts processing. The processing
// context is detached from ctx: cancelling ctx later does not cut a handler
// in half.
func (d *dispatcher) start(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errClosed
	}
	d.ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.running = true
	d.mu.Unlock()
	if err := d.refill(ctx); err != nil {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
		d.cancel()
		return fmt.Errorf("appservice: resume pending events: %w", err)
	}
	d.markerDone = make(chan struct{})
	go d.marker()
	return nil
}

// ingest stores a transaction and queues the events the store had not seen.
func (d *dispatcher) ingest(ctx context.Context, txnID string, events []store.InboxEvent) (added int, seenTxn bool, err error) {
	d.ingestMu.Lock()
	defer d.ingestMu.Unlock()
	if d.isClosed() {
		return 0, false, errClosed
	}
	evs, seen, err := d.inbox.AddTransaction(ctx, txnID, events)
	if err != nil {
		return 0, seen, fmt.Errorf("store transaction %q: %w", txnID, err)
	}
	d.mu.Lock()
	d.enqueueLocked(evs)
	d.mu.Unlock()
	return len(evs), seen, nil
}

func (d *dispatcher) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// enqueueLocked queues events in Seq order. Events already known (Seq at or
// below highSeq) are skipped. When processing is not running or the memory
// budget is spent, the remaining events stay in the store and backlog is set
// so that refill fetches them later, before anything newer.
func (d *dispatcher) enqueueLocked(evs []store.InboxEvent) {
	if len(evs) == 0 {
		return
	}
	if !d.running || d.closed || d.backlog {
		d.backlog = true
		return
	}
	slices.SortFunc(evs, func(a, b store.InboxEvent) int { return cmpInt64(a.Seq, b.Seq) })
	for _, ev := range evs {
		if ev.Seq <= d.highSeq {
			continue
		}
		if d.queued >= d.lim.queued {
			d.backlog = true
			return
		}
		d.highSeq = ev.Seq
		d.queued++
		d.outstanding++
		d.pushLocked(ev)
	}
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

func (d *dispatcher) pushLocked(ev store.InboxEvent) {
	r := d.rooms[ev.RoomID]
	if r == nil {
		r = &roomQueue{id: ev.RoomID}
		d.rooms[ev.RoomID] = r
	}
	r.events = append(r.events, ev)
	if !r.scheduled {
		r.scheduled = true
		d.readyLocked(r)
	}
}

// readyLocked appends r to the ready list and starts a worker if the limit
// allows.
func (d *dispatcher) readyLocked(r *roomQueue) {
	d.ready = append(d.ready, r)
	if d.active < d.lim.workers && !d.closed {
		d.active++
		d.wg.Add(1)
		go d.worker()
	}
}

// worker handles ready rooms one batch at a time and exits when no room is
// ready.
func (d *dispatcher) worker() {
	defer d.wg.Done()
	for {
		r, batch := d.take()
		if r == nil {
			return
		}
		d.processBatch(batch)
		d.finish(r)
	}
}

// take pops the next ready room and up to roomBatch of its events.
func (d *dispatcher) take() (*roomQueue, []store.InboxEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || len(d.ready) == 0 {
		d.active--
		return nil, nil
	}
	r := d.ready[0]
	d.ready[0] = nil
	d.ready = d.ready[1:]
	n := min(len(r.events), roomBatch)
	batch := r.events[:n:n]
	r.events = r.events[n:]
	d.queued -= n
	d.maybeRefillLocked()
	return r, batch
}

// finish gives the room its next turn, or forgets it when it is idle.
func (d *dispatcher) finish(r *roomQueue) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(r.events) > 0 && !d.closed {
		d.ready = append(d.ready, r)
		return
	}
	r.scheduled = false
	if len(r.events) == 0 {
		r.events = nil
		delete(d.rooms, r.id)
	}
}

// processBatch handles events in order, queueing a done mark for each one
// finished (handled or given up). It stops early when the dispatcher closes:
// the rest stay pending in the store.
func (d *dispatcher) processBatch(batch []store.InboxEvent) {
	for _, ev := range batch {
		select {
		case <-d.stopCh:
			return
		default:
		}
		if !d.process(ev) {
			return
		}
		d.mu.Lock()
		d.done = append(d.done, ev.Seq)
		d.mu.Unlock()
		d.wake()
	}
}

// process handles one event with retries. It returns false only when the
// dispatcher stopped before the event was finished.
func (d *dispatcher) process(ev store.InboxEvent) bool {
	log := d.log.With("event_id", ev.EventID, "room_id", ev.RoomID, "seq", ev.Seq)
	var evt matrix.Event
	if err := json.Unmarshal(ev.Raw, &evt); err != nil {
		log.Error("dropping undecodable inbox event", "err", err)
		return true
	}
	backoff := d.lim.retry.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := d.call(&evt)
		if err == nil {
			return true
		}
		if attempt >= d.lim.retry.Attempts {
			log.Error("giving up on event after retries", "attempts", attempt, "err", err)
			return true
		}
		log.Warn("event handler failed, retrying", "attempt", attempt, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-d.stopCh:
			t.Stop()
			return false
		}
		backoff = min(backoff*2, d.lim.retry.MaxBackoff)
	}
}

// call runs the handler, turning a panic into an error.
func (d *dispatcher) call(evt *matrix.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return d.handler.HandleEvent(d.ctx, evt)
}

// maybeRefillLocked starts a background refill when events wait in the store
// and the memory queue has room for a good batch of them.
func (d *dispatcher) maybeRefillLocked() {
	if !d.backlog || d.refilling || !d.running || d.closed || d.queued > d.lim.queued/2 {
		return
	}
	d.refilling = true
	d.wg.Add(1)
	go d.refillLoop()
}

func (d *dispatcher) refillLoop() {
	defer d.wg.Done()
	for {
		err := d.refill(d.ctx)
		if err == nil {
			return
		}
		d.log.Warn("loading pending events failed, retrying", "err", err)
		t := time.NewTimer(storeRetryDelay)
		select {
		case <-t.C:
		case <-d.stopCh:
			t.Stop()
			return
		}
	}
}

// refill loads the oldest pending events from the store and queues those not
// yet in memory. The limit covers every event already known and still pending
// in the store plus the free memory budget, so a short answer proves that
// nothing is left behind.
func (d *dispatcher) refill(ctx context.Context) error {
	d.ingestMu.Lock()
	defer d.ingestMu.Unlock()
	d.mu.Lock()
	limit := d.outstanding + d.lim.queued - d.queued
	d.mu.Unlock()
	evs, err := d.inbox.PendingEvents(ctx, limit)
	if err != nil {
		return fmt.Errorf("pending events: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refilling = false
	d.backlog = false
	d.enqueueLocked(evs)
	if len(evs) >= limit {
		d.backlog = true
	}
	if len(evs) > 0 {
		d.log.Debug("loaded pending events", "count", len(evs), "backlog", d.backlog)
	}
	return nil
}

// marker writes done marks in batches until stopped, then flushes once more.
func (d *dispatcher) marker() {
	defer close(d.markerDone)
	for {
		select {
		case <-d.markWake:
			if err := d.flush(d.ctx); err != nil {
				d.log.Warn("marking events done failed, will retry", "err", err)
				t := time.NewTimer(storeRetryDelay)
				select {
				case <-t.C:
				case <-d.markStop:
					t.Stop()
				}
				d.wake()
			}
		case <-d.markStop:
			ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), markFlushTimeout)
			defer cancel()
			if err := d.flush(ctx); err != nil {
				d.log.Error("final flush of done marks failed; those events will be processed again", "err", err)
			}
			return
		}
	}
}

func (d *dispatcher) wake() {
	select {
	case d.markWake <- struct{}{}:
	default:
	}
}

// flush marks the collected seqs done; on failure they are kept for the next
// attempt.
func (d *dispatcher) flush(ctx context.Context) error {
	d.mu.Lock()
	seqs := d.done
	d.done = nil
	d.mu.Unlock()
	if len(seqs) == 0 {
		return nil
	}
	err := d.inbox.MarkEventsDone(ctx, seqs...)
	if errors.Is(err, store.ErrNotFound) {
		// One of the events vanished from the store (pruned by an
		// operator?); the store then marks none. Mark them one by one so
		// the others are not retried forever.
		err = d.markEach(ctx, seqs)
	}
	if err != nil {
		d.mu.Lock()
		d.done = append(seqs, d.done...)
		d.mu.Unlock()
		return fmt.Errorf("mark %d events done: %w", len(seqs), err)
	}
	d.mu.Lock()
	d.outstanding -= len(seqs)
	d.mu.Unlock()
	return nil
}

// markEach marks seqs done one at a time, skipping those the store does not
// hold.
func (d *dispatcher) markEach(ctx context.Context, seqs []int64) error {
	for _, seq := range seqs {
		err := d.inbox.MarkEventsDone(ctx, seq)
		if errors.Is(err, store.ErrNotFound) {
			d.log.Warn("processed event is no longer in the inbox", "seq", seq)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// closeIntake refuses new transactions and tells workers to take nothing new.
func (d *dispatcher) closeIntake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		close(d.stopCh)
	}
}

// stop closes intake, waits for the workers to finish the events they are
// handling (cancelling them if ctx ends first) and flushes the done marks.
func (d *dispatcher) stop(ctx context.Context) error {
	d.closeIntake()
	d.mu.Lock()
	running := d.running
	d.mu.Unlock()
	if !running {
		return nil
	}
	var errs []error
	idle := make(chan struct{})
	go func() { d.wg.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
		d.cancel()
		errs = append(errs, fmt.Errorf("appservice: waiting for event handlers: %w", ctx.Err()))
	}
	d.markOnce.Do(func() { close(d.markStop) })
	<-d.markerDone
	d.cancel()
	return errors.Join(errs...)
}

// Stats is a snapshot of the inbox processing state, for health checks and
// metrics.
type Stats struct {
	// Queued counts events in memory waiting for a worker.
	Queued int
	// Unmarked counts events taken into memory and not yet marked done in
	// the store (queued, being handled, or waiting for the mark).
	Unmarked int
	// Workers counts the active worker goroutines.
	Workers int
	// Rooms counts rooms with queued or in-progress events.
	Rooms int
	// Backlog reports that more pending events wait in the store than fit
	// in memory.
	Backlog bool
}

func (d *dispatcher) stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Queued: d.queued, Unmarked: d.outstanding, Workers: d.active, Rooms: len(d.rooms), Backlog: d.backlog}
}
