#!/usr/bin/env bash
# Integration test of --memory-model=release (docs/coherence.md, "The
# release memory model"): real agents, real static guests.
#   - data-race-free guests (locks, condition variables, barriers, rwlocks,
#     semaphores, robust mutexes, malloc across threads, pipes, TLS, the
#     litmus pattern made of atomics) and the workloads at
#     small sizes give the native output on 2 and 4 nodes (the OpenMP
#     guest is not among them yet: docs/coherence.md, "Not there yet");
#   - radix and barnes on 2 nodes 40 times each (RADIX_REPEAT,
#     BARNES_REPEAT), native each time;
#   - a racy guest (two nodes storing to the same bytes of a data page
#     homed on a third, unordered) stops
#     the VM with one "data race" line and status 125, or with
#     --on-race=warn goes on and exits 0 with the warning;
#   - a guest spinning on a plain flag (C11 release/acquire as x86 compiles
#     it: nothing the VM sees) finishes (bounded staleness);
#   - agents given different --memory-model refuse to start;
#   - twins ahead (--twin-ahead): the stencil gives the native output with
#     them and without, and takes fewer data-page faults with them; a
#     value out of range is refused with one line;
#   - forwards that arrive together leave together: fft's transposes hand
#     synchronization-protocol pages on in batches, and under the release
#     model they take no more transport messages than under the
#     sequential one (within half again; one grant per message was 2.6x).
#
# Usage: test/integration/run_release.sh [NAME_REGEX]
#   BUILD, CVMM, GUESTS, WORKLOADS, TIMEOUT (per run, default 120), KEEP
set -u
BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
WORKLOADS=$(realpath -m -- "${WORKLOADS:-$BUILD/workloads}")
TIMEOUT=${TIMEOUT:-120}
KEEP=${KEEP:-0}
FILTER=${1:-}
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init cvmm-rel
unset OMP_NUM_THREADS OMP_DYNAMIC GOMP_SPINCOUNT

selected() {
	[ -z "$FILTER" ] || [[ $1 =~ $FILTER ]]
}

# run_pair LABEL NODES VCPUS BIN ARGS...: BIN natively (stdout and stderr
# in native.out, status in nrc) and under the release model (out, err,
# rc); false, with a failure reported, when BIN is missing
run_pair() {
	local label=$1 n=$2 v=$3 bin=$4
	shift 4
	if [ ! -x "$bin" ]; then
		fail "$label" "no binary at $bin (make guests workloads)"
		return 1
	fi
	"$bin" "$@" >"$SCRATCH/native.out" 2>&1
	nrc=$?
	timeout -k 5 "$TIMEOUT" "$CVMM" run -n "$n" -v "$v" \
		--memory-model=release -- "$bin" "$@" \
		>"$SCRATCH/out" 2>"$SCRATCH/err"
	rc=$?
}

# same LABEL NODES VCPUS BIN ARGS...: native and release-model output equal
same() {
	local label=$1 rc nrc

	selected "$label" || return 0
	run_pair "$@" || return
	if [ "$rc" != "$nrc" ]; then
		cat "$SCRATCH/err" "$SCRATCH/out" >"$SCRATCH/detail"
		fail "$label" "$(rc_text "$rc"), native $nrc" "$SCRATCH/detail"
	elif ! diff -u "$SCRATCH/native.out" "$SCRATCH/out" >"$SCRATCH/diff"; then
		fail "$label" "output differs from native" "$SCRATCH/diff"
	else
		pass "$label"
	fi
}

