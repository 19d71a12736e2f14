/* Encoding and checked decoding of the node-service messages (node_wire.h
 * has the layout). */
#include "node/node_wire.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/wire.h"
#include "core/entry.h"
#include "core/place.h"

/* ---- header ------------------------------------------------------------- */

static void hdr_put(wire_w_t *w, const node_hdr_t *h)
{
	wire_w_u16(w, NODE_WIRE_VERSION);
	wire_w_u16(w, h->type);
	wire_w_u32(w, h->count);
	wire_w_u64(w, h->id);
	wire_w_i64(w, h->arg);
	wire_w_i32(w, h->tid);
	wire_w_i32(w, h->vcpu);
}

static void hdr_get(wire_r_t *r, node_hdr_t *h)
{
	h->version = wire_r_u16(r);
	h->type = wire_r_u16(r);
	h->count = wire_r_u32(r);
	h->id = wire_r_u64(r);
	h->arg = wire_r_i64(r);
	h->tid = wire_r_i32(r);
	h->vcpu = wire_r_i32(r);
}

size_t node_wire_hdr_encode(const node_hdr_t *h, void *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);

	hdr_put(&w, h);
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_hdr_decode(const void *buf, size_t len,
				   node_hdr_t *h)
{
	wire_r_t r = wire_r_init(buf, len);
	node_hdr_t t;

	hdr_get(&r, &t);
	if (r.bad || t.version != NODE_WIRE_VERSION || t.type == 0 ||
	    t.type >= NODE_MSG_TYPES)
		return CVMM_ERR_PEER;
	*h = t;
	return CVMM_OK;
}

/* Opens a reader on buf past a header of type type (already checked by
 * node_wire_hdr_decode or checked here). */
static cvmm_status_t body_open(const void *buf, size_t len, unsigned type,
			       wire_r_t *r, node_hdr_t *h)
{
	if (node_wire_hdr_decode(buf, len, h) != CVMM_OK || h->type != type)
		return CVMM_ERR_PEER;
	*r = wire_r_init(buf, len);
	wire_r_take(r, NODE_WIRE_HDR_LEN);
	return CVMM_OK;
}

/* ---- SYSCALL ------------------------------------------------------------ */

size_t node_wire_syscall_encode(const node_hdr_t *h, const uint64_t a[6],
				void *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);

	hdr_put(&w, h);
	for (int i = 0; i < 6; i++)
		wire_w_u64(&w, a[i]);
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_syscall_decode(const void *buf, size_t len,
				       uint64_t a[6])
{
	node_hdr_t h;
	wire_r_t r;
	uint64_t t[6];

	if (body_open(buf, len, NODE_MSG_SYSCALL, &r, &h) != CVMM_OK)
		return CVMM_ERR_PEER;
	for (int i = 0; i < 6; i++)
		t[i] = wire_r_u64(&r);
	if (!wire_r_done(&r) || h.arg < 0 || h.arg >= SYS_NR_MAX ||
	    h.vcpu < 0 || h.vcpu >= CVMM_MAX_VCPUS)
		return CVMM_ERR_PEER;
	for (int i = 0; i < 6; i++)
		a[i] = t[i];
	return CVMM_OK;
}

/* ---- LAYOUT ------------------------------------------------------------- */

size_t node_wire_layout_encode(const node_hdr_t *h, const gmem_change_t *c,
			       unsigned n, void *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);
	node_hdr_t hh = *h;

	if (n > NODE_WIRE_LAYOUT_MAX)
		return 0;
	hh.count = n;
	hdr_put(&w, &hh);
	for (unsigned i = 0; i < n; i++)
		node_wire_change_put(&w, &c[i]);
	return w.bad ? 0 : w.len;
}

void node_wire_change_put(wire_w_t *w, const gmem_change_t *c)
{
	wire_w_u32(w, c->op);
	wire_w_i32(w, c->prot);
	wire_w_i32(w, c->flags);
	wire_w_u32(w, 0);
	wire_w_u64(w, c->start);
	wire_w_u64(w, c->end);
}

/* A change any node could apply: known op, page-aligned non-empty range
 * inside the guest window, known protection bits. */
