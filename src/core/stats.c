/* --stats output: a short table on stderr and a JSON document. */
#include "core/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "node/node.h"
#include "core/stats_coh.h"
#include "core/vcpu.h"

uint64_t stats_sys_count[SYS_NR_MAX];
uint64_t stats_msgs_by_node[64];

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Syscall numbers that were called, most frequent first. */
static unsigned sys_sorted(unsigned *nrs)
{
	unsigned n = 0;

	for (unsigned nr = 0; nr < SYS_NR_MAX; nr++)
		if (load(&stats_sys_count[nr]))
			nrs[n++] = nr;
	for (unsigned i = 1; i < n; i++) {
		unsigned v = nrs[i], j = i;

		while (j > 0 && load(&stats_sys_count[nrs[j - 1]]) <
					load(&stats_sys_count[v])) {
			nrs[j] = nrs[j - 1];
			j--;
		}
		nrs[j] = v;
	}
	return n;
}

static int vcpu_node(const vm_t *vm, int i)
{
	return vm->nnodes > 1 ? i % vm->nnodes : 0;
}

static void stats_table(const vm_t *vm, FILE *out)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);

	fprintf(out, "cvmm stats: %d vcpus, %.3f s wall, exit status %d\n",
		vm->nvcpus, secs(cvmm_now_ns() - vm->t_start), vm->exit_status);
	fprintf(out, "%5s %4s %4s %8s %10s %10s %10s %10s %9s\n", "vcpu",
		"node", "pu", "threads", "guest s", "shmem s", "syscall s",
		"idle s", "syscalls");
	for (int i = 0; i < vm->nvcpus; i++) {
		const vcpu_t *c = &vm->vcpus[i];

		fprintf(out,
			"%5d %4d %4d %8lu %10.3f %10.3f %10.3f %10.3f %9lu\n",
			i, vcpu_node(vm, i), c->host_pu,
			load(&c->st.threads), secs(load(&c->st.guest_ns)),
			secs(load(&c->st.coherence_ns)),
			secs(load(&c->st.sys_ns)), secs(load(&c->st.idle_ns)),
			load(&c->st.syscalls));
	}
	if (vm->nnodes > 1)
		fprintf(out, "coherence: %lu read faults, %lu write faults, "
			"%lu invalidations, %.1f MiB moved\n",
			load(&coh_rt_stats.read_faults),
			load(&coh_rt_stats.write_faults),
			load(&coh_rt_stats.inval_sent),
			(double)load(&coh_rt_stats.bytes_moved) / 1048576.0);
	fprintf(out, "syscalls:");
	for (unsigned i = 0; i < n && i < 12; i++)
		fprintf(out, " %s %lu", sys_name(nrs[i]),
			load(&stats_sys_count[nrs[i]]));
	fprintf(out, n > 12 ? " ...\n" : "\n");
}

/* The coherence fields of the report's schema (report.c reads them). */
static void stats_json_coherence(const vm_t *vm, FILE *f)
{
	const coh_rt_stats_t *c = &coh_rt_stats;
	int last = -1;

	fprintf(f, "  \"faults\": {\"read\": %lu, \"write\": %lu, "
		"\"invalidations_sent\": %lu, \"invalidations_received\": "
		"%lu, \"bytes_moved\": %lu, \"pages_copied\": %lu, "
		"\"zero_pages_granted\": %lu, \"latency_hist_us\": [",
		load(&c->read_faults), load(&c->write_faults),
		load(&c->inval_sent), load(&c->inval_recv),
		load(&c->bytes_moved), load(&c->fetches),
		load(&c->zero_fills));
	for (int b = 0; b < 32; b++)
		if (load(&c->lat_hist[b]))
			last = b;
	for (int b = 0; b <= last; b++)
		fprintf(f, "%s[%lu, %lu, %lu]", b ? ", " : "",
			b ? 1UL << b : 0UL, 2UL << b, load(&c->lat_hist[b]));
	fprintf(f, "]},\n  \"messages\": {");
	for (int k = 0; k < vm->nnodes && k < 64; k++)
		fprintf(f, "%s\"node %d\": %lu", k ? ", " : "", k,
			load(&stats_msgs_by_node[k]));
	fprintf(f, "},\n");
	stats_coh_json(vm, f);
}

void stats_json(const vm_t *vm, FILE *f)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);

	fprintf(f, "{\n  \"version\": 1,\n  \"vcpus\": %d,\n", vm->nvcpus);
	fprintf(f, "  \"nodes\": %d,\n  \"exe\": ", node_size());
	json_write_str(f, vm->exe_path ? vm->exe_path : "");
	fprintf(f, ",\n");
	fprintf(f, "  \"wall_s\": %.6f,\n  \"exit_status\": %d,\n",
		secs(cvmm_now_ns() - vm->t_start), vm->exit_status);
	fprintf(f, "  \"per_vcpu\": [\n");
	for (int i = 0; i < vm->nvcpus; i++) {
		const vcpu_t *c = &vm->vcpus[i];

		fprintf(f,
			"    {\"vcpu\": %d, \"node\": %d, \"host_pu\": %d, "
			"\"threads\": %lu, \"guest_s\": %.6f, "
			"\"coherence_s\": %.6f, \"syscall_s\": %.6f, "
			"\"idle_s\": %.6f, \"syscalls\": %lu}%s\n",
			i, vcpu_node(vm, i), c->host_pu, load(&c->st.threads),
			secs(load(&c->st.guest_ns)),
			secs(load(&c->st.coherence_ns)),
			secs(load(&c->st.sys_ns)), secs(load(&c->st.idle_ns)),
			load(&c->st.syscalls), i + 1 < vm->nvcpus ? "," : "");
	}
	fprintf(f, "  ],\n");
	if (vm->nnodes > 1)
		stats_json_coherence(vm, f);
	fprintf(f, "  \"syscalls\": {");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s\n    \"%s\": %lu", i ? "," : "",
			sys_name(nrs[i]), load(&stats_sys_count[nrs[i]]));
	fprintf(f, "\n  }\n}\n");
}

int stats_report(const vm_t *vm, const char *file, FILE *out)
{
	FILE *f;

	stats_table(vm, out);
	if (!file || strcmp(file, "-") == 0)
		return 0;
	f = fopen(file, "w");
	if (!f) {
		log_error("cannot write stats to %s: %m", file);
		return -errno;
	}
	stats_json(vm, f);
	if (fclose(f) != 0) {
		log_error("writing stats to %s: %m", file);
		return -EIO;
	}
	return 0;
}
