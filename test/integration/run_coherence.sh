#!/usr/bin/env bash
# Integration tests of multi-node coherence: guest threads spread over node
# agents (round-robin), memory kept coherent page by page.
#  guests   every case of run_guests.sh under "cvmm run -n 2 -v 2" and
#           "cvmm run -n 4 -v 4" (run_guests.sh with NODES, VCPUS), output
#           and status compared with the native run as it does;
#  litmus   "litmus all 100000" under -n 2 -v 2 and -n 4 -v 4 exits 0 with
#           every test's line saying "forbidden 0" (the sb test's
#           tso-relaxed count is shown: under SC it should be 0);
#  ahead    faultbench under -n 2 -v 2 with --read-ahead 16 and 0: both
#           exit 0 with its result line; with read-ahead the guest takes
#           at most 3/4 of the read faults it takes without (its last
#           phase reads 512 pages in address order), and no more writes;
#  fft4     fft at its default size (4 Mi points), -p 4, natively and under
#           "cvmm run -n 4 -v 4": the same stdout, ending "fft: PASS"
#           (~50 s here). Four agents on two cpus with every page moving
#           in batches: three such runs in a row failed on a send buffer
#           that a handler, run inside a send of the same thread, reused
#           (smaller sizes never did); the race is timing-dependent (the
#           same binary then passed four times), so this is a check of
#           full-size correctness on four nodes, not a proof of the fix;
#  lost     "cvmm run -n 3 -v 3 -- litmus cmpxchg 400000000" (heavy page
#           traffic); about 1 s in, the agent of node 2 gets SIGKILL: the
#           job must end within 10 s with a non-zero status, exactly one
#           stderr line "cvmm: node 2 lost", and no agent left running.
#
# Usage: test/integration/run_coherence.sh [guests|litmus|ahead|fft4|lost ...]
#   (default: all five parts)
#
# Environment:
#   BUILD, CVMM, GUESTS  as in run_guests.sh
#   WORKLOADS    workload binaries (default: $BUILD/workloads)
#   TIMEOUT      seconds per run, SIGKILL 5 s later (default: 60)
#   FILTER       extended regex on run_guests.sh case names
#   LITMUS_ITERS iterations of "litmus all" (default: 100000)
#   KEEP         1: keep the scratch directory
#
# Output: one line per check, "PASS ..." or "FAIL ...: reason" with a short
# indented detail, then "N passed, M failed". Exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
WORKLOADS=$(realpath -m -- "${WORKLOADS:-$BUILD/workloads}")
TIMEOUT=${TIMEOUT:-60}
FILTER=${FILTER:-}
LITMUS_ITERS=${LITMUS_ITERS:-100000}
KEEP=${KEEP:-0}
LOST_LIMIT=10 # seconds from the kill to the end of the job
HERE=$(dirname "$0")

# shellcheck source=test/integration/lib.sh
. "$HERE/lib.sh"
it_init cvmm-coh

# ---- guests: run_guests.sh on several nodes ---------------------------------

# guests_on N V: run_guests.sh with -n N -v V; its lines are passed through
# and its counts added to ours.
guests_on() {
	local n=$1 v=$2 log=$SCRATCH/guests-n$1.log line
	echo "--- run_guests.sh, cvmm run -n $n -v $v"
	NODES=$n VCPUS=$v BUILD=$BUILD CVMM=$CVMM GUESTS=$GUESTS \
		TIMEOUT=$TIMEOUT FILTER=$FILTER KEEP=0 \
		bash "$HERE/run_guests.sh" 2>&1 | tee "$log" |
		grep -Ev '^[0-9]+ passed, [0-9]+ failed$'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		fail "run_guests.sh -n $n -v $v" "no summary line" "$log"
		return
	fi
	npass=$((npass + $(echo "$line" | cut -d' ' -f1)))
	nfail=$((nfail + $(echo "$line" | cut -d' ' -f3)))
}

# ---- litmus -------------------------------------------------------------------

