#!/usr/bin/env bash
# make run's demo: the 2005 "Virtual Multiprocessor" paper's experiment, a
# parallel fib, P threads each computing fib(N), natively, on a 4-vCPU VM,
# and on the same VM spread over two node agents.
set -euo pipefail
BUILD=${BUILD:-build}
P=${P:-4}
N=${N:-42}
fib="$BUILD/guests/fib"

now() { date +%s.%N; }
t0=$(now); "$fib" "$P" "$N" >/dev/null; t1=$(now)
echo "== native: $P threads, fib($N)"
echo "== cvmm run -v 4 --stats -- $fib $P $N"
t2=$(now)
"$BUILD/cvmm" run -v 4 --stats -- "$fib" "$P" "$N"
t3=$(now)
awk -v n="$t1-$t0" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
	nat = b - a; vm = d - c;
	printf "== wall time: native %.2f s, cvmm %.2f s (ratio %.3f)\n", nat, vm, vm / nat }'

# The same VM over two node agents on this machine: the fib threads spread
# over both (placement spread), memory kept coherent page by page.
echo "== cvmm run -n 2 -v 4 --stats -- $fib $P $N   (two node agents)"
t4=$(now)
"$BUILD/cvmm" run -n 2 -v 4 --stats -- "$fib" "$P" "$N"
t5=$(now)
awk -v a="$t2" -v b="$t3" -v c="$t4" -v d="$t5" 'BEGIN {
	printf "== wall time: 1 node %.2f s, 2 nodes %.2f s (ratio %.3f)\n",
	       b - a, d - c, (d - c) / (b - a) }'
