#!/usr/bin/env bash
# Attack guests under cvmm, on one and two nodes, with both ways of
# catching system calls (docs/security.md). Each attack must end with the
# errno a contained guest gets, or with the job stopped; never with a host
# side effect: a canary file outside --root keeps its bytes and time, the
# marker file a spawned shell would write never appears, and no process
# the attack started is left.
#
#   BUILD=build bash test/security/run_security.sh [FILTER]
# FILTER (a grep -E pattern on the case names) runs some cases only.
# Environment: CVMM, GUESTS (default $BUILD/cvmm, $BUILD/guests),
# TIMEOUT (s, per run), KEEP=1 keeps the scratch directory.
set -u
BUILD=${BUILD:-build}
CVMM=${CVMM:-$BUILD/cvmm}
GUESTS=${GUESTS:-$BUILD/guests}
TIMEOUT=${TIMEOUT:-60}
KEEP=${KEEP:-0}
FILTER=${1:-.}
CVMM=$(realpath "$CVMM")
GUESTS=$(realpath "$GUESTS")
here=$(dirname "$0")
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"
it_init cvmm-security

root=$SCRATCH/root   # the guest's --root
host=$SCRATCH/host   # outside it: what no guest may touch
mkdir -p "$root" "$host"
canary=$host/canary
marker=$host/spawned
canary_state() { stat -c '%s %Y %Z' "$canary"; sha256sum <"$canary"; }
# (again after a failed case, so that the next case is judged alone)
canary_reset() {
	echo "the host's own file" >"$canary"
	touch -d '2020-01-01 00:00:00' "$canary"
	canary_before=$(canary_state)
}
canary_reset

if ! command -v setarch >/dev/null; then
	echo "SKIP escape attacks: no setarch (util-linux) to run agents without ASLR"
fi

# Host side effects of the last run: one line each, none when clean.
host_effects() {
	[ "$(canary_state)" = "$canary_before" ] ||
		echo "the canary outside --root changed"
	[ -e "$marker" ] && echo "a host shell ran (marker written)"
	pgrep -f "echo spawned > $marker" >/dev/null &&
		echo "a process the guest spawned is running"
	return 0
}

# Waits until file $1 holds a line matching $2 (at most 20 s).
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# attack NAME NODES ENTRY EXPECT [thread]: runs escape with attack NAME
# on NODES agents catching syscalls with ENTRY. EXPECT is "errno:TEXT"
# (the guest prints "NAME: TEXT" and exits 0) or "stopped" (the job ends
# with a non-zero status before the guest can print a result).
attack() {
	local name=$1 nodes=$2 entry=$3 expect=$4 where=${5:-main}
	local label="escape $name -n $nodes --entry $entry ($where thread)"
	local out=$SCRATCH/out err=$SCRATCH/err pid pids rc effects

	echo "$label" | grep -qE -- "$FILTER" || return 0
	# the last attack's output goes first: wait_for must not find its
	# "waiting" before this run's redirection has truncated the file
	rm -f "$root/leak" "$marker" "$out" "$err"
	setarch -R timeout -k 5 "$TIMEOUT" "$CVMM" run -n "$nodes" \
		-v "$nodes" --entry "$entry" --root "$root" -- \
		"$GUESTS/escape" /leak "$name" "$marker" "$canary" \
		$([ "$where" = other ] && echo thread) >"$out" 2>"$err" &
	pid=$!
	if ! wait_for "$out" '^waiting'; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		fail "$label" "the guest did not start" "$err"
		return
	fi
	# the agents: the cvmm processes of this run (not timeout)
	pids=
	for p in $(pgrep -f -- "--root $root"); do
		[ "$(readlink "/proc/$p/exe")" = "$CVMM" ] && pids="$pids $p"
	done
	if ! python3 "$here/leak.py" "$CVMM" $pids >"$root/leak.tmp" \
		2>"$SCRATCH/leak.err"; then
		kill -9 $pids 2>/dev/null
		wait "$pid" 2>/dev/null
		fail "$label" "could not read the agents' layout" \
			"$SCRATCH/leak.err"
		return
	fi
	mv "$root/leak.tmp" "$root/leak"
	wait "$pid" 2>/dev/null
	rc=$?
	sleep 0.2 # a spawned shell would have written its marker by now
	effects=$(host_effects)
	if [ -n "$effects" ]; then
		echo "$effects" >"$SCRATCH/effects"
		fail "$label" "host side effect" "$SCRATCH/effects"
		rm -f "$marker"
		canary_reset
		return
	fi
	case $expect in
	errno:*)
		if [ "$rc" = 0 ] && grep -qx "$name: ${expect#errno:}" "$out"; then
			pass "$label: ${expect#errno:}"
		else
			cat "$out" "$err" >"$SCRATCH/both"
			fail "$label" "expected '$name: ${expect#errno:}' and \
status 0, got $(rc_text "$rc")" "$SCRATCH/both"
		fi
		;;
	stopped)
		if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] &&
			! grep -q "^$name:" "$out"; then
			pass "$label: job stopped ($(rc_text "$rc"))"
		else
			cat "$out" "$err" >"$SCRATCH/both"
			fail "$label" "expected the job stopped, got \
$(rc_text "$rc")" "$SCRATCH/both"
		fi
		;;
	esac
}

