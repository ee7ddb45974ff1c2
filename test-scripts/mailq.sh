#!/usr/bin/env bash
# mailq against an installed, running instance, compared line by line with Postfix's
# layout: "Mail queue is empty", then a deferred message (header, entry, reason line,
# recipient, blank line, footer), the same for an ordinary user (mailq runs the set-gid
# postqueue), "!" after postsuper -h, and empty again after postsuper -d ALL.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
need_recipient
t_setup
echo "defer_transports = local" >>"$CONF/main.cf"
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
t_start

# lines_equal FILE LINE...: FILE has exactly these lines.
lines_equal() {
	local file=$1 i=0 line
	shift
	local -a want=("$@") got=()
	mapfile -t got <"$file"
	[ "${#got[@]}" = "${#want[@]}" ] ||
		fail "$file has ${#got[@]} lines, want ${#want[@]}:$(printf '\n|%s' "${got[@]}")"
	for line in "${want[@]}"; do
		[ "${got[$i]}" = "$line" ] ||
			fail "line $((i + 1)) of mailq: got \"${got[$i]}\", want \"$line\""
		i=$((i + 1))
	done
}

"$T/bin/mailq" -C "$CONF" >"$T/q0" 2>&1 || fail "mailq failed: $(cat "$T/q0")"
lines_equal "$T/q0" "Mail queue is empty"

smtp_open
expect_re "^220 "
chat "HELO localhost" "250 www.a.org"
chat "MAIL FROM:<sender@remote.test>" "250 2.1.0 Ok"
chat "RCPT TO:<$RCPT>" "250 2.1.5 Ok"
chat "DATA" "354 End data with <CR><LF>.<CR><LF>"
smtp_send "Subject: queued"
smtp_send ""
smtp_send "held back"
smtp_send "."
expect_re "^250 2\\.0\\.0 Ok: queued as [0-9A-F]+$"
ID=${REPLY_TEXT##* }
chat "QUIT" "221 2.0.0 Bye"
smtp_close
# defer/ is hashed by default (hash_queue_names = deferred, defer; depth 1): defer/B/BA12...
wait_for 20 "deferral of $ID" test -f "$T/spool/defer/${ID:0:1}/$ID"

# The size and arrival time, from the JSON listing.
"$T/sbin/postqueue" -c "$CONF" -j >"$T/j" || fail "postqueue -j failed"
size=$(sed -n 's/.*"message_size": \([0-9]*\),.*/\1/p' "$T/j")
arrival=$(sed -n 's/.*"arrival_time": \([0-9]*\),.*/\1/p' "$T/j")
[ -n "$size" ] && [ -n "$arrival" ] || fail "postqueue -j: $(cat "$T/j")"
grep -qF "\"queue_name\": \"deferred\", \"queue_id\": \"$ID\"" "$T/j" || fail "postqueue -j: $(cat "$T/j")"
when=$(LC_ALL=C date -d "@$arrival" '+%a %b %e %H:%M:%S')
header="-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
reason="$(printf '%58s' '')(deferred transport)"
rcpt_line="$(printf '%41s' '')$RCPT@www.a.org"
footer="-- $((size / 1024)) Kbytes in 1 Request."

"$T/bin/mailq" -C "$CONF" >"$T/q1" 2>&1 || fail "mailq failed: $(cat "$T/q1")"
lines_equal "$T/q1" "$header" "$(printf '%-11s %7s %s  %s' "$ID" "$size" "$when" sender@remote.test)" \
	"$reason" "$rcpt_line" "" "$footer"
"$T/sbin/sendmail" -C "$CONF" -bp >"$T/q2" 2>&1 || fail "sendmail -bp failed"
cmp -s "$T/q1" "$T/q2" || fail "sendmail -bp differs from mailq: $(cat "$T/q2")"

if [ "$(id -u)" = 0 ]; then
	command -v runuser >/dev/null || skip "runuser is not installed (util-linux)"
	runuser -u "$RCPT" -- "$T/bin/mailq" -C "$CONF" >"$T/q3" 2>&1 ||
		fail "mailq as $RCPT failed: $(cat "$T/q3")"
	cmp -s "$T/q1" "$T/q3" || fail "mailq as $RCPT differs: $(cat "$T/q3")"
	set +e
	runuser -u "$RCPT" -- "$T/sbin/postsuper" -c "$CONF" -d ALL 2>"$T/err"
	rc=$?
	set -e
	[ "$rc" != 0 ] || fail "postsuper as $RCPT succeeded"
	grep -qx "postsuper: fatal: use of this command is reserved for the superuser" "$T/err" ||
		fail "postsuper as $RCPT: $(cat "$T/err")"
fi

"$T/sbin/postsuper" -c "$CONF" -h "$ID" 2>"$T/err" || fail "postsuper -h: $(cat "$T/err")"
grep -qx "postsuper: Placed on hold: 1 message" "$T/err" || fail "postsuper -h: $(cat "$T/err")"
"$T/bin/mailq" -C "$CONF" >"$T/q4" 2>&1 || fail "mailq failed"
lines_equal "$T/q4" "$header" "$(printf '%-11s %7s %s  %s' "$ID!" "$size" "$when" sender@remote.test)" \
	"$reason" "$rcpt_line" "" "$footer"

"$T/sbin/postsuper" -c "$CONF" -d ALL 2>"$T/err" || fail "postsuper -d ALL: $(cat "$T/err")"
grep -qx "postsuper: Deleted: 1 message" "$T/err" || fail "postsuper -d ALL: $(cat "$T/err")"
wait_log_re "postfix/postsuper\\[[0-9]+\\]: $ID: removed"
"$T/bin/mailq" -C "$CONF" >"$T/q5" 2>&1 || fail "mailq failed"
lines_equal "$T/q5" "Mail queue is empty"
log "ok"
