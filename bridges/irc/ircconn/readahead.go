package ircconn

import (
	"io"
	"sync"
)

// readAhead reads its source on a goroutine of its own, as fast as the
// source gives bytes, into an in-memory buffer that Read then serves.
// Between an IRC server and a connection whose lines take a while to
// handle, it keeps the server's send queue empty during a burst: the
// kernel's socket buffer and the server's queue (Ergo: 96 KiB) fill in
// milliseconds when one client floods a channel, and a server closes a
// connection whose queue overflows. The buffer grows up to max bytes; past
// that the goroutine waits, and the server's queue takes over.
type readAhead struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte // unread bytes are buf[off:]
	off  int
	err  error // the source's error, returned once buf is drained
	max  int
	// closed is set by Close: the reading goroutine stops adding.
	closed bool
}

// readAheadChunk is how much the goroutine asks the source for at once.
const readAheadChunk = 64 << 10

// newReadAhead starts reading src; max bounds the bytes held.
func newReadAhead(src io.Reader, max int) *readAhead {
	r := &readAhead{max: max}
	r.cond = sync.NewCond(&r.mu)
	go r.fill(src)
	return r
}

// fill copies src into the buffer until src fails or r is closed.
func (r *readAhead) fill(src io.Reader) {
	chunk := make([]byte, readAheadChunk)
	for {
		r.mu.Lock()
		for !r.closed && len(r.buf)-r.off >= r.max {
			r.cond.Wait()
		}
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return
		}
		n, err := src.Read(chunk)
		r.mu.Lock()
		if n > 0 {
			if r.off > 0 && r.off == len(r.buf) {
				r.buf, r.off = r.buf[:0], 0
			} else if r.off > len(r.buf)/2 {
				r.buf, r.off = append(r.buf[:0], r.buf[r.off:]...), 0
			}
			r.buf = append(r.buf, chunk[:n]...)
		}
		if err != nil {
			r.err = err
		}
		r.cond.Broadcast()
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader: it blocks until bytes or the source's error
// are there.
func (r *readAhead) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.off == len(r.buf) && r.err == nil && !r.closed {
		r.cond.Wait()
	}
	if r.off < len(r.buf) {
		n := copy(p, r.buf[r.off:])
		r.off += n
		if r.off == len(r.buf) && cap(r.buf) > 4*readAheadChunk {
			r.buf, r.off = nil, 0 // a burst is over: give its memory back
		}
		r.cond.Broadcast()
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.ErrClosedPipe
}

// Close stops the reading goroutine once its current read returns (the
// caller closes the source to end that read).
func (r *readAhead) Close() {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
}
