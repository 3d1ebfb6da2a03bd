package netstate

import (
	"fmt"
	"runtime"
	"testing"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fill builds a network of users spread over channels: user i is in
// perUser consecutive channels starting at channel i % channels, with
// realistic nick, ident, host, account and realname strings.
func fill(users, channels, perUser int) *Network {
	n := New(Options{})
	_ = n.ApplyISupport("PREFIX=(qaohv)~&@%+", "CASEMAPPING=rfc1459")
	for i := range users {
		src := fmt.Sprintf("User%05d!~user%05d@user/%05d.example.org", i, i, i)
		for k := range perUser {
			ch := fmt.Sprintf("#channel-%04d", (i+k)%channels)
			n.Join(ch, src, fmt.Sprintf("acct%05d", i), fmt.Sprintf("Real Name %05d", i))
		}
		if i%10 == 0 {
			n.Mode(fmt.Sprintf("#channel-%04d", i%channels), "op", "+v", []string{fmt.Sprintf("User%05d", i)})
		}
	}
	return n
}

// benchMemory reports the heap the network state takes per membership and
// per user. The strings given to Join are counted: they are what the state
// retains (one copy per user, none per membership).
func benchMemory(b *testing.B, users, channels, perUser int) {
	var n *Network
	var used uint64
	for range b.N {
		n = nil
		before := heapInUse()
		n = fill(users, channels, perUser)
		used = heapInUse() - before
	}
	s := n.Stats()
	b.ReportMetric(float64(used)/float64(s.Memberships), "B/member")
	b.ReportMetric(float64(used)/float64(s.Users), "B/user")
	b.ReportMetric(0, "ns/op")
	runtime.KeepAlive(n)
}

// BenchmarkMemoryOneChannel: 5,000 users in one channel.
func BenchmarkMemoryOneChannel(b *testing.B) { benchMemory(b, 5000, 1, 1) }

// BenchmarkMemoryManyChannels: 5,000 users over 500 channels, each user in
// 3 of them (15,000 memberships, 30 members per channel).
func BenchmarkMemoryManyChannels(b *testing.B) { benchMemory(b, 5000, 500, 3) }

// BenchmarkMemoryOneChannelEach: 5,000 users over 500 channels, each user
// in one (10 members per channel).
func BenchmarkMemoryOneChannelEach(b *testing.B) { benchMemory(b, 5000, 500, 1) }

// BenchmarkJoinPart measures one JOIN and PART in a channel of 5,000.
func BenchmarkJoinPart(b *testing.B) {
	n := fill(5000, 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		n.Join("#channel-0000", "newcomer!u@h", "", "")
		n.Part("#channel-0000", "newcomer", "")
	}
}

// BenchmarkModeOp measures a +o/-o pair in a channel of 5,000.
func BenchmarkModeOp(b *testing.B) {
	n := fill(5000, 1, 1)
	args := []string{"User01234"}
	b.ReportAllocs()
	for b.Loop() {
		n.Mode("#channel-0000", "op", "+o", args)
		n.Mode("#channel-0000", "op", "-o", args)
	}
}

// BenchmarkNick measures a nick change of a user in 3 channels of 30.
func BenchmarkNick(b *testing.B) {
	n := fill(5000, 500, 3)
	b.ReportAllocs()
	for b.Loop() {
		n.Nick("User01234", "Renamed")
		n.Nick("Renamed", "User01234")
	}
}

// BenchmarkMember measures the Matrix-side lookup of one member.
func BenchmarkMember(b *testing.B) {
	n := fill(5000, 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		n.Member("#channel-0000", "user01234")
	}
}

// BenchmarkNames measures a full NAMES reply of 5,000 members for a
// channel whose state is already known (the reply after a reconnect).
func BenchmarkNames(b *testing.B) {
	n := fill(5000, 1, 1)
	var lines []string
	line := ""
	for i := range 5000 {
		line += fmt.Sprintf(" User%05d!~user%05d@user/%05d.example.org", i, i, i)
		if i%20 == 19 {
			lines = append(lines, line)
			line = ""
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			n.Names("#channel-0000", l)
		}
		n.EndNames("#channel-0000")
	}
}
