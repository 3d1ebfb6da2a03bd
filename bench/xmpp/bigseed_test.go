//go:build benchxmpp

package xmppbench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// The big room costs Dendrite more with every member (each join makes it
// read the room's members, and the push rules of each local one), so a
// room of 10,000 takes it hours to build. The big-room bench therefore
// builds the room once, in a Dendrite of its own that knows only the
// load generator's appservice, and keeps a copy of that Dendrite's data
// (a seed, integration.WithSeed) under
// $CAUSEWAY_STACK_DIR/bench-cache/dendrite-<build>/, keyed by the
// Dendrite build (scripts/stack.sh's stamp); later runs start the
// measured stack from the copy. A seed of n members grows from the
// largest smaller one kept, through the sizes of seedSteps, each kept as
// it is reached: an interrupted build resumes where it stopped.

const (
	envSeedPar    = "BENCH_XMPP_SEED_PAR" // joins in flight while building a seed (default 16)
	bigSeedFormat = "big-v1"              // what a seed holds: change it when that changes
	bigOwner      = loadPrefix + "owner"  // the big room's creator
	bigAlias      = "big"                 // its alias, #big:localhost
)

// seedSteps are the sizes kept on the way to a larger seed.
var seedSteps = []int{1000, 2500, 5000, 7500, 10000, 15000, 20000}

// seedRoot returns the directory of the big-room seeds of this Dendrite
// build: under the stack directory, or a temporary one (not kept) when
// CAUSEWAY_STACK_DIR is not set.
func seedRoot(t *testing.T) string {
	t.Helper()
	stack := os.Getenv("CAUSEWAY_STACK_DIR")
	if stack == "" {
		t.Log("big room: CAUSEWAY_STACK_DIR is not set, so the room's Dendrite data is kept for this run only")
		return t.TempDir()
	}
	return filepath.Join(stack, "bench-cache", "dendrite-"+dendriteBuild(t), bigSeedFormat)
}

// dendriteBuild identifies the Dendrite binary: scripts/stack.sh's stamp
// next to it, or else the binary's SHA-256.
func dendriteBuild(t *testing.T) string {
	t.Helper()
	bin := integration.RequireEnv(t, integration.EnvDendriteBin)
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), ".dendrite.stamp")); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b))[:16]
	}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func seedDir(root string, n int) string { return filepath.Join(root, "members-"+strconv.Itoa(n)) }

// keptSeed returns the largest size below n whose seed is kept (0: none).
func keptSeed(root string, n int) int {
	entries, _ := os.ReadDir(root)
	best := 0
	for _, e := range entries {
		m, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "members-"))
		if err == nil && e.IsDir() && m < n && m > best {
			best = m
		}
	}
	return best
}