static bool change_ok(const gmem_change_t *c)
{
	uint64_t mask = CVMM_PAGE_SIZE - 1;

	return c->op >= GMEM_CH_SET && c->op <= GMEM_CH_TLS &&
	       !((c->start | c->end) & mask) && c->start >= GMEM_LO &&
	       c->end <= GMEM_HI && c->start < c->end &&
	       !(c->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC));
}

bool node_wire_change_get(wire_r_t *r, gmem_change_t *c)
{
	gmem_change_t t = { 0 };

	t.op = wire_r_u32(r);
	t.prot = wire_r_i32(r);
	t.flags = wire_r_i32(r);
	wire_r_u32(r);
	t.start = wire_r_u64(r);
	t.end = wire_r_u64(r);
	if (r->bad || !change_ok(&t))
		return false;
	*c = t;
	return true;
}

cvmm_status_t node_wire_layout_decode(const void *buf, size_t len,
				      gmem_change_t *c, unsigned *n)
{
	node_hdr_t h;
	wire_r_t r;

	if (body_open(buf, len, NODE_MSG_LAYOUT, &r, &h) != CVMM_OK ||
	    h.count > NODE_WIRE_LAYOUT_MAX ||
	    wire_r_left(&r) != (size_t)h.count * NODE_WIRE_CHANGE_LEN)
		return CVMM_ERR_PEER;
	for (unsigned i = 0; i < h.count; i++)
		if (!node_wire_change_get(&r, &c[i]))
			return CVMM_ERR_PEER;
	if (!wire_r_done(&r))
		return CVMM_ERR_PEER;
	*n = h.count;
	return CVMM_OK;
}

/* ---- START, MIGRATE ------------------------------------------------------ */

/* The general registers in guest_regs_t order (entry_asm.S's layout). */
#define REGS_WORDS 20
#define REGS_GPR(r)                                                          \
	{ &(r)->r15, &(r)->r14, &(r)->r13, &(r)->r12, &(r)->r11, &(r)->r10,  \
	  &(r)->r9, &(r)->r8, &(r)->rdi, &(r)->rsi, &(r)->rbp, &(r)->rbx,    \
	  &(r)->rdx, &(r)->rcx, &(r)->rax, &(r)->rip, &(r)->rflags,          \
	  &(r)->rsp, &(r)->fs, &(r)->gs }

/* This node's CPU, for checking a peer's register image. */
static entry_xstate_t start_xs;
static pthread_once_t start_xs_once = PTHREAD_ONCE_INIT;

static void start_xs_probe(void)
{
	entry_xstate_probe(&start_xs);
}

/* The registers block; false when the image is over the largest. */
static bool regs_put(wire_w_t *w, const guest_regs_t *regs)
{
	const uint64_t *gpr[REGS_WORDS] = REGS_GPR(regs);

	if (regs->xsave_len > GUEST_XSAVE_MAX)
		return false;
	for (int i = 0; i < REGS_WORDS; i++)
		wire_w_u64(w, *gpr[i]);
	wire_w_u32(w, regs->xsave_len);
	wire_w_u32(w, 0);
	wire_w_bytes(w, regs->xsave, regs->xsave_len);
	return true;
}

/* Reads the registers block, the rest of the message, into *regs (only
 * the image's xsave_len bytes of xsave are written). The image is the
 * peer's guest's registers, restored here with XRSTOR: it must fit this
 * node's CPU (no larger than its image, components it has, a well-formed
 * header) or the restore would fault the agent; FS and GS bases are
 * loaded with arch_prctl, which takes only user addresses. */
static cvmm_status_t regs_get(wire_r_t *r, guest_regs_t *regs)
{
	guest_regs_t t;
	uint64_t *gpr[REGS_WORDS] = REGS_GPR(&t);
	uint32_t xlen, zero;

	memset(&t, 0, offsetof(guest_regs_t, xsave));
	for (int i = 0; i < REGS_WORDS; i++)
		*gpr[i] = wire_r_u64(r);
	xlen = wire_r_u32(r);
	zero = wire_r_u32(r);
	if (r->bad || zero || xlen > GUEST_XSAVE_MAX ||
	    wire_r_left(r) != xlen || t.fs >= GMEM_TASK_SIZE ||
	    t.gs >= GMEM_TASK_SIZE)
		return CVMM_ERR_PEER;
	wire_r_bytes(r, t.xsave, xlen);
	pthread_once(&start_xs_once, start_xs_probe);
	if (!wire_r_done(r) ||
	    (xlen && !entry_xsave_valid(t.xsave, xlen, &start_xs)))
		return CVMM_ERR_PEER;
	t.xsave_len = xlen;
	memcpy(regs, &t, offsetof(guest_regs_t, xsave) + xlen);
	return CVMM_OK;
}

