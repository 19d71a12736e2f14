#!/bin/bash
# Model-checks the coherence protocol (ivy.pml) with spin: the model must
# pass with promotion to the release model (which includes every run
# without it), with write-aheads, and with a node leaving or joining at a
# quiet point (two more mutants: a leave without the quiet point, and an
# heir that loses a page's bytes), and four mutants must fail, proving
# the checks can fire: the manager forwards a write without waiting for
# INV_ACKs (-DBUG), a deferred forward is dropped, a write-ahead grant
# installs the page without its bytes, and the manager promotes a page
# whose owner shares it (generated here with sed); two more for
# upgrade-aheads (granted to a node not the owner, a refused one keeping
# a copy another writer took). Then the
# release memory model planned for data pages (rc.pml): it must pass, and
# a release that does not wait for the home's ack, an acquire that keeps
# its copy, a diff of the whole page, a home that goes on writing
# without a twin once a copy left, and a notice that updates a copy with
# the whole master instead of the diff must each fail; the home leaving
# at a quiet point must pass, and an heir that drops its own unreleased
# writes, and a home that leaves without its own release, must fail; a
# page given back to the sequential protocol and promoted again elsewhere
# must pass, and one that turns sequential before its flush's diffs are
# in must fail.
# Prints PASS/FAIL lines and "N passed, M failed". The searches run side
# by side, one per CPU (MODEL_JOBS=N to change that).
set -u
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v spin >/dev/null || ! command -v "${CC:-gcc}" >/dev/null; then
	echo "SKIP model: spin or a C compiler is missing"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

# check NAME PML EXPECT(ok|fail): runs an exhaustive safety search and
# prints one PASS or FAIL line (and what failed)
check() {
	local name=$1 pml=$2 expect=$3 dir="$work/$1" out errs
	mkdir -p "$dir" && cp "$pml" "$dir/ivy.pml"
	if ! (cd "$dir" && spin -a ivy.pml >spin.log 2>&1 &&
	      ${CC:-gcc} -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=2000 -w -o pan pan.c \
		>cc.log 2>&1); then
		echo "FAIL model $name: spin -a or cc failed"
		cat "$dir"/*.log; return
	fi
	out=$(cd "$dir" && timeout 300 ./pan -m200000 2>&1)
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out")
	local summary
	summary=$(grep -E 'states, stored|total actual memory' <<<"$out" |
		  sed 's/^ *//' | tr '\n' ' ')
	if [ "$expect" = ok ] && [ "$errs" = 0 ] &&
	   ! grep -q 'max search depth too small\|out of memory\|MEMLIM bound' \
		<<<"$out"; then
		echo "PASS model: $name errors: 0 ($summary)"
	elif [ "$expect" = fail ] && [ -n "$errs" ] && [ "$errs" != 0 ]; then
		echo "PASS model: $name fails as it must ($(grep -m1 -E 'pan:1|assertion' <<<"$out"))"
	else
		echo "FAIL model $name: expected $expect, got errors: ${errs:-?}"
		echo "$out" | tail -20
	fi
}

# The searches are independent: they run side by side, as many at a time
# as there are CPUs (MODEL_JOBS), each printing into its own file; the
# results are printed in the order the checks were started.
maxjobs=${MODEL_JOBS:-$(nproc 2>/dev/null || echo 1)}
names=()
# bg NAME PML EXPECT: check in the background
bg() {
	while [ "$(jobs -rp | wc -l)" -ge "$maxjobs" ]; do
		wait -n
	done
	names+=("$1")
	check "$@" >"$work/$1.result" 2>&1 &
}
# not_applied NAME: a mutant whose mutation did not apply
not_applied() {
	names+=("$1")
	echo "FAIL model $1: the mutation did not apply" >"$work/$1.result"
}

# the model with promotion may take every step of the one without (the
# manager may always choose not to promote): one search covers both
sed '1i #define PROMOTION 1' "$here/ivy.pml" >"$work/ivy_promote.pml"
bg ivy-promote "$work/ivy_promote.pml" ok
# write-aheads and upgrade-aheads (node 2 asks twice), with one operation
# per node
sed '1i #define MAXOPS 1\n#define MAXAHEAD 2' "$here/ivy.pml" >"$work/ivy_ahead.pml"
bg ivy-ahead "$work/ivy_ahead.pml" ok
# the release model asks ahead too: write-aheads and promotion together
sed '1i #define PROMOTION 1\n#define MAXOPS 1\n#define MAXAHEAD 2' "$here/ivy.pml" \
	>"$work/ivy_promote_ahead.pml"
bg ivy-promote-ahead "$work/ivy_promote_ahead.pml" ok
# a write-ahead grant installed without the bytes pushed with it: a stale
# copy, which the search must see
sed '/pushed with the grant/d' "$work/ivy_ahead.pml" >"$work/ivy_ahead_bug.pml"
if ! cmp -s "$work/ivy_ahead.pml" "$work/ivy_ahead_bug.pml"; then
	bg ivy-bug-ahead-stale "$work/ivy_ahead_bug.pml" fail
else
	not_applied ivy-bug-ahead-stale