# same_or_race LABEL NODES VCPUS BIN ARGS...: as same, or the VM stopped
# with exactly one data-race line (status 125)
same_or_race() {
	local label=$1 rc nrc races

	selected "$label" || return 0
	run_pair "$@" || return
	races=$(grep -c '^cvmm: data race: nodes' "$SCRATCH/err")
	if [ "$rc" = "$nrc" ] && cmp -s "$SCRATCH/native.out" "$SCRATCH/out"
	then
		pass "$label"
	elif [ "$rc" = 125 ] && [ "$races" = 1 ]; then
		pass "$label: stopped with a reported race"
	else
		cat "$SCRATCH/err" "$SCRATCH/out" >"$SCRATCH/detail"
		fail "$label" "$(rc_text "$rc"), native $nrc, $races race lines" \
			"$SCRATCH/detail"
	fi
}

for n in 2 4; do
	# tlssem: semaphores in threads' TLS posted by atomics next to
	# plain stores of two threads (stopped with a race line or hung in
	# about 1 run of 3 while thread stack tops could become data pages)
	for g in mutex condvar barrier rwlock sem robust malloc pipe tls \
		tlssem; do
		same "$g -n $n" "$n" 4 "$GUESTS/$g"
	done
	# the litmus pattern made of atomics (the others are plain stores and
	# loads: data races, which this model does not promise to order)
	same "litmus cmpxchg -n $n" "$n" 4 "$GUESTS/litmus" cmpxchg 2000
done
for n in 2 4; do
	same "fft -n $n" "$n" 4 "$WORKLOADS/fft" -m 14 -p 4
	same "lu -n $n" "$n" 4 "$WORKLOADS/lu" -n 128 -b 16 -p 4
	same "radix -n $n" "$n" 4 "$WORKLOADS/radix" -n 65536 -r 256 -p 4
	same "ocean -n $n" "$n" 4 "$WORKLOADS/ocean" -n 128 -p 4
	same "water -n $n" "$n" 4 "$WORKLOADS/water" -n 216 -s 3 -p 4
	# barnes reads child pointers with a locked read-modify-write: with a
	# plain acquire load (a mov, unseen) the tree came out wrong or the
	# guest crashed in about 1 run in 100 here
	same "barnes -n $n" "$n" 4 "$WORKLOADS/barnes" -n 512 -s 2 -p 4
	same "is -n $n" "$n" 4 "$WORKLOADS/is" -n 65536 -m 4096 -p 4
	same "stencil -n $n" "$n" 4 "$WORKLOADS/stencil" -n 128 -s 20 -p 4
done

# repeated LABEL COUNT CMD...: CMD on 2 nodes COUNT times, native output
# each time (one PASS, or one FAIL naming the first run that differed)
repeated() {
	local label=$1 count=$2 bad= i
	shift 2
	selected "$label" || return 0
	for i in $(seq 1 "$count"); do
		run_pair "$label" 2 4 "$@" || { bad=missing; break; }
		if [ "$rc" != "$nrc" ] ||
		   ! cmp -s "$SCRATCH/native.out" "$SCRATCH/out"; then
			bad="run $i: $(rc_text "$rc"), native $nrc"
			cat "$SCRATCH/err" "$SCRATCH/out" >"$SCRATCH/detail"
			break
		fi
	done
	if [ -z "$bad" ]; then
		pass "$label: native each time"
	elif [ "$bad" != missing ]; then
		fail "$label" "$bad" "$SCRATCH/detail"
	fi
}

# Promotion's races with faults at the home are rare per run (a stale
# writable mapping at the home lost writes about 1 run of radix in 100,
# docs/coherence.md "Sequential first"): radix again and again, each run
# native (0.2 s each)
repeated "radix repeated ${RADIX_REPEAT:-40} times -n 2" "${RADIX_REPEAT:-40}" \
	"$WORKLOADS/radix" -n 65536 -r 256 -p 4
# barnes' tree built with acquire loads (unseen) came out wrong about 1
# run in 100; with locked reads 0 of 600 (0.1 s each)
repeated "barnes repeated ${BARNES_REPEAT:-40} times -n 2" \
	"${BARNES_REPEAT:-40}" "$WORKLOADS/barnes" -n 512 -s 2 -p 4

