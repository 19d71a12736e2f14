# Shared by the integration scripts (sourced): the scratch directory, the
# PASS/FAIL lines and their counters. Expects KEEP and TIMEOUT to be set.
# IT_TAG, when set, is appended to every PASS/FAIL label (e.g. "(-n 2)").
# it_init PREFIX: makes $SCRATCH and removes it at exit (unless KEEP=1).

it_init() {
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	trap it_cleanup EXIT
	npass=0
	nfail=0
}

it_cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "scratch directory kept: $SCRATCH"
	else
		rm -rf -- "$SCRATCH"
	fi
}

pass() {
	echo "PASS $1${IT_TAG:+ $IT_TAG}"
	npass=$((npass + 1))
}

# fail LABEL REASON [DETAIL_FILE]: the detail (a diff, a log) is printed
# indented, at most 12 lines.
fail() {
	echo "FAIL $1${IT_TAG:+ $IT_TAG}: $2"
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		head -n 12 -- "$3" | sed 's/^/    /'
		local n
		n=$(wc -l <"$3")
		[ "$n" -gt 12 ] && echo "    ... ($((n - 12)) more lines)"
	fi
	nfail=$((nfail + 1))
}

# A TCP port on 127.0.0.1 free a moment ago (the kernel's pick), for a
# coordinator: a random one collided with a port in use now and then.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Describes exit status $1 for a message.
rc_text() {
	case $1 in
	124 | 137) echo "timed out after ${TIMEOUT}s (status $1)" ;;
	*) echo "exit status $1" ;;
	esac
}

# json_check FILE EXPR: python3 evaluates EXPR with d the document of FILE
# (a --stats file) and tids the tids of FILE.tids if it exists (one a line,
# may be empty); prints what is wrong and fails when it is not true.
json_check() {
	python3 - "$1" "$2" <<'PY'
import json, os, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("not JSON: %s" % e)
    sys.exit(1)
tids = []
if os.path.exists(sys.argv[1] + ".tids"):
    tids = [int(x) for x in open(sys.argv[1] + ".tids").read().split()]
try:
    ok = eval("(%s)" % sys.argv[2], {"d": d, "tids": tids})
except Exception as e:
    ok = False
    print("%s: %r" % (sys.argv[2], e))
if not ok:
    print("false: %s" % " ".join(sys.argv[2].split()))
    if isinstance(d, dict) and "migrations" in d:
        print("migrations: %s" % json.dumps(d["migrations"])[:400])
    sys.exit(1)
PY
}
