/* --stats output: a short table on stderr and a JSON document. */
#include "core/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "core/balance.h"
#include "core/stats_coh.h"
#include "core/stats_member.h"
#include "core/stats_mig.h"
#include "core/stats_rc.h"
#include "core/vm.h"

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


static void stats_table(const vm_t *vm, FILE *out)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);

	fprintf(out, "cvmm stats: %d vcpus, %.3f s wall, exit status %d\n",
		vm->nvcpus, secs(cvmm_now_ns() - vm->t_start), vm->exit_status);
	if (vm->ctl_path)
		fprintf(out, "control socket: %s\n", vm->ctl_path);
	fprintf(out, "%5s %4s %4s %8s %10s %10s %10s %10s %10s %9s\n",
		"vcpu", "node", "pu", "threads", "guest s", "shmem s",
		"syscall s", "idle s", "cpuwait s", "syscalls");
	for (int i = 0; i < vm->nvcpus; i++) {
		const vcpu_t *c = &vm->vcpus[i];

		fprintf(out,
			"%5d %4d %4d %8lu %10.3f %10.3f %10.3f %10.3f %10.3f "
			"%9lu\n",
			i, vm_vcpu_node(vm, i), c->host_pu,
			load(&c->st.threads), secs(load(&c->st.guest_ns)),
			secs(load(&c->st.coherence_ns)),
			secs(load(&c->st.sys_ns)), secs(load(&c->st.idle_ns)),
			secs(load(&c->st.cpu_wait_ns)),
			load(&c->st.syscalls));
	}
	if (vm->nnodes > 1)
		fprintf(out, "coherence: %lu read faults, %lu write faults, "
			"%lu invalidations, %.1f MiB moved\n",
			load(&coh_rt_stats.read_faults),
			load(&coh_rt_stats.write_faults),
			load(&coh_rt_stats.inval_sent),
			(double)load(&coh_rt_stats.bytes_moved) / 1048576.0);
	if (vm->nnodes > 1) {
		stats_rc_table(vm, out);
		stats_mig_table(vm, out);
		balance_table(out);
		member_table(out);
	}
	fprintf(out, "syscalls:");
	for (unsigned i = 0; i < n && i < 12; i++)
		fprintf(out, " %s %lu", sys_name(nrs[i]),
			load(&stats_sys_count[nrs[i]]));
	fprintf(out, n > 12 ? " ...\n" : "\n");
}

/* A counter as a JSON integer (counters stay far below 2^63). */
static json_t *cnt(const uint64_t *p)
{
	return json_integer((json_int_t)load(p));
}

double stats_secs_us(uint64_t ns)
{
	return (double)((ns + 500) / 1000) / 1e6;
}

static json_t *secs_json(const uint64_t *ns)
{
	return json_real(stats_secs_us(load(ns)));
}

static json_t *vcpu_json(const vm_t *vm, int i)
{
	const vcpu_t *c = &vm->vcpus[i];

	return json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o}",
			 "vcpu", i,
			 "node", vm_vcpu_node(vm, i),
			 "host_pu", c->host_pu,
			 "threads", cnt(&c->st.threads),
			 "guest_s", secs_json(&c->st.guest_ns),
			 "coherence_s", secs_json(&c->st.coherence_ns),
			 "syscall_s", secs_json(&c->st.sys_ns),
			 "idle_s", secs_json(&c->st.idle_ns),
			 "cpu_s", secs_json(&c->st.cpu_ns),
			 "cpu_wait_s", secs_json(&c->st.cpu_wait_ns),
			 "syscalls", cnt(&c->st.syscalls));
}

/* [lo, hi, count] per log2 bucket of fault latency, up to the last used. */
static json_t *latency_json(const coh_rt_stats_t *c)
{
	json_t *hist = json_array();
	int last = -1;

	for (int b = 0; b < 32; b++)
		if (load(&c->lat_hist[b]))
			last = b;
	for (int b = 0; b <= last; b++)
		hist = jdoc_push(hist, json_pack("[I, I, o]",
						 (json_int_t)(b ? 1L << b : 0),
						 (json_int_t)(2L << b),
						 cnt(&c->lat_hist[b])));
	return hist;
}

