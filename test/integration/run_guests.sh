#!/usr/bin/env bash
# Integration tests: every guest case runs natively once and then under
# "cvmm run -v V --root DIR -- guest args" for each V in $VCPUS; stdout and
# the exit status must be exactly the native ones, and so must stderr once
# cvmm's own lines ("cvmm: ...") are removed. Each run gets a fresh empty
# directory as cwd, which is also cvmm's --root. A few cases check
# cvmm-specific behaviour instead (sandbox escapes, crash message,
# unsupported syscalls and --strict, vCPU count, --stats).
#
# Usage: test/integration/run_guests.sh [NAME_REGEX]
#   (normally through "make integration" or "make test")
#
# Environment:
#   BUILD        build directory (default: build)
#   CVMM         cvmm binary (default: $BUILD/cvmm)
#   GUESTS       guest binaries (default: $BUILD/guests)
#   VCPUS        vCPU counts to run under (default: "1 2 4")
#   NODES        node agents per cvmm run (default: 1; above 1 every run is
#                "cvmm run -n NODES -v V" and every label ends "(-n NODES)")
#   TIMEOUT      seconds allowed per run, SIGKILL 5 s later (default: 60)
#   FILTER       extended regex on case names, like the argument
#   NATIVE_ONLY  1: run and check the guests natively only (no cvmm)
#   KEEP         1: keep the scratch directory (outputs of every run)
#   VERBOSE      1: print every command run
#
# Output: one line per check, "PASS name -v 2" or "FAIL name -v 2: reason"
# followed by a short indented diff, then "N passed, M failed". Exits 1 when
# anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=${CVMM:-$BUILD/cvmm}
GUESTS=${GUESTS:-$BUILD/guests}
VCPUS=${VCPUS:-1 2 4}
NODES=${NODES:-1}
TIMEOUT=${TIMEOUT:-60}
FILTER=${1:-${FILTER:-}}
NATIVE_ONLY=${NATIVE_ONLY:-0}
KEEP=${KEEP:-0}
VERBOSE=${VERBOSE:-0}

CVMM=$(realpath -m -- "$CVMM")
GUESTS=$(realpath -m -- "$GUESTS")
# The guests see the environment of this script: keep the test variables
# under our control, and the OpenMP ones that set the omp guest's team.
unset CVMM_TEST_VAR CVMM_TEST_BIG OMP_NUM_THREADS OMP_DYNAMIC \
	OMP_THREAD_LIMIT OMP_WAIT_POLICY GOMP_SPINCOUNT

# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init cvmm-it
NODE_FLAGS=()
IT_TAG=
if [ "$NODES" != 1 ]; then
	NODE_FLAGS=(-n "$NODES")
	IT_TAG="(-n $NODES)"
fi

selected() {
	[ -z "$FILTER" ] || [[ $1 =~ $FILTER ]]
}

have_cvmm() {
	[ "$NATIVE_ONLY" != 1 ]
}

# ---- one run ---------------------------------------------------------------
# Per-case settings, set by the case functions and read by run:
#   C_STDIN  file for stdin (default /dev/null)
#   C_PIPE   1: feed C_STDIN through a pipe instead of a redirection
#   C_ENV    array of VAR=VALUE added to the environment
#   C_SETUP  shell code run in the fresh directory before the run
C_STDIN=
C_PIPE=0
C_ENV=()
C_SETUP=

reset_case() {
	C_STDIN=
	C_PIPE=0
	C_ENV=()
	C_SETUP=
}

