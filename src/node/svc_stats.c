/* --stats on a VM spanning nodes: at the end node 0 asks every node for its
 * counters (STATS), each answers with a STATS_REP (node_stats_t), and node
 * 0 merges them into its own before writing the report; a node that left
 * was asked as it left, its threads gone and the VM paused. */
#include "node/svc_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/stats.h"
#include "core/stats_coh.h"
#include "core/stats_mig.h"
#include "core/stats_rc.h"

void svc_on_stats(int src, const node_hdr_t *h)
{
	node_stats_t *m = calloc(1, sizeof(*m));
	node_hdr_t rh = { .type = NODE_MSG_STATS_REP, .id = h->id };
	size_t cap = node_wire_max_len();
	uint8_t *buf = malloc(cap);

	if (!m || !buf)
		goto out;
	m->nvcpus = (uint32_t)svc_vm->nvcpus;
	vm_cpu_account(svc_vm);
	for (int i = 0; i < svc_vm->nvcpus; i++) {
		m->vc[i] = svc_vm->vcpus[i].st;
		m->pu[i] = svc_vm->vcpus[i].host_pu;
	}
	m->coh = coh_rt_stats;
	coh_rt_rc_stats(&m->rc);
	memcpy(m->sys, stats_sys_count, sizeof(m->sys));
	m->nhot = coh_trace_top(m->hot, STATS_HOT_TOP);
	m->ntrace = coh_trace_sample(m->trace, COH_TRACE_SAMPLE);
	m->nthreads = stats_threads_get(m->threads, STATS_THREADS_MAX);
	m->nmig = stats_mig_get(&m->mig_out, &m->mig_in, m->mig,
				STATS_MIG_MAX);
	if (svc_send(src, buf, node_wire_stats_encode(&rh, m, buf, cap)) !=
	    CVMM_OK)
		log_warn("--stats: cannot send counters to node %d", src);
out:
	free(buf);
	free(m);
}

/* Node k's hot pages, fault sample, thread stacks, migrations and
 * release-model counters (counts were checked by the decoder). */
static void stats_merge_coh(int k, const node_stats_t *m)
{
	stats_coh_add(k, m->hot, m->nhot, m->trace, m->ntrace);
	stats_rc_add(k, &m->rc);
	for (unsigned i = 0; i < m->nthreads; i++)
		stats_thread_stack((int)m->threads[i].tid, m->threads[i].lo,
				   m->threads[i].hi);
	stats_mig_add(k, m->mig_out, m->mig_in, m->mig, m->nmig);
}

/* Node 0's own hot pages, fault sample, migrations and release-model
 * counters, as the others send theirs. */
static void stats_merge_self(node_stats_t *m)
{
	unsigned nhot = coh_trace_top(m->hot, STATS_HOT_TOP);
	unsigned nev = coh_trace_sample(m->trace, COH_TRACE_SAMPLE);
	unsigned nmig = stats_mig_get(&m->mig_out, &m->mig_in, m->mig,
				      STATS_MIG_MAX);

	stats_coh_add(0, m->hot, nhot, m->trace, nev);
	stats_mig_add(0, m->mig_out, m->mig_in, m->mig, nmig);
	coh_rt_rc_stats(&m->rc);
	stats_rc_add(0, &m->rc);
}

/* every field a 64-bit count: a new one must be added below */
_Static_assert(sizeof(vcpu_stats_t) == 8 * sizeof(uint64_t),
	       "vcpu_stats_add misses a field");

static void vcpu_stats_add(vcpu_stats_t *to, const vcpu_stats_t *from)
{
	to->guest_ns += from->guest_ns;
	to->sys_ns += from->sys_ns;
	to->idle_ns += from->idle_ns;
	to->coherence_ns += from->coherence_ns;
	to->syscalls += from->syscalls;
	to->threads += from->threads;
	to->cpu_ns += from->cpu_ns;
	to->cpu_wait_ns += from->cpu_wait_ns;
}

static void stats_merge(vm_t *vm, int k, const node_stats_t *m)
{
	coh_rt_stats_t *t = &coh_rt_stats;

	/* a vCPU's time on every node that hosted it (a node left or
	 * joined), its core where it is now */
	for (int i = 0; i < vm->nvcpus && i < (int)m->nvcpus; i++) {
		vcpu_stats_add(&vm->vcpus[i].st, &m->vc[i]);
		if (vm_vcpu_node(vm, i) == k)
			vm->vcpus[i].host_pu = m->pu[i];
	}
	t->read_faults += m->coh.read_faults;
	t->write_faults += m->coh.write_faults;
	t->agent_acquires += m->coh.agent_acquires;
	t->fetches += m->coh.fetches;
	t->zero_fills += m->coh.zero_fills;
	t->bytes_moved += m->coh.bytes_moved;
	t->inval_sent += m->coh.inval_sent;
	t->inval_recv += m->coh.inval_recv;
	t->fault_ns += m->coh.fault_ns;
	for (int b = 0; b < 32; b++)
		t->lat_hist[b] += m->coh.lat_hist[b];
	for (int d = 0; d < 64; d++)
		stats_msgs_by_node[k < 64 ? k : 63] += m->coh.msgs_sent[d];
	for (int nr = 0; nr < SYS_NR_MAX; nr++)
		stats_sys_count[nr] += m->sys[nr];
	stats_merge_coh(k, m);
}

/* Node 0, --stats: the counters of nodes that left, asked for as each
 * left (its agent is gone at the end), merged with the others'. */
typedef struct left_stats {
	struct left_stats *next;
	int k;
	node_stats_t m;
} left_stats_t;

static left_stats_t *left_stats;
static pthread_mutex_t left_lock = PTHREAD_MUTEX_INITIALIZER;

void svc_stats_keep_leaver(int k)
{
	node_hdr_t h = { .type = NODE_MSG_STATS };
	left_stats_t *l;

	if (svc_self() != 0 || !svc_vm || !svc_vm->stats_file)
		return;
	l = calloc(1, sizeof(*l));
	if (!l)
		return;
	l->k = k;
	if (svc_ask(k, &h, &l->m, NULL, 2000) < 0) {
		log_warn("--stats: no counters from node %d as it left", k);
		free(l);
		return;
	}
	pthread_mutex_lock(&left_lock);
	l->next = left_stats;
	left_stats = l;
	pthread_mutex_unlock(&left_lock);
}

void svc_collect_stats(vm_t *vm)
{
	node_stats_t *m;

	if (svc_self() != 0)
		return;
	m = malloc(sizeof(*m));
	if (!m)
		return;
	for (int d = 0; d < 64; d++)
		stats_msgs_by_node[0] += coh_rt_stats.msgs_sent[d];
	stats_rc_model(node_opts.memory_model == NODE_MM_RELEASE);
	stats_merge_self(m);
	for (int k = 1; k < svc_nnodes(); k++) {
		node_hdr_t h = { .type = NODE_MSG_STATS };

		if (node_departed(k))
			continue; /* it left: its counters are kept below */
		if (svc_ask(k, &h, m, NULL, 2000) < 0) {
			log_warn("--stats: no counters from node %d", k);
			continue;
		}
		stats_merge(vm, k, m);
	}
	free(m);
	pthread_mutex_lock(&left_lock);
	while (left_stats) {
		left_stats_t *l = left_stats;

		left_stats = l->next;
		stats_merge(vm, l->k, &l->m);
		free(l);
	}
	pthread_mutex_unlock(&left_lock);
}
