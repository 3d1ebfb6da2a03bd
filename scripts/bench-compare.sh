#!/usr/bin/env bash
# bench-compare.sh measures two revisions of Causeway's IRC module in one run,
# on the same machine and against the same real servers (Ergo and Dendrite
# from scripts/stack.sh), and prints one Markdown table comparing them:
#
#   scripts/bench-compare.sh BASE [HEAD]             RUNS=3 USERS=1000 MSGS=1000 (6-13 min, 2 cores)
#   RUNS=1 USERS=200 MSGS=1000 scripts/bench-compare.sh 3df29ee     a quick look (~3 min)
#   OUT=/tmp/cmp.md scripts/bench-compare.sh v1 HEAD                 table also written to OUT
#
# Usage: give the revision before a change as BASE and the one after as HEAD
# (default HEAD, the committed HEAD: uncommitted edits are not measured).
# Both are resolved to commits at the start and checked out, detached, into
# their own `git worktree` under a temp dir, removed again on exit; the main
# work tree is not touched. Each revision's test binary is built from its own
# bench/irc harness (build tag benchirc), so a harness change between them is
# measured as each revision has it (the table says whether they differ).
# Then RUNS rounds alternate the revisions, ABBA (BASE first in odd rounds,
# HEAD first in even ones), so load from other work on the machine and the
# drift of a long run hit both alike. One run of a revision is one test
# process: TestIRCBenchThroughput (an MSGS-message IRC→Matrix burst against
# the same messages PUT directly, the bridge child's CPU read from /proc) and
# the LAYOUT subtest of TestIRCBenchMemory (RSS per puppeted connection after
# GC at USERS connections; the harness then also runs a reconnect storm at
# RATE/s, not reported here), each with its own fresh Ergo and Dendrite.
# Figures are medians over the runs; HEAD/BASE > 1 means HEAD is higher
# (worse for CPU, memory and lines, better for the rate ratio). Knobs:
# RUNS (3), USERS (1000), MSGS (1000, half of bench-irc.sh's burst to fit
# the time: 2000 took 20 min on a busy 2-core machine; CPU per message does
# not depend on it, the rate ratio is noisier), RATE (500), LAYOUT (one-channel;
# also ten-per-channel or bare), OUT (also write the table there),
# RUN_TIMEOUT (20m per test process). A failed run is reported with its log
# kept under /tmp and the script exits 1 after printing what it has.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
fi
BASE_ARG=$1
HEAD_ARG=${2:-HEAD}
RUNS=${RUNS:-3}
USERS=${USERS:-1000}
MSGS=${MSGS:-1000}
RATE=${RATE:-500}
LAYOUT=${LAYOUT:-one-channel}
OUT=${OUT:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-20m}

log() { printf '[bench-compare] %s\n' "$*" >&2; }

