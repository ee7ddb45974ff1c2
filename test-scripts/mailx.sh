#!/usr/bin/env bash
# `echo body | mail -s subject user` through a real mailx (s-nail), as users and their
# scripts send mail: s-nail runs our sendmail (-S mta=...), which hands the message to the
# set-gid postdrop; the running system picks it up (pickup logs the submitter's uid) and
# delivers it with the Subject: and the body intact. Debian's bsd-mailx cannot be used:
# it always runs /usr/sbin/sendmail.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

MAILX=$(command -v s-nail || true)
[ -n "$MAILX" ] || skip "s-nail is not installed (Debian package s-nail; .ci/run installs it)"

t_users
need_recipient
t_setup
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
t_start


subject="mailx smoke $$"
# -:/ : no system or user resource files; HOME=$T so no dead.letter lands elsewhere.
echo "body-through-mailx" |
	as_user env HOME="$T" MAIL_CONFIG="$CONF" "$MAILX" -:/ -S mta="$T/sbin/sendmail" \
		-S sendwait -s "$subject" "$RCPT" >"$T/mailx.out" 2>&1 ||
	{ cat "$T/mailx.out" >&2; fail "s-nail failed"; }

wait_for 20 "the message in $MBOX" grep -q "^body-through-mailx$" "$MBOX"
grep -qxF "Subject: $subject" "$MBOX" || fail "no \"Subject: $subject\" in $MBOX"
uid=$(id -u "$RCPT")
# pickup logs the sender as submitted (unqualified), as Postfix's pickup does.
wait_log_re "postfix/pickup\\[[0-9]+\\]: [0-9A-F]+: uid=$uid from=<$RCPT>"
wait_log_re "postfix/local\\[[0-9]+\\]: [0-9A-F]+: to=<$RCPT@www\\.a\\.org>.* status=sent"
log "ok"
