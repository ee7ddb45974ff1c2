#!/usr/bin/env bash
# "make bench": install a release build into a temporary directory, start it on
# a free loopback port, run postern-bench for each session count and message
# size four times, in the order mbox, virtual, virtual, mbox: to one local
# mailbox (target "mbox": local(8), an mbox file) and to one virtual mailbox
# (target "virtual": MySQL lookups at RCPT and at delivery, virtual(8) into a
# maildir); the two targets are compared by the mean of their two runs (without
# a database, mbox runs twice). Print one table, stop the instance.
# Then, per size and session count, two connect-per-message rows against the
# same instance: "plain-conn" (greeting, EHLO, MAIL/RCPT/DATA, QUIT per message)
# and "submission" (the same with STARTTLS and AUTH PLAIN: a test certificate
# from openssl req, smtpd_tls_security_level = may, smtpd_sasl_auth_enable =
# yes through a private smtpd.conf and a saslauthd this script starts, with a
# bench account whose password chpasswd sets). Their last column, sessions/s,
# equals messages/s. The submission row needs root, saslauthd and openssl;
# otherwise it is skipped with a note. saslauthd is stopped and the account
# removed (or its password locked, when it existed before) on exit.
# BENCH_CONNECT=message (make bench BENCH_CONNECT=message): the mbox and virtual rows open
# one connection per message (greeting, EHLO, one message, QUIT), as Postfix's smtp-source
# without -N does and as inbound mail arrives, instead of one connection per session; then
# each size and session count also gets a "discard" row (a remote recipient, with
# default_transport = discard: its delivered/s is measured until the queue is empty), and,
# when a Postfix answers on 127.0.0.1:$BENCH_POSTFIX_PORT (default 25; BENCH_POSTFIX=no
# skips this) and we are root, a "postfix" row against it with the same load into
# /var/mail/$RCPT (which keeps the messages), so both figures come from one run.
# BENCH_IDLE=N (make bench BENCH_IDLE=5000): at the end, the instance is restarted with
# smtpd's maxproc raised to N + 20 and postern-bench --idle holds N greeted, silent sessions:
# one row with the total resident memory of the mail system (the master and every process
# under it) before and with them, and a new client's greeting time meanwhile (BENCH_SESSIONS=
# and BENCH_SIZES= empty skip the message rows).
# BENCH_DIR (default /var/tmp/postern-bench): where the instance lives, a directory marked
# with ext4's "top of directory hierarchy" attribute (chattr +T) where the filesystem allows,
# so that each instance's directory is placed in a block group of its own rather than beside
# /tmp's. Why: ext4 without a journal (this project's test machines) does not reuse an inode
# freed in the last 60 to 300 s, and a new file's inode is sought from its directory's block
# group on; where many files were just deleted (/tmp after a test run) each creation steps
# over thousands of them: 2,000 file creations took 8 to 10 s of which 2.4 s system time in a
# directory under /tmp, against 0.23 to 0.27 s in a fresh one (3 December 2026). That cost
# falls on every queue file, and twice on a maildir delivery (queue file and maildir file),
# so a bench under /tmp measured the filesystem's history, not the mail system. For the same
# reason the maildir is not emptied between rows (the counts are of new arrivals).
# Not a smoke test (run-all.sh skips it).
#   BENCH_SESSIONS="1 10 50"  BENCH_SIZES="1024 102400"  BENCH_MESSAGES=200
#   BENCH_CONNECT=session|message  BENCH_POSTFIX=auto|no  BENCH_POSTFIX_PORT=25
#   BENCH_MYSQL_HOST=127.0.0.1  BENCH_MYSQL_PORT=3306  (user root, empty password)
# The virtual rows use a database of their own on that MariaDB/MySQL server,
# loaded from etc/extmail-schema.sql and dropped at the end; without a reachable
# server (or the mysql client) they are skipped with a note.
# shellcheck source=test-scripts/lib.sh
PROFILE=${PROFILE:-release}
source "$(dirname "$0")/lib.sh"