// bigSeed returns the seed of the big room with n members besides its
// creator, building it (from the largest smaller seed kept) when it is
// not kept yet; the building is timed and recorded.
func bigSeed(ctx context.Context, t *testing.T, n int) string {
	t.Helper()
	root := seedRoot(t)
	if dir := seedDir(root, n); isDir(dir) {
		t.Logf("big room: %d members from the kept seed %s", n, dir)
		return dir
	}
	have := keptSeed(root, n)
	var steps []int
	for _, s := range seedSteps {
		if s > have && s < n {
			steps = append(steps, s)
		}
	}
	steps = append(steps, n)
	token := randHex(t)
	opts := []integration.DendriteOption{integration.WithRegistration(writeLoadRegistration(t, loadSink(t).URL, token))}
	if have > 0 {
		opts = append(opts, integration.WithSeed(seedDir(root, have)))
		t.Logf("big room: growing the kept seed of %d members to %d", have, n)
	}
	hs := integration.StartDendrite(t, opts...)
	a := asClient{hsURL: hs.URL(), token: token, http: &http.Client{Timeout: 5 * time.Minute}}
	room := bigRoomID(ctx, t, a, have == 0)
	for _, step := range steps {
		start, cpu0 := time.Now(), dendriteCPU(t)
		growRoom(ctx, t, a, room, have, step)
		record(t, 1, "big-room/setup", fmt.Sprintf("s_%d_to_%d_members", have, step), time.Since(start).Seconds())
		record(t, 1, "big-room/setup", fmt.Sprintf("homeserver_cpu_s_%d_to_%d_members", have, step), (dendriteCPU(t) - cpu0).Seconds())
		if err := hs.Stop(); err != nil {
			t.Fatalf("big room: stop the homeserver to keep its data: %v", err)
		}
		if err := hs.SaveSeed(seedDir(root, step)); err != nil {
			t.Fatal(err)
		}
		t.Logf("big room: kept a seed of %d members in %s", step, seedDir(root, step))
		have = step
		if step != n {
			if err := hs.Start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return seedDir(root, n)
}

// bigRoomID creates the big room (public, #big:localhost) as its
// creator, or finds it in a seed.
func bigRoomID(ctx context.Context, t *testing.T, a asClient, create bool) matrix.RoomID {
	t.Helper()
	var res struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	if create {
		if err := a.register(ctx, bigOwner); err != nil {
			t.Fatal(err)
		}
		if err := a.do(ctx, http.MethodPost, "/_matrix/client/v3/createRoom", bigOwner, map[string]any{
			"preset": "public_chat", "visibility": "public", "room_alias_name": bigAlias, "topic": "big",
		}, &res); err != nil {
			t.Fatal(err)
		}
	} else if err := a.do(ctx, http.MethodGet, "/_matrix/client/v3/directory/room/"+url.PathEscape("#"+bigAlias+":localhost"), "", nil, &res); err != nil {
		t.Fatal(err)
	}
	if res.RoomID == "" {
		t.Fatal("big room: no room ID")
	}
	return res.RoomID
}

// growRoom joins the load generator's users from..to-1 to room, several
// at once, and waits until the room server and the sync API (which
// answers /members, and whose queue is in memory: what it has not taken
// when the homeserver stops is lost) both count them.
func growRoom(ctx context.Context, t *testing.T, a asClient, room matrix.RoomID, from, to int) {
	t.Helper()
	start := time.Now()
	var mu sync.Mutex
	last := start
	if err := parallel(ctx, from, to, envInt(envSeedPar, 16), func(ctx context.Context, i int) error {
		err := a.member(ctx, room, i)
		mu.Lock()
		if time.Since(last) > time.Minute {
			last = time.Now()
			t.Logf("big room: member %d of %d after %v", i, to, time.Since(start).Round(time.Second))
		}
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for {
		joined, members := bigCounts(ctx, t, a, room)
		if joined > to && members > to {
			return
		}
		if time.Since(start) > 5*time.Hour {
			t.Fatalf("big room: %d joined (%d in /members) of %d after %v", joined-1, members-1, to, time.Since(start))
		}
		time.Sleep(2 * time.Second) // polled: Dendrite has no signal for its queues
	}
}

// bigCounts returns the room's joined members as the room server
// (/joined_members) and the sync API (/members) count them.
func bigCounts(ctx context.Context, t *testing.T, a asClient, room matrix.RoomID) (joined, members int) {
	t.Helper()
	var j struct {
		Joined map[string]any `json:"joined"`
	}
	if err := a.do(ctx, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/joined_members", bigOwner, nil, &j); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Chunk []struct{} `json:"chunk"`
	}
	if err := a.do(ctx, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/members?membership=join", bigOwner, nil, &m); err != nil {
		t.Fatal(err)
	}
	return len(j.Joined), len(m.Chunk)
}

// dendriteCPU is the CPU time so far of this process's Dendrite child
// (the one building a seed), 0 when there is none.
func dendriteCPU(t *testing.T) time.Duration {
	pid, err := ircbench.FindChild(os.Getpid(), "dendrite")
	if err != nil {
		return 0
	}
	s, err := ircbench.ReadProc(pid)
	if err != nil {
		return 0
	}
	return s.CPU
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