fi
# upgrade-aheads (the same runs ask those of SHARED pages): a manager
# that grants one to a node not the page's owner, and a refused one that
# keeps a copy another writer took meanwhile, must fail
for m in UPGRADE_ANY UPGRADE_KEEP; do
	sed "1i #define $m 1" "$work/ivy_ahead.pml" >"$work/ivy_$m.pml"
	bg "ivy-bug-$(tr 'A-Z_' 'a-z-' <<<"$m")" "$work/ivy_$m.pml" fail
done
# promotion to the release model (proto.c "Promotion"): a manager that
# may also promote after a read (the owner shares the page then) must fail
sed '1i #define PROMOTION 1\n#define PROMOTION_ON_READ 1' "$here/ivy.pml" \
	>"$work/ivy_promote_read.pml"
bg ivy-bug-promote-on-read "$work/ivy_promote_read.pml" fail
sed '1i #define BUG 1' "$here/ivy.pml" >"$work/ivy_bug.pml"
bg ivy-bug-no-inv-ack-wait "$work/ivy_bug.pml" fail
# a deferred (pinned or held) FWD_WRITE dropped instead of served: a request
# never completes, which the search must see as an invalid end state
sed 's/^\t:: dwr\[me\] == 1 -> fwd_write(pg, dar\[me\])/\t:: dwr[me] == 1 -> skip/' \
	"$here/ivy.pml" >"$work/ivy_lost.pml"
if grep -q 'dwr\[me\] == 1 -> skip' "$work/ivy_lost.pml"; then
	bg ivy-bug-deferred-forward-lost "$work/ivy_lost.pml" fail
else
	not_applied ivy-bug-deferred-forward-lost
fi
# Membership changes at a quiet point (issue 15): node 2 leaving (its heir
# takes roles, pages and records), node 2 joining into a free slot, and
# node 2 leaving and a new agent joining into its slot must pass; a leave that does not wait for quiet, and one whose heir
# takes an exclusive page without its bytes, must fail.
sed '1i #define LEAVE 1' "$here/ivy.pml" >"$work/ivy_leave.pml"
bg ivy-leave "$work/ivy_leave.pml" ok
sed '1i #define JOIN 1' "$here/ivy.pml" >"$work/ivy_join.pml"
bg ivy-join "$work/ivy_join.pml" ok
sed '1i #define LEAVE 1\n#define REJOIN 1' "$here/ivy.pml" \
	>"$work/ivy_rejoin.pml"
bg ivy-rejoin "$work/ivy_rejoin.pml" ok
sed '1i #define LEAVE 1\n#define NOQUIET 1' "$here/ivy.pml" \
	>"$work/ivy_leave_noquiet.pml"
bg ivy-bug-leave-not-quiet "$work/ivy_leave_noquiet.pml" fail
sed '1i #define LEAVE 1\n#define LOSE_BYTES 1' "$here/ivy.pml" \
	>"$work/ivy_leave_bytes.pml"
bg ivy-bug-leave-loses-bytes "$work/ivy_leave_bytes.pml" fail
# The release memory model's data pages (rc.pml, issue 14: src/coherence/
# rc.c): it must pass, and each of its five mutants must fail.
bg rc "$here/rc.pml" ok
for m in NO_ACK NO_NOTICE WHOLE_PAGE NO_EXCL_TWIN UPDATE_WHOLE; do
	sed "1i #define $m 1" "$here/rc.pml" >"$work/rc_$m.pml"
	bg "rc-bug-$(tr 'A-Z_' 'a-z-' <<<"$m")" "$work/rc_$m.pml" fail
done
# The home leaving the VM at a quiet point under the release model (rc.pml
# -DLEAVE: rc_take_home, rc_depart): it must pass, and an heir that takes
# the master copy over its own unreleased writes, and a home that hands
# its master copy over without its own release first, must fail.
sed '1i #define LEAVE 1' "$here/rc.pml" >"$work/rc_leave.pml"
bg rc-leave "$work/rc_leave.pml" ok
for m in TAKE_NO_MERGE LEAVE_NO_RELEASE; do
	sed "1i #define LEAVE 1\n#define $m 1" "$here/rc.pml" \
		>"$work/rc_leave_$m.pml"
	bg "rc-bug-$(tr 'A-Z_' 'a-z-' <<<"$m")" "$work/rc_leave_$m.pml" fail
done
# A page given back to the sequential protocol and promoted again
# elsewhere (rc.pml -DDEMOTE: rc.h "Back to sequential first"): it must
# pass, and a page that turns sequential before the diffs its flush sent
# are in the home's copy must fail.
sed '1i #define DEMOTE 1' "$here/rc.pml" >"$work/rc_demote.pml"
bg rc-demote "$work/rc_demote.pml" ok
sed '1i #define DEMOTE 1\n#define FLUSH_NO_WAIT 1' "$here/rc.pml" \
	>"$work/rc_demote_nowait.pml"
bg rc-bug-flush-no-wait "$work/rc_demote_nowait.pml" fail
wait
for name in "${names[@]}"; do
	cat "$work/$name.result"
	pass=$((pass + $(grep -c '^PASS model' "$work/$name.result")))
	fail=$((fail + $(grep -c '^FAIL model' "$work/$name.result")))
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
