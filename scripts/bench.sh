#!/usr/bin/env bash
# bench.sh runs Causeway's core benchmarks (store, appservice, puppet,
# outbox, IRC text conversion) and replaces their section of BENCHMARKS.md
# (between the core-bench markers) with the medians, the exact commands, the
# machine and the date. scripts/bench-irc.sh writes the IRC section.
#
#   ./scripts/bench.sh            all benchmarks, 6 runs each
#   COUNT=10 ./scripts/bench.sh   more runs
#
# It starts PostgreSQL (scripts/stack.sh) so the PostgreSQL sub-benchmarks
# run too. Medians are used because machines here are noisy; compare only
# figures measured in the same run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COUNT=${COUNT:-6}
OUT=$ROOT/BENCHMARKS.md
RAW=$(mktemp)
trap 'rm -f "$RAW"; bash scripts/stack.sh stop >/dev/null 2>&1 || true' EXIT

bash scripts/stack.sh install >&2
bash scripts/stack.sh start postgres >&2
eval "$(bash scripts/stack.sh env)"

# package:benchmark-regex pairs; each line of the table names its target.
BENCHES=(
	"./store:^Benchmark(Ingest|OutboxCompletion)$"
	"./appservice:^Benchmark(TransactionHTTP|EchoTransaction)"
	"./puppet:^Benchmark(Format|Parse)"
	"./intent:^BenchmarkOutbox"
	"./bridges/irc/ircfmt:."
)
CMDS=()
for b in "${BENCHES[@]}"; do
	pkg=${b%%:*}
	re=${b#*:}
	cmd="go test -run '^\$' -bench '$re' -benchmem -count $COUNT $pkg"
	CMDS+=("$cmd")
	printf '[bench] %s\n' "$cmd" >&2
	eval "$cmd" | tee -a "$RAW" >&2
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')

# median_table prints "| benchmark | metric | median | runs |" rows: every
# "value unit" pair of every benchmark line, median over the runs.
median_table() {
	awk '
	/^Benchmark/ {
		name=$1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i += 2) { key = name SUBSEP $(i+1); vals[key] = vals[key] " " $i; if (!(key in seen)) { seen[key]=1; order[++n]=key } }
	}
	END {
		for (k = 1; k <= n; k++) {
			key = order[k]; split(key, parts, SUBSEP)
			m = split(substr(vals[key], 2), a, " ")
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
			printf "| %s | %s | %s | %d |\n", parts[1], parts[2], med, m
		}
	}' "$RAW"
}

SECTION=$(mktemp)
{
	echo "<!-- core-bench:begin (written by scripts/bench.sh) -->"
	echo "## Core"
	echo
	echo "Written by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Medians of $COUNT runs."
	echo
	echo "Machine: $cpu, $(nproc) cores, $mem RAM, $(go version | cut -d' ' -f3-), $(uname -sr)."
	echo "PostgreSQL: $(psql --version 2>/dev/null | head -1), on the same machine."
	echo
	echo "Commands:"
	echo
	echo '```'
	printf '%s\n' "${CMDS[@]}"
	echo '```'
	echo
	echo "## Targets (issue 2)"
	echo
	echo "| target | required | measured (median) |"
	echo "|---|---|---|"
	ingest=$(median_table | awk -F' [|] ' '$1 ~ /BenchmarkIngest\/sqlite/ && $2 == "events/s" {print $3}' | head -1)
	fmt=$(median_table | awk -F' [|] ' '$1 ~ /BenchmarkFormat\/plain/ && $2 == "ns/op" {print $3}' | head -1)
	httpIngest=$(median_table | awk -F' [|] ' '$1 ~ /BenchmarkTransactionHTTPSQLite/ && $2 == "events/s" {print $3}' | head -1)
	echo "| durable transaction ingest, SQLite, 100-event transactions (store) | ≥ 20,000 events/s | ${ingest:-n/a} events/s |"
	echo "| the same through the appservice HTTP handler (PUT, decode, store, 200) | ≥ 20,000 events/s | ${httpIngest:-n/a} events/s |"
	if [[ -n ${fmt:-} ]]; then
		echo "| puppet ID formats | ≥ 2,000,000 /s | $(awk -v ns="$fmt" 'BEGIN { printf "%d", 1e9 / ns }') /s ($fmt ns/op) |"
	fi
	echo
	echo "## All results"
	echo
	echo "| benchmark | metric | median | runs |"
	echo "|---|---|---|---|"
	median_table
	echo "<!-- core-bench:end -->"
} >"$SECTION"

# Replace the section in place, or add it after the title.
if [[ ! -f $OUT ]]; then
	printf '# Benchmarks\n\n' >"$OUT"
fi
awk -v sec="$SECTION" '
	BEGIN { while ((getline l < sec) > 0) body = body l "\n" }
	/<!-- core-bench:begin/ { printf "%s", body; skip = 1; done = 1; next }
	/<!-- core-bench:end -->/ { skip = 0; next }
	!skip { print }
	/^# Benchmarks/ && !done { getline nl; print nl; printf "%s\n", body; done = 1 }
' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
rm -f "$SECTION"
printf '[bench] wrote the core section of %s\n' "$OUT" >&2