# litmus_on N V: litmus all under -n N -v V.
litmus_on() {
	local n=$1 v=$2 p=$SCRATCH/litmus-n$1 label rc lines relaxed
	label="litmus all $LITMUS_ITERS -n $n -v $v"
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n "$n" \
		-v "$v" -- "$GUESTS/litmus" all "$LITMUS_ITERS" \
		>"$p.out" 2>"$p.err")
	rc=$?
	lines=$(grep -c '^litmus [a-z0-9+]*: [0-9]* iterations, forbidden 0,' \
		"$p.out")
	relaxed=$(grep -o 'tso-relaxed [0-9]*' "$p.out" | cut -d' ' -f2)
	if [ $rc != 0 ]; then
		cat "$p.out" "$p.err" >"$p.detail"
		fail "$label" "$(rc_text $rc)" "$p.detail"
	elif [ "$lines" != 7 ]; then
		fail "$label" "$lines of 7 tests report forbidden 0" "$p.out"
	elif [ "${relaxed:-0}" != 0 ]; then
		# The workers run on different nodes: cvmm's memory is
		# sequentially consistent there, stronger than x86-TSO.
		fail "$label" "store buffering seen $relaxed times across nodes" \
			"$p.out"
	else
		pass "$label (sb tso-relaxed ${relaxed:-?})"
	fi
}

# ---- ahead: read-ahead on a walk through memory --------------------------------

# Prints "READS WRITES" from a --stats file.
fault_counts() {
	python3 -c 'import json, sys
f = json.load(open(sys.argv[1]))["faults"]
print(f["read"], f["write"])' "$1" 2>/dev/null
}

