#!/usr/bin/env bash
# Integration tests of the control socket (cvmm ctl; node/ctl_server.h),
# real agent processes started by cvmm run, each run with its own
# XDG_RUNTIME_DIR so that other jobs of this user do not interfere:
#  two      "sleeper 8" on -n 2 -v 2 --log-level info: stderr names the
#           socket and the job; "cvmm ctl --job ID status" prints a table
#           with both nodes; "cvmm ctl SOCKET status --json" is JSON with
#           2 nodes that both answered, 1 vCPU each, the main thread on
#           node 0; "cvmm ctl status" alone finds the one job; the socket
#           is mode 0600 in a 0700 directory; --stats names the socket;
#           the guest's output and status are the native ones;
#  one      "sleeper 6" on one node: status --json has 1 node, 1 thread; a
#           client that connects and says nothing and one that sends
#           junk (answered "error: unknown request", one line) do not
#           stop the next status;
#  migrate  "worker 6" on -n 2 -v 2: "cvmm ctl migrate TID 0" then "... 1"
#           move the worker (or say it is there), status shows it on node
#           1, the move is in --stats and in the agent's info log; its
#           output (its tid at both ends) and status are native; a thread
#           or node that does not exist is one error line, status 1;
#           "worker 4 spin" (no call, no fault in its loop): migrated, it
#           is on node 0 within half a second (kicked), before its loop
#           ends, and its results are the native ones;
#  balance  (two cores or more) "worker 8" on -n 2 -v 2: "cvmm ctl
#           balance" with nothing else running says "no move: ..."
#           (status 0); with a busy loop pinned to node 1's core it moves
#           the worker (on node 1, now getting half a CPU) to node 0,
#           logged; then "worker 8" with --balance auto and the busy loop
#           from the start: the balancer moves the worker to node 0 by
#           itself, once (no move back), logged at info; both runs'
#           output and status are native and --stats has the moves
#           (balance.moves: from 1 to 0, forced or not) and cvmm report
#           shows them;
#  pause    "worker 3 spin" on -n 2: "cvmm ctl pause" says the 2 nodes are
#           quiet; status says paused (table and JSON) and the worker's
#           guest time does not grow over a second, nor does it finish;
#           a second pause says so; "resume" gives the time paused; the
#           output is native. omp on -n 4 and the litmus suite on -n 2
#           under pause/resume every ~0.1 s: every pause succeeds, output
#           native, no forbidden litmus outcome. One node: pause, resume,
#           and "not paused";
#  drain    "barrier 6 3000" on -n 3 (threads blocked in barrier futex
#           waits most of the time): "cvmm ctl drain 2" moves every thread
#           off node 2 within a second (status: 0 threads there, drained),
#           a migrate to it is refused, "undrain 2" then "drain 1" moves
#           node 1's; draining the last node that runs threads is
#           refused; output native; "worker 4 spin" (never traps) leaves a
#           drained node at once;
#  remove   "barrier 6 3000" on -n 3: "cvmm ctl remove-node 2", then
#           "remove-node 1", mid-run: each answers who took its roles and
#           pages, status shows it left, the agents exit, the barrier's
#           output (checked against a serial replay) is native and its
#           status 0; node 0 and a node that left are refused; omp on
#           -n 3 with node 1 removed is native, under either memory model
#           (the release model's leaver hands over its data pages' homes); SIGTERM to node 1's agent (its pid from status) makes
#           it leave the same way, output native; node 1 leaves while its
#           thread is blocked in a pipe read node 0 runs for it (pipewait):
#           the read is given up and made again where the thread goes,
#           output native; node 1 leaves while node 2's agent is stopped
#           (SIGSTOP for a second) during ocean, which faults all the time
#           (node 1's thread waits mid-fault), under either model: the
#           leave completes once node 2 goes on, output native; nodes 1
#           and 2 leave while their threads sleep (nap: nanosleep and
#           clock_nanosleep to a deadline): each leave takes less than 3 s
#           (~0.1 here), the sleeps go on elsewhere for what was left, on
#           time;
#  join     "elastic 6 16 8000" (threads owning slices of a 16 MiB array,
#           checked word by word) on -n 3 --max-nodes 4: node 1 leaves, "cvmm
#           ctl add-node" starts an agent that joins into its slot, the
#           next into the free slot 3 (status: 4 nodes in, epoch 4), no
#           free slot is left, node 2 leaves and node 3 takes its roles
#           and threads, the rejoined node 1 leaves again; output native,
#           no node lost, no message dropped; --stats and cvmm report list
#           the five changes. The litmus suite on 2 nodes of 4 slots while
#           a node joins, node 1 drains and undrains, node 2 leaves,
#           another joins into its slot and node 1 leaves: nothing
#           forbidden. By hand: join-info's address and cookie; a wrong cookie
#           and a stale --join-epoch are refused (the joiner and node 0
#           say so), other vCPUs one line; "cvmm agent --join" joins while
#           the user has paused the VM (it stays paused; a leave then is
#           refused), every thread drained onto it, output native, it
#           exits 0. A VM of one node without --max-nodes refuses
#           add-node; one of 2 says a leave frees a slot, and takes a new
#           node once node 1 left; the agent in that reused slot killed
#           ends the job (status 125, one "node 1 lost" line). Under the
#           release model: is (keys scattered into shared arrays) on -n 3
#           --max-nodes 4 through three leaves and two joins, native, the
#           leavers' data-page homes handed over;
#  errors   a job that does not exist, an unknown command, a stray
#           option and a job that ended are one line each and status 1
#           or 2; two jobs running and no --job: refused, both listed;
#  others   (root only) another user cannot reach the socket.
#
# Usage: test/integration/run_ctl.sh [two|one|migrate|balance|pause|drain|remove|join|errors|others ...]
# Environment: BUILD, CVMM, GUESTS, WORKLOADS as in run_coherence.sh; KEEP 1 keeps the
# scratch directory.
set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
WORKLOADS=$(realpath -m -- "${WORKLOADS:-$BUILD/workloads}")
TIMEOUT=${TIMEOUT:-60}
KEEP=${KEEP:-0}
HERE=$(dirname "$0")

# shellcheck source=test/integration/lib.sh
. "$HERE/lib.sh"
it_init cvmm-ctl

# start_job NAME ARGS...: starts cvmm run ARGS in the background with its
# own runtime directory; sets JOB_PID, JOB_ERR, JOB_OUT, XDG.
start_job() {
	local name=$1
	shift
	XDG=$SCRATCH/xdg-$name
	mkdir -p -m 0700 "$XDG"
	JOB_OUT=$SCRATCH/$name.out
	JOB_ERR=$SCRATCH/$name.err
	XDG_RUNTIME_DIR=$XDG timeout -k 5 "$TIMEOUT" "$CVMM" run "$@" \
		>"$JOB_OUT" 2>"$JOB_ERR" &
	JOB_PID=$!
}