BENCH_SESSIONS=${BENCH_SESSIONS-1 10 50}
BENCH_SIZES=${BENCH_SIZES-1024 102400}
BENCH_MESSAGES=${BENCH_MESSAGES:-200}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
BENCH_CONNECT=${BENCH_CONNECT:-session}
BENCH_IDLE=${BENCH_IDLE:-}
BENCH_POSTFIX=${BENCH_POSTFIX:-auto}
BENCH_POSTFIX_PORT=${BENCH_POSTFIX_PORT:-25}
case $BENCH_CONNECT in
session) CONNECT_OPTS=() ;;
message) CONNECT_OPTS=(--connect-per-message) ;;
*) fail "BENCH_CONNECT=$BENCH_CONNECT: session or message" ;;
esac
BENCH_MYSQL_HOST=${BENCH_MYSQL_HOST:-127.0.0.1}
BENCH_MYSQL_PORT=${BENCH_MYSQL_PORT:-3306}
BENCH=${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/postern-bench
[ -x "$BENCH" ] || fail "$BENCH not built (make bench builds it)"

BENCH_DIR=${BENCH_DIR:-/var/tmp/postern-bench}

# The virtual recipient: a user of etc/extmail-schema.sql, and its maildir
# (relative to virtual_mailbox_base) as the schema's mailbox table has it.
VRCPT=alice@example.com
VMAILDIR_REL=example.com/alice/Maildir
DB=
VIRTUAL=
SUBMISSION=
SASL_USER=postern-bench
SASL_PASS=
SASL_CREATED=
SASL_DIR=

sql() {
	mysql --no-defaults --protocol=TCP --connect-timeout=5 -h "$BENCH_MYSQL_HOST" \
		-P "$BENCH_MYSQL_PORT" -u root "$@"
}

bench_cleanup() {
	if [ -n "$SASL_DIR" ]; then
		if [ -f "$SASL_DIR/saslauthd.pid" ]; then
			kill "$(cat "$SASL_DIR/saslauthd.pid")" 2>/dev/null || true
		fi
		rm -rf "$SASL_DIR"
		SASL_DIR=
	fi
	if [ -n "$SASL_CREATED" ]; then
		userdel "$SASL_USER" >/dev/null 2>&1 || log "note: could not remove account $SASL_USER"
		SASL_CREATED=
	elif [ -n "$SASL_PASS" ]; then
		usermod -p '!' "$SASL_USER" >/dev/null 2>&1 || true
	fi
	SASL_PASS=
	if [ -n "$DB" ]; then
		sql -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 ||
			log "note: could not drop database $DB on $BENCH_MYSQL_HOST:$BENCH_MYSQL_PORT"
		DB=
	fi
	t_cleanup
}

# install_cf NAME: the shipped etc/NAME in $CONF, its connection settings
# pointed at the bench database, root-only as a file with a password is kept.
install_cf() {
	local out=$CONF/$1
	{
		printf 'hosts = inet:%s:%s\nuser = root\npassword =\ndbname = %s\n' \
			"$BENCH_MYSQL_HOST" "$BENCH_MYSQL_PORT" "$DB"
		grep -vE '^(hosts|user|password|dbname)[[:space:]]*=' "$REPO/etc/$1"
	} >"$out"
	chmod 0600 "$out"
	echo "mysql:$out"
}

# setup_virtual: the database, the mysql tables and virtual(8) settings; sets
# VIRTUAL=yes, or leaves it empty with a note when there is no database server.
setup_virtual() {
	if ! command -v mysql >/dev/null; then
		log "note: no mysql client: the virtual rows are skipped (Debian package mariadb-client)"
		return 0
	fi
	if ! sql -e "SELECT 1" >"$T/mysql.log" 2>&1; then
		log "note: no MariaDB/MySQL at $BENCH_MYSQL_HOST:$BENCH_MYSQL_PORT (root, empty password):" \
			"the virtual rows are skipped ($(head -n 1 "$T/mysql.log"))"
		return 0
	fi
	DB=postern_bench$$
	sql -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB" >"$T/mysql.log" 2>&1 ||
		{ cat "$T/mysql.log" >&2; fail "cannot create database $DB"; }
	sql "$DB" <"$REPO/etc/extmail-schema.sql" >"$T/mysql.log" 2>&1 ||
		{ cat "$T/mysql.log" >&2; fail "cannot load etc/extmail-schema.sql into $DB"; }

	local domains mailboxes aliases uid gid
	domains=$(install_cf mysql_virtual_domains_maps.cf)
	mailboxes=$(install_cf mysql_virtual_mailbox_maps.cf)
	aliases=$(install_cf mysql_virtual_alias_maps.cf)
	# As root the instance delivers through its privileged helper as the
	# recipient account (never root); otherwise as ourselves, with our ids.
	if [ "$(id -u)" = 0 ]; then
		uid=$(id -u "$RCPT") gid=$(id -g "$RCPT")
	else
		uid=$(id -u) gid=$(id -g)
	fi
	VBASE=$T/vmail
	VMAILDIR=$VBASE/$VMAILDIR_REL
	mkdir -p "$VBASE"
	chmod 0700 "$VBASE"
	if [ "$(id -u)" = 0 ]; then chown "$uid:$gid" "$VBASE"; fi
	cat >>"$CONF/main.cf" <<-EOF
		# Added by test-scripts/bench.sh: the virtual rows
		virtual_mailbox_domains = $domains
		virtual_mailbox_maps = $mailboxes
		virtual_alias_maps = $aliases
		virtual_mailbox_base = $VBASE
		virtual_uid_maps = static:$uid
		virtual_gid_maps = static:$gid
		virtual_mailbox_limit = 0
	EOF
	grep -qE '^virtual[[:space:]]+unix[[:space:]]' "$CONF/master.cf" ||
		echo "virtual unix - n n - - virtual" >>"$CONF/master.cf"
	VIRTUAL=yes
}

# setup_submission: certificate, saslauthd, smtpd.conf and the main.cf
# settings for the submission rows; sets SUBMISSION=yes or leaves a note.
setup_submission() {
	if [ "$(id -u)" != 0 ]; then
		log "note: not root: the submission rows are skipped (saslauthd -a shadow needs root)"
		return 0
	fi
	local tool
	for tool in saslauthd openssl chpasswd useradd; do
		if ! command -v "$tool" >/dev/null; then
			log "note: no $tool: the submission rows are skipped (Debian packages sasl2-bin, openssl, passwd)"
			return 0
		fi
	done
	SASL_DIR=$(mktemp -d /tmp/postern-bench-sasl.XXXXXX)
	chmod 0755 "$SASL_DIR"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-keyout "$SASL_DIR/key.pem" -out "$SASL_DIR/cert.pem" >"$SASL_DIR/openssl.log" 2>&1 ||
		{ cat "$SASL_DIR/openssl.log" >&2; fail "openssl req failed"; }
	chmod 0644 "$SASL_DIR/key.pem" # a throw-away test key, readable by smtpd
	if ! id "$SASL_USER" >/dev/null 2>&1; then
		useradd -M -s /usr/sbin/nologin "$SASL_USER" || fail "useradd $SASL_USER"
		SASL_CREATED=yes
	fi
	SASL_PASS=bench-$$-$RANDOM$RANDOM
	printf '%s:%s\n' "$SASL_USER" "$SASL_PASS" | chpasswd || fail "chpasswd $SASL_USER"
	# -n 5: Debian's default (THREADS=5 in /etc/default/saslauthd). With -n 1 every
	# password check waits for the previous one (README: "Where AUTH's time goes").
	saslauthd -a shadow -m "$SASL_DIR" -n 5 || fail "saslauthd did not start"
	local i
	for i in $(seq 50); do
		[ -S "$SASL_DIR/mux" ] && [ -s "$SASL_DIR/saslauthd.pid" ] && break
		sleep 0.1
	done
	[ -S "$SASL_DIR/mux" ] || fail "saslauthd: no socket $SASL_DIR/mux"
	printf 'pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\nsaslauthd_path: %s/mux\n' \
		"$SASL_DIR" >"$SASL_DIR/smtpd.conf"
	cat >>"$CONF/main.cf" <<-EOF
		# Added by test-scripts/bench.sh: the submission rows
		smtpd_tls_security_level = may
		smtpd_tls_cert_file = $SASL_DIR/cert.pem
		smtpd_tls_key_file = $SASL_DIR/key.pem
		smtpd_sasl_auth_enable = yes
		cyrus_sasl_config_path = $SASL_DIR
	EOF
	SUBMISSION=yes
}

# mbox_row SESSIONS SIZE, virtual_row SESSIONS SIZE: one run to the local mailbox (emptied
# first) or the virtual maildir (kept: see BENCH_DIR above; postern-bench counts the files
# that arrive during the run).
mbox_row() {
	if [ -f "$MBOX" ]; then : >"$MBOX"; fi
	run_row mbox "${CONNECT_OPTS[@]}" --sessions "$1" --size "$2" --to "$RCPT" --mbox "$MBOX"
}
virtual_row() {
	run_row virtual "${CONNECT_OPTS[@]}" --sessions "$1" --size "$2" --to "$VRCPT" \
		--maildir "$VMAILDIR"
}
# discard_row SESSIONS SIZE: to a remote domain (default_transport = discard), until the
# spool is empty again.
discard_row() {
	run_row discard "${CONNECT_OPTS[@]}" --sessions "$1" --size "$2" \
		--to bench@remote.example --drain "$T/spool"
}
# postfix_row SESSIONS SIZE: the mbox load against the Postfix found by find_postfix.
postfix_row() {
	ROW_PORT=$BENCH_POSTFIX_PORT ROW_PID='' run_row postfix "${CONNECT_OPTS[@]}" \
		--sessions "$1" --size "$2" --to "$RCPT@localhost" --mbox "/var/mail/$RCPT"
}

# find_postfix: sets POSTFIX=yes when a Postfix greets on 127.0.0.1:$BENCH_POSTFIX_PORT (in
# message mode, as root: its mailbox /var/mail/$RCPT is read to count deliveries).
POSTFIX=
find_postfix() {
	[ "$BENCH_CONNECT" = message ] && [ "$BENCH_POSTFIX" != no ] || return 0
	local greeting=
	if [ "$(id -u)" != 0 ]; then
		log "note: not root: no postfix rows (they read /var/mail/$RCPT)"
		return 0
	fi
	greeting=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -n 1 <&3 &&
		printf "QUIT\r\n" >&3' _ "$BENCH_POSTFIX_PORT" 2>/dev/null) || true
	case $greeting in
	220*Postfix*)
		POSTFIX=yes
		log "a Postfix answers on 127.0.0.1:$BENCH_POSTFIX_PORT: postfix rows (into /var/mail/$RCPT)"
		;;
	*) log "note: no Postfix on 127.0.0.1:$BENCH_POSTFIX_PORT: no postfix rows" ;;
	esac
}

