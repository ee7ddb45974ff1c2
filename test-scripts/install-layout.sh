#!/usr/bin/env bash
# make install into a temporary directory: directory modes and owners, the
# setgid programs, symlinks, install-time parameters in main.cf, config files
# never overwritten, and make uninstall removing exactly what was installed.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_setup
ROOT=
[ "$(id -u)" = 0 ] && ROOT=1
BINDIR=${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE

# check_path PATH MODE [OWNER [GROUP]]: stat -c %a is the octal mode.
check_path() {
	local path=$1 mode=$2 owner=${3:-} group=${4:-} got
	[ -e "$path" ] || fail "$path does not exist"
	got=$(stat -c %a "$path")
	[ "$got" = "$mode" ] || fail "$path has mode $got, expected $mode"
	if [ -n "$ROOT" ] && [ -n "$owner" ]; then
		got=$(stat -c %U "$path")
		[ "$got" = "$owner" ] || fail "$path is owned by $got, expected $owner"
	fi
	if [ -n "$ROOT" ] && [ -n "$group" ]; then
		got=$(stat -c %G "$path")
		[ "$got" = "$group" ] || fail "$path has group $got, expected $group"
	fi
}

# -- the spool and data directories ----------------------------------------
check_path "$T/spool" 755 root
check_path "$T/spool/maildrop" 730 "$MAIL_OWNER" "$SETGID_GROUP"
check_path "$T/spool/public" 710 "$MAIL_OWNER" "$SETGID_GROUP"
check_path "$T/spool/pid" 755 root
for d in hold incoming active deferred corrupt defer bounce trace flush saved spare private; do
	check_path "$T/spool/$d" 700 "$MAIL_OWNER"
done
check_path "$T/lib" 700 "$MAIL_OWNER"

# -- programs: every one "make install" knows must be built and installed --
for p in postfix postconf postqueue postsuper postcat postmap postalias postdrop local sendmail; do
	[ -f "$BINDIR/$p" ] || fail "$BINDIR/$p is not built (make test builds every program first)"
done
installed=0
for p in postfix postconf postsuper postcat postmap postalias; do
	check_path "$T/sbin/$p" 755 root; installed=$((installed + 1))
done
for p in postdrop postqueue; do
	check_path "$T/sbin/$p" 2755 root "$SETGID_GROUP"; installed=$((installed + 1))
done
check_path "$T/libexec/local" 755 root; installed=$((installed + 1))
check_path "$T/sbin/sendmail" 755 root; installed=$((installed + 1))
for l in newaliases mailq; do
	[ -L "$T/bin/$l" ] || fail "$T/bin/$l is not a symlink"
	[ "$(readlink "$T/bin/$l")" = "$T/sbin/sendmail" ] || fail "$T/bin/$l does not point to $T/sbin/sendmail"
done
if grep -q "not built yet, skipped" "$T/make.log"; then
	fail "make install skipped programs: $(grep 'not built yet' "$T/make.log")"
fi
log "$installed programs checked from $BINDIR"

# -- configuration ---------------------------------------------------------
for f in main.cf master.cf; do check_path "$CONF/$f" 644 root; done
# The mysql table examples hold a password: not readable by others.
for f in mysql_virtual_domains_maps.cf mysql_virtual_mailbox_maps.cf \
	mysql_virtual_alias_maps.cf extmail-schema.sql; do
	check_path "$CONF/$f" 640 root
done
file_has_line "$CONF/main.cf" "queue_directory = $T/spool"
file_has_line "$CONF/main.cf" "command_directory = $T/sbin"
file_has_line "$CONF/main.cf" "daemon_directory = $T/libexec"
file_has_line "$CONF/main.cf" "data_directory = $T/lib"
file_has_line "$CONF/main.cf" "config_directory = $CONF"
file_has_line "$CONF/main.cf" "mail_owner = $MAIL_OWNER"
file_has_line "$CONF/main.cf" "setgid_group = $SETGID_GROUP"
file_has_line "$CONF/main.cf" "sendmail_path = $T/sbin/sendmail"
file_has_line "$CONF/main.cf" "newaliases_path = $T/bin/newaliases"
file_has_line "$CONF/main.cf" "mailq_path = $T/bin/mailq"
file_has_line "$CONF/main.cf" "manpage_directory = $T/man"
[ "$(grep -c '^queue_directory' "$CONF/main.cf")" = 1 ] || fail "queue_directory set more than once"
file_has_line "$T/etc/aliases" "postmaster:	root"
MANIFEST=$T/lib/postern-install.list
[ -f "$MANIFEST" ] || fail "no install manifest $MANIFEST"

# -- a second install keeps the admin's edits and changes nothing else ------
echo "myhostname = edited.example.com" >>"$CONF/main.cf"
echo "# edited" >>"$CONF/master.cf"
lines_before=$(wc -l <"$MANIFEST")
t_make install || { cat "$T/make.log" >&2; fail "second make install failed"; }
file_has_line "$CONF/main.cf" "myhostname = edited.example.com"
file_has_line "$CONF/master.cf" "# edited"
[ "$(wc -l <"$MANIFEST")" = "$lines_before" ] || fail "the second install changed the manifest size"
grep -q "kept existing $CONF/main.cf" "$T/make.log" || fail "second install did not say it kept main.cf"
# The edit to master.cf is undone so that uninstall may remove it.
sed -i '/^# edited$/d' "$CONF/master.cf"

# -- missing accounts are refused, as root ---------------------------------
if [ -n "$ROOT" ]; then
	if t_make install mail_owner=no-such-user-pstrn; then fail "install accepted a missing mail_owner"; fi
	grep -q "useradd" "$T/make.log" || fail "no account-creation hint for a missing mail_owner"
fi

# -- uninstall ---------------------------------------------------------------
t_make uninstall || { cat "$T/make.log" >&2; fail "make uninstall failed"; }
grep -q "kept $CONF/main.cf" "$T/make.log" || fail "uninstall did not report the kept main.cf"
[ -f "$CONF/main.cf" ] || fail "uninstall removed the edited main.cf"
[ ! -e "$CONF/master.cf" ] || fail "uninstall left the unchanged master.cf"
[ ! -e "$MANIFEST" ] || fail "uninstall left the manifest"
for p in sbin libexec bin spool lib; do
	[ ! -e "$T/$p" ] || fail "uninstall left $T/$p: $(find "$T/$p" | head -n 5)"
done
[ ! -e "$T/etc/aliases" ] || [ "$(sha256sum <"$T/etc/aliases")" != "$(sha256sum <"$REPO/etc/aliases")" ] ||
	fail "uninstall left the unchanged aliases file"
log "ok"
