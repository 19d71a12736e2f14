#!/usr/bin/env bash
# make install / make uninstall: installs the already-built cvmm into a
# scratch DESTDIR (PREFIX=/usr, then PREFIX=/usr/local), checks every file
# landed with its mode and content, runs the INSTALLED binary on a real guest
# (against the native run) and "cvmm info", reads the installed config
# through CVMM_CONFIG, checks the man page renders without warnings and names
# every option of "cvmm --help", then uninstalls and checks nothing is left.
# install must only copy: the binary is passed to make as old (-o), so a
# source tree being edited does not trigger a rebuild here.
#
# Usage: test/integration/run_install.sh   (normally through make integration)
#
# Environment:
#   BUILD    build directory holding cvmm (default: build)
#   GUESTS   guest binaries (default: $BUILD/guests); uses hello and mutex
#   TIMEOUT  seconds allowed per guest run (default: 60)
#   KEEP     1: keep the scratch directory
#
# Output: "PASS name" or "FAIL name: reason" per check, "SKIP name: reason"
# for a check this host cannot do, then "N passed, M failed" (", K skipped"
# when any). Exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
GUESTS=${GUESTS:-$BUILD/guests}
TIMEOUT=${TIMEOUT:-60}
KEEP=${KEEP:-0}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(realpath -m -- "$BUILD")
GUESTS=$(realpath -m -- "$GUESTS")
# The layout under test is the Makefile's default for each PREFIX: no
# overrides from the caller's environment or from a parent make.
unset BINDIR MANDIR DOCDIR DATAROOTDIR SYSCONFDIR DESTDIR PREFIX INSTALL \
	MAKEFLAGS MFLAGS MAKEOVERRIDES CVMM_CONFIG
unset CVMM_TEST_VAR CVMM_TEST_BIG

# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init cvmm-install
nskip=0

skip() {
	echo "SKIP $1: skipped: $2"
	nskip=$((nskip + 1))
}

# mk DESTDIR PREFIX TARGET [VAR=VALUE...]: make TARGET in the source tree,
# output in $SCRATCH/make-TARGET.log.
mk() {
	local dest=$1 prefix=$2 target=$3
	shift 3
	make -C "$ROOT" --no-print-directory -o "$BUILD/cvmm" "$target" \
		DESTDIR="$dest" PREFIX="$prefix" BUILD="$BUILD" "$@" \
		>"$SCRATCH/make-$target.log" 2>&1
}

# check_file LABEL PATH SOURCE MODE: PATH is a regular file with MODE and
# the same bytes as SOURCE.
check_file() {
	local label=$1 f=$2 src=$3 mode=$4 got
	if [ ! -f "$f" ]; then
		fail "$label" "$f missing"
		return
	fi
	got=$(stat -c %a -- "$f")
	if [ "$got" != "$mode" ]; then
		fail "$label" "$f has mode $got, want $mode"
	elif ! cmp -s -- "$src" "$f"; then
		fail "$label" "$f differs from $src"
	else
		pass "$label"
	fi
}

# run_to PREFIX CMD...: CMD in a fresh directory PREFIX.d with stdin from
# /dev/null; PREFIX.out, PREFIX.err, PREFIX.rc.
run_to() {
	local p=$1
	shift
	mkdir -p -- "$p.d"
	(
		cd "$p.d" || exit 99
		timeout -k 5 "$TIMEOUT" "$@" </dev/null >"$p.out" 2>"$p.err"
	) 2>/dev/null
	echo $? >"$p.rc"
}

# ---- PREFIX=/usr ------------------------------------------------------------

if [ ! -x "$BUILD/cvmm" ]; then
	fail "install" "no cvmm binary at $BUILD/cvmm (run make first)"
	echo "$npass passed, $nfail failed"
	exit 1
fi

D=$SCRATCH/dest
if mk "$D" /usr install; then
	if grep -Eq '(^| )(cc|gcc|clang) .* -c ' "$SCRATCH/make-install.log"; then
		fail "install copies only" "make install compiled" \
			"$SCRATCH/make-install.log"
	else
		pass "install (PREFIX=/usr)"
	fi
else
	fail "install (PREFIX=/usr)" "make install failed" \
		"$SCRATCH/make-install.log"
fi

BIN=$D/usr/bin/cvmm
MAN=$D/usr/share/man/man1/cvmm.1
CONF=$D/etc/cvmm/cvmm.conf
DOC=$D/usr/share/doc/cvmm
check_file "bin/cvmm" "$BIN" "$BUILD/cvmm" 755
check_file "man1/cvmm.1" "$MAN" "$ROOT/man/cvmm.1" 644
check_file "etc/cvmm/cvmm.conf" "$CONF" "$ROOT/config/cvmm.conf" 644
docs=(README.md)
for f in "$ROOT"/docs/*.md; do
	docs+=("docs/${f##*/}")