# wait_socket: waits (10 s) for the job's "control socket:" line; sets
# SOCK and JOBID.
wait_socket() {
	SOCK= JOBID=
	for _ in $(seq 1 100); do
		if grep -q "control socket: " "$JOB_ERR"; then
			SOCK=$(sed -n 's/.*control socket: \([^ ]*\) (cvmm ctl --job \([0-9]*\) status).*/\1/p' "$JOB_ERR" | head -n 1)
			JOBID=$(sed -n 's/.*(cvmm ctl --job \([0-9]*\) status).*/\1/p' "$JOB_ERR" | head -n 1)
			[ -S "$SOCK" ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# start_served NAME LABEL ARGS...: start_job NAME ARGS, then wait_socket;
# without a socket: fails "LABEL: socket", waits for the job, returns 1.
start_served() {
	local name=$1 label=$2
	shift 2
	start_job "$name" "$@"
	wait_socket && return 0
	fail "$label: socket" "no control socket line within 10 s" "$JOB_ERR"
	wait "$JOB_PID"
	return 1
}

ctl() {
	XDG_RUNTIME_DIR=$XDG timeout -k 5 30 "$CVMM" ctl "$@"
}

# check_ctl LABEL STATUS PATTERN ARGS...: "cvmm ctl ARGS" exits with
# STATUS and prints a line matching PATTERN (grep -E).
check_ctl() {
	local label=$1 want=$2 pat=$3 out=$SCRATCH/ctl.out rc
	shift 3
	ctl "$@" >"$out" 2>&1
	rc=$?
	if [ $rc = "$want" ] && grep -Eq -- "$pat" "$out"; then
		pass "$label"
	else
		fail "$label" "$(rc_text $rc), want $want" "$out"
	fi
}

part_two() {
	local out=$SCRATCH/two.status json=$SCRATCH/two.json rc
	start_served two "ctl two" -n 2 -v 2 --log-level info \
		--stats="$SCRATCH/two.stats" -- "$GUESTS/sleeper" 8 || return
	pass "ctl two: socket named at start (job $JOBID)"
	sleep 1
	ctl --job "$JOBID" status >"$out" 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q "2 nodes, 2 vCPUs" "$out" &&
		grep -Eq '^ +0 +1 +1 ' "$out" && grep -Eq '^ +1 +1 +0 ' "$out"; then
		pass "ctl two: status table (both nodes, main thread on node 0)"
	else
		fail "ctl two: status table" "$(rc_text $rc)" "$out"
	fi
	ctl "$SOCK" status --json >"$json" 2>&1
	rc=$?
	if [ $rc = 0 ] && json_check "$json" \
		"d['nodes_total'] == 2 and d['vcpus'] == 2 and
		 d['job'] == $JOBID and d['program'].endswith('sleeper') and
		 [n['answered'] for n in d['nodes']] == [True, True] and
		 [n['vcpus'] for n in d['nodes']] == [1, 1] and
		 [n['threads'] for n in d['nodes']] == [1, 0] and
		 d['nodes'][0]['resident_pages'] > 0 and d['up_s'] > 0" \
		>"$json.why" 2>&1; then
		pass "ctl two: status --json"
	else
		cat "$json" >>"$json.why"
		fail "ctl two: status --json" "$(rc_text $rc)" "$json.why"
	fi
	check_ctl "ctl two: the only job found without --job" 0 \
		"^cvmm job $JOBID:" status
	if [ "$(stat -c %a "$SOCK")" = 600 ] &&
		[ "$(stat -c %a "$(dirname "$SOCK")")" = 700 ]; then
		pass "ctl two: socket 0600 in a 0700 directory"
	else
		fail "ctl two: modes" "socket $(stat -c %a "$SOCK"), directory $(stat -c %a "$(dirname "$SOCK")")"
	fi
	wait "$JOB_PID"
	rc=$?
	printf 'sleeping\nwoke\n' >"$SCRATCH/two.want"
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$SCRATCH/two.want"; then
		pass "ctl two: guest output and status native"
	else
		diff "$SCRATCH/two.want" "$JOB_OUT" >"$SCRATCH/two.diff"
		fail "ctl two: guest" "$(rc_text $rc)" "$SCRATCH/two.diff"
	fi
	if json_check "$SCRATCH/two.stats" "d['control_socket'] == '$SOCK'" \
		>"$SCRATCH/two.stats.why" 2>&1; then
		pass "ctl two: --stats names the socket"
	else
		fail "ctl two: --stats" "control_socket missing" "$SCRATCH/two.stats.why"
	fi
	check_ctl "ctl two: the ended job: one line, status 1" 1 \
		"^cvmm: job $JOBID: " --job "$JOBID" status
}

part_one() {
	local json=$SCRATCH/one.json rc
	start_served one "ctl one" -v 1 --log-level info -- "$GUESTS/sleeper" 7 || return
	ctl status --json >"$json" 2>&1
	rc=$?
	if [ $rc = 0 ] && json_check "$json" \
		"d['nodes_total'] == 1 and [n['threads'] for n in d['nodes']] == [1]" \
		>"$json.why" 2>&1; then
		pass "ctl one: status --json on one node"
	else
		cat "$json" >>"$json.why"
		fail "ctl one: status --json" "$(rc_text $rc)" "$json.why"
	fi
	# a client that says nothing, one that sends junk, then a good one
	if python3 - "$SOCK" >"$SCRATCH/one.raw" 2>&1 <<'PY'
import socket, sys
quiet = socket.socket(socket.AF_UNIX)
quiet.connect(sys.argv[1])
junk = socket.socket(socket.AF_UNIX)
junk.connect(sys.argv[1])
junk.sendall(b"rm -rf /\x00\xff\n")
junk.settimeout(10)
ans = junk.recv(4096).decode("utf-8", "replace")
print(ans.strip())
sys.exit(0 if ans.startswith("error: unknown request") else 1)
PY
	then
		pass "ctl one: a silent client and a junk request: one error line"
	else
		fail "ctl one: junk request" "no error line" "$SCRATCH/one.raw"
	fi
	check_ctl "ctl one: still served after them" 0 "1 node, 1 vCPUs" status
	check_ctl "ctl one: migrate on one node: one line, status 1" 1 \
		"^error: no node 1 \(the VM has 1\)" migrate 1 1
	check_ctl "ctl one: balance on one node: no move, status 0" 0 \
		"^no move: the VM has one node$" balance
	wait "$JOB_PID"
	rc=$?
	[ $rc = 0 ] && pass "ctl one: guest status 0" ||
		fail "ctl one: guest" "$(rc_text $rc)" "$JOB_ERR"
}

# hog_start CPU: a busy loop pinned to host cpu CPU (HOG_PID); hog_stop.
hog_start() {
	taskset -c "$1" sh -c 'while :; do :; done' &
	HOG_PID=$!
}

hog_stop() {
	kill "$HOG_PID" 2>/dev/null
	wait "$HOG_PID" 2>/dev/null
}

# worker_tid: waits (10 s) for the worker's first line; sets TID.
worker_tid() {
	TID=
	for _ in $(seq 1 100); do
		TID=$(awk '/^worker [0-9]+$/ { print $2; exit }' "$JOB_OUT")
		[ -n "$TID" ] && return 0
		sleep 0.1
	done
	return 1
}

# worker_native LABEL RC: the worker's output (its tid at both ends) and
# status are native.
worker_native() {
	local label=$1 rc=$2
	if [ "$rc" = 0 ] && [ "$(cat "$JOB_OUT")" = "$(printf 'worker %s\nworker %s done\nsum right\nok' "$TID" "$TID")" ]; then
		pass "$label: native output and status"
	else
		fail "$label: output" "$(rc_text "$rc")" "$JOB_OUT"
	fi
}

part_balance() {
	local rc cpu1 json=$SCRATCH/bal.json
	# node 1's vCPU is pinned to the second core (vm_place_vcpus: the
	# agents of one host start at core = their rank)
	cpu1=$(lscpu -p=CPU,CORE 2>/dev/null |
		awk -F, '!/^#/ && $2 == 1 { print $1; exit }')
	if [ -z "$cpu1" ]; then
		echo "SKIP ctl balance: fewer than two cores (no idle core to move to)"
		return
	fi
	start_served bal "ctl balance" -n 2 -v 2 --log-level info \
		--stats="$SCRATCH/bal.stats" -- "$GUESTS/worker" 8 || return
	worker_tid
	sleep 0.5
	check_ctl "ctl balance: nothing else running: no move" 0 \
		"^no move: " --job "$JOBID" balance
	hog_start "$cpu1"
	sleep 0.5
	check_ctl "ctl balance: node 1's core shared: the worker moves to node 0" \
		0 "^node 1's threads got [0-9]+% of the CPU they wanted, node 0 had [0-9]+% of a core idle: thread $TID moves from node 1 to node 0 " \
		--job "$JOBID" balance
	hog_stop
	wait "$JOB_PID"
	rc=$?
	worker_native "ctl balance" $rc
	if grep -q "thread $TID moves from node 1 to node 0 (the balancer)" \
		"$JOB_ERR" && json_check "$SCRATCH/bal.stats" \
		"d['balance']['mode'] == 'off' and
		 [(m['tid'], m['from'], m['to'], m['forced'])
		  for m in d['balance']['moves']] == [($TID, 1, 0, True)]" \
		>"$json.why" 2>&1; then
		pass "ctl balance: the move logged and in --stats"
	else
		cat "$JOB_ERR" >>"$json.why"
		fail "ctl balance: log and --stats" "move missing" "$json.why"
	fi
	# --balance auto: the balancer finds it by itself, and moves once
	hog_start "$cpu1"
	start_served auto "balance auto" -n 2 -v 2 --log-level info \
		--balance auto --stats="$SCRATCH/auto.stats" -- \
		"$GUESTS/worker" 8 || { hog_stop; return; }
	worker_tid
	wait "$JOB_PID"
	rc=$?
	hog_stop
	worker_native "balance auto" $rc
	if grep -q "balance: node 1's threads got" "$JOB_ERR" &&
		json_check "$SCRATCH/auto.stats" \
		"d['balance']['mode'] == 'auto' and
		 [(m['tid'], m['from'], m['to'], m['forced'])
		  for m in d['balance']['moves']] == [($TID, 1, 0, False)] and
		 d['balance']['moves'][0]['from_cpu_pct'] < 75" \
		>"$json.why" 2>&1; then
		pass "balance auto: one move, node 1 to node 0, logged and in --stats"
	else
		cat "$JOB_ERR" >>"$json.why"
		fail "balance auto: the move" "not as expected" "$json.why"
	fi
	if "$CVMM" report "$SCRATCH/auto.stats" 2>&1 |
		grep -q "^  [0-9.]* s: thread $TID node 1 -> node 0 "; then
		pass "balance auto: cvmm report shows the move"
	else
		"$CVMM" report "$SCRATCH/auto.stats" >"$json.rep" 2>&1
		fail "balance auto: cvmm report" "no move line" "$json.rep"
	fi
}

# node_guest_s FILE NODE: the guest seconds of NODE in a status --json
node_guest_s() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["nodes"][int(sys.argv[2])]["guest_s"])' "$1" "$2" 2>/dev/null
}

