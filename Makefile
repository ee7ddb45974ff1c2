# Postern -- build, install, run, test and benchmark.
#
#   make                 check the prerequisites (mk/prereqs.sh), then cargo build --release
#   make dist            postern-VERSION.tar.gz: the source and every crate vendored (builds offline)
#   make rpm             an RPM from that tarball (etc/postern.spec; needs rpmbuild)
#   make install         install (Postfix's variable names; see "Install variables")
#   make uninstall       remove what "make install" installed (same variables)
#   make run             a private instance on 127.0.0.1:$(RUN_PORT) in ./run, foreground
#   make test            cargo test (as root also the root-only tests), then test-scripts/
#   make bench           release build, then postern-bench against a private instance
#   make fuzz            every cargo-fuzz target for 60 s (FUZZ_SECONDS, FUZZ_TARGETS); needs nightly
#   make clean           cargo clean and remove ./run
#
# Every recipe is one bash script (.ONESHELL) that stops at the first error.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := all

CARGO ?= cargo
PROFILE ?= release
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BINDIR := $(TARGET_DIR)/$(PROFILE)
VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
RUST_VERSION := $(shell sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
# In a tarball from "make dist" (vendor/ is there, and .cargo/config.toml points cargo at
# it) cargo builds offline and with Cargo.lock as it is; in the repository it may fetch.
CARGO_FLAGS ?= $(if $(wildcard $(CURDIR)/vendor/.),--offline --frozen)
# PREREQS=no skips mk/prereqs.sh.
PREREQS ?= yes

# ---------------------------------------------------------------------------
# Install variables: the names and defaults of Postfix 2.10's "make install".
# Override on the command line: make install install_root=/tmp/x mail_owner=me
# ---------------------------------------------------------------------------
DESTDIR ?=
install_root ?= $(DESTDIR)
config_directory ?= /etc/postfix
command_directory ?= /usr/sbin
daemon_directory ?= /usr/libexec/postfix
data_directory ?= /var/lib/postfix
queue_directory ?= /var/spool/postfix
mail_owner ?= postfix
setgid_group ?= postdrop
sendmail_path ?= /usr/sbin/sendmail
newaliases_path ?= /usr/bin/newaliases
mailq_path ?= /usr/bin/mailq
manpage_directory ?= /usr/local/man
# Not a Postfix variable: where the stock aliases file goes (never overwritten).
aliases_path ?= /etc/aliases
# Not Postfix variables: the boot scripts. The systemd unit (etc/postfix.service) goes
# into systemd_unit_directory when this host uses systemd (booted with it, or has a unit
# directory); otherwise the SysV init script (etc/postfix.init) into init_script_directory
# when the host has /etc/rc.d/init.d or /etc/init.d. Empty: not installed.
# enable_service=yes: as root with an empty install_root, "make install" enables the
# service (systemctl enable, or chkconfig --add / update-rc.d) and "make uninstall"
# disables it.
HOST_SYSTEMD := $(shell if [ -d /run/systemd/system ] || [ -d /usr/lib/systemd/system ] || \
	[ -d /lib/systemd/system ]; then echo yes; fi)
systemd_unit_directory ?= $(if $(HOST_SYSTEMD),/etc/systemd/system)
init_script_directory ?= $(if $(HOST_SYSTEMD),,$(firstword $(wildcard /etc/rc.d/init.d /etc/init.d)))
enable_service ?= yes
# Not Postfix variables: set_owners=no leaves owners and groups alone even as root (an
# RPM build: the spec's %files sets them), and install_manifest=no writes no
# postern-install.list (the package manager keeps the list).
set_owners ?= yes
install_manifest ?= yes

# What gets installed. Programs missing from $(BINDIR) are skipped with a note,
# so these lists may name programs that are still being written.
COMMANDS ?= postfix postconf postqueue postsuper postcat postmap postalias postdrop
SETGID_COMMANDS ?= postdrop postqueue
DAEMONS ?= local
# sendmail goes to $(sendmail_path); newaliases and mailq are symlinks to it.

# Queue subdirectories: name:mode:owner (owner "mail" = mail_owner,
# "mail:setgid" = mail_owner:setgid_group, "root" = root).
QUEUE_DIRS := maildrop:0730:mail:setgid public:0710:mail:setgid pid:0755:root \
	hold:0700:mail incoming:0700:mail active:0700:mail deferred:0700:mail \
	corrupt:0700:mail defer:0700:mail bounce:0700:mail trace:0700:mail \
	flush:0700:mail saved:0700:mail spare:0700:mail private:0700:mail

# Parameters written into the installed main.cf, as Postfix's post-install does.
INSTALL_PARAMS := config_directory queue_directory command_directory daemon_directory \
	data_directory mail_owner setgid_group sendmail_path newaliases_path mailq_path \
	manpage_directory

MANIFEST = $(data_directory)/postern-install.list

# set_params FILE: replace each "name = value" line (and its continuation lines)
# named in $$SPEC ("name=value" per line), or append it when absent.
define SET_PARAMS_SH
set_params() {
	local file=$$1 tmp
	tmp=$$(mktemp "$$file.XXXXXX")
	SPEC=$$SPEC awk '
	BEGIN {
		n = split(ENVIRON["SPEC"], lines, "\n")
		for (i = 1; i <= n; i++) {
			if (lines[i] == "") continue
			p = index(lines[i], "=")
			k = substr(lines[i], 1, p - 1)
			val[k] = substr(lines[i], p + 1); order[++m] = k
		}
	}
	skip && /^[ \t]+[^ \t#]/ { next }
	{ skip = 0 }
	match($$0, /^[A-Za-z0-9_]+[ \t]*=/) {
		name = $$0; sub(/[ \t]*=.*/, "", name)
		if (name in val) {
			if (!(name in done)) { print name " = " val[name]; done[name] = 1 }
			skip = 1; next
		}
	}
	{ print }
	END { for (i = 1; i <= m; i++) if (!(order[i] in done)) print order[i] " = " val[order[i]] }
	' "$$file" > "$$tmp"
	cat "$$tmp" > "$$file"
	rm -f "$$tmp"
}
endef

.PHONY: all build prereqs install uninstall dist rpm run test bench fuzz clean

all: build

# prereqs: cargo >= rust-version, a C compiler, pkg-config and the -dev packages, named in
# one line with the package that provides each (mk/prereqs.sh).
prereqs:
	@if [ '$(PREREQS)' != no ]; then CARGO='$(CARGO)' mk/prereqs.sh '$(RUST_VERSION)'; fi

# build: PROFILE=debug builds the debug programs instead (what the tests install).
build: prereqs
	$(CARGO) build $(CARGO_FLAGS) $(if $(filter release,$(PROFILE)),--release)
	# The test-hooks feature (a fake DNS server, POSTERN_DNS_SERVER) is for cargo test only.
	if [ '$(PROFILE)' = release ] && grep -q POSTERN_DNS_SERVER '$(TARGET_DIR)/release/postfix'; then
		echo "make: $(TARGET_DIR)/release/postfix contains the test hooks (feature test-hooks); a release build must not" >&2
		exit 1
	fi

# ---------------------------------------------------------------------------
# dist: postern-$(VERSION).tar.gz with the files git tracks and new files it does not
# ignore (as they are in the work tree; outside git: all but build output), every crate of Cargo.lock in vendor/ (cargo vendor) and a .cargo/config.toml
# that points cargo at vendor/, so that "tar xzf; cd postern-VERSION; make; make install"
# needs no network. The repository itself keeps building from crates.io. The spec file
# in the tarball gets Cargo.toml's version ("make rpm" builds with that one).
# ---------------------------------------------------------------------------
DIST_NAME := postern-$(VERSION)
DIST_DIR ?= $(CURDIR)

dist:
	@STAGE=$$(mktemp -d)
	trap 'rm -rf "$$STAGE"' EXIT
	D=$$STAGE/$(DIST_NAME)
	mkdir "$$D"
	cd '$(CURDIR)'
	if command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# Tracked files and new ones not ignored (.gitignore keeps out target/, run/, tarballs).
		git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
			if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi
		done | tar --null -T - -cf - | tar -C "$$D" -xf -
	else
		# Not a git checkout (an unpacked tarball): everything but build output.
		tar --exclude=./target --exclude=./run --exclude=./vendor --exclude=./.cargo \
			--exclude=./.git --exclude='./postern-*.tar.gz*' --exclude=./fuzz/target -cf - . |
			tar -C "$$D" -xf -
	fi
	mkdir -p "$$D/.cargo"
	# (-q would also drop the configuration it prints; its progress goes to a file instead.)
	$(CARGO) vendor --locked --versioned-dirs --manifest-path "$$D/Cargo.toml" "$$D/vendor" \
		> "$$D/.cargo/config.toml.new" 2> "$$STAGE/vendor.log" || {
		cat "$$STAGE/vendor.log" >&2; echo "make dist: cargo vendor failed" >&2; exit 1; }
	# cargo vendor prints the source replacement with an absolute path: make it relative.
	{
		echo '# Written by "make dist": build from vendor/, never from the network.'
		sed 's|^directory = .*|directory = "vendor"|' "$$D/.cargo/config.toml.new"
		printf '\n[net]\noffline = true\n'
	} > "$$D/.cargo/config.toml"
	rm -f "$$D/.cargo/config.toml.new"
	grep -q '^directory = "vendor"$$' "$$D/.cargo/config.toml" || {
		echo "make dist: cargo vendor printed no source replacement" >&2; exit 1; }
	sed -i 's/^Version:.*/Version:        $(VERSION)/' "$$D/etc/postern.spec"
	mkdir -p '$(DIST_DIR)'
	tar -C "$$STAGE" --owner=0 --group=0 --numeric-owner -czf '$(DIST_DIR)/$(DIST_NAME).tar.gz.new' '$(DIST_NAME)'
	mv -f '$(DIST_DIR)/$(DIST_NAME).tar.gz.new' '$(DIST_DIR)/$(DIST_NAME).tar.gz'
	echo "make dist: wrote $(DIST_DIR)/$(DIST_NAME).tar.gz ($$(du -h '$(DIST_DIR)/$(DIST_NAME).tar.gz' | cut -f1))"

# rpm: binary RPM from the tarball, with the spec file the tarball holds (not "rpmbuild
# -tb": a vendored crate carries a .spec file of its own); RPMBUILD_FLAGS for more (e.g.
# --define "_topdir $$HOME/rpmbuild", or --nodeps where rpm does not know the -devel packages).
RPMBUILD_FLAGS ?=

rpm: dist
	@command -v rpmbuild >/dev/null || {
		echo "make rpm: rpmbuild is missing (RHEL: rpm-build; Debian: rpm)" >&2; exit 1; }
	SPEC=$$(mktemp -d)
	trap 'rm -rf "$$SPEC"' EXIT
	tar -xzf '$(DIST_DIR)/$(DIST_NAME).tar.gz' -O '$(DIST_NAME)/etc/postern.spec' > "$$SPEC/postern.spec"
	rpmbuild -bb --define "_sourcedir $(abspath $(DIST_DIR))" $(RPMBUILD_FLAGS) "$$SPEC/postern.spec"

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------
install: $(if $(filter release,$(PROFILE)),build)
	@R='$(install_root)'
	BINDIR='$(BINDIR)'
	OWNER='$(mail_owner)'; GROUP='$(setgid_group)'
	MANIFEST='$(MANIFEST)'
	if [ ! -d "$$BINDIR" ]; then
		echo "make install: $$BINDIR does not exist; run 'make' (or 'cargo build' for PROFILE=debug) first" >&2
		exit 1
	fi
	# install_root may not exist yet (a staging directory): create it, unrecorded.
	if [ -n "$$R" ]; then mkdir -p "$$R"; fi
	if [ '$(set_owners)' = no ]; then
		ROOT=
		echo "make install: set_owners=no: owners and groups are left as they are (no chown/chgrp)"
	elif [ "$$(id -u)" = 0 ]; then
		ROOT=1
		missing=
		getent passwd "$$OWNER" >/dev/null || missing="user $$OWNER"
		getent group "$$GROUP" >/dev/null || missing="$${missing:+$$missing, }group $$GROUP"
		if [ -n "$$missing" ]; then
			echo "make install: this system has no $$missing." >&2
			echo "Create the mail system accounts first, for example:" >&2
			echo "    groupadd -g 2525 postfix" >&2
			echo "    useradd -g 2525 -u 2525 -M -s /sbin/nologin postfix" >&2
			echo "    groupadd -g 2526 postdrop" >&2
			echo "or name existing ones: make install mail_owner=USER setgid_group=GROUP" >&2
			exit 1
		fi
	else
		ROOT=
		echo "make install: not running as root: owners and groups are left as $$(id -un):$$(id -gn) (no chown/chgrp)"
	fi
	own() { # own PATH USER [GROUP]
		[ -n "$$ROOT" ] || return 0
		chown "$$2$${3:+:$$3}" "$$1"
	}
	# The manifest lists what this install created: "TYPE SUM PATH" with TYPE
	# d (directory), f (program), l (symlink) or c (config file, SUM = sha256).
	# Paths are final paths, without install_root.
	NEW=$$(mktemp)
	trap 'rm -f "$$NEW"' EXIT
	if [ -f "$$R$$MANIFEST" ]; then cat "$$R$$MANIFEST" > "$$NEW"; fi
	recorded() { P="$$1" awk '{ p = $$0; sub(/^[^ ]+ [^ ]+ /, "", p) } p == ENVIRON["P"] { f = 1 } END { exit !f }' "$$NEW"; }
	record() { # record TYPE SUM PATH: add, or update the line for PATH in place
		local t
		t=$$(mktemp)
		T="$$1" S="$$2" P="$$3" awk '
			{ p = $$0; sub(/^[^ ]+ [^ ]+ /, "", p) }
			p == ENVIRON["P"] { if (!f) print ENVIRON["T"] " " ENVIRON["S"] " " p; f = 1; next }
			{ print }
			END { if (!f) print ENVIRON["T"] " " ENVIRON["S"] " " ENVIRON["P"] }' "$$NEW" > "$$t"
		cat "$$t" > "$$NEW"; rm -f "$$t"
	}
	sum() { sha256sum "$$1" | cut -d' ' -f1; }
	# mkd PATH MODE [USER [GROUP]]: create PATH and its missing parents, recording
	# each one created. Mode and owner are applied to a directory we created, and
	# always when FORCE is set (the spool and data directories).
	mkd() {
		local path=$$1 mode=$$2 user=$${3:-} group=$${4:-} parts=() d=$$1
		while [ -n "$$d" ] && [ "$$d" != / ] && [ ! -d "$$R$$d" ]; do
			parts=("$$d" "$${parts[@]}"); d=$$(dirname "$$d")
		done
		for d in "$${parts[@]}"; do
			mkdir "$$R$$d"
			if [ "$$d" != "$$path" ]; then chmod 0755 "$$R$$d"; own "$$R$$d" root; fi
			recorded "$$d" || record d - "$$d"
		done
		if [ "$${#parts[@]}" -gt 0 ] || [ -n "$${FORCE:-}" ]; then
			chmod "$$mode" "$$R$$path"
			if [ -n "$$user" ]; then own "$$R$$path" "$$user" "$$group"; fi
		fi
	}
	# put SRC DEST MODE [GROUP]: install a program (atomically: a running copy is
	# replaced, not rewritten).
	put() {
		local src=$$1 dest=$$2 mode=$$3 group=$${4:-}
		install -m "$$mode" "$$src" "$$R$$dest.new"
		if [ -n "$$group" ]; then own "$$R$$dest.new" root "$$group"; chmod "$$mode" "$$R$$dest.new"; fi
		mv -f "$$R$$dest.new" "$$R$$dest"
		record f - "$$dest"
		echo "installed $$R$$dest"
	}
	link() { # link TARGET NAME
		mkd "$$(dirname "$$2")" 0755 root
		ln -sfn "$$1" "$$R$$2"
		record l - "$$2"
		echo "installed $$R$$2 -> $$1"
	}
	conf() { # conf SRC DEST [MODE]: install a config file unless one is there already
		mkd "$$(dirname "$$2")" 0755 root
		if [ -e "$$R$$2" ]; then
			echo "kept existing $$R$$2"
			return 0
		fi
		install -m "$${3:-0644}" "$$1" "$$R$$2"
		own "$$R$$2" root
		record c "$$(sum "$$R$$2")" "$$2"
		echo "installed $$R$$2"
	}
	$(SET_PARAMS_SH)

	# Directories.
	mkd '$(config_directory)' 0755 root
	mkd '$(command_directory)' 0755 root
	mkd '$(daemon_directory)' 0755 root
	FORCE=1 mkd '$(data_directory)' 0700 "$$OWNER"
	FORCE=1 mkd '$(queue_directory)' 0755 root
	for spec in $(QUEUE_DIRS); do
		IFS=: read -r name mode who grp <<< "$$spec"
		user=root; group=
		[ "$$who" = mail ] && user=$$OWNER
		[ "$${grp:-}" = setgid ] && group=$$GROUP
		FORCE=1 mkd '$(queue_directory)'/"$$name" "$$mode" "$$user" "$$group"
	done

	# Programs.
	skipped=
	for p in $(COMMANDS); do
		if [ ! -f "$$BINDIR/$$p" ]; then skipped="$$skipped $$p"; continue; fi
		case " $(SETGID_COMMANDS) " in
			*" $$p "*) put "$$BINDIR/$$p" '$(command_directory)'/"$$p" 2755 "$$GROUP" ;;
			*) put "$$BINDIR/$$p" '$(command_directory)'/"$$p" 0755 ;;
		esac
	done
	for p in $(DAEMONS); do
		if [ ! -f "$$BINDIR/$$p" ]; then skipped="$$skipped $$p"; continue; fi
		put "$$BINDIR/$$p" '$(daemon_directory)'/"$$p" 0755
	done
	if [ -f "$$BINDIR/sendmail" ]; then
		mkd "$$(dirname '$(sendmail_path)')" 0755 root
		put "$$BINDIR/sendmail" '$(sendmail_path)' 0755
		link '$(sendmail_path)' '$(newaliases_path)'
		link '$(sendmail_path)' '$(mailq_path)'
	else
		skipped="$$skipped sendmail"
	fi
	if [ -n "$$skipped" ]; then echo "make install: not built yet, skipped:$$skipped"; fi

	# Configuration files: never overwrite what is there.
	conf etc/main.cf '$(config_directory)/main.cf'
	conf etc/master.cf '$(config_directory)/master.cf'
	# mysql table examples for the Extmail schema: they hold a password, so 0640.
	for f in mysql_virtual_domains_maps.cf mysql_virtual_mailbox_maps.cf \
		mysql_virtual_alias_maps.cf extmail-schema.sql; do
		conf "etc/$$f" '$(config_directory)'"/$$f" 0640
	done
	adir=$$R$$(dirname '$(aliases_path)')
	if [ ! -e "$$R"'$(aliases_path)' ] && [ -d "$$adir" ] && [ ! -w "$$adir" ]; then
		echo "make install: cannot write $$R$(aliases_path); skipped"
	else
		conf etc/aliases '$(aliases_path)'
	fi

	# Boot scripts, with this install's locations. Kept when the file there is not the
	# one a previous install wrote (the admin's own, or edited).
	bootfile() { # bootfile SRC DEST MODE
		local t
		t=$$(mktemp)
		sed -e 's|@command_directory@|$(command_directory)|g' \
			-e 's|@config_directory@|$(config_directory)|g' \
			-e 's|@queue_directory@|$(queue_directory)|g' \
			-e 's|@daemon_directory@|$(daemon_directory)|g' "$$1" > "$$t"
		if [ -e "$$R$$2" ] && ! grep -qxF "c $$(sum "$$R$$2") $$2" "$$NEW"; then
			rm -f "$$t"
			echo "kept existing $$R$$2 (not installed by make install, or changed since)"
			return 1
		fi
		mkd "$$(dirname "$$2")" 0755 root
		install -m "$$3" "$$t" "$$R$$2"
		rm -f "$$t"
		own "$$R$$2" root
		record c "$$(sum "$$R$$2")" "$$2"
		echo "installed $$R$$2"
	}
	ENABLE=
	if [ '$(enable_service)' = yes ] && [ -z "$$R" ] && [ "$$(id -u)" = 0 ]; then ENABLE=1; fi
	if [ -n '$(systemd_unit_directory)' ]; then
		if bootfile etc/postfix.service '$(systemd_unit_directory)/postfix.service' 0644 &&
			[ -n "$$ENABLE" ] && command -v systemctl >/dev/null; then
			if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
			systemctl enable postfix.service && record s - systemd:postfix.service
		fi
	elif [ -n '$(init_script_directory)' ]; then
		if bootfile etc/postfix.init '$(init_script_directory)/postfix' 0755 && [ -n "$$ENABLE" ]; then
			if command -v chkconfig >/dev/null; then
				chkconfig --add postfix && record s - chkconfig:postfix
			elif command -v update-rc.d >/dev/null; then
				update-rc.d postfix defaults && record s - update-rc.d:postfix
			fi
		fi
	fi

	# Post-install: record the install-time parameters in main.cf. When main.cf is
	# still as we installed it, its checksum follows the edit.
	MAIN=$$R'$(config_directory)/main.cf'
	before=$$(sum "$$MAIN")
	SPEC=
	$(foreach v,$(INSTALL_PARAMS),SPEC+='$(v)=$($(v))'$$'\n';)
	if [ '$(aliases_path)' != /etc/aliases ]; then
		SPEC+='alias_maps=hash:$(aliases_path)'$$'\n''alias_database=hash:$(aliases_path)'$$'\n'
	fi
	set_params "$$MAIN"
	if grep -qxF "c $$before $(config_directory)/main.cf" "$$NEW"; then
		record c "$$(sum "$$MAIN")" '$(config_directory)/main.cf'
	fi
	if [ '$(install_manifest)' = no ]; then
		echo "make install: done (install_manifest=no: no list of installed files)"
	else
		install -m 0644 "$$NEW" "$$R$$MANIFEST"
		echo "make install: done; the list of installed files is $$R$$MANIFEST"
	fi

