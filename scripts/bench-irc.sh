#!/usr/bin/env bash
# bench-irc.sh measures Causeway's IRC module against real servers (Ergo and
# Dendrite from scripts/stack.sh) and replaces the "IRC" section of
# BENCHMARKS.md with the medians, the targets, the command, machine and date.
#
#   ./scripts/bench-irc.sh                       everything, 3 runs each (~10 min)
#   RUNS=1 USERS=1000 ./scripts/bench-irc.sh     a quick look
#   ONLY='Throughput|Latency' ./scripts/bench-irc.sh
#
# Measured (bench/irc, build tag benchirc): RSS per puppeted connection (bare
# floor, one channel, ten users per channel) at each of USERS; a reconnect
# storm at RATE reconnects/s after killing Ergo under the largest count;
# IRC→Matrix throughput, bridge CPU per message and order for a MSGS-message
# burst against direct PUTs in the same run; Matrix→IRC latency (end to end
# and the bridge's own part). The ircconn connection alone is measured by
# its BenchmarkConnMemory. Everything listens on 127.0.0.1 only, and every
# loop in the generators is bounded in count and time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-3}
USERS=${USERS:-1000,5000}
RATE=${RATE:-500}
MSGS=${MSGS:-2000}
ONLY=${ONLY:-Memory|Throughput|Latency}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

bash scripts/stack.sh install >&2
eval "$(bash scripts/stack.sh env)"
# 5,000 puppets + Ergo's side of them need file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

CMD="RUNS=$RUNS USERS=$USERS RATE=$RATE MSGS=$MSGS scripts/bench-irc.sh"
printf '[bench-irc] %s\n' "$CMD" >&2
BENCH_IRC_RUNS=$RUNS BENCH_IRC_USERS=$USERS BENCH_IRC_RATE=$RATE BENCH_IRC_MSGS=$MSGS BENCH_IRC_OUT=$RAW \
	timeout 20m go test -tags benchirc -count=1 -timeout 19m -v -run "^TestIRCBench($ONLY)\$" ./bench/irc/ >&2

# ircconn alone (its own fake server in a child process), same process accounting.
printf '[bench-irc] go test -run ^$ -bench ^BenchmarkConnMemory$ -count %s ./bridges/irc/ircconn\n' "$RUNS" >&2
go test -run '^$' -bench '^BenchmarkConnMemory$' -count "$RUNS" ./bridges/irc/ircconn | tee /dev/stderr |
	awk -v runs="$RUNS" '/^BenchmarkConnMemory/ {
		run++
		for (i = 3; i < NF; i += 2) {
			if ($(i+1) == "rss-B/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"rss_kib_per_conn_500\",\"value\":%f,\"run\":%d}\n", $i / 1024, run
			if ($(i+1) == "heap-B/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"heap_kib_per_conn_500\",\"value\":%f,\"run\":%d}\n", $i / 1024, run
			if ($(i+1) == "goroutines/conn") printf "{\"bench\":\"memory/ircconn-alone\",\"metric\":\"goroutines_per_conn\",\"value\":%f,\"run\":%d}\n", $i, run
		}
	}' >>"$RAW"

go run ./bench/irc/report -in "$RAW" -out "$OUT" -command "$CMD"
printf '[bench-irc] wrote the IRC section of %s\n' "$OUT" >&2
