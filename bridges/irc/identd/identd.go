// Package identd is an RFC 1413 ident server for the IRC bridge: IRC
// servers ask it which user owns each incoming connection, and it answers
// with the name the bridge registered for that connection, so that every
// puppet gets its own ident.
//
// Queries are "local-port , remote-port"; answers are
// "lport , rport : USERID : UNIX : username" or
// "lport , rport : ERROR : NO-USER". The server is built for hostile
// input: one query per connection, a line length cap, a deadline for the
// whole exchange (slowloris), a bound on concurrent connections (further
// ones are closed at once), and it never echoes unparsed input.
package identd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of [Server] fields.
const (
	DefaultAddr     = ":113"
	DefaultMaxConns = 64
	DefaultTimeout  = 10 * time.Second
	DefaultOS       = "UNIX"
	// MaxLineLen is the longest request accepted, CR LF included (RFC 1413
	// allows up to 1000 characters; a real query is under 20).
	MaxLineLen = 1000
)

// Server answers ident queries for registered connections. Set the fields
// before [Server.Start]; Register and Unregister may be called at any time
// from any goroutine.
type Server struct {
	// Addr is the TCP address to listen on; DefaultAddr when empty. Port
	// 113 needs privileges: bridges usually listen on 1113 and redirect.
	Addr string
	// MaxConns bounds the connections served at once; DefaultMaxConns
	// when 0.
	MaxConns int
	// Timeout bounds a whole exchange (read and reply); DefaultTimeout
	// when 0.
	Timeout time.Duration
	// OS is the operating system field of replies; DefaultOS when empty.
	OS string
	// Logger receives debug and error records; slog.DiscardHandler when
	// nil.
	Logger *slog.Logger

	mu      sync.Mutex
	users   map[portPair]string
	ln      net.Listener
	conns   map[net.Conn]struct{}
	slots   chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

type portPair struct{ local, remote int }

// Register names the user of the connection from local port localPort to
// remote port remotePort. The name is stripped of characters that could
// break the reply (controls, spaces, ':' and ',') and cut to 64 bytes.
func (s *Server) Register(localPort, remotePort int, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[portPair]string{}
	}
	s.users[portPair{localPort, remotePort}] = sanitizeUser(username)
}

// Unregister forgets the connection from localPort to remotePort.
func (s *Server) Unregister(localPort, remotePort int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, portPair{localPort, remotePort})
}

func (s *Server) lookup(localPort, remotePort int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[portPair{localPort, remotePort}]
	return u, ok && u != ""
}

// ErrStarted is returned by Start on a Server that was started before.
var ErrStarted = errors.New("identd: server already started")

// Start listens on Addr and serves in the background until Stop.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.stopped {
		return ErrStarted
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("identd listen %s: %w", addr, err)
	}
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.slots = make(chan struct{}, orDefault(s.MaxConns, DefaultMaxConns))
	s.wg.Go(s.acceptLoop)
	s.logger().Info("identd listening", "addr", ln.Addr().String())
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// ListenAddr returns the address the server listens on (useful with port
// 0), or nil before Start.
func (s *Server) ListenAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logger().Error("identd accept", "err", err)
			}
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.logger().Debug("identd busy, connection refused", "remote", conn.RemoteAddr().String())
			_ = conn.Close()
			continue
		}
		if !s.track(conn) {
			_ = conn.Close()
			<-s.slots
			return
		}
		s.wg.Go(func() {
			defer func() { <-s.slots }()
			defer s.untrack(conn)
			s.serve(conn)
		})
	}
}

func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *Server) untrack(conn net.Conn) {
	_ = conn.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, conn)
}

// serve answers one query and closes the connection.
func (s *Server) serve(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(orDefault(s.Timeout, DefaultTimeout)))
	line, err := readLine(conn, MaxLineLen)
	if err != nil {
		s.logger().Debug("identd read", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	reply, ok := s.answer(line)
	if !ok {
		s.logger().Debug("identd malformed query", "remote", conn.RemoteAddr().String())
		return
	}
	if _, err := conn.Write([]byte(reply + "\r\n")); err != nil {
		s.logger().Debug("identd write", "remote", conn.RemoteAddr().String(), "err", err)
	}
}

// answer returns the reply to a query line, or false when the line is not
// a query worth answering.
func (s *Server) answer(line string) (string, bool) {
	lport, rport, err := ParseRequest(line)
	switch {
	case errors.Is(err, ErrRequest):
		return "", false
	case err != nil:
		return fmt.Sprintf("%d , %d : ERROR : INVALID-PORT", lport, rport), true
	}
	user, ok := s.lookup(lport, rport)
	// An IRC server queries right after accepting the connection, which
	// can be a moment before the client side has registered the port
	// pair: give the registration a short grace period.
	for deadline := time.Now().Add(registerGrace); !ok && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		user, ok = s.lookup(lport, rport)
	}
	if !ok {
		return fmt.Sprintf("%d , %d : ERROR : NO-USER", lport, rport), true
	}
	return fmt.Sprintf("%d , %d : USERID : %s : %s", lport, rport, orDefault(s.OS, DefaultOS), user), true
}

// registerGrace is how long a query for an unknown port pair waits for
// its registration before NO-USER is answered.
const registerGrace = time.Second

// errLineTooLong is returned by readLine for lines over the cap.
var errLineTooLong = errors.New("identd: request line too long")

// readLine reads one line ending in LF of at most max bytes from r, and
// strips CR LF. It never reads more than max bytes, so a client can not
// make it wait for the rest of an overlong line.
func readLine(r io.Reader, max int) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(max)), 64)
	var b strings.Builder
	for {
		chunk, err := br.ReadSlice('\n')
		b.Write(chunk)
		switch {
		case err == nil:
			return strings.TrimRight(b.String(), "\r\n"), nil
		case errors.Is(err, io.EOF) && b.Len() >= max:
			return "", errLineTooLong
		case !errors.Is(err, bufio.ErrBufferFull):
			return "", err
		}
	}
}

// Stop closes the listener and waits for the connections being served to
// finish; when ctx ends first, it closes them and returns ctx's error after
// they are gone. A stopped Server can not be started again.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return nil
	}
	_ = ln.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	<-done
	return fmt.Errorf("identd stop: %w", ctx.Err())
}
