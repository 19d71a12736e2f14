#!/usr/bin/env bash
# make integration: every integration script, one combined summary line.
set -u
dir=$(dirname "$0")
total_pass=0
total_fail=0
rc=0
for t in run_guests.sh run_workloads.sh run_agents.sh run_coherence.sh \
	 run_migrate.sh run_release.sh run_vdso.sh run_report.sh run_install.sh \
	 run_ctl.sh \
	 run_layers.sh \
	 ../security/run_security.sh \
	 ../security/badptr.sh \
	 ../report/chromium.sh ../model/run.sh; do
	[ -f "$dir/$t" ] || continue
	echo "=== $t"
	log=$(mktemp)
	t0=$SECONDS
	bash "$dir/$t" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	echo "--- $t took $((SECONDS - t0)) s"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$line" ]; then
		echo "FAIL $t: no summary line"
		total_fail=$((total_fail + 1))
		rc=1
		continue
	fi
	total_pass=$((total_pass + $(echo "$line" | cut -d' ' -f1)))
	total_fail=$((total_fail + $(echo "$line" | cut -d' ' -f3)))
done
echo "=== integration total"
echo "$total_pass passed, $total_fail failed"
exit $rc