done
ndoc=0
for f in "${docs[@]}"; do
	if [ -f "$DOC/$f" ] && cmp -s -- "$ROOT/$f" "$DOC/$f" &&
		[ "$(stat -c %a -- "$DOC/$f")" = 644 ]; then
		ndoc=$((ndoc + 1))
	else
		fail "doc $f" "$DOC/$f missing, different or not mode 644"
	fi
done
[ "$ndoc" = ${#docs[@]} ] && pass "docs ($ndoc files under share/doc/cvmm)"

# Nothing else: every installed file is one of those.
find "$D" \( -type f -o -type l \) | sed "s|^$D||" | LC_ALL=C sort \
	>"$SCRATCH/installed"
{
	printf '%s\n' /usr/bin/cvmm /usr/share/man/man1/cvmm.1 \
		/etc/cvmm/cvmm.conf
	for f in "${docs[@]}"; do
		echo "/usr/share/doc/cvmm/$f"
	done
} | LC_ALL=C sort >"$SCRATCH/expected"
if diff -u "$SCRATCH/expected" "$SCRATCH/installed" >"$SCRATCH/.detail"; then
	pass "install puts exactly the expected files"
else
	fail "install puts exactly the expected files" "file lists differ" \
		"$SCRATCH/.detail"
fi

# ---- the installed binary ---------------------------------------------------

if [ -x "$BIN" ]; then
	run_to "$SCRATCH/version" "$BIN" --version
	if [ "$(cat "$SCRATCH/version.rc")" = 0 ] &&
		grep -Eq '^cvmm [0-9]' "$SCRATCH/version.out"; then
		pass "installed cvmm --version"
	else
		fail "installed cvmm --version" \
			"$(rc_text "$(cat "$SCRATCH/version.rc")")" \
			"$SCRATCH/version.err"
	fi

	run_to "$SCRATCH/info" "$BIN" info
	if [ "$(cat "$SCRATCH/info.rc")" = 0 ] &&
		grep -q '^verdict: ' "$SCRATCH/info.out"; then
		pass "installed cvmm info"
	else
		fail "installed cvmm info" \
			"$(rc_text "$(cat "$SCRATCH/info.rc")") or no verdict line" \
			"$SCRATCH/info.err"
	fi

	# The installed example config parses, and is what CVMM_CONFIG reads.
	run_to "$SCRATCH/conf" env CVMM_CONFIG="$CONF" "$BIN" run --show-config
	if [ "$(cat "$SCRATCH/conf.rc")" = 0 ] &&
		grep -q '^core.vcpus = ' "$SCRATCH/conf.out"; then
		pass "installed config read through CVMM_CONFIG"
	else
		fail "installed config read through CVMM_CONFIG" \
			"$(rc_text "$(cat "$SCRATCH/conf.rc")")" "$SCRATCH/conf.err"
	fi

	# A real guest, installed binary against the native run: stdout and
	# exit status identical, stderr identical once cvmm's lines are gone.
	for g in "hello 3 installed args" "mutex 2 20000"; do
		read -r -a cmd <<<"$g"
		label="installed cvmm run -v 2 -- $g"
		if [ ! -x "$GUESTS/${cmd[0]}" ]; then
			fail "$label" "no guest $GUESTS/${cmd[0]} (run make guests)"
			continue
		fi
		n=$SCRATCH/${cmd[0]}-native c=$SCRATCH/${cmd[0]}-cvmm
		run_to "$n" "$GUESTS/${cmd[0]}" "${cmd[@]:1}"
		run_to "$c" "$BIN" run -v 2 --root . -- "$GUESTS/${cmd[0]}" \
			"${cmd[@]:1}"
		grep -v '^cvmm:' "$c.err" >"$c.guesterr"
		reasons=
		[ "$(cat "$n.rc")" = "$(cat "$c.rc")" ] ||
			reasons="$(rc_text "$(cat "$c.rc")"), native $(cat "$n.rc")"
		cmp -s "$n.out" "$c.out" || reasons="$reasons${reasons:+; }stdout differs"
		cmp -s "$n.err" "$c.guesterr" ||
			reasons="$reasons${reasons:+; }stderr differs"
		if [ -z "$reasons" ]; then
			pass "$label"
		else
			{
				diff -u --label native --label cvmm "$n.out" "$c.out"
				echo "cvmm stderr:"
				head -n 4 -- "$c.err"
			} >"$SCRATCH/.detail"
			fail "$label" "$reasons" "$SCRATCH/.detail"
		fi
	done
fi

# ---- the man page -----------------------------------------------------------

rendered=0
if command -v groff >/dev/null; then
	if groff -man -Tutf8 -ww -z -- "$MAN" >"$SCRATCH/groff.err" 2>&1 &&
		[ ! -s "$SCRATCH/groff.err" ]; then
		pass "man page: groff -man -ww, no warnings"
	else
		fail "man page: groff -man -ww, no warnings" "groff complained" \
			"$SCRATCH/groff.err"
	fi
	rendered=1
fi
if command -v man >/dev/null; then
	MANWIDTH=80 MANPAGER=cat PAGER=cat man --warnings -l -- "$MAN" \
		>"$SCRATCH/man.txt" 2>"$SCRATCH/man.err"
	rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$SCRATCH/man.err" ] &&
		grep -q '^SYNOPSIS' "$SCRATCH/man.txt" &&
		grep -q '^EXIT STATUS' "$SCRATCH/man.txt"; then
		pass "man page: man -l renders"
	else
		fail "man page: man -l renders" "exit status $rc or warnings" \
			"$SCRATCH/man.err"
	fi
	rendered=1
fi
[ "$rendered" = 1 ] ||
	skip "man page renders" "neither groff nor man (man-db) is installed"

# Every subcommand, every option "cvmm --help" lists and the config file
# path appear in the page source (written \-\-name in roff).
if [ -x "$BIN" ] && [ -f "$MAN" ]; then
	sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN" >"$SCRATCH/man.plain"
	: >"$SCRATCH/.detail"
	"$BIN" --help 2>/dev/null | grep -oE -- '--(\[no-\])?[a-z][a-z-]*' |
		sed 's/\[no-\]//' | sort -u >"$SCRATCH/help.opts"
	while read -r o; do
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" "$SCRATCH/man.plain" ||
			echo "option $o" >>"$SCRATCH/.detail"
	done <"$SCRATCH/help.opts"
	for w in "cvmm run" "cvmm agent" "cvmm info" "cvmm report" \
		"cvmm syscalls" /etc/cvmm/cvmm.conf CVMM_CONFIG CVMM_JOB_COOKIE; do
		grep -qF -- "$w" "$SCRATCH/man.plain" ||
			echo "$w" >>"$SCRATCH/.detail"
	done
	if [ -s "$SCRATCH/.detail" ]; then
		fail "man page covers cvmm --help" "missing from man/cvmm.1" \
			"$SCRATCH/.detail"
	else
		pass "man page covers cvmm --help ($(wc -l <"$SCRATCH/help.opts") options)"
	fi
fi

# ---- uninstall --------------------------------------------------------------

if mk "$D" /usr uninstall; then
	left=$(find "$D" \( -type f -o -type l \) | sed "s|^$D||")
	if [ -n "$left" ]; then
		echo "$left" >"$SCRATCH/.detail"
		fail "uninstall (PREFIX=/usr)" "files left behind" "$SCRATCH/.detail"
	elif [ -e "$D/etc/cvmm" ] || [ -e "$DOC" ]; then
		fail "uninstall (PREFIX=/usr)" "etc/cvmm or share/doc/cvmm left"
	else
		pass "uninstall (PREFIX=/usr) leaves no file"
	fi
else
	fail "uninstall (PREFIX=/usr)" "make uninstall failed" \
		"$SCRATCH/make-uninstall.log"
fi

# ---- PREFIX=/usr/local: SYSCONFDIR under the prefix, an edited config ------

L=$SCRATCH/dest-local
if mk "$L" /usr/local install &&
	[ -x "$L/usr/local/bin/cvmm" ] &&
	[ -f "$L/usr/local/share/man/man1/cvmm.1" ] &&
	[ -f "$L/usr/local/share/doc/cvmm/README.md" ] &&
	cmp -s "$ROOT/config/cvmm.conf" "$L/usr/local/etc/cvmm/cvmm.conf"; then
	pass "install (PREFIX=/usr/local, config in /usr/local/etc/cvmm)"
else
	fail "install (PREFIX=/usr/local)" "make install failed or files missing" \
		"$SCRATCH/make-install.log"
fi
# The admin's edits to the config survive uninstall; the rest goes.
echo 'core.vcpus = 2' >>"$L/usr/local/etc/cvmm/cvmm.conf" 2>/dev/null
if mk "$L" /usr/local uninstall; then
	left=$(find "$L" \( -type f -o -type l \) | sed "s|^$L||")
	if [ "$left" != /usr/local/etc/cvmm/cvmm.conf ]; then
		echo "${left:-(nothing)}" >"$SCRATCH/.detail"
		fail "uninstall keeps an edited config" \
			"want only /usr/local/etc/cvmm/cvmm.conf left" "$SCRATCH/.detail"
	elif [ -e "$L/usr/local/share/doc/cvmm" ]; then
		fail "uninstall keeps an edited config" "share/doc/cvmm left"
	else
		pass "uninstall (PREFIX=/usr/local) keeps an edited config only"
	fi
else
	fail "uninstall (PREFIX=/usr/local)" "make uninstall failed" \
		"$SCRATCH/make-uninstall.log"
fi

if [ "$nskip" -gt 0 ]; then
	echo "$npass passed, $nfail failed, $nskip skipped"
else
	echo "$npass passed, $nfail failed"
fi
[ "$nfail" = 0 ]
