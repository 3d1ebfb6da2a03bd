package integration

import (
	"context"
	"fmt"
	"time"
)

// IRCServer is a private IRC server process run for one test (see
// [StartErgo] and [StartInspIRCd]). It listens on one 127.0.0.1 port; its
// config, data directory and port stay the same across Stop or Kill and
// Start, so a restarted server keeps its accounts and clients can
// reconnect to the same address. Start, Stop, Kill, Pause, Resume,
// Running, PID, Dir and LogPath are those of every test server's process.
type IRCServer struct {
	proc
	addr string
}

// newIRCServer returns the server name ("ergo" or "inspircd") listening
// on addr with its config and data in dir; its command is set by the
// caller before startProc.
func newIRCServer(name, addr, dir, logPath string) *IRCServer {
	s := &IRCServer{addr: addr}
	s.proc = proc{name: name, dir: dir, logPath: logPath, readyFunc: s.waitReady}
	return s
}

// Name returns the server software's name: "ergo" or "inspircd".
func (s *IRCServer) Name() string { return s.name }

// Addr returns the client listener's address, such as "127.0.0.1:40123".
func (s *IRCServer) Addr() string { return s.addr }

// waitReady connects a client until one registers (001), the process
// exits, or procReadyTimeout passes.
func (s *IRCServer) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), procReadyTimeout)
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
			return fmt.Errorf("%s not ready at %s after %s: %w", s.name, s.addr, procReadyTimeout, last)
		case <-tick.C:
		}
	}
}
