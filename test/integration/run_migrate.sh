#!/usr/bin/env bash
# Integration tests of guest threads that move between nodes (real agent
# processes: cvmm run -n N starts them; docs/coherence.md, "Threads that
# move"):
#  forced   test/guests/migrate (threads, mutexes, a barrier, a condvar
#           token ring, registers and FPU state checked around faults and
#           syscalls, a 1 MiB array's checksum) under --migrate-every on
#           "-n 2 -v 2", "-n 3 -v 3" and "-n 2 -v 2 --entry seccomp":
#           stdout and exit status exactly the native ones; in --stats
#           every worker moved, every node's threads out and in add up to
#           the total and so do the threads'; each worker's gettid() at
#           its end is the one at its start and is a tid the stats count
#           moves of;
#  litmus   "litmus all" under -n 2 -v 2 --migrate-every 10: exits 0, all 7
#           tests "forbidden 0", no store buffering across nodes, threads
#           moved;
#  auto     --placement auto: "migrate follow 8 3" on -n 2 -v 4 (the
#           worker's data, 8 MiB, is on main's node; with 2 MiB read-ahead
#           left it fewer than the 32 remote faults a move needs in most
#           runs on a 2-CPU VM) moves the worker there (its tid, as
#           gettid() says at both ends, in the stats with one move or
#           more), output native; the same on -n 2 -v 2 moves nothing
#           (node 0's one vCPU has main: the balance rule); fib, whose
#           threads share little, moves nothing either;
#  live     "migrate nest" (main leaves with pthread_exit, a thread starts
#           three more, some on its own node and some on others) ends with
#           status 0 after its last line, not before and not never, on
#           "-n 2 -v 2" and under --migrate-every on "-n 3 -v 3": node 0
#           counts every thread once, wherever it was made, started or
#           moved;
#  options  --migrate-every from the environment and from a config file
#           moves threads; a negative one is refused with one line.
#
# Usage: test/integration/run_migrate.sh [forced|litmus|auto|live|options ...]
#   (default: all five)
#
# Environment:
#   BUILD, CVMM, GUESTS  as in run_guests.sh
#   TIMEOUT      seconds per run, SIGKILL 5 s later (default: 120)
#   ROUNDS       rounds of "migrate 4 ROUNDS" (default: 20)
#   LITMUS_ITERS iterations of "litmus all" (default: 100000)
#   KEEP         1: keep the scratch directory
#
# Output: one line per check, "PASS ..." or "FAIL ...: reason" with a short
# indented detail, then "N passed, M failed". Exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
TIMEOUT=${TIMEOUT:-120}
ROUNDS=${ROUNDS:-20}
LITMUS_ITERS=${LITMUS_ITERS:-100000}
KEEP=${KEEP:-0}
HERE=$(dirname "$0")

# shellcheck source=test/integration/lib.sh
. "$HERE/lib.sh"
it_init cvmm-mig

# ---- helpers -------------------------------------------------------------------

# native NAME ARGS...: the guest natively, into $SCRATCH/NAME.native.{out,rc}.
native() {
	local p=$SCRATCH/$1
	shift
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$@" >"$p.native.out" \
		2>"$p.native.err")
	echo $? >"$p.native.rc"
}

# under NAME FLAGS... -- GUEST ARGS...: cvmm run FLAGS --stats=NAME.json
# into $SCRATCH/NAME.{out,err,rc}.
under() {
	local p=$SCRATCH/$1
	shift
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" env "${RUN_ENV[@]}" \
		"$CVMM" run --stats="$p.json" "$@" >"$p.out" 2>"$p.err")
	echo $? >"$p.rc"
}
RUN_ENV=()

# same LABEL NAME: NAME's cvmm run printed and exited as natively; returns
# 1 after a FAIL.
same() {
	local label=$1 p=$SCRATCH/$2
	if [ "$(cat "$p.rc")" != "$(cat "$p.native.rc")" ]; then
		cat "$p.out" "$p.err" >"$p.detail"
		fail "$label" "$(rc_text "$(cat "$p.rc")"), natively \
$(cat "$p.native.rc")" "$p.detail"
		return 1
	fi
	if ! diff "$p.native.out" "$p.out" >"$p.diff"; then
		fail "$label" "output differs from native" "$p.diff"
		return 1
	fi
}

