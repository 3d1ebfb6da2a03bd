#!/usr/bin/env bash
# test.sh is Causeway's one test command (the README's, and what .ci/run runs).
# On a fresh Debian 12 machine with Go it installs what the tests need, starts
# PostgreSQL, and runs, in order:
#
#   gofmt -l            fails if any file needs formatting
#   go vet              plain and with each build tag the .go files use
#                       (//go:build integration, benchirc, ...)
#   staticcheck         the version pinned in build/staticcheck, plain and
#                       with each build tag; one merged report, so code used
#                       only under a tag is not called unused
#   unit tests          go test -race
#   integration tests   go test -race -tags integration -run Integration
#                       (each test starts its own Dendrite from CAUSEWAY_DENDRITE_BIN)
#
# Every step runs even when an earlier check failed; the summary lists them and
# the exit status is non-zero if any failed. Everything started is stopped on
# exit. CAUSEWAY_TEST_PKGS limits the packages (default ./...); extra arguments
# are passed to both go test runs (e.g. -run TestX, -v).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
read -r -a PKGS <<<"${CAUSEWAY_TEST_PKGS:-./...}"
STACK=(bash "$ROOT/scripts/stack.sh")

RESULTS=()
FAILED=0

log() { printf '\n=== %s\n' "$*" >&2; }

# step runs one named check, timing it and recording PASS/FAIL.
step() {
	local name=$1 start rc=0
	shift
	log "$name"
	start=$SECONDS
	"$@" || rc=$?
	local took=$((SECONDS - start))
	if ((rc == 0)); then
		RESULTS+=("PASS  $name (${took}s)")
	else
		RESULTS+=("FAIL  $name (${took}s, exit $rc)")
		FAILED=1
	fi
}

# STARTED lists the servers this run started, so that it stops only those (a
# stack a developer started by hand keeps running).
STARTED=()

summary() {
	local rc=$?
	if ((${#STARTED[@]})); then "${STACK[@]}" stop "${STARTED[@]}" || true; fi
	printf '\n=== summary\n' >&2
	local r
	for r in "${RESULTS[@]}"; do printf '  %s\n' "$r" >&2; done
	if ((FAILED)); then
		printf 'FAILED\n' >&2
	elif ((rc != 0)); then
		printf 'FAILED: setup (exit %d), see the log above\n' "$rc" >&2
	else
		printf 'OK\n' >&2
	fi
}

check_gofmt() {
	local files
	files=$(gofmt -l . | grep -v '^\.stack/' || true)
	if [[ -n $files ]]; then
		printf 'needs gofmt:\n%s\n' "$files" >&2
		return 1
	fi
}

# build_tags prints each single build tag a .go file requires ("//go:build
# integration"), one a line, so a new tag is vetted without editing this file.
build_tags() {
	git grep -h -oE '^//go:build [a-z][a-z0-9_]*$' -- '*.go' | cut -d' ' -f2 | sort -u
}

check_vet() {
	local tag rc=0
	go vet "${PKGS[@]}" || rc=1
	for tag in $(build_tags); do
		go vet -tags "$tag" "${PKGS[@]}" || rc=1
	done
	return "$rc"
}

# check_staticcheck runs staticcheck once plain and once per build tag and
# merges the results (staticcheck -merge): code used only under one tag is
# not reported unused, and a finding in any run fails the step.
check_staticcheck() {
	local sc=${CAUSEWAY_STACK_BIN:-$ROOT/.stack/bin}/staticcheck dir tag rc=0
	dir=$(mktemp -d)
	"$sc" -f binary "${PKGS[@]}" >"$dir/plain" || rc=$?
	for tag in $(build_tags); do
		"$sc" -f binary -tags "$tag" "${PKGS[@]}" >"$dir/$tag" || rc=$?
	done
	# Findings, compile errors included, go to the binary files and are
	# reported by -merge; an exit status above 1 means staticcheck did not run.
	if ((rc > 1)); then
		rm -rf "$dir"
		return "$rc"
	fi
	rc=0
	"$sc" -merge "$dir"/* || rc=$?
	rm -rf "$dir"
	return "$rc"
}

# require_env makes sure integration tests cannot skip in CI.
require_env() {
	local v missing=0
	for v in CAUSEWAY_TEST_POSTGRES_URL CAUSEWAY_DENDRITE_BIN CAUSEWAY_STACK_BIN \
		CAUSEWAY_ERGO_BIN CAUSEWAY_ERGO_DEFAULT_CONFIG CAUSEWAY_INSPIRCD_BIN CAUSEWAY_PROSODY_BIN \
		CAUSEWAY_EJABBERDCTL_BIN; do
		if [[ -z ${!v:-} ]]; then
			printf 'missing %s\n' "$v" >&2
			missing=1
		fi
	done
	[[ -x ${CAUSEWAY_DENDRITE_BIN:-} ]] || { printf 'CAUSEWAY_DENDRITE_BIN is not executable\n' >&2; missing=1; }
	for v in CAUSEWAY_ERGO_BIN CAUSEWAY_INSPIRCD_BIN CAUSEWAY_PROSODY_BIN CAUSEWAY_EJABBERDCTL_BIN; do
		[[ -x ${!v:-} ]] || { printf '%s is not executable\n' "$v" >&2; missing=1; }
	done
	[[ -f ${CAUSEWAY_ERGO_DEFAULT_CONFIG:-} ]] || { printf 'CAUSEWAY_ERGO_DEFAULT_CONFIG is not a file\n' >&2; missing=1; }
	((missing == 0))
}

main() {
	trap summary EXIT
	log "install (apt packages incl. InspIRCd, Prosody and ejabberd, Dendrite, Ergo and staticcheck builds)"
	"${STACK[@]}" install
	log "start PostgreSQL"
	if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then STARTED+=(postgres); fi
	"${STACK[@]}" start postgres
	eval "$("${STACK[@]}" env)"
	if [[ ${CI:-} == true ]]; then
		require_env || exit 1
	fi
	step "gofmt" check_gofmt
	step "go vet" check_vet
	step "staticcheck" check_staticcheck
	step "unit tests (-race)" go test -race "$@" "${PKGS[@]}"
	step "integration tests (-race -tags integration)" \
		go test -race -tags integration -run Integration -count=1 -timeout 30m "$@" "${PKGS[@]}"
	((FAILED == 0))
}

main "$@"