size_t node_wire_start_encode(const node_hdr_t *h, uint64_t clear_tid,
			      uint64_t sigmask, const guest_regs_t *regs,
			      void *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);

	hdr_put(&w, h);
	wire_w_u64(&w, clear_tid);
	wire_w_u64(&w, sigmask);
	if (!regs_put(&w, regs))
		return 0;
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_start_decode(const void *buf, size_t len,
				     uint64_t *clear_tid, uint64_t *sigmask,
				     guest_regs_t *regs)
{
	uint64_t clear, mask;
	node_hdr_t h;
	wire_r_t r;

	if (body_open(buf, len, NODE_MSG_START, &r, &h) != CVMM_OK ||
	    h.tid <= 0)
		return CVMM_ERR_PEER;
	clear = wire_r_u64(&r);
	mask = wire_r_u64(&r);
	if (regs_get(&r, regs) != CVMM_OK)
		return CVMM_ERR_PEER;
	*clear_tid = clear;
	*sigmask = mask;
	return CVMM_OK;
}

size_t node_wire_migrate_encode(const node_hdr_t *h, const node_migrate_t *m,
				const guest_regs_t *regs, void *buf,
				size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);

	hdr_put(&w, h);
	wire_w_u64(&w, m->clear_tid);
	wire_w_u64(&w, m->sigmask);
	wire_w_u64(&w, m->robust_list);
	wire_w_u64(&w, m->robust_len);
	wire_w_u64(&w, m->hold_ns);
	wire_w_u64(&w, m->sleep_req);
	wire_w_u64(&w, m->sleep_left_ns);
	if (!regs_put(&w, regs))
		return 0;
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_migrate_decode(const void *buf, size_t len,
				       node_migrate_t *m, guest_regs_t *regs)
{
	node_migrate_t t;
	node_hdr_t h;
	wire_r_t r;

	if (body_open(buf, len, NODE_MSG_MIGRATE, &r, &h) != CVMM_OK ||
	    h.tid <= 0)
		return CVMM_ERR_PEER;
	t.clear_tid = wire_r_u64(&r);
	t.sigmask = wire_r_u64(&r);
	t.robust_list = wire_r_u64(&r);
	t.robust_len = wire_r_u64(&r);
	t.hold_ns = wire_r_u64(&r);
	t.sleep_req = wire_r_u64(&r);
	t.sleep_left_ns = wire_r_u64(&r);
	/* set_robust_list takes only 24; 0 is never set */
	if ((t.robust_len != 0 && t.robust_len != 24) ||
	    t.hold_ns > PLACE_HOLD_MAX_NS ||
	    (t.sleep_req == 0) != (t.sleep_left_ns == 0) ||
	    t.sleep_left_ns > (uint64_t)INT64_MAX ||
	    regs_get(&r, regs) != CVMM_OK)
		return CVMM_ERR_PEER;
	*m = t;
	return CVMM_OK;
}

/* ---- STATS_REP ---------------------------------------------------------- */

size_t node_wire_stats_len(const node_stats_t *s)
{
	return NODE_WIRE_HDR_LEN + 6 * 4 +
	       (size_t)s->nvcpus * NODE_WIRE_VCPU_LEN +
	       NODE_WIRE_COH_WORDS * 8 + NODE_WIRE_RC_WORDS * 8 +
	       SYS_NR_MAX * 8 +
	       (size_t)s->nhot * NODE_WIRE_HOT_LEN +
	       (size_t)s->ntrace * NODE_WIRE_EV_LEN +
	       (size_t)s->nthreads * NODE_WIRE_THREAD_LEN + 2 * 8 +
	       (size_t)s->nmig * NODE_WIRE_MIG_LEN;
}