# run PREFIX CMD...: runs CMD with the case's stdin and environment in the
# fresh directory PREFIX.d (created here), writing PREFIX.out, PREFIX.err and
# PREFIX.rc. The word @DIR@ in CMD is replaced by that directory.
run() {
	local prefix=$1 dir=$1.d in=${C_STDIN:-/dev/null} rc
	shift
	local -a cmd=("${@//@DIR@/$dir}")

	mkdir -p -- "$dir"
	if [ -n "$C_SETUP" ]; then
		(cd "$dir" && eval "$C_SETUP") || echo "setup failed: $C_SETUP" >&2
	fi
	[ "$VERBOSE" = 1 ] && echo "  run (in $dir): ${cmd[*]}"
	# The subshell reports a signal death ("Segmentation fault") to its own
	# stderr, which is dropped; its exit status is the command's.
	(
		cd "$dir" || exit 99
		if [ "$C_PIPE" = 1 ]; then
			cat -- "$in" | timeout -k 5 "$TIMEOUT" env "${C_ENV[@]}" \
				"${cmd[@]}" >"$prefix.out" 2>"$prefix.err"
		else
			timeout -k 5 "$TIMEOUT" env "${C_ENV[@]}" "${cmd[@]}" \
				<"$in" >"$prefix.out" 2>"$prefix.err"
		fi
		exit $?
	) 2>/dev/null
	rc=$?
	echo "$rc" >"$prefix.rc"
	grep -v '^cvmm:' "$prefix.err" >"$prefix.guesterr"
}

rc_of() {
	cat -- "$1.rc"
}

# run_native NAME GUEST ARGS...: native run into $SCRATCH/NAME/native.
run_native() {
	local name=$1 guest=$2
	shift 2
	mkdir -p -- "$SCRATCH/$name"
	run "$SCRATCH/$name/native" "$GUESTS/$guest" "$@"
}

# run_cvmm NAME TAG V [CVMM_FLAGS...] -- GUEST ARGS...: run under cvmm
# into $SCRATCH/NAME/TAG, with --root the run's fresh directory.
run_cvmm() {
	local name=$1 tag=$2 v=$3
	shift 3
	local -a flags=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	local guest=$1
	shift
	mkdir -p -- "$SCRATCH/$name"
	if [ ! -x "$CVMM" ]; then
		: >"$SCRATCH/$name/$tag.out"
		echo "no cvmm binary at $CVMM" >"$SCRATCH/$name/$tag.err"
		cp "$SCRATCH/$name/$tag.err" "$SCRATCH/$name/$tag.guesterr"
		echo 127 >"$SCRATCH/$name/$tag.rc"
		return
	fi
	run "$SCRATCH/$name/$tag" "$CVMM" run "${NODE_FLAGS[@]}" -v "$v" \
		--root @DIR@ "${flags[@]}" -- "$GUESTS/$guest" "$@"
}

# The native run's stdout/stderr heads, for a failure message.
show_run() {
	local p=$1 out=$SCRATCH/.detail
	{
		echo "stdout:"
		head -n 5 -- "$p.out"
		echo "stderr:"
		head -n 5 -- "$p.err"
	} >"$out"
	echo "$out"
}