ahead_check() {
	local p=$SCRATCH/ahead label="read-ahead: faultbench -n 2 -v 2" ra rc
	local on off
	for ra in 16 0; do
		(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 2 \
			--read-ahead "$ra" --stats="$p-$ra.json" -- \
			"$GUESTS/faultbench" >"$p-$ra.out" 2>"$p-$ra.err")
		rc=$?
		if [ $rc != 0 ] || ! grep -q '^faultbench .*fault_read_seq_us=' \
			"$p-$ra.out"; then
			cat "$p-$ra.out" "$p-$ra.err" >"$p.detail"
			fail "$label --read-ahead $ra" "$(rc_text $rc) or no result" \
				"$p.detail"
			return
		fi
	done
	on=$(fault_counts "$p-16.json")
	off=$(fault_counts "$p-0.json")
	if [ -z "$on" ] || [ -z "$off" ]; then
		fail "$label" "no fault counts in the --stats files" "$p-16.err"
	elif [ $((${on% *} * 4)) -gt $((${off% *} * 3)) ] ||
		[ "${on#* }" -gt $((${off#* } + 16)) ]; then
		fail "$label" "reads+writes with read-ahead $on, without $off" \
			"$p-16.out"
	else
		pass "$label: reads+writes $on with read-ahead, $off without"
	fi
}

# ---- lost: a node killed under page traffic ------------------------------------

# Prints the pid of the agent with rank $2 among the children of pid $1.
agent_pid() {
	local p
	for p in $(pgrep -P "$1"); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "CVMM_BOOT_RANK=$2"; then
			echo "$p"
			return
		fi
	done
}

# alive PID...: prints those of the pids still running (not zombies).
alive() {
	local p st
	for p in "$@"; do
		st=$(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$p"
	done
}

lost_check() {
	local label="lost node 2 under page traffic (-n 3 -v 3)"
	local p=$SCRATCH/lost sub l victim r t0 t1 secs rc lines left
	local -a agents=()

	(cd "$SCRATCH" && exec timeout -k 5 "$TIMEOUT" "$CVMM" run -n 3 \
		-v 3 -- "$GUESTS/litmus" cmpxchg 400000000 >"$p.out" \
		2>"$p.err") &
	sub=$!
	# The launcher (timeout's child) and its three agents.
	for _ in $(seq 1 100); do
		l=$(pgrep -P $sub)
		if [ -n "$l" ]; then
			agents=()
			for r in 0 1 2; do
				agents+=("$(agent_pid "$l" $r)")
			done
			[ -n "${agents[2]}" ] && [ -n "${agents[1]}" ] &&
				[ -n "${agents[0]}" ] && break
		fi
		sleep 0.1
	done
	victim=${agents[2]:-}
	if [ -z "$victim" ]; then
		kill -KILL $sub 2>/dev/null
		wait $sub
		fail "$label" "agent of node 2 not found" "$p.err"
		return
	fi
	sleep 1
	if [ -s "$p.out" ] || ! kill -0 "$victim" 2>/dev/null; then
		kill -KILL $sub 2>/dev/null
		wait $sub
		cat "$p.out" "$p.err" >"$p.detail"
		fail "$label" "the job ended before the kill" "$p.detail"
		return
	fi
	t0=$(date +%s.%N)
	kill -KILL "$victim"
	for _ in $(seq 1 $((LOST_LIMIT * 10))); do
		kill -0 $sub 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 $sub 2>/dev/null; then
		kill -KILL "$l" $sub 2>/dev/null
		wait $sub
		left=$(alive "${agents[@]}")
		[ -n "$left" ] && kill -KILL $left 2>/dev/null
		fail "$label" "still running ${LOST_LIMIT} s after the kill" \
			"$p.err"
		return
	fi
	wait $sub
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	lines=$(grep -c 'cvmm: node 2 lost' "$p.err")
	sleep 0.2 # agents killed by the launcher: let them be reaped
	left=$(alive "${agents[@]}")
	if [ $rc = 0 ]; then
		fail "$label" "cvmm run exited 0" "$p.err"
	elif [ "$lines" != 1 ]; then
		fail "$label" "$lines stderr lines 'cvmm: node 2 lost', want 1" \
			"$p.err"
	elif [ -n "$left" ]; then
		kill -KILL $left 2>/dev/null
		fail "$label" "agents still running: pids $(echo $left)" "$p.err"
	else
		pass "$label: ended in $secs s, status $rc"
	fi
}

# ---- a workload at full size on four nodes -----------------------------------

fft4_check() {
	local d=$SCRATCH/fft4 rc label="fft -p 4 (-n 4 -v 4, default size)"

	mkdir -p "$d/n" "$d/c"
	if [ ! -x "$WORKLOADS/fft" ]; then
		fail "$label" "no workload binary at $WORKLOADS/fft (make workloads)"
		return
	fi
	(cd "$d/n" && timeout -k 5 300 "$WORKLOADS/fft" -p 4 \
		</dev/null >"$d/native.out" 2>"$d/native.err")
	(cd "$d/c" && timeout -k 5 300 "$CVMM" run -n 4 -v 4 --root "$d/c" \
		-- "$WORKLOADS/fft" -p 4 </dev/null >"$d/cvmm.out" \
		2>"$d/cvmm.err")
	rc=$?
	if [ $rc != 0 ]; then
		fail "$label" "$(rc_text $rc)" "$d/cvmm.err"
	elif ! tail -n 1 "$d/native.out" | grep -q '^fft: PASS'; then
		fail "$label" "the native run did not pass" "$d/native.out"
	elif ! cmp -s "$d/native.out" "$d/cvmm.out"; then
		fail "$label" "stdout differs from the native run" "$d/cvmm.out"
	else
		pass "$label: native output"
	fi
}

# ---- main ---------------------------------------------------------------------

if [ ! -x "$CVMM" ]; then
	echo "no cvmm binary at $CVMM (run make)" >&2
	exit 1
fi
if [ ! -x "$GUESTS/litmus" ]; then
	echo "no guests in $GUESTS (run make guests)" >&2
	exit 1
fi
parts=${*:-guests litmus ahead fft4 lost}
for part in $parts; do
	case $part in
	guests)
		guests_on 2 2
		guests_on 4 4
		;;
	litmus)
		litmus_on 2 2
		litmus_on 4 4
		;;
	ahead)
		ahead_check
		;;
	fft4)
		fft4_check
		;;
	lost)
		lost_check
		;;
	*)
		echo "unknown part $part (guests, litmus, ahead, fft4 or lost)" >&2
		exit 2
		;;
	esac
done

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
