#!/usr/bin/env bash
# The dependency rule of docs/design.md, checked on the includes: each
# folder of src/ may include only the folders below it, so core never
# reaches node code except through vm.nodes, the transport never sees the
# protocol, and common depends on nothing of cvmm's.
set -u
cd "$(dirname "$0")/../.."
npass=0
nfail=0

# folder: the folders its files may include (besides its own)
declare -A allowed=(
	[src/common]=""
	[src/rdma]="common"
	[src/iosrv]="common"
	[src/coherence]="common rdma"
	[src/core]="common rdma coherence core"
	[src/core/sys]="common rdma coherence core iosrv"
	[src/core/vdso]="common core"
	[src/node]="common rdma coherence core iosrv node"
	[src/cli]="common rdma coherence core iosrv node cli"
)

for dir in "${!allowed[@]}"; do
	own=${dir#src/}
	bad=""
	for f in "$dir"/*.[ch]; do
		while read -r inc; do
			top=${inc%%/*}
			case " ${allowed[$dir]} ${own%%/*} " in
			*" $top "*) ;;
			*) bad="$bad $f->$inc" ;;
			esac
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
	if [ -z "$bad" ]; then
		echo "PASS layers: $dir includes only ${allowed[$dir]:-itself}"
		npass=$((npass + 1))
	else
		echo "FAIL layers: $dir:$bad"
		nfail=$((nfail + 1))
	fi
done
# UCX, PMIx and libibverbs are loaded on first use (src/rdma/dl.h): the
# binary must not need them, nor what they pull in, at exec.
cvmm=${CVMM:-${BUILD:-build}/cvmm}
if [ -f "$cvmm" ] && command -v readelf >/dev/null; then
	needed=$(readelf -d "$cvmm" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	bad=$(echo $(echo "$needed" | grep -E '^lib(ucp|uct|ucs|ucm|pmix|ibverbs|rdmacm|nl-|event|munge)'))
	if [ -z "$bad" ]; then
		echo "PASS layers: $cvmm needs only $(echo $needed)"
		npass=$((npass + 1))
	else
		echo "FAIL layers: $cvmm needs $bad at exec (src/rdma/dl.h)"
		nfail=$((nfail + 1))
	fi
else
	echo "SKIP layers: no $cvmm (or readelf) to check its libraries"
fi
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
