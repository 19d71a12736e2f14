#!/usr/bin/env bash
# Integration tests of the --stats file and "cvmm report", writer to reader:
#  one      "cvmm run -v 2 --stats=F -- fib 4 N": F is JSON with one node
#           and two per_vcpu entries; "cvmm report F" shows two vCPU rows on
#           node 0 and says single node; "cvmm report F -o F.html" writes a
#           page whose SVG charts parse and that has no coherence charts;
#  two      the same under "cvmm run -n 2 -v 2": F has 2 nodes, faults > 0,
#           a fault trace, hot pages and no migrations (spread placement);
#           the summary shows vCPUs on nodes 0 and 1, the fault counts of F
#           and "migrations: 0"; F's "release" member says the sequential
#           model with every counter 0 and the summary has no release
#           block; the page has the latency, scatter and hot-page charts
#           and parses;
#  moved    under "cvmm run -n 2 -v 2 --migrate-every 4": F counts
#           migrations per node and per thread, adding up; the summary's
#           migrations line and thread list are F's; the page has both
#           migration tables with F's numbers and parses;
#  sync     the atomics guest under "cvmm run -n 2 -v 2 --stats=F": the
#           hot page of its fetch-and-add counter counts atomic writes (the
#           faulting instructions decoded: lock xadd, lock cmpxchg, xchg)
#           and its message-passing data page, written with plain stores,
#           none; "cvmm report F" shows the counter page's atomic writes;
#  release  the stencil workload at a small size (sub-page blocks, two
#           threads writing every boundary page between barriers) under
#           "cvmm run -n 2 -v 2 --memory-model=release --stats=F": F's
#           "release" member says the release model, pages were promoted
#           to data pages and diffs sent (with their bytes), no races,
#           and every counter is the
#           sum of its per-node ones; "cvmm report F" prints the release
#           block with F's numbers and the page has its table and parses
#           (the two part checks the sequential model's zeros and that it
#           has no block);
#  bad      a truncated F (or sample_multinode.json), random bytes,
#           nesting 100000 deep, a 65 MiB file, a JSON file that is no
#           stats file and a missing one: "cvmm report F -o F.html" exits
#           non-zero with exactly one stderr line (saying where for bad
#           JSON), nothing on stdout and no HTML written.
#
# Usage: test/integration/run_report.sh [one|two|moved|sync|release|bad ...]
#        (default: all)
#
# Environment:
#   BUILD, CVMM, GUESTS  as in run_guests.sh (default build, $BUILD/cvmm,
#                        $BUILD/guests)
#   TIMEOUT  seconds per run, SIGKILL 5 s later (default: 60)
#   FIB_N    fib(N) per thread (default: 25)
#   KEEP     1: keep the scratch directory
#
# Output: one line per check, "PASS ..." or "FAIL ...: reason" with a short
# indented detail, then "N passed, M failed". Exits 1 when anything failed.

set -u

BUILD=${BUILD:-build}
CVMM=$(realpath -m -- "${CVMM:-$BUILD/cvmm}")
GUESTS=$(realpath -m -- "${GUESTS:-$BUILD/guests}")
WORKLOADS=$(realpath -m -- "${WORKLOADS:-$BUILD/workloads}")
TIMEOUT=${TIMEOUT:-60}
FIB_N=${FIB_N:-25}
KEEP=${KEEP:-0}
HERE=$(dirname "$0")

# shellcheck source=test/integration/lib.sh
. "$HERE/lib.sh"
it_init cvmm-report

# ---- helpers -----------------------------------------------------------------

# html_check FILE SVG_ID...: the page is balanced HTML, every <svg> in it
# parses as XML, and each SVG_ID names one of them; prints what is wrong.
html_check() {
	python3 - "$@" <<'PY'
import re, sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base",
        "embed", "source", "track", "wbr"}

