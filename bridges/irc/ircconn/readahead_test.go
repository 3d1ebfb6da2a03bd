package ircconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestReadAheadDrainsWhileNobodyReads: a 4 MiB burst written into a
// synchronous pipe completes although nothing reads the read-ahead (the
// server's send queue would stay empty), the bytes then come out whole and
// in order, and the writer's close ends the reader with EOF.
func TestReadAheadDrainsWhileNobodyReads(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	r := newReadAhead(client, 64<<20)
	defer r.Close()
	burst := bytes.Repeat([]byte("PRIVMSG #flood :0123456789 abcdefghijklmnopqrstuvwxyz\r\n"), 4<<20/56)
	written := make(chan error, 1)
	go func() {
		_, err := server.Write(burst)
		server.Close()
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the writer is still blocked: the read-ahead did not drain the pipe")
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, burst) {
		t.Fatalf("read %d bytes, want the %d written, unchanged", len(got), len(burst))
	}
}

// TestReadAheadBounded: past max bytes the read-ahead stops reading, so a
// writer blocks again, and resumes once the reader consumes.
func TestReadAheadBounded(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := newReadAhead(client, 1<<10)
	defer r.Close()
	if err := server.SetWriteDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := server.Write(make([]byte, 1<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writing 1 MiB into a read-ahead bounded at 1 KiB: %v, want the write to block until its deadline", err)
	}
	r.mu.Lock()
	held := len(r.buf) - r.off
	r.mu.Unlock()
	if held > 1<<10+readAheadChunk {
		t.Fatalf("holds %d bytes, bound 1 KiB (+ one read)", held)
	}
}
