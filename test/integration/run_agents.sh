#!/usr/bin/env bash
# Node agents as real processes over the real transport (UCX): connection and
# transport checks between 2 and 4 agents, a guest run with -n 2, the job
# cookie, a killed agent, cvmm run itself terminated or killed (no agent
# outlives it), agents in two network namespaces joined by a veth
# pair (a VM over both, and a node joining a running VM across it), and
# agents started by Open MPI's mpirun (a second mpirun step joining two
# more into the VM's free slots). Checks that need root,
# ip netns or mpirun say SKIP with the reason when they cannot run.
#
# Usage: test/integration/run_agents.sh   (BUILD, CVMM, GUESTS as in
# run_guests.sh). Ends with "N passed, M failed".
set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-agents.XXXXXX") || exit 1
NS_A=cvmm-t$$-a
NS_B=cvmm-t$$-b
npass=0
nfail=0
nskip=0

cleanup() {
	pkill -KILL -P $$ 2>/dev/null
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf -- "$SCRATCH"
}
trap cleanup EXIT

pass() { echo "PASS $1"; npass=$((npass + 1)); }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); }
fail() {
	echo "FAIL $1: $2"
	shift 2
	for f in "$@"; do
		[ -f "$f" ] && sed 's/^/    /' "$f" | head -n 15
	done
	nfail=$((nfail + 1))
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# selftest NAME N [FLAGS...]: cvmm run -n N --selftest passes on every node.
selftest() {
	local name=$1 n=$2 out=$SCRATCH/$1
	shift 2
	timeout -k 5 90 "$CVMM" run -n "$n" "$@" --selftest >"$out.out" \
		2>"$out.err"
	local rc=$?
	if [ $rc != 0 ]; then
		fail "$name" "exit status $rc" "$out.out" "$out.err"
	elif ! grep -q "^selftest: $n agents: all checks passed$" "$out.out" ||
		[ "$(grep -c ': ok$' "$out.out")" != "$n" ]; then
		fail "$name" "not every node passed" "$out.out" "$out.err"
	else
		pass "$name ($(grep -o 'over [^;]*' "$out.out" | head -n 1))"
	fi
}

# guest NAME N GUEST ARGS...: output and status equal to the native run.
guest() {
	local name=$1 n=$2 g=$3 out=$SCRATCH/$1
	shift 3
	(cd "$SCRATCH" && "$GUESTS/$g" "$@" >"$out.nat" 2>/dev/null)
	local nrc=$?
	(cd "$SCRATCH" && timeout -k 5 60 "$CVMM" run -n "$n" \
		--transport=tcp -- "$GUESTS/$g" "$@" >"$out.out" 2>"$out.err")
	local rc=$?
	if [ $rc != $nrc ]; then
		fail "$name" "exit status $rc, native $nrc" "$out.err"
	elif ! cmp -s "$out.nat" "$out.out"; then
		fail "$name" "stdout differs from native" "$out.out"
	else
		pass "$name"
	fi
}

# --page-transfer=auto on 2 agents (default transport): the guest runs as
# natively, and both agents log the same choice, the one cvmm info names
# for this host (push without an ACTIVE RDMA port).
page_transfer_check() {
	local name="page transfer auto on 2 nodes" out=$SCRATCH/ptauto want
	want=$("$CVMM" info 2>/dev/null |
		sed -n 's/^  page transfer: \([a-z]*\) .*/\1/p')
	(cd "$SCRATCH" && "$GUESTS/mutex" >"$out.nat" 2>/dev/null)
	(cd "$SCRATCH" && timeout -k 5 60 "$CVMM" run -n 2 -v 2 \
		--page-transfer=auto --log-level=info -- "$GUESTS/mutex" \
		>"$out.out" 2>"$out.err")
	local rc=$?
	if [ $rc != 0 ]; then
		fail "$name" "exit status $rc" "$out.err"
	elif ! cmp -s "$out.nat" "$out.out"; then
		fail "$name" "stdout differs from native" "$out.out"
	elif [ -z "$want" ] || [ "$(grep -c "page transfer: $want (auto" \
		"$out.err")" != 2 ]; then
		fail "$name" "not both agents chose '$want' (cvmm info)" \
			"$out.err"
	else
		pass "$name ($want)"
	fi
}

# env_check N: the guest's environment under cvmm run -n N is exactly the
# native one: none of the agents' own variables (the job cookie, CVMM_BOOT_*,
# what cvmm set for its agents) reaches it. (env -u _: bash sets _ to the
# command it runs, which differs between the two runs.)
env_check() {
	local n=$1 name="guest environment on $1 nodes is the user's"
	local out=$SCRATCH/env$1
	(cd "$SCRATCH" && env -u _ "$GUESTS/printenv" >"$out.nat")
	(cd "$SCRATCH" && timeout -k 5 60 env -u _ "$CVMM" run -n "$n" \
		--transport=tcp -- "$GUESTS/printenv" >"$out.out" 2>"$out.err")
	local rc=$?
	if [ $rc != 0 ]; then
		fail "$name" "exit status $rc" "$out.err"
	elif grep -q '^CVMM_JOB_COOKIE=\|^CVMM_BOOT_\|^CVMM_AGENT_ENV=' \
		"$out.out"; then
		fail "$name" "agent variables leaked" "$out.out"
	elif ! diff "$out.nat" "$out.out" >"$out.diff"; then
		fail "$name" "differs from native" "$out.diff"
	else
		pass "$name"
	fi
}

# coord_agent COOKIE RANK PORT OUT [ARGS...]: one agent of a 2-agent
# selftest job whose coordinator (rank 0) serves 127.0.0.1:PORT; stdout to
# OUT, stderr to OUT.err.
coord_agent() {
	local cookie=$1 rank=$2 port=$3 out=$4
	shift 4
	CVMM_JOB_COOKIE=$cookie timeout -k 5 60 "$CVMM" agent \
		--rank "$rank" --size 2 --coordinator "127.0.0.1:$port" \
		--transport=tcp --selftest "$@" >"$out" 2>"$out.err"
}

# An agent given the wrong job cookie is refused by the coordinator (rank 0
# logs it) and the job goes on with the right one.
cookie_check() {
	local port out=$SCRATCH/cookie
	port=$(free_port)
	coord_agent 0123456789abcdef 0 "$port" "$out.r0" &
	local r0=$!
	sleep 0.5
	coord_agent fedcba9876543210 1 "$port" "$out.bad" --timeout-ms 3000
	local badrc=$?
	coord_agent 0123456789abcdef 1 "$port" "$out.r1"
	local r1rc=$?
	wait $r0
	local r0rc=$?
	if [ $badrc = 0 ]; then
		fail "cookie: wrong cookie refused" "the intruder joined" \
			"$out.bad.err" "$out.r0.err"
	elif ! grep -q 'cookie' "$out.r0.err"; then
		fail "cookie: wrong cookie refused" "rank 0 did not log it" \
			"$out.r0.err"
	else
		pass "cookie: wrong cookie refused and logged"
	fi
	if [ $r0rc != 0 ] || [ $r1rc != 0 ] ||
		! grep -q 'all checks passed' "$out.r0"; then
		fail "cookie: job completes with the right cookie" \
			"status $r0rc/$r1rc" "$out.r0" "$out.r0.err" "$out.r1.err"
	else
		pass "cookie: job completes with the right cookie"
	fi
}

# Every process below pid $1, one per line.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

# Agents all on this machine listen on loopback only: nothing of the job
# is reachable from the network (no --iface, no RDMA device here).
listen_check() {
	local out=$SCRATCH/listen l pids bad
	if ! command -v ss >/dev/null; then
		skip "listen: agents listen on loopback only" "no ss"
		return
	fi
	(cd "$SCRATCH" && timeout -k 5 30 "$CVMM" run -n 2 --transport=tcp \
		-- "$GUESTS/sleeper" 3 >"$out.out" 2>"$out.err") &
	l=$!
	sleep 1.5
	pids=$(descendants "$l" | paste -sd'|')
	ss -Hltnp >"$out.ss" 2>/dev/null
	wait $l
	if [ -z "$pids" ] ||
		! grep -Eq "pid=($pids)," "$out.ss"; then
		fail "listen: agents listen on loopback only" \
			"no listening agent found" "$out.ss" "$out.err"
		return
	fi
	bad=$(grep -E "pid=($pids)," "$out.ss" |
		awk '{print $4}' | grep -Ev '^(127\.0\.0\.1|\[::1\]):')
	if [ -n "$bad" ]; then
		fail "listen: agents listen on loopback only" "also on $bad" \
			"$out.ss"
	else
		pass "listen: agents listen on loopback only"
	fi
}

# Strangers holding connections to the coordinator open (no cookie needed
# to connect) must not keep a rank out: 100 idle connections, renewed as
# the coordinator drops them, for 8 s, while rank 1 joins. Loopback only,
# bounded in count and time.
flood_check() {
	local port out=$SCRATCH/flood
	port=$(free_port)
	coord_agent 0123456789abcdef 0 "$port" "$out.r0" &
	local r0=$!
	sleep 0.5
	timeout 20 python3 - "$port" >"$out.flood" 2>&1 <<'PY' &
import socket, sys, time
port, held, made, end = int(sys.argv[1]), [], 0, time.time() + 8
while time.time() < end and made < 5000:
    held = [s for s in held if s.fileno() >= 0]
    while len(held) < 100 and made < 5000:
        try:
            held.append(socket.create_connection(("127.0.0.1", port), 1))
            made += 1
        except OSError:
            break
    time.sleep(0.05)
    for s in held:
        try:
            s.setblocking(False)
            if s.recv(1) == b"":
                s.close()
        except BlockingIOError:
            pass
        except OSError:
            s.close()
print("connections", made)
PY
	local fl=$!
	sleep 1
	coord_agent 0123456789abcdef 1 "$port" "$out.r1"
	local r1rc=$?
	wait $r0
	local r0rc=$?
	wait $fl
	if [ $r0rc != 0 ] || [ $r1rc != 0 ] ||
		! grep -q 'all checks passed' "$out.r0"; then
		fail "flood: a rank joins past 100 idle strangers" \
			"status $r0rc/$r1rc" "$out.r1.err" "$out.r0.err"
	else
		pass "flood: a rank joins past 100 idle strangers ($(cat \
			"$out.flood"))"
	fi
}

# pid of the agent with rank R under launcher pid L
agent_pid() {
	local l=$1 r=$2 p
	for p in $(pgrep -P "$l"); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "CVMM_BOOT_RANK=$r"; then
			echo "$p"
			return
		fi
	done
}

# Kill agent RANK of a 3-node VM running a sleeper: every other agent ends
# within 5 s with "node RANK lost" and cvmm run returns non-zero.
lost_check() {
	local rank=$1 out=$SCRATCH/lost$1 l pid t0 t1
	(cd "$SCRATCH" && exec timeout -k 5 60 "$CVMM" run -n 3 \
		--transport=tcp -- "$GUESTS/sleeper" 40 >"$out.out" \
		2>"$out.err") &
	local sub=$!
	for _ in $(seq 1 100); do
		grep -q sleeping "$out.out" 2>/dev/null && break
		sleep 0.1
	done
	l=$(pgrep -P $sub) # timeout's child: the launcher, parent of agents
	pid=$(agent_pid "$l" "$rank")
	if [ -z "$pid" ]; then
		fail "lost node $rank" "agent $rank not found" "$out.err"
		return
	fi
	t0=$(date +%s.%N)
	kill -KILL "$pid"
	wait $sub
	local rc=$?
	t1=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ $rc = 0 ]; then
		fail "lost node $rank" "cvmm run exited 0" "$out.err"
	elif awk -v s="$secs" 'BEGIN { exit !(s > 6.5) }'; then
		fail "lost node $rank" "took $secs s to end (limit 5 s)" \
			"$out.err"
	elif [ "$rank" != 0 ] && ! grep -q "node $rank lost" "$out.err"; then
		fail "lost node $rank" "no 'node $rank lost' line" "$out.err"
	else
		pass "lost node $rank: job ended in $secs s, status $rc"
	fi
}

# cvmm run itself sent SIG (TERM: the job ends with one line and status
# 128 + 15, node 0 terminated and the other agents killed; KILL: no agent
# outlives it, each dies with its parent): no agent of the job is left
# within 5 s.
launcher_signal_check() {
	local sig=$1 out=$SCRATCH/launch-$1 l agents rc left
	(cd "$SCRATCH" && exec "$CVMM" run -n 3 --transport=tcp -- \
		"$GUESTS/sleeper" 40 >"$out.out" 2>"$out.err") &
	l=$!
	for _ in $(seq 1 100); do
		grep -q sleeping "$out.out" 2>/dev/null && break
		sleep 0.1
	done
	agents=$(pgrep -P "$l" | tr '\n' ' ')
	if [ -z "$agents" ]; then
		fail "cvmm run SIG$sig" "no agents under cvmm run" "$out.err"
		kill -KILL "$l" 2>/dev/null
		wait "$l"
		return
	fi
	kill -"$sig" "$l"
	wait "$l"
	rc=$?
	for _ in $(seq 1 50); do
		left=""
		for p in $agents; do
			kill -0 "$p" 2>/dev/null && left="$left $p"
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		fail "cvmm run SIG$sig" "agents$left still running" "$out.err"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null
	elif [ "$sig" = TERM ] && { [ $rc != 143 ] ||
		[ "$(grep -c . "$out.err")" != 1 ] ||
		! grep -q "ending the job" "$out.err"; }; then
		fail "cvmm run SIGTERM" "status $rc, or not one line" "$out.err"
	else
		pass "cvmm run SIG$sig: every agent gone, status $rc"
	fi
}

netns_check() {
	if [ "$(id -u)" != 0 ]; then
		skip "netns" "not root"
		return
	fi
	if ! ip netns add "$NS_A" 2>/dev/null; then
		skip "netns" "ip netns add failed"
		return
	fi
	ip netns add "$NS_B" &&
		ip link add cvmm$$a type veth peer name cvmm$$b &&
		ip link set cvmm$$a netns "$NS_A" &&
		ip link set cvmm$$b netns "$NS_B" &&
		ip -n "$NS_A" addr add 169.254.77.1/30 dev cvmm$$a &&
		ip -n "$NS_B" addr add 169.254.77.2/30 dev cvmm$$b &&
		ip -n "$NS_A" link set cvmm$$a up &&
		ip -n "$NS_B" link set cvmm$$b up &&
		ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up
	if [ $? != 0 ]; then
		fail "netns" "could not set up the veth pair"
		return
	fi
	local out=$SCRATCH/netns cookie=00112233445566aa
	CVMM_JOB_COOKIE=$cookie timeout -k 5 90 ip netns exec "$NS_A" \
		"$CVMM" agent --rank 0 --size 2 --transport=tcp \
		--coordinator 169.254.77.1:7411 --iface cvmm$$a --selftest \
		>"$out.a" 2>"$out.aerr" &
	local a=$!
	CVMM_JOB_COOKIE=$cookie timeout -k 5 90 ip netns exec "$NS_B" \
		"$CVMM" agent --rank 1 --size 2 --transport=tcp \
		--coordinator 169.254.77.1:7411 --iface cvmm$$b --selftest \
		>"$out.b" 2>"$out.berr"
	local brc=$?
	wait $a
	local arc=$?
	if [ $arc != 0 ] || [ $brc != 0 ] ||
		! grep -q 'all checks passed' "$out.a"; then
		fail "netns: two hosts over a veth pair" "status $arc/$brc" \
			"$out.a" "$out.aerr" "$out.berr"
	else
		pass "netns: two hosts over a veth pair (169.254.77.0/30)"
	fi
	# One VM over the two "hosts": threads on both, coherent memory and
	# futexes over the veth pair.
	CVMM_JOB_COOKIE=$cookie timeout -k 5 90 ip netns exec "$NS_A" \
		"$CVMM" agent --rank 0 --size 2 -v 2 --transport=tcp \
		--coordinator 169.254.77.1:7412 --iface cvmm$$a \
		-- "$GUESTS/mutex" 4 20000 >"$out.ga" 2>"$out.gaerr" &
	a=$!
	CVMM_JOB_COOKIE=$cookie timeout -k 5 90 ip netns exec "$NS_B" \
		"$CVMM" agent --rank 1 --size 2 -v 2 --transport=tcp \
		--coordinator 169.254.77.1:7412 --iface cvmm$$b \
		-- "$GUESTS/mutex" 4 20000 >"$out.gb" 2>"$out.gberr"
	brc=$?
	wait $a
	arc=$?
	if [ $arc != 0 ] || ! grep -qx 'ok' "$out.ga" ||
		! grep -q 'counter 80000' "$out.ga"; then
		fail "netns: a VM over both hosts" "status $arc/$brc" \
			"$out.ga" "$out.gaerr" "$out.gberr"
	else
		pass "netns: a VM over both hosts (mutex, 4 threads)"
	fi
	netns_join "$cookie"
}

# wait_for FILE PATTERN: up to 10 s for a line matching PATTERN in FILE
wait_for() {
	for _ in $(seq 1 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# A node joins a running VM across the veth pair: node 0 alone in NS_A
# with a free slot, listening for joins on its veth address; an agent in
# NS_B joins it (cvmm agent --join); node 0 drained, every guest thread
# runs on the joined "host"; output native, both agents exit 0.
netns_join() {
	local cookie=$1 out=$SCRATCH/njoin xdg=$SCRATCH/xdg-njoin a b arc brc
	mkdir -p -m 0700 "$xdg"
	"$GUESTS/barrier" 4 8000 >"$out.native" 2>&1
	CVMM_JOB_COOKIE=$cookie XDG_RUNTIME_DIR=$xdg timeout -k 5 90 \
		ip netns exec "$NS_A" "$CVMM" agent --rank 0 --size 1 \
		--max-nodes 2 -v 2 --transport=tcp --iface cvmm$$a \
		--join-listen 169.254.77.1:7413 --log-level info \
		-- "$GUESTS/barrier" 4 8000 >"$out.a" 2>"$out.aerr" &
	a=$!
	if ! wait_for "$out.aerr" "joins: node 0 listens at 169.254.77.1:7413"; then
		wait $a
		fail "netns: a node joins across the veth pair" \
			"node 0 does not listen" "$out.aerr"
		return
	fi
	CVMM_JOB_COOKIE=$cookie timeout -k 5 90 ip netns exec "$NS_B" \
		"$CVMM" agent -v 2 --transport=tcp --iface cvmm$$b \
		--join 169.254.77.1:7413 --log-level info \
		-- "$GUESTS/barrier" 4 8000 >"$out.b" 2>"$out.berr" &
	b=$!
	wait_for "$out.aerr" "join: node 1 joined"
	XDG_RUNTIME_DIR=$xdg timeout 30 "$CVMM" ctl drain 0 >"$out.ctl" 2>&1
	# the threads move as their calls return: ask until node 1 has them
	# all (the guest may finish about a second after the drain: a fixed
	# wait sometimes asked a VM that had gone)
	for _ in $(seq 40); do
		XDG_RUNTIME_DIR=$xdg timeout 30 "$CVMM" ctl status --json \
			>"$out.json" 2>&1
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["nodes"][1]["threads"] == 5 else 1)' "$out.json" \
			2>/dev/null && break
		sleep 0.05
	done
	XDG_RUNTIME_DIR=$xdg timeout 30 "$CVMM" ctl undrain 0 >>"$out.ctl" 2>&1
	wait $a
	arc=$?
	wait $b
	brc=$?
	if [ $arc = 0 ] && [ $brc = 0 ] && cmp -s "$out.a" "$out.native" &&
		grep -q "node 1 of 2 joined the VM at 169.254.77.1:7413" \
			"$out.berr" &&
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["nodes"][1]["threads"] == 5 else 1)' "$out.json" 2>/dev/null; then
		pass "netns: a node joins across the veth pair, runs every thread"
	else
		fail "netns: a node joins across the veth pair" \
			"status $arc/$brc" "$out.a" "$out.aerr" "$out.berr" \
			"$out.ctl" "$out.json"
	fi
}

mpirun_check() {
	if ! command -v mpirun >/dev/null; then
		skip "mpirun" "mpirun not installed"
		return
	fi
	local out=$SCRATCH/mpi flags=(--oversubscribe -np 2)
	[ "$(id -u)" = 0 ] && flags+=(--allow-run-as-root)
	timeout -k 5 120 mpirun "${flags[@]}" "$CVMM" agent --transport=tcp \
		--selftest >"$out.out" 2>"$out.err"
	local rc=$?
	if [ $rc != 0 ] || ! grep -q 'all checks passed' "$out.out"; then
		fail "mpirun: 2 agents connect" "status $rc" "$out.out" \
			"$out.err"
	else
		pass "mpirun: 2 agents connect ($(grep -c ': ok$' "$out.out") ok)"
	fi
	(cd "$SCRATCH" && timeout -k 5 120 mpirun "${flags[@]}" "$CVMM" agent \
		--transport=tcp -- "$GUESTS/hello" 3 mpi >"$out.hello" \
		2>"$out.herr")
	rc=$?
	if [ $rc != 3 ] || [ "$(grep -c '^argc 3' "$out.hello")" != 1 ]; then
		fail "mpirun: guest output once, status from rank 0" \
			"status $rc" "$out.hello" "$out.herr"
	else
		pass "mpirun: guest output once, status from rank 0"
	fi
	mpirun_join_check "${flags[@]}"
}

# A VM started by mpirun with two free slots (--max-nodes 4); a second
# mpirun step starts two agents with --join (the address and cookie from
# cvmm ctl join-info): both join, one slot each, the guest's output is
# native and both steps end with status 0.
mpirun_join_check() {
	local out=$SCRATCH/mpij xdg=$SCRATCH/xdg-mpij addr ck rc1 rc2 vm
	mkdir -p -m 0700 "$xdg"
	"$GUESTS/barrier" 4 20000 >"$out.native" 2>&1
	(cd "$SCRATCH" && XDG_RUNTIME_DIR=$xdg exec timeout -k 5 120 \
		mpirun "$@" "$CVMM" agent --transport=tcp --max-nodes 4 -v 4 \
		--log-level info -- "$GUESTS/barrier" 4 20000 >"$out.out" \
		2>"$out.err") &
	vm=$!
	for _ in $(seq 1 100); do
		XDG_RUNTIME_DIR=$xdg "$CVMM" ctl join-info >"$out.info" \
			2>/dev/null && break
		sleep 0.1
	done
	addr=$(sed -n 's/^address //p' "$out.info")
	ck=$(sed -n 's/^cookie //p' "$out.info")
	if [ -z "$addr" ] || [ -z "$ck" ]; then
		fail "mpirun: a second step joins" "no join-info" "$out.err"
		kill "$vm" 2>/dev/null
		wait "$vm"
		return
	fi
	(cd "$SCRATCH" && CVMM_JOB_COOKIE=$ck timeout -k 5 120 mpirun "$@" \
		-x CVMM_JOB_COOKIE "$CVMM" agent --transport=tcp --join "$addr" \
		-v 4 -- "$GUESTS/barrier" 4 20000 >"$out.jout" 2>"$out.jerr")
	rc2=$?
	wait "$vm"
	rc1=$?
	if [ $rc1 = 0 ] && [ $rc2 = 0 ] && cmp -s "$out.out" "$out.native" &&
		grep -q "node 2 joined the VM" "$out.err" &&
		grep -q "node 3 joined the VM" "$out.err"; then
		pass "mpirun: a second mpirun step joins 2 agents into the free slots, output native"
	else
		fail "mpirun: a second step joins" "status $rc1 and $rc2" \
			"$out.err" "$out.jerr"
	fi
}

selftest "selftest -n 2 tcp" 2 --transport=tcp
selftest "selftest -n 4 tcp" 4 --transport=tcp
selftest "selftest -n 2 shm" 2 --transport=shm
selftest "selftest -n 2 auto, poll" 2 --progress=poll
selftest "selftest -n 2 tcp, event" 2 --transport=tcp --progress=event
guest "guest hello on 2 nodes" 2 hello 3 two words
guest "guest mutex on 2 nodes" 2 mutex
page_transfer_check
env_check 2
env_check 4
cookie_check
flood_check
listen_check
lost_check 2
lost_check 0
launcher_signal_check TERM
launcher_signal_check KILL
netns_check
mpirun_check

echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