class Balance(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.bad = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.bad.append("</%s> closes <%s>" % (tag, self.stack[-1:]))
        else:
            self.stack.pop()

page = open(sys.argv[1], encoding="utf-8").read()
p = Balance()
p.feed(page)
p.close()
errs = p.bad[:3] + (["unclosed %s" % p.stack] if p.stack else [])
ids = []
for svg in re.findall(r"<svg\b.*?</svg>", page, re.S):
    try:
        ids.append(ET.fromstring(svg).get("id"))
    except ET.ParseError as e:
        errs.append("svg %s does not parse: %s" % (svg[:40], e))
for want in sys.argv[2:]:
    if want not in ids:
        errs.append("no svg %s (have %s)" % (want, ids))
if not page.startswith("<!DOCTYPE html>") or "<script" in page:
    errs.append("not a self-contained page")
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
PY
}

# stats_run LABEL FILE ARGS...: cvmm run ARGS with --stats=FILE on fib; the
# guest must succeed and FILE must exist. Returns 1 after a FAIL.
stats_run() {
	local label=$1 f=$2 rc
	shift 2
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run "$@" \
		--stats="$f" -- "$GUESTS/fib" 4 "$FIB_N" >"$f.out" 2>"$f.err")
	rc=$?
	if [ $rc != 0 ] || ! grep -q '^total = ' "$f.out"; then
		cat "$f.out" "$f.err" >"$f.detail"
		fail "$label" "cvmm run: $(rc_text $rc)" "$f.detail"
		return 1
	fi
	if [ ! -s "$f" ]; then
		fail "$label" "--stats file not written" "$f.err"
		return 1
	fi
	pass "$label"
}

# report LABEL FILE [-o HTML]: cvmm report FILE into FILE.txt; fails on a
# non-zero status. Returns 1 after a FAIL.
report() {
	local label=$1 f=$2 rc
	shift 2
	"$CVMM" report "$f" "$@" >"$f.txt" 2>"$f.rerr"
	rc=$?
	if [ $rc != 0 ]; then
		cat "$f.txt" "$f.rerr" >"$f.detail"
		fail "$label" "cvmm report: exit status $rc" "$f.detail"
		return 1
	fi
}

# vcpu_rows FILE.txt: the per-vCPU rows of the summary as "vcpu node".
vcpu_rows() {
	awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF == 11 { print $1, $2 }' "$1"
}

# ---- one node ----------------------------------------------------------------

