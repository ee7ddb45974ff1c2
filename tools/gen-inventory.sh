#!/bin/sh
# Regenerate src/config/inventory.rs: every parameter that Postfix 2.10.10's
# `postconf -d` lists from its built-in tables, with its default, minus those
# src/config/params.rs already has.
#
# Usage: tools/gen-inventory.sh POSTFIX_GIT_DIR > src/config/inventory.rs
#   (POSTFIX_GIT_DIR: a clone of https://github.com/vdukhovni/postfix, tag v2.10.10)
#
# How: postconf's own build step (`awk -f extract.awk ../*/*.c`) writes the tables
# of every daemon's parameters; tools/postfix-2.10-params.c includes them with
# mail_params.h (compiled for Linux, as Debian and RHEL build it) and prints kind,
# name and default, as `postconf -d` would. tools/gen-inventory.py leaves out the
# names src/config/params.rs has and says what Postern does with the others.
# Needs git, awk, cc and python3.
set -e
repo=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$repo" archive v2.10.10 postfix/src | tar -x -C "$tmp"
cd "$tmp/postfix/src/postconf"
awk -f extract.awk ../*/*.c | sh
cp "$here/postfix-2.10-params.c" dump.c
cc -DLINUX3 -DHAS_CLOSEFROM -I../global -I../util -I. -w -o dump dump.c
./dump > "$tmp/postfix.tsv"
python3 "$here/gen-inventory.py" "$tmp/postfix.tsv" "$here/../src/config/params.rs"