/* The coherence members of the report's schema (report.c reads them). */
static json_t *coherence_json(const vm_t *vm, json_t *doc)
{
	const coh_rt_stats_t *c = &coh_rt_stats;
	json_t *msgs = json_object();
	char key[16];

	doc = jdoc_set(doc, "faults", json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"read", cnt(&c->read_faults),
		"write", cnt(&c->write_faults),
		"invalidations_sent", cnt(&c->inval_sent),
		"invalidations_received", cnt(&c->inval_recv),
		"bytes_moved", cnt(&c->bytes_moved),
		"pages_copied", cnt(&c->fetches),
		"zero_pages_granted", cnt(&c->zero_fills),
		"latency_hist_us", latency_json(c)));
	for (int k = 0; k < vm->nnodes && k < 64; k++) {
		snprintf(key, sizeof(key), "node %d", k);
		msgs = jdoc_set(msgs, key, cnt(&stats_msgs_by_node[k]));
	}
	doc = jdoc_set(doc, "messages", msgs);
	return stats_coh_json(vm, doc);
}

static json_t *syscalls_json(void)
{
	unsigned nrs[SYS_NR_MAX], n = sys_sorted(nrs);
	json_t *o = json_object();

	for (unsigned i = 0; i < n; i++)
		o = jdoc_set(o, sys_name(nrs[i]),
			     cnt(&stats_sys_count[nrs[i]]));
	return o;
}

/* The whole document, NULL when out of memory. */
static json_t *stats_doc(const vm_t *vm)
{
	json_t *per_vcpu = json_array(), *doc;

	for (int i = 0; i < vm->nvcpus; i++)
		per_vcpu = jdoc_push(per_vcpu, vcpu_json(vm, i));
	doc = json_pack("{s:i, s:i, s:i, s:o, s:f, s:i, s:o}",
			"version", 1,
			"vcpus", vm->nvcpus,
			"nodes", vm->nnodes > 1 ? vm->nnodes : 1,
			"exe", jdoc_str(vm->exe_path ? vm->exe_path : ""),
			"wall_s", stats_secs_us(cvmm_now_ns() - vm->t_start),
			"exit_status", vm->exit_status,
			"per_vcpu", per_vcpu);
	if (vm->ctl_path)
		doc = jdoc_set(doc, "control_socket", jdoc_str(vm->ctl_path));
	if (vm->nnodes > 1)
		doc = member_json(balance_json(stats_rc_json(
			vm, stats_mig_json(vm, coherence_json(vm, doc)))));
	return jdoc_set(doc, "syscalls", syscalls_json());
}

int stats_json(const vm_t *vm, FILE *f)
{
	json_t *doc = stats_doc(vm);
	cvmm_status_t st = jdoc_write(doc, f, JDOC_INDENT);

	json_decref(doc);
	return st == CVMM_OK ? 0 : st == CVMM_ERR_NOMEM ? -ENOMEM : -EIO;
}

static FILE *prepared; /* stats_prepare's stream */

int stats_prepare(const char *file)
{
	if (!file || strcmp(file, "-") == 0 || prepared)
		return 0;
	prepared = fopen(file, "w");
	if (!prepared) {
		log_error("cannot write stats to %s: %m", file);
		return -errno;
	}
	return 0;
}

int stats_report(const vm_t *vm, const char *file, FILE *out)
{
	FILE *f;
	int rc;

	stats_table(vm, out);
	if (!file || strcmp(file, "-") == 0)
		return 0;
	f = prepared ? prepared : fopen(file, "w");
	prepared = NULL;
	if (!f) {
		log_error("cannot write stats to %s: %m", file);
		return -errno;
	}
	rc = stats_json(vm, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc)
		log_error("writing stats to %s: %s", file, strerror(-rc));
	return rc;
}