case_one() {
	local f=$SCRATCH/one.json msg rows
	stats_run "one: cvmm run -v 2 --stats" "$f" -v 2 || return
	if msg=$(json_check "$f" 'd["nodes"] == 1 and d["vcpus"] == 2 and
	    len(d["per_vcpu"]) == 2 and "faults" not in d and
	    sum(v["threads"] for v in d["per_vcpu"]) == 5 and
	    sum(d["syscalls"].get(c, 0) for c in ("clone", "clone3")) == 4');
	then
		pass "one: stats file has 1 node, 2 vcpus, 5 threads"
	else
		echo "$msg" >"$f.why"
		fail "one: stats file" "not as expected" "$f.why"
	fi
	report "one: cvmm report" "$f" || return
	rows=$(vcpu_rows "$f.txt" | tr '\n' ' ')
	if [ "$rows" != "0 0 1 0 " ]; then
		fail "one: cvmm report" "vcpu rows '$rows', want '0 0 1 0 '" \
			"$f.txt"
	elif ! grep -q '^  2 vcpus on 1 node, ' "$f.txt" ||
		! grep -q '^no coherence data: single node run$' "$f.txt"; then
		fail "one: cvmm report" "no '2 vcpus on 1 node' or no single \
node line" "$f.txt"
	else
		pass "one: cvmm report: 2 vcpu rows on node 0, single node"
	fi
	report "one: cvmm report -o" "$f" -o "$f.html" || return
	if ! msg=$(html_check "$f.html" vcpu-time); then
		echo "$msg" >"$f.why"
		fail "one: cvmm report -o" "page does not check" "$f.why"
	elif [ "$(grep -c '<text x="4" y="[0-9]*">vcpu [01] (node 0)' \
		"$f.html")" != 2 ] || ! grep -q 'id="no-coherence"' "$f.html" ||
		grep -q '<svg id="latency"' "$f.html"; then
		fail "one: cvmm report -o" "not 2 vcpu bars on node 0 without \
coherence charts" "$f.html"
	else
		pass "one: cvmm report -o: page parses, 2 vcpu bars, no coherence"
	fi
}

# ---- two nodes ---------------------------------------------------------------

case_two() {
	local f=$SCRATCH/two.json msg rows want
	stats_run "two: cvmm run -n 2 -v 2 --stats" "$f" -n 2 -v 2 || return
	if msg=$(json_check "$f" 'd["nodes"] == 2 and d["vcpus"] == 2 and
	    sorted(v["node"] for v in d["per_vcpu"]) == [0, 1] and
	    d["faults"]["read"] + d["faults"]["write"] > 0 and
	    sum(b[2] for b in d["faults"]["latency_hist_us"]) ==
	        d["faults"]["read"] + d["faults"]["write"] and
	    len(d["fault_trace"]) > 0 and len(d["hot_pages"]) > 0 and
	    sorted(d["messages"]) == ["node 0", "node 1"] and
	    len(d["heap"]) == 2 and len(d["threads"]) >= 1 and
	    d["migrations"]["total"] == 0 and
	    d["migrations"]["per_thread"] == [] and
	    [(n["node"], n["out"], n["in"])
	     for n in d["migrations"]["per_node"]] == [(0, 0, 0), (1, 0, 0)] and
	    d["release"]["memory_model"] == "sequential" and
	    [n["node"] for n in d["release"]["per_node"]] == [0, 1] and
	    not any(v for n in [d["release"]] + d["release"]["per_node"]
	            for k, v in n.items()
	            if k not in ("memory_model", "per_node", "node"))');
	then
		pass "two: stats file has 2 nodes, faults, trace, hot pages, \
no migrations, sequential model"
	else
		echo "$msg" >"$f.why"
		fail "two: stats file" "not as expected" "$f.why"
		return
	fi
	report "two: cvmm report" "$f" || return
	rows=$(vcpu_rows "$f.txt" | tr '\n' ' ')
	want=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["faults"]
print("faults: %d read, %d write," % (d["read"], d["write"]))' "$f")
	if [ "$rows" != "0 0 1 1 " ]; then
		fail "two: cvmm report" "vcpu rows '$rows', want '0 0 1 1 '" \
			"$f.txt"
	elif ! grep -q '^  2 vcpus on 2 nodes, ' "$f.txt" ||
		! grep -qF "$want" "$f.txt" ||
		! grep -q '^messages: node 0 [0-9]*, node 1 [0-9]*$' "$f.txt" ||
		! grep -q '^hot pages:$' "$f.txt" ||
		! grep -qx 'migrations: 0 (node 0 out 0 in 0, node 1 out 0 in 0)' \
			"$f.txt" ||
		grep -q 'threads that moved' "$f.txt" ||
		grep -q 'release memory model' "$f.txt" ||
		grep -q 'no coherence data' "$f.txt"; then
		fail "two: cvmm report" "no 2 nodes, '$want', messages or hot \
pages" "$f.txt"
	else
		pass "two: cvmm report: vcpus on nodes 0 and 1, $want hot pages"
	fi
	report "two: cvmm report -o" "$f" -o "$f.html" || return
	if ! msg=$(html_check "$f.html" vcpu-time latency fault-scatter); then
		echo "$msg" >"$f.why"
		fail "two: cvmm report -o" "page does not check" "$f.why"
	elif ! grep -q '<table id="hot-pages">' "$f.html" ||
		! grep -q '<h2>Coherence</h2>' "$f.html" ||
		! grep -q '<circle ' "$f.html" ||
		! grep -q '<rect class="bar"' "$f.html"; then
		fail "two: cvmm report -o" "coherence sections missing" \
			"$f.html"
	else
		pass "two: cvmm report -o: page parses, latency, scatter, hot pages"
	fi
}

# ---- synchronisation pages ---------------------------------------------------

case_sync() {
	local f=$SCRATCH/sync.json msg rc faa mp
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 2 \
		--stats="$f" -- "$GUESTS/atomics" 20000 >"$f.out" 2>"$f.err")
	rc=$?
	if [ $rc != 0 ] || [ ! -s "$f" ]; then
		cat "$f.out" "$f.err" >"$f.detail"
		fail "sync: cvmm run -n 2 atomics --stats" "$(rc_text $rc)" \
			"$f.detail"
		return
	fi
	pass "sync: cvmm run -n 2 atomics --stats"
	faa=$(nm "$GUESTS/atomics" | awk '$3 == "faa_counter" { print $1 }')
	mp=$(nm "$GUESTS/atomics" | awk '$3 == "mp" { print $1 }')
	if [ -z "$faa" ] || [ -z "$mp" ]; then
		nm "$GUESTS/atomics" >"$f.nm" 2>&1
		fail "sync: symbols" "no faa_counter or mp in the guest" "$f.nm"
		return
	fi
	if msg=$(json_check "$f" '(lambda pages, faa, mp:
	    faa in pages and pages[faa]["atomic_writes"] > 0 and
	    pages[faa]["atomic_writes"] <= pages[faa]["writes"] and
	    mp in pages and pages[mp]["writes"] > 0 and
	    pages[mp]["atomic_writes"] == 0)(
	    {h["addr"]: h for h in d["hot_pages"]},
	    0x'"$faa"' & ~4095, 0x'"$mp"' & ~4095)'); then
		pass "sync: the counter's page has atomic writes, the data page none"
	else
		echo "$msg" >"$f.why"
		fail "sync: stats file" "atomic writes not where expected" \
			"$f.why"
		return
	fi
	report "sync: cvmm report" "$f" || return
	if grep -q ' writes ([0-9]* atomic)' "$f.txt"; then
		pass "sync: cvmm report shows atomic writes"
	else
		fail "sync: cvmm report" "no '(N atomic)' on a hot page" "$f.txt"
	fi
}

# ---- the release memory model --------------------------------------------------

# A stencil with sub-page blocks (two threads writing every boundary
# page): its pages move twice for plain stores and become data pages, whose
# writes then go home as diffs.
case_release() {
	local f=$SCRATCH/release.json msg rc want
	(cd "$SCRATCH" && timeout -k 5 "$TIMEOUT" "$CVMM" run -n 2 -v 2 \
		--memory-model=release --stats="$f" -- "$WORKLOADS/stencil" \
		-n 256 -s 10 -p 2 >"$f.out" 2>"$f.err")
	rc=$?
	if [ $rc != 0 ] || ! grep -q '^stencil: PASS' "$f.out" || [ ! -s "$f" ]; then
		cat "$f.out" "$f.err" >"$f.detail"
		fail "release: cvmm run -n 2 --memory-model=release stencil \
--stats" "$(rc_text $rc)" "$f.detail"
		return
	fi
	pass "release: cvmm run -n 2 --memory-model=release stencil --stats"
	if msg=$(json_check "$f" '(lambda r:
	    r["memory_model"] == "release" and r["diffs_sent"] > 0 and
	    r["diff_bytes"] >= r["diffs_sent"] and r["promoted_pages"] > 0 and
	    r["races"] == 0 and 0 < r["diffs_applied"] <= r["diffs_sent"] and
	    [n["node"] for n in r["per_node"]] == [0, 1] and
	    all(r[k] == sum(n[k] for n in r["per_node"]) for k in
	        ("diffs_sent", "diff_bytes", "diffs_applied", "twins",
	         "write_notices", "invalidated", "fetches", "zero_fetches",
	         "acquires", "releases", "sync_pages", "races",
	         "forwards_deferred", "promoted_pages", "notices_applied",
	         "seq_page_faults", "seq_page_fault_ns", "data_page_faults",
	         "data_page_fault_ns", "handover_release_ns",
	         "demoted_pages")) and
	    0 < r["seq_page_faults"] + r["data_page_faults"] <=
	    d["faults"]["read"] + d["faults"]["write"] and
	    r["data_page_faults"] > 0 and r["data_page_fault_ns"] > 0)(d["release"])'); then
		pass "release: stats file has diffs sent, promoted pages, no \
races, per-node sums"
	else
		{ echo "$msg"; grep -A16 '"release"' "$f"; } >"$f.why"
		fail "release: stats file" "release counters not as expected" \
			"$f.why"
		return
	fi
	report "release: cvmm report" "$f" || return
	want=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["release"]
print("release memory model: %d diffs sent (" % r["diffs_sent"])
print("  %d pages promoted to data pages (%d given back), %d synchronization "
      "pages, 0 races detected, %d forwards waited for a release"
      % (r["promoted_pages"], r["demoted_pages"], r["sync_pages"],
         r["forwards_deferred"]))' "$f")
	if ! grep -qF "$(echo "$want" | head -n 1)" "$f.txt" ||
		! grep -qxF "$(echo "$want" | tail -n 1)" "$f.txt"; then
		echo "want:" >"$f.why"
		echo "$want" >>"$f.why"
		cat "$f.txt" >>"$f.why"
		fail "release: cvmm report" "no release block with the file's \
numbers" "$f.why"
	else
		pass "release: cvmm report shows diffs sent, promoted and sync \
pages, races"
	fi
	report "release: cvmm report -o" "$f" -o "$f.html" || return
	if ! msg=$(html_check "$f.html" vcpu-time latency); then
		echo "$msg" >"$f.why"
		fail "release: cvmm report -o" "page does not check" "$f.why"
	elif ! grep -q '<table id="release">' "$f.html" ||
		! grep -q '<h2>Release memory model</h2>' "$f.html"; then
		fail "release: cvmm report -o" "no release table" "$f.html"
	else
		pass "release: cvmm report -o: page parses, release table"
	fi
}

# ---- threads that moved ----------------------------------------------------------

case_moved() {
	local f=$SCRATCH/moved.json msg want missing l
	stats_run "moved: cvmm run -n 2 -v 2 --migrate-every 4 --stats" "$f" \
		-n 2 -v 2 --migrate-every 4 || return
	if msg=$(json_check "$f" 'd["migrations"]["total"] > 0 and
	    sum(n["out"] for n in d["migrations"]["per_node"]) ==
	        d["migrations"]["total"] and
	    sum(n["in"] for n in d["migrations"]["per_node"]) ==
	        d["migrations"]["total"] and
	    sum(t["migrations"] for t in d["migrations"]["per_thread"]) ==
	        d["migrations"]["total"] and
	    len(d["migrations"]["per_thread"]) >= 4'); then
		pass "moved: stats file counts migrations per node and thread"
	else
		echo "$msg" >"$f.why"
		fail "moved: stats file" "migration counts wrong" "$f.why"
		return
	fi
	report "moved: cvmm report" "$f" -o "$f.html" || return
	want=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["migrations"]
print("migrations: %d (%s)" % (m["total"], ", ".join(
    "node %d out %d in %d" % (n["node"], n["out"], n["in"])
    for n in m["per_node"])))
print("threads that moved: " + ", ".join(
    "thread %d %d" % (t["tid"], t["migrations"]) for t in m["per_thread"]))
for n in m["per_node"]:
    print("<tr><td>%d</td><td>%d</td><td>%d</td></tr>" %
          (n["node"], n["out"], n["in"]))
for t in m["per_thread"]:
    print("<tr><td>%d</td><td>%d</td></tr>" % (t["tid"], t["migrations"]))' \
		"$f")
	missing=0
	while read -r l; do
		grep -qF "$l" "$f.html" || missing=$((missing + 1))
	done < <(echo "$want" | sed -n '3,$p')
	if ! grep -qxF "$(echo "$want" | sed -n 1p)" "$f.txt" ||
		! grep -qxF "$(echo "$want" | sed -n 2p)" "$f.txt"; then
		echo "$want" | head -2 >"$f.why"
		cat "$f.txt" >>"$f.why"
		fail "moved: cvmm report" "no migrations line or thread list \
as in the file" "$f.why"
	elif ! msg=$(html_check "$f.html" vcpu-time latency); then
		echo "$msg" >"$f.why"
		fail "moved: cvmm report -o" "page does not check" "$f.why"
	elif ! grep -q '<table id="migrations">' "$f.html" ||
		! grep -q '<table id="migrations-threads">' "$f.html" ||
		[ "$missing" != 0 ]; then
		fail "moved: cvmm report -o" "migration tables missing or not \
the file's numbers" "$f.html"
	else
		pass "moved: cvmm report: $(echo "$want" | sed -n 1p | \
cut -c1-60)..., page tables"
	fi
}

# ---- malformed files -----------------------------------------------------------

# bad_file LABEL FILE PATTERN: cvmm report FILE -o FILE.html fails with one
# stderr line matching PATTERN (extended regex), no stdout, no page.
bad_file() {
	local label=$1 f=$2 pattern=$3 rc lines
	timeout -k 5 "$TIMEOUT" "$CVMM" report "$f" -o "$f.html" \
		>"$f.out" 2>"$f.err"
	rc=$?
	lines=$(wc -l <"$f.err")
	if [ $rc = 0 ] || [ $rc -ge 124 ]; then
		fail "bad: $label" "cvmm report: exit status $rc" "$f.err"
	elif [ "$lines" != 1 ] || ! grep -Eq "$pattern" "$f.err"; then
		fail "bad: $label" "want one stderr line /$pattern/" "$f.err"
	elif [ -s "$f.out" ] || [ -e "$f.html" ]; then
		fail "bad: $label" "wrote a summary or a page" "$f.out"
	else
		pass "bad: $label: $(sed "s|$SCRATCH/||" "$f.err" | cut -c1-110)"
	fi
}

case_bad() {
	local d=$SCRATCH/bad src=$SCRATCH/two.json
	local at='bad json at line [0-9]+ column [0-9]+ \(byte [0-9]+\): '
	mkdir -p "$d"
	[ -s "$src" ] || src=$HERE/../report/sample_multinode.json
	head -c $(($(wc -c <"$src") / 2)) "$src" >"$d/cut.json"
	bad_file "truncated" "$d/cut.json" "^cvmm: .*cut.json: $at"
	head -c 4096 /dev/urandom >"$d/random.json"
	bad_file "random bytes" "$d/random.json" "^cvmm: .*random.json: $at"
	python3 -c 'print("{\"per_vcpu\": " + "[" * 10**5 + "]" * 10**5 + "}")' \
		>"$d/deep.json"
	bad_file "nested 100000 deep" "$d/deep.json" \
		"^cvmm: .*deep.json: $at""maximum parsing depth reached"
	truncate -s 65M "$d/huge.json"
	bad_file "65 MiB" "$d/huge.json" \
		'^cvmm: .*huge.json: too large: 68157440 bytes, the limit is 64 '
	echo '{"version": 1, "vcpus": 2}' >"$d/other.json"
	bad_file "no per_vcpu" "$d/other.json" \
		'^cvmm: .*other.json: not a cvmm stats file \(no per_vcpu array\)$'
	bad_file "missing file" "$d/missing.json" \
		'^cvmm: .*missing.json: cannot read: '
}

# ---- main ----------------------------------------------------------------------

if [ ! -x "$CVMM" ]; then
	echo "no cvmm binary at $CVMM (run make)" >&2
	exit 1
fi
if [ ! -x "$GUESTS/fib" ]; then
	echo "no guests in $GUESTS (run make guests)" >&2
	exit 1
fi
if ! command -v python3 >/dev/null; then
	echo "SKIP run_report.sh: python3 not installed (it checks the files)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
for part in ${*:-one two moved sync release bad}; do
	case $part in
	one) case_one ;;
	two) case_two ;;
	moved) case_moved ;;
	sync) case_sync ;;
	release) case_release ;;
	bad) case_bad ;;
	*)
		echo "unknown part $part (one, two, moved, sync, release or \
bad)" >&2
		exit 2
		;;
	esac
done
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
