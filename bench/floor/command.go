package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// profile is the open CPU profile or trace file, if any.
var profile, traceFile *os.File

// command runs one stdin command other than quit.
func command(f []string, b *floor, ln *listener) (string, error) {
	arg := ""
	if len(f) > 1 {
		arg = f[1]
	}
	switch f[0] {
	case "stats":
		// Read without a lock: the parent asks only while no burst runs.
		return fmt.Sprintf("%d %d %d %d", b.seq, ln.events.Load(), b.errs, b.mx.retries.Load()), nil
	case "prof":
		fh, err := os.Create(arg)
		if err != nil {
			return "", err
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			fh.Close()
			return "", err
		}
		profile = fh
		return "", nil
	case "profstop":
		if profile == nil {
			return "", errors.New("no profile running")
		}
		pprof.StopCPUProfile()
		err := profile.Close()
		profile = nil
		return "", err
	case "trace":
		fh, err := os.Create(arg)
		if err != nil {
			return "", err
		}
		if err := trace.Start(fh); err != nil {
			fh.Close()
			return "", err
		}
		traceFile = fh
		return "", nil
	case "tracestop":
		if traceFile == nil {
			return "", errors.New("no trace running")
		}
		trace.Stop()
		err := traceFile.Close()
		traceFile = nil
		return "", err
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}
