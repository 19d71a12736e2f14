/* Node services of a multi-node VM, carried by NODE_AM_SVC messages:
 *
 *   SYSCALL  node k -> 0   a forwarded syscall (I/O, layout, signal state,
 *                          exit_group); a proxy thread on node 0, one per
 *                          remote guest thread, runs it against node 0's I/O
 *                          server and guest memory (coherently: the proxy's
 *                          gmem_ptr brings the caller's buffers over) and
 *                          replies ACK(result)
 *   LAYOUT   node 0 -> k   layout changes to apply (gmem_apply); ACK
 *   START    creator -> j  start a guest thread with these registers
 *   LIVE     node k -> 0   +1 (a thread created elsewhere; ACKed before the
 *                          START is sent, so node 0's count never dips to
 *                          zero early) or -1 (a thread exited)
 *   EXIT     node k -> 0   the VM ended on node k (a crash): node 0 ends it
 *   ACK      reply to SYSCALL, LAYOUT and LIVE(+1), by request id
 *
 * Handlers never block: work that may (a syscall, vm_exit's flush) runs on
 * a proxy or a short-lived thread. Request ids name a slot in a table of
 * waiting requests with a generation, so a reply for an unknown or stale id
 * from a confused peer is dropped, never dereferenced. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "common/log.h"
#include "node/node.h"
#include "core/stats.h"
#include "core/stats_coh.h"
#include "core/sys/sys.h"

#define SVC_VERSION 1
#define SVC_SLOTS 4096
#define SVC_MAX_CHANGES 256

enum svc_type {
	SVC_SYSCALL = 1,
	SVC_LAYOUT,
	SVC_START,
	SVC_LIVE,
	SVC_EXIT,
	SVC_ACK,
	SVC_STATS,      /* node 0 -> k at the end: send your counters */
	SVC_STATS_REP,  /* k -> 0: svc_stats_t */
};

/* Every message starts with this header; the body follows it. */
typedef struct svc_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t count;  /* LAYOUT: changes; LIVE: 1 or -1 as int32 */
	uint64_t id;     /* request id, 0 when no reply is wanted */
	int64_t arg;     /* ACK: result; SYSCALL: nr; EXIT: status */
	int32_t tid;     /* SYSCALL, START, LIVE */
	int32_t vcpu;    /* SYSCALL: the caller's vCPU */
} svc_hdr_t;

typedef struct svc_syscall {
	svc_hdr_t h;
	uint64_t a[6];
} svc_syscall_t;

typedef struct svc_start {
	svc_hdr_t h;
	uint64_t clear_tid;
	uint64_t sigmask;
	guest_regs_t regs; /* same binary on every node */
} svc_start_t;

/* One node's counters for node 0's --stats, with its hottest pages, its
 * fault sample (coh_trace.h: the first and the last faults) and the stacks
 * of the threads it created. Counts are checked on receive. */
typedef struct svc_stats {
	svc_hdr_t h;
	vcpu_stats_t vc[CVMM_MAX_VCPUS]; /* only this node's vCPUs count */
	int32_t pu[CVMM_MAX_VCPUS];      /* their host cpus */
	coh_rt_stats_t coh;
	uint64_t sys[SYS_NR_MAX];
	uint32_t nhot, ntrace, nthreads, pad;
	coh_trace_page_t hot[STATS_HOT_TOP];
	coh_trace_ev_t trace[COH_TRACE_SAMPLE];
	stats_thread_t threads[STATS_THREADS_MAX];
} svc_stats_t;

/* A request waiting for its ACKs (or its one data reply, into buf). */
typedef struct svc_wait {
	uint32_t done;     /* host futex word: 1 when all ACKs are in */
	uint32_t pending;  /* ACKs still expected */
	int64_t ret;
	void *buf;         /* SVC_STATS: where the reply goes */
	size_t cap;
} svc_wait_t;

static struct {
	pthread_mutex_t lock;
	svc_wait_t *w[SVC_SLOTS];
	uint16_t gen[SVC_SLOTS];
	unsigned next;
} slots = { .lock = PTHREAD_MUTEX_INITIALIZER };

