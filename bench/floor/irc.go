package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
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

// pong answers a PING line and reports whether line was one.
func (c *ircConn) pong(line string) bool {
	if !strings.HasPrefix(line, "PING") {
		return false
	}
	_, _ = c.conn.Write([]byte("PONG" + line[4:]))
	return true
}

// each calls fn with the text of every PRIVMSG to channel, in order, until
// the connection fails.
func (c *ircConn) each(channel string, fn func(string)) error {
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
			fn(strings.TrimRight(s[i+len(prefix):], "\r\n"))
		}
	}
}

func (c *ircConn) close() { _ = c.conn.Close() }
