#!/usr/bin/env bash
# A cron job's mail, as Debian's cron sends it: the job's output on stdin of
# `sendmail -FCronDaemon -i -B8BITMIME -oem -oi -t` run as the crontab's owner (Vixie
# cron's `-odi` is tried too). Recipients come from To:, Cc: and Bcc:; every one gets a
# copy, no copy carries the Bcc: header, and the full name "CronDaemon" is in From:.
# Runs as root: the copies go to openstack (To:), tomcat (Cc:) and postfix (Bcc:), which
# the stock aliases file sends to root.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
[ "$(id -u)" = 0 ] || skip "needs root (mail for openstack, tomcat and root)"
need_recipient
CC=tomcat BCC=postfix
getent passwd "$CC" >/dev/null || skip "user $CC does not exist (.ci/run creates it)"
grep -qE '^postfix:[[:space:]]+root$' "$REPO/etc/aliases" || fail "stock aliases no longer send postfix to root"
t_setup
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
t_start
command -v runuser >/dev/null || skip "runuser is not installed"

# cron_mail ARGS...: what cron does after a job wrote output, as the crontab owner.
cron_mail() {
	local tag=$1
	shift
	printf 'From: root (Cron Daemon)\nTo: %s\nCc: %s\nBcc: %s\nSubject: Cron <%s@host> %s\nContent-Type: text/plain; charset=UTF-8\nX-Cron-Env: <SHELL=/bin/sh>\n\njob output %s\n' \
		"$RCPT" "$CC" "$BCC" "$RCPT" "$tag" "$tag" |
		runuser -u "$RCPT" -- env MAIL_CONFIG="$CONF" "$T/sbin/sendmail" "$@" 2>"$T/err.$tag" ||
		fail "sendmail $* exited $?: $(cat "$T/err.$tag")"
}

cron_mail debian -FCronDaemon -i -B8BITMIME -oem -oi -t
cron_mail vixie -FCronDaemon -odi -oem -oi -t

for who in "$RCPT" "$CC" root; do
	for tag in debian vixie; do
		wait_for 20 "\"job output $tag\" in $T/mail/$who" grep -qx "job output $tag" "$T/mail/$who"
	done
	if grep -qi '^Bcc:' "$T/mail/$who"; then fail "the copy for $who carries a Bcc: header"; fi
	# As Postfix's cleanup does for locally submitted mail (append_at_myorigin), the bare
	# name in Cc: is qualified with @$myorigin.
	grep -q "^Cc: $CC@www\.a\.org\$" "$T/mail/$who" || fail "the copy for $who lost its Cc: header"
done
uid=$(id -u "$RCPT")
# pickup logs the sender as submitted (unqualified), as Postfix's pickup does.
n=$(grep -cE "postfix/pickup\[[0-9]+\]: [0-9A-F]+: uid=$uid from=<$RCPT>" "$MAILLOG" || true)
[ "$n" = 2 ] || fail "want 2 pickup lines with uid=$uid, found $n"
for who in "$RCPT" "$CC" root; do
	n=$(grep -cE "postfix/local\[[0-9]+\]: [0-9A-F]+: to=<$who@www\.a\.org>.*status=sent" "$MAILLOG" || true)
	[ "$n" = 2 ] || fail "want 2 deliveries to $who, found $n"
done
log "ok"