static gmem_t *svc_gm;
static vm_t *svc_vm;
static unsigned clones; /* threads this node created, for placement */
static int *place_file;
static unsigned place_len;

static int self(void)
{
	return node_rank();
}

static int nnodes(void)
{
	return node_size();
}

/* ---- waiting for replies ---------------------------------------------- */

static uint64_t wait_open(svc_wait_t *w, uint32_t acks)
{
	uint64_t id = 0;

	*w = (svc_wait_t){ .pending = acks };
	pthread_mutex_lock(&slots.lock);
	for (unsigned n = 0; n < SVC_SLOTS; n++) {
		unsigned i = (slots.next + n) % SVC_SLOTS;

		if (!slots.w[i]) {
			slots.w[i] = w;
			slots.gen[i]++;
			slots.next = i + 1;
			id = (uint64_t)slots.gen[i] << 16 | i | 1ULL << 32;
			break;
		}
	}
	pthread_mutex_unlock(&slots.lock);
	if (!id)
		die("more than %d node requests in flight", SVC_SLOTS);
	return id;
}

static void wait_close(uint64_t id)
{
	pthread_mutex_lock(&slots.lock);
	slots.w[id & 0xffff] = NULL;
	pthread_mutex_unlock(&slots.lock);
}

/* Blocks until every ACK for id is in (the VM ends if a peer is lost, so
 * this cannot wait forever). */
static int64_t wait_done(svc_wait_t *w, uint64_t id)
{
	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &w->done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL,
			0);
	wait_close(id);
	return w->ret;
}

/* A reply for id: its result, and its body copied into the waiter's
 * buffer when it has one of exactly that size. */
/* As wait_done, giving up after ms (false; the slot is closed either way,
 * so a late reply is dropped). */
static bool wait_done_ms(svc_wait_t *w, uint64_t id, long ms)
{
	struct timespec ts = { 0, 10000000 };

	for (long t = 0; t < ms; t += 10) {
		if (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
			wait_close(id);
			return true;
		}
		syscall(SYS_futex, &w->done, FUTEX_WAIT_PRIVATE, 0, &ts, NULL,
			0);
	}
	wait_close(id);
	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

static void on_reply(int src, const svc_hdr_t *h, const void *body,
		     size_t len)
{
	unsigned i = (unsigned)(h->id & 0xffff);
	svc_wait_t *w;

	pthread_mutex_lock(&slots.lock);
	w = slots.w[i];
	if (!w || (h->id >> 32) != 1 || slots.gen[i] != (uint16_t)(h->id >> 16)) {
		pthread_mutex_unlock(&slots.lock);
		log_warn("node %d: reply to an unknown request: dropped", src);
		return;
	}
	if (h->arg < 0 || w->ret == 0)
		w->ret = h->arg;
	if (w->buf && len == w->cap)
		memcpy(w->buf, body, len);
	if (--w->pending == 0) {
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &w->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
			0);
	}
	pthread_mutex_unlock(&slots.lock);
}

static cvmm_status_t svc_send(int dst, const void *m, size_t len)
{
	return xp_am_send(node_xp(), dst, NODE_AM_SVC, m, len);
}

static void send_ack(int dst, uint64_t id, int64_t ret)
{
	svc_hdr_t h = { .version = SVC_VERSION, .type = SVC_ACK, .id = id,
			.arg = ret };

	if (svc_send(dst, &h, sizeof(h)) != CVMM_OK)
		log_warn("cannot answer node %d", dst);
}

/* ---- forwarded syscalls: proxies on node 0 ----------------------------- */

typedef struct proxy {
	int node, tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy, quit;
	svc_syscall_t req;
	vthread_t *vt;   /* stands for the remote thread in the handlers */
	struct proxy *next;
} proxy_t;

static pthread_mutex_t proxies_lock = PTHREAD_MUTEX_INITIALIZER;
static proxy_t *proxies;

