package appservice_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
)

// TestIdleConnectionsCapped behaves like Dendrite's appservice client over a
// unix:// URL: it asks for keep-alive but opens a new connection for every
// transaction and never reuses the old ones. The server must not hold all
// of them open until the idle timeout (one file descriptor and goroutine per
// transaction); it closes the longest idle beyond MaxIdleConns.
func TestIdleConnectionsCapped(t *testing.T) {
	const max, total = 3, 8
	sock := filepath.Join(t.TempDir(), "as.sock")
	newServer(t, newFakeInbox(), newRecorder(), func(o *appservice.Options) {
		o.ListenAddr = appservice.UnixPrefix + sock
		o.MaxIdleConns = max
	})
	body := txnBody(t)
	var conns []net.Conn
	for i := range total {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PUT /_matrix/app/v1/transactions/t%d HTTP/1.1\r\nHost: unix\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", i, testToken, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("transaction %d: status %d, close %v; want 200 with keep-alive", i, resp.StatusCode, resp.Close)
		}
		resp.Body.Close()
		conns = append(conns, c) // kept open and never used again
	}
	// Which connections go depends on the order the server saw them go
	// idle; how many must not.
	closed := map[int]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(closed) < total-max && time.Now().Before(deadline) {
		for i, c := range conns {
			if !closed[i] && closedByServer(t, c, 20*time.Millisecond) {
				closed[i] = true
			}
		}
	}
	if len(closed) != total-max {
		t.Fatalf("%d of %d idle connections closed by the server, want %d (MaxIdleConns %d)", len(closed), total, total-max, max)
	}
	for i, c := range conns {
		if !closed[i] && closedByServer(t, c, 300*time.Millisecond) {
			t.Errorf("connection %d closed too: only %d beyond the cap should be", i, total-max)
		}
	}
}

// closedByServer reads from c for up to wait and reports whether the server
// closed it.
func closedByServer(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	switch {
	case errors.Is(err, io.EOF):
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false
	default:
		t.Fatalf("read: %v", err)
		return false
	}
}

// TestIdleCapKeepsReusedConnection checks that a client reusing one
// keep-alive connection (as Synapse does) is never cut by the cap.
func TestIdleCapKeepsReusedConnection(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "as.sock")
	newServer(t, newFakeInbox(), newRecorder(), func(o *appservice.Options) {
		o.ListenAddr = appservice.UnixPrefix + sock
		o.MaxIdleConns = 1
	})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	body := txnBody(t)
	for i := range 20 {
		fmt.Fprintf(c, "PUT /_matrix/app/v1/transactions/r%d HTTP/1.1\r\nHost: unix\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", i, testToken, len(body), body)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("transaction %d on the reused connection: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("transaction %d: status %d", i, resp.StatusCode)
		}
	}
}
