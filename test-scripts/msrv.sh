#!/usr/bin/env bash
# Cargo.toml's rust-version is a toolchain that builds Postern (issue 14): when the cargo in
# use is another version, rustup installs that one (minimal profile) and "cargo +VERSION
# check --all-targets --locked" must pass; when it is that version, the build that "make
# test" has just done is the proof. Without rustup another toolchain cannot be had: skip.
# test-timeout: 1800
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

need=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
[ -n "$need" ] || fail "Cargo.toml declares no rust-version"
have=$(cargo --version | awk '{ print $2 }')
[[ $need == *.*.* ]] && full=$need || full=$need.0
if [ "${have%%-*}" = "$full" ]; then
	log "cargo is $have, which is rust-version: the build of make test is the check"
	cargo check --locked --manifest-path "$REPO/Cargo.toml" -q || fail "cargo $have does not build Postern"
	log "ok"
	exit 0
fi
command -v rustup >/dev/null || skip "cargo is $have, rust-version is $need, and there is no rustup to install $full"
rustup toolchain list | grep -q "^$full-" ||
	rustup toolchain install "$full" --profile minimal >/dev/null 2>&1 ||
	skip "rustup cannot install $full here (no network?)"
T=$(mktemp -d "${TMPDIR:-/tmp}/postern-$TEST_NAME.XXXXXX")
trap t_cleanup EXIT
CARGO_TARGET_DIR=$T/target cargo "+$full" check --all-targets --locked \
	--manifest-path "$REPO/Cargo.toml" >"$T/check.log" 2>&1 ||
	{ grep -A8 '^error' "$T/check.log" | head -n 40 >&2; fail "Rust $full (rust-version) does not build Postern"; }
log "Rust $full checks Postern (--all-targets); the toolchain in use is $have"
