#!/usr/bin/env bash
# profile-split.sh PROFILE MSGS: CPU per message (µs) of a CPU profile under the
# functions that make up an IRC→Matrix message in the bridge and in bench/floor
# (cumulative time, so the rows overlap). bench/irc's TestIRCBenchFloor writes
# the profiles with BENCH_IRC_FLOOR_PROFILE=dir, one per burst and process.
set -euo pipefail
f=$1; n=$2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go tool pprof -top -cum -nodecount=3000 "$f" 2>/dev/null >"$tmp"
total=$(awk '/^Duration/ {for(i=1;i<=NF;i++) if($i=="samples") {v=$(i+2); if (v ~ /ms$/) {sub(/ms$/,"",v); v=v/1000} else sub(/s$/,"",v); print v}}' "$tmp")
echo "total $(awk -v t=$total -v n=$n 'BEGIN{printf "%.0f", t*1e6/n}') µs/msg (samples $total s)"
while read -r label names; do
  awk -v t=$total -v n=$n -v names="$names" -v label="$label" 'BEGIN{k=split(names,a,"|"); for(i=1;i<=k;i++) want[a[i]]=1}
    NR>6 { name=$6; for(i=7;i<=NF;i++) name=name" "$i; if (name in want) { v=$4; if (v ~ /ms$/) {sub(/ms$/,"",v); v=v/1000} else sub(/s$/,"",v); s+=v } }
    END { if (s>0) printf "  %-28s %6.0f µs/msg %5.1f%%\n", label, s*1e6/n, 100*s/t }' "$tmp"
done <<'L'
sqlite-step modernc.org/sqlite.(*conn).step
sql-begin+commit database/sql.(*DB).BeginTx|database/sql.(*Tx).Commit|database/sql.(*DB).Begin
store.Enqueue github.com/causewaybridge/causeway/store.(*Store).Enqueue
store.Complete github.com/causewaybridge/causeway/store.(*Store).CompleteOutboxBatch
floor.commit main.(*store).commit
http-client-readLoop net/http.(*persistConn).readLoop
http-client-writeLoop net/http.(*persistConn).writeLoop
http-client-Do net/http.(*Client).Do
http-server-conn.serve net/http.(*conn).serve
http-server-accept net/http.(*Server).Serve
http-server-backgroundRead net/http.(*connReader).backgroundRead
appservice.serve github.com/causewaybridge/causeway/appservice.(*Server).serve
floor.ServeHTTP main.(*listener).ServeHTTP
outbox.deliver github.com/causewaybridge/causeway/intent.(*Outbox).deliver
floor.send main.(*sender).send
outbox.completeLoop github.com/causewaybridge/causeway/intent.(*Outbox).completeLoop
irc.runIngest github.com/causewaybridge/causeway/bridges/irc.(*network).runIngest
irc.readAhead github.com/causewaybridge/causeway/bridges/irc/ircconn.(*readAhead).fill
floor.irc main.(*ircConn).each
bot-sync github.com/causewaybridge/causeway/intent.(*EphemeralSyncer).Run
sqlite-watchers modernc.org/sqlite.interruptOnDone.func1|database/sql.(*Rows).awaitDone|database/sql.(*Tx).awaitDone
runtime.schedule runtime.schedule
runtime.findRunnable runtime.findRunnable
gc-worker runtime.gcBgMarkWorker
mallocgc runtime.mallocgc
sysmon runtime.sysmon
syscall6 internal/runtime/syscall/linux.Syscall6
futex runtime.futex
L