size_t node_wire_max_len(void)
{
	node_stats_t s = { .nvcpus = CVMM_MAX_VCPUS, .nhot = STATS_HOT_TOP,
			   .ntrace = COH_TRACE_SAMPLE,
			   .nthreads = STATS_THREADS_MAX,
			   .nmig = STATS_MIG_MAX };

	return node_wire_stats_len(&s);
}

static bool stats_counts_ok(const node_stats_t *s)
{
	return s->nvcpus <= CVMM_MAX_VCPUS && s->nhot <= STATS_HOT_TOP &&
	       s->ntrace <= COH_TRACE_SAMPLE &&
	       s->nthreads <= STATS_THREADS_MAX && s->nmig <= STATS_MIG_MAX;
}

/* The coherence counters in coh_rt_stats_t order. */
static void coh_put(wire_w_t *w, const coh_rt_stats_t *c)
{
	const uint64_t one[8] = { c->read_faults, c->write_faults,
				  c->agent_acquires, c->fetches,
				  c->bytes_moved, c->zero_fills,
				  c->inval_sent, c->inval_recv };

	for (int i = 0; i < 8; i++)
		wire_w_u64(w, one[i]);
	for (int i = 0; i < 64; i++)
		wire_w_u64(w, c->msgs_sent[i]);
	for (int i = 0; i < 64; i++)
		wire_w_u64(w, c->msgs_recv[i]);
	for (int i = 0; i < 32; i++)
		wire_w_u64(w, c->lat_hist[i]);
	wire_w_u64(w, c->fault_ns);
}

static void coh_get(wire_r_t *r, coh_rt_stats_t *c)
{
	uint64_t *one[8] = { &c->read_faults, &c->write_faults,
			     &c->agent_acquires, &c->fetches,
			     &c->bytes_moved, &c->zero_fills,
			     &c->inval_sent, &c->inval_recv };

	for (int i = 0; i < 8; i++)
		*one[i] = wire_r_u64(r);
	for (int i = 0; i < 64; i++)
		c->msgs_sent[i] = wire_r_u64(r);
	for (int i = 0; i < 64; i++)
		c->msgs_recv[i] = wire_r_u64(r);
	for (int i = 0; i < 32; i++)
		c->lat_hist[i] = wire_r_u64(r);
	c->fault_ns = wire_r_u64(r);
}

/* The release model's counters in coh_rc_stats_t order. */
#define RC_WORDS(c)                                                          \
	{ &(c)->fetches, &(c)->zero_fetches, &(c)->twins,                    \
	  &(c)->diffs_sent, &(c)->diff_bytes, &(c)->diffs_applied,           \
	  &(c)->acquires, &(c)->releases, &(c)->invalidated,                 \
	  &(c)->sync_pages, &(c)->races, &(c)->notices, &(c)->fwd_deferred, \
	  &(c)->promoted, &(c)->updated, &(c)->seq_faults,                  \
	  &(c)->seq_fault_ns, &(c)->data_faults, &(c)->data_fault_ns,       \
	  &(c)->handover_ns, &(c)->demoted }

static void rc_put(wire_w_t *w, const coh_rc_stats_t *c)
{
	const uint64_t *v[NODE_WIRE_RC_WORDS] = RC_WORDS(c);

	for (int i = 0; i < NODE_WIRE_RC_WORDS; i++)
		wire_w_u64(w, *v[i]);
}

static void rc_get(wire_r_t *r, coh_rc_stats_t *c)
{
	uint64_t *v[NODE_WIRE_RC_WORDS] = RC_WORDS(c);

	for (int i = 0; i < NODE_WIRE_RC_WORDS; i++)
		*v[i] = wire_r_u64(r);
}

static void vcpu_put(wire_w_t *w, const vcpu_stats_t *v, int32_t pu)
{
	wire_w_u64(w, v->guest_ns);
	wire_w_u64(w, v->sys_ns);
	wire_w_u64(w, v->idle_ns);
	wire_w_u64(w, v->coherence_ns);
	wire_w_u64(w, v->syscalls);
	wire_w_u64(w, v->threads);
	wire_w_u64(w, v->cpu_ns);
	wire_w_u64(w, v->cpu_wait_ns);
	wire_w_i32(w, pu);
}

