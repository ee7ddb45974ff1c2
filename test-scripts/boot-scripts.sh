#!/usr/bin/env bash
# The boot scripts "make install" adds (issue 12): the systemd unit and the SysV init
# script with this install's locations, the init script starting, reporting and stopping
# the real mail system, and make uninstall removing both; then make install into an
# install_root that does not exist yet (a staging directory, as a package build uses) with
# Postfix's default locations, and make uninstall emptying it again.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

t_setup

# -- the systemd unit --------------------------------------------------------
t_make install systemd_unit_directory="$T/systemd" || { cat "$T/make.log" >&2; fail "make install (systemd unit) failed"; }
UNIT=$T/systemd/postfix.service
[ -f "$UNIT" ] || fail "make install wrote no $UNIT"
[ "$(stat -c %a "$UNIT")" = 644 ] || fail "$UNIT has mode $(stat -c %a "$UNIT")"
file_has_line "$UNIT" "ExecStart=$T/sbin/postfix -c $CONF start"
file_has_line "$UNIT" "ExecStop=$T/sbin/postfix -c $CONF stop"
file_has_line "$UNIT" "ExecReload=$T/sbin/postfix -c $CONF reload"
file_has_line "$UNIT" "PIDFile=$T/spool/pid/master.pid"
file_has_line "$UNIT" "Type=forking"
file_has_line "$UNIT" "WantedBy=multi-user.target"
! grep -q @ "$UNIT" || fail "$UNIT keeps a placeholder: $(grep @ "$UNIT")"
[ ! -e "$T/init.d" ] || fail "with a systemd unit directory the SysV script was installed too"
grep -q "systemctl\|chkconfig\|update-rc.d" "$T/make.log" && fail "enable_service=no, but make install enabled the service"
# systemd's own check of the unit, where systemd-analyze is installed (it needs no running
# systemd): unknown keys and commands that are not executable are errors.
if command -v systemd-analyze >/dev/null; then
	out=$(timeout 60 systemd-analyze verify "$UNIT" 2>&1) || fail "systemd-analyze verify $UNIT: $out"
	[ -z "$out" ] || fail "systemd-analyze verify $UNIT warns: $out"
	log "systemd-analyze verify accepts the unit"
else
	log "no systemd-analyze here: the unit's syntax is checked line by line only"
fi

# An admin's own unit there is kept.
t_make uninstall || { cat "$T/make.log" >&2; fail "make uninstall failed"; }
[ ! -e "$UNIT" ] || fail "make uninstall left $UNIT"
mkdir -p "$T/systemd"
echo "# the admin's own" >"$UNIT"
t_make install systemd_unit_directory="$T/systemd" || { cat "$T/make.log" >&2; fail "make install failed"; }
grep -q "kept existing $UNIT" "$T/make.log" || fail "make install did not say it kept the admin's unit"
file_has_line "$UNIT" "# the admin's own"
t_make uninstall || fail "make uninstall failed"
file_has_line "$UNIT" "# the admin's own"
rm -rf "$T/systemd"

# -- the SysV init script: start, status, stop the real system ---------------
t_make install init_script_directory="$T/init.d" ||
	{ cat "$T/make.log" >&2; fail "make install (init script) failed"; }
INIT=$T/init.d/postfix
[ -x "$INIT" ] || fail "make install wrote no executable $INIT"
file_has_line "$INIT" "POSTFIX=$T/sbin/postfix"
file_has_line "$INIT" "CONF=$CONF"
file_has_line "$INIT" "# chkconfig: 2345 80 30"
! grep -q @ "$INIT" || fail "$INIT keeps a placeholder: $(grep @ "$INIT")"
sh -n "$INIT" || fail "$INIT is not valid sh"

PORT=$(free_port)
sed -i "s/^smtp[[:space:]]\+inet[[:space:]].*/127.0.0.1:$PORT inet n - n - - smtpd/" "$CONF/master.cf"
if "$INIT" status >/dev/null 2>&1; then fail "init script status says running before start"; fi
"$INIT" status >/dev/null 2>&1 || rc=$?
[ "${rc:-0}" = 3 ] || fail "init script status before start exited ${rc:-0}, expected 3 (LSB: not running)"
"$INIT" start >"$T/init.log" 2>&1 || { cat "$T/init.log" >&2; fail "init script start failed"; }
wait_for 20 "SMTP port $PORT" port_open "$PORT"
"$INIT" status >/dev/null 2>&1 || fail "init script status says not running after start"
"$INIT" start >"$T/init.log" 2>&1 || fail "a second init script start failed"
grep -q "already running" "$T/init.log" || fail "a second start did not say it is already running"
pid=$(master_pid)
"$INIT" stop >"$T/init.log" 2>&1 || { cat "$T/init.log" >&2; fail "init script stop failed"; }
wait_for 20 "master process $pid to exit" pid_gone "$pid"
if "$INIT" status >/dev/null 2>&1; then fail "init script status says running after stop"; fi
"$INIT" bogus >/dev/null 2>&1 && fail "init script accepted an unknown action"

t_make uninstall || { cat "$T/make.log" >&2; fail "make uninstall failed"; }
[ ! -e "$INIT" ] || fail "make uninstall left $INIT"
[ ! -e "$T/init.d" ] || fail "make uninstall left $T/init.d"

# -- install_root that does not exist yet, Postfix's default locations --------
R=$T/stage/root
PROFILE_VARS=("PROFILE=$PROFILE" "install_root=$R" "mail_owner=$MAIL_OWNER" "setgid_group=$SETGID_GROUP"
	systemd_unit_directory=/etc/systemd/system init_script_directory= enable_service=yes)
make -C "$REPO" --no-print-directory install "${PROFILE_VARS[@]}" >"$T/make.log" 2>&1 ||
	{ cat "$T/make.log" >&2; fail "make install into a missing install_root failed"; }
for f in etc/postfix/main.cf etc/postfix/master.cf usr/sbin/postfix usr/sbin/postdrop \
	usr/libexec/postfix/local usr/sbin/sendmail etc/systemd/system/postfix.service \
	var/lib/postfix/postern-install.list; do
	[ -f "$R/$f" ] || fail "make install with install_root=$R wrote no $R/$f"
done
[ -d "$R/var/spool/postfix/maildrop" ] || fail "no $R/var/spool/postfix/maildrop"
[ "$(readlink "$R/usr/bin/mailq")" = /usr/sbin/sendmail ] || fail "$R/usr/bin/mailq does not point to /usr/sbin/sendmail"
# Paths inside the files are the final ones, without install_root.
file_has_line "$R/etc/postfix/main.cf" "queue_directory = /var/spool/postfix"
file_has_line "$R/etc/systemd/system/postfix.service" "ExecStart=/usr/sbin/postfix -c /etc/postfix start"
grep -q "systemctl\|chkconfig\|update-rc.d" "$T/make.log" &&
	fail "make install with an install_root enabled a service on this host: $(grep -m1 'systemctl\|chkconfig\|update-rc.d' "$T/make.log")"
make -C "$REPO" --no-print-directory uninstall "${PROFILE_VARS[@]}" >"$T/make.log" 2>&1 ||
	{ cat "$T/make.log" >&2; fail "make uninstall with install_root failed"; }
left=$(find "$R" -mindepth 1 ! -type d | head -n 5)
[ -z "$left" ] || fail "make uninstall left files under $R: $left"
log "ok"