# run_row TARGET ARGS...: one postern-bench run, its output with a first column
# naming the target; its delivered/s in LAST_DELIVERED.
HEADER=yes
run_row() {
	local target=$1 out opts=()
	shift
	[ -n "$HEADER" ] || opts+=(--no-header)
	[ -z "${ROW_PID-$PID}" ] || opts+=(--pid "${ROW_PID-$PID}")
	out=$("$BENCH" --port "${ROW_PORT:-$PORT}" --messages "$BENCH_MESSAGES" \
		--from bench@localhost --timeout "$BENCH_TIMEOUT" "${opts[@]}" "$@") ||
		log "$target run ($*) had errors"
	HEADER=
	[ -n "$out" ] || { LAST_DELIVERED=- LAST_ROW=-; return 0; }
	printf '%s\n' "$out" | awk -v t="$target" \
		'$1 == "sessions" { printf "%-10s %s\n", "target", $0; next } { printf "%-10s %s\n", t, $0 }'
	LAST_ROW=$(printf '%s\n' "$out" | awk '$1 != "sessions"' | tail -n 1)
	LAST_DELIVERED=$(printf '%s\n' "$LAST_ROW" | awk '{ print $7 }')
}

t_users
need_recipient
# bench_dir: BENCH_DIR made (mode 1777, as /var/tmp) and marked +T; the instance goes there.
bench_dir() {
	if ! mkdir -p "$BENCH_DIR" 2>/dev/null || [ ! -w "$BENCH_DIR" ]; then
		log "note: cannot write $BENCH_DIR: the instance goes under ${TMPDIR:-/tmp}"
		return 0
	fi
	chmod 1777 "$BENCH_DIR" 2>/dev/null || true
	chattr +T "$BENCH_DIR" 2>/dev/null ||
		log "note: chattr +T $BENCH_DIR failed (not ext4, or no chattr): file creations may be slowed by earlier deletions nearby"
	TMPDIR=$BENCH_DIR
}
bench_dir
t_setup
trap bench_cleanup EXIT
# The bench fills one mailbox with far more than Postfix's 50 MB default allows.
echo "mailbox_size_limit = 0" >>"$CONF/main.cf"
# The discard rows' remote recipients (mail to local and virtual domains is unaffected).
echo "default_transport = discard" >>"$CONF/main.cf"
setup_virtual
setup_submission
MAIL_CONFIG=$CONF "$T/bin/newaliases" >"$T/newaliases.log" 2>&1 ||
	{ cat "$T/newaliases.log" >&2; fail "newaliases failed"; }
