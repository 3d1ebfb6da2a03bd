//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// bridgeProc is the causeway binary running as a separate process, so a
// test can kill -9 it.
type bridgeProc struct {
	bin, cfg, logPath string
	cmd               *exec.Cmd
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "causeway")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (p *bridgeProc) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, "run", "-c", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	poll.Check(t, "the bridge started", 30*time.Second, func() error {
		data, _ := os.ReadFile(p.logPath)
		if bytes.Count(data, []byte("causeway started")) <= p.starts() {
			return fmt.Errorf("log:\n%s", data)
		}
		return nil
	})
	t.Cleanup(func() { p.stop() })
}

// starts counts the "started" lines written by earlier runs, saved by kill.
func (p *bridgeProc) starts() int {
	data, _ := os.ReadFile(p.logPath + ".prev")
	return bytes.Count(data, []byte("causeway started"))
}

func (p *bridgeProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = p.cmd.Process.Wait()
		data, _ := os.ReadFile(p.logPath)
		_ = os.WriteFile(p.logPath+".prev", data, 0o600)
	}
}

func (p *bridgeProc) stop() {
	if p.cmd != nil && p.cmd.ProcessState == nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _, _ = p.cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
}

// TestIntegrationKill9WhileDelivering: the homeserver delivers a stream of
// events while the bridge is killed with SIGKILL and restarted. Every event
// is processed exactly once and in room order: each message gets exactly one
// echo, and the echoes are in the order of the messages.
func TestIntegrationKill9WhileDelivering(t *testing.T) {
	integration.RequireEnv(t, "CAUSEWAY_DENDRITE_BIN")
	dir := t.TempDir()
	bin := buildBinary(t)
	port := integration.FreePort(t)
	regPath := filepath.Join(dir, "registration.yaml")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(hsURL string) {
		cfg := fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\nappservice:\n  address: 127.0.0.1:%d\n  registration: %s\n"+
			"database:\n  url: sqlite:%s\nlogging:\n  level: debug\nbridges:\n  loopback:\n    echo: true\n",
			hsURL, port, regPath, filepath.Join(dir, "causeway.db"))
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("http://127.0.0.1:1")
	if out, err := exec.Command(bin, "generate-registration", "-c", cfgPath, "-o", regPath).CombinedOutput(); err != nil {
		t.Fatalf("generate-registration: %v\n%s", err, out)
	}
	hs := integration.StartDendrite(t, integration.WithRegistration(regPath))
	writeCfg(hs.URL())
	proc := &bridgeProc{bin: bin, cfg: cfgPath, logPath: filepath.Join(dir, "causeway.log")}
	proc.start(t)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	user, err := integration.Register(ctx, hs.URL(), "kate", "password-kate")
	if err != nil {
		t.Fatal(err)
	}
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	puppet := matrix.UserID("@loop_k:localhost")
	if err := user.Invite(ctx, room, puppet); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, puppet, "join"); err != nil {
		t.Fatal(err)
	}
	const n = 120
	for i := range n {
		if _, err := user.SendText(ctx, room, fmt.Sprintf("m %03d", i)); err != nil {
			t.Fatal(err)
		}
		switch i {
		case n / 3:
			proc.kill() // mid-stream: some events stored and unprocessed, some in flight
		case 2 * n / 3:
			proc.start(t)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, fmt.Sprintf("k heard: m %03d", n-1)); err != nil {
		data, _ := os.ReadFile(proc.logPath)
		t.Fatalf("last echo never arrived: %v\nbridge log tail:\n%s", err, tail(string(data), 40))
	}
	// A last message: the room's events are handled and posted in order,
	// so a duplicate echo would be in the room before this one's.
	if _, err := user.SendText(ctx, room, "sentinel"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, "k heard: sentinel"); err != nil {
		t.Fatalf("sentinel echo never arrived: %v", err)
	}
	var got []string
	timeline, err := user.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range timeline {
		if ev.Sender == puppet && ev.Type == matrix.EventMessage {
			var mc matrix.MessageContent
			_ = json.Unmarshal(ev.Content, &mc)
			if mc.Body != "k heard: sentinel" {
				got = append(got, mc.Body)
			}
		}
	}
	if len(got) != n {
		t.Fatalf("got %d echoes for %d messages (want each exactly once): %q", len(got), n, got)
	}
	for i, body := range got {
		if want := fmt.Sprintf("k heard: m %03d", i); body != want {
			t.Fatalf("echo %d = %q, want %q (room order lost); around it: %q", i, body, want, got[max(0, i-5):min(len(got), i+5)])
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
