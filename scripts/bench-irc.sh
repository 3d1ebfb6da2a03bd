#!/usr/bin/env bash
# bench-irc.sh measures Causeway's IRC module against real servers (Ergo and
# Dendrite from scripts/stack.sh) and replaces the "IRC" section of
# BENCHMARKS.md with the medians, the targets, the command, machine and date.
#
#   ./scripts/bench-irc.sh                       everything, 3 runs each (~10 min)
#   RUNS=1 USERS=1000 ./scripts/bench-irc.sh     a quick look
#   ONLY='Throughput|Latency' ./scripts/bench-irc.sh   (other rows kept)
#
# Measured (bench/irc, build tag benchirc): RSS per puppeted connection (bare
# floor, one channel, ten users per channel) at each of USERS; a reconnect
# storm at RATE reconnects/s after killing Ergo under the largest count;
# IRC→Matrix throughput, bridge CPU per message and order for a MSGS-message
# burst against direct PUTs in the same run; bridge CPU per IRC→Matrix
# message against the floor program's (bench/floor) in the same run, with
# the appservices on TCP and on unix sockets; Matrix→IRC latency (end to
# end and the bridge's own part). The reconnect storm runs at the largest count
# on both bridge layouts (one channel: the server's n² JOIN broadcast; ten
# per channel: the reconnect scheduling alone). The ircconn connection
# alone is measured by its BenchmarkConnMemory (CONNS connections in a fresh
# child process per run). Everything listens on 127.0.0.1 only, and every
# loop in the generators is bounded in count and time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-3}
USERS=${USERS:-1000,5000}
RATE=${RATE:-500}
MSGS=${MSGS:-2000}
CONNS=${CONNS:-2000}
ALL='Memory|Throughput|Latency|Floor'
ONLY=${ONLY:-$ALL}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

bash scripts/stack.sh install >&2
eval "$(bash scripts/stack.sh env)"
# 5,000 puppets + Ergo's side of them need file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The machine is shared: the load averages before and after go in the report.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="RUNS=$RUNS USERS=$USERS RATE=$RATE MSGS=$MSGS CONNS=$CONNS scripts/bench-irc.sh"
MERGE=()
if [ "$ONLY" != "$ALL" ]; then
	# A partial run replaces only its own rows of the section.
	CMD="ONLY='$ONLY' $CMD"
	MERGE=(-merge)
fi
printf '[bench-irc] %s\n' "$CMD" >&2
BENCH_IRC_RUNS=$RUNS BENCH_IRC_USERS=$USERS BENCH_IRC_RATE=$RATE BENCH_IRC_MSGS=$MSGS BENCH_IRC_OUT=$RAW \
	timeout 120m go test -tags benchirc -count=1 -timeout 119m -v -run "^TestIRCBench($ONLY)\$" ./bench/irc/ >&2

# ircconn alone: its fake server in one child process, the connections in
# another, fresh for every run, measured after a warm-up and a GC that
# returns freed memory to the OS.
printf '[bench-irc] IRCCONN_BENCH_CONNS=%s go test -run ^$ -bench ^BenchmarkConnMemory$ -benchtime 1x -count %s ./bridges/irc/ircconn\n' "$CONNS" "$RUNS" >&2
IRCCONN_BENCH_CONNS=$CONNS go test -run '^$' -bench '^BenchmarkConnMemory$' -benchtime 1x -count "$RUNS" ./bridges/irc/ircconn | tee /dev/stderr |
	awk -v conns="$CONNS" '/^BenchmarkConnMemory/ {
		run++
		for (i = 3; i < NF; i += 2) {
			if ($(i+1) == "rss-B/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"rss_kib_per_conn_%d\",\"value\":%f,\"run\":%d}\n", conns, $i / 1024, run
			if ($(i+1) == "heap-B/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"heap_kib_per_conn_%d\",\"value\":%f,\"run\":%d}\n", conns, $i / 1024, run
			if ($(i+1) == "goroutines/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"goroutines_per_conn\",\"value\":%f,\"run\":%d}\n", $i, run
		}
	}' >>"$RAW"

go run ./bench/irc/report -in "$RAW" -out "$OUT" -command "$CMD" "${MERGE[@]}" \
	-load "$LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
printf '[bench-irc] wrote the IRC section of %s\n' "$OUT" >&2
