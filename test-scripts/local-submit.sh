#!/usr/bin/env bash
# Local submission as an ordinary user, as cron and `mail` do it: sendmail hands the
# message to the set-gid postdrop, which writes maildrop/ and pokes public/pickup; the
# running system picks it up and delivers it. Also: sendmail -t without recipients, and
# a user writing maildrop/ directly is refused.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
need_recipient
t_setup
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
t_start


mode=$(stat -c %a "$T/spool/public/pickup")
[ "$mode" = 622 ] || fail "public/pickup has mode $mode, want 622"

printf 'To: %s\nSubject: from a user\n\nbody-from-user\n' "$RCPT" |
	as_user "$T/sbin/sendmail" -C "$CONF" -t -i || fail "sendmail as $RCPT failed"
wait_for 20 "the message in $MBOX" grep -q "body-from-user" "$MBOX"
uid=$(id -u "$RCPT")
# pickup logs the sender as submitted (unqualified), as Postfix's pickup does.
wait_log_re "postfix/pickup\\[[0-9]+\\]: [0-9A-F]+: uid=$uid from=<$RCPT>"
grep -q "^Subject: from a user$" "$MBOX" || fail "subject missing in $MBOX"

set +e
printf 'Subject: nobody\n\nno recipients\n' | as_user "$T/sbin/sendmail" -C "$CONF" -t -i 2>"$T/err"
rc=$?
set -e
[ "$rc" = 64 ] || fail "sendmail -t without recipients exited $rc, want 64 (EX_USAGE)"
grep -q "No recipient addresses found in message header" "$T/err" || fail "unclear error: $(cat "$T/err")"

if [ "$(id -u)" = 0 ]; then
	if as_user touch "$T/spool/maildrop/forged" 2>/dev/null; then
		fail "$RCPT could write maildrop/ directly"
	fi
fi
log "ok"
