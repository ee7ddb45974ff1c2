#!/usr/bin/env bash
# Build a large deferred queue and measure the scheduler against it (issue 13; README
# "Benchmark"). Not a test: nothing is asserted, figures are printed.
#
#   tools/big-queue.sh DIR [N] [BIN_DIR]
#
# DIR (created; must not exist) gets etc/, spool/ and mail/ of a test instance whose only
# route off the host is a relay that refuses connections ([127.0.0.1]:9, "next hop
# down"). N (default 100000) queue files of 1 KiB, each to one remote recipient, are written
# straight into spool/deferred/ (hashed as hash_queue_names = deferred, defer at depth 1),
# with a defer/ log each, all due for a retry now. The same N always gives the same
# senders, recipients and contents; queue IDs follow the inodes, as Postern names them.
# Then, with the release binaries in BIN_DIR (default target/release):
#   1. postfix start; a new message to a local user, sent at once, and the time until it is
#      in the mailbox while the deferred queue is being retried;
#   2. the master's peak RSS (VmHWM) once every deferred message was tried again;
#   3. mailq's (postqueue -p) time and peak RSS for the N messages.
# BIG_QUEUE_MAIN_CF (e.g. "qmgr_message_active_limit = 1000") is appended to main.cf.
# Run as root (the instance's mail_owner is `postfix` then) or as any user (mail_owner is
# that user). Needs python3 and bash (its /dev/tcp speaks the SMTP).
set -euo pipefail

DIR=${1:?usage: tools/big-queue.sh DIR [N] [BIN_DIR]}
N=${2:-100000}
BIN=$(cd "${3:-target/release}" && pwd)
[ -e "$DIR" ] && { echo "$DIR exists" >&2; exit 1; }
mkdir -p "$DIR"/{etc,spool,mail}
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR" "$DIR"/{etc,spool,mail}
if [ "$(id -u)" = 0 ] && id postfix >/dev/null 2>&1; then
	OWNER=postfix GROUP=$(id -gn postfix)
	getent group postdrop >/dev/null && GROUP=postdrop
else
	OWNER=$(id -un) GROUP=$(id -gn)
fi
USER_NAME=${BIG_QUEUE_USER:-$(id -un)}
[ "$USER_NAME" = root ] && USER_NAME=nobody
chmod 1777 "$DIR/mail"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$DIR/etc/main.cf" <<EOF
queue_directory = $DIR/spool
command_directory = $BIN
daemon_directory = $BIN
mail_owner = $OWNER
setgid_group = $GROUP
myhostname = www.a.org
maillog_file = $DIR/maillog
mail_spool_directory = $DIR/mail
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:9
${BIG_QUEUE_MAIN_CF:-}
EOF
cat >"$DIR/etc/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
pickup fifo n - n 60 1 pickup
qmgr fifo n - n 300 1 qmgr
local unix - n n - - local
smtp unix - - n - - smtp
relay unix - - n - - smtp
EOF

# The queue: Postern's record format (spool-layout.md), written as cleanup would, without
# the fsyncs (this is a fixture).
t0=$(date +%s.%N)
python3 - "$DIR/spool" "$N" <<'PY'
import os, sys, time
spool, n = sys.argv[1], int(sys.argv[2])
def rec(t, payload):
    return t + str(len(payload)).encode() + b":" + payload + b"\n"
body = b"".join(b"line %04d of the fixed test body, padding to about one kilobyte.\n" % i
                for i in range(14))
now = time.time()
for d in ("deferred", "defer"):
    for c in "0123456789ABCDEF":
        os.makedirs(os.path.join(spool, d, c), mode=0o700, exist_ok=True)
os.makedirs(os.path.join(spool, "incoming"), mode=0o700, exist_ok=True)
for i in range(n):
    sender = b"sender%d@remote.test" % (i % 997)
    rcpt = b"user%d@far%d.test" % (i, i % 50)
    head = b"From: <%s>\nTo: <%s>\nSubject: big queue %d\nMessage-ID: <%d@big.test>\n\n" % (
        sender, rcpt, i, i)
    arrival = now - 3600 + i * 0.001
    data = (rec(b"V", b"1") + rec(b"T", b"%.6f" % arrival) + rec(b"F", sender) + rec(b"W", b"0")
            + rec(b"R", rcpt) + rec(b"M", head + body) + rec(b"E", b""))
    tmp = os.path.join(spool, "incoming", "t.big.%d" % i)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    os.write(fd, data)
    ino = os.fstat(fd).st_ino
    os.close(fd)
    qid = "%05X%X" % (int(arrival * 1e6) % 0x100000, ino)
    os.rename(tmp, os.path.join(spool, "deferred", qid[0], qid))
    with open(os.path.join(spool, "defer", qid[0], qid), "wb") as f:
        f.write(rcpt + b"\t4.4.1\tconnect to 127.0.0.1[127.0.0.1]:9: Connection refused\n")
PY
t1=$(date +%s.%N)
echo "built $N deferred messages in $(awk "BEGIN{print $t1 - $t0}") s"
if [ "$(id -u)" = 0 ]; then chown -R "$OWNER" "$DIR/spool"; fi

"$BIN/postfix" -c "$DIR/etc" start
trap '"$BIN/postfix" -c "$DIR/etc" stop >/dev/null 2>&1 || true' EXIT
PID=$(tr -d ' \n' <"$DIR/spool/pid/master.pid")

# 1. A new message to a local user while the deferred queue is retried.
sleep 1
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
smtp() { printf '%s\r\n' "$1" >&3; }
read -r _ <&3
smtp "HELO bench"; read -r _ <&3
smtp "MAIL FROM:<bench@remote.test>"; read -r _ <&3
smtp "RCPT TO:<$USER_NAME@www.a.org>"; read -r _ <&3
smtp "DATA"; read -r _ <&3
smtp "Subject: new mail during the retries"; smtp ""; smtp "hello"; smtp "."
read -r reply <&3
s0=$(date +%s.%N)
smtp "QUIT"; exec 3>&-
until grep -q "new mail during the retries" "$DIR/mail/$USER_NAME" 2>/dev/null; do sleep 0.01; done
s1=$(date +%s.%N)
echo "new local message: ${reply%$'\r'}; in the mailbox $(awk "BEGIN{print $s1 - $s0}") s after the 250"
echo "  deferred messages tried by then: $(grep -c 'status=deferred' "$DIR/maillog" || true)"

# 2. Peak RSS once every deferred message was tried again.
until [ "$(grep -c 'status=deferred' "$DIR/maillog" || true)" -ge "$N" ]; do sleep 1; done
r1=$(date +%s.%N)
echo "all $N retried $(awk "BEGIN{print $r1 - $s0}") s after the new message"
echo "master $(grep -E 'VmHWM|VmRSS' "/proc/$PID/status" | tr -s ' \t' ' ' | paste -sd,)"

# 3. mailq over the N messages.
/usr/bin/time -f "mailq: %e s, peak RSS %M KiB" "$BIN/postqueue" -c "$DIR/etc" -p >"$DIR/mailq.out"
tail -1 "$DIR/mailq.out"
