#!/usr/bin/env bash
# Integration test of the SPLASH-2-class workloads (bench/workloads/): each
# runs at a small size with 4 threads, natively once and then under
# "cvmm run -v V --root DIR -- workload ..." for each V in $VCPUS. The
# native run must exit 0 and end with "NAME: PASS"; every cvmm run must
# exit 0 with exactly the native stdout (the workloads print only values
# that do not depend on the thread count or the timing). Each run gets a
# fresh empty directory as cwd, which is also cvmm's --root.
#
# Usage: test/integration/run_workloads.sh [NAME_REGEX]
#   (normally through "make workloads-test" or "make test")
#
# Environment:
#   BUILD        build directory (default: build)
#   CVMM         cvmm binary (default: $BUILD/cvmm)
#   WORKLOADS    workload binaries (default: $BUILD/workloads)
#   VCPUS        vCPU counts to run under (default: "1 2 4")
#   THREADS      threads per workload, the -p flag (default: 4)
#   TIMEOUT      seconds allowed per run, SIGKILL 5 s later (default: 120)
#   FILTER       extended regex on workload names, like the argument
#   NATIVE_ONLY  1: run and check the workloads natively only (no cvmm)
#   KEEP         1: keep the scratch directory (outputs of every run)
#   VERBOSE      1: print every command run
#
# Output: one line per check, "PASS name -v 2" or "FAIL name -v 2: reason"
# followed by a short indented detail, then "N passed, M failed" alone on
# the last line. Exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=${CVMM:-$BUILD/cvmm}
WORKLOADS=${WORKLOADS:-$BUILD/workloads}
VCPUS=${VCPUS:-1 2 4}
THREADS=${THREADS:-4}
TIMEOUT=${TIMEOUT:-120}
FILTER=${1:-${FILTER:-}}
NATIVE_ONLY=${NATIVE_ONLY:-0}
KEEP=${KEEP:-0}
VERBOSE=${VERBOSE:-0}

CVMM=$(realpath -m -- "$CVMM")
WORKLOADS=$(realpath -m -- "$WORKLOADS")

# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init cvmm-wl

# run PREFIX CMD...: runs CMD in the fresh directory PREFIX.d with stdin
# /dev/null, writing PREFIX.out, PREFIX.err and PREFIX.rc. The word @DIR@
# in CMD is replaced by that directory.
run() {
	local prefix=$1 dir=$1.d
	shift
	local -a cmd=("${@//@DIR@/$dir}")

	mkdir -p -- "$dir"
	[ "$VERBOSE" = 1 ] && echo "  run (in $dir): ${cmd[*]}"
	(
		cd "$dir" || exit 99
		timeout -k 5 "$TIMEOUT" "${cmd[@]}" </dev/null \
			>"$prefix.out" 2>"$prefix.err"
	) 2>/dev/null
	echo $? >"$prefix.rc"
}

# detail PREFIX: the heads of a run's stdout and stderr, for a message.
detail() {
	local out=$SCRATCH/.detail
	{
		echo "stdout:"
		tail -n 4 -- "$1.out"
		echo "stderr:"
		head -n 4 -- "$1.err"
	} >"$out"
	echo "$out"
}

# wcase NAME ARGS...: workload NAME with ARGS (plus -p $THREADS), natively
# and then under cvmm -v V for each V in VCPUS.
wcase() {
	local name=$1 bin=$WORKLOADS/$1
	shift
	[ -z "$FILTER" ] || [[ $name =~ $FILTER ]] || return 0
	local -a args=("$@" -p "$THREADS")
	local d=$SCRATCH/$name n c rc v
	mkdir -p -- "$d"
	n=$d/native

	if [ ! -x "$bin" ]; then
		fail "$name native" "no workload binary at $bin (make workloads)"
		return
	fi
	run "$n" "$bin" "${args[@]}"
	rc=$(cat "$n.rc")
	if [ "$rc" != 0 ]; then
		fail "$name native" "$(rc_text "$rc")" "$(detail "$n")"
		return
	fi
	if ! tail -n 1 -- "$n.out" | grep -q "^$name: PASS"; then
		fail "$name native" "last line is not '$name: PASS'" \
			"$(detail "$n")"
		return
	fi
	pass "$name native"
	[ "$NATIVE_ONLY" = 1 ] && return 0
	for v in $VCPUS; do
		c=$d/v$v
		if [ ! -x "$CVMM" ]; then
			fail "$name -v $v" "no cvmm binary at $CVMM"
			continue
		fi
		run "$c" "$CVMM" run -v "$v" --root @DIR@ -- "$bin" "${args[@]}"
		rc=$(cat "$c.rc")
		if [ "$rc" != 0 ]; then
			fail "$name -v $v" "$(rc_text "$rc"), native 0" \
				"$(detail "$c")"
		elif ! cmp -s "$n.out" "$c.out"; then
			diff -u --label "native stdout" --label "cvmm stdout" \
				"$n.out" "$c.out" | head -n 12 >"$SCRATCH/.detail"
			fail "$name -v $v" "stdout differs" "$SCRATCH/.detail"
		else
			pass "$name -v $v"
		fi
	done
}

if [ "$NATIVE_ONLY" = 1 ]; then
	echo "NATIVE_ONLY=1: checking the workloads natively only"
elif [ ! -x "$CVMM" ]; then
	echo "warning: no cvmm binary at $CVMM: every cvmm check will fail" >&2
fi

# Small sizes: each well under 0.3 s natively with 4 threads.
wcase fft -m 18
wcase lu -n 384 -b 16
wcase radix -n 1048576 -r 1024
wcase ocean -n 384
wcase water -n 500 -s 20
wcase barnes -n 3000 -s 2
wcase is -n 262144 -m 16384
wcase stencil -n 256 -s 100

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
