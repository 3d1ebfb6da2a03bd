package integration

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for the test servers' processes.
const (
	procReadyTimeout = 30 * time.Second
	procStopTimeout  = 20 * time.Second
)

// proc is a test server's process (Ergo, InspIRCd, Prosody): it runs in the
// foreground, is started again with the same config, data and ports after
// Stop or Kill, and is stopped by its PID.
type proc struct {
	name    string
	dir     string
	logPath string
	// outPath receives the process's output (default logPath).
	outPath string
	command func() *exec.Cmd
	// ready lists host:port listeners: the server is ready when each
	// accepts a TCP connection, unless readyFunc says otherwise.
	ready []string
	// readyFunc, when set, waits until the server is ready instead; it
	// gives up when exited is closed.
	readyFunc func(exited <-chan struct{}) error

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProc registers cleanup (stop, log tail on failure) and starts p.
func startProc(t testing.TB, p *proc) {
	t.Helper()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %s: %v", p.name, err)
		}
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", p.name, p.logPath, tail(p.logPath, 40))
		}
	})
	if err := p.Start(); err != nil {
		t.Fatalf("start %s: %v\nlog:\n%s", p.name, err, tail(p.logPath, 40))
	}
}

// Dir returns the server's config and data directory.
func (p *proc) Dir() string { return p.dir }

// LogPath returns the server's log file.
func (p *proc) LogPath() string { return p.logPath }

// PID returns the process ID of the running server, or 0.
func (p *proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the server process is running.
func (p *proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *proc) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Start starts the server (again) with the same config, data and ports,
// and waits until it is ready.
func (p *proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return fmt.Errorf("%s is already running", p.name)
	}
	outPath := p.outPath
	if outPath == "" {
		outPath = p.logPath
	}
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open output file: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd := p.command()
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // stopped by us, or it failed: the log says which
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	if p.readyFunc != nil {
		return p.readyFunc(exited)
	}
	return p.waitListening(exited, outPath)
}

// waitListening waits until every listener accepts a TCP connection.
func (p *proc) waitListening(exited <-chan struct{}, outPath string) error {
	deadline := time.Now().Add(procReadyTimeout)
	for _, addr := range p.ready {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("%s exited during startup (output %s)", p.name, outPath)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not listening on %s after %s: %w", p.name, addr, procReadyTimeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Stop sends SIGTERM and waits for the server to exit (SIGKILL after 20 s).
// Stopping a stopped server does nothing; a paused one is resumed first.
func (p *proc) Stop() error {
	_ = p.signalRunning(syscall.SIGCONT)
	return p.signal(syscall.SIGTERM)
}

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
func (p *proc) Kill() error { return p.signal(syscall.SIGKILL) }

// Pause stops the process with SIGSTOP: its sockets stay open but nothing
// is answered, like a hung server or a half-open connection.
func (p *proc) Pause() error { return p.signalRunning(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *proc) Resume() error { return p.signalRunning(syscall.SIGCONT) }

// signalRunning sends sig without waiting for the process to exit.
func (p *proc) signalRunning(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	return nil
}

func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(procStopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s ignored %v for %s and was killed", p.name, sig, procStopTimeout)
}