# tids NAME: the guest's "tid A start B end" lines into NAME.json.tids (the
# A of each); fails (returns 1) when a line has A != B or none are there.
tids() {
	local p=$SCRATCH/$1 bad
	grep -E '^tid [0-9]+ start [0-9]+ end$' "$p.err" |
		awk '{ print $2 }' >"$p.json.tids"
	bad=$(grep -E '^tid [0-9]+ start [0-9]+ end$' "$p.err" |
		awk '$2 != $4')
	if [ -n "$bad" ] || [ ! -s "$p.json.tids" ]; then
		echo "${bad:-no tid lines}" >"$p.why"
		return 1
	fi
}

# ---- forced ---------------------------------------------------------------------

# forced_on LABEL NODES EVERY FLAGS...: migrate 4 ROUNDS under -n NODES.
forced_on() {
	local label=$1 n=$2 every=$3 name msg
	shift 3
	name=forced-n$n-$every
	RUN_ENV=(MIGRATE_TIDS=1)
	under "$name" -n "$n" -v "$n" --migrate-every "$every" "$@" -- \
		"$GUESTS/migrate" 4 "$ROUNDS"
	RUN_ENV=()
	cp "$SCRATCH/work.native.out" "$SCRATCH/$name.native.out"
	cp "$SCRATCH/work.native.rc" "$SCRATCH/$name.native.rc"
	same "$label: output" "$name" || return
	if ! grep -q ', bad 0; rounding modes bad 0; tids changed 0$' \
		"$SCRATCH/$name.out"; then
		fail "$label: output" "a register check failed" \
			"$SCRATCH/$name.out"
		return
	fi
	pass "$label: output and status native, registers kept"
	if ! tids "$name"; then
		fail "$label: tids" "gettid() changed or was not printed" \
			"$SCRATCH/$name.why"
	elif msg=$(json_check "$SCRATCH/$name.json" "len(tids) == 4 and
	    all(any(t['tid'] == x and t['migrations'] >= 1
	            for t in d['migrations']['per_thread']) for x in tids)"); then
		pass "$label: 4 workers kept their tids and moved"
	else
		echo "$msg" >"$SCRATCH/$name.why"
		fail "$label: tids" "not every worker's tid moved" \
			"$SCRATCH/$name.why"
	fi
	if msg=$(json_check "$SCRATCH/$name.json" "d['nodes'] == $n and
	    len(d['migrations']['per_node']) == $n and
	    [x['node'] for x in d['migrations']['per_node']] ==
	        list(range($n)) and
	    d['migrations']['total'] >= 20 and
	    sum(x['out'] for x in d['migrations']['per_node']) ==
	        d['migrations']['total'] and
	    sum(x['in'] for x in d['migrations']['per_node']) ==
	        d['migrations']['total'] and
	    all(x['out'] > 0 for x in d['migrations']['per_node']) and
	    sum(t['migrations'] for t in d['migrations']['per_thread']) ==
	        d['migrations']['total']"); then
		pass "$label: stats count $(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["migrations"]["total"])' \
			"$SCRATCH/$name.json") migrations on every node"
	else
		echo "$msg" >"$SCRATCH/$name.why"
		fail "$label: stats" "migration counts wrong" \
			"$SCRATCH/$name.why"
	fi
}

part_forced() {
	native work "$GUESTS/migrate" 4 "$ROUNDS"
	if [ "$(cat "$SCRATCH/work.native.rc")" != 0 ]; then
		fail "forced: native run" "migrate exited $(cat \
"$SCRATCH/work.native.rc")" "$SCRATCH/work.native.out"
		return
	fi
	forced_on "forced -n 2 --migrate-every 3" 2 3
	forced_on "forced -n 3 --migrate-every 5" 3 5
	forced_on "forced -n 2 --migrate-every 4 --entry seccomp" 2 4 \
		--entry seccomp
}

# ---- litmus -----------------------------------------------------------------------

part_litmus() {
	local label="litmus all $LITMUS_ITERS -n 2 --migrate-every 10"
	local p=$SCRATCH/litmus rc lines relaxed msg
	under litmus -n 2 -v 2 --migrate-every 10 -- "$GUESTS/litmus" all \
		"$LITMUS_ITERS"
	rc=$(cat "$p.rc")
	lines=$(grep -c '^litmus [a-z0-9+]*: [0-9]* iterations, forbidden 0,' \
		"$p.out")
	relaxed=$(grep -o 'tso-relaxed [0-9]*' "$p.out" | cut -d' ' -f2)
	if [ "$rc" != 0 ]; then
		cat "$p.out" "$p.err" >"$p.detail"
		fail "$label" "$(rc_text "$rc")" "$p.detail"
	elif [ "$lines" != 7 ]; then
		fail "$label" "$lines of 7 tests report forbidden 0" "$p.out"
	elif [ "${relaxed:-0}" != 0 ]; then
		fail "$label" "store buffering seen $relaxed times" "$p.out"
	elif ! msg=$(json_check "$p.json" 'd["migrations"]["total"] >= 100');
	then
		echo "$msg" >"$p.why"
		fail "$label" "threads hardly moved" "$p.why"
	else
		pass "$label: 7 tests forbidden 0, $(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["migrations"]["total"])' "$p.json") \
migrations"
	fi
}

# ---- auto ---------------------------------------------------------------------------

part_auto() {
	local p msg
	native follow "$GUESTS/migrate" follow 8 3
	cp "$SCRATCH/follow.native.out" "$SCRATCH/follow2.native.out"
	cp "$SCRATCH/follow.native.rc" "$SCRATCH/follow2.native.rc"
	RUN_ENV=(MIGRATE_TIDS=1)
	under follow -n 2 -v 4 --placement auto -- "$GUESTS/migrate" follow 8 3
	RUN_ENV=()
	p=$SCRATCH/follow
	if same "auto -n 2 -v 4: follow" follow; then
		if ! tids follow; then
			fail "auto -n 2 -v 4: follow" "gettid() changed" \
				"$p.why"
		elif msg=$(json_check "$p.json" 'len(tids) == 1 and
		    d["migrations"]["total"] >= 1 and
		    d["migrations"]["per_node"][1]["out"] >= 1 and
		    d["migrations"]["per_node"][0]["in"] >= 1 and
		    any(t["tid"] == tids[0] and t["migrations"] >= 1
		        for t in d["migrations"]["per_thread"])'); then
			pass "auto -n 2 -v 4: the worker moved to its data, \
kept its tid, output native"
		else
			echo "$msg" >"$p.why"
			fail "auto -n 2 -v 4: follow" "the worker did not move" \
				"$p.why"
		fi
	fi
	under follow2 -n 2 -v 2 --placement auto -- "$GUESTS/migrate" follow 8 3
	p=$SCRATCH/follow2
	if same "auto -n 2 -v 2: follow" follow2; then
		if msg=$(json_check "$p.json" 'd["migrations"]["total"] == 0');
		then
			pass "auto -n 2 -v 2: no move onto node 0's one busy \
vCPU"
		else
			echo "$msg" >"$p.why"
			fail "auto -n 2 -v 2: follow" "moved onto a full node" \
				"$p.why"
		fi
	fi
	native fib "$GUESTS/fib" 4 25
	under fib -n 2 -v 4 --placement auto -- "$GUESTS/fib" 4 25
	p=$SCRATCH/fib
	if same "auto -n 2 -v 4: fib" fib; then
		if msg=$(json_check "$p.json" 'd["migrations"]["total"] == 0');
		then
			pass "auto -n 2 -v 4: fib's threads stay"
		else
			echo "$msg" >"$p.why"
			fail "auto -n 2 -v 4: fib" "threads moved" "$p.why"
		fi
	fi
}

# ---- live ---------------------------------------------------------------------------

part_live() {
	local p msg
	native nest "$GUESTS/migrate" nest
	for v in "2 0" "3 10"; do
		set -- $v
		p=nest-n$1-$2
		cp "$SCRATCH/nest.native.out" "$SCRATCH/$p.native.out"
		cp "$SCRATCH/nest.native.rc" "$SCRATCH/$p.native.rc"
		under "$p" -n "$1" -v "$1" --migrate-every "$2" -- \
			"$GUESTS/migrate" nest
		same "live: nest -n $1 --migrate-every $2" "$p" || continue
		if [ "$2" != 0 ] && ! msg=$(json_check "$SCRATCH/$p.json" \
			'd["migrations"]["total"] >= 4'); then
			echo "$msg" >"$SCRATCH/$p.why"
			fail "live: nest -n $1 --migrate-every $2" "nothing moved" \
				"$SCRATCH/$p.why"
			continue
		fi
		pass "live: nest -n $1 --migrate-every $2: ends after the last \
thread, status 0"
	done
}

# ---- options ------------------------------------------------------------------------

part_options() {
	local p=$SCRATCH/opt msg rc
	[ -f "$SCRATCH/fib.native.out" ] || native fib "$GUESTS/fib" 4 25
	for how in env config; do
		cp "$SCRATCH/fib.native.out" "$p-$how.native.out"
		cp "$SCRATCH/fib.native.rc" "$p-$how.native.rc"
	done
	RUN_ENV=(CVMM_NODE_MIGRATE_EVERY=2)
	under opt-env -n 2 -v 2 -- "$GUESTS/fib" 4 25
	RUN_ENV=()
	printf 'node.migrate-every = 2\n' >"$SCRATCH/mig.conf"
	under opt-config -n 2 -v 2 --config "$SCRATCH/mig.conf" -- \
		"$GUESTS/fib" 4 25
	for how in env config; do
		same "options: --migrate-every from the $how" "opt-$how" ||
			continue
		if msg=$(json_check "$p-$how.json" \
			'd["migrations"]["total"] >= 4'); then
			pass "options: --migrate-every from the $how moves threads"
		else
			echo "$msg" >"$p-$how.why"
			fail "options: --migrate-every from the $how" \
				"nothing moved" "$p-$how.why"
		fi
	done
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 2 \
		--migrate-every=-1 -- "$GUESTS/hello" >"$p-neg.out" \
		2>"$p-neg.err")
	rc=$?
	if [ $rc = 0 ] || [ $rc = 124 ] || [ $rc = 137 ]; then
		fail "options: --migrate-every -1" "$(rc_text $rc)" "$p-neg.err"
	elif ! grep -q 'migrate-every -1' "$p-neg.err" || [ -s "$p-neg.out" ]
	then
		fail "options: --migrate-every -1" "no line naming it, or the \
guest ran" "$p-neg.err"
	else
		pass "options: --migrate-every -1 refused (status $rc)"
	fi
}

# ---- main ---------------------------------------------------------------------------

if [ ! -x "$CVMM" ]; then
	echo "no cvmm binary at $CVMM (run make)" >&2
	exit 1
fi
for g in migrate litmus fib hello; do
	if [ ! -x "$GUESTS/$g" ]; then
		echo "no guest $g in $GUESTS (run make guests)" >&2
		exit 1
	fi
done
if ! command -v python3 >/dev/null; then
	echo "SKIP run_migrate.sh: python3 not installed (it checks --stats)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
for part in ${*:-forced litmus auto live options}; do
	case $part in
	forced) part_forced ;;
	litmus) part_litmus ;;
	auto) part_auto ;;
	live) part_live ;;
	options) part_options ;;
	*)
		echo "unknown part $part (forced, litmus, auto, live or options)" >&2
		exit 2
		;;
	esac
done
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