# Resolve both now: others may commit to this repository while we run.
BASE_SHA=$(git rev-parse --verify --quiet "$BASE_ARG^{commit}") || { log "no such revision: $BASE_ARG"; exit 2; }
HEAD_SHA=$(git rev-parse --verify --quiet "$HEAD_ARG^{commit}") || { log "no such revision: $HEAD_ARG"; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
RUN_PID=
cleanup() {
	local wt
	if [ -n "$RUN_PID" ]; then
		kill -TERM "$RUN_PID" 2>/dev/null || true
		wait "$RUN_PID" 2>/dev/null || true
	fi
	for wt in "$TMP/base" "$TMP/head"; do
		if [ -d "$wt" ]; then
			git -C "$ROOT" worktree remove --force "$wt" >/dev/null 2>&1 || true
		fi
	done
	git -C "$ROOT" worktree prune >/dev/null 2>&1 || true
	rm -rf "$TMP" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$(date +%s)
bash scripts/stack.sh install >&2
eval "$(bash scripts/stack.sh env)"
# Puppets + Ergo's side of them need file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Worktrees and one test binary per revision, built before any measuring.
for rev in base head; do
	sha=$BASE_SHA
	[ "$rev" = head ] && sha=$HEAD_SHA
	log "worktree $rev: ${sha:0:12} $(git log -1 --format=%s "$sha" | cut -c1-70)"
	git worktree add --detach --quiet "$TMP/$rev" "$sha" >&2
	(cd "$TMP/$rev" && go test -c -tags benchirc -o "$TMP/$rev.test" ./bench/irc/) >&2
done
if git diff --quiet "$BASE_SHA" "$HEAD_SHA" -- bench/irc internal/integration; then
	HARNESS="identical in both (bench/irc, internal/integration)"
else
	HARNESS="differs between them, each revision ran its own ($(git diff --name-only "$BASE_SHA" "$HEAD_SHA" -- bench/irc internal/integration | head -n 8 | sed 's/.*/`&`/' | paste -sd, - | sed 's/,/, /g'))"
fi

FAILED=0
# summary FILE: the compared figures of one run's results, for the progress log.
summary() {
	awk -F'"' '$8 ~ /^(bridge_cpu_ms_per_msg|ratio|rss_kib_per_conn_[0-9]+)$/ {
		v = $11; sub(/^:/, "", v); sub(/,$/, "", v); printf "%s=%.4g ", $8, v
	}' "$1"
}
# measure REV RUN: one test process of REV's binary, results in $TMP/REV.RUN.jsonl.
measure() {
	local rev=$1 run=$2 raw="$TMP/$1.$2.jsonl" logf="$TMP/$1.$2.log" t0
	t0=$(date +%s)
	log "round $run: $rev (MSGS=$MSGS USERS=$USERS LAYOUT=$LAYOUT)"
	# CI=true turns a skip for a missing server into a failure. timeout puts
	# the test and its children in their own process group and signals the
	# group; it runs in the background so a signal to this script is handled
	# at once (the trap stops it) rather than after the run.
	# TMPDIR: the tests' temp dirs go under $TMP, removed even if a run is killed.
	mkdir -p "$TMP/tmp"
	(cd "$TMP/$rev/bench/irc" &&
		TMPDIR=$TMP/tmp CI=true BENCH_IRC_RUNS=1 BENCH_IRC_USERS=$USERS BENCH_IRC_MSGS=$MSGS BENCH_IRC_RATE=$RATE BENCH_IRC_OUT=$raw \
			exec timeout "$RUN_TIMEOUT" "$TMP/$rev.test" -test.count=1 -test.timeout=0 -test.v \
			-test.run "^TestIRCBench(Throughput|Memory)\$/^$LAYOUT\$") >"$logf" 2>&1 </dev/null &
	RUN_PID=$!
	local rc=0
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	if [ "$rc" = 0 ] && [ -s "$raw" ]; then
		log "round $run: $rev done in $(($(date +%s) - t0)) s: $(summary "$raw")"
	else
		FAILED=1
		local keep
		keep=$(mktemp "${TMPDIR:-/tmp}/bench-compare-$rev-$run.XXXXXX.log")
		cp "$logf" "$keep"
		log "round $run: $rev FAILED (exit $rc) after $(($(date +%s) - t0)) s; log kept in $keep:"
		if [ "$rc" = 124 ]; then log "(timed out: RUN_TIMEOUT=$RUN_TIMEOUT)"; fi
		{ grep -E -A3 -- '--- FAIL|^panic:' "$logf" || tail -n 20 "$logf"; } | tail -n 20 >&2
		rm -f "$raw"
	fi
}
for run in $(seq 1 "$RUNS"); do
	if [ $((run % 2)) -eq 1 ]; then order="base head"; else order="head base"; fi
	for rev in $order; do measure "$rev" "$run"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# values REV BENCH METRIC: the values of one metric over REV's runs, one a line.
values() {
	{ cat "$TMP/$1".*.jsonl 2>/dev/null || true; } |
		awk -v b="\"bench\":\"$2\"" -v m="\"metric\":\"$3\"" 'index($0, b) && index($0, m) {
			match($0, /"value":[-0-9.eE+]+/)
			print substr($0, RSTART + 8, RLENGTH - 8)
		}'
}
# median: of the numbers on stdin, or nothing when there are none.
median() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) exit
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.4g\n", m
	}'
}
fmt_values() { awk '{printf "%s%.4g", (NR > 1 ? ", " : ""), $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a + 0 == 0) print "—"; else printf "%.3f\n", b / a }'; }

