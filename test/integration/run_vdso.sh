#!/usr/bin/env bash
# cvmm's guest vDSO (src/core/vdso/, docs/core.md "The guest's vDSO"):
#  - the shared object: no relocations, no writable segment, exports the
#    four time calls as LINUX_2.6 and no getcpu;
#  - test/guests/vdso (auxv, every time call, errnos, clock_getres) prints
#    exactly what it prints natively under cvmm -v 1 and -v 2 (host clocks
#    through the vDSO), with --entry seccomp and on -n 2 (the vDSO's calls
#    trap), and with CVMM_VDSO=off (no vDSO: only its "vdso:" line differs);
#  - --stats counts the calls that trapped: test/guests/clockloop makes
#    110000 clock_gettime(CLOCK_MONOTONIC) calls, none of which may trap on
#    -v 1 and -v 2, all of which must trap with --entry seccomp, on -n 2
#    and with CVMM_VDSO=off; the CPU-time and invalid clocks of the vdso
#    guest still trap (cvmm answers them); sched_getcpu always traps (the
#    vDSO has no getcpu: the guest's CPU is its vCPU).
#
# Usage: test/integration/run_vdso.sh
# Environment: BUILD, CVMM, GUESTS (as run_guests.sh), TIMEOUT (seconds per
# run, default 60), KEEP=1 keeps the scratch directory.
# Output: "PASS name" / "FAIL name: reason" lines, then "N passed, M failed";
# exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=${CVMM:-$BUILD/cvmm}
GUESTS=${GUESTS:-$BUILD/guests}
TIMEOUT=${TIMEOUT:-60}
KEEP=${KEEP:-0}
VDSO_SO=$BUILD/src/core/vdso/vdso_guest.so
LOOPS=100000

CVMM=$(realpath -m -- "$CVMM")
GUESTS=$(realpath -m -- "$GUESTS")
unset CVMM_VDSO

# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init cvmm-vdso

# ---- the shared object -----------------------------------------------------
check_object() {
	local out=$SCRATCH/readelf name
	if ! command -v readelf >/dev/null; then
		echo "SKIP vdso object: no readelf"
		return
	fi
	if [ ! -f "$VDSO_SO" ]; then
		fail "vdso object" "no $VDSO_SO"
		return
	fi
	readelf -rlW --dyn-syms "$VDSO_SO" >"$out" 2>&1
	if ! grep -q '^There are no relocations' "$out"; then
		fail "vdso object" "has relocations" "$out"
	elif grep -E '^ +LOAD' "$out" | grep -q ' RW'; then
		fail "vdso object" "has a writable segment" "$out"
	elif grep -q getcpu "$out"; then
		fail "vdso object" "exports getcpu" "$out"
	else
		for name in clock_gettime gettimeofday time clock_getres; do
			if ! grep -Eq " __vdso_$name@@LINUX_2\.6\$" "$out"; then
				fail "vdso object" "__vdso_$name@@LINUX_2.6 missing" "$out"
				return
			fi
		done
		pass "vdso object"
	fi
}

# ---- runs ------------------------------------------------------------------
# run TAG [ENV=VALUE...] -- CMD...: runs CMD in a fresh directory (also the
# --root of a cvmm run) into $SCRATCH/TAG.{out,err,rc}.
run() {
	local tag=$1 p=$SCRATCH/$1
	local -a envs=()
	shift
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	mkdir -p -- "$p.d"
	(
		cd "$p.d" || exit 99
		timeout -k 5 "$TIMEOUT" env "${envs[@]}" "$@" \
			</dev/null >"$p.out" 2>"$p.err"
	) 2>/dev/null
	echo $? >"$p.rc"
}

