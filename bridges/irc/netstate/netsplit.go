package netstate

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// IRCv3 batch types that group the quits and rejoins of a netsplit.
const (
	BatchNetsplit = "netsplit"
	BatchNetjoin  = "netjoin"
)

// IsNetsplitReason reports whether a QUIT reason looks like a netsplit:
// two server names separated by one space, such as
// "hub.example.net leaf.example.net". Users can not choose such a reason:
// servers prefix user quit messages with "Quit: ".
func IsNetsplitReason(reason string) bool {
	a, b, ok := strings.Cut(reason, " ")
	return ok && isServerName(a) && isServerName(b) && a != b
}

func isServerName(s string) bool {
	if len(s) < 3 || len(s) > 255 || !strings.Contains(s, ".") ||
		s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !isModeLetter(c) && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' && c != '*' {
			return false
		}
	}
	return true
}

// Clock is the time source of a [Debouncer]; tests pass a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer started by a [Clock].
type Timer interface {
	Stop() bool
}

// SystemClock is the real [Clock].
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc calls time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// HeldQuit is a netsplit quit the [Debouncer] released: the user did not
// come back to Channels in time and should now leave them in Matrix.
type HeldQuit struct {
	Nick     string
	Reason   string
	Channels []string
	At       time.Time // when the quit was received
}

// DebouncerOptions configures a [Debouncer].
type DebouncerOptions struct {
	// Hold is how long a netsplit quit is held before it is released.
	Hold time.Duration
	// Fold casefolds nicks and channel names (see [Network.Fold]); nil
	// compares them as they are.
	Fold func(string) string
	// Clock defaults to [SystemClock].
	Clock Clock
	// Release is called, from the clock's goroutine and without locks
	// held, with each quit that was not cancelled in time.
	Release func(HeldQuit)
}

// Debouncer holds back the Matrix side of netsplit quits: a quit whose
// reason looks like a netsplit, or that came in a netsplit batch, is kept
// for a while, and the user's rejoin to a channel during that time (the
// netjoin) cancels the leave for that channel. What is not cancelled is
// released as a leave. It is safe for concurrent use.
type Debouncer struct {
	opts DebouncerOptions
	mu   sync.Mutex
	held map[string]*held // by folded nick
}

type held struct {
	quit     HeldQuit
	channels map[string]string // folded → name
	timer    Timer
}

// NewDebouncer returns a Debouncer.
func NewDebouncer(opts DebouncerOptions) *Debouncer {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Fold == nil {
		opts.Fold = func(s string) string { return s }
	}
	if opts.Release == nil {
		opts.Release = func(HeldQuit) {}
	}
	return &Debouncer{opts: opts, held: map[string]*held{}}
}

// Quit offers a QUIT of nick, who was in channels. batch is the type of
// the batch the QUIT came in ("" for none). It reports whether the quit is
// held; when it is not, the caller shows the leave at once.
func (d *Debouncer) Quit(nick, reason string, channels []string, batch string) bool {
	if len(channels) == 0 || (batch != BatchNetsplit && !IsNetsplitReason(reason)) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := d.opts.Fold(nick)
	h := d.held[key]
	if h == nil {
		h = &held{quit: HeldQuit{Nick: nick, Reason: reason, At: d.opts.Clock.Now()}, channels: map[string]string{}}
		d.held[key] = h
		h.timer = d.opts.Clock.AfterFunc(d.opts.Hold, func() { d.expire(key, h) })
	}
	for _, c := range channels {
		h.channels[d.opts.Fold(c)] = c
	}
	return true
}

// Join offers a JOIN of nick to channel. It reports whether it is a
// netjoin that cancels a held quit: the caller then shows no join in
// Matrix, as the user never left there.
func (d *Debouncer) Join(nick, channel string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := d.opts.Fold(nick)
	h := d.held[key]
	if h == nil {
		return false
	}
	fc := d.opts.Fold(channel)
	if _, ok := h.channels[fc]; !ok {
		return false
	}
	delete(h.channels, fc)
	if len(h.channels) == 0 {
		h.timer.Stop()
		delete(d.held, key)
	}
	return true
}

// IsHeld reports whether nick's quit is being held.
func (d *Debouncer) IsHeld(nick string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.held[d.opts.Fold(nick)]
	return ok
}

// Held returns the number of users whose quits are held.
func (d *Debouncer) Held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

func (d *Debouncer) expire(key string, h *held) {
	d.mu.Lock()
	if d.held[key] != h {
		d.mu.Unlock()
		return
	}
	delete(d.held, key)
	q := h.release()
	d.mu.Unlock()
	d.opts.Release(q)
}

func (h *held) release() HeldQuit {
	q := h.quit
	for _, name := range h.channels {
		q.Channels = append(q.Channels, name)
	}
	slices.Sort(q.Channels)
	return q
}

// Flush releases every held quit now (at shutdown, or when the bridge lost
// its own connection and can no longer see rejoins).
func (d *Debouncer) Flush() {
	d.mu.Lock()
	var out []HeldQuit
	for key, h := range d.held {
		h.timer.Stop()
		out = append(out, h.release())
		delete(d.held, key)
	}
	d.mu.Unlock()
	for _, q := range out {
		d.opts.Release(q)
	}
}
