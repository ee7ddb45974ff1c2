#!/usr/bin/env bash
# postfix check on a fresh `make install`: no spool warnings (the stock master.cf's
# unsupported services are named by postfix/master, as at start). Then a broken owner (as root) or
# mode: one `postfix/postfix-script: warning:` line naming the fix, exit status still 0;
# running the named fix clears it. As an ordinary user the owner checks are skipped with
# a note.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
t_setup
PF=$T/sbin/postfix

run_check() { # run_check OUTFILE: postfix check, which must exit 0
	"$PF" -c "$CONF" check >"$1" 2>&1 || fail "postfix check exited $?: $(cat "$1")"
}

run_check "$T/c0"
if grep -q "postfix-script: warning:" "$T/c0"; then fail "warnings on a fresh install:$(printf '\n%s' "$(cat "$T/c0")")"; fi
if [ "$(id -u)" = 0 ]; then
	if grep -q "not running as root" "$T/c0"; then fail "root was told it is not root"; fi
	chown root "$T/spool/active"
	want="postfix/postfix-script: warning: not owned by $MAIL_OWNER: $T/spool/active (fix: chown $MAIL_OWNER $T/spool/active)"
else
	grep -q "not running as root: owner and group checks" "$T/c0" || fail "no note about skipped owner checks: $(cat "$T/c0")"
	chmod 0755 "$T/spool/active"
	want="postfix/postfix-script: warning: mode 0755 (want 0700): $T/spool/active (fix: chmod 0700 $T/spool/active)"
fi
run_check "$T/c1"
grep -qxF -- "$want" "$T/c1" || fail "want \"$want\", got:$(printf '\n%s' "$(cat "$T/c1")")"
[ "$(grep -c "postfix-script: warning:" "$T/c1")" = 1 ] || fail "more than one warning:$(printf '\n%s' "$(cat "$T/c1")")"
fix=${want##*(fix: }
fix=${fix%)}
sh -c "$fix" || fail "the named fix failed: $fix"
run_check "$T/c2"
if grep -q "postfix-script: warning:" "$T/c2"; then fail "warnings after the fix:$(printf '\n%s' "$(cat "$T/c2")")"; fi
log "ok"
