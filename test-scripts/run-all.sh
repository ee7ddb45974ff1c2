#!/usr/bin/env bash
# Runs every smoke test in test-scripts/ (each *.sh but the helpers), each
# with a time limit, and ends with "N passed, N failed" on its own line.
# Exit status 77 from a test means skipped: counted apart and named at the end, except
# under CI (CI set), where every test must run and a skip counts as a failure.
set -uo pipefail
CI_STRICT=
if [ -n "${CI:-}" ] && [ "$CI" != false ] && [ "$CI" != 0 ]; then CI_STRICT=1; fi

cd "$(dirname "$0")"
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
passed=0 failed=0 skipped=0 failures=() skips=()

for t in *.sh; do
	case $t in lib.sh | run-all.sh | bench.sh) continue ;; esac
	if [ -n "${1:-}" ] && [[ $t != *"$1"* ]]; then continue; fi
	echo "== $t"
	# A test that needs longer says so in a "# test-timeout: SECONDS" line.
	limit=$(sed -n 's/^# test-timeout: \([0-9]\+\)$/\1/p' "$t" | head -n 1)
	limit=${limit:-$TEST_TIMEOUT}
	timeout -k 10 "$limit" bash "./$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "== PASS $t" ;;
	77)
		if [ -n "$CI_STRICT" ]; then
			failed=$((failed + 1)); failures+=("$t"); echo "== FAIL $t (skipped, and under CI a skip is a failure)"
		else
			skipped=$((skipped + 1)); skips+=("$t"); echo "== SKIP $t"
		fi ;;
	124) failed=$((failed + 1)); failures+=("$t"); echo "== FAIL $t (timed out after ${limit}s)" ;;
	*) failed=$((failed + 1)); failures+=("$t"); echo "== FAIL $t (exit $rc)" ;;
	esac
done

[ "$skipped" -eq 0 ] || echo "skipped (see each SKIP line for why): ${skips[*]}"
[ "$failed" -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