# churn NAME LABEL ARGS...: runs cvmm ARGS, pausing and resuming it every
# ~0.1 s until it ends; sets NPAUSE (pauses that took hold), NBAD (pause
# answers that were neither that nor a job already gone or going: its
# socket refused, reset or removed as the VM ends), CHURN_RC.
# job_goes_on: the job still runs 3 s from now (node 0 ending waits up
# to 2 s for the other agents)
job_goes_on() {
	for _ in $(seq 1 30); do
		kill -0 "$JOB_PID" 2>/dev/null || return 1
		sleep 0.1
	done
}

churn() {
	local name=$1 label=$2 ans
	shift 2
	NPAUSE=0 NBAD=0
	start_served "$name" "$label" "$@" || { CHURN_RC=1; return; }
	while kill -0 "$JOB_PID" 2>/dev/null; do
		ans=$(ctl --job "$JOBID" pause 2>&1)
		case $ans in
		paused:*) NPAUSE=$((NPAUSE + 1)) ;;
		*)
			# the job ending under a request takes its socket
			# away (refused, reset, gone, closed mid-answer):
			# a failure only if the job goes on
			if kill -0 "$JOB_PID" 2>/dev/null && job_goes_on; then
				NBAD=$((NBAD + 1))
				echo "$ans" >>"$SCRATCH/$name.bad"
			fi
			;;
		esac
		sleep 0.05
		ctl --job "$JOBID" resume >/dev/null 2>&1
		sleep 0.05
	done
	wait "$JOB_PID"
	CHURN_RC=$?
}

part_pause() {
	local rc json=$SCRATCH/pause.json g1 g2 native=$SCRATCH/pause.native
	"$GUESTS/worker" 3 spin >"$native" 2>&1
	start_served pause "ctl pause" -n 2 -v 2 --log-level info -- \
		"$GUESTS/worker" 3 spin || return
	worker_tid
	sleep 0.3
	check_ctl "ctl pause: both nodes quiet" 0 \
		"^paused: 2 nodes quiet after [0-9.]+ ms" --job "$JOBID" pause
	check_ctl "ctl pause: status says paused" 0 \
		"^cvmm job $JOBID: .*, paused$" --job "$JOBID" status
	ctl --job "$JOBID" status --json >"$json" 2>&1
	g1=$(node_guest_s "$json" 1)
	sleep 1
	ctl --job "$JOBID" status --json >"$json.2" 2>&1
	g2=$(node_guest_s "$json.2" 1)
	if json_check "$json.2" "d['paused'] is True" >/dev/null 2>&1 &&
		[ -n "$g1" ] && [ "$g1" = "$g2" ] &&
		! grep -q "^worker $TID done" "$JOB_OUT"; then
		pass "ctl pause: no guest code runs for a second (node 1 guest time $g1 s)"
	else
		cat "$json" "$json.2" "$JOB_OUT" >"$json.why" 2>&1
		fail "ctl pause: stopped" "guest time $g1 -> $g2" "$json.why"
	fi
	check_ctl "ctl pause: a second pause" 0 "^paused already$" \
		--job "$JOBID" pause
	check_ctl "ctl resume" 0 "^resumed after 1\.[0-9] s paused$" \
		--job "$JOBID" resume
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && [ "$(grep '^spin ' "$JOB_OUT")" = "$(grep '^spin ' "$native")" ]; then
		pass "ctl pause: output native after the pause"
	else
		cat "$native" "$JOB_OUT" >"$SCRATCH/pause.diff"
		fail "ctl pause: output" "$(rc_text $rc)" "$SCRATCH/pause.diff"
	fi
	# pause and resume all along a run full of coherence and futexes
	"$GUESTS/omp" >"$SCRATCH/omp.native" 2>&1
	churn churn "pause churn" -n 4 --log-level info -- "$GUESTS/omp"
	if [ "$CHURN_RC" = 0 ] && [ "$NBAD" = 0 ] && [ "$NPAUSE" -ge 5 ] &&
		cmp -s "$JOB_OUT" "$SCRATCH/omp.native"; then
		pass "ctl pause: omp on 4 nodes paused $NPAUSE times, output native"
	else
		cat "$SCRATCH/churn.bad" "$JOB_OUT" >"$SCRATCH/churn.why" 2>/dev/null
		fail "ctl pause: omp churn" "$(rc_text "$CHURN_RC"), $NPAUSE pauses, $NBAD failed" "$SCRATCH/churn.why"
	fi
	churn litmus "pause litmus" -n 2 --log-level info -- \
		"$GUESTS/litmus" all
	if [ "$CHURN_RC" = 0 ] && [ "$NBAD" = 0 ] && [ "$NPAUSE" -ge 3 ] &&
		[ "$(grep -c ', forbidden 0,' "$JOB_OUT")" = 7 ]; then
		pass "ctl pause: litmus on 2 nodes paused $NPAUSE times, nothing forbidden"
	else
		cat "$SCRATCH/litmus.bad" "$JOB_OUT" >"$SCRATCH/litmus.why" 2>/dev/null
		fail "ctl pause: litmus churn" "$(rc_text "$CHURN_RC"), $NPAUSE pauses, $NBAD failed" "$SCRATCH/litmus.why"
	fi
	# one node
	start_served pone "ctl pause one" -v 2 --log-level info -- \
		"$GUESTS/worker" 3 spin || return
	sleep 0.5
	check_ctl "ctl pause: one node" 0 "^paused: 1 node quiet " \
		--job "$JOBID" pause
	check_ctl "ctl pause: one node resumes" 0 "^resumed after " \
		--job "$JOBID" resume
	check_ctl "ctl pause: resume when not paused" 0 "^not paused$" \
		--job "$JOBID" resume
	wait "$JOB_PID"
	rc=$?
	[ $rc = 0 ] && pass "ctl pause: one node: guest status 0" ||
		fail "ctl pause: one node" "$(rc_text $rc)" "$JOB_ERR"
}