static void vcpu_get(wire_r_t *r, vcpu_stats_t *v, int32_t *pu)
{
	v->guest_ns = wire_r_u64(r);
	v->sys_ns = wire_r_u64(r);
	v->idle_ns = wire_r_u64(r);
	v->coherence_ns = wire_r_u64(r);
	v->syscalls = wire_r_u64(r);
	v->threads = wire_r_u64(r);
	v->cpu_ns = wire_r_u64(r);
	v->cpu_wait_ns = wire_r_u64(r);
	*pu = wire_r_i32(r);
}

static void samples_put(wire_w_t *w, const node_stats_t *s)
{
	for (unsigned i = 0; i < s->nhot; i++) {
		wire_w_u64(w, s->hot[i].page);
		wire_w_u32(w, s->hot[i].faults);
		wire_w_u32(w, s->hot[i].writes);
		wire_w_u32(w, s->hot[i].atomics);
		for (int k = 0; k < COH_TRACE_NODES; k++)
			wire_w_u32(w, s->hot[i].from[k]);
	}
	for (unsigned i = 0; i < s->ntrace; i++) {
		wire_w_u64(w, s->trace[i].t_ns);
		wire_w_u64(w, s->trace[i].page);
		wire_w_u32(w, s->trace[i].write);
	}
	for (unsigned i = 0; i < s->nthreads; i++) {
		wire_w_i64(w, s->threads[i].tid);
		wire_w_u64(w, s->threads[i].lo);
		wire_w_u64(w, s->threads[i].hi);
	}
	wire_w_u64(w, s->mig_out);
	wire_w_u64(w, s->mig_in);
	for (unsigned i = 0; i < s->nmig; i++) {
		wire_w_i64(w, s->mig[i].tid);
		wire_w_u64(w, s->mig[i].count);
	}
}

static void samples_get(wire_r_t *r, node_stats_t *s)
{
	for (unsigned i = 0; i < s->nhot; i++) {
		s->hot[i].page = wire_r_u64(r);
		s->hot[i].faults = wire_r_u32(r);
		s->hot[i].writes = wire_r_u32(r);
		s->hot[i].atomics = wire_r_u32(r);
		s->hot[i].pad = 0;
		for (int k = 0; k < COH_TRACE_NODES; k++)
			s->hot[i].from[k] = wire_r_u32(r);
	}
	for (unsigned i = 0; i < s->ntrace; i++) {
		s->trace[i].t_ns = wire_r_u64(r);
		s->trace[i].page = wire_r_u64(r);
		s->trace[i].write = wire_r_u32(r);
		s->trace[i].pad = 0;
	}
	for (unsigned i = 0; i < s->nthreads; i++) {
		s->threads[i].tid = wire_r_i64(r);
		s->threads[i].lo = wire_r_u64(r);
		s->threads[i].hi = wire_r_u64(r);
	}
	s->mig_out = wire_r_u64(r);
	s->mig_in = wire_r_u64(r);
	for (unsigned i = 0; i < s->nmig; i++) {
		s->mig[i].tid = wire_r_i64(r);
		s->mig[i].count = wire_r_u64(r);
	}
}

size_t node_wire_stats_encode(const node_hdr_t *h, const node_stats_t *s,
			      void *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);

	if (!stats_counts_ok(s))
		return 0;
	hdr_put(&w, h);
	wire_w_u32(&w, s->nvcpus);
	wire_w_u32(&w, s->nhot);
	wire_w_u32(&w, s->ntrace);
	wire_w_u32(&w, s->nthreads);
	wire_w_u32(&w, s->nmig);
	wire_w_u32(&w, 0);
	for (unsigned i = 0; i < s->nvcpus; i++)
		vcpu_put(&w, &s->vc[i], s->pu[i]);
	coh_put(&w, &s->coh);
	rc_put(&w, &s->rc);
	for (int nr = 0; nr < SYS_NR_MAX; nr++)
		wire_w_u64(&w, s->sys[nr]);
	samples_put(&w, s);
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_stats_decode(const void *buf, size_t len,
				     node_stats_t *s)
{
	node_hdr_t h;
	wire_r_t r;

	if (body_open(buf, len, NODE_MSG_STATS_REP, &r, &h) != CVMM_OK)
		return CVMM_ERR_PEER;
	s->nvcpus = wire_r_u32(&r);
	s->nhot = wire_r_u32(&r);
	s->ntrace = wire_r_u32(&r);
	s->nthreads = wire_r_u32(&r);
	s->nmig = wire_r_u32(&r);
	if (wire_r_u32(&r) != 0 || r.bad || !stats_counts_ok(s) ||
	    len != node_wire_stats_len(s))
		return CVMM_ERR_PEER;
	for (unsigned i = 0; i < s->nvcpus; i++)
		vcpu_get(&r, &s->vc[i], &s->pu[i]);
	coh_get(&r, &s->coh);
	rc_get(&r, &s->rc);
	for (int nr = 0; nr < SYS_NR_MAX; nr++)
		s->sys[nr] = wire_r_u64(&r);
	samples_get(&r, s);
	return wire_r_done(&r) ? CVMM_OK : CVMM_ERR_PEER;
}