# a race stops the VM; --on-race=warn goes on
if selected racy; then
	timeout -k 5 "$TIMEOUT" "$CVMM" run -n 3 -v 3 --memory-model=release \
		-- "$GUESTS/racy" >"$SCRATCH/out" 2>"$SCRATCH/err"
	rc=$?
	n=$(grep -c '^cvmm: data race: nodes [12] and [12] wrote guest address 0x' \
		"$SCRATCH/err")
	if [ "$rc" = 125 ] && [ "$n" = 1 ] && ! grep -q done "$SCRATCH/out"; then
		pass "racy: stopped with one line"
	else
		cat "$SCRATCH/err" >"$SCRATCH/detail"
		fail "racy: stopped with one line" \
			"$(rc_text "$rc"), $n race lines" "$SCRATCH/detail"
	fi
	timeout -k 5 "$TIMEOUT" "$CVMM" run -n 3 -v 3 --memory-model=release \
		--on-race=warn -- "$GUESTS/racy" >"$SCRATCH/out" 2>"$SCRATCH/err"
	rc=$?
	if [ "$rc" = 0 ] && grep -q '^done$' "$SCRATCH/out" &&
	   grep -q '^cvmm: warn: data race: nodes' "$SCRATCH/err"; then
		pass "racy --on-race=warn: warned, went on"
	else
		cat "$SCRATCH/err" "$SCRATCH/out" >"$SCRATCH/detail"
		fail "racy --on-race=warn: warned, went on" "$(rc_text "$rc")" \
			"$SCRATCH/detail"
	fi
	# a data-race-free guest never reports one
	timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 4 --memory-model=release \
		--on-race=warn -- "$GUESTS/barrier" >"$SCRATCH/out" 2>"$SCRATCH/err"
	if grep -q 'data race' "$SCRATCH/err"; then
		fail "barrier: no race reported" "a race line" "$SCRATCH/err"
	else
		pass "barrier: no race reported"
	fi
fi

# The OpenMP guest (gcc -fopenmp -static: reductions, barriers, critical,
# atomics, schedules, locks, ordered, tasks): native output, or a stop with
# one data-race line. The locks it was seen to take unseen (glibc's thread
# arena headers, libgomp's semaphores in threads' TLS) stay sequentially
# consistent now, but an atomic on a data page that is writable on its
# node still goes unseen in general (docs/coherence.md, "Not there yet"),
# which the race detector then reports; what must never happen is a hang,
# a crash or a wrong result.
if [ -x "$GUESTS/omp" ]; then
	same_or_race "omp -n 2" 2 4 "$GUESTS/omp"
	same_or_race "omp -n 4" 4 4 "$GUESTS/omp"
fi

# a plain flag spun on: finishes by bounded staleness
same "spinflag -n 2" 2 2 "$GUESTS/spinflag"

# agents that disagree on the model refuse to start
if selected mismatch; then
	tdir=$SCRATCH/mm
	mkdir -p "$tdir"
	port=$(free_port)
	for r in 0 1; do
		m=sequential
		[ "$r" = 1 ] && m=release
		CVMM_JOB_COOKIE=0123456789abcdef timeout -k 5 60 \
			"$CVMM" agent --rank "$r" --size 2 \
			--coordinator "127.0.0.1:$port" --memory-model=$m \
			-v 2 -- "$GUESTS/hello" >"$tdir/out$r" 2>"$tdir/err$r" &
	done
	wait
	if grep -q 'give every agent the same --memory-model' \
		"$tdir/err0" "$tdir/err1"; then
		pass "mismatched --memory-model refused"
	else
		cat "$tdir/err0" "$tdir/err1" >"$SCRATCH/detail"
		fail "mismatched --memory-model refused" "no such line" \
			"$SCRATCH/detail"
	fi
fi

