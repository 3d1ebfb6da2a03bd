package store_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// crashDSNEnv passes the database to the child process of TestCrashDurability.
const crashDSNEnv = "CAUSEWAY_STORE_CRASH_CHILD_DSN"

const crashEventsPerTxn = 20

func crashTxn(i int) []store.InboxEvent {
	evs := make([]store.InboxEvent, crashEventsPerTxn)
	for j := range evs {
		evs[j] = storetest.Event(fmt.Sprintf("$c%d_%d", i, j), fmt.Sprintf("!room%d:x", j%3))
	}
	return evs
}

// TestCrashChild is the process TestCrashDurability kills. It adds
// transactions until it is killed and prints "ack N" after transaction N was
// acknowledged by the store.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashDSNEnv)
	if dsn == "" {
		t.Skip("helper process of TestCrashDurability; runs only when " + crashDSNEnv + " is set")
	}
	s, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, _, err := s.AddTransaction(t.Context(), fmt.Sprintf("txn%d", i), crashTxn(i)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", i)
	}
}

// TestCrashDurability kills (SIGKILL) a process while it ingests
// transactions, then checks that every transaction the store acknowledged
// is there, complete and in order, and that no half transaction is.
func TestCrashDurability(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDSNEnv+"="+dsn)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1
			sc := bufio.NewScanner(out)
			deadline := time.Now().Add(60 * time.Second)
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					fmt.Sscan(n, &acked)
				}
				if acked == 40 {
					if err := cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("child did not ingest 40 transactions in 60s")
				}
			}
			cmd.Wait()
			if acked < 40 {
				t.Fatalf("child stopped after %d acknowledged transactions without being killed", acked)
			}

			s := storetest.OpenDSN(t, dsn)
			pending, err := s.PendingEvents(t.Context(), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending)%crashEventsPerTxn != 0 {
				t.Errorf("%d events stored: a transaction was stored in part", len(pending))
			}
			if len(pending) < (acked+1)*crashEventsPerTxn {
				t.Fatalf("%d events stored, %d acknowledged", len(pending), (acked+1)*crashEventsPerTxn)
			}
			for i, e := range pending {
				want := fmt.Sprintf("$c%d_%d", i/crashEventsPerTxn, i%crashEventsPerTxn)
				if e.EventID != want {
					t.Fatalf("pending[%d] = %s, want %s", i, e.EventID, want)
				}
			}
			t.Logf("killed after %d acknowledged transactions; %d stored", acked+1, len(pending)/crashEventsPerTxn)
		})
	}
}
