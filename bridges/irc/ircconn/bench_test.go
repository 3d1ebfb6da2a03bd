package ircconn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
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
	if addr := os.Getenv(clientEnv); addr != "" {
		if err := runClient(addr); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
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

// clientEnv makes the test binary run as the measured side of
// BenchmarkConnMemory: a process holding nothing but the connections, fresh
// for every measurement. Its value is the fake server's address.
const clientEnv = "IRCCONN_BENCH_CLIENT"

// benchWarmup is how many connections the client opens and closes before
// its baseline, so that what every process pays once (netpoll, timers,
// the first goroutines' stacks, the heap's first spans) is not counted per
// connection.
const benchWarmup = 200

// BenchmarkConnMemory measures what one registered, joined connection costs:
// heap bytes, resident bytes and goroutines per connection, for N
// connections (IRCCONN_BENCH_CONNS, default 2000) to a fake server that
// echoes JOINs and sends nothing else. Each iteration runs the connections
// in a new child process (so no memory freed by an earlier iteration, the
// testing framework or the server is reused or counted); the child warms
// up, collects garbage and returns freed memory to the OS before its
// baseline and again after the connections are joined. Run with
// -benchtime=1x for one child per -count.
func BenchmarkConnMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("IRCCONN_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	addr, stop := startFakeServerProcess(b)
	defer stop()
	var heap, rss, goroutines float64
	for range b.N {
		h, r, g := measureClient(b, addr, n)
		heap, rss, goroutines = heap+h, rss+r, goroutines+g
	}
	per := float64(b.N) * float64(n)
	b.ReportMetric(heap/per, "heap-B/conn")
	b.ReportMetric(rss/per, "rss-B/conn")
	b.ReportMetric(goroutines/per, "goroutines/conn")
}

// measureClient runs n connections in a client child process and returns
// its heap, RSS and goroutine growth from its baseline.
func measureClient(b *testing.B, addr string, n int) (heap, rss, goroutines float64) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+addr, "IRCCONN_BENCH_CONNS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("client process: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		b.Fatalf("client process said %q", out)
	}
	var v [3]float64
	for i := range f {
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			b.Fatalf("client process said %q", out)
		}
	}
	return v[0], v[1], v[2]
}

// runClient is the client child: it warms up, takes its baseline, opens
// IRCCONN_BENCH_CONNS connections that register and join, and prints the
// heap, RSS and goroutine growth.
func runClient(addr string) error {
	n, err := strconv.Atoi(os.Getenv("IRCCONN_BENCH_CONNS"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	warm, err := dialJoined(ctx, addr, "warm", benchWarmup)
	if err != nil {
		return err
	}
	closeAll(warm)
	heap0, rss0, g0 := memSnapshot()
	conns, err := dialJoined(ctx, addr, "user", n)
	if err != nil {
		return err
	}
	heap1, rss1, g1 := memSnapshot()
	fmt.Println(heap1-heap0, rss1-rss0, g1-g0)
	closeAll(conns)
	return nil
}

// dialJoined opens n connections named prefix0.. and waits until each has
// joined #bench.
func dialJoined(ctx context.Context, addr, prefix string, n int) ([]*Conn, error) {
	conns := make([]*Conn, 0, n)
	joined := make(chan struct{}, n)
	h := &joinCounter{joined: joined}
	for i := range n {
		c, err := Dial(ctx, Config{Addr: addr, Nick: prefix + strconv.Itoa(i), Handler: h})
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("dial %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.Send(ctx, nil, "JOIN", "#bench"); err != nil {
			closeAll(conns)
			return nil, err
		}
	}
	for range n {
		<-joined
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	for _, c := range conns {
		_ = c.Close("bye")
		<-c.Done()
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
// after a GC that also returns freed memory to the OS.
func memSnapshot() (heap, rss int64, goroutines int) {
	runtime.GC()
	debug.FreeOSMemory()
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
	c.updateCapsLocked(func(caps map[string]string) { c.enableCapLocked(caps, "echo-message", "") })
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.ResetTimer()
	c.readLoop()
	b.StopTimer()
	if got := h.n.Load(); got != int64(b.N) {
		b.Fatalf("handler got %d lines, want %d", got, b.N)
	}
}