# threads_per_node FILE: "T0 T1 ..." from a status --json
threads_per_node() {
	python3 -c 'import json, sys; print(" ".join(str(n["threads"]) for n in json.load(open(sys.argv[1]))["nodes"]))' "$1" 2>/dev/null
}

part_drain() {
	local rc json=$SCRATCH/drain.json native=$SCRATCH/drain.native t
	"$GUESTS/barrier" 6 3000 >"$native" 2>&1
	start_served drain "ctl drain" -n 3 -v 3 --log-level info -- \
		"$GUESTS/barrier" 6 3000 || return
	sleep 1
	check_ctl "ctl drain: node 2" 0 "^node 2 drained: its guest threads move" \
		--job "$JOBID" drain 2
	sleep 1
	ctl --job "$JOBID" status --json >"$json" 2>&1
	t=$(threads_per_node "$json")
	if json_check "$json" "d['nodes'][2]['threads'] == 0 and
		d['nodes'][2]['drained'] is True and
		sum(n['threads'] for n in d['nodes']) == 7" >"$json.why" 2>&1; then
		pass "ctl drain: node 2's threads left it within a second (threads $t)"
	else
		cat "$json" >>"$json.why"
		fail "ctl drain: node 2" "threads $t" "$json.why"
	fi
	check_ctl "ctl drain: a migrate to a drained node is refused" 1 \
		"^error: node 2 is drained" --job "$JOBID" migrate "$JOBID" 2
	check_ctl "ctl drain: undrain" 0 "^node 2 takes guest threads again$" \
		--job "$JOBID" undrain 2
	check_ctl "ctl drain: node 1" 0 "^node 1 drained: " \
		--job "$JOBID" drain 1
	sleep 1
	ctl --job "$JOBID" status --json >"$json" 2>&1
	t=$(threads_per_node "$json")
	if json_check "$json" "d['nodes'][1]['threads'] == 0 and
		d['nodes'][2]['drained'] is False" >"$json.why" 2>&1; then
		pass "ctl drain: then node 1's left it (threads $t)"
	else
		cat "$json" >>"$json.why"
		fail "ctl drain: node 1" "threads $t" "$json.why"
	fi
	check_ctl "ctl drain: node 0 too" 0 "^node 0 drained: " \
		--job "$JOBID" drain 0
	check_ctl "ctl drain: not the last node that runs threads" 1 \
		"^error: node 2 is the last node that runs guest threads$" \
		--job "$JOBID" drain 2
	check_ctl "ctl drain: a node that does not exist" 1 "^error: no node 3 " \
		--job "$JOBID" drain 3
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native"; then
		pass "ctl drain: barrier's output native across the drains"
	else
		diff "$native" "$JOB_OUT" >"$SCRATCH/drain.diff" 2>&1
		fail "ctl drain: output" "$(rc_text $rc)" "$SCRATCH/drain.diff"
	fi
	# a thread that never traps leaves a drained node at once
	start_served dspin "ctl drain spin" -n 2 -v 2 --log-level info -- \
		"$GUESTS/worker" 4 spin || return
	worker_tid
	sleep 0.3
	check_ctl "ctl drain: node 1 under a spinning worker" 0 "^node 1 drained" \
		--job "$JOBID" drain 1
	sleep 0.5
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" "[n['threads'] for n in d['nodes']] == [2, 0]" \
		>"$json.why" 2>&1 && ! grep -q "^worker $TID done" "$JOB_OUT"; then
		pass "ctl drain: the spinning worker left at once"
	else
		cat "$json" "$JOB_OUT" >>"$json.why"
		fail "ctl drain: spin" "still on node 1" "$json.why"
	fi
	wait "$JOB_PID"
	rc=$?
	[ $rc = 0 ] && grep -qx "worker $TID done" "$JOB_OUT" &&
		pass "ctl drain: the spinning worker finished on node 0" ||
		fail "ctl drain: spin end" "$(rc_text $rc)" "$JOB_OUT"
}

part_remove() {
	local rc pid json=$SCRATCH/remove.json native=$SCRATCH/remove.native
	"$GUESTS/barrier" 6 3000 >"$native" 2>&1
	start_served remove "ctl remove" -n 3 -v 3 --log-level info -- \
		"$GUESTS/barrier" 6 3000 || return
	sleep 1
	check_ctl "ctl remove: node 2 leaves mid-run" 0 \
		"^node 2 left: node [01] took its roles and [0-9]+ pages " \
		--job "$JOBID" remove-node 2
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" "d['nodes'][2].get('left') is True and
		d['nodes'][0]['answered'] and d['nodes'][1]['answered'] and
		sum(n.get('threads', 0) for n in d['nodes']) == 7 and
		d['nodes'][0]['vcpus'] + d['nodes'][1]['vcpus'] == 3" \
		>"$json.why" 2>&1; then
		pass "ctl remove: status shows node 2 left, all 7 threads and its vCPU elsewhere"
	else
		cat "$json" >>"$json.why"
		fail "ctl remove: status" "node 2 not shown as left" "$json.why"
	fi
	check_ctl "ctl remove: a node that left is no node" 1 \
		"^error: no node 2 in the VM$" --job "$JOBID" remove-node 2
	check_ctl "ctl remove: node 0 cannot leave" 1 \
		"^error: node 0 cannot leave: " --job "$JOBID" remove-node 0
	check_ctl "ctl remove: then node 1" 0 \
		"^node 1 left: node 0 took its roles" --job "$JOBID" remove-node 1
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native"; then
		pass "ctl remove: barrier's output native, node 0 alone at the end"
	else
		diff "$native" "$JOB_OUT" >"$SCRATCH/remove.diff" 2>&1
		fail "ctl remove: output" "$(rc_text $rc)" "$SCRATCH/remove.diff"
	fi
	if grep -q "leave: node 2 is out of the VM: exiting" "$JOB_ERR" &&
		! grep -q "lost" "$JOB_ERR"; then
		pass "ctl remove: the agents left in order (no node lost)"
	else
		fail "ctl remove: agents" "no exit line, or a node lost" "$JOB_ERR"
	fi
	"$GUESTS/omp" >"$SCRATCH/romp.native" 2>&1
	remove_omp sequential
	# SIGTERM to node 1's agent (its pid from status): it leaves
	start_served rterm "ctl remove sigterm" -n 3 -v 3 --log-level info -- \
		"$GUESTS/barrier" 6 3000 || return
	sleep 1
	ctl --job "$JOBID" status --json >"$json" 2>&1
	pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["nodes"][1]["pid"])' "$json" 2>/dev/null)
	if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 1 50); do
			grep -q "SIGTERM at node 1: node 1 left" "$JOB_ERR" && break
			sleep 0.1
		done
	fi
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native" &&
		grep -q "SIGTERM at node 1: node 1 left: node " "$JOB_ERR" &&
		! grep -q "lost" "$JOB_ERR"; then
		pass "ctl remove: SIGTERM to node 1's agent (pid $pid): it left, output native"
	else
		cat "$json" >>"$JOB_ERR"
		fail "ctl remove: SIGTERM" "$(rc_text $rc), pid ${pid:-none}" "$JOB_ERR"
	fi
	# a thread of node 1 blocked in a pipe read (node 0 runs the read for
	# it): the read is given up, made again where the thread goes, and
	# gets the line written after the leave
	"$GUESTS/pipewait" 30 >"$SCRATCH/rpipe.native" 2>&1
	start_served rpipe "ctl remove pipe" -n 3 -v 3 --log-level info -- \
		"$GUESTS/pipewait" 30 || return
	for _ in $(seq 1 50); do
		grep -q "^reader waits" "$JOB_OUT" && break
		sleep 0.1
	done
	sleep 0.3
	check_ctl "ctl remove: node 1 leaves while its thread is blocked in a pipe read" \
		0 "^node 1 left: " --job "$JOBID" remove-node 1
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$SCRATCH/rpipe.native"; then
		pass "ctl remove: the blocked read was made again elsewhere, output native"
	else
		diff "$SCRATCH/rpipe.native" "$JOB_OUT" >"$SCRATCH/rpipe.diff" 2>&1
		fail "ctl remove: pipe read" "$(rc_text $rc)" \
			"$SCRATCH/rpipe.diff" "$JOB_ERR"
	fi
	remove_midfault sequential
	remove_midfault release
	# threads asleep on the leaving nodes (nanosleep, clock_nanosleep to
	# an absolute deadline): the sleeps are given up and go on where the
	# threads go, for what was left of them (a restart from the start
	# would end late)
	"$GUESTS/nap" 6 2 >"$SCRATCH/rnap.native" 2>&1
	start_served rnap "ctl remove nap" -n 3 -v 3 --log-level info -- \
		"$GUESTS/nap" 6 2 || return
	sleep 1.5
	# (under 3 s: waiting for the sleeps would take 4.5)
	check_ctl "ctl remove: node 1 leaves while its thread sleeps, at once" \
		0 "^node 1 left: .* in ([0-9]{1,3}|[12][0-9]{3}) ms " \
		--job "$JOBID" remove-node 1
	check_ctl "ctl remove: then node 2, its thread asleep too (one moved twice)" \
		0 "^node 2 left: .* in ([0-9]{1,3}|[12][0-9]{3}) ms " \
		--job "$JOBID" remove-node 2
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$SCRATCH/rnap.native"; then
		pass "ctl remove: the sleeps went on elsewhere, on time, output native"
	else
		diff "$SCRATCH/rnap.native" "$JOB_OUT" >>"$JOB_ERR" 2>&1
		fail "ctl remove: sleeping threads" "$(rc_text $rc)" "$JOB_ERR"
	fi
	remove_omp release
}

