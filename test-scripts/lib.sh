# shellcheck shell=bash
# Helpers for the smoke tests: install Postern into a temporary directory,
# start it on a free loopback port, talk SMTP over bash's /dev/tcp, poll for
# conditions, and clean up. Source it; it needs only bash and coreutils.
#
# Variables set for the test:
#   REPO       the source tree            T       the temporary directory
#   CONF       $T/etc/postfix             PORT    the SMTP port (after t_start)
#   RCPT       the local test recipient   MBOX    $T/mail/$RCPT
#   MAILLOG    $T/maillog
# Exit status 77 means "skipped" to run-all.sh (never under CI: see skip).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${PROFILE:-debug}
SMTP_TIMEOUT=${SMTP_TIMEOUT:-30}
TEST_NAME=$(basename "$0" .sh)
T=
PORT=
TEST_OK=

log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

# fail MESSAGE: report, show the end of the maillog, stop (cleanup runs on exit).
fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	if [ -n "$T" ] && [ -f "$T/maillog" ]; then
		echo "---- last lines of $T/maillog ----" >&2
		tail -n 30 "$T/maillog" >&2 || true
		echo "----" >&2
	fi
	exit 1
}

# skip REASON: the test cannot run here (exit 77). Under CI (CI set) a missing
# prerequisite is a failure instead.
skip() {
	if [ -n "${CI:-}" ] && [ "$CI" != false ] && [ "$CI" != 0 ]; then
		printf '%s: FAIL: missing prerequisite (CI is set, so this fails instead of skipping): %s\n' \
			"$TEST_NAME" "$*" >&2
		exit 1
	fi
	printf '%s: SKIP: %s\n' "$TEST_NAME" "$*"
	exit 77
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.1 s.
wait_for() {
	local secs=$1 what=$2 tries
	shift 2
	tries=$((secs * 10))
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out after ${secs}s waiting for: $what"
		sleep 0.1
	done
}

port_open() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a loopback port nobody listens on (bounded number of tries), below Linux's
# ephemeral range (32768 and up), so that no outgoing connection holds it meanwhile.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((10000 + (RANDOM * 32768 + RANDOM + i) % 22000))
		if ! port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# t_users: choose the recipient and the mail system accounts.
t_users() {
	if [ "$(id -u)" = 0 ]; then
		RCPT=openstack
		# The mail system accounts, created when missing as .ci/run and the Rust tests do.
		local name id
		for name in postfix postdrop; do
			id=2525
			[ "$name" = postdrop ] && id=2526
			getent group "$name" >/dev/null || groupadd -g "$id" "$name" 2>/dev/null ||
				groupadd "$name" 2>/dev/null || getent group "$name" >/dev/null ||
				fail "cannot create group $name"
			getent passwd "$name" >/dev/null ||
				useradd -g "$name" -u "$id" -M -s /usr/sbin/nologin "$name" 2>/dev/null ||
				useradd -g "$name" -M -s /usr/sbin/nologin "$name" 2>/dev/null ||
				getent passwd "$name" >/dev/null || fail "cannot create user $name"
		done
		MAIL_OWNER=postfix SETGID_GROUP=postdrop
	else
		RCPT=$(id -un)
		MAIL_OWNER=$(id -un) SETGID_GROUP=$(id -gn)
	fi
}

# need_recipient: skip unless the recipient account exists (tests that deliver).
need_recipient() {
	getent passwd "$RCPT" >/dev/null ||
		skip "user $RCPT does not exist (.ci/run creates it: useradd -U -m $RCPT)"
}

# install_vars: the make variables that put everything under $T (no boot scripts: a test
# asks for them with systemd_unit_directory=/init_script_directory=, and never enables one).
install_vars() {
	printf '%s\n' "PROFILE=$PROFILE" install_root= "config_directory=$T/etc/postfix" \
		"queue_directory=$T/spool" "command_directory=$T/sbin" "daemon_directory=$T/libexec" \
		"data_directory=$T/lib" "sendmail_path=$T/sbin/sendmail" \
		"newaliases_path=$T/bin/newaliases" "mailq_path=$T/bin/mailq" \
		"manpage_directory=$T/man" "aliases_path=$T/etc/aliases" \
		"mail_owner=$MAIL_OWNER" "setgid_group=$SETGID_GROUP" \
		systemd_unit_directory= init_script_directory= enable_service=no
}

# t_make TARGET [VAR=value...]: run make TARGET with install_vars, output to
# $T/make.log (shown on failure).
t_make() {
	local target=$1 vars
	shift
	mapfile -t vars < <(install_vars)
	make -C "$REPO" --no-print-directory "$target" "${vars[@]}" "$@" >"$T/make.log" 2>&1
}

# t_setup: make the temporary directory and install into it.
t_setup() {
	[ -n "${RCPT:-}" ] || t_users
	T=$(mktemp -d "${TMPDIR:-/tmp}/postern-$TEST_NAME.XXXXXX")
	chmod 0755 "$T" # local delivery runs as the recipient and must reach $T/mail
	trap t_cleanup EXIT
	CONF=$T/etc/postfix
	MBOX=$T/mail/$RCPT
	MAILLOG=$T/maillog
	t_make install || { cat "$T/make.log" >&2; fail "make install failed"; }
	[ -f "$CONF/main.cf" ] || fail "make install left no $CONF/main.cf"
	mkdir -p "$T/mail"
	chmod 1777 "$T/mail"
	cp "$REPO/etc/aliases" "$T/etc/aliases"
	cat >>"$CONF/main.cf" <<-EOF
		# Added by test-scripts/lib.sh
		maillog_file = $T/maillog
		mail_spool_directory = $T/mail
		alias_maps = hash:$T/etc/aliases
		alias_database = hash:$T/etc/aliases
		myhostname = www.a.org
	EOF
	allow_config_dir
}

# allow_config_dir: as root, let set-gid postdrop and postqueue run by an ordinary user
# trust $CONF, as an admin would: the compiled-in default main.cf lists it in
# alternate_config_directories (Postfix's rule for set-gid programs). The default main.cf
# is put back (or removed) by t_cleanup; a lock makes test runs on this machine take turns.
allow_config_dir() {
	[ "$(id -u)" = 0 ] || return 0
	command -v flock >/dev/null || fail "flock is not installed (Debian package util-linux)"
	local def
	def=$("$T/sbin/postconf" -d -h config_directory) || fail "postconf -d config_directory failed"
	exec 8>"${TMPDIR:-/tmp}/postern-tests-default-main-cf.lock"
	flock 8
	DEF_MAIN_CF=$def/main.cf
	if [ -e "$DEF_MAIN_CF" ]; then
		cp -p "$DEF_MAIN_CF" "$T/default-main.cf.saved"
	elif [ ! -d "$def" ]; then
		mkdir -p "$def" && DEF_DIR_MADE=$def
	fi
	printf 'alternate_config_directories = %s\n' "$CONF" >"$DEF_MAIN_CF"
}

restore_default_main_cf() {
	[ -n "${DEF_MAIN_CF:-}" ] || return 0
	if [ -e "$T/default-main.cf.saved" ]; then
		cp -p "$T/default-main.cf.saved" "$DEF_MAIN_CF"
	else
		rm -f "$DEF_MAIN_CF"
		[ -z "${DEF_DIR_MADE:-}" ] || rmdir "$DEF_DIR_MADE" 2>/dev/null || true
	fi
	DEF_MAIN_CF=
	exec 8>&-
}

# t_start: listen on a free port and start the mail system (daemonized).
t_start() {
	PORT=$(free_port)
	sed -i "s/^smtp[[:space:]]\+inet[[:space:]].*/127.0.0.1:$PORT inet n - n - - smtpd/" "$CONF/master.cf"
	grep -q "^127.0.0.1:$PORT inet" "$CONF/master.cf" || fail "no smtp inet line in master.cf"
	"$T/sbin/postfix" -c "$CONF" start >"$T/start.log" 2>&1 ||
		{ cat "$T/start.log" >&2; fail "postfix start failed"; }
	wait_for 20 "SMTP port $PORT" port_open "$PORT"
}

master_pid() { cat "$T/spool/pid/master.pid" 2>/dev/null | tr -d ' \n'; }

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# t_stop: postfix stop, and wait (bounded) until the master has exited.
t_stop() {
	local pid
	pid=$(master_pid || true)
	"$T/sbin/postfix" -c "$CONF" stop >>"$T/start.log" 2>&1 || true
	if [ -n "$pid" ]; then
		wait_for 20 "master process $pid to exit" pid_gone "$pid"
	fi
}

t_cleanup() {
	local pid
	trap - EXIT
	exec 3>&-
	if [ -n "$T" ] && [ -d "$T" ]; then
		restore_default_main_cf
		pid=$(master_pid || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			timeout 20 "$T/sbin/postfix" -c "$CONF" stop >/dev/null 2>&1 || true
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			# Still there: it is our own server, by its pid.
			kill -TERM "$pid" 2>/dev/null || true
		fi
		if [ -n "${KEEP_TEST_DIR:-}" ]; then
			log "kept $T"
		else
			rm -rf "$T"
		fi
	fi
}

# ---- SMTP over /dev/tcp (fd 3) ----

smtp_open() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect to 127.0.0.1:$PORT"
	LAST_SENT="(connect)"
}

smtp_close() { exec 3>&-; }

smtp_send() {
	LAST_SENT=$1
	printf '%s\r\n' "$1" >&3
}

# smtp_reply: read one reply, all lines of a multi-line one, into REPLY_TEXT
# (lines joined with newlines, CRs removed).
smtp_reply() {
	local line
	REPLY_TEXT=
	while :; do
		IFS= read -r -t "$SMTP_TIMEOUT" -u 3 line ||
			fail "no complete reply after \"$LAST_SENT\" (got: \"$REPLY_TEXT\")"
		line=${line%$'\r'}
		REPLY_TEXT+=${REPLY_TEXT:+$'\n'}$line
		[[ $line =~ ^[0-9]{3}- ]] || break
	done
}

# expect TEXT: the next reply is exactly TEXT.
expect() {
	smtp_reply
	[ "$REPLY_TEXT" = "$1" ] ||
		fail "after \"$LAST_SENT\": expected \"$1\", got \"$REPLY_TEXT\""
}

# expect_re REGEX: the next reply matches REGEX (BASH_REMATCH is kept).
expect_re() {
	smtp_reply
	[[ $REPLY_TEXT =~ $1 ]] ||
		fail "after \"$LAST_SENT\": expected /$1/, got \"$REPLY_TEXT\""
}

# chat LINE TEXT: send LINE, expect exactly TEXT.
chat() {
	smtp_send "$1"
	expect "$2"
}

# ---- maillog and file checks ----

log_has() { grep -qF -- "$1" "$MAILLOG"; }
log_has_re() { grep -qE -- "$1" "$MAILLOG"; }

# wait_log TEXT / wait_log_re REGEX: the maillog gets such a line (10 s).
wait_log() { wait_for 10 "maillog line containing: $1" log_has "$1"; }
wait_log_re() { wait_for 10 "maillog line matching: $1" log_has_re "$1"; }

# re_quote TEXT: TEXT as an extended regex that matches it literally.
re_quote() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

# file_has_line FILE TEXT: FILE has a line exactly TEXT.
file_has_line() { grep -qxF -- "$2" "$1" || fail "$1 has no line \"$2\""; }

# as_user CMD...: run as the recipient $RCPT when the test runs as root (through runuser,
# so a set-gid program sees an ordinary user), else as ourselves.
as_user() {
	if [ "$(id -u)" = 0 ]; then
		command -v runuser >/dev/null || skip "runuser is not installed"
		runuser -u "$RCPT" -- "$@"
	else
		"$@"
	fi
}