static void *proxy_main(void *arg)
{
	proxy_t *p = arg;
	svc_syscall_t req;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->busy && !p->quit)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->busy)
			break;
		req = p->req;
		pthread_mutex_unlock(&p->lock);
		p->vt->vcpu = req.h.vcpu;
		int64_t ret = sys_execute(p->vt, (unsigned long)req.h.arg, req.a);
		coh_rt_release();
		/* Free before answering: the answer lets the thread send its
		 * next call at once. */
		pthread_mutex_lock(&p->lock);
		p->busy = false;
		pthread_mutex_unlock(&p->lock);
		send_ack(p->node, req.h.id, ret);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	free(p->vt);
	free(p);
	return NULL;
}

static proxy_t *proxy_find(int node, int tid, bool create)
{
	proxy_t *p;
	pthread_t th;
	pthread_attr_t attr;

	for (p = proxies; p; p = p->next)
		if (p->node == node && p->tid == tid)
			return p;
	if (!create)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->vt = calloc(1, sizeof(*p->vt))))
		goto err;
	p->node = node;
	p->tid = tid;
	p->vt->tid = tid;
	p->vt->magic = VT_MAGIC_AGENT;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	if (pthread_create(&th, &attr, proxy_main, p) != 0) {
		pthread_attr_destroy(&attr);
		goto err;
	}
	pthread_attr_destroy(&attr);
	p->next = proxies;
	proxies = p;
	return p;
err:
	if (p)
		free(p->vt);
	free(p);
	return NULL;
}