# compare NAME TAG LABEL CMP_STDERR: cvmm run TAG against the native run.
compare() {
	local name=$1 tag=$2 label=$3 cmp_err=$4
	local n=$SCRATCH/$name/native c=$SCRATCH/$name/$tag
	local nrc crc reasons=() detail=$SCRATCH/.detail

	nrc=$(rc_of "$n")
	crc=$(rc_of "$c")
	: >"$detail"
	if [ "$crc" != "$nrc" ]; then
		reasons+=("$(rc_text "$crc"), native $nrc")
	fi
	if ! cmp -s "$n.out" "$c.out"; then
		reasons+=("stdout differs")
		diff -u --label "native stdout" --label "cvmm stdout" \
			"$n.out" "$c.out" | head -n 8 >>"$detail"
	fi
	if [ "$cmp_err" = 1 ] && ! cmp -s "$n.guesterr" "$c.guesterr"; then
		reasons+=("stderr differs")
		diff -u --label "native stderr" --label "cvmm stderr (no cvmm: lines)" \
			"$n.guesterr" "$c.guesterr" | head -n 8 >>"$detail"
	fi
	if [ "$crc" != "$nrc" ] && [ -s "$c.err" ]; then
		echo "cvmm stderr:" >>"$detail"
		head -n 4 -- "$c.err" >>"$detail"
	fi
	if [ ${#reasons[@]} -eq 0 ]; then
		pass "$label"
	else
		local joined=${reasons[0]} r
		for r in "${reasons[@]:1}"; do
			joined+="; $r"
		done
		fail "$label" "$joined" "$detail"
	fi
}

# ---- the generic case ------------------------------------------------------
# tcase NAME [options] -- GUEST [ARGS...]
#   --status N    expected native exit status (default 0)
#   --expect RE   native stdout must match this extended regex
#   --no-stderr   do not compare stderr
#   --cvmm FLAG   pass FLAG to cvmm run (repeatable)
#   --stdin FILE, --pipe, --env VAR=VALUE, --setup CODE: see run
# Checks the native run (status, RE), then each V in VCPUS against it.
tcase() {
	local name=$1 status=0 expect='' cmp_err=1
	local -a cflags=()
	shift
	reset_case
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		--status) status=$2; shift ;;
		--expect) expect=$2; shift ;;
		--no-stderr) cmp_err=0 ;;
		--cvmm) cflags+=("$2"); shift ;;
		--stdin) C_STDIN=$2; shift ;;
		--pipe) C_PIPE=1 ;;
		--env) C_ENV+=("$2"); shift ;;
		--setup) C_SETUP=$2; shift ;;
		*) echo "tcase $name: bad option $1" >&2; exit 2 ;;
		esac
		shift
	done
	shift
	selected "$name" || return 0

	run_native "$name" "$@"
	local n=$SCRATCH/$name/native nrc
	nrc=$(rc_of "$n")
	if [ "$nrc" != "$status" ]; then
		fail "$name native" "$(rc_text "$nrc"), expected $status" \
			"$(show_run "$n")"
		return
	fi
	if [ -n "$expect" ] && ! grep -Eq -- "$expect" "$n.out"; then
		fail "$name native" "stdout lacks /$expect/" "$(show_run "$n")"
		return
	fi
	pass "$name native"
	have_cvmm || return 0
	local v
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" "${cflags[@]}" -- "$@"
		compare "$name" "v$v" "$name -v $v" "$cmp_err"
	done
}

# ---- special cases ---------------------------------------------------------