find_postfix
t_start
PID=$(master_pid)
log "instance in $T, port $PORT, master pid $PID, recipient $RCPT${VIRTUAL:+ (mbox) and $VRCPT (virtual, database $DB)}"

SUMMARY=()
# bench_pair SESSIONS SIZE: the mbox rows (and virtual rows, with a database), adding to
# SUMMARY.
bench_pair() {
	local s=$1 size=$2 m1 m2 v1 v2
	if [ -z "$VIRTUAL" ]; then
		mbox_row "$s" "$size"
		mbox_row "$s" "$size"
		return 0
	fi
	# Balanced order (mbox, virtual, virtual, mbox): on this kind of disk the run
	# that comes second in a pair is slowed by the first one's deleted files (see
	# README, "Benchmark"), so each target gets one early and one late run and is
	# compared by the mean of its two.
	mbox_row "$s" "$size"
	m1=$LAST_DELIVERED
	virtual_row "$s" "$size"
	v1=$LAST_DELIVERED
	virtual_row "$s" "$size"
	v2=$LAST_DELIVERED
	mbox_row "$s" "$size"
	m2=$LAST_DELIVERED
	SUMMARY+=("$(awk -v s="$s" -v z="$size" -v v1="$v1" -v v2="$v2" -v m1="$m1" -v m2="$m2" 'BEGIN {
		n = "^[0-9.]+$"
		if (v1 !~ n || v2 !~ n || m1 !~ n || m2 !~ n) { v = "-"; m = "-"; verdict = "not measured" }
		else { v = (v1 + v2) / 2; m = (m1 + m2) / 2;
			verdict = (v >= m) ? "virtual >= mbox" : "virtual < mbox" }
		printf "%4s sessions, %7s bytes: delivered/s virtual %s (%s, %s), mbox %s (%s, %s): %s",
			s, z, v, v1, v2, m, m1, m2, verdict }')")
}

