package ircconn

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 5 * time.Second

// fakeServer is a scripted IRC server for one client: the test reads the
// client's lines, asserts them and writes replies.
type fakeServer struct {
	t    *testing.T
	ln   net.Listener
	conn net.Conn
	r    *bufio.Reader
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln}
	t.Cleanup(func() {
		_ = ln.Close()
		if s.conn != nil {
			_ = s.conn.Close()
		}
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// accept waits for the client.
func (s *fakeServer) accept() {
	s.t.Helper()
	_ = s.ln.(*net.TCPListener).SetDeadline(time.Now().Add(testTimeout))
	conn, err := s.ln.Accept()
	if err != nil {
		s.t.Fatalf("accept: %v", err)
	}
	s.conn, s.r = conn, bufio.NewReader(conn)
}

// readLine returns the client's next line without CR LF.
func (s *fakeServer) readLine() string {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(testTimeout))
	line, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("server read: %v (partial %q)", err, line)
	}
	if !strings.HasSuffix(line, "\r\n") {
		s.t.Fatalf("line %q does not end in CR LF", line)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// expect reads the next line and checks that, without its tags, it starts
// with want. It returns the parsed line.
func (s *fakeServer) expect(want string) *ircmsg.Message {
	s.t.Helper()
	line := s.readLine()
	body := line
	if strings.HasPrefix(body, "@") {
		_, body, _ = strings.Cut(body, " ")
	}
	if !strings.HasPrefix(body, want) {
		s.t.Fatalf("client sent %q, want %q", line, want)
	}
	m, err := ircmsg.ParseLine(line)
	if err != nil {
		s.t.Fatalf("client sent unparsable %q: %v", line, err)
	}
	return &m
}

// send writes lines to the client.
func (s *fakeServer) send(lines ...string) {
	s.t.Helper()
	for _, l := range lines {
		if _, err := s.conn.Write([]byte(l + "\r\n")); err != nil {
			s.t.Fatalf("server write: %v", err)
		}
	}
}

// handshake plays a plain registration offering caps (CAP LS value) and
// acknowledging every request.
func (s *fakeServer) handshake(nick, caps string) {
	s.t.Helper()
	s.accept()
	s.expect("CAP LS 302")
	s.expect("NICK " + nick)
	s.expect("USER ")
	s.send(":srv CAP * LS :" + caps)
	if caps != "" {
		req := s.expect("CAP REQ")
		s.send(":srv CAP * ACK :" + req.Params[len(req.Params)-1])
	}
	s.expect("CAP END")
	s.welcome(nick)
}

// welcome ends registration for nick.
func (s *fakeServer) welcome(nick string) {
	s.t.Helper()
	s.send(":srv 001 "+nick+" :Welcome",
		":srv 005 "+nick+" CASEMAPPING=ascii NICKLEN=30 CHANTYPES=# PREFIX=(qaohv)~&@%+ :are supported",
		":srv 376 "+nick+" :End of MOTD")
}

type dialResult struct {
	c   *Conn
	err error
}

// dialAsync dials in the background so the test can play the server.
func dialAsync(t *testing.T, cfg Config) <-chan dialResult {
	t.Helper()
	ch := make(chan dialResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, err := Dial(ctx, cfg)
		ch <- dialResult{c, err}
	}()
	t.Cleanup(func() {
		select {
		case r := <-ch:
			if r.c != nil {
				_ = r.c.Close("test over")
			}
			ch <- r
		default:
		}
	})
	return ch
}

// awaitDial waits for the dial.
func awaitDial(t *testing.T, ch <-chan dialResult) (*Conn, error) {
	t.Helper()
	select {
	case r := <-ch:
		if r.c != nil {
			t.Cleanup(func() { _ = r.c.Close("test over") })
		}
		return r.c, r.err
	case <-time.After(testTimeout):
		t.Fatal("Dial did not return")
	}
	return nil, nil
}

// connect registers a client with caps and returns both ends.
func connect(t *testing.T, cfg Config, caps string) (*Conn, *fakeServer) {
	t.Helper()
	s := newFakeServer(t)
	cfg.Addr = s.addr()
	if cfg.Nick == "" {
		cfg.Nick = "alice"
	}
	ch := dialAsync(t, cfg)
	s.handshake(cfg.Nick, caps)
	c, err := awaitDial(t, ch)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c, s
}

// recorder is a Handler that records what it receives.
type recorder struct {
	msgs    chan *ircmsg.Message
	batches chan *Batch
	closed  chan error
}

func newRecorder() *recorder {
	return &recorder{
		msgs:    make(chan *ircmsg.Message, 100),
		batches: make(chan *Batch, 100),
		closed:  make(chan error, 2),
	}
}

func (r *recorder) HandleMessage(_ *Conn, m *ircmsg.Message) { r.msgs <- m }
func (r *recorder) HandleBatch(_ *Conn, b *Batch)            { r.batches <- b }
func (r *recorder) HandleClose(_ *Conn, err error)           { r.closed <- err }

func (r *recorder) nextMsg(t *testing.T) *ircmsg.Message {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(testTimeout):
		t.Fatal("no message reached the handler")
	}
	return nil
}

func (r *recorder) nextBatch(t *testing.T) *Batch {
	t.Helper()
	select {
	case b := <-r.batches:
		return b
	case <-time.After(testTimeout):
		t.Fatal("no batch reached the handler")
	}
	return nil
}

// timeNowPlus is a short read deadline for draining a client that should
// have given up.
func timeNowPlus() time.Time { return time.Now().Add(2 * time.Second) }

func parse(t *testing.T, line string) *ircmsg.Message {
	t.Helper()
	m, err := ircmsg.ParseLine(line)
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return &m
}