# ---------------------------------------------------------------------------
# uninstall: undo what the manifest lists, newest first. Config files that
# were changed since install and directories that are not empty are kept.
# ---------------------------------------------------------------------------
uninstall:
	@R='$(install_root)'
	MANIFEST='$(MANIFEST)'
	if [ ! -f "$$R$$MANIFEST" ]; then
		echo "make uninstall: no $$R$$MANIFEST: nothing was installed with these variables" >&2
		exit 1
	fi
	LIST=$$(mktemp)
	trap 'rm -f "$$LIST"' EXIT
	tac "$$R$$MANIFEST" > "$$LIST"
	rm -f "$$R$$MANIFEST"
	while read -r type sum path; do
		case $$type in
		f|l) rm -f "$$R$$path" ;;
		c)
			if [ ! -e "$$R$$path" ]; then continue; fi
			if [ "$$(sha256sum "$$R$$path" | cut -d' ' -f1)" = "$$sum" ]; then
				rm -f "$$R$$path"
			else
				echo "make uninstall: kept $$R$$path: changed since install"
			fi ;;
		s)
			case $$path in
			systemd:*) systemctl disable "$${path#systemd:}" || true ;;
			chkconfig:*) chkconfig --del "$${path#chkconfig:}" || true ;;
			update-rc.d:*) update-rc.d -f "$${path#update-rc.d:}" remove || true ;;
			esac ;;
		d)
			if [ -d "$$R$$path" ] && ! rmdir "$$R$$path" 2>/dev/null; then
				echo "make uninstall: kept $$R$$path: not empty"
			fi ;;
		esac
	done < "$$LIST"
	echo "make uninstall: done"

