#!/usr/bin/env bash
# Bootstrap under Open MPI's mpirun: $BUILD/test/boot_probe on NP ranks must
# find its rank and size from the environment, exchange "rank N" blobs and
# pass a barrier, and print "rank R of NP via METHOD: all NP blobs ok".
#   pmix         plain mpirun: the exchange must go through PMIx
#   coordinator  mpirun with the PMIX_* variables removed from the ranks:
#                rank from OMPI_COMM_WORLD_*, exchange through rank 0 at
#                --coordinator 127.0.0.1:PORT (the documented fallback)
#
# Usage: test/integration/mpirun_boot.sh   (normally "make mpirun-boot")
# Environment:
#   BUILD    build directory (default: build)
#   PROBE    probe binary (default: $BUILD/test/boot_probe)
#   NP       ranks (default: 2)
#   TIMEOUT  seconds per mpirun, SIGKILL 5 s later (default: 60)
# Output: "PASS name" or "FAIL name: reason" (with the run's output
# indented), then "N passed, M failed". Prints "SKIP mpirun: not installed"
# and exits 0 without mpirun.

set -u

BUILD=${BUILD:-build}
PROBE=${PROBE:-$BUILD/test/boot_probe}
NP=${NP:-2}
TIMEOUT=${TIMEOUT:-60}

if ! command -v mpirun >/dev/null 2>&1; then
	echo "SKIP mpirun: not installed"
	exit 0
fi
if [ ! -x "$PROBE" ]; then
	echo "FAIL mpirun: $PROBE not built (make $BUILD/test/boot_probe)"
	exit 1
fi
PROBE=$(realpath -- "$PROBE")
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np "$NP")

passed=0
failed=0
OUT=$(mktemp "${TMPDIR:-/tmp}/cvmm-mpirun-boot.XXXXXX") || exit 1
trap 'rm -f "$OUT"' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

# check NAME METHOD STATUS: every rank printed its ok line with METHOD.
check() {
	local name=$1 method=$2 status=$3 missing=""

	for ((r = 0; r < NP; r++)); do
		grep -qx "rank $r of $NP via $method: all $NP blobs ok" "$OUT" ||
			missing="$missing $r"
	done
	if [ "$status" = 0 ] && [ -z "$missing" ]; then
		echo "PASS mpirun $name: $NP ranks via $method"
		passed=$((passed + 1))
		return
	fi
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		echo "FAIL mpirun $name: timed out after $TIMEOUT s"
	else
		echo "FAIL mpirun $name: exit status $status, no ok line" \
			"from rank(s)$missing"
	fi
	sed 's/^/    /' "$OUT" | head -40
	failed=$((failed + 1))
}

# 1. PMIx from mpirun.
timeout -k 5 "$TIMEOUT" "${MPIRUN[@]}" "$PROBE" >"$OUT" 2>&1
check pmix pmix $?

# 2. No PMIx in the ranks' environment: rank 0 coordinates.
CVMM_JOB_COOKIE=$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')
export CVMM_JOB_COOKIE
ADDR="127.0.0.1:$(free_port)"
timeout -k 5 "$TIMEOUT" "${MPIRUN[@]}" -x CVMM_JOB_COOKIE sh -c '
	for v in $(env | sed -n "s/^\(PMIX_[A-Za-z0-9_]*\)=.*/\1/p"); do
		unset "$v"
	done
	exec "$0" --coordinator "$1"' "$PROBE" "$ADDR" >"$OUT" 2>&1
check coordinator coordinator $?

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
