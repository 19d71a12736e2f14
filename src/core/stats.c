/* --stats output: a short table on stderr and a JSON document. */
#include "core/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "core/node.h"
#include "core/vcpu.h"

uint64_t stats_sys_count[SYS_NR_MAX];

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

static void stats_table(const vm_t *vm, FILE *out)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);

	fprintf(out, "cvmm stats: %d vcpus, %.3f s wall, exit status %d\n",
		vm->nvcpus, secs(vm_now_ns() - vm->t_start), vm->exit_status);
	fprintf(out, "%5s %4s %8s %10s %10s %10s %9s\n", "vcpu", "pu",
		"threads", "guest s", "syscall s", "idle s", "syscalls");
	for (int i = 0; i < vm->nvcpus; i++) {
		const vcpu_t *c = &vm->vcpus[i];

		fprintf(out, "%5d %4d %8lu %10.3f %10.3f %10.3f %9lu\n", i,
			c->host_pu, load(&c->st.threads),
			secs(load(&c->st.guest_ns)), secs(load(&c->st.sys_ns)),
			secs(load(&c->st.idle_ns)), load(&c->st.syscalls));
	}
	fprintf(out, "syscalls:");
	for (unsigned i = 0; i < n && i < 12; i++)
		fprintf(out, " %s %lu", sys_name(nrs[i]),
			load(&stats_sys_count[nrs[i]]));
	fprintf(out, n > 12 ? " ...\n" : "\n");
}

void stats_json(const vm_t *vm, FILE *f)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);

	fprintf(f, "{\n  \"version\": 1,\n  \"vcpus\": %d,\n", vm->nvcpus);
	fprintf(f, "  \"nodes\": %d,\n  \"exe\": ", node_size());
	json_write_str(f, vm->exe_path ? vm->exe_path : "");
	fprintf(f, ",\n");
	fprintf(f, "  \"wall_s\": %.6f,\n  \"exit_status\": %d,\n",
		secs(vm_now_ns() - vm->t_start), vm->exit_status);
	fprintf(f, "  \"per_vcpu\": [\n");
	for (int i = 0; i < vm->nvcpus; i++) {
		const vcpu_t *c = &vm->vcpus[i];

		fprintf(f,
			"    {\"vcpu\": %d, \"host_pu\": %d, \"threads\": %lu, "
			"\"guest_s\": %.6f, \"syscall_s\": %.6f, "
			"\"idle_s\": %.6f, \"syscalls\": %lu}%s\n",
			i, c->host_pu, load(&c->st.threads),
			secs(load(&c->st.guest_ns)), secs(load(&c->st.sys_ns)),
			secs(load(&c->st.idle_ns)), load(&c->st.syscalls),
			i + 1 < vm->nvcpus ? "," : "");
	}
	fprintf(f, "  ],\n  \"syscalls\": {");
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
