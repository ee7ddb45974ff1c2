#!/usr/bin/env bash
# Replays the users' walkthrough (seed parts 3-5): start, the SMTP session that
# fails with "451 4.3.0 Temporary lookup failure" while aliases.db is missing,
# the maillog warnings, newaliases, a restart, then a message delivered to the
# local mailbox with the headers and log lines Postfix 2.10 produces.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
need_recipient
t_setup
rm -f "$T/etc/aliases.db"
t_start

DATE_RE='[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}'
TAG() { printf '%s' "postfix/$1\\[[0-9]+\\]: "; }
CONF_RE=$(re_quote "$CONF")
ALIASES_RE=$(re_quote "$T/etc/aliases")

# -- part 3: start-up lines ------------------------------------------------
wait_log_re "^$DATE_RE [^ ]+ $(TAG postfix-script)starting the Postfix mail system$"
wait_log_re "^$DATE_RE [^ ]+ $(TAG master)daemon started -- version [^,]+, configuration $CONF_RE$"

# -- part 5, first session: no aliases.db yet -------------------------------
smtp_open
expect "220 www.a.org ESMTP Postfix"
chat "helo" "501 Syntax: HELO hostname"
chat "helo localhost" "250 www.a.org"
# The seed's (Postfix 2.10) keywords, then CHUNKING as Postfix 3.4+ offers it (README).
chat "ehlo localhost" "250-www.a.org
250-PIPELINING
250-SIZE 10240000
250-VRFY
250-ETRN
250-ENHANCEDSTATUSCODES
250-8BITMIME
250-DSN
250 CHUNKING"
chat "mail from: root" "250 2.1.0 Ok"
chat "mail from: obama@whitehouse.com" "503 5.5.1 Error: nested MAIL command"
chat "quit" "221 2.0.0 Bye"
smtp_close

# -- part 5, second session (HELO only, so proto=SMTP in the log) -----------
smtp_open
expect "220 www.a.org ESMTP Postfix"
chat "helo" "501 Syntax: HELO hostname"
chat "helo localhost" "250 www.a.org"
chat "mail from: root" "250 2.1.0 Ok"
chat "rcpt to: $RCPT" "451 4.3.0 <$RCPT>: Temporary lookup failure"
chat "data" "554 5.5.1 Error: no valid recipients"
chat "quit" "221 2.0.0 Bye"
smtp_close

wait_log_re "^$DATE_RE [^ ]+ $(TAG smtpd)connect from [^ ]+\\[127\\.0\\.0\\.1\\]$"
wait_log_re "$(TAG smtpd)warning: hash:$ALIASES_RE is unavailable\\. open database $ALIASES_RE\\.db: No such file or directory$"
wait_log_re "$(TAG smtpd)warning: hash:$ALIASES_RE lookup error for \"$RCPT@www\\.a\\.org\"$"
wait_log_re "$(TAG smtpd)NOQUEUE: reject: RCPT from [^ ]+\\[127\\.0\\.0\\.1\\]: 451 4\\.3\\.0 <$RCPT>: Temporary lookup failure; from=<root> to=<$RCPT> proto=SMTP helo=<localhost>$"
wait_log_re "$(TAG smtpd)disconnect from [^ ]+\\[127\\.0\\.0\\.1\\]"

# -- newaliases, then restart as the walkthrough does -----------------------
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
[ -f "$T/etc/aliases.db" ] || fail "newaliases did not create $T/etc/aliases.db"
t_stop
t_start_again() {
	"$T/sbin/postfix" -c "$CONF" start >>"$T/start.log" 2>&1 || fail "postfix start (again) failed"
	wait_for 20 "SMTP port $PORT" port_open "$PORT"
}
t_start_again

# -- part 5, second session: the message is accepted -----------------------
smtp_open
expect "220 www.a.org ESMTP Postfix"
chat "helo localhost" "250 www.a.org"
chat "mail from:obama@w.com" "250 2.1.0 Ok"
chat "mail to:$RCPT" "503 5.5.1 Error: nested MAIL command"
chat "rcpt to:$RCPT" "250 2.1.5 Ok"
chat "data" "354 End data with <CR><LF>.<CR><LF>"
smtp_send "Subject:How are you these days?"
smtp_send ""
smtp_send "Are you gua lema?"
smtp_send "."
expect_re '^250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$'
ID=${BASH_REMATCH[1]}
chat "quit" "221 2.0.0 Bye"
smtp_close
log "queued as $ID"

# -- the mailbox ------------------------------------------------------------
mbox_has_body() { grep -qxF "Are you gua lema?" "$MBOX"; }
wait_for 30 "delivery to $MBOX" mbox_has_body

head -n 1 "$MBOX" | grep -qE '^From obama@w\.com  [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$' ||
	fail "bad From_ line: $(head -n 1 "$MBOX")"
[ "$(sed -n 2p "$MBOX")" = "Return-Path: <obama@w.com>" ] || fail "line 2 is not Return-Path: $(sed -n 2p "$MBOX")"
[ "$(sed -n 3p "$MBOX")" = "X-Original-To: $RCPT" ] || fail "line 3 is not X-Original-To: $(sed -n 3p "$MBOX")"
[ "$(sed -n 4p "$MBOX")" = "Delivered-To: $RCPT@www.a.org" ] || fail "line 4 is not Delivered-To: $(sed -n 4p "$MBOX")"
HEADERS=$(sed '/^$/q' "$MBOX")
grep -qxF "Subject:How are you these days?" <<<"$HEADERS" || fail "no Subject header as sent"
grep -qE '^Date: [A-Z][a-z]{2}, [ 0-9]?[0-9] [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}' <<<"$HEADERS" ||
	fail "no RFC 2822 Date: header"
grep -qxF "From: obama@w.com" <<<"$HEADERS" || fail "no From: obama@w.com header"
grep -qE "^Message-Id: <[^>]+@www\\.a\\.org>$" <<<"$HEADERS" || fail "no Message-Id: header"
[ "$(grep -c '^From ' "$MBOX")" = 1 ] || fail "expected exactly one message in $MBOX"
[ -z "$(tail -n 1 "$MBOX")" ] || fail "mbox message does not end with an empty line"
if [ "$(id -u)" = 0 ]; then
	[ "$(stat -c %U "$MBOX")" = "$RCPT" ] || fail "$MBOX is owned by $(stat -c %U "$MBOX"), not $RCPT"
fi

# -- the maillog ------------------------------------------------------------
wait_log_re "$(TAG smtpd)$ID: client=[^ ]+\\[127\\.0\\.0\\.1\\]$"
wait_log_re "$(TAG cleanup)$ID: message-id=<[^>]+>$"
wait_log_re "$(TAG qmgr)$ID: from=<obama@w\\.com>, size=[0-9]+, nrcpt=1 \\(queue active\\)$"
wait_log_re "$(TAG local)$ID: to=<$RCPT@www\\.a\\.org>, orig_to=<$RCPT>, relay=local, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)$"
wait_log_re "$(TAG qmgr)$ID: removed$"

t_stop
log "ok"