# Opening the host's /etc/passwd from inside --root must fail or give some
# other file. Natively the guest must see it (proves the check works).
case_file_escape() {
	local name=file-escape
	local -a paths=(../../../../etc/passwd /etc/passwd link_passwd
		link_up/etc/passwd /proc/self/root/etc/passwd)
	selected "$name" || return 0
	reset_case
	C_SETUP='ln -s /etc/passwd link_passwd && ln -s ../../../../../../../.. link_up'

	run_native "$name" file escape "${paths[@]}"
	local n=$SCRATCH/$name/native
	if head -c 5 /etc/passwd 2>/dev/null | grep -q '^root:'; then
		if ! grep -qx '/etc/passwd: escape OPEN' "$n.out"; then
			fail "$name native" "guest does not see the host's /etc/passwd" \
				"$(show_run "$n")"
			return
		fi
	fi
	pass "$name native"
	have_cvmm || return 0
	local v c blocked
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" -- file escape "${paths[@]}"
		c=$SCRATCH/$name/v$v
		blocked=$(grep -c ': escape blocked$' "$c.out")
		if [ "$(rc_of "$c")" != 0 ]; then
			fail "$name -v $v" "$(rc_text "$(rc_of "$c")")" "$(show_run "$c")"
		elif grep -q 'escape OPEN' "$c.out"; then
			grep 'escape OPEN' "$c.out" >"$SCRATCH/.detail"
			fail "$name -v $v" "host file readable through --root" \
				"$SCRATCH/.detail"
		elif [ "$blocked" != ${#paths[@]} ]; then
			fail "$name -v $v" "$blocked of ${#paths[@]} paths reported" \
				"$(show_run "$c")"
		else
			pass "$name -v $v"
		fi
	done
}

# A guest fault: STATUS (128 + signal) natively and under cvmm, the same
# stdout (the flushed line before the fault), and cvmm's one line naming it.
# case_crash NAME STATUS MESSAGE GUEST [ARGS...]
case_crash() {
	local name=$1 status=$2 msg=$3 guest=$4
	shift 4
	selected "$name" || return 0
	reset_case
	run_native "$name" "$guest" "$@"
	local n=$SCRATCH/$name/native
	if [ "$(rc_of "$n")" != "$status" ]; then
		fail "$name native" "$(rc_text "$(rc_of "$n")"), expected $status" \
			"$(show_run "$n")"
		return
	fi
	pass "$name native"
	have_cvmm || return 0
	local v c
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" -- "$guest" "$@"
		c=$SCRATCH/$name/v$v
		if ! grep -q "cvmm: guest thread [0-9]*: $msg" "$c.err"; then
			fail "$name -v $v" "stderr lacks '$msg'" "$(show_run "$c")"
		else
			compare "$name" "v$v" "$name -v $v" 0
		fi
	done
}

# An unsupported syscall (add_key, called 3 times): fails in the guest, the
# VM goes on with the native exit status and stdout, and cvmm names the call
# on exactly one stderr line. Under --strict the VM stops with a non-zero
# status and names it.
case_unsupported() {
	local name=unsupported
	selected "$name" || return 0
	reset_case
	run_native "$name" unsupported
	local n=$SCRATCH/$name/native
	if [ "$(rc_of "$n")" != 0 ] || ! grep -q 'still running' "$n.out"; then
		fail "$name native" "$(rc_text "$(rc_of "$n")")" "$(show_run "$n")"
		return
	fi
	pass "$name native"
	have_cvmm || return 0
	local v c lines
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" -- unsupported
		c=$SCRATCH/$name/v$v
		lines=$(grep -c 'add_key' "$c.err")
		if [ "$lines" != 1 ]; then
			fail "$name -v $v" "stderr names add_key on $lines lines, want 1" \
				"$(show_run "$c")"
		else
			compare "$name" "v$v" "$name -v $v" 0
		fi
	done
	selected "$name-strict" || return 0
	for v in $VCPUS; do
		run_cvmm "$name" "strict$v" "$v" --strict -- unsupported
		c=$SCRATCH/$name/strict$v
		local rc
		rc=$(rc_of "$c")
		if [ "$rc" = 0 ] || [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			fail "$name --strict -v $v" "$(rc_text "$rc"), want non-zero" \
				"$(show_run "$c")"
		elif ! grep -q 'add_key' "$c.err"; then
			fail "$name --strict -v $v" "stderr does not name add_key" \
				"$(show_run "$c")"
		elif grep -q 'still running' "$c.out"; then
			fail "$name --strict -v $v" "guest went on after the call" \
				"$(show_run "$c")"
		else
			pass "$name --strict -v $v"
		fi
	done
}

# The guest must see exactly V processors, three ways.
case_cpus() {
	local name=cpus
	selected "$name" || return 0
	reset_case
	run_native "$name" cpus
	local n=$SCRATCH/$name/native
	if [ "$(rc_of "$n")" != 0 ] || [ "$(wc -l <"$n.out")" != 3 ]; then
		fail "$name native" "$(rc_text "$(rc_of "$n")")" "$(show_run "$n")"
		return
	fi
	pass "$name native"
	have_cvmm || return 0
	local v c good
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" -- cpus
		c=$SCRATCH/$name/v$v
		good=$(grep -Ec "^[a-z_]+ $v\$" "$c.out")
		if [ "$(rc_of "$c")" != 0 ]; then
			fail "$name -v $v" "$(rc_text "$(rc_of "$c")")" "$(show_run "$c")"
		elif [ "$good" != 3 ] || [ "$(wc -l <"$c.out")" != 3 ]; then
			fail "$name -v $v" "guest does not see $v cpus" "$c.out"
		else
			pass "$name -v $v"
		fi
	done
}

# OpenMP's default team is the processors the program sees: "omp team"
# must print "team V" under cvmm -v V (natively, the host's count).
case_omp_team() {
	local name=omp-team
	selected "$name" || return 0
	reset_case
	run_native "$name" omp team
	local n=$SCRATCH/$name/native
	if [ "$(rc_of "$n")" != 0 ] || ! grep -Eqx 'team [0-9]+' "$n.out"; then
		fail "$name native" "$(rc_text "$(rc_of "$n")")" "$(show_run "$n")"
		return
	fi
	pass "$name native"
	have_cvmm || return 0
	local v c
	for v in $VCPUS; do
		run_cvmm "$name" "v$v" "$v" -- omp team
		c=$SCRATCH/$name/v$v
		if [ "$(rc_of "$c")" != 0 ]; then
			fail "$name -v $v" "$(rc_text "$(rc_of "$c")")" "$(show_run "$c")"
		elif ! grep -qx "team $v" "$c.out"; then
			fail "$name -v $v" "default OpenMP team is not $v threads" \
				"$c.out"
		else
			pass "$name -v $v"
		fi
	done
}

# --stats=FILE: the guest's output is unchanged and FILE is written (JSON).
case_stats() {
	local name=stats
	selected "$name" || return 0
	reset_case
	run_native "$name" fib 2 24
	pass "$name native"
	have_cvmm || return 0
	local v c f
	for v in $VCPUS; do
		f=$SCRATCH/$name/stats-v$v.json
		run_cvmm "$name" "v$v" "$v" "--stats=$f" -- fib 2 24
		c=$SCRATCH/$name/v$v
		if [ ! -s "$f" ]; then
			fail "$name -v $v" "--stats file not written" "$(show_run "$c")"
		elif command -v python3 >/dev/null &&
			! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' \
				"$f" 2>/dev/null; then
			fail "$name -v $v" "--stats file is not valid JSON" "$f"
		else
			compare "$name" "v$v" "$name -v $v" 0
		fi
	done
}

# First touch on one node: fresh anonymous memory is made present when it
# is mapped (gmem_populate), not a fault per page as natively. firsttouch
# 32 wait allocates 32 MiB and waits on stdin before touching it; with
# --populate=256 the guest window's resident size in the agent's
# /proc/PID/smaps must already hold those 32 MiB; with --populate=0 it
# must not; with the default (auto) it must be as the agent's probe
# decided (its debug line: populating or faulting). Several nodes leave
# pages to the coherence protocol: NODES=1 only.
case_firsttouch() {
	local name=firsttouch flags rss want
	selected "$name" || return 0
	have_cvmm || return 0
	[ "$NODES" = 1 ] || return 0
	for flags in "--populate=256" "--populate=0" "--log-level=debug"; do
		if ! rss=$(firsttouch_resident $flags); then
			fail "$name resident $flags" "$rss" \
				"$SCRATCH/firsttouch/err"
			continue
		fi
		want=$flags
		if [ "$flags" = --log-level=debug ]; then
			want=$(grep -o 'populate auto: .*: [a-z]*' \
				"$SCRATCH/firsttouch/err")
			case $want in
			*populating) want=--populate=256 ;;
			*faulting) want=--populate=0 ;;
			*) fail "$name auto" "no probe line" \
				"$SCRATCH/firsttouch/err"
			   continue ;;
			esac
		fi
		if [ "$want" = --populate=256 ] && [ "$rss" -ge 32768 ]; then
			pass "$name resident $flags: $rss kB of the guest \
window before the guest touched its 32 MiB"
		elif [ "$want" = --populate=0 ] && [ "$rss" -lt 32768 ]; then
			pass "$name resident $flags: $rss kB (nothing populated)"
		else
			fail "$name resident $flags" "$rss kB of the guest \
window resident before the guest touched its 32 MiB ($want)"
		fi
	done
}

