/* The balancer on a VM spanning nodes (core/balance.h): every node
 * measures its guest threads' CPU and run-queue time and its cores' idle
 * time for its STATUS_REP; node 0 samples every node (--balance auto:
 * every BALANCE_PERIOD_MS, on a thread of its own; cvmm ctl balance: now)
 * and, when a node's threads are kept from a CPU while another node's
 * cores idle, asks the slow node (MOVE with tid 0) to send its busiest
 * thread there at that thread's next trap point. */
#include "node/svc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/balance.h"

static int stat_fd = -1; /* /proc/stat, opened before confinement */
static long clk_tck = 100;

/* node 0's sampling (one round at a time: the auto thread, ctl) */
static pthread_mutex_t round_lock = PTHREAD_MUTEX_INITIALIZER;
static balance_state_t bstate;
static balance_sample_t *prev;
static uint64_t prev_ns;
static int nsample;

/* ---- measuring (every node) --------------------------------------------- */

/* Whether host cpu c is one this node's vCPUs run on (all: unpinned). */
static bool our_cpu(int c, bool *all)
{
	*all = false;
	for (int i = 0; i < svc_vm->nvcpus; i++) {
		int pu = svc_vm->vcpus[i].host_pu;

		if (!vm_vcpu_local(svc_vm, i))
			continue;

		if (pu < 0) {
			*all = true;
			return true;
		}
		if (pu == c)
			return true;
	}
	return false;
}

/* The idle ns of this node's cores and how many there are, from
 * /proc/stat (idle + iowait per cpu); 0 cores when it cannot be read. */
static void cores_idle(uint64_t *idle_ns, uint64_t *cores)
{
	static char buf[65536];
	unsigned long long sum_all = 0, sum = 0;
	uint64_t n_all = 0, n = 0;
	bool all = false;
	ssize_t len;
	char *line;

	*idle_ns = *cores = 0;
	if (stat_fd < 0)
		return;
	len = pread(stat_fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		return;
	buf[len] = '\0';
	for (line = buf; line && *line; line = strchr(line, '\n'),
	    line = line ? line + 1 : NULL) {
		unsigned long long v[5];
		int c;

		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
			continue;
		if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu", &c, &v[0],
			   &v[1], &v[2], &v[3], &v[4]) != 6)
			continue;
		sum_all += v[3] + v[4];
		n_all++;
		if (our_cpu(c, &all)) {
			sum += v[3] + v[4];
			n++;
		}
	}
	if (all) {
		sum = sum_all;
		n = n_all;
	}
	*idle_ns = (uint64_t)(sum * (1000000000ull / (uint64_t)clk_tck));
	*cores = n;
}

/* This node's core speed, probed once (~2 ms, at the first status). */
static uint32_t speed;
static pthread_once_t speed_once = PTHREAD_ONCE_INIT;

static void speed_probe(void)
{
	speed = balance_speed_probe();
}

static uint32_t svc_speed(void)
{
	pthread_once(&speed_once, speed_probe);
	return speed;
}

void svc_balance_measure(node_status_t *s)
{
	vm_cpu_account(svc_vm);
	s->run_ns = s->wait_ns = 0;
	for (int i = 0; i < svc_vm->nvcpus; i++) { /* this node's counters */
		const vcpu_stats_t *st = &svc_vm->vcpus[i].st;

		s->run_ns += __atomic_load_n(&st->cpu_ns, __ATOMIC_RELAXED);
		s->wait_ns += __atomic_load_n(&st->cpu_wait_ns,
					      __ATOMIC_RELAXED);
	}
	cores_idle(&s->cores_idle_ns, &s->cores);
	s->speed = svc_speed();
}

/* ---- moving (the slow node) --------------------------------------------- */

int svc_balance_pick(int target)
{
	vthread_t *best = NULL;
	int tid = 0;

	pthread_mutex_lock(&svc_vm->lock);
	for (vthread_t *vt = svc_vm->threads; vt; vt = vt->next)
		if (!vt->left &&
		    !__atomic_load_n(&vt->ctl_move, __ATOMIC_ACQUIRE) &&
		    (!best || vt->cpu_busy > best->cpu_busy))
			best = vt;
	if (best) {
		__atomic_store_n(&best->ctl_move,
				 (target + 1) | VT_MOVE_BALANCE,
				 __ATOMIC_RELEASE);
		vm_thread_kick(svc_vm, best);
		tid = best->tid;
	}
	pthread_mutex_unlock(&svc_vm->lock);
	return tid;
}

/* ---- deciding (node 0) -------------------------------------------------- */

/* Every node's sample now into s (n of them). */
static int sample(balance_sample_t *s, int cap)
{
	node_status_t *st = calloc((size_t)cap, sizeof(*st));
	bool *ok = calloc((size_t)cap, sizeof(*ok));
	int n = 0;

	if (st && ok)
		n = node_svc_status(st, ok, cap, 1000, false);
	for (int k = 0; k < n; k++)
		s[k] = (balance_sample_t){ .ok = ok[k],
					   .threads = (uint32_t)st[k].threads,
					   .cores = (uint32_t)st[k].cores,
					   .run_ns = st[k].run_ns,
					   .wait_ns = st[k].wait_ns,
					   .idle_ns = st[k].cores_idle_ns,
					   .speed = (uint32_t)st[k].speed };
	free(st);
	free(ok);
	return n;
}

