#!/usr/bin/env bash
# The bad-pointer sweep (issue 12): the badptr guest (test/security/badptr.c)
# passes NULL, unmapped, kernel, agent, half-mapped and read-only pointers
# to every supported system call that takes one and prints each result. It
# runs natively once (the expected output), then under cvmm on one node and
# on two; each run's stdout must equal the native one, with exit status 0.
#
# Under cvmm the agents run with ASLR off (setarch -R, so every agent of a
# job has one layout); once the guest has started (it creates "ready" in
# its root) test/security/leak.py reads the agents' /proc/PID/maps and its
# output is moved into the guest's root as "leak", where the guest waits
# for it and takes the agent_data address from it: a real address of the
# agent, outside the guest window, that every call must refuse with the
# errno a native unmapped pointer gets.
#
# Each run gets a fresh directory (cvmm's --root) holding only the symlink
# "link" -> "data" (the guest makes the rest; cvmm has no symlink call).
#
# Usage: test/security/badptr.sh   (from the repository root, after
# "make all guests")
#
# Environment:
#   BUILD    build directory (default: build)
#   CVMM     cvmm binary (default: $BUILD/cvmm)
#   GUESTS   guest binaries (default: $BUILD/guests)
#   VCPUS    vCPUs of each cvmm run (default: 2)
#   TIMEOUT  seconds allowed per run, SIGKILL 5 s later (default: 30)
#   KEEP     1: keep the scratch directory (outputs of every run)
#   VERBOSE  1: print every command run
#
# Output: "PASS badptr native", "PASS badptr -n 1", "PASS badptr -n 2" (or
# FAIL with the reason and a diff), then "N passed, M failed". Exits 1 when
# anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
VCPUS=${VCPUS:-2}
TIMEOUT=${TIMEOUT:-30}
KEEP=${KEEP:-0}
VERBOSE=${VERBOSE:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST=$GUESTS/badptr

# shellcheck source=test/integration/lib.sh
. "$HERE/../integration/lib.sh"
it_init cvmm-badptr

# ---- native: the expected output ----------------------------------------

native() {
	local d=$SCRATCH/native rc
	mkdir -p "$d/root"
	ln -s data "$d/root/link"
	[ "$VERBOSE" = 1 ] && echo "  run (in $d/root): $GUEST"
	(cd "$d/root" && exec timeout -k 5 "$TIMEOUT" "$GUEST" \
		>"$d/out" 2>"$d/err" </dev/null)
	rc=$?
	if [ ! -x "$GUEST" ]; then
		fail "badptr native" "no guest at $GUEST (make guests)"
	elif [ $rc != 0 ] || [ "$(tail -n 1 "$d/out")" != "done" ]; then
		fail "badptr native" "$(rc_text $rc)" "$d/out"
	else
		pass "badptr native ($(wc -l <"$d/out") cases)"
		return 0
	fi
	return 1
}

# ---- under cvmm ----------------------------------------------------------

# The agents of the job whose "cvmm run" process is $1: its children (the
# agents of -n N), or itself on one node.
agents_of() {
	local kids
	kids=$(pgrep -P "$1")
	echo "${kids:-$1}"
}

# on_cvmm N: the guest under cvmm run -n N; the leak file handed over once
# the guest is up.
on_cvmm() {
	local n=$1 d=$SCRATCH/n$1 label="badptr -n $1" job run pids i rc
	local -a cmd=(setarch -R timeout -k 5 "$TIMEOUT" "$CVMM" run -n "$n"
		-v "$VCPUS" --root "$d/root" -- "$GUEST" leak)

	mkdir -p "$d/root"
	ln -s data "$d/root/link" # the guest cannot: cvmm has no symlink
	[ "$VERBOSE" = 1 ] && echo "  run (in $d/root): ${cmd[*]}"
	(cd "$d/root" && exec "${cmd[@]}" >"$d/out" 2>"$d/err" </dev/null) &
	job=$!
	# timeout's child is cvmm run; the guest creates "ready" when it
	# has set up its files
	for ((i = 0; i < 200; i++)); do
		[ -e "$d/root/ready" ] && break
		kill -0 "$job" 2>/dev/null || break
		sleep 0.05
	done
	run=$(pgrep -P "$job" | head -n 1)
	if [ ! -e "$d/root/ready" ] || [ -z "$run" ]; then
		wait "$job"
		rc=$?
		fail "$label" "guest never started ($(rc_text $rc))" "$d/err"
		return
	fi
	pids=$(agents_of "$run")
	# shellcheck disable=SC2086 # one argument per pid
	if ! python3 "$HERE/leak.py" "$CVMM" $pids >"$d/leak.tmp" \
		2>"$d/leak.err"; then
		kill -TERM "$job" 2>/dev/null # timeout passes it on to cvmm
		wait "$job"
		fail "$label" "leak.py failed (agents ${pids//$'\n'/ })" \
			"$d/leak.err"
		return
	fi
	mv -- "$d/leak.tmp" "$d/root/leak"
	[ "$VERBOSE" = 1 ] && sed 's/^/  leak: /' "$d/root/leak"
	wait "$job"
	rc=$?
	diff -u --label native --label "cvmm -n $n" "$SCRATCH/native/out" \
		"$d/out" >"$d/diff"
	if [ $rc != 0 ]; then
		cat "$d/diff" "$d/err" >"$d/detail"
		fail "$label" "$(rc_text $rc)" "$d/detail"
	elif [ -s "$d/diff" ]; then
		fail "$label" "stdout differs from native ($(grep -c '^+[^+]' \
			"$d/diff") cases)" "$d/diff"
	elif grep -q 'internal error' "$d/err"; then
		fail "$label" "agent error" "$d/err"
	else
		pass "$label"
	fi
}

nskip=0
if ! native; then
	:
elif ! command -v setarch >/dev/null || ! command -v pgrep >/dev/null; then
	echo "SKIP badptr under cvmm: no setarch or pgrep (util-linux, procps)"
	nskip=2
else
	on_cvmm 1
	on_cvmm 2
fi
if [ "$nskip" -gt 0 ]; then
	echo "$npass passed, $nfail failed, $nskip skipped"
else
	echo "$npass passed, $nfail failed"
fi
[ "$nfail" = 0 ]