# remove_omp MODEL: omp (reduction, barrier, critical, atomic: sync pages
# beside, under the release model, data pages) on 3 nodes, node 1 leaves
# mid-run: output native, no node lost; under the release model the
# leaver's log names the data-page homes it handed over.
remove_omp() {
	local model=$1 rc homes=1
	start_served "romp-$model" "ctl remove omp ($model)" -n 3 \
		--memory-model="$model" --log-level info -- "$GUESTS/omp" ||
		return
	sleep 1
	check_ctl "ctl remove: node 1 leaves omp ($model model)" 0 \
		"^node 1 left: " --job "$JOBID" remove-node 1
	wait "$JOB_PID"
	rc=$?
	[ "$model" = release ] &&
		! grep -q "leave: node 1 handed .* homes of the release" \
			"$JOB_ERR" && homes=0
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$SCRATCH/romp.native" &&
		[ $homes = 1 ] && ! grep -q "lost" "$JOB_ERR"; then
		pass "ctl remove: omp's output native after node 1 left ($model model)"
	else
		diff "$SCRATCH/romp.native" "$JOB_OUT" >>"$JOB_ERR" 2>&1
		fail "ctl remove: omp ($model model)" "$(rc_text $rc)" "$JOB_ERR"
	fi
}

# remove_midfault MODEL: ocean (its threads' grid boundaries shared,
# faults all the time; ~5 s on 3 nodes) on -n 3 -v 3; node 2's agent is
# stopped (SIGSTOP), so node 1's thread soon waits mid-fault for a page
# node 2 holds, and node 1 is asked to leave; node 2 goes on a second
# later. The leave waits for the fault (and the pause for node 2), then
# completes: answer, output native, nothing lost.
remove_midfault() {
	local model=$1 rc pid2 ans=$SCRATCH/mf-$1.ans native=$SCRATCH/mf.native
	if [ ! -x "$WORKLOADS/ocean" ]; then
		fail "ctl remove mid-fault" "no workload binary at $WORKLOADS/ocean (make workloads)"
		return
	fi
	[ -s "$native" ] || "$WORKLOADS/ocean" -p 3 >"$native" 2>&1
	start_served "mf-$model" "ctl remove mid-fault" -n 3 -v 3 \
		--memory-model="$model" --log-level info -- \
		"$WORKLOADS/ocean" -p 3 || return
	sleep 1
	pid2=$(ctl --job "$JOBID" status --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["nodes"][2]["pid"])' 2>/dev/null)
	if [ -z "$pid2" ] || ! kill -STOP "$pid2" 2>/dev/null; then
		fail "ctl remove mid-fault ($model)" "no pid for node 2" "$JOB_ERR"
		wait "$JOB_PID"
		return
	fi
	sleep 0.3
	ctl --job "$JOBID" remove-node 1 >"$ans" 2>&1 &
	sleep 1
	kill -CONT "$pid2"
	wait $!
	rc=$?
	if [ $rc = 0 ] && grep -q "^node 1 left: node 2 took" "$ans"; then
		pass "ctl remove: node 1 leaves while node 2 is stopped mid-run ($model model): $(cut -d: -f2- "$ans" | sed 's/^ *//')"
	else
		fail "ctl remove mid-fault ($model)" "$(rc_text $rc)" "$ans"
	fi
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native" &&
		! grep -q "lost" "$JOB_ERR"; then
		pass "ctl remove: ocean native after that leave ($model model)"
	else
		diff "$native" "$JOB_OUT" >>"$JOB_ERR" 2>&1
		fail "ctl remove mid-fault ($model): output" "$(rc_text $rc)" "$JOB_ERR"
	fi
}

# join_agent NAME ARGS...: cvmm agent ARGS (a hand-started joiner) in the
# job's runtime directory; sets AGENT_RC, output in $SCRATCH/NAME.{out,err}.
join_agent() {
	local name=$1
	shift
	XDG_RUNTIME_DIR=$XDG timeout -k 5 "$TIMEOUT" "$CVMM" agent "$@" \
		>"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err"
	AGENT_RC=$?
	return $AGENT_RC
}

# info_of FIELD: the FIELD line's value in $SCRATCH/jinfo (cvmm ctl
# join-info's answer)
info_of() {
	sed -n "s/^$1 //p" "$SCRATCH/jinfo"
}

