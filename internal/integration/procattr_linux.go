package integration

import "syscall"

// childProcAttr makes a server die with the test binary, so a crashed or
// interrupted test run leaves no server behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
