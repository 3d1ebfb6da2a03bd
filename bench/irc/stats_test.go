package ircbench

import (
	"testing"
	"time"
)

func TestCheckOrder(t *testing.T) {
	tests := []struct {
		received []int
		sent     int
		want     Order
	}{
		0: {[]int{0, 1, 2, 3}, 4, Order{}},
		1: {[]int{1, 0, 2, 3}, 4, Order{OutOfPlace: 2, Moved: 1}},
		2: {[]int{0, 2, 3}, 4, Order{OutOfPlace: 3, Missing: 1}},
		3: {[]int{0, 1, 1, 2}, 3, Order{Duplicates: 1}},
		4: {[]int{3, 0, 1, 2}, 4, Order{OutOfPlace: 4, Moved: 1}},
		5: {nil, 2, Order{OutOfPlace: 2, Missing: 2}},
	}
	for i, tt := range tests {
		if got := CheckOrder(tt.received, tt.sent); got != tt.want {
			t.Errorf("%d: CheckOrder(%v, %d) = %+v, want %+v", i, tt.received, tt.sent, got, tt.want)
		}
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("Median odd = %v, want 3", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median even = %v, want 2.5", got)
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond // 100ms..1ms, unsorted
	}
	if got := Percentile(ds, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v, want 50ms", got)
	}
	if got := Percentile(ds, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v, want 99ms", got)
	}
	if got := Percentile(ds[:1], 99); got != 100*time.Millisecond {
		t.Errorf("p99 of one = %v, want 100ms", got)
	}
}

func TestParseProc(t *testing.T) {
	rss, err := parseVmRSS([]byte("Name:\tx\nVmHWM:\t  9 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", rss, err, 2048*1024)
	}
	// The command name holds a space and a ')': fields are counted from the last ')'.
	stat := "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", cpu, err)
	}
	self, err := ReadProc(1)
	if err != nil {
		t.Skipf("no /proc to read here: %v", err)
	}
	if self.RSS <= 0 {
		t.Errorf("RSS of pid 1 = %d, want > 0", self.RSS)
	}
}

func TestParseIO(t *testing.T) {
	io := "rchar: 1234\nwchar: 56\nsyscr: 7\nsyscw: 8\nread_bytes: 0\nwrite_bytes: 9\n"
	r, w, err := parseIO([]byte(io))
	if err != nil || r != 1234 || w != 56 {
		t.Errorf("parseIO = %d, %d, %v; want 1234, 56", r, w, err)
	}
	if _, _, err := parseIO([]byte("syscr: 7\n")); err == nil {
		t.Error("parseIO without rchar: no error")
	}
}
