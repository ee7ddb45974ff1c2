#!/usr/bin/env bash
# Runs every smoke test in test-scripts/ (each *.sh but the helpers), each
# with a time limit, and ends with "N passed, N failed" on its own line.
# Exit status 77 from a test means skipped (counted apart, not failed).
set -uo pipefail

cd "$(dirname "$0")"
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
passed=0 failed=0 skipped=0 failures=()

for t in *.sh; do
	case $t in lib.sh | run-all.sh | bench.sh) continue ;; esac
	if [ -n "${1:-}" ] && [[ $t != *"$1"* ]]; then continue; fi
	echo "== $t"
	timeout -k 10 "$TEST_TIMEOUT" bash "./$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "== PASS $t" ;;
	77) skipped=$((skipped + 1)); echo "== SKIP $t" ;;
	124) failed=$((failed + 1)); failures+=("$t"); echo "== FAIL $t (timed out after ${TEST_TIMEOUT}s)" ;;
	*) failed=$((failed + 1)); failures+=("$t"); echo "== FAIL $t (exit $rc)" ;;
	esac
done

[ "$skipped" -eq 0 ] || echo "($skipped skipped)"
[ "$failed" -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