/* ---- STATUS_REP ---------------------------------------------------------- */

size_t node_wire_status_encode(const node_hdr_t *h, const node_status_t *s,
			       void *buf, size_t cap)
{
	const uint64_t *v = (const uint64_t *)s;
	wire_w_t w = wire_w_init(buf, cap);

	hdr_put(&w, h);
	for (int i = 0; i < NODE_STATUS_WORDS; i++)
		wire_w_u64(&w, v[i]);
	return w.bad ? 0 : w.len;
}

cvmm_status_t node_wire_status_decode(const void *buf, size_t len,
				      node_status_t *s)
{
	uint64_t v[NODE_STATUS_WORDS];
	node_status_t t;
	node_hdr_t h;
	wire_r_t r;

	if (len != NODE_WIRE_STATUS_LEN ||
	    body_open(buf, len, NODE_MSG_STATUS_REP, &r, &h) != CVMM_OK)
		return CVMM_ERR_PEER;
	for (int i = 0; i < NODE_STATUS_WORDS; i++)
		v[i] = wire_r_u64(&r);
	memcpy(&t, v, sizeof(t));
	if (!wire_r_done(&r) || t.vcpus > CVMM_MAX_VCPUS ||
	    t.cores > NODE_STATUS_CORES_MAX || t.speed > UINT32_MAX)
		return CVMM_ERR_PEER;
	*s = t;
	return CVMM_OK;
}

/* ---- any message -------------------------------------------------------- */

/* The bodies too large for the stack, decoded into scratch memory. */
static cvmm_status_t check_start(const void *buf, size_t len, unsigned type)
{
	guest_regs_t *regs = aligned_alloc(_Alignof(guest_regs_t),
					   sizeof(*regs));
	uint64_t clear, mask;
	node_migrate_t m;
	cvmm_status_t st;

	if (!regs)
		return CVMM_ERR_NOMEM;
	if (type == NODE_MSG_START)
		st = node_wire_start_decode(buf, len, &clear, &mask, regs);
	else
		st = node_wire_migrate_decode(buf, len, &m, regs);
	free(regs);
	return st;
}

static cvmm_status_t check_layout(const void *buf, size_t len)
{
	gmem_change_t *c = malloc(NODE_WIRE_LAYOUT_MAX * sizeof(*c));
	cvmm_status_t st;
	unsigned n;

	if (!c)
		return CVMM_ERR_NOMEM;
	st = node_wire_layout_decode(buf, len, c, &n);
	free(c);
	return st;
}

static cvmm_status_t check_stats(const void *buf, size_t len)
{
	node_stats_t *s = malloc(sizeof(*s));
	cvmm_status_t st;

	if (!s)
		return CVMM_ERR_NOMEM;
	st = node_wire_stats_decode(buf, len, s);
	free(s);
	return st;
}