static void on_syscall(int src, const svc_syscall_t *m)
{
	proxy_t *p;
	bool queued = false;

	if (m->h.vcpu < 0 || m->h.vcpu >= svc_vm->nvcpus ||
	    (uint64_t)m->h.arg >= SYS_NR_MAX || !m->h.id) {
		log_warn("node %d: malformed syscall request: dropped", src);
		return;
	}
	pthread_mutex_lock(&proxies_lock);
	p = proxy_find(src, m->h.tid, true);
	if (p) {
		pthread_mutex_lock(&p->lock);
		if (!p->busy) {
			p->req = *m;
			p->busy = true;
			pthread_cond_signal(&p->cond);
			queued = true;
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&proxies_lock);
	if (!queued) {
		log_warn("node %d: thread %d: syscall refused (%s)", src,
			 m->h.tid, p ? "one already in flight" : "no proxy");
		send_ack(src, m->h.id, -EAGAIN);
	}
}

static void proxy_retire(int node, int tid)
{
	proxy_t **pp, *p = NULL;

	pthread_mutex_lock(&proxies_lock);
	for (pp = &proxies; *pp; pp = &(*pp)->next) {
		if ((*pp)->node == node && (*pp)->tid == tid) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&proxies_lock);
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

bool node_svc_forwards(unsigned long nr)
{
	const sys_entry_t *e;

	if (nr >= SYS_NR_MAX || nnodes() < 2 || self() == 0)
		return false;
	if (nr == SYS_clone || nr == SYS_clone3)
		return false;
	if (nr == SYS_rt_sigaction)
		return true; /* dispositions are process-wide */
	e = &sys_table[nr];
	return e->fn && (e->where == SYS_IOSRV || e->where == SYS_VM);
}

long node_svc_syscall(vthread_t *vt, unsigned long nr, const uint64_t a[6])
{
	svc_syscall_t m = { .h = { .version = SVC_VERSION,
				   .type = SVC_SYSCALL, .arg = (int64_t)nr,
				   .tid = vt->tid, .vcpu = vt->vcpu } };
	svc_wait_t w;
	long ret;

	memcpy(m.a, a, sizeof(m.a));
	m.h.id = wait_open(&w, 1);
	if (svc_send(0, &m, sizeof(m)) != CVMM_OK) {
		wait_close(m.h.id);
		return -EIO;
	}
	vt_idle_begin(vt);
	ret = (long)wait_done(&w, m.h.id);
	vt_idle_end(vt);
	return ret;
}

/* ---- layout: node 0 publishes, everyone applies ------------------------ */

static cvmm_status_t publish(const gmem_change_t *c, unsigned n)
{
	size_t len;
	svc_hdr_t *h;
	svc_wait_t w;
	uint64_t id;
	cvmm_status_t st;

	while (n > SVC_MAX_CHANGES) {
		st = publish(c, SVC_MAX_CHANGES);
		if (st != CVMM_OK)
			return st;
		c += SVC_MAX_CHANGES;
		n -= SVC_MAX_CHANGES;
	}
	len = sizeof(*h) + n * sizeof(*c);
	h = malloc(len);
	if (!h)
		return CVMM_ERR_NOMEM;
	id = wait_open(&w, (uint32_t)(nnodes() - 1));
	*h = (svc_hdr_t){ .version = SVC_VERSION, .type = SVC_LAYOUT,
			  .count = n, .id = id };
	memcpy(h + 1, c, n * sizeof(*c));
	for (int k = 1; k < nnodes(); k++) {
		/* A node that cannot be reached is lost: the VM is ending
		 * (node_lost says why); wait for the others meanwhile. */
		if (svc_send(k, h, len) != CVMM_OK)
			on_reply(k, &(svc_hdr_t){ .id = id }, NULL, 0);
	}
	free(h);
	wait_done(&w, id);
	return CVMM_OK;
}

static bool change_ok(const gmem_change_t *c)
{
	uint64_t mask = CVMM_PAGE_SIZE - 1;

	return c->op >= GMEM_CH_SET && c->op <= GMEM_CH_ZERO &&
	       !((c->start | c->end) & mask) && c->start >= GMEM_LO &&
	       c->end <= GMEM_HI && c->start < c->end &&
	       !(c->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC));
}

/* The payload may sit at any alignment in the transport's buffer: the
 * changes are copied out before they are read. */
static void on_layout(int src, const svc_hdr_t *h, const void *data,
		      size_t len)
{
	gmem_change_t *c;

	if (src != 0 || h->count > SVC_MAX_CHANGES ||
	    len != sizeof(*h) + h->count * sizeof(*c)) {
		log_warn("node %d: malformed layout message: dropped", src);
		return;
	}
	c = malloc(h->count * sizeof(*c) + 1);
	if (!c)
		die("out of memory applying a guest layout change");
	memcpy(c, (const uint8_t *)data + sizeof(*h), h->count * sizeof(*c));
	for (unsigned i = 0; i < h->count; i++) {
		if (!change_ok(&c[i])) {
			log_warn("node %d: bad layout change: dropped", src);
			free(c);
			return;
		}
	}
	gmem_apply(svc_gm, c, h->count);
	free(c);
	send_ack(src, h->id, 0);
}

/* ---- threads on other nodes --------------------------------------------- */

int node_svc_place(void)
{
	unsigned c = ++clones;
	int n = nnodes(), per;

	if (n < 2)
		return 0;
	if (place_file && c <= place_len)
		return place_file[c - 1];
	if (strcmp(node_opts.placement, "pack") == 0) {
		per = (svc_vm->nvcpus + n - 1) / n;
		return (int)((self() + c / (unsigned)per) % (unsigned)n);
	}
	return (int)((self() + c) % (unsigned)n);
}

long node_svc_start_thread(int target, int tid, const guest_regs_t *regs,
			   uint64_t clear_tid, uint64_t sigmask)
{
	svc_start_t m = { .h = { .version = SVC_VERSION, .type = SVC_START,
				 .tid = tid },
			  .clear_tid = clear_tid, .sigmask = sigmask,
			  .regs = *regs };

	if (self() == 0) {
		pthread_mutex_lock(&svc_vm->lock);
		svc_vm->live++;
		pthread_mutex_unlock(&svc_vm->lock);
	} else {
		svc_hdr_t live = { .version = SVC_VERSION, .type = SVC_LIVE,
				   .count = 1, .tid = tid };
		svc_wait_t w;

		live.id = wait_open(&w, 1);
		if (svc_send(0, &live, sizeof(live)) != CVMM_OK) {
			wait_close(live.id);
			return -EAGAIN;
		}
		wait_done(&w, live.id);
	}
	return svc_send(target, &m, sizeof(m)) == CVMM_OK ? 0 : -EAGAIN;
}

static void on_start(int src, const svc_start_t *m)
{
	vthread_t *vt = vm_thread_new_tid(svc_vm, &m->regs, m->h.tid);

	if (!vt) {
		log_error("node %d: cannot create guest thread %d", self(),
			  m->h.tid);
		return;
	}
	vt->clear_tid = m->clear_tid;
	vt->sigmask = m->sigmask;
	vm_thread_run(svc_vm, vt);
}

void node_svc_thread_exited(int tid)
{
	svc_hdr_t h = { .version = SVC_VERSION, .type = SVC_LIVE,
			.count = (uint32_t)-1, .tid = tid };

	svc_send(0, &h, sizeof(h));
}

static void *exit_main(void *arg)
{
	vm_exit(svc_vm, (int)(intptr_t)arg, NULL);
}

/* vm_exit flushes the transport, which a handler may not: a thread does. */
static void exit_async(int status)
{
	pthread_t th;

	if (pthread_create(&th, NULL, exit_main, (void *)(intptr_t)status))
		vm_exit(svc_vm, status, NULL);
}

static void on_live(int src, const svc_hdr_t *h)
{
	int delta = (int32_t)h->count;
	bool last;

	if (self() != 0 || (delta != 1 && delta != -1)) {
		log_warn("node %d: malformed thread count message", src);
		return;
	}
	pthread_mutex_lock(&svc_vm->lock);
	svc_vm->live += delta;
	last = svc_vm->live == 0;
	pthread_mutex_unlock(&svc_vm->lock);
	if (delta > 0) {
		send_ack(src, h->id, 0);
		return;
	}
	proxy_retire(src, h->tid);
	if (last)
		exit_async(0);
}

/* ---- --stats: node 0 gathers every node's counters at the end ----------- */

static void on_stats(int src, const svc_hdr_t *h)
{
	svc_stats_t *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->h = (svc_hdr_t){ .version = SVC_VERSION, .type = SVC_STATS_REP,
			    .id = h->id };
	for (int i = 0; i < svc_vm->nvcpus; i++) {
		m->vc[i] = svc_vm->vcpus[i].st;
		m->pu[i] = svc_vm->vcpus[i].host_pu;
	}
	m->coh = coh_rt_stats;
	memcpy(m->sys, stats_sys_count, sizeof(m->sys));
	m->nhot = coh_trace_top(m->hot, STATS_HOT_TOP);
	m->ntrace = coh_trace_sample(m->trace, COH_TRACE_SAMPLE);
	m->nthreads = stats_threads_get(m->threads, STATS_THREADS_MAX);
	svc_send(src, m, sizeof(*m));
	free(m);
}

/* Node k's hot pages, fault sample and thread stacks. */
static void stats_merge_coh(int k, const svc_stats_t *m)
{
	if (m->nhot > STATS_HOT_TOP || m->ntrace > COH_TRACE_SAMPLE ||
	    m->nthreads > STATS_THREADS_MAX) {
		log_warn("--stats: node %d sent %u hot pages, %u faults, %u "
			 "threads: over the limits, left out", k, m->nhot,
			 m->ntrace, m->nthreads);
		return;
	}
	stats_coh_add(k, m->hot, m->nhot, m->trace, m->ntrace);
	for (unsigned i = 0; i < m->nthreads; i++)
		stats_thread_stack((int)m->threads[i].tid, m->threads[i].lo,
				   m->threads[i].hi);
}

/* Node 0's own hot pages and fault sample, as the others send theirs. */
static void stats_merge_self(svc_stats_t *m)
{
	unsigned nhot = coh_trace_top(m->hot, STATS_HOT_TOP);
	unsigned nev = coh_trace_sample(m->trace, COH_TRACE_SAMPLE);

	stats_coh_add(0, m->hot, nhot, m->trace, nev);
}

static void stats_merge(int k, const svc_stats_t *m)
{
	coh_rt_stats_t *t = &coh_rt_stats;

	for (int i = 0; i < svc_vm->nvcpus; i++)
		if (i % nnodes() == k) {
			svc_vm->vcpus[i].st = m->vc[i];
			svc_vm->vcpus[i].host_pu = m->pu[i];
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

void node_svc_collect_stats(vm_t *vm)
{
	svc_stats_t *m;

	if (self() != 0 || nnodes() < 2)
		return;
	m = malloc(sizeof(*m));
	if (!m)
		return;
	for (int d = 0; d < 64; d++)
		stats_msgs_by_node[0] += coh_rt_stats.msgs_sent[d];
	stats_merge_self(m);
	for (int k = 1; k < nnodes(); k++) {
		svc_hdr_t h = { .version = SVC_VERSION, .type = SVC_STATS };
		svc_wait_t w;

		h.id = wait_open(&w, 1);
		w.buf = m;
		w.cap = sizeof(*m);
		if (svc_send(k, &h, sizeof(h)) != CVMM_OK ||
		    !wait_done_ms(&w, h.id, 2000)) {
			log_warn("--stats: no counters from node %d", k);
			continue;
		}
		stats_merge(k, m);
	}
	free(m);
}

/* ---- the handler ------------------------------------------------------- */

static void on_msg(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	svc_hdr_t h;

	if (len < sizeof(h)) {
		log_warn("node %d: short service message: dropped", src);
		return;
	}
	memcpy(&h, data, sizeof(h));
	if (h.version != SVC_VERSION) {
		log_warn("node %d: service message version %u: dropped", src,
			 h.version);
		return;
	}
	switch (h.type) {
	case SVC_SYSCALL:
		if (len == sizeof(svc_syscall_t) && self() == 0) {
			svc_syscall_t m;

			memcpy(&m, data, sizeof(m));
			on_syscall(src, &m);
			return;
		}
		break;
	case SVC_LAYOUT:
		on_layout(src, &h, data, len);
		return;
	case SVC_START:
		if (len == sizeof(svc_start_t)) {
			svc_start_t *m = malloc(sizeof(*m));

			if (!m)
				die("out of memory starting a guest thread");
			memcpy(m, data, sizeof(*m));
			on_start(src, m);
			free(m);
			return;
		}
		break;
	case SVC_LIVE:
		if (len == sizeof(h)) {
			on_live(src, &h);
			return;
		}
		break;
	case SVC_EXIT:
		if (len == sizeof(h) && self() == 0) {
			exit_async((int)h.arg);
			return;
		}
		break;
	case SVC_ACK:
		if (len == sizeof(h)) {
			on_reply(src, &h, NULL, 0);
			return;
		}
		break;
	case SVC_STATS:
		if (len == sizeof(h) && src == 0) {
			on_stats(src, &h);
			return;
		}
		break;
	case SVC_STATS_REP:
		if (len == sizeof(svc_stats_t) && self() == 0) {
			on_reply(src, &h, data, len);
			return;
		}
		break;
	}
	log_warn("node %d: malformed service message (type %u, %zu bytes): "
		 "dropped", src, h.type, len);
}

/* Tells node 0 that the VM ended here (vm_exit's hook on nodes > 0). */
void node_svc_exit(int status)
{
	svc_hdr_t h = { .version = SVC_VERSION, .type = SVC_EXIT,
			.arg = status };

	if (svc_send(0, &h, sizeof(h)) == CVMM_OK)
		xp_flush(node_xp(), 0);
}

static cvmm_status_t placement_load(const char *path)
{
	FILE *f = fopen(path, "r");
	int node;

	if (!f) {
		log_error("--placement: %s is neither spread, pack nor a "
			  "readable file", path);
		return CVMM_ERR_INVALID;
	}
	while (fscanf(f, "%d", &node) == 1) {
		int *p = realloc(place_file, (place_len + 1) * sizeof(*p));

		if (!p || node < 0 || node >= nnodes()) {
			log_error("--placement %s: node %d out of range "
				  "(0..%d)", path, node, nnodes() - 1);
			fclose(f);
			free(p);
			return CVMM_ERR_INVALID;
		}
		place_file = p;
		place_file[place_len++] = node;
	}
	fclose(f);
	return CVMM_OK;
}

cvmm_status_t node_svc_init(gmem_t *gm, vm_t *vm)
{
	const char *pl = node_opts.placement;

	svc_gm = gm;
	svc_vm = vm;
	if (pl && strcmp(pl, "spread") && strcmp(pl, "pack") &&
	    placement_load(pl) != CVMM_OK)
		return CVMM_ERR_INVALID;
	if (self() == 0 && nnodes() > 1)
		gm->publish = publish;
	return xp_am_register(node_xp(), NODE_AM_SVC, on_msg, NULL);
}
