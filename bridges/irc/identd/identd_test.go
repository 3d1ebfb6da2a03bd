package identd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
)

func start(t *testing.T, s *Server) string {
	t.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s.ListenAddr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// query sends one raw request and returns everything the server wrote
// before closing.
func query(t *testing.T, addr, req string) string {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(b)
}

func TestQueries(t *testing.T) {
	s := &Server{}
	addr := start(t, s)
	s.Register(40000, 6667, "alice")
	s.Register(40001, 6697, "bob:x\r\nQUIT ,y")
	s.Register(40002, 6667, "carol")
	s.Unregister(40002, 6667)
	tests := []struct {
		req, want string
	}{
		0:  {"40000, 6667\r\n", "40000 , 6667 : USERID : UNIX : alice\r\n"},
		1:  {"40000,6667\n", "40000 , 6667 : USERID : UNIX : alice\r\n"},
		2:  {"  40000 ,  6667  \r\n", "40000 , 6667 : USERID : UNIX : alice\r\n"},
		3:  {"40000, 6697\r\n", "40000 , 6697 : ERROR : NO-USER\r\n"},
		4:  {"40001, 6697\r\n", "40001 , 6697 : USERID : UNIX : bobxQUITy\r\n"},
		5:  {"40002, 6667\r\n", "40002 , 6667 : ERROR : NO-USER\r\n"},
		6:  {"0, 6667\r\n", "0 , 6667 : ERROR : INVALID-PORT\r\n"},
		7:  {"70000, 6667\r\n", "70000 , 6667 : ERROR : INVALID-PORT\r\n"},
		8:  {"GET / HTTP/1.1\r\n", ""},
		9:  {"40000 6667\r\n", ""},
		10: {"40000, 6667", ""}, // no line end before the client closes its side
		11: {"-1, 6667\r\n", ""},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := dial(t, addr)
			io.WriteString(c, tc.req)
			c.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("reply to %q = %q, want %q", tc.req, b, tc.want)
			}
		})
	}
}

func TestLongLineClosed(t *testing.T) {
	addr := start(t, &Server{})
	c := dial(t, addr)
	// Write more than the cap without a newline; the server must close
	// without answering and without waiting for the rest.
	go io.WriteString(c, strings.Repeat("1", MaxLineLen+10))
	b, err := io.ReadAll(c)
	if len(b) != 0 {
		t.Errorf("reply to an overlong line: %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("server kept an overlong line open: %v", err)
	}
	if got := query(t, addr, strings.Repeat(" ", MaxLineLen-20)+"1,2\r\n"); got != "1 , 2 : ERROR : NO-USER\r\n" {
		t.Errorf("line just under the cap: %q", got)
	}
}

func TestSlowClientTimedOut(t *testing.T) {
	s := &Server{Timeout: 200 * time.Millisecond}
	s.Register(1, 2, "alice")
	addr := start(t, s)
	c := dial(t, addr)
	io.WriteString(c, "1,") // then stall
	begin := time.Now()
	b, err := io.ReadAll(c)
	if err != nil || len(b) != 0 {
		t.Fatalf("slow client got %q, %v", b, err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("slow client held for %v, timeout 200ms", d)
	}
}

func TestMaxConns(t *testing.T) {
	s := &Server{MaxConns: 2}
	s.Register(1, 2, "alice")
	addr := start(t, s)
	idle := []net.Conn{dial(t, addr), dial(t, addr)}
	// Make sure both idle connections hold a slot before the third.
	poll.Until(t, "2 active connections", 5*time.Second, func() bool { return s.active() == 2 })
	extra := dial(t, addr)
	io.WriteString(extra, "1,2\r\n")
	if b, _ := io.ReadAll(extra); len(b) != 0 {
		t.Errorf("connection over the limit answered %q", b)
	}
	idle[0].Close()
	poll.Until(t, "1 active connections", 5*time.Second, func() bool { return s.active() == 1 })
	if got := query(t, addr, "1,2\r\n"); got != "1 , 2 : USERID : UNIX : alice\r\n" {
		t.Errorf("after a slot freed: %q", got)
	}
}

func (s *Server) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestStopClosesIdleConnections(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0", Timeout: time.Hour}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := s.ListenAddr().String()
	c := dial(t, addr)
	poll.Until(t, "1 active connections", 5*time.Second, func() bool { return s.active() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop with a hung client = %v, want deadline exceeded", err)
	}
	if b, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Errorf("hung client still open after Stop, read %q", b)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("listener still accepts after Stop")
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrStarted) {
		t.Errorf("restart after Stop = %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStopWaitsForCleanExit(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0"}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s.ListenAddr().String(), "5,6\r\n"); got != "5 , 6 : ERROR : NO-USER\r\n" {
		t.Errorf("reply = %q", got)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop = %v", err)
	}
}