# ---------------------------------------------------------------------------
# run: a private instance under ./run, in the foreground, as any user.
# ---------------------------------------------------------------------------
RUN_DIR := $(CURDIR)/run
RUN_PORT ?= 2525
RUN_MYHOSTNAME ?= localhost.localdomain
RUN_OWNER := $(shell if [ "$$(id -u)" = 0 ]; then echo nobody; else id -un; fi)
RUN_GROUP := $(shell id -gn $(RUN_OWNER))

$(RUN_DIR)/etc/main.cf: etc/main.cf Makefile
	@mkdir -p $(RUN_DIR)/etc $(RUN_DIR)/spool $(RUN_DIR)/mail $(RUN_DIR)/lib
	chmod 1777 $(RUN_DIR)/mail
	cp etc/main.cf $@
	$(SET_PARAMS_SH)
	SPEC='config_directory=$(RUN_DIR)/etc
	queue_directory=$(RUN_DIR)/spool
	data_directory=$(RUN_DIR)/lib
	command_directory=$(BINDIR)
	daemon_directory=$(BINDIR)
	sendmail_path=$(BINDIR)/sendmail
	newaliases_path=$(BINDIR)/newaliases
	mailq_path=$(BINDIR)/mailq
	mail_owner=$(RUN_OWNER)
	setgid_group=$(RUN_GROUP)
	myhostname=$(RUN_MYHOSTNAME)
	mail_spool_directory=$(RUN_DIR)/mail
	maillog_file=$(RUN_DIR)/maillog
	alias_maps=hash:$(RUN_DIR)/etc/aliases
	alias_database=hash:$(RUN_DIR)/etc/aliases
	'
	set_params $@