lines() { ls "$TMP/$1"/bridges/irc/*.go | grep -v _test.go | xargs cat | wc -l; }

# row LABEL BENCH METRIC: median of BASE, of HEAD, HEAD/BASE and the values.
row() {
	local b h bv hv
	b=$(values base "$2" "$3" | median)
	h=$(values head "$2" "$3" | median)
	bv=$(values base "$2" "$3" | fmt_values)
	hv=$(values head "$2" "$3" | fmt_values)
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${b:-—}" "${h:-—}" "$(ratio "$b" "$h")" "${bv:-none}" "${hv:-none}"
}
# worst: the largest of the metrics named over both revisions' runs.
oop() {
	local w
	w=$({ values "$1" irc-to-matrix out_of_place; values "$1" irc-to-matrix missing; } | sort -g | tail -n 1)
	printf '%s' "${w:-—}"
}

MEM_LABEL="RSS per puppeted connection, $USERS users, $LAYOUT (KiB)"
LINES_B=$(lines base)
LINES_H=$(lines head)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CORES=$(nproc)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CMD="RUNS=$RUNS USERS=$USERS MSGS=$MSGS RATE=$RATE LAYOUT=$LAYOUT scripts/bench-compare.sh $BASE_ARG $HEAD_ARG"
ELAPSED=$(($(date +%s) - START))

report() {
	printf '## IRC: BASE vs HEAD\n\n'
	printf 'Written by `%s` on %s, in %d min %d s.\n\n' "$CMD" "$(date -u '+%Y-%m-%d %H:%M UTC')" $((ELAPSED / 60)) $((ELAPSED % 60))
	printf -- '- BASE: `%s` %s\n' "${BASE_SHA:0:12}" "$(git log -1 --format=%s "$BASE_SHA" | cut -c1-100)"
	printf -- '- HEAD: `%s` %s\n' "${HEAD_SHA:0:12}" "$(git log -1 --format=%s "$HEAD_SHA" | cut -c1-100)"
	printf -- '- Harness: %s.\n' "$HARNESS"
	printf -- '- Machine: %s, %s cores, %s RAM, %s, Linux %s; load averages (1, 5, 15 min): %s before, %s after.\n' \
		"$CPU" "$CORES" "$MEM" "$(go env GOVERSION)" "$(uname -r)" "$LOAD_BEFORE" "$LOAD_AFTER"
	printf -- '- Rounds: %s, ABBA order (BASE first in odd rounds); each run is a fresh test process with its own Ergo and Dendrite (SQLite); medians over the runs.\n\n' "$RUNS"
	printf '| measure | BASE | HEAD | HEAD/BASE | BASE runs | HEAD runs |\n'
	printf '|---|---|---|---|---|---|\n'
	row "bridge CPU per IRC→Matrix message (ms), lower is better" irc-to-matrix bridge_cpu_ms_per_msg
	row "IRC→Matrix rate ÷ direct PUTs, same run, higher is better" irc-to-matrix ratio
	row "$MEM_LABEL, lower is better" "memory/$LAYOUT" "rss_kib_per_conn_$USERS"
	printf '| non-test Go lines of bridges/irc | %s | %s | %s | | |\n' "$LINES_B" "$LINES_H" "$(ratio "$LINES_B" "$LINES_H")"
	printf '\nBurst of %s: most messages out of place or missing in any run: BASE %s, HEAD %s (want 0).\n' \
		"$MSGS" "$(oop base)" "$(oop head)"
	if [ "$FAILED" = 1 ]; then
		printf '\n**Some runs failed** (see the logs named on stderr); the table has the runs that passed.\n'
	fi
}
if [ -n "$OUT" ]; then
	report | tee "$OUT"
else
	report
fi
exit "$FAILED"