# firsttouch_resident [CVMM_FLAGS...]: runs firsttouch 32 wait under cvmm
# and prints the guest window's resident kB (the memory file's mappings
# below 1 TiB: the agent view starts GMEM_DELTA higher) read while the
# guest waits; on failure prints why and returns 1.
firsttouch_resident() {
	local d=$SCRATCH/firsttouch pid p rss=0 rc
	rm -rf "$d"
	mkdir -p "$d/root"
	mkfifo "$d/in"
	(cd "$d/root" && exec timeout -k 5 "$TIMEOUT" "$CVMM" run -v 1 "$@" \
		-- "$GUESTS/firsttouch" 32 wait <"$d/in" >"$d/out" 2>"$d/err") &
	pid=$!
	exec 9>"$d/in"
	for _ in $(seq 200); do
		grep -q '^mapped' "$d/out" 2>/dev/null && break
		sleep 0.05
	done
	for p in $(pgrep -f -- "firsttouch 32 wait"); do
		[ "$(readlink "/proc/$p/exe")" = "$(realpath "$CVMM")" ] || continue
		rss=$(python3 -c 'import re, sys
cur, total = None, 0
for line in open(sys.argv[1]):
    m = re.match(r"([0-9a-f]+)-[0-9a-f]+ ", line)
    if m:
        cur = int(m[1], 16) if "cvmm-guest" in line else None
    elif line.startswith("Rss:") and cur is not None and cur < 1 << 40:
        total += int(line.split()[1])
print(total)' "/proc/$p/smaps")
	done
	echo go >&9
	exec 9>&-
	wait "$pid"
	rc=$?
	if [ "$rc" != 0 ] || ! grep -q '^ok ' "$d/out"; then
		echo "$(rc_text "$rc")"
		return 1
	fi
	echo "$rss"
}

# ---- the cases -------------------------------------------------------------

if [ ! -d "$GUESTS" ]; then
	echo "no guests in $GUESTS (run make guests)" >&2
	exit 1
fi
if ! have_cvmm; then
	echo "NATIVE_ONLY=1: checking the guests natively only"
elif [ ! -x "$CVMM" ]; then
	echo "warning: no cvmm binary at $CVMM: every cvmm check will fail" >&2
fi

# Stdin data: 300 KB of fixed pseudo-random text lines.
STDIN_DATA=$SCRATCH/stdin.data
awk 'BEGIN { x = 12345; for (i = 0; i < 20000; i++) {
	x = (x * 1103515245 + 12345) % 2147483648;
	printf "%d line %d %x\n", i, x, x * 7 } }' >"$STDIN_DATA"