for size in $BENCH_SIZES; do
	for s in $BENCH_SESSIONS; do
		# Postfix first and last (the balanced order, as below), then the discard row.
		[ -z "$POSTFIX" ] || postfix_row "$s" "$size"
		bench_pair "$s" "$size"
		[ -z "$POSTFIX" ] || postfix_row "$s" "$size"
		[ "$BENCH_CONNECT" != message ] || discard_row "$s" "$size"
	done
done
CONN_SUMMARY=()
for size in $BENCH_SIZES; do
	for s in $BENCH_SESSIONS; do
		if [ -f "$MBOX" ]; then : >"$MBOX"; fi
		run_row plain-conn --connect-per-message --sessions "$s" --size "$size" --to "$RCPT"
		plain=$(printf '%s\n' "$LAST_ROW" | awk '{ print $NF }')
		[ -n "$SUBMISSION" ] || continue
		run_row submission --connect-per-message --starttls --auth "$SASL_USER:$SASL_PASS" \
			--sessions "$s" --size "$size" --to "$RCPT"
		sub=$(printf '%s\n' "$LAST_ROW" | awk '{ print $NF }')
		CONN_SUMMARY+=("$(printf '%4s sessions, %7s bytes: sessions/s submission %s, plain-conn %s' \
			"$s" "$size" "$sub" "$plain")")
	done
done
if [ -f "$MBOX" ]; then : >"$MBOX"; fi
t_stop
if [ -n "$BENCH_IDLE" ]; then
	sed -i "s/^\(127\.0\.0\.1:$PORT[[:space:]]\+inet[[:space:]]\+n[[:space:]]\+-[[:space:]]\+n[[:space:]]\+-\)[[:space:]]\+[^[:space:]]\+[[:space:]]\+smtpd/\1 $((BENCH_IDLE + 20)) smtpd/" \
		"$CONF/master.cf"
	grep -q "inet n - n - $((BENCH_IDLE + 20)) smtpd" "$CONF/master.cf" ||
		fail "could not raise smtpd's maxproc in $CONF/master.cf"
	"$T/sbin/postfix" -c "$CONF" start >>"$T/start.log" 2>&1 ||
		{ cat "$T/start.log" >&2; fail "postfix start failed"; }
	wait_for 20 "SMTP port $PORT" port_open "$PORT"
	log "$BENCH_IDLE idle sessions (smtpd maxproc $((BENCH_IDLE + 20))):"
	"$BENCH" --port "$PORT" --pid "$(master_pid)" --timeout "$BENCH_TIMEOUT" --idle "$BENCH_IDLE" ||
		log "the idle run had errors"
	t_stop
fi
if [ -n "$SUBMISSION" ]; then
	log "submission (STARTTLS + AUTH PLAIN, a connection per message) against plain-conn:"
	printf '  %s\n' "${CONN_SUMMARY[@]}"
else
	log "note: the submission rows were skipped (see above)"
fi
if [ -n "$VIRTUAL" ]; then
	log "virtual (MySQL at RCPT and delivery, maildir) against mbox (local), mean of two runs each:"
	printf '  %s\n' "${SUMMARY[@]}"
else
	log "note: the virtual rows were skipped (no database server; see above)"
fi
