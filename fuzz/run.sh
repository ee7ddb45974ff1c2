#!/usr/bin/env bash
# Run the cargo-fuzz targets, each for a bounded time, and report executions per second.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 60 seconds, every target)
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, read only) plus what
# earlier runs found (fuzz/corpus/TARGET, the working corpus, not committed). Crashes,
# timeouts and out-of-memory inputs land in fuzz/artifacts/TARGET/; the script exits 1 when
# a run leaves a new one (or the fuzzer fails), 2 when the toolchain is missing.
#
# Environment:
#   FUZZ_SANITIZER=address|none   cargo fuzz --sanitizer (default address)
#   FUZZ_KEEP_GOING=1             continue after a crash (libFuzzer -fork=1
#                                 -ignore_crashes=1): every crash of the run is saved, and
#                                 exec/s is measured even while a known crash is unfixed
#   FUZZ_ARGS="..."               more libFuzzer options (e.g. -max_len=100000)
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz, which is
# installed (cargo install cargo-fuzz) when missing. CI does not run this (make test
# does not); run it by hand or with `make fuzz`.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

seconds=${1:-60}
if [ $# -gt 0 ]; then shift; fi
case $seconds in
'' | *[!0-9]*)
	echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac

all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^postern-fuzz$')
if [ $# -gt 0 ]; then
	targets=("$@")
	for t in "${targets[@]}"; do
		if ! grep -qx "$t" <<<"$all_targets"; then
			echo "fuzz/run.sh: no target $t; targets are:" $all_targets >&2
			exit 2
		fi
	done
else
	mapfile -t targets <<<"$all_targets"
fi

# Toolchain: cargo, nightly (cargo fuzz needs -Z flags), cargo-fuzz.
if ! command -v cargo >/dev/null; then
	echo "fuzz/run.sh: cargo is not installed (see https://rustup.rs)" >&2
	exit 2
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
	echo "fuzz/run.sh: the nightly Rust toolchain is missing; cargo fuzz needs it." >&2
	echo "Install it with: rustup toolchain install nightly" >&2
	exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz/run.sh: cargo-fuzz is not installed; installing it (cargo install cargo-fuzz)"
	if ! cargo install --locked cargo-fuzz; then
		echo "fuzz/run.sh: installing cargo-fuzz failed" >&2
		exit 2
	fi
fi

sanitizer=${FUZZ_SANITIZER:-address}
build=(--release --debug-assertions --sanitizer "$sanitizer")
echo "fuzz/run.sh: building ${#targets[@]} target(s) (nightly, sanitizer $sanitizer)"
for t in "${targets[@]}"; do
	cargo +nightly fuzz build "${build[@]}" "$t"
done

opts=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
if [ -n "${FUZZ_KEEP_GOING:-}" ]; then
	opts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
# shellcheck disable=SC2206 # FUZZ_ARGS is a list of options
opts+=(${FUZZ_ARGS:-})

logs=$here/logs
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
	mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
	before=$(find "artifacts/$t" -type f | wc -l)
	log=$logs/$t.log
	echo "fuzz/run.sh: $t for ${seconds}s (log in fuzz/logs/$t.log)"
	rc=0
	cargo +nightly fuzz run "${build[@]}" "$t" "corpus/$t" "seeds/$t" -- \
		-artifact_prefix="artifacts/$t/" "${opts[@]}" >"$log" 2>&1 || rc=$?
	after=$(find "artifacts/$t" -type f | wc -l)
	# Final stats (single process), else the last status line (fork mode).
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	if [ -z "$rate" ]; then
		line=$(grep -E '^#[0-9]+.*exec/s: [0-9]+' "$log" | tail -1 || true)
		execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$line")
		rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$line")
	fi
	units=$(find "corpus/$t" -type f | wc -l)
	new=$((after - before))
	if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
		status="FAILED (exit $rc, $new new artifact(s) in fuzz/artifacts/$t/)"
		failed=1
		grep -A1 -E '^(thread .* panicked|panicked at|==[0-9]+==ERROR|SUMMARY|Test unit written)' "$log" | grep -v '^--$' | head -8 | sed 's/^/    /' || true
	else
		status=ok
	fi
	summary+=("$(printf '%-16s %10s execs %8s exec/s %6s corpus  %s' "$t" "${execs:-?}" "${rate:-?}" "$units" "$status")")
done

echo
echo "fuzz/run.sh: ${seconds}s per target, sanitizer $sanitizer"
printf '%s\n' "${summary[@]}"
exit "$failed"
