#!/usr/bin/env bash
# What "make" needs before cargo starts: cargo at least Cargo.toml's rust-version, a C
# compiler, pkg-config, and the development files of OpenSSL, Cyrus SASL and Berkeley DB.
# Everything missing is named on ONE line, each with the RHEL and Debian package that
# provides it, and the exit status is 1; with nothing missing it prints nothing and exits 0.
# Usage: mk/prereqs.sh RUST_VERSION   (CARGO, CC and PKG_CONFIG are taken from the
# environment; the Makefile passes its own). The oldest library versions are those the
# README's "Install from source" names: OpenSSL 1.1.1 (smtpd's TLS 1.3 through the openssl
# crate), libsasl2 2.1.26 to 2.1.28 (what sasl2-sys accepts), any libdb 5.
set -uo pipefail

need=${1:?usage: mk/prereqs.sh RUST_VERSION}
CARGO=${CARGO:-cargo}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
missing=()

# miss WHAT RHEL DEBIAN
miss() { missing+=("$1 (RHEL: $2; Debian: $3)"); }

# version_ge HAVE NEED: HAVE >= NEED (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

full=$need
[[ $full == *.*.* ]] || full=$need.0
rust_hint="rustup from https://rustup.rs, or the standalone installer rust-$full-x86_64-unknown-linux-gnu.tar.xz"
# CARGO may carry arguments ("cargo +1.89.0"): word splitting is intended.
# shellcheck disable=SC2086
if ! have=$($CARGO --version 2>/dev/null); then
	missing+=("cargo $need or newer ($rust_hint; the distributions' rust packages are older)")
else
	have=$(printf '%s\n' "$have" | awk '{ print $2; exit }')
	have=${have%%-*}
	if ! version_ge "$have" "$need"; then
		missing+=("cargo $need or newer, found $have (rustup update, or $rust_hint)")
	fi
fi

if ! command -v "$CC" >/dev/null 2>&1; then
	miss "a C compiler ($CC)" gcc gcc
fi
if ! command -v "$PKG_CONFIG" >/dev/null 2>&1; then
	miss "pkg-config" "pkgconfig, RHEL 9: pkgconf-pkg-config" pkg-config
	pc() { return 1; }
else
	pc() { "$PKG_CONFIG" --exists "$1"; }
fi
# OPENSSL_DIR / OPENSSL_INCLUDE_DIR point openssl-sys at a copy pkg-config does not know
# (RHEL 7: EPEL's openssl11-devel in /usr/include/openssl11, /usr/lib64/openssl11).
if [ -z "${OPENSSL_DIR:-}${OPENSSL_INCLUDE_DIR:-}" ] && ! pc 'openssl >= 1.1.1'; then
	miss "OpenSSL >= 1.1.1 development files" \
		"openssl-devel, RHEL 7: openssl11-devel from EPEL" libssl-dev
fi
if ! pc 'libsasl2 >= 2.1.26'; then
	miss "Cyrus SASL >= 2.1.26 development files" cyrus-sasl-devel libsasl2-dev
fi
# libdb has no pkg-config file: compile and link a one-line program against it.
if command -v "$CC" >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	printf '#include <db.h>\nint main(void) { return db_version(0, 0, 0) == 0; }\n' >"$tmp/db.c"
	if ! "$CC" -o "$tmp/db" "$tmp/db.c" -ldb >/dev/null 2>&1; then
		miss "libdb (Berkeley DB) development files" libdb-devel libdb5.3-dev
	fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
	line=
	for m in "${missing[@]}"; do line+=${line:+; }$m; done
	echo "make: missing: $line" >&2
	exit 1
fi