# stats_run DIR NAME LABEL ARGS...: cvmm run -n 2 -v 2 ARGS (options, --,
# the guest and its arguments) in DIR with --stats=DIR/NAME.json; false,
# with a failure reported as LABEL, unless it exits 0 with DIR/native's
# output
stats_run() {
	local d=$1 name=$2 label=$3 rc
	shift 3
	(cd "$d" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 2 \
		--stats="$d/$name.json" "$@" >"$d/out.$name" 2>"$d/err.$name")
	rc=$?
	if [ $rc != 0 ] || ! cmp -s "$d/native" "$d/out.$name"; then
		cat "$d/out.$name" "$d/err.$name" >"$d/detail"
		fail "$label" "$(rc_text $rc) or not the native output" \
			"$d/detail"
		return 1
	fi
}

# stat_of FILE EXPR: EXPR (Python) of the --stats document d in FILE
stat_of() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# twins ahead: a stencil's rows are written every sweep, so with them a
# write fault makes the next pages writable too (far fewer faults on data
# pages); output native either way
if selected twin; then
	tdir=$SCRATCH/twin
	mkdir -p "$tdir"
	"$WORKLOADS/stencil" -n 256 -s 40 -p 2 >"$tdir/native" 2>&1
	ok=1
	for t in 16 0; do
		stats_run "$tdir" "$t" "stencil -n 2 --twin-ahead $t" \
			--memory-model=release --twin-ahead "$t" -- \
			"$WORKLOADS/stencil" -n 256 -s 40 -p 2 || ok=0
	done
	if [ $ok = 1 ]; then
		on=$(stat_of "$tdir/16.json" 'd["release"]["data_page_faults"]')
		off=$(stat_of "$tdir/0.json" 'd["release"]["data_page_faults"]')
		if [ "$on" -gt 0 ] && [ $((on * 2)) -lt "$off" ]; then
			pass "stencil -n 2 --twin-ahead 16 and 0: native output, \
data-page faults $on against $off"
		else
			fail "stencil -n 2 --twin-ahead" "data-page faults $on \
with twins ahead, $off without (want under half)" /dev/null
		fi
	fi
	timeout -k 5 60 "$CVMM" run -n 2 -v 2 --memory-model=release \
		--twin-ahead 65 -- "$GUESTS/hello" >"$tdir/bad.out" \
		2>"$tdir/bad.err"
	rc=$?
	if [ $rc != 0 ] && grep -q 'twin-ahead 65: must be 0 to 64' \
		"$tdir/bad.err"; then
		pass "--twin-ahead 65 refused with one line"
	else
		cat "$tdir/bad.out" "$tdir/bad.err" >"$tdir/detail"
		fail "--twin-ahead 65 refused" "$(rc_text $rc), no such line" \
			"$tdir/detail"
	fi
fi

# forwards of one transport message run (and are granted) together, inline
# or after one release by the release thread: messages per run as under the
# sequential model, where they always were
if selected batch; then
	tdir=$SCRATCH/batch
	mkdir -p "$tdir"
	"$WORKLOADS/fft" -m 16 -p 2 >"$tdir/native" 2>&1
	ok=1
	for m in sequential release; do
		stats_run "$tdir" "$m" "fft -m 16 -n 2 --memory-model=$m" \
			--memory-model=$m -- "$WORKLOADS/fft" -m 16 -p 2 || ok=0
	done
	if [ $ok = 1 ]; then
		sc=$(stat_of "$tdir/sequential.json" 'sum(d["messages"].values())')
		rel=$(stat_of "$tdir/release.json" 'sum(d["messages"].values())')
		if [ "$sc" -gt 0 ] && [ $((rel * 2)) -le $((sc * 3)) ]; then
			pass "fft -m 16 -n 2: native output, $rel transport \
messages under the release model against $sc"
		else
			fail "fft -m 16 -n 2 messages" "$rel transport messages \
under the release model, $sc under the sequential one (want at most 1.5x)" \
				/dev/null
		fi
	fi
fi

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
