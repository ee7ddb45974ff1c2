#!/usr/bin/env bash
# make dist, then build the tarball as a host without network would (issue 14): unpacked
# into an empty directory, with an empty CARGO_HOME, in a network namespace of its own
# (unshare -n as root, unshare -rn otherwise) or, where no namespace can be made, with
# cargo told to stay offline and every proxy pointing at a closed port. A debug build
# ("make PROFILE=debug": the prerequisite check, then cargo build --offline --frozen) is
# enough to prove that every crate is in the tarball; the release build is the same
# crates with other flags.
# test-timeout: 2400
# shellcheck source=test-scripts/lib.sh
source "$(dirname "$0")/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/postern-$TEST_NAME.XXXXXX")
trap t_cleanup EXIT
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
[ -n "$VERSION" ] || fail "no version in Cargo.toml"

make -C "$REPO" --no-print-directory dist DIST_DIR="$T/out" >"$T/dist.log" 2>&1 ||
	{ cat "$T/dist.log" >&2; fail "make dist failed"; }
TARBALL=$T/out/postern-$VERSION.tar.gz
[ -f "$TARBALL" ] || fail "make dist wrote no $TARBALL"
[ ! -e "$REPO/vendor" ] && [ ! -e "$REPO/.cargo/config.toml" ] ||
	fail "make dist left vendor/ or .cargo/config.toml in the repository (its own build must stay online)"

mkdir "$T/unpacked"
tar -C "$T/unpacked" -xzf "$TARBALL" || fail "cannot unpack $TARBALL"
[ "$(ls -A "$T/unpacked")" = "postern-$VERSION" ] ||
	fail "the tarball does not hold exactly postern-$VERSION/: $(ls -A "$T/unpacked")"
D=$T/unpacked/postern-$VERSION
for f in Cargo.toml Cargo.lock Makefile README.md mk/prereqs.sh etc/main.cf etc/postfix.service \
	etc/postfix.init etc/postern.spec .cargo/config.toml; do
	[ -f "$D/$f" ] || fail "the tarball has no $f"
done
file_has_line "$D/.cargo/config.toml" 'directory = "vendor"'
file_has_line "$D/etc/postern.spec" "Version:        $VERSION"
# Every package of Cargo.lock from crates.io is in vendor/ (name-version).
while read -r name version; do
	[ -d "$D/vendor/$name-$version" ] || fail "vendor/ lacks $name $version from Cargo.lock"
done < <(awk '/^\[\[package\]\]/ { n = ""; v = "" } /^name = / { gsub(/"/, ""); n = $3 }
	/^version = / { gsub(/"/, ""); v = $3 }
	/^source = "registry/ { print n, v }' "$D/Cargo.lock")
log "tarball $(du -h "$TARBALL" | cut -f1), $(find "$D/vendor" -mindepth 1 -maxdepth 1 | wc -l) crates vendored"

# The build: an empty CARGO_HOME, no target directory from outside, no network.
mkdir "$T/cargo-home"
build_env=(env -u CARGO_TARGET_DIR CARGO_HOME="$T/cargo-home" CARGO_NET_OFFLINE=true
	http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9
	HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 no_proxy= NO_PROXY=)
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
	netns=(unshare -n)
	how="in a network namespace with no interface up (unshare -n)"
elif unshare -rn true 2>/dev/null; then
	netns=(unshare -rn)
	how="in a network namespace with no interface up (unshare -rn)"
else
	netns=()
	how="offline (CARGO_NET_OFFLINE, proxies at a closed port): no network namespace can be made here"
fi
log "building $D $how"
# The namespace really has no network: nothing answers on a public address.
if [ "${#netns[@]}" -gt 0 ] && "${netns[@]}" bash -c '(exec 3<>/dev/tcp/1.1.1.1/443) 2>/dev/null'; then
	fail "the network namespace reaches 1.1.1.1:443"
fi
"${netns[@]}" "${build_env[@]}" make -C "$D" --no-print-directory PROFILE=debug >"$T/build.log" 2>&1 ||
	{ tail -n 40 "$T/build.log" >&2; fail "the unpacked tarball did not build offline"; }
grep -q -- '--offline --frozen' "$T/build.log" ||
	fail "the tarball's make did not run cargo with --offline --frozen: $(grep -m1 'cargo build' "$T/build.log")"
for p in postfix postconf postdrop postqueue sendmail local; do
	[ -x "$D/target/debug/$p" ] || fail "the offline build made no target/debug/$p"
done
out=$("$D/target/debug/postconf" -d mail_owner) || fail "the built postconf does not run"
[ "$out" = "mail_owner = postfix" ] || fail "postconf -d mail_owner printed \"$out\""
[ -z "$(find "$T/cargo-home" -path '*/registry/*' -print -quit)" ] ||
	fail "cargo filled the empty CARGO_HOME's registry: it fetched or unpacked crates"
log "ok"