# cvmm_run TAG [ENV=VALUE...] -- CVMM_FLAGS... -- GUEST ARGS...
cvmm_run() {
	local tag=$1
	local -a envs=() flags=()
	shift
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	while [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	local guest=$1
	shift
	run "$tag" "${envs[@]}" -- "$CVMM" run "${flags[@]}" \
		--root "$SCRATCH/$tag.d" --stats="$SCRATCH/$tag.json" \
		-- "$GUESTS/$guest" "$@"
}

# count TAG SYSCALL: how often SYSCALL ran in the --stats file of run TAG
# (0 when absent), or "none" when the file is missing or unreadable.
count() {
	python3 - "$SCRATCH/$1.json" "$2" <<'PY' 2>/dev/null || echo none
import json, sys
print(json.load(open(sys.argv[1])).get("syscalls", {}).get(sys.argv[2], 0))
PY
}

# compare TAG LABEL [SED]: stdout and status of run TAG against the native
# run of the vdso guest (SED applied to the native stdout first).
compare() {
	local tag=$1 label=$2 sed=${3:-} d=$SCRATCH/.detail
	local rc nrc
	rc=$(cat "$SCRATCH/$tag.rc")
	nrc=$(cat "$SCRATCH/native.rc")
	sed -e "$sed" "$SCRATCH/native.out" >"$SCRATCH/native.want"
	if [ "$rc" != "$nrc" ]; then
		{ echo "stderr:"; head -n 5 "$SCRATCH/$tag.err"; } >"$d"
		fail "$label" "$(rc_text "$rc"), native $nrc" "$d"
	elif ! diff -u --label native --label cvmm "$SCRATCH/native.want" \
		"$SCRATCH/$tag.out" >"$d"; then
		fail "$label" "stdout differs" "$d"
	else
		pass "$label"
	fi
}

# trapped TAG LABEL SYSCALL MIN MAX: SYSCALL ran MIN to MAX times in run TAG.
trapped() {
	local tag=$1 label=$2 nr=$3 min=$4 max=$5 n
	n=$(count "$tag" "$nr")
	if [ "$(cat "$SCRATCH/$tag.rc")" != 0 ]; then
		fail "$label" "$(rc_text "$(cat "$SCRATCH/$tag.rc")")" \
			"$SCRATCH/$tag.err"
	elif [ "$n" = none ]; then
		fail "$label" "no --stats file" "$SCRATCH/$tag.err"
	elif [ "$n" -lt "$min" ] || [ "$n" -gt "$max" ]; then
		fail "$label" "$nr trapped $n times, want $min to $max"
	else
		pass "$label ($nr trapped $n times)"
	fi
}

check_object

run native -- "$GUESTS/vdso"
if [ "$(cat "$SCRATCH/native.rc")" != 0 ] ||
	! grep -qx 'vdso: present' "$SCRATCH/native.out" ||
	grep -q FAIL "$SCRATCH/native.out"; then
	fail "vdso native" "no vDSO or a check failed natively" \
		"$SCRATCH/native.out"
else
	pass "vdso native"
fi

# label, environment, flags: the vdso guest, and the clockloop guest whose
# clock_gettime calls trap (all of them) or not (none)
configs=(
	"-v 1|-|-v 1|none"
	"-v 2|-|-v 2|none"
	"--entry seccomp|-|-v 1 --entry seccomp|all"
	"-n 2 -v 2|-|-n 2 -v 2|all"
	"CVMM_VDSO=off|CVMM_VDSO=off|-v 1|all"
)
i=0
for c in "${configs[@]}"; do
	IFS='|' read -r label env flags traps <<<"$c"
	[ "$env" = - ] && env=
	i=$((i + 1))
	# shellcheck disable=SC2086
	cvmm_run "vdso$i" $env -- $flags -- vdso
	if [ -n "$env" ]; then
		compare "vdso$i" "vdso $label" 's/^vdso: present$/vdso: absent/'
	else
		compare "vdso$i" "vdso $label"
	fi
	# shellcheck disable=SC2086
	cvmm_run "loop$i" $env -- $flags -- clockloop $LOOPS
	if [ "$traps" = none ]; then
		trapped "loop$i" "clockloop $label" clock_gettime 0 10
		# the CPU-time clocks (4 calls and a bad pointer) and the three
		# invalid ids of the vdso guest go to the syscall, and cvmm
		# answered them (its output was native's)
		trapped "vdso$i" "cpu-time clocks trap $label" clock_gettime 8 20
	else
		# the loop and its warm-up of a tenth, and the timing reads
		trapped "loop$i" "clockloop $label" clock_gettime \
			$((LOOPS * 11 / 10)) $((LOOPS * 11 / 10 + 10))
	fi
done

cvmm_run getcpu -- -v 2 -- vdso getcpu 1000
trapped getcpu "sched_getcpu still traps -v 2" getcpu 1000 1000

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