part_join() {
	local rc json=$SCRATCH/join.json native=$SCRATCH/join.native
	local add=$SCRATCH/join.add addr cookie ans
	"$GUESTS/elastic" 6 16 8000 >"$native" 2>&1
	# 3 nodes and a free slot, mid-run: node 1 leaves, a new agent joins
	# into its slot, another into the free one, node 2 leaves (its roles
	# and threads to node 3), then the rejoined node 1 (it hands over what
	# it got); the guest's threads own slices of a 16 MiB array, checked
	# word by word
	start_served join "ctl join" -n 3 --max-nodes 4 -v 4 --log-level info \
		--stats="$SCRATCH/join.stats" -- "$GUESTS/elastic" 6 16 8000 ||
		return
	sleep 1
	check_ctl "ctl join: node 1 leaves first" 0 "^node 1 left: " \
		--job "$JOBID" remove-node 1
	# captured as a script would: the agent keeps none of ctl's output
	# open (else this waits for the job's end)
	ans=$(ctl --job "$JOBID" add-node 2>&1)
	rc=$?
	echo "$ans" >"$add"
	: >"$add.err"
	if [ $rc = 0 ] &&
		grep -Eq "^node 1 joined the VM \(agent pid [0-9]+\)$" "$add"; then
		pass "ctl join: add-node starts an agent that joins into the slot node 1 left"
	else
		cat "$add" "$add.err" >"$add.why" 2>&1
		fail "ctl join: add-node" "$(rc_text $rc)" "$add.why" "$JOB_ERR"
	fi
	check_ctl "ctl join: the next one takes the free slot, node 3" 0 \
		"^node 3 joined the VM \(agent pid [0-9]+\)$" --job "$JOBID" add-node
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" "d['nodes_in'] == 4 and d['nodes_total'] == 4 and
		d['epoch'] == 4 and d['nodes'][3]['answered'] and
		d['nodes'][1]['answered'] and not d['nodes'][1].get('left') and
		not d['nodes'][3]['drained'] and
		[n['vcpus'] for n in d['nodes']] == [1, 1, 1, 1] and
		d['join'].startswith('127.0.0.1:')" >"$json.why" 2>&1; then
		pass "ctl join: status shows nodes 1 (again) and 3 in, epoch 4, a vCPU each"
	else
		cat "$json" >>"$json.why"
		fail "ctl join: status" "nodes 1 and 3 not shown" "$json.why"
	fi
	check_ctl "ctl join: no free slot is left" 1 "^error: no free slot left" \
		--job "$JOBID" add-node
	check_ctl "ctl join: node 2 leaves, node 3 takes its roles" 0 \
		"^node 2 left: node 3 took its roles" --job "$JOBID" remove-node 2
	check_ctl "ctl join: the rejoined node 1 leaves again" 0 \
		"^node 1 left: node 3 took its roles" --job "$JOBID" remove-node 1
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" "d['nodes'][3]['threads'] >= 1 and
		d['nodes'][0]['threads'] + d['nodes'][3]['threads'] == 7 and
		d['nodes'][0]['vcpus'] == 2 and d['nodes'][3]['vcpus'] == 2 and
		d['nodes_in'] == 2" >"$json.why" 2>&1; then
		pass "ctl join: the new node runs guest threads; the 4 vCPUs on the 2 nodes in"
	else
		cat "$json" >>"$json.why"
		fail "ctl join: threads" "none on node 3" "$json.why"
	fi
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native"; then
		pass "ctl join: elastic's array and output native across 5 changes"
	else
		diff "$native" "$JOB_OUT" >"$SCRATCH/join.diff" 2>&1
		fail "ctl join: output" "$(rc_text $rc)" "$SCRATCH/join.diff" \
			"$JOB_ERR"
	fi
	if json_check "$SCRATCH/join.stats" "d['membership']['slots'] == 4 and
		d['membership']['started'] == 3 and
		[(e['event'], e['node'], e['epoch'])
		 for e in d['membership']['events']] ==
		[('leave', 1, 2), ('join', 1, 3), ('join', 3, 4), ('leave', 2, 5),
		 ('leave', 1, 6)] and
		d['membership']['events'][3]['heir'] == 3 and
		[v['node'] for v in d['per_vcpu']] == [0, 0, 3, 3] and
		[e['vcpus'] for e in d['membership']['events']] ==
		[[2, 0, 2, 0], [2, 1, 1, 0], [1, 1, 1, 1], [2, 1, 0, 1],
		 [2, 0, 0, 2]] and
		d['messages']['node 2'] > 0" \
		>"$SCRATCH/join.swhy" 2>&1 &&
		"$CVMM" report "$SCRATCH/join.stats" >"$SCRATCH/join.rep" 2>&1 &&
		grep -q "^membership: 4 slots, 3 started, 2 joins, 3 leaves$" \
			"$SCRATCH/join.rep" &&
		grep -Eq "^  [0-9.]+ s: node 3 joined \(epoch 4, [0-9]+ ms\); vCPUs: node 0 1, node 1 1, node 2 1, node 3 1$" \
			"$SCRATCH/join.rep"; then
		pass "ctl join: --stats and cvmm report list the leaves and the joins with the vCPUs per node after each, each vCPU where it ended, the counters of node 2 that left"
	else
		fail "ctl join: --stats" "no membership, or not these changes" \
			"$SCRATCH/join.swhy" "$SCRATCH/join.rep"
	fi
	if grep -q "join: node 1 joined (epoch 3)" "$JOB_ERR" &&
		grep -q "join: node 3 joined (epoch 4)" "$JOB_ERR" &&
		grep -q "node 1 of 4 joined the VM at 127.0.0.1:" "$JOB_ERR" &&
		grep -q "node 3 of 4 joined the VM at 127.0.0.1:" "$JOB_ERR" &&
		! grep -Eq "lost|dropped|did not answer" "$JOB_ERR" "$add.err"; then
		pass "ctl join: logged by node 0 and the new nodes (node 0's stderr), no node lost, no message dropped"
	else
		fail "ctl join: logs" "no join line, or a node lost" "$JOB_ERR" \
			"$add.err"
	fi
	# The litmus suite while nodes join, drain and leave: nothing x86-TSO
	# forbids is seen
	start_served jlit "ctl join litmus" -n 2 --max-nodes 4 -v 4 \
		--log-level info -- "$GUESTS/litmus" all 600000 || return
	local steps=0 step
	for step in add-node "drain 1" "undrain 1" "remove-node 2" add-node \
		"remove-node 1"; do
		# shellcheck disable=SC2086
		ctl --job "$JOBID" $step >>"$SCRATCH/jlit.ctl" 2>&1 &&
			steps=$((steps + 1))
		sleep 0.2
	done
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && [ $steps = 6 ] &&
		[ "$(grep -c ', forbidden 0,' "$JOB_OUT")" = 7 ] &&
		! grep -q "lost" "$JOB_ERR"; then
		pass "ctl join: litmus on 2 nodes growing to 3, changing 6 times: nothing forbidden"
	else
		cat "$SCRATCH/jlit.ctl" "$JOB_OUT" >"$SCRATCH/jlit.why" 2>&1
		fail "ctl join: litmus" "$(rc_text $rc), $steps of 6 changes" \
			"$SCRATCH/jlit.why" "$JOB_ERR"
	fi
	# By hand (cvmm agent --join), and what is refused
	"$GUESTS/barrier" 4 12000 >"$native" 2>&1
	start_served jhand "ctl join by hand" -n 2 --max-nodes 3 -v 3 \
		--log-level info -- "$GUESTS/barrier" 4 12000 || return
	if ctl --job "$JOBID" join-info >"$SCRATCH/jinfo" 2>&1 &&
		addr=$(info_of address) && cookie=$(info_of cookie) &&
		[ -n "$addr" ] && [ ${#cookie} = 16 ] &&
		[ "$(info_of epoch)" = 1 ] && [ "$(info_of free-slots)" = 1 ]; then
		pass "ctl join: join-info gives the address, cookie, epoch, free slots"
	else
		fail "ctl join: join-info" "no address or cookie" "$SCRATCH/jinfo"
		addr=127.0.0.1:1 cookie=0000000000000000
	fi
	CVMM_JOB_COOKIE=$cookie join_agent jv -v 2 --join="$addr" \
		-- "$GUESTS/barrier" 4 12000
	if [ $AGENT_RC != 0 ] &&
		[ "$(grep -c "^cvmm: " "$SCRATCH/jv.err")" = 1 ] &&
		grep -q "the VM has 3 vCPUs but this agent 2: give it -v 3" \
			"$SCRATCH/jv.err"; then
		pass "ctl join: other vCPUs than the VM's: one line"
	else
		fail "ctl join: vCPUs" "status $AGENT_RC" "$SCRATCH/jv.err"
	fi
	# a join while the user has the VM paused keeps it paused; a leave
	# then is refused (its node's threads could not move)
	check_ctl "ctl join: pause" 0 "^paused: 2 nodes quiet" --job "$JOBID" pause
	CVMM_JOB_COOKIE=$cookie join_agent jpaused -v 3 --join="$addr" \
		--log-level info -- "$GUESTS/barrier" 4 12000 &
	local ppid=$!
	for _ in $(seq 1 100); do
		grep -q "join: node 2 joined" "$JOB_ERR" && break
		sleep 0.1
	done
	check_ctl "ctl join: a join keeps the user's pause" 0 \
		"^cvmm job $JOBID: .*3 nodes, .*epoch 2, paused$" --job "$JOBID" status
	check_ctl "ctl join: no leave while paused" 1 \
		"^error: the VM is paused: cvmm ctl resume first" \
		--job "$JOBID" remove-node 1
	check_ctl "ctl join: resume" 0 "^resumed after" --job "$JOBID" resume
	CVMM_JOB_COOKIE=0123456789abcdef join_agent jbad -v 3 --join="$addr" \
		--log-level info -- "$GUESTS/barrier" 4 12000
	if [ $AGENT_RC != 0 ] &&
		grep -q "join refused by node 0 (hello): wrong job cookie" \
			"$SCRATCH/jbad.err" &&
		grep -q "join from .* refused: wrong job cookie" "$JOB_ERR"; then
		pass "ctl join: a wrong cookie is refused and logged"
	else
		fail "ctl join: wrong cookie" "status $AGENT_RC" \
			"$SCRATCH/jbad.err" "$JOB_ERR"
	fi
	CVMM_JOB_COOKIE=$cookie join_agent jold -v 3 --join="$addr" \
		--join-epoch 7 -- "$GUESTS/barrier" 4 12000
	if [ $AGENT_RC != 0 ] &&
		grep -q "refused by node 0 (hello): stale epoch 7: the VM's membership is at epoch 2" \
			"$SCRATCH/jold.err" &&
		grep -q "join from .* refused: stale epoch 7" "$JOB_ERR"; then
		pass "ctl join: a stale epoch is refused and logged"
	else
		fail "ctl join: stale epoch" "status $AGENT_RC" \
			"$SCRATCH/jold.err" "$JOB_ERR"
	fi
	local apid=$ppid
	# every thread to the new node, then back
	check_ctl "ctl join: node 0 drained, threads to the hand-started node" 0 \
		"^node 0 drained" --job "$JOBID" drain 0
	check_ctl "ctl join: node 1 drained too" 0 "^node 1 drained" \
		--job "$JOBID" drain 1
	sleep 0.5
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" "d['nodes'][2]['threads'] == 5" \
		>"$json.why" 2>&1; then
		pass "ctl join: all 5 threads run on the joined node"
	else
		cat "$json" >>"$json.why"
		fail "ctl join: drained to node 2" "threads elsewhere" "$json.why"
	fi
	ctl --job "$JOBID" undrain 0 >/dev/null 2>&1
	wait "$JOB_PID"
	rc=$?
	wait "$apid"
	AGENT_RC=$?
	if [ $rc = 0 ] && [ $AGENT_RC = 0 ] && cmp -s "$JOB_OUT" "$native" &&
		grep -q "node 2 of 3 joined the VM at $addr (epoch 2)" \
			"$SCRATCH/jpaused.err"; then
		pass "ctl join: cvmm agent --join by hand; output native, it exits 0"
	else
		diff "$native" "$JOB_OUT" >"$SCRATCH/jhand.diff" 2>&1
		fail "ctl join: by hand" "$(rc_text $rc), agent $AGENT_RC" \
			"$SCRATCH/jhand.diff" "$SCRATCH/jpaused.err" "$JOB_ERR"
	fi
	start_served jone "ctl join one" -n 1 --log-level info \
		-- "$GUESTS/sleeper" 1 ||
		return
	check_ctl "ctl join: a VM of one node without free slots says how to get them" 1 \
		"^error: this VM takes no new nodes \(it has no free slot: start it with --max-nodes\)" \
		--job "$JOBID" add-node
	wait "$JOB_PID"
	# without --max-nodes: no slot to spare, but a node leaving frees one
	"$GUESTS/sleeper" 3 >"$native" 2>&1
	start_served jfull "ctl join full" -n 2 -v 2 --log-level info \
		-- "$GUESTS/sleeper" 3 ||
		return
	check_ctl "ctl join: a full VM says a leave frees a slot" 1 \
		"^error: no free slot left \(the VM's 2 are all in use: a node leaving frees one" \
		--job "$JOBID" add-node
	check_ctl "ctl join: full VM, node 1 leaves" 0 "^node 1 left: " \
		--job "$JOBID" remove-node 1
	check_ctl "ctl join: a VM started without --max-nodes takes a node back into the slot" \
		0 "^node 1 joined the VM \(agent pid [0-9]+\)$" --job "$JOBID" add-node
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native"; then
		pass "ctl join: full VM: output native"
	else
		fail "ctl join: full VM" "$(rc_text $rc)" "$JOB_ERR"
	fi
	# the agent now in that reused slot dies without leaving: the job
	# ends as for any lost node (its loss is not taken for the old
	# agent's, whose going was expected)
	start_served jkill "ctl join kill" -n 2 -v 2 --log-level info \
		-- "$GUESTS/sleeper" 30 ||
		return
	ctl --job "$JOBID" remove-node 1 >/dev/null 2>&1
	ans=$(ctl --job "$JOBID" add-node 2>&1)
	local kpid
	kpid=$(sed -n 's/^node 1 joined the VM (agent pid \([0-9]*\))$/\1/p' \
		<<<"$ans")
	[ -n "$kpid" ] && kill -KILL "$kpid"
	wait "$JOB_PID"
	rc=$?
	if [ -n "$kpid" ] && [ $rc = 125 ] &&
		[ "$(grep -c "^cvmm: node 1 lost" "$JOB_ERR")" = 1 ]; then
		pass "ctl join: the agent in a reused slot dies: the job ends, status 125, one line"
	else
		echo "add-node: $ans" >>"$JOB_ERR"
		fail "ctl join: a rejoined agent dies" "$(rc_text $rc)" "$JOB_ERR"
	fi
	join_release
}

# The release model: is (NAS IS: keys scattered into shared arrays, many
# data pages homed at every node) on -n 3 --max-nodes 4: node 1 leaves,
# two agents join (slot 1 again, then the free slot 3; an agent started
# without --memory-model takes the VM's), node 2 leaves, then node 1:
# the leavers hand their data pages' homes over, the output is native
# (is checks its sort, its key ranks and a hash of every key).
join_release() {
	local rc native=$SCRATCH/jrel.native homes
	if [ ! -x "$WORKLOADS/is" ]; then
		fail "ctl join: release model" "no workload binary at $WORKLOADS/is (make workloads)"
		return
	fi
	"$WORKLOADS/is" -p 4 -i 60 >"$native" 2>&1
	start_served jrel "ctl join release" -n 3 --max-nodes 4 -v 4 \
		--memory-model=release --log-level info -- \
		"$WORKLOADS/is" -p 4 -i 60 || return
	sleep 1
	check_ctl "ctl join, release model: node 1 leaves" 0 "^node 1 left: " \
		--job "$JOBID" remove-node 1
	check_ctl "ctl join, release model: a node joins into slot 1" 0 \
		"^node 1 joined the VM" --job "$JOBID" add-node
	check_ctl "ctl join, release model: another into the free slot 3" 0 \
		"^node 3 joined the VM" --job "$JOBID" add-node
	sleep 0.5
	check_ctl "ctl join, release model: node 2 leaves" 0 \
		"^node 2 left: node 3 took" --job "$JOBID" remove-node 2
	check_ctl "ctl join, release model: the rejoined node 1 leaves" 0 \
		"^node 1 left: " --job "$JOBID" remove-node 1
	wait "$JOB_PID"
	rc=$?
	homes=$(sed -n 's/.*leave: node [12] handed .*(\([0-9]*\) homes of the release.*/\1/p' \
		"$JOB_ERR" | awk '{ s += $1 } END { print s + 0 }')
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$native" &&
		[ "${homes:-0}" -gt 100 ] && ! grep -q "lost" "$JOB_ERR"; then
		pass "ctl join, release model: is native across 3 leaves and 2 joins ($homes data-page homes handed over)"
	else
		diff "$native" "$JOB_OUT" >>"$JOB_ERR" 2>&1
		fail "ctl join: release model" "$(rc_text $rc), $homes homes moved" "$JOB_ERR"
	fi
}

# expect_err LABEL STATUS ARGS...: cvmm ctl ARGS gives STATUS and one line
expect_err() {
	local label=$1 want=$2 out=$SCRATCH/err.out rc
	shift 2
	ctl "$@" >"$out" 2>&1
	rc=$?
	if [ $rc = "$want" ] && grep -q "^cvmm: " "$out" &&
		[ "$(grep -c "^cvmm: " "$out")" = 1 ]; then
		pass "ctl errors: $label"
	else
		fail "ctl errors: $label" "$(rc_text $rc), want $want" "$out"
	fi
}

part_migrate() {
	local rc tid json=$SCRATCH/mig.json
	start_served mig "ctl migrate" -n 2 -v 2 --log-level info \
		--stats="$SCRATCH/mig.stats" -- "$GUESTS/worker" 6 || return
	worker_tid
	tid=$TID
	# to node 0 (from wherever it was placed), then to node 1
	check_ctl "ctl migrate: to node 0" 0 \
		"^thread $tid (moves from node 1 to node 0|runs on node 0 already)" \
		--job "$JOBID" migrate "$tid" 0
	sleep 0.5
	check_ctl "ctl migrate: then to node 1" 0 \
		"^thread $tid moves from node 0 to node 1 " \
		--job "$JOBID" migrate "$tid" 1
	sleep 0.5
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" \
		"[n['threads'] for n in d['nodes']] == [1, 1] and
		 d['nodes'][1]['moved_in'] >= 1" >"$json.why" 2>&1; then
		pass "ctl migrate: status shows the worker on node 1"
	else
		cat "$json" >>"$json.why"
		fail "ctl migrate: status after" "worker not on node 1" "$json.why"
	fi
	check_ctl "ctl migrate: a thread that does not exist: one line, status 1" \
		1 "^error: no guest thread 999999$" --job "$JOBID" migrate 999999 1
	check_ctl "ctl migrate: a node that does not exist: one line, status 1" \
		1 "^error: no node 2 " --job "$JOBID" migrate "$tid" 2
	wait "$JOB_PID"
	rc=$?
	printf 'worker %s\nworker %s done\nsum right\nok\n' "$tid" "$tid" \
		>"$SCRATCH/mig.want"
	if [ $rc = 0 ] && cmp -s "$JOB_OUT" "$SCRATCH/mig.want"; then
		pass "ctl migrate: guest output native, the worker kept its tid"
	else
		diff "$SCRATCH/mig.want" "$JOB_OUT" >"$SCRATCH/mig.diff"
		fail "ctl migrate: guest" "$(rc_text $rc)" "$SCRATCH/mig.diff"
	fi
	if json_check "$SCRATCH/mig.stats" \
		"any(t['tid'] == $tid and t['migrations'] >= 1
		     for t in d['migrations']['per_thread'])" \
		>"$SCRATCH/mig.why" 2>&1 &&
		grep -q "thread $tid moves from node 0 to node 1 (cvmm ctl migrate)" "$JOB_ERR"; then
		pass "ctl migrate: --stats counts the move, the agent logs it"
	else
		fail "ctl migrate: --stats" "move not counted or not logged" "$SCRATCH/mig.why"
	fi
	part_migrate_spin
}

# A worker that never traps by itself (no call, no fault: a recurrence in
# registers) is kicked: it moves at once, not when its loop ends, and its
# results are the native ones (every register kept across the signal).
part_migrate_spin() {
	local rc json=$SCRATCH/spin.json native=$SCRATCH/spin.native
	"$GUESTS/worker" 4 spin >"$native" 2>&1
	start_served spin "ctl migrate spin" -n 2 -v 2 --log-level info -- \
		"$GUESTS/worker" 4 spin || return
	worker_tid
	sleep 0.3
	check_ctl "ctl migrate: a thread that never traps: asked" 0 \
		"^thread $TID moves from node 1 to node 0 " \
		--job "$JOBID" migrate "$TID" 0
	sleep 0.5
	ctl --job "$JOBID" status --json >"$json" 2>&1
	if json_check "$json" \
		"[n['threads'] for n in d['nodes']] == [2, 0] and
		 d['nodes'][0]['moved_in'] == 1" >"$json.why" 2>&1 &&
		! grep -q "^worker $TID done" "$JOB_OUT"; then
		pass "ctl migrate: a thread that never traps moves at once"
	else
		cat "$json" "$JOB_OUT" >>"$json.why"
		fail "ctl migrate: spin" "not on node 0 within 0.5 s" "$json.why"
	fi
	wait "$JOB_PID"
	rc=$?
	if [ $rc = 0 ] && [ "$(grep '^spin ' "$JOB_OUT")" = "$(grep '^spin ' "$native")" ] &&
		grep -qx "worker $TID done" "$JOB_OUT" &&
		grep -q "thread $TID moves from node 1 to node 0 (cvmm ctl migrate)" "$JOB_ERR"; then
		pass "ctl migrate: its results are the native ones ($(grep '^spin ' "$native"))"
	else
		cat "$native" "$JOB_OUT" >"$SCRATCH/spin.diff"
		fail "ctl migrate: spin results" "$(rc_text $rc)" "$SCRATCH/spin.diff"
	fi
}

part_errors() {
	local a b out=$SCRATCH/two-jobs.out rc
	XDG=$SCRATCH/xdg-errors
	mkdir -p -m 0700 "$XDG"
	expect_err "no job at all" 1 status
	expect_err "a job that does not exist" 1 --job 999999999 status
	expect_err "an unknown command" 2 frobnicate
	expect_err "a stray option" 2 status --frob
	expect_err "a --job that is no number" 2 --job ../x status
	expect_err "migrate without a node" 2 migrate 5
	expect_err "migrate with a word" 2 migrate five 1
	start_job errors-a -v 1 --log-level info -- "$GUESTS/sleeper" 4
	a=$JOB_PID
	wait_socket
	local ida=$JOBID
	JOB_ERR=$SCRATCH/errors-b.err
	XDG_RUNTIME_DIR=$XDG timeout -k 5 "$TIMEOUT" "$CVMM" run -v 1 \
		--log-level info -- "$GUESTS/sleeper" 4 >/dev/null 2>"$JOB_ERR" &
	b=$!
	wait_socket
	local idb=$JOBID
	ctl status >"$out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "2 cvmm jobs running" "$out" &&
		grep -q "$ida" "$out" && grep -q "$idb" "$out"; then
		pass "ctl errors: two jobs and no --job: refused, both named"
	else
		fail "ctl errors: two jobs" "$(rc_text $rc)" "$out"
	fi
	wait "$a" "$b"
}

part_others() {
	local out=$SCRATCH/others.out rc
	if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
		echo "SKIP ctl others: needs root and a user nobody"
		return
	fi
	start_served others "ctl others" -v 1 --log-level info \
		-- "$GUESTS/sleeper" 4 || return
	chmod 0711 "$SCRATCH" "$XDG"
	XDG_RUNTIME_DIR=$XDG timeout -k 5 30 setpriv --reuid=nobody \
		--regid=nogroup --clear-groups "$CVMM" ctl "$SOCK" status \
		>"$out" 2>&1
	rc=$?
	chmod 0700 "$SCRATCH" "$XDG"
	if [ $rc = 1 ] && ! grep -q "cvmm job" "$out"; then
		pass "ctl others: another user cannot reach the socket"
	else
		fail "ctl others" "$(rc_text $rc)" "$out"
	fi
	wait "$JOB_PID"
}

for part in ${*:-two one migrate balance pause drain remove join errors others}; do
	case $part in
	drain) part_drain ;;
	remove) part_remove ;;
	join) part_join ;;
	two) part_two ;;
	migrate) part_migrate ;;
	balance) part_balance ;;
	pause) part_pause ;;
	one) part_one ;;
	errors) part_errors ;;
	others) part_others ;;
	*)
		echo "unknown part $part (two, one, migrate, balance, pause," \
			"drain, remove, join, errors or others)" >&2
		exit 2
		;;
	esac
done
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
