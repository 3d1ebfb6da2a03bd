package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for IRC server processes.
const (
	ircReadyTimeout = 30 * time.Second
	ircStopTimeout  = 20 * time.Second
)

// IRCServer is a private IRC server process run for one test (see
// [StartErgo] and [StartInspIRCd]). It listens on one 127.0.0.1 port; its
// config, data directory and port stay the same across [IRCServer.Stop] or
// [IRCServer.Kill] and [IRCServer.Start], so a restarted server keeps its
// accounts and clients can reconnect to the same address.
type IRCServer struct {
	name    string // "ergo" or "inspircd", for messages
	addr    string
	dir     string
	logPath string
	// command returns the command line that runs the server in the foreground.
	command func() *exec.Cmd

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// startIRCServer registers cleanup (stop, log tail on failure) and starts s.
func startIRCServer(t testing.TB, s *IRCServer) {
	t.Helper()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s: %v", s.name, err)
		}
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", s.name, s.logPath, tail(s.logPath, 40))
		}
	})
	if err := s.Start(); err != nil {
		t.Fatalf("start %s: %v\nlog:\n%s", s.name, err, tail(s.logPath, 40))
	}
}

// Name returns the server software's name: "ergo" or "inspircd".
func (s *IRCServer) Name() string { return s.name }

// Addr returns the client listener's address, such as "127.0.0.1:40123".
func (s *IRCServer) Addr() string { return s.addr }

// Dir returns the server's config and data directory.
func (s *IRCServer) Dir() string { return s.dir }

// LogPath returns the file receiving the server's output.
func (s *IRCServer) LogPath() string { return s.logPath }

// PID returns the process ID of the running server, or 0.
func (s *IRCServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the server process is running.
func (s *IRCServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *IRCServer) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Start starts the server (again) with the same config, data and port, and
// waits until a client can connect and complete registration (001).
func (s *IRCServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		return fmt.Errorf("%s is already running", s.name)
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := s.command()
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // stopped by us, or it failed: the log says which
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	return s.waitReady(exited)
}

// waitReady connects a client until one registers, the process exits, or
// ircReadyTimeout passes.
func (s *IRCServer) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), ircReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		c, err := ConnectIRC(attempt, s.addr, "readyprobe", WithoutCAP())
		cancelAttempt()
		if err == nil {
			_ = c.Quit("ready")
			return nil
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("%s exited during startup (log %s)", s.name, s.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s: %w", s.name, s.addr, ircReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM and waits for the server to exit (SIGKILL after 20 s).
// Stopping a stopped server does nothing.
func (s *IRCServer) Stop() error { return s.signal(syscall.SIGTERM, ircStopTimeout) }

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
func (s *IRCServer) Kill() error { return s.signal(syscall.SIGKILL, ircStopTimeout) }

func (s *IRCServer) signal(sig syscall.Signal, timeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return nil
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(timeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("%s ignored %v for %s and was killed", s.name, sig, timeout)
}
