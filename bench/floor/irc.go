package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// ircConn is a raw IRC client connection: one socket, one buffered reader.
type ircConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialIRC connects, registers as nick and joins channel, returning once
// the server has echoed the JOIN.
func dialIRC(ctx context.Context, addr, nick, channel string) (*ircConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &ircConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := fmt.Fprintf(conn, "NICK %s\r\nUSER %s 0 * :floor\r\nJOIN %s\r\n", nick, nick, channel); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("join %s: %w", channel, err)
		}
		if c.pong(line) {
			continue
		}
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "JOIN" && strings.HasPrefix(f[0], ":"+nick+"!") {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c, nil
}

// pong answers a PING line, with or without a source prefix, and reports
// whether line was one.
func (c *ircConn) pong(line string) bool {
	rest := line
	if strings.HasPrefix(rest, ":") {
		_, rest, _ = strings.Cut(rest, " ")
	}
	args, ok := strings.CutPrefix(rest, "PING")
	if !ok {
		return false
	}
	_, _ = c.conn.Write([]byte("PONG" + args))
	return true
}

// each calls fn with the text of every PRIVMSG to channel, in order, until
// the connection fails. Like the bridge's bot connection (bridges/irc
// ingest.go, botReadAhead), it reads the socket ahead on a goroutine of
// its own and answers PING there: a burst of thousands of lines takes the
// homeserver minutes, and a PING read only after them would be answered
// too late (Ergo drops a client that has not answered within a minute).
// In a burst the handler finds lines waiting and the reader rarely waits
// for it, so the hand-off costs next to nothing per message.
func (c *ircConn) each(channel string, fn func(string)) error {
	q := &lineQueue{wake: make(chan struct{}, 1)}
	go func() { q.fail(c.readAhead(channel, q)) }()
	for {
		<-q.wake
		bodies, err := q.take()
		for _, b := range bodies {
			fn(b)
		}
		if err != nil {
			return err
		}
	}
}

// readAhead reads lines until the connection fails, answers PINGs and
// queues the text of PRIVMSGs to channel.
func (c *ircConn) readAhead(channel string, q *lineQueue) error {
	prefix := " PRIVMSG " + channel + " :"
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		s := string(line)
		if c.pong(s) {
			continue
		}
		if i := strings.Index(s, prefix); i >= 0 && s[0] == ':' {
			q.push(strings.TrimRight(s[i+len(prefix):], "\r\n"))
		}
	}
}

// lineQueue is the unbounded FIFO between the reader and the handler.
type lineQueue struct {
	mu     sync.Mutex
	bodies []string
	err    error
	wake   chan struct{}
}

func (q *lineQueue) push(body string) {
	q.mu.Lock()
	q.bodies = append(q.bodies, body)
	q.mu.Unlock()
	q.signal()
}

func (q *lineQueue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.signal()
}

func (q *lineQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued and the reader's error, if it stopped.
func (q *lineQueue) take() ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.bodies
	q.bodies = nil
	return b, q.err
}

func (c *ircConn) close() { _ = c.conn.Close() }
