#!/usr/bin/env bash
# make's prerequisite check (mk/prereqs.sh, issue 14): with everything here it is silent;
# with a tool, a library or the right cargo missing it fails with ONE line naming each
# missing thing and its RHEL and Debian package, before cargo starts.
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/postern-$TEST_NAME.XXXXXX")
trap t_cleanup EXIT
CHECK=$REPO/mk/prereqs.sh
NEED=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
[ -n "$NEED" ] || fail "Cargo.toml declares no rust-version"

# run_check VAR=value...: run the check with these settings; OUT is its output, RC its status.
run_check() {
	RC=0
	OUT=$(env "$@" "$CHECK" "$NEED" 2>&1) || RC=$?
}
# one_line_naming TEXT...: the check failed with one line containing every TEXT.
one_line_naming() {
	[ "$RC" = 1 ] || fail "the check exited $RC, expected 1 (output: $OUT)"
	[ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] || fail "the check printed more than one line: $OUT"
	[[ $OUT == "make: missing: "* ]] || fail "the line does not start with \"make: missing: \": $OUT"
	local t
	for t in "$@"; do [[ $OUT == *"$t"* ]] || fail "the line does not name \"$t\": $OUT"; done
}

run_check
[ "$RC" = 0 ] && [ -z "$OUT" ] || fail "with every prerequisite here the check said (exit $RC): $OUT"

mkdir "$T/bin"
# A cargo older than rust-version.
printf '#!/bin/sh\necho "cargo 1.20.0 (0000000 2017-08-27)"\n' >"$T/bin/old-cargo"
# pkg-config that knows OpenSSL but not libsasl2.
printf '#!/bin/sh\ncase "$*" in *libsasl2*) exit 1 ;; esac\nexec pkg-config "$@"\n' >"$T/bin/no-sasl"
chmod +x "$T/bin/"*

run_check CARGO="$T/bin/old-cargo"
one_line_naming "cargo $NEED or newer, found 1.20.0" rustup
run_check CARGO="$T/no-such-cargo"
one_line_naming "cargo $NEED or newer" rustup.rs
run_check PKG_CONFIG="$T/bin/no-sasl"
one_line_naming "Cyrus SASL" cyrus-sasl-devel libsasl2-dev
[[ $OUT != *OpenSSL* ]] || fail "OpenSSL named missing although pkg-config finds it: $OUT"
run_check PKG_CONFIG="$T/no-such-pkg-config"
one_line_naming pkg-config pkgconf-pkg-config openssl-devel libssl-dev cyrus-sasl-devel libsasl2-dev
run_check CC="$T/no-such-cc"
one_line_naming "a C compiler" gcc
run_check CC=false
one_line_naming "libdb (Berkeley DB) development files" libdb-devel libdb5.3-dev
# Several at once: still one line.
run_check CARGO="$T/bin/old-cargo" PKG_CONFIG="$T/bin/no-sasl"
one_line_naming "found 1.20.0" cyrus-sasl-devel

# make stops there, before cargo runs.
RC=0
OUT=$(make -C "$REPO" --no-print-directory build CARGO="$T/bin/old-cargo" 2>&1) || RC=$?
[ "$RC" != 0 ] || fail "make build succeeded with a cargo older than rust-version"
printf '%s\n' "$OUT" | grep -q "^make: missing: cargo $NEED or newer, found 1.20.0" ||
	fail "make build did not print the prerequisite line: $OUT"
if printf '%s\n' "$OUT" | grep -q "old-cargo build"; then fail "make ran cargo build despite the missing prerequisite"; fi
log "ok"