BIG_ENV=$(printf 'b%.0s' $(seq 1 20000))$(printf 'ENV%.0s' $(seq 1 20000))
BIG_ARGS=()
for i in $(seq 1 2000); do
	BIG_ARGS+=("arg$i-with-some-length-$((i * 7919 % 1000))")
done

tcase hello-args --env 'CVMM_TEST_VAR=a value with  spaces' --expect 'argc 8' \
	-- hello 0 "two words" "" "  spaced  " 'qu"ote' "tab	x" "last"
tcase hello-noenv --expect 'CVMM_TEST_VAR \(unset\)' -- hello
tcase hello-exit3 --status 3 --env CVMM_TEST_VAR=3 -- hello 3
tcase hello-exit255 --status 255 -- hello 255 x
tcase hello-big --env "CVMM_TEST_BIG=$BIG_ENV" --expect 'argc 2002' \
	-- hello 0 "${BIG_ARGS[@]}"
tcase hello.pie-args --env 'CVMM_TEST_VAR=pie var' --status 5 \
	-- hello.pie 5 "x y" ""
tcase mutex --expect '^ok$' -- mutex
tcase mutex.pie --expect '^ok$' -- mutex.pie 4 20000
tcase barrier --expect '^ok$' -- barrier 6 200
tcase barrier-8 --expect '^ok$' -- barrier 8 50
tcase condvar --expect '^ok$' -- condvar 3 3 10000
tcase sem --expect '^ok$' -- sem 10000
tcase tls --expect '^ok$' -- tls 8
tcase tls.pie --expect '^ok$' -- tls.pie 4
tcase fpu --expect '^ok$' -- fpu 4 200000
tcase fpu.pie --expect '^ok$' -- fpu.pie 3 100000
tcase regs --expect '^ok$' -- regs 4 2000
tcase entryregs --expect '^ok$' -- entryregs
# the guest's own FS base (wrfsbase) kept across a trapping call
tcase fsbase --expect '^fsbase: (block 1 kept .*: yes|FSGSBASE not available)$' \
	-- fsbase
