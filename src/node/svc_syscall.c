/* Syscalls that run on node 0 (the table's "where": sys.h): a thread on
 * another node sends SYSCALL and waits; on node 0 a proxy thread per remote
 * guest thread runs the call, so one thread's calls stay in order and a
 * call that blocks blocks only its proxy.
 *
 * A call blocked there (a pipe read, say) while the caller's node is
 * drained (cvmm ctl drain, remove-node) is given up so that the thread can
 * move: the caller sends CANCEL (again every SVC_CANCEL_MS while it
 * waits), node 0 interrupts the proxy's host call with VM_SIG_CANCEL (a
 * handler without SA_RESTART: the kernel gives up only calls that did
 * nothing yet, as for any signal), and a call that ends with EINTR so is
 * answered -VM_ERESTART: the thread runs it again where it goes. A call
 * that completed meanwhile answers as it is: nothing is lost. */
#include "node/svc_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/coh.h"
#include "common/log.h"
#include "core/confine.h"
#include "core/sys/sys.h"

/* One call for a proxy to run. */
typedef struct proxy_req {
	uint64_t id;
	unsigned long nr;
	int vcpu;
	uint64_t a[6];
} proxy_req_t;

#define SVC_CANCEL_MS 100

typedef struct proxy {
	int node, tid;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy, quit;
	bool cancel;     /* the call in progress is to give up */
	proxy_req_t req;
	vthread_t *vt;   /* stands for the remote thread in the handlers */
	struct proxy *next;
} proxy_t;

static pthread_mutex_t proxies_lock = PTHREAD_MUTEX_INITIALIZER;
static proxy_t *proxies;

static void *proxy_main(void *arg)
{
	proxy_t *p = arg;
	proxy_req_t req;

	/* it runs guest calls: confined like a guest thread (made by the
	 * transport's unconfined handler, so it confines itself) */
	sigset_t set;

	if (confine_thread(false) != CVMM_OK)
		vm_exit(svc_vm, CVMM_EXIT_FAILURE, "cannot confine a proxy");
	sigemptyset(&set);
	sigaddset(&set, VM_SIG_CANCEL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->busy && !p->quit)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->busy)
			break;
		req = p->req;
		pthread_mutex_unlock(&p->lock);
		p->vt->vcpu = req.vcpu;
		/* the caller released before asking: see what it wrote */
		coh_rt_serve_acquire();
		int64_t ret = sys_execute(p->vt, req.nr, req.a);
		coh_rt_release();
		pthread_mutex_lock(&p->lock);
		if (ret == -EINTR && p->cancel)
			ret = -VM_ERESTART; /* run again where it goes */
		p->cancel = false;
		pthread_mutex_unlock(&p->lock);
		/* and what the call wrote reaches the homes before the
		 * answer (the caller acquires after it) */
		coh_rt_sync_release();
		/* Free before answering: the answer lets the thread send its
		 * next call at once. */
		pthread_mutex_lock(&p->lock);
		p->busy = false;
		pthread_mutex_unlock(&p->lock);
		svc_send_ack(p->node, req.id, ret);
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
	/* vthread_t holds a 64-byte aligned register image */
	if (!p || !(p->vt = aligned_alloc(_Alignof(vthread_t),
					  sizeof(*p->vt))))
		goto err;
	memset(p->vt, 0, sizeof(*p->vt));
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
	p->thread = th;
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

/* Hands req to the proxy of (node, tid), creating it. False when the
 * proxy is busy (the thread already has a call in flight) or cannot be
 * made. */
