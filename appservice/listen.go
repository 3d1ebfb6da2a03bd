package appservice

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// UnixPrefix starts a listen address that names a Unix socket path.
const UnixPrefix = "unix:"

// Listen listens on addr: "unix:PATH" for a Unix socket, anything else is a
// TCP host:port. A socket file left behind by a process that died is
// removed first; a socket something still answers on is an error, as is a
// path that exists and is not a socket.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, UnixPrefix)
	if !ok {
		return (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	}
	if path == "" {
		return nil, errors.New("empty unix socket path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	return (&net.ListenConfig{}).Listen(ctx, "unix", path)
}
