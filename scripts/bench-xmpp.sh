#!/usr/bin/env bash
# bench-xmpp.sh measures Causeway's XMPP module against real servers
# (Prosody and Dendrite from scripts/stack.sh) and replaces the "XMPP"
# section of BENCHMARKS.md with the medians, the targets, the command,
# machine and date.
#
#   ./scripts/bench-xmpp.sh                          everything, 3 runs each (long: see below)
#   RUNS=1 OCCUPANTS=1000 MEMBERS=1000 ./scripts/bench-xmpp.sh    a quick look
#   ONLY='Throughput' ./scripts/bench-xmpp.sh         one measurement
#   RAW=/tmp/x.jsonl ONLY=... ./scripts/bench-xmpp.sh  keep adding to one results
#                                                     file: the section shows all of it
#
# Measured (bench/xmpp, build tag benchxmpp): XMPP→Matrix and Matrix→XMPP
# bursts of MSGS messages through a hosted room against the same messages
# sent directly (Matrix PUTs; a Prosody MUC) in the same run, with the
# bridge's CPU and the order; memory per XMPP occupant at each of
# OCCUPANTS (PER_ROOM per room, joined through a second component on the
# same Prosody); joining a Matrix room of each of MEMBERS members from
# XMPP (time, CPU, memory; the members are a second appservice's users);
# a MAM page of 50 against the homeserver's /messages for the same 50, a
# Prosody MUC's own page and a canned component's, also with Prosody's
# Nagle off.
# Joins cost Dendrite tens of ms each: 10,000 occupants or members take
# tens of minutes on a 2-core machine. Everything listens on 127.0.0.1
# only, and every loop in the generators is bounded in count and time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-3}
MSGS=${MSGS:-1000}
OCCUPANTS=${OCCUPANTS:-1000,10000}
PER_ROOM=${PER_ROOM:-100}
MEMBERS=${MEMBERS:-1000,10000}
ALL='Throughput|Occupants|BigRoom|MAM'
ONLY=${ONLY:-$ALL}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
if [ -z "${RAW:-}" ]; then
	RAW=$(mktemp)
	trap 'rm -f "$RAW"' EXIT
fi

bash scripts/stack.sh install >&2
eval "$(bash scripts/stack.sh env)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The machine is shared: the load averages before and after go in the report.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="RUNS=$RUNS MSGS=$MSGS OCCUPANTS=$OCCUPANTS PER_ROOM=$PER_ROOM MEMBERS=$MEMBERS scripts/bench-xmpp.sh"
if [ "$ONLY" != "$ALL" ]; then
	CMD="ONLY='$ONLY' $CMD"
fi
printf '[bench-xmpp] %s\n' "$CMD" >&2
BENCH_XMPP_RUNS=$RUNS BENCH_XMPP_MSGS=$MSGS BENCH_XMPP_OCCUPANTS=$OCCUPANTS BENCH_XMPP_PER_ROOM=$PER_ROOM \
	BENCH_XMPP_MEMBERS=$MEMBERS BENCH_XMPP_OUT=$RAW \
	timeout 180m go test -tags benchxmpp -count=1 -timeout 179m -v -run "^TestXMPPBench($ONLY)\$" ./bench/xmpp/ >&2
# The MAM page again with Prosody's Nagle off (bench "mam/prosody-nagle-off"):
# on loopback, Nagle and the client's delayed ACK hold most of a page.
if [[ "|$ONLY|" == *"|MAM|"* ]]; then
	BENCH_XMPP_RUNS=$RUNS BENCH_XMPP_OUT=$RAW BENCH_XMPP_PROSODY_NODELAY=1 \
		timeout 30m go test -tags benchxmpp -count=1 -timeout 29m -v -run '^TestXMPPBenchMAM$' ./bench/xmpp/ >&2
fi

go run ./bench/xmpp/report -in "$RAW" -out "$OUT" -command "$CMD" \
	-load "$LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
printf '[bench-xmpp] wrote the XMPP section of %s\n' "$OUT" >&2
