//go:build benchirc

package ircbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencyProbe timestamps latency probes ("lat-<i>" messages) at the two
// edges of the bridge: when the homeserver's transaction carrying one
// reaches the appservice port, and when the bridge writes its PRIVMSG
// towards the IRC server. Both are seen by proxies in front of the bridge,
// so their forwarding cost is inside the figure (an upper bound).
type latencyProbe struct {
	mu      sync.Mutex
	arrived map[int]time.Time
	written map[int]time.Time
}

func newLatencyProbe() *latencyProbe {
	return &latencyProbe{arrived: map[int]time.Time{}, written: map[int]time.Time{}}
}

func (p *latencyProbe) mark(m map[int]time.Time, i int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := m[i]; !ok {
		m[i] = at
	}
}

// report lists "<i>:<µs from transaction to IRC line>" for every probe seen at both edges.
func (p *latencyProbe) report() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	idx := make([]int, 0, len(p.written))
	for i := range p.written {
		if _, ok := p.arrived[i]; ok {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	var b strings.Builder
	for _, i := range idx {
		fmt.Fprintf(&b, "%d:%d ", i, p.written[i].Sub(p.arrived[i]).Microseconds())
	}
	return strings.TrimSpace(b.String())
}

// probeIndex returns i of the first "lat-<i>" in s.
func probeIndex(s []byte) (int, bool) {
	k := bytes.Index(s, []byte(latPrefix))
	if k < 0 {
		return 0, false
	}
	s = s[k+len(latPrefix):]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	i, err := strconv.Atoi(string(s[:end]))
	return i, err == nil
}

// proxyAS serves a reverse proxy to the appservice at target and returns
// its URL; transactions carrying probes are timestamped on arrival.
func (p *latencyProbe) proxyAS(ctx context.Context, target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/transactions/") {
			var txn struct {
				Events []struct {
					Content struct {
						Body string `json:"body"`
					} `json:"content"`
				} `json:"events"`
			}
			if json.Unmarshal(body, &txn) == nil {
				for _, e := range txn.Events {
					if i, ok := probeIndex([]byte(e.Content.Body)); ok && strings.HasPrefix(e.Content.Body, latPrefix) {
						p.mark(p.arrived, i, at)
					}
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return "http://" + ln.Addr().String(), nil
}

// proxyIRC forwards connections to the IRC server at target and returns its
// address; PRIVMSG lines carrying probes are timestamped as the bridge
// writes them.
func (p *latencyProbe) proxyIRC(ctx context.Context, target string) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { <-ctx.Done(); _ = ln.Close() }()
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(ctx, down, target)
		}
	}()
	return ln.Addr().String(), nil
}

func (p *latencyProbe) pipe(ctx context.Context, down net.Conn, target string) {
	defer down.Close()
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(down, up)
		_ = down.Close()
	}()
	r := bufio.NewReaderSize(down, 16<<10)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if bytes.Contains(line, []byte("PRIVMSG")) {
				if i, ok := probeIndex(line); ok {
					p.mark(p.written, i, time.Now())
				}
			}
			if _, werr := up.Write(line); werr != nil {
				return
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
