#!/bin/bash
# perf-compare.sh SESSIONS SIZE COUNT REPS [mbox|discard]
# Postern against Debian's Postfix, side by side in one run, alternating, loaded by Postfix's
# own smtp-source (one new connection per message, as real inbound mail arrives).
#   mbox:    one recipient per message delivered into a local mbox; e2e = all messages in the mbox
#   discard: recipient in a remote domain, default_transport = discard on both; e2e = queue drained
# Needs: root, Debian's postfix package (apt-get install postfix: smtp-source and Postfix 3.x),
# nothing listening on 127.0.0.1:25, and a release build in the current directory (run it from
# the project root after `make`). Prints each run and the median rates and Postern/Postfix
# ratios. The test suite never depends on this package.
# PC_DIR (default /var/tmp/postern-compare, marked chattr +T): where Postern's instance goes.
# Unlike ../shared/bench/perf-compare.sh (its first version), this one never touches
# /etc/postfix: Postfix runs from a configuration directory of its own (`postfix -c DIR`),
# because the test scripts rewrite /etc/postfix/main.cf while they run (lib.sh's
# allow_config_dir), and every Postfix daemon started after such a rewrite reads it: mail
# then went to the smtp transport and was deferred, or smtpd failed to start, so the
# discard queue never drained. Postfix logs to its own maillog_file through postlogd
# (Postfix >= 3.4), so no syslog daemon is needed. See README, "Benchmark".
set -u
S=${1:-10}; L=${2:-1024}; M=${3:-20000}; R=${4:-3}; MODE=${5:-mbox}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "perf-compare.sh: run as root" >&2; exit 1; }
command -v smtp-source >/dev/null && [ -x /usr/sbin/postfix ] ||
	{ echo "perf-compare.sh: needs Debian's postfix package (smtp-source, /usr/sbin/postfix)" >&2; exit 1; }
[ -x target/release/postfix ] || { echo "perf-compare.sh: no target/release/postfix (run make)" >&2; exit 1; }
BENCH_MADE=
id bench >/dev/null 2>&1 || { useradd -M -s /usr/sbin/nologin bench && BENCH_MADE=yes; }
# --- Debian's Postfix, from its own configuration directory
PC=$(mktemp -d /tmp/pc-postfix.XXXX)
cp -a /etc/postfix/master.cf /etc/postfix/dynamicmaps.cf /etc/postfix/postfix-files $PC/ 2>/dev/null
[ -d /etc/postfix/postfix-files.d ] && cp -a /etc/postfix/postfix-files.d $PC/
[ -d /etc/postfix/dynamicmaps.cf.d ] && cp -a /etc/postfix/dynamicmaps.cf.d $PC/
cp $here/perf-compare-postfix.cf $PC/main.cf
printf 'postmaster: root\n' > $PC/aliases
postconf -c $PC -e 'smtpd_sasl_auth_enable = no' 'smtpd_tls_security_level = none' \
	'myorigin = $myhostname' "alias_maps = hash:$PC/aliases" "alias_database = hash:$PC/aliases" \
	'inet_interfaces = 127.0.0.1' 'inet_protocols = ipv4' \
	'maillog_file = /var/log/postfix-compare.log'
postalias -c $PC $PC/aliases
# the chroot's copies of /etc files (hosts, resolv.conf, services...) for this instance
/usr/lib/postfix/configure-instance.sh $PC >/dev/null 2>&1 ||
	/usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1
postsuper -c $PC -d ALL >/dev/null 2>&1
T=
cleanup() {
	[ -z "$T" ] || target/release/postfix -c $T stop >/dev/null 2>&1
	postfix -c $PC stop >/dev/null 2>&1
	postsuper -c $PC -d ALL >/dev/null 2>&1
	rm -f /var/mail/bench
	rm -rf $PC ${T:+"$T"}
	[ -z "$BENCH_MADE" ] || userdel bench
}
trap cleanup EXIT
postfix -c $PC start >/dev/null 2>&1
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.2; done
(exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null || { echo "perf-compare.sh: Debian's Postfix does not answer on 127.0.0.1:25" >&2; exit 1; }
# --- Postern
# Postern's spool in a fresh directory under one marked "top of directory hierarchy"
# (chattr +T), like Postfix's /var/spool/postfix and make bench's BENCH_DIR: on ext4 a new
# file under /tmp, where tests create and delete many, costs far more (README, "Benchmark").
PC_DIR=${PC_DIR:-/var/tmp/postern-compare}
mkdir -p $PC_DIR && chmod 1777 $PC_DIR && { chattr +T $PC_DIR 2>/dev/null || true; }
T=$(mktemp -d $PC_DIR/pc.XXXX); chmod 755 $T; P=$((10000 + RANDOM % 10000))
cat > $T/main.cf <<CF
queue_directory = $T/spool
data_directory = $T/data
mail_spool_directory = $T/mail
myhostname = mx.feas.test
mydestination = feas.test, \$myhostname, localhost
myorigin = \$myhostname
mynetworks = 127.0.0.1/32
alias_maps = hash:$T/aliases
alias_database = hash:$T/aliases
maillog_file = $T/maillog
inet_interfaces = 127.0.0.1
default_transport = discard
mailbox_size_limit = 0
CF
printf '127.0.0.1:%s inet n - n - - smtpd\n' $P > $T/master.cf
printf 'postmaster: root\n' > $T/aliases; mkdir -p $T/mail; chmod 1777 $T/mail
MAIL_CONFIG=$T target/release/newaliases >/dev/null 2>&1
target/release/postfix -c $T start >/dev/null 2>&1
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.2; done
(exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null || { echo "perf-compare.sh: Postern does not answer on 127.0.0.1:$P" >&2; exit 1; }
run() { # name port mbox
  : > $3 2>/dev/null; chown bench $3 2>/dev/null
  local t0 t1 t2 n
  t0=$(date +%s.%N)
  local rcpt=bench@feas.test; [ $MODE = discard ] && rcpt=bench@remote.test
  smtp-source -s $S -l $L -m $M -f a@x.test -t $rcpt 127.0.0.1:$2 >/dev/null 2>&1
  t1=$(date +%s.%N)
  if [ $MODE = discard ]; then
    local q=/var/spool/postfix; [ $2 = 25 ] || q=$T/spool
    for i in $(seq 6000); do n=$(find $q/incoming $q/active $q/deferred -type f 2>/dev/null | wc -l); [ "$n" = 0 ] && break; sleep 0.05; done
    [ "$n" = 0 ] && n=$M || n="$n-still-queued"
  else
    for i in $(seq 6000); do n=$(grep -c '^From ' $3 2>/dev/null); [ "${n:-0}" -ge $M ] && break; sleep 0.05; done
  fi
  t2=$(date +%s.%N)
  python3 -c "print('%s accept %.0f/s e2e %.0f/s delivered %s' % ('$1', $M/($t1-$t0), $M/($t2-$t0), '$n'))"
}
for rep in $(seq $R); do
  run postfix 25 /var/mail/bench
  run postern $P $T/mail/bench
done | tee $T/results
python3 - $T/results <<'PY'
import sys, statistics as st
rows=[l.split() for l in open(sys.argv[1])]
def med(n,i): return st.median(float(r[i].rstrip('/s')) for r in rows if r[0]==n)
for label,i in (('accept',2),('e2e',4)):
    a,b=med('postfix',i),med('postern',i)
    print(f'{label}: postfix {a:.0f}/s postern {b:.0f}/s ratio {b/a:.2f}')
PY
