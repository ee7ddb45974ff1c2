#!/usr/bin/env bash
# "make bench": install a release build into a temporary directory, start it on
# a free loopback port, run postern-bench for each session count and message
# size against one local mailbox, print one table, stop the instance.
# Not a smoke test (run-all.sh skips it).
#   BENCH_SESSIONS="1 10 50"  BENCH_SIZES="1024 102400"  BENCH_MESSAGES=200
# shellcheck source=test-scripts/lib.sh
PROFILE=${PROFILE:-release}
source "$(dirname "$0")/lib.sh"

BENCH_SESSIONS=${BENCH_SESSIONS:-1 10 50}
BENCH_SIZES=${BENCH_SIZES:-1024 102400}
BENCH_MESSAGES=${BENCH_MESSAGES:-200}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
BENCH=${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/postern-bench
[ -x "$BENCH" ] || fail "$BENCH not built (make bench builds it)"

t_users
need_recipient
t_setup
# The bench fills one mailbox with far more than Postfix's 50 MB default allows.
echo "mailbox_size_limit = 0" >>"$CONF/main.cf"
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
t_start
PID=$(master_pid)
log "instance in $T, port $PORT, master pid $PID, recipient $RCPT"

header=
for size in $BENCH_SIZES; do
	for s in $BENCH_SESSIONS; do
		if [ -f "$MBOX" ]; then : >"$MBOX"; fi # each run starts from an empty mailbox
		"$BENCH" --port "$PORT" --sessions "$s" --messages "$BENCH_MESSAGES" --size "$size" \
			--from bench@localhost --to "$RCPT" --mbox "$MBOX" --pid "$PID" \
			--timeout "$BENCH_TIMEOUT" ${header:+"$header"} || log "run with $s sessions, $size bytes had errors"
		header=--no-header
	done
done
t_stop