/* One round under round_lock: sample, decide, ask; the line for ctl. */
static void round_locked(bool force, char *out, size_t cap)
{
	int n = svc_nnodes();
	balance_sample_t *now = calloc((size_t)n, sizeof(*now));
	balance_view_t *v = calloc((size_t)n, sizeof(*v));
	char why[192] = "";
	uint64_t t;
	balance_move_t m;
	int tid = 0;

	if (!now || !v || !prev) {
		snprintf(out, cap, "error: out of memory");
		goto done;
	}
	t = cvmm_now_ns();
	/* cvmm ctl balance: a period measured now when the last sample is
	 * stale or too fresh to say anything */
	if (force && (nsample == 0 || t - prev_ns > 5000000000ull ||
		      t - prev_ns < 200000000ull)) {
		nsample = sample(prev, n);
		prev_ns = cvmm_now_ns();
		svc_sleep_ms(BALANCE_PERIOD_MS / 2);
		t = cvmm_now_ns();
	}
	if (sample(now, n) != n) {
		snprintf(out, cap, "error: the nodes' state could not be read");
		goto done;
	}
	for (int k = 0; k < n; k++)
		v[k] = nsample == n && !svc_drained(k)
			       ? balance_view(&prev[k], &now[k], t - prev_ns)
			       : (balance_view_t){ .ok = false };
	memcpy(prev, now, (size_t)n * sizeof(*now));
	nsample = n;
	prev_ns = t;
	m = balance_decide(&bstate, v, n, force, why, sizeof(why));
	if (m.from < 0) {
		snprintf(out, cap, "no move: %s", why);
		log_debug("balance: no move: %s", why);
		goto done;
	}
	if (m.from == 0) {
		tid = svc_balance_pick(m.to);
	} else {
		node_hdr_t h = { .type = NODE_MSG_MOVE, .tid = 0,
				 .arg = m.to };
		int64_t r = svc_ask(m.from, &h, NULL, NULL, 1000);

		tid = r > 0 ? (int)r : 0;
	}
	if (tid <= 0) {
		snprintf(out, cap, "no move: %s, but node %d had no thread to "
			 "give", why, m.from);
		goto done;
	}
	balance_log(t - svc_vm->t_start, tid, &m, force);
	log_info("balance: %s: thread %d moves from node %d to node %d",
		 why, tid, m.from, m.to);
	snprintf(out, cap, "%s: thread %d moves from node %d to node %d (now, "
		 "or when the call it is in returns)", why, tid, m.from, m.to);
done:
	free(now);
	free(v);
}

void node_svc_balance(char *out, size_t cap)
{
	if (svc_self() != 0 || !svc_vm || svc_nnodes() < 2) {
		snprintf(out, cap, "no move: the VM has one node");
		return;
	}
	pthread_mutex_lock(&round_lock);
	round_locked(true, out, cap);
	pthread_mutex_unlock(&round_lock);
}

static void *auto_main(void *arg)
{
	char line[320];

	for (;;) {
		svc_sleep_ms(BALANCE_PERIOD_MS);
		if (__atomic_load_n(&svc_vm->exiting, __ATOMIC_ACQUIRE))
			return NULL;
		/* not before the guest runs (the agents are still
		 * connecting, the program loading) */
		if ((!__atomic_load_n(&svc_vm->live, __ATOMIC_ACQUIRE) &&
		     !nsample) ||
		    coh_rt_paused())
			continue;
		pthread_mutex_lock(&round_lock);
		round_locked(false, line, sizeof(line));
		pthread_mutex_unlock(&round_lock);
	}
	return NULL;
}

/* Node 0: the next round judges slot k's new agent from its own samples
 * only (ok false: no view for one round). */
void svc_balance_forget(int k)
{
	if (!prev || k < 0 || k >= svc_nnodes())
		return;
	pthread_mutex_lock(&round_lock);
	prev[k] = (balance_sample_t){ .ok = false };
	pthread_mutex_unlock(&round_lock);
}

cvmm_status_t svc_balance_init(bool automatic)
{
	pthread_t t;
	long tck = sysconf(_SC_CLK_TCK);

	if (tck > 0)
		clk_tck = tck;
	stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (stat_fd < 0)
		log_debug("balance: /proc/stat: %m: this node's idle cores "
			  "are not known (never a target)");
	if (svc_self() != 0 || svc_nnodes() < 2)
		return CVMM_OK;
	balance_start(&bstate);
	balance_set_mode(automatic ? "auto" : "off");
	prev = calloc((size_t)svc_nnodes(), sizeof(*prev));
	if (!prev) {
		log_error("out of memory for the balancer");
		return CVMM_ERR_NOMEM;
	}
	if (automatic && pthread_create(&t, NULL, auto_main, NULL) != 0) {
		log_error("cannot start the balancer's thread");
		return CVMM_ERR_NOMEM;
	}
	if (automatic)
		pthread_detach(t);
	return CVMM_OK;
}