cvmm_status_t node_wire_check(const void *buf, size_t len)
{
	uint64_t a[6];
	node_hdr_t h;

	if (node_wire_hdr_decode(buf, len, &h) != CVMM_OK)
		return CVMM_ERR_PEER;
	switch (h.type) {
	case NODE_MSG_SYSCALL:
		return node_wire_syscall_decode(buf, len, a);
	case NODE_MSG_LAYOUT:
		return check_layout(buf, len);
	case NODE_MSG_START:
	case NODE_MSG_MIGRATE:
		return check_start(buf, len, h.type);
	case NODE_MSG_STATS_REP:
		return check_stats(buf, len);
	case NODE_MSG_STATUS_REP: {
		node_status_t s;

		return node_wire_status_decode(buf, len, &s);
	}
	case NODE_MSG_TAKE:
		return node_wire_take_check(buf, len);
	case NODE_MSG_JOIN: {
		const void *ja, *jr;
		size_t jal, jrl;

		return node_wire_join_decode(buf, len, &ja, &jal, &jr, &jrl);
	}
	default:
		return len == NODE_WIRE_HDR_LEN ? CVMM_OK : CVMM_ERR_PEER;
	}
}

/* ---- TAKE ---------------------------------------------------------------- */

cvmm_status_t node_wire_take_check(const void *buf, size_t len)
{
	node_hdr_t h;

	if (node_wire_hdr_decode(buf, len, &h) != CVMM_OK ||
	    h.type != NODE_MSG_TAKE || h.count == 0 ||
	    h.count > NODE_TAKE_MAX)
		return CVMM_ERR_PEER;
	switch (h.arg) {
	case NODE_TAKE_RECORDS:
	case NODE_TAKE_WAITERS:
		return len == NODE_WIRE_HDR_LEN +
				      (size_t)h.count * NODE_TAKE_ITEM_LEN
			       ? CVMM_OK
			       : CVMM_ERR_PEER;
	case NODE_TAKE_PAGE:
		return h.count == 1 &&
				       len == NODE_WIRE_HDR_LEN +
						      NODE_TAKE_PAGE_LEN
			       ? CVMM_OK
			       : CVMM_ERR_PEER;
	case NODE_TAKE_RC_PAGE:
		return h.count == 1 &&
				       len == NODE_WIRE_HDR_LEN +
						      NODE_TAKE_RC_PAGE_LEN
			       ? CVMM_OK
			       : CVMM_ERR_PEER;
	default:
		return CVMM_ERR_PEER;
	}
}

/* ---- JOIN ---------------------------------------------------------------- */

size_t node_wire_join_encode(const node_hdr_t *h, const void *addr,
			     size_t alen, const void *rkey, size_t rlen,
			     void *buf, size_t cap)
{
	size_t len = NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED + alen + rlen;
	wire_w_t w;

	if (h->type != NODE_MSG_JOIN || alen == 0 ||
	    alen > NODE_WIRE_JOIN_BLOB_MAX || rlen > NODE_WIRE_JOIN_BLOB_MAX ||
	    cap < len || node_wire_hdr_encode(h, buf, cap) != NODE_WIRE_HDR_LEN)
		return 0;
	w = wire_w_init((uint8_t *)buf + NODE_WIRE_HDR_LEN,
			cap - NODE_WIRE_HDR_LEN);
	wire_w_u32(&w, (uint32_t)alen);
	wire_w_u32(&w, (uint32_t)rlen);
	wire_w_bytes(&w, addr, alen);
	wire_w_bytes(&w, rkey, rlen);
	return w.bad ? 0 : len;
}

cvmm_status_t node_wire_join_decode(const void *msg, size_t len,
				    const void **addr, size_t *alen,
				    const void **rkey, size_t *rlen)
{
	const uint8_t *p = msg;
	node_hdr_t h;
	uint32_t a, r;

	if (node_wire_hdr_decode(msg, len, &h) != CVMM_OK ||
	    h.type != NODE_MSG_JOIN ||
	    len < NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED)
		return CVMM_ERR_PEER;
	a = wire_get_u32(p + NODE_WIRE_HDR_LEN);
	r = wire_get_u32(p + NODE_WIRE_HDR_LEN + 4);
	if (a == 0 || a > NODE_WIRE_JOIN_BLOB_MAX ||
	    r > NODE_WIRE_JOIN_BLOB_MAX ||
	    len != NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED + (size_t)a + r)
		return CVMM_ERR_PEER;
	*addr = p + NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED;
	*alen = a;
	*rkey = p + NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED + a;
	*rlen = r;
	return CVMM_OK;
}