$(RUN_DIR)/etc/master.cf: etc/master.cf Makefile
	mkdir -p $(RUN_DIR)/etc
	sed 's/^smtp[ \t]\+inet[ \t].*/127.0.0.1:$(RUN_PORT) inet n - n - - smtpd/' etc/master.cf > $@

$(RUN_DIR)/etc/aliases: etc/aliases
	mkdir -p $(RUN_DIR)/etc
	cp etc/aliases $@

run: build $(RUN_DIR)/etc/main.cf $(RUN_DIR)/etc/master.cf $(RUN_DIR)/etc/aliases
	@MAIL_CONFIG=$(RUN_DIR)/etc $(BINDIR)/newaliases
	echo "make run: SMTP on 127.0.0.1:$(RUN_PORT), log in $(RUN_DIR)/maillog, mail in $(RUN_DIR)/mail; ^C stops"
	exec $(BINDIR)/postfix -c $(RUN_DIR)/etc start-fg

# ---------------------------------------------------------------------------
# test, bench, clean
# ---------------------------------------------------------------------------
# test: "cargo test" (with the test-hooks feature, through the dev-dependency on
# ourselves), then, as root, the root-only tests (#[ignore = "needs root..."]), then the
# smoke tests. A test that cannot run here says "SKIP: ..." and is listed at the end;
# under CI (CI=true) it fails instead.
test:
	@export POSTERN_SKIP_LOG='$(TARGET_DIR)/test-skips.log'
	mkdir -p '$(TARGET_DIR)'
	rm -f "$$POSTERN_SKIP_LOG"
	report() {
		if [ -s "$$POSTERN_SKIP_LOG" ]; then
			echo "make test: these Rust tests were skipped (they passed without testing anything):"
			sort -u "$$POSTERN_SKIP_LOG" | sed 's/^/    /'
		fi
	}
	trap report EXIT
	$(CARGO) test --all-targets
	echo "make test: the fuzz targets compile against this library (cargo check in fuzz/)"
	(cd fuzz && $(CARGO) check --quiet --bins)
	if [ "$$(id -u)" = 0 ]; then
		echo "make test: running as root: the root-only tests (#[ignore]d for cargo test)"
		$(CARGO) test --all-targets -- --ignored
	else
		echo "make test: not running as root: these root-only tests did not run (make test as root runs them):"
		# (fcntl_probe is not root-only: a helper another test runs in a child process.)
		$(CARGO) test -q --all-targets -- --ignored --list 2>/dev/null | sed -n 's/: test$$//p' |
			grep -v '::fcntl_probe$$' | sed 's/^/    /'
	fi
	PROFILE=debug test-scripts/run-all.sh

BENCH_SESSIONS ?= 1 10 50
BENCH_SIZES ?= 1024 102400
BENCH_MESSAGES ?= 200
# session: one connection per session (each sends its share); message: one per message, as
# smtp-source without -N (plus discard rows, and postfix rows when a Postfix listens on 25).
BENCH_CONNECT ?= session

bench: build
	PROFILE=release BENCH_SESSIONS='$(BENCH_SESSIONS)' BENCH_SIZES='$(BENCH_SIZES)' \
		BENCH_MESSAGES='$(BENCH_MESSAGES)' BENCH_CONNECT='$(BENCH_CONNECT)' test-scripts/bench.sh

# fuzz: fuzz/run.sh runs each target in fuzz/ (its own crate, outside the main build)
# for FUZZ_SECONDS and fails on a crash. Not part of "make test": CI does not fuzz.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz:
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	$(CARGO) clean
	rm -rf $(RUN_DIR)
