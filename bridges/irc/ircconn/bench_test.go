package ircconn

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

// fakeServerEnv makes the test binary run as a minimal IRC server (for
// BenchmarkConnMemory, so that the server's memory is not counted).
const fakeServerEnv = "IRCCONN_FAKE_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeServerEnv) == "1" {
		runFakeServer()
		return
	}
	os.Exit(m.Run())
}

// runFakeServer serves registrations on 127.0.0.1:0 and prints its
// address; it exits when stdin closes.
func runFakeServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go serveFake(conn)
	}
}

func serveFake(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	nick := "*"
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "CAP":
			if len(f) > 1 && f[1] == "LS" {
				fmt.Fprintf(conn, ":srv CAP * LS :server-time message-tags batch echo-message labeled-response\r\n")
			} else if len(f) > 2 && f[1] == "REQ" {
				fmt.Fprintf(conn, ":srv CAP * ACK :%s\r\n", strings.TrimPrefix(strings.Join(f[2:], " "), ":"))
			}
		case "NICK":
			nick = f[1]
		case "USER":
			fmt.Fprintf(conn, ":srv 001 %s :Welcome\r\n:srv 005 %s CASEMAPPING=ascii NICKLEN=32 :ok\r\n:srv 376 %s :End\r\n", nick, nick, nick)
		case "PING":
			fmt.Fprintf(conn, ":srv PONG srv %s\r\n", f[len(f)-1])
		case "JOIN":
			fmt.Fprintf(conn, ":%s!u@h JOIN %s\r\n", nick, f[1])
		}
	}
}

// BenchmarkConnMemory opens N registered connections (N from
// IRCCONN_BENCH_CONNS, default 500) to a fake server in a child process,
// joins each to a channel, and reports heap bytes, RSS bytes and
// goroutines per connection. Run with -benchtime=1x.
func BenchmarkConnMemory(b *testing.B) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("IRCCONN_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	addr, stop := startFakeServerProcess(b)
	defer stop()
	for range b.N {
		heap0, rss0, g0 := memSnapshot()
		conns := make([]*Conn, 0, n)
		joined := make(chan struct{}, n)
		h := &joinCounter{joined: joined}
		for i := range n {
			c, err := Dial(b.Context(), Config{Addr: addr, Nick: "user" + strconv.Itoa(i), Handler: h})
			if err != nil {
				b.Fatalf("dial %d: %v", i, err)
			}
			if err := c.Send(b.Context(), nil, "JOIN", "#bench"); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		for range n {
			<-joined
		}
		heap1, rss1, g1 := memSnapshot()
		b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/conn")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/conn")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/conn")
		for _, c := range conns {
			_ = c.Close("bye")
			<-c.Done()
		}
	}
}

type joinCounter struct{ joined chan struct{} }

func (j *joinCounter) HandleMessage(_ *Conn, m *ircmsg.Message) {
	if m.Command == "JOIN" {
		j.joined <- struct{}{}
	}
}
func (j *joinCounter) HandleBatch(*Conn, *Batch) {}
func (j *joinCounter) HandleClose(*Conn, error)  {}

// startFakeServerProcess runs the test binary as a fake server.
func startFakeServerProcess(b *testing.B) (addr string, stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("fake server: %v", err)
	}
	return strings.TrimSpace(line), func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

// memSnapshot returns live heap bytes, resident set bytes and goroutines
// after a GC.
func memSnapshot() (heap, rss int64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), readRSS(), runtime.NumGoroutine()
}

// readRSS returns VmRSS from /proc/self/status, or 0 where unavailable.
func readRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// lineRepeater yields the same line n times, then EOF.
type lineRepeater struct {
	line []byte
	n    int
	off  int
}

func (r *lineRepeater) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		k := copy(p, r.line[r.off:])
		p, total, r.off = p[k:], total+k, r.off+k
		if r.off == len(r.line) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

type countHandler struct{ n atomic.Int64 }

func (h *countHandler) HandleMessage(*Conn, *ircmsg.Message) { h.n.Add(1) }
func (h *countHandler) HandleBatch(*Conn, *Batch)            {}
func (h *countHandler) HandleClose(*Conn, error)             {}

// BenchmarkReceiveLine measures the CPU cost of one received PRIVMSG line
// with typical tags, from the socket buffer through parsing and dispatch
// to the Handler.
func BenchmarkReceiveLine(b *testing.B) {
	line := []byte("@time=2026-01-02T03:04:05.678Z;msgid=ABCDEFGHJKLMNOP;account=bob :bob!bob@example.org PRIVMSG #chan :hello there, this is a fairly typical chat line\r\n")
	h := &countHandler{}
	cfg := Config{Addr: "bench", Nick: "alice", PingInterval: -1, Handler: h}.withDefaults()
	c := newConn(&scriptConn{r: &lineRepeater{line: line, n: b.N}}, cfg)
	c.enableCapLocked("echo-message", "")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.ResetTimer()
	c.readLoop()
	b.StopTimer()
	if got := h.n.Load(); got != int64(b.N) {
		b.Fatalf("handler got %d lines, want %d", got, b.N)
	}
}