if command -v setarch >/dev/null; then
	for nodes in 1 2; do
		where=main
		[ "$nodes" = 2 ] && where=other
		# Syscall User Dispatch: a syscall instruction anywhere but the
		# stub is the guest's, trapped and emulated inside --root
		attack gadget-execve "$nodes" sud "errno:Function not implemented" $where
		attack gadget-open "$nodes" sud "errno:No such file or directory" $where
		attack gadget-read "$nodes" sud "errno:No such file or directory" $where
		# seccomp entry traps only the guest window: from agent code the
		# call reaches the host, and the agent's confinement refuses it
		attack gadget-execve "$nodes" seccomp "errno:Operation not permitted" $where
		attack gadget-open "$nodes" seccomp "errno:Permission denied" $where
		attack gadget-read "$nodes" seccomp "errno:Permission denied" $where
		# the stub is for rt_sigreturn only: anything else kills the agent
		attack stub-execve "$nodes" sud stopped $where
		attack stub-open "$nodes" seccomp stopped $where
	done
fi

# The other system call ABIs: int 0x80 (i386) and x32 numbers are never
# read as x86-64 calls, nor reach the host. Without the kernel's IA-32
# emulation an int 0x80 crashes natively and under cvmm alike; with it,
# the host would answer getpid, cvmm answers ENOSYS (docs/security.md).
# x32 numbers: as native (ENOSYS on kernels without x32).
for abi in int80 x32; do
	for entry in sud seccomp; do
		label="abi $abi --entry $entry"
		echo "$label" | grep -qE -- "$FILTER" || continue
		args=
		[ "$abi" = x32 ] && args=x32
		("$GUESTS/int80" $args) >"$SCRATCH/native" 2>/dev/null
		nrc=$?
		if [ "$abi" = int80 ] && [ "$nrc" = 0 ]; then
			echo "int80: Function not implemented" >"$SCRATCH/native"
		fi
		timeout -k 5 "$TIMEOUT" "$CVMM" run --entry "$entry" -- \
			"$GUESTS/int80" $args >"$SCRATCH/cvmm" 2>"$SCRATCH/err"
		rc=$?
		if [ "$rc" = "$nrc" ] && diff "$SCRATCH/native" "$SCRATCH/cvmm" \
			>"$SCRATCH/diff"; then
			what=$(head -c 60 "$SCRATCH/native" | tr -d '\n')
			pass "$label: ${what:-no output}, status $rc"
		else
			cat "$SCRATCH/diff" "$SCRATCH/err" >"$SCRATCH/both"
			fail "$label" "$(rc_text "$rc"), native $nrc" \
				"$SCRATCH/both"
		fi
	done
done

# A read into a buffer another thread unmaps meanwhile: EFAULT, and the
# bytes never reappear in the next mapping there.
for nodes in 1 2; do
	label="unmaprace -n $nodes"
	echo "$label" | grep -qE -- "$FILTER" || continue
	(cd "$root" && "$GUESTS/unmaprace") >"$SCRATCH/native" 2>&1
	(cd "$root" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n "$nodes" \
		-v "$nodes" -- "$GUESTS/unmaprace") >"$SCRATCH/cvmm" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && diff "$SCRATCH/native" "$SCRATCH/cvmm" \
		>"$SCRATCH/diff"; then
		pass "$label: as native"
	else
		fail "$label" "$(rc_text "$rc"), output differs from native" \
			"$SCRATCH/diff"
	fi
done

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
