package irc

import (
	"sync"

	"github.com/causewaybridge/causeway/matrix"
)

// A network's state for admin commands, plumbing requests, nick recovery
// and history marks: one small type per concern, each with its own mutex.
// Their zero values are ready to use.

// nickPrefs caches the nicks users chose with !nick (nick.go); "" is
// cached for a user who chose none.
type nickPrefs struct {
	mu    sync.Mutex
	nicks map[matrix.UserID]string
}

// get returns the cached nick of user; ok is false when none is cached.
func (p *nickPrefs) get(user matrix.UserID) (nick string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	nick, ok = p.nicks[user]
	return nick, ok
}

// set caches the nick of user.
func (p *nickPrefs) set(user matrix.UserID, nick string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nicks == nil {
		p.nicks = map[matrix.UserID]string{}
	}
	p.nicks[user] = nick
}

// nickWaits holds the !nick commands waiting for NICK or a refusal
// (nick.go), one per user.
type nickWaits struct {
	mu    sync.Mutex
	waits map[matrix.UserID]chan nickResult
}

// add makes ch the waiter of user.
func (w *nickWaits) add(user matrix.UserID, ch chan nickResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[matrix.UserID]chan nickResult{}
	}
	w.waits[user] = ch
}

// remove drops the waiter of user if it is still ch.
func (w *nickWaits) remove(user matrix.UserID, ch chan nickResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits[user] == ch {
		delete(w.waits, user)
	}
}

// take removes and returns the waiter of user, nil when there is none.
func (w *nickWaits) take(user matrix.UserID) chan nickResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.waits[user]
	delete(w.waits, user)
	return ch
}

// monitorWaits holds, per user, the nick being won back with MONITOR
// (nick.go).
type monitorWaits struct {
	mu    sync.Mutex
	wants map[matrix.UserID]string
}

// set records that user waits to get want back.
func (w *monitorWaits) set(user matrix.UserID, want string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wants == nil {
		w.wants = map[matrix.UserID]string{}
	}
	w.wants[user] = want
}

// get returns the nick user waits for; ok is false when none.
func (w *monitorWaits) get(user matrix.UserID) (want string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	want, ok = w.wants[user]
	return want, ok
}

// take removes and returns the nick user waits for.
func (w *monitorWaits) take(user matrix.UserID) (want string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	want, ok = w.wants[user]
	delete(w.wants, user)
	return want, ok
}

// remove ends the wait of user.
func (w *monitorWaits) remove(user matrix.UserID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.wants, user)
}

// whoisWaits holds the pending WHOIS queries (nick.go) by casefolded nick.
// Its mutex also guards the lines of each whoisWait.
type whoisWaits struct {
	mu    sync.Mutex
	waits map[string]*whoisWait
}

// add makes wt the pending query for the casefolded nick f.
func (w *whoisWaits) add(f string, wt *whoisWait) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[string]*whoisWait{}
	}
	w.waits[f] = wt
}

// remove drops the query for f if it is still wt.
func (w *whoisWaits) remove(f string, wt *whoisWait) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits[f] == wt {
		delete(w.waits, f)
	}
}

// reply hands a reply about f to its pending query, if any: end (318)
// completes the query, otherwise a non-empty line is collected.
func (w *whoisWaits) reply(f string, end bool, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.waits[f]
	if wt == nil {
		return
	}
	if end {
		close(wt.done)
		delete(w.waits, f)
		return
	}
	if line != "" {
		wt.lines = append(wt.lines, line)
	}
}

// lines returns a copy of the lines collected for wt.
func (w *whoisWaits) lines(wt *whoisWait) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(wt.lines) == 0 {
		return nil
	}
	return append([]string(nil), wt.lines...)
}

// plumbRequests holds the pending "!irc link" requests (plumb.go) by
// casefolded channel.
type plumbRequests struct {
	mu   sync.Mutex
	reqs map[string]*plumbRequest
}

// add records req for the casefolded channel f; it returns false, and
// records nothing, when a request for f is already waiting.
func (p *plumbRequests) add(f string, req *plumbRequest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reqs == nil {
		p.reqs = map[string]*plumbRequest{}
	}
	if p.reqs[f] != nil {
		return false
	}
	p.reqs[f] = req
	return true
}

// remove drops the request for f.
func (p *plumbRequests) remove(f string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reqs, f)
}

// get returns the request for f, nil when there is none.
func (p *plumbRequests) get(f string) *plumbRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs[f]
}

// channels returns the channels of the pending requests.
func (p *plumbRequests) channels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	chans := make([]string, 0, len(p.reqs))
	for _, r := range p.reqs {
		chans = append(chans, r.channel)
	}
	return chans
}
