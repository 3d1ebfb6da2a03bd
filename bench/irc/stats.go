package ircbench

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of vs (0 for none).
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by the
// nearest-rank method: the smallest value with at least p% of the samples
// at or below it.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Order describes how a sequence of message indexes 0..sent-1 came back.
type Order struct {
	// OutOfPlace counts positions whose message is not the one sent at
	// that position (lost messages shift everything after them, so they
	// count too).
	OutOfPlace int
	// Moved is the fewest messages that would have to move to restore the
	// sent order: received minus the longest increasing run of indexes.
	Moved int
	// Missing counts indexes never received; Duplicates counts repeats.
	Missing, Duplicates int
}

// CheckOrder compares received message indexes with the order 0..sent-1.
func CheckOrder(received []int, sent int) Order {
	var o Order
	seen := make(map[int]bool, len(received))
	uniq := make([]int, 0, len(received))
	for _, idx := range received {
		if seen[idx] {
			o.Duplicates++
			continue
		}
		seen[idx] = true
		uniq = append(uniq, idx)
	}
	for i := range sent {
		if !seen[i] {
			o.Missing++
		}
	}
	for pos := range sent {
		if pos >= len(uniq) || uniq[pos] != pos {
			o.OutOfPlace++
		}
	}
	o.Moved = len(uniq) - longestIncreasing(uniq)
	return o
}

// longestIncreasing is the length of the longest strictly increasing
// subsequence of xs (patience sorting).
func longestIncreasing(xs []int) int {
	var tails []int
	for _, x := range xs {
		i, _ := slices.BinarySearch(tails, x)
		if i == len(tails) {
			tails = append(tails, x)
		} else {
			tails[i] = x
		}
	}
	return len(tails)
}
