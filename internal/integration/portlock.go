package integration

import (
	"os"
	"path/filepath"
	"strconv"
)

// reservePort reserves port against every other FreePort, in this test
// process or another (go test runs packages in parallel): it holds an
// exclusive lock on a file named after the port in the temporary
// directory until release is called. A second open of the file conflicts
// even within one process, and the kernel drops the lock of a process
// that dies, so a crashed test leaves nothing reserved. It reports false
// when the port is reserved already.
func reservePort(port int) (release func(), ok bool) {
	dir := filepath.Join(os.TempDir(), "causeway-test-ports")
	_ = os.MkdirAll(dir, 0o777)
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if !tryLock(f) {
		_ = f.Close()
		return nil, false
	}
	return func() { _ = f.Close() }, true // closing releases the lock
}