tcase malloc --expect '^ok$' -- malloc 12 2000
tcase mmap --expect '^ok$' -- mmap 4
tcase brk --expect '^ok$' -- brk
tcase file --expect '^ok$' -- file
tcase file.pie --expect '^ok$' -- file.pie
case_file_escape
tcase stdin-file --stdin "$STDIN_DATA" --expect 'lines 20000 ' -- stdin
tcase stdin-pipe --stdin "$STDIN_DATA" --pipe --expect 'lines 20000 ' -- stdin
tcase stdin-empty --expect '^bytes 0 ' -- stdin
case_crash nullderef 139 'segmentation fault at 0x0 (rip 0x[0-9a-f]* main' \
	nullderef
case_crash nullderef-thread 139 'segmentation fault at 0x0' nullderef thread
case_crash crash-int3 133 'trace/breakpoint trap' crash int3
case_crash crash-ud2 132 'illegal instruction at' crash ud2
case_crash crash-div0 136 'floating point exception' crash div0
case_crash crash-jump0 139 'segmentation fault at 0x0 (rip 0x0)' crash jump0
case_crash crash-jumplo 139 'segmentation fault at 0x1000 (rip 0x1000)' crash jumplo
case_unsupported
tcase waves --expect '^ok$' -- waves 64 16
tcase fib --expect '^total = 785672$' -- fib 4 27
tcase getpid --expect '^ok$' -- getpid
case_cpus
tcase rwlock --expect '^ok$' -- rwlock 5000
tcase pipe --expect '^ok$' -- pipe
tcase pipeshare --expect '^pipeshare ok read readv poll$' -- pipeshare
tcase sendfileshare --expect '^sendfileshare ok$' -- sendfileshare
tcase clock --expect '^ok$' -- clock
tcase limits --expect '^poll limit\+1: EINVAL$' -- limits
tcase partial --expect '^getrandom into a hole: 8092 $' -- partial
tcase filemap --expect '^mprotect it writable: EACCES$' -- filemap
tcase atomics --expect '^ok$' -- atomics 50000
tcase robust --expect '^done$' -- robust
tcase firsttouch --expect '^ok 10240$' -- firsttouch 32
tcase abort --status 134 --expect '^aborting$' -- abort
tcase exitcode-worker --status 42 -- exitcode worker
tcase exitcode-main --status 7 -- exitcode main
tcase exitcode-last --expect '^last worker done$' -- exitcode last
# OpenMP (gcc -fopenmp -static): reduction, barrier, critical, atomic,
# schedules, single, locks, ordered, tasks; the default team (-v V threads),
# OMP_NUM_THREADS from the environment, and num_threads(3) and (4).
tcase omp --expect '^ok$' -- omp 4000
tcase omp-env4 --env OMP_NUM_THREADS=4 --expect '^ok$' -- omp 2000
tcase omp-env3-team --env OMP_NUM_THREADS=3 --expect '^team 3$' -- omp team
case_omp_team
case_stats
case_firsttouch
# The seccomp RET_TRAP fallback for kernels without Syscall User Dispatch.
tcase seccomp-hello --cvmm --entry=seccomp --status 3 -- hello 3 x
tcase seccomp-mutex --cvmm --entry=seccomp --expect '^ok$' -- mutex
tcase seccomp-file --cvmm --entry=seccomp --expect '^ok$' -- file
tcase seccomp-entryregs --cvmm --entry=seccomp --expect '^ok$' -- entryregs

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
