/* cvmm ctl status (node/ctl_server.h) on a VM spanning nodes: node 0 asks every
 * node for its state now (STATUS) and each answers with a STATUS_REP
 * (node_status_t); node 0 fills in its own. Nothing here blocks a handler:
 * the asking runs on node 0's control thread. */
#include "node/svc_int.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "common/log.h"
#include "core/stats_mig.h"

/* This node's state now (relaxed reads of live counters); pages: with
 * the pages it owns and shares. */
static void status_local(node_status_t *s, bool pages)
{
	struct stat sb;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < svc_vm->nvcpus; i++) {
		const vcpu_t *v = &svc_vm->vcpus[i];

		/* the counters of every vCPU index are this node's: a
		 * thread keeps its vCPU until its next trap point after a
		 * rehost */
		s->vcpus += vm_vcpu_local(svc_vm, i);
		s->threads += __atomic_load_n(&v->nthreads, __ATOMIC_RELAXED);
		s->guest_ns += __atomic_load_n(&v->st.guest_ns,
					       __ATOMIC_RELAXED);
		s->coherence_ns += __atomic_load_n(&v->st.coherence_ns,
						   __ATOMIC_RELAXED);
		s->sys_ns += __atomic_load_n(&v->st.sys_ns, __ATOMIC_RELAXED);
		s->idle_ns += __atomic_load_n(&v->st.idle_ns,
					      __ATOMIC_RELAXED);
	}
	s->read_faults = __atomic_load_n(&coh_rt_stats.read_faults,
					 __ATOMIC_RELAXED);
	s->write_faults = __atomic_load_n(&coh_rt_stats.write_faults,
					  __ATOMIC_RELAXED);
	s->fault_ns = __atomic_load_n(&coh_rt_stats.fault_ns,
				      __ATOMIC_RELAXED);
	if (svc_gm && fstat(svc_gm->memfd, &sb) == 0)
		s->resident = (uint64_t)sb.st_blocks * 512 / 4096;
	stats_mig_get(&s->mig_out, &s->mig_in, NULL, 0);
	s->pid = (uint64_t)getpid();
	if (pages)
		coh_rt_pages(&s->owned, &s->shared);
	if (pages && svc_nnodes() == 1)
		s->owned = s->resident; /* one node owns all it holds */
	svc_balance_measure(s);
}

void svc_on_status(int src, const node_hdr_t *h)
{
	node_hdr_t rh = { .type = NODE_MSG_STATUS_REP, .id = h->id };
	uint8_t buf[NODE_WIRE_STATUS_LEN];
	node_status_t s;

	status_local(&s, h->arg != 0);
	if (svc_send(src, buf, node_wire_status_encode(&rh, &s, buf,
							sizeof(buf))) !=
	    CVMM_OK)
		log_warn("cannot send this node's status to node %d", src);
}

int node_svc_status(node_status_t *out, bool *ok, int cap, long wait_ms,
		    bool pages)
{
	int n = svc_nnodes() < cap ? svc_nnodes() : cap;

	if (svc_self() != 0 || n < 1)
		return 0;
	status_local(&out[0], pages);
	ok[0] = true;
	for (int k = 1; k < n; k++) {
		node_hdr_t h = { .type = NODE_MSG_STATUS, .arg = pages };

		ok[k] = !node_departed(k) &&
			svc_ask(k, &h, NULL, &out[k], wait_ms) >= 0;
		if (!ok[k])
			memset(&out[k], 0, sizeof(out[k]));
	}
	return n;
}
