#!/usr/bin/env bash
# postconf -e on the installed stock main.cf, as admins edit it: one existing setting
# (replaced where it is), one spread over continuation lines (replaced, continuations
# gone), one new (appended); `postconf -n` shows the new values, and diff against the
# original shows only those lines: every comment and every other line is unchanged.
# A malformed argument is refused and leaves main.cf as it was.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_users
t_setup
MAIN=$CONF/main.cf
PC=$T/sbin/postconf
# A setting over continuation lines, as admins write long lists.
cat >>"$MAIN" <<-'EOF2'
	# Destinations delivered locally.
	mydestination = $myhostname,
	    localhost.$mydomain,
	    localhost
	# end of the local additions
EOF2
cp -p "$MAIN" "$T/main.cf.orig"

"$PC" -c "$CONF" -e 'mail_owner=postfix-edit' 'mydestination = $myhostname, localhost' \
	'message_size_limit=20480000' >"$T/pc.out" 2>&1 || fail "postconf -e failed: $(cat "$T/pc.out")"

"$PC" -c "$CONF" -n >"$T/n.out" 2>"$T/n.err" || fail "postconf -n failed: $(cat "$T/n.err")"
for want in 'mail_owner = postfix-edit' 'mydestination = $myhostname, localhost' \
	'message_size_limit = 20480000' "queue_directory = $T/spool"; do
	grep -qxF -- "$want" "$T/n.out" || fail "postconf -n has no line \"$want\":$(printf '\n%s' "$(cat "$T/n.out")")"
done
[ "$("$PC" -c "$CONF" -h mydestination)" = '$myhostname, localhost' ] || fail "postconf -h mydestination"

# Every comment line is still there, in the same order.
diff <(grep '^[[:space:]]*#' "$T/main.cf.orig") <(grep '^[[:space:]]*#' "$MAIN") >"$T/comments.diff" ||
	fail "comment lines changed:$(printf '\n%s' "$(cat "$T/comments.diff")")"
# And the whole diff is exactly the edited lines.
diff "$T/main.cf.orig" "$MAIN" | grep '^[<>]' >"$T/edit.diff" || true
cat >"$T/want.diff" <<-EOF2
	< mail_owner = $MAIL_OWNER
	> mail_owner = postfix-edit
	< mydestination = \$myhostname,
	<     localhost.\$mydomain,
	<     localhost
	> mydestination = \$myhostname, localhost
	> message_size_limit = 20480000
EOF2
diff "$T/want.diff" "$T/edit.diff" >"$T/dd" || fail "unexpected changes to main.cf:$(printf '\n%s' "$(cat "$T/dd")")"
# The new setting is appended at the end.
[ "$(tail -n 1 "$MAIN")" = "message_size_limit = 20480000" ] || fail "new setting not appended at the end"
# Mode kept.
[ "$(stat -c %a "$MAIN")" = "$(stat -c %a "$T/main.cf.orig")" ] || fail "main.cf mode changed"

# A malformed argument is fatal and changes nothing.
cp -p "$MAIN" "$T/main.cf.before-bad"
set +e
"$PC" -c "$CONF" -e 'no equals sign here' >"$T/bad.out" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || fail "postconf -e with a malformed argument exited 0"
grep -q "postconf: fatal:" "$T/bad.out" || fail "no fatal message: $(cat "$T/bad.out")"
cmp -s "$T/main.cf.before-bad" "$MAIN" || fail "a refused postconf -e changed main.cf"
log "ok"
