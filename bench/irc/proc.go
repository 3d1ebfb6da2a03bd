package ircbench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat (100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// ProcSample is a process's resident memory and CPU time at one moment.
type ProcSample struct {
	// RSS is the resident set size in bytes (VmRSS).
	RSS int64
	// CPU is user plus system time consumed so far.
	CPU time.Duration
	// At is when the sample was taken.
	At time.Time
}

// ReadProc samples process pid from /proc.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	if s.RSS, err = parseVmRSS(status); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	s.CPU, err = parseStatCPU(stat)
	return s, err
}

// parseVmRSS returns VmRSS from /proc/<pid>/status in bytes.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q not understood", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS in status")
}

// parseStatCPU returns utime+stime from /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// FindChild returns the first process named comm among pid's children (for
// example the homeserver a measured child started), or an error.
func FindChild(pid int, comm string) (int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("tasks of %d: %w", pid, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			kid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", kid)); err == nil && strings.TrimSpace(string(name)) == comm {
				return kid, nil
			}
		}
	}
	return 0, fmt.Errorf("no child %q of %d", comm, pid)
}

// ReadIO returns the bytes process pid has read and written through
// read(2)/write(2) and their kin, sockets included (rchar and wchar of
// /proc/<pid>/io).
func ReadIO(pid int) (read, written int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read io: %w", err)
	}
	return parseIO(b)
}

// parseIO returns rchar and wchar from /proc/<pid>/io.
func parseIO(b []byte) (read, written int64, err error) {
	seen := 0
	for line := range bytes.Lines(b) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || (k != "rchar" && k != "wchar") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("io %s: %w", k, err)
		}
		if k == "rchar" {
			read = n
		} else {
			written = n
		}
		seen++
	}
	if seen != 2 {
		return 0, 0, errors.New("io: no rchar and wchar")
	}
	return read, written, nil
}

// ReadSwitches returns the context switches of every thread of process pid
// so far, voluntary (the thread blocked: a wake-up follows) and not (it was
// preempted), summed over /proc/<pid>/task/*/status. Threads that exited
// are not counted.
func ReadSwitches(pid int) (voluntary, involuntary int64, err error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("tasks of %d: %w", pid, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		v, n := parseSwitches(b)
		voluntary += v
		involuntary += n
	}
	return voluntary, involuntary, nil
}

// parseSwitches returns voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches from a /proc status file.
func parseSwitches(status []byte) (voluntary, involuntary int64) {
	for line := range bytes.Lines(status) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "voluntary_ctxt_switches":
			voluntary = n
		case "nonvoluntary_ctxt_switches":
			involuntary = n
		}
	}
	return voluntary, involuntary
}