static bool proxy_queue(int node, int tid, const proxy_req_t *req,
			const char **why)
{
	proxy_t *p;
	bool queued = false;

	pthread_mutex_lock(&proxies_lock);
	p = proxy_find(node, tid, true);
	if (p) {
		pthread_mutex_lock(&p->lock);
		if (!p->busy) {
			p->req = *req;
			p->busy = true;
			pthread_cond_signal(&p->cond);
			queued = true;
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&proxies_lock);
	*why = p ? "one already in flight" : "no proxy";
	return queued;
}

svc_admit_t svc_syscall_admit(const node_hdr_t *h, const void *msg,
			      size_t len, unsigned nvcpus, uint64_t a[6])
{
	if (node_wire_syscall_decode(msg, len, a) != CVMM_OK ||
	    h->vcpu < 0 || (unsigned)h->vcpu >= nvcpus || !h->id)
		return SVC_ADMIT_DROP;
	if (!sys_runs_on_node0((unsigned long)h->arg)) /* decoded: in range */
		return SVC_ADMIT_REFUSE;
	return SVC_ADMIT_RUN;
}

void svc_on_syscall(int src, const node_hdr_t *h, const void *msg,
		    size_t len)
{
	proxy_req_t req = { .id = h->id, .nr = (unsigned long)h->arg,
			    .vcpu = h->vcpu };
	const char *why;

	switch (svc_syscall_admit(h, msg, len, (unsigned)svc_vm->nvcpus,
				  req.a)) {
	case SVC_ADMIT_DROP:
		log_warn("node %d: malformed syscall request: dropped", src);
		return;
	case SVC_ADMIT_REFUSE:
		log_warn("node %d: thread %d sent syscall %lu, which runs "
			 "where it is called: refused", src, h->tid, req.nr);
		svc_send_ack(src, h->id, -ENOSYS);
		return;
	case SVC_ADMIT_RUN:
		break;
	}
	if (!proxy_queue(src, h->tid, &req, &why)) {
		log_warn("node %d: thread %d: syscall refused (%s)", src,
			 h->tid, why);
		svc_send_ack(src, h->id, -EAGAIN);
	}
}

static void on_cancel_sig(int sig)
{
	(void)sig; /* the interrupted call returns EINTR */
}

cvmm_status_t svc_syscall_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cancel_sig;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: that is the point */
	if (sigaction(VM_SIG_CANCEL, &sa, NULL) != 0) {
		log_error("cannot set the proxies' cancel signal: %m");
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

void svc_on_cancel(int src, const node_hdr_t *h)
{
	proxy_t *p;

	pthread_mutex_lock(&proxies_lock);
	p = proxy_find(src, h->tid, false);
	if (p) {
		pthread_mutex_lock(&p->lock);
		if (p->busy && p->req.id == (uint64_t)h->arg) {
			p->cancel = true;
			pthread_kill(p->thread, VM_SIG_CANCEL);
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&proxies_lock);
}

void svc_proxy_retire(int node, int tid)
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

long svc_syscall(vthread_t *vt, unsigned long nr, const uint64_t a[6])
{
	node_hdr_t h = { .type = NODE_MSG_SYSCALL, .arg = (int64_t)nr,
			 .tid = vt->tid, .vcpu = vt->vcpu };
	uint8_t buf[NODE_WIRE_SYSCALL_LEN];
	svc_wait_t w;
	long ret;

	h.id = svc_wait_open(&w, 1);
	if (svc_send(0, buf, node_wire_syscall_encode(&h, a, buf,
						      sizeof(buf))) !=
	    CVMM_OK) {
		svc_wait_close(h.id);
		return -EIO;
	}
	vt_idle_begin(vt);
	/* a drained node's thread asks node 0 to give its call up, again
	 * and again (the signal may come before the call blocks), and takes
	 * the answer whatever it is */
	while (!svc_wait_slice(&w, SVC_CANCEL_MS))
		if (node_svc_interrupted()) {
			node_hdr_t c = { .type = NODE_MSG_CANCEL,
					 .tid = vt->tid,
					 .arg = (int64_t)h.id };

			(void)svc_send_hdr(0, &c);
		}
	ret = (long)svc_wait_done(&w, h.id);
	vt_idle_end(vt);
	return ret;
}
