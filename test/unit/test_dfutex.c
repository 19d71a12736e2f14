/* The distributed futex (coherence/dfutex.c): 3 in-process nodes over a loopback
 * transport (a delivery thread per node, FIFO per (src, dst) pair, sources
 * served in random order; optionally own-node messages delivered inside
 * send). Argument errors, EAGAIN, a wait and wake on three different nodes,
 * FIFO order and counts, bitsets, deadlines on both clocks, the
 * cancel-against-wake race (every wake counted is a wait that returned 0),
 * a Drepper mutex shared by 6 threads on 3 nodes, the wire decoder alone
 * (every length but the message's refused), malformed messages and 100k
 * random ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "coherence/dfutex.h"

#define NN 3
/* Page 0x30 is 48 = 0 mod 3: the page BASE + k * 4096 has home k % 3. */
#define BASE 0x30000UL
#define NWORDS (NN * 1024)

static uint32_t guest[NWORDS];
static dfx_t *dx[NN];
static bool sync_self;  /* own-node messages delivered inside send */
static int reg_acks;    /* REG_ACKs sent: waiters queued at their homes */

static uint64_t ua(int home, int slot)
{
	return BASE + (uint64_t)home * 4096 + (uint64_t)slot * 4;
}

static uint32_t *word(uint64_t uaddr)
{
	return &guest[(uaddr - BASE) / 4];
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ms_sleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- loopback transport -------------------------------------------------- */

typedef struct lb_msg {
	struct lb_msg *next;
	int src;
	size_t len;
	uint8_t data[];
} lb_msg_t;

typedef struct lb_node {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	lb_msg_t *head[NN], *tail[NN];
	bool stop;
	int id;
	unsigned seed;
	pthread_t thr;
} lb_node_t;

static lb_node_t lb[NN];
static unsigned regs_at[NN]; /* REG messages each node received */
static unsigned msgs_to[NN]; /* messages sent to each node */

static cvmm_status_t lb_send(void *ctx, int dst, const void *msg, size_t len)
{
	int src = (int)(intptr_t)ctx;
	lb_node_t *n = &lb[dst];
	lb_msg_t *m;

	assert_true(dst >= 0 && dst < NN);
	if (len >= 4 &&
	    wire_get_u16((const uint8_t *)msg + 2) == DFX_MSG_REG_ACK)
		__atomic_add_fetch(&reg_acks, 1, __ATOMIC_SEQ_CST);
	if (len >= 4 &&
	    wire_get_u16((const uint8_t *)msg + 2) == DFX_MSG_REG)
		__atomic_add_fetch(&regs_at[dst], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&msgs_to[dst], 1, __ATOMIC_SEQ_CST);
	if (sync_self && dst == src) {
		dfx_recv(dx[dst], src, msg, len);
		return CVMM_OK;
	}
	m = malloc(sizeof(*m) + len);
	assert_non_null(m);
	m->next = NULL;
	m->src = src;
	m->len = len;
	memcpy(m->data, msg, len);
	pthread_mutex_lock(&n->lock);
	if (n->tail[src])
		n->tail[src]->next = m;
	else
		n->head[src] = m;
	n->tail[src] = m;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	return CVMM_OK;
}

/* The head of a random non-empty source queue, or NULL. */
static lb_msg_t *lb_pop(lb_node_t *n)
{
	int first = rand_r(&n->seed) % NN;

	for (int i = 0; i < NN; i++) {
		int s = (first + i) % NN;
		lb_msg_t *m = n->head[s];

		if (!m)
			continue;
		n->head[s] = m->next;
		if (!n->head[s])
			n->tail[s] = NULL;
		return m;
	}
	return NULL;
}

static void *lb_main(void *arg)
{
	lb_node_t *n = arg;
	lb_msg_t *m;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		m = lb_pop(n);
		if (!m) {
			if (n->stop)
				break;
			pthread_cond_wait(&n->cond, &n->lock);
			continue;
		}
		pthread_mutex_unlock(&n->lock);
		dfx_recv(dx[n->id], m->src, m->data, m->len);
		free(m);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

static int lb_read(void *ctx, uint64_t uaddr, uint32_t *val)
{
	if (uaddr < BASE || uaddr >= BASE + sizeof(guest))
		return -EFAULT;
	*val = __atomic_load_n(word(uaddr), __ATOMIC_SEQ_CST);
	return 0;
}

/* The node whose waiters give up (ops.interrupted), -1 none. */
static int interrupt_node = -1;

static bool lb_interrupted(void *ctx)
{
	return (int)(intptr_t)ctx ==
	       __atomic_load_n(&interrupt_node, __ATOMIC_SEQ_CST);
}

static const dfx_ops_t lb_ops = { .send = lb_send, .read_word = lb_read,
				  .interrupted = lb_interrupted };

static int setup(void **state)
{
	memset(guest, 0, sizeof(guest));
	reg_acks = 0;
	for (int i = 0; i < NN; i++) {
		lb_node_t *n = &lb[i];

		memset(n, 0, sizeof(*n));
		pthread_mutex_init(&n->lock, NULL);
		pthread_cond_init(&n->cond, NULL);
		n->id = i;
		n->seed = 1234 + i;
		if (dfx_create(i, NN, &lb_ops, (void *)(intptr_t)i, &dx[i]))
			return -1;
	}
	for (int i = 0; i < NN; i++)
		pthread_create(&lb[i].thr, NULL, lb_main, &lb[i]);
	return 0;
}

static int setup_sync(void **state)
{
	sync_self = true;
	return setup(state);
}

static int teardown(void **state)
{
	lb_msg_t *m;

	for (int i = 0; i < NN; i++) {
		pthread_mutex_lock(&lb[i].lock);
		lb[i].stop = true;
		pthread_cond_signal(&lb[i].cond);
		pthread_mutex_unlock(&lb[i].lock);
		pthread_join(lb[i].thr, NULL);
	}
	for (int i = 0; i < NN; i++) {
		for (int s = 0; s < NN; s++)
			while ((m = lb[i].head[s])) {
				lb[i].head[s] = m->next;
				free(m);
			}
		dfx_destroy(dx[i]);
		dx[i] = NULL;
	}
	sync_self = false;
	return 0;
}

/* ---- waiter threads -------------------------------------------------------- */

typedef struct waiter {
	int node;
	uint64_t uaddr;
	uint32_t val;
	uint32_t bitset;
	int timeout_ms; /* < 0: none */
	clockid_t clock;
	long ret;
	int done;
	pthread_t thr;
} waiter_t;

static void *waiter_main(void *arg)
{
	waiter_t *w = arg;
	struct timespec dl;

	if (w->timeout_ms >= 0) {
		clock_gettime(w->clock, &dl);
		dl.tv_nsec += (long)w->timeout_ms * 1000000L;
		dl.tv_sec += dl.tv_nsec / 1000000000L;
		dl.tv_nsec %= 1000000000L;
	}
	w->ret = dfx_wait(dx[w->node], w->uaddr, w->val, w->bitset, w->clock,
			  w->timeout_ms >= 0 ? &dl : NULL);
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Starts a thread waiting on node while the word at uaddr keeps its
 * current value, for timeout_ms on clock (< 0: no deadline). */
static void waiter_start_on(waiter_t *w, int node, uint64_t uaddr,
			    uint32_t bitset, int timeout_ms, clockid_t clock)
{
	*w = (waiter_t){ .node = node, .uaddr = uaddr,
			 .val = *word(uaddr & ~DFX_SHARED),
			 .bitset = bitset, .timeout_ms = timeout_ms,
			 .clock = clock };
	assert_int_equal(pthread_create(&w->thr, NULL, waiter_main, w), 0);
}

static void waiter_start(waiter_t *w, int node, uint64_t uaddr,
			 uint32_t bitset, int timeout_ms)
{
	waiter_start_on(w, node, uaddr, bitset, timeout_ms, CLOCK_MONOTONIC);
}

static bool is_done(waiter_t *w)
{
	return __atomic_load_n(&w->done, __ATOMIC_SEQ_CST);
}

/* Joins w if it finishes within ms. */
static bool waiter_join(waiter_t *w, int ms)
{
	uint64_t end = now_ms() + ms;

	while (!is_done(w) && now_ms() < end)
		ms_sleep(1);
	if (!is_done(w))
		return false;
	pthread_join(w->thr, NULL);
	return true;
}

/* Waits until n waiters in all have been queued at their homes. */
static void reg_wait(int n)
{
	uint64_t end = now_ms() + 2000;

	while (__atomic_load_n(&reg_acks, __ATOMIC_SEQ_CST) < n &&
	       now_ms() < end)
		ms_sleep(1);
	assert_true(__atomic_load_n(&reg_acks, __ATOMIC_SEQ_CST) >= n);
}

/* ---- behaviour ------------------------------------------------------------- */

static void test_args(void **state)
{
	dfx_t *d;

	assert_int_equal(dfx_create(3, 3, &lb_ops, NULL, &d), CVMM_ERR_INVALID);
	assert_int_equal(dfx_create(0, 0, &lb_ops, NULL, &d), CVMM_ERR_INVALID);
	assert_int_equal(dfx_create(0, 1, NULL, NULL, &d), CVMM_ERR_INVALID);
	assert_int_equal(dfx_wait(dx[0], ua(1, 0), 0, 0, CLOCK_MONOTONIC, NULL),
			 -EINVAL);
	assert_int_equal(dfx_wait(dx[0], ua(1, 0) + 2, 0, ~0u,
				  CLOCK_MONOTONIC, NULL), -EINVAL);
	assert_int_equal(dfx_wake(dx[0], ua(1, 0) + 3, 1, ~0u), -EINVAL);
	/* bit 0 is DFX_SHARED: a key of its own, nobody waits there */
	assert_int_equal(dfx_wake(dx[0], ua(1, 0) | DFX_SHARED, 1, ~0u), 0);
	assert_int_equal(dfx_wake(dx[0], ua(1, 0), 1, 0), -EINVAL);
	assert_int_equal(dfx_wake(dx[0], ua(1, 0), 0, ~0u), 0);
	assert_int_equal(dfx_wake(dx[0], ua(1, 0), 5, ~0u), 0);
	/* Outside the guest: read_word faults after registering. */
	assert_int_equal(dfx_wait(dx[1], 0x1000, 0, ~0u, CLOCK_MONOTONIC, NULL),
			 -EFAULT);
	assert_int_equal(dfx_wake(dx[2], 0x1000, 5, ~0u), 0);
}

static void test_eagain(void **state)
{
	for (int n = 0; n < NN; n++)
		for (int h = 0; h < NN; h++) {
			*word(ua(h, n)) = 5;
			assert_int_equal(dfx_wait(dx[n], ua(h, n), 4, ~0u,
						  CLOCK_MONOTONIC, NULL),
					 -EAGAIN);
			/* The cancel left nothing queued. */
			assert_int_equal(dfx_wake(dx[h], ua(h, n), 9, ~0u), 0);
		}
}

/* cvmm ctl pause's test of a node: a waiter registered and asleep is
 * nothing in flight, on its node or at its home; nor is anything after
 * its wake. */
static void test_busy(void **state)
{
	waiter_t w;

	for (int i = 0; i < NN; i++)
		assert_false(dfx_busy(dx[i]));
	waiter_start(&w, 1, ua(2, 8), ~0u, -1);
	reg_wait(1);
	ms_sleep(20);
	assert_false(is_done(&w));
	for (int i = 0; i < NN; i++)
		assert_false(dfx_busy(dx[i]));
	__atomic_store_n(word(ua(2, 8)), 1, __ATOMIC_SEQ_CST);
	assert_int_equal(dfx_wake(dx[0], ua(2, 8), 1, ~0u), 1);
	assert_true(waiter_join(&w, 2000));
	for (int i = 0; i < NN; i++)
		assert_false(dfx_busy(dx[i]));
}

/* Waiter on node 1, home node 2, waker on node 0. */
static void test_cross_node(void **state)
{
	waiter_t w;

	waiter_start(&w, 1, ua(2, 7), ~0u, -1);
	reg_wait(1);
	ms_sleep(20);
	assert_false(is_done(&w));
	__atomic_store_n(word(ua(2, 7)), 1, __ATOMIC_SEQ_CST);
	assert_int_equal(dfx_wake(dx[0], ua(2, 7), 1, ~0u), 1);
	assert_true(waiter_join(&w, 2000));
	assert_int_equal(w.ret, 0);
}

static void test_fifo_counts(void **state)
{
	static const int nodes[4] = { 1, 0, 2, 1 };
	uint64_t a = ua(1, 3);
	waiter_t w[4];

	for (int i = 0; i < 4; i++) {
		waiter_start(&w[i], nodes[i], a, ~0u, -1);
		reg_wait(i + 1);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(dfx_wake(dx[2], a, 1, ~0u), 1);
		assert_true(waiter_join(&w[i], 2000));
		assert_int_equal(w[i].ret, 0);
		ms_sleep(20);
		for (int j = i + 1; j < 4; j++)
			assert_false(is_done(&w[j]));
	}
	assert_int_equal(dfx_wake(dx[0], a, INT_MAX, ~0u), 2);
	assert_true(waiter_join(&w[2], 2000));
	assert_true(waiter_join(&w[3], 2000));
	assert_int_equal(dfx_wake(dx[0], a, INT_MAX, ~0u), 0);
}

static void test_bitset(void **state)
{
	static const uint32_t bits[3] = { 1, 2, 3 };
	uint64_t a = ua(0, 9);
	waiter_t w[3];

	for (int i = 0; i < 3; i++) {
		waiter_start(&w[i], i, a, bits[i], -1);
		reg_wait(i + 1);
	}
	assert_int_equal(dfx_wake(dx[1], a, INT_MAX, 4), 0);
	assert_int_equal(dfx_wake(dx[1], a, INT_MAX, 2), 2);
	assert_true(waiter_join(&w[1], 2000));
	assert_true(waiter_join(&w[2], 2000));
	ms_sleep(20);
	assert_false(is_done(&w[0]));
	assert_int_equal(dfx_wake(dx[2], a, INT_MAX, 1), 1);
	assert_true(waiter_join(&w[0], 2000));
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].ret, 0);
}

/* Private and shared waits on one word are two queues (the key's
 * DFX_SHARED bit), as the kernel keeps them: each kind of wake finds only
 * its own waiters. */
static void test_shared_keys(void **state)
{
	uint64_t a = ua(1, 7);
	waiter_t w[2];

	waiter_start(&w[0], 0, a, ~0u, -1);
	waiter_start(&w[1], 2, a | DFX_SHARED, ~0u, -1);
	reg_wait(2);
	assert_int_equal(dfx_wake(dx[1], a, INT_MAX, ~0u), 1);
	assert_true(waiter_join(&w[0], 2000));
	ms_sleep(20);
	assert_false(is_done(&w[1]));
	assert_int_equal(dfx_wake(dx[0], a, INT_MAX, ~0u), 0);
	assert_int_equal(dfx_wake(dx[2], a | DFX_SHARED, INT_MAX, ~0u), 1);
	assert_true(waiter_join(&w[1], 2000));
	assert_int_equal(w[0].ret, 0);
	assert_int_equal(w[1].ret, 0);
}

static void test_timeout(void **state)
{
	static const clockid_t clocks[2] = { CLOCK_MONOTONIC, CLOCK_REALTIME };
	struct timespec past = { 1, 0 };

	for (int c = 0; c < 2; c++) {
		waiter_t w;
		uint64_t t0 = now_ms();

		waiter_start_on(&w, 0, ua(1, 11), ~0u, 50, clocks[c]);
		assert_true(waiter_join(&w, 2000));
		assert_int_equal(w.ret, -ETIMEDOUT);
		assert_true(now_ms() - t0 >= 50);
		assert_true(now_ms() - t0 < 500);
	}
	assert_int_equal(dfx_wait(dx[2], ua(0, 11), 0, ~0u, CLOCK_REALTIME,
				  &past), -ETIMEDOUT);
	/* Every timed-out waiter was withdrawn at its home. */
	assert_int_equal(dfx_wake(dx[2], ua(1, 11), INT_MAX, ~0u), 0);
	assert_int_equal(dfx_wake(dx[2], ua(0, 11), INT_MAX, ~0u), 0);
}

/* A store then a wake racing a waiter's registration, many times: the
 * waiter returns 0 or -EAGAIN, never sleeps through the wake (the 1 s
 * deadline only bounds the test). */
static void test_no_lost_wakeup(void **state)
{
	unsigned seed = 3;
	int eagain = 0;

	for (int it = 0; it < 1000; it++) {
		uint64_t a = ua(it % NN, 60 + it % 5);
		waiter_t w;

		waiter_start(&w, (it + 1) % NN, a, ~0u, 1000);
		for (volatile unsigned spin = rand_r(&seed) % 20000; spin;)
			spin--;
		__atomic_add_fetch(word(a), 1, __ATOMIC_SEQ_CST);
		assert_true(dfx_wake(dx[(it + 2) % NN], a, 1, ~0u) >= 0);
		assert_true(waiter_join(&w, 2000));
		assert_true(w.ret == 0 || w.ret == -EAGAIN);
		eagain += w.ret == -EAGAIN;
	}
	print_message("lost-wakeup: %d of 1000 waits saw the new value\n",
		      eagain);
}

/* Waiters whose deadline falls as the wake comes: every waiter a wake
 * counted returns 0, every other one -ETIMEDOUT. */
static void test_cancel_race(void **state)
{
	long woken = 0, zero = 0;
	unsigned seed = 42;

	for (int it = 0; it < 300; it++) {
		uint64_t a = ua(it % NN, 20 + it % 7);
		waiter_t w[NN];

		for (int i = 0; i < NN; i++)
			waiter_start(&w[i], i, a, ~0u, 1 + rand_r(&seed) % 3);
		ms_sleep(rand_r(&seed) % 4);
		long r = dfx_wake(dx[rand_r(&seed) % NN], a,
				  1 + rand_r(&seed) % NN, ~0u);
		assert_true(r >= 0);
		woken += r;
		for (int i = 0; i < NN; i++) {
			assert_true(waiter_join(&w[i], 2000));
			assert_true(w[i].ret == 0 || w[i].ret == -ETIMEDOUT);
			zero += w[i].ret == 0;
		}
		/* Nothing may be left queued either. */
		assert_int_equal(dfx_wake(dx[0], a, INT_MAX, ~0u), 0);
	}
	assert_int_equal(woken, zero);
	assert_true(woken > 0);
	print_message("race: %ld of %d waits woken%s\n", woken, 300 * NN,
		      sync_self ? " (own-node sends inline)" : "");
}


/* ---- a Drepper mutex (0 free, 1 locked, 2 locked with waiters) ----------- */

#define MX_THREADS 6
#define MX_ITERS 2000

static uint64_t mx_addr;
static long mx_counter;
static int mx_done;
static long mx_waits; /* slow paths taken: the test must contend */
static pthread_barrier_t mx_start;

static uint32_t cas(uint32_t *p, uint32_t old, uint32_t new)
{
	__atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	return old;
}

static void mx_lock(dfx_t *d)
{
	uint32_t *m = word(mx_addr);
	uint32_t c = cas(m, 0, 1);

	if (c == 0)
		return;
	if (c != 2)
		c = __atomic_exchange_n(m, 2, __ATOMIC_SEQ_CST);
	while (c != 0) {
		long r = dfx_wait(d, mx_addr, 2, ~0u, CLOCK_MONOTONIC, NULL);

		__atomic_add_fetch(&mx_waits, 1, __ATOMIC_RELAXED);
		assert_true(r == 0 || r == -EAGAIN);
		c = __atomic_exchange_n(m, 2, __ATOMIC_SEQ_CST);
	}
}

static void mx_unlock(dfx_t *d)
{
	uint32_t *m = word(mx_addr);

	if (__atomic_fetch_sub(m, 1, __ATOMIC_SEQ_CST) != 1) {
		__atomic_store_n(m, 0, __ATOMIC_SEQ_CST);
		assert_true(dfx_wake(d, mx_addr, 1, ~0u) >= 0);
	}
}

static void *mx_main(void *arg)
{
	dfx_t *d = dx[(intptr_t)arg % NN];

	pthread_barrier_wait(&mx_start);
	for (int i = 0; i < MX_ITERS; i++) {
		mx_lock(d);
		/* A read-yield-write race if the lock let two in. */
		long c = mx_counter;

		if (i % 8 == 0)
			sched_yield();
		mx_counter = c + 1;
		mx_unlock(d);
	}
	__atomic_add_fetch(&mx_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_mutex_stress(void **state)
{
	pthread_t t[MX_THREADS];
	uint64_t t0 = now_ms();

	mx_addr = ua(2, 40);
	mx_counter = 0;
	mx_done = 0;
	mx_waits = 0;
	pthread_barrier_init(&mx_start, NULL, MX_THREADS);
	for (intptr_t i = 0; i < MX_THREADS; i++)
		pthread_create(&t[i], NULL, mx_main, (void *)i);
	while (__atomic_load_n(&mx_done, __ATOMIC_SEQ_CST) < MX_THREADS &&
	       now_ms() - t0 < 5000)
		ms_sleep(5);
	if (mx_done < MX_THREADS) {
		/* Threads still blocked inside dfx_wait: no teardown. */
		print_error("mutex test hung: %d of %d threads done\n",
			    mx_done, MX_THREADS);
		_exit(1);
	}
	for (int i = 0; i < MX_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(mx_counter, MX_THREADS * MX_ITERS);
	assert_int_equal(*word(mx_addr), 0);
	assert_true(mx_waits > 0);
	pthread_barrier_destroy(&mx_start);
	print_message("mutex: %d x %d increments, %ld waits, %llu ms%s\n",
		      MX_THREADS, MX_ITERS, mx_waits,
		      (unsigned long long)(now_ms() - t0),
		      sync_self ? " (own-node sends inline)" : "");
}

/* A waiter whose node is drained (ops.interrupted) gives its wait up
 * within a slice: -DFX_ERESTART, and its home forgot it (a wake finds
 * nobody); waiters elsewhere sleep on. */
static void test_interrupted(void **state)
{
	waiter_t a, b;

	waiter_start(&a, 1, ua(2, 11), ~0u, -1);
	waiter_start(&b, 0, ua(2, 11), ~0u, -1);
	reg_wait(2);
	ms_sleep(20);
	__atomic_store_n(&interrupt_node, 1, __ATOMIC_SEQ_CST);
	assert_true(waiter_join(&a, 1000));
	__atomic_store_n(&interrupt_node, -1, __ATOMIC_SEQ_CST);
	assert_int_equal(a.ret, -DFX_ERESTART);
	assert_false(is_done(&b));
	__atomic_store_n(word(ua(2, 11)), 1, __ATOMIC_SEQ_CST);
	assert_int_equal(dfx_wake(dx[2], ua(2, 11), 2, ~0u), 1); /* b only */
	assert_true(waiter_join(&b, 2000));
	assert_int_equal(b.ret, 0);
}

/* Roles hosted elsewhere (docs/design.md, "Elastic nodes"): node 1 plays
 * its own home role and node 2's, node 2 none. A waiter on node 2 for a
 * word of role 2 registers at node 1 and is woken from node 0; the mutex
 * of the stress test is such a word. A bad table is refused. */
static void test_roles(void **state)
{
	static const uint8_t hosted[NN] = { 0, 1, 1 }, bad[NN] = { 0, 1, 3 };
	waiter_t w;

	assert_int_equal(dfx_set_roles(dx[0], bad), CVMM_ERR_INVALID);
	for (int i = 0; i < NN; i++)
		assert_int_equal(dfx_set_roles(dx[i], hosted), CVMM_OK);
	memset(regs_at, 0, sizeof(regs_at));
	waiter_start(&w, 2, ua(2, 9), ~0u, -1);
	reg_wait(1);
	assert_int_equal(regs_at[1], 1); /* at the role's node, not node 2 */
	assert_int_equal(regs_at[2], 0);
	ms_sleep(20);
	assert_false(is_done(&w));
	__atomic_store_n(word(ua(2, 9)), 1, __ATOMIC_SEQ_CST);
	assert_int_equal(dfx_wake(dx[0], ua(2, 9), 1, ~0u), 1);
	assert_true(waiter_join(&w, 2000));
	assert_int_equal(w.ret, 0);
	test_mutex_stress(state);
	assert_int_equal(regs_at[2], 0);
	assert_true(regs_at[1] > 1);
}

static void take_waiter(void *ctx, uint64_t uaddr, uint64_t id, int node,
			uint32_t bitset)
{
	assert_int_equal(dfx_take_waiter(dx[1], ctx, uaddr, id, node, bitset),
			 CVMM_OK);
}

/* Node 2 leaves while waiters on nodes 0 and 1 sleep at its home: its
 * queue goes to node 1, which plays its role from then on; a wake from
 * node 0 wakes both, in order, and nothing more reaches node 2. A waiter
 * for a word node 1 will not be home of is refused. */
static void test_leave(void **state)
{
	static uint8_t after[NN] = { 0, 1, 1 };
	waiter_t a, b;
	unsigned to2;

	waiter_start(&a, 0, ua(2, 12), ~0u, -1);
	reg_wait(1);
	waiter_start(&b, 1, ua(2, 12), ~0u, -1);
	reg_wait(2);
	ms_sleep(20);
	assert_int_equal(dfx_take_waiter(dx[1], after, ua(0, 12), 5, 0, ~0u),
			 CVMM_ERR_INVALID);
	dfx_home_waiters(dx[2], take_waiter, after);
	for (int i = 0; i < 2; i++)
		assert_int_equal(dfx_set_roles(dx[i], after), CVMM_OK);
	to2 = __atomic_load_n(&msgs_to[2], __ATOMIC_SEQ_CST);
	__atomic_store_n(word(ua(2, 12)), 1, __ATOMIC_SEQ_CST);
	assert_int_equal(dfx_wake(dx[0], ua(2, 12), 1, ~0u), 1);
	assert_true(waiter_join(&a, 2000)); /* the oldest first */
	assert_false(is_done(&b));
	assert_int_equal(dfx_wake(dx[0], ua(2, 12), 1, ~0u), 1);
	assert_true(waiter_join(&b, 2000));
	assert_int_equal(a.ret, 0);
	assert_int_equal(b.ret, 0);
	assert_int_equal(__atomic_load_n(&msgs_to[2], __ATOMIC_SEQ_CST), to2);
}

/* ---- messages from peers ------------------------------------------------- */

static void forge(uint8_t *b, uint16_t ver, uint16_t type, uint32_t bits,
		  uint64_t uaddr, uint64_t id, uint64_t arg)
{
	dfx_msg_t m = { ver, type, bits, uaddr, id, arg };

	dfx_wire_encode(&m, b);
}

/* dfx_wire_decode alone: a round trip, the bytes at their offsets, every
 * length but DFX_WIRE_LEN refused, and each check with its reason. */
static void expect_decode(const uint8_t *b, size_t len, int src, int self,
			  const char *reason)
{
	dfx_msg_t out, poison;
	const char *why = "unset";

	memset(&poison, 0xa5, sizeof(poison));
	out = poison;
	assert_int_equal(dfx_wire_decode(b, len, src, self, NN, NULL, &out,
					 &why),
			 CVMM_ERR_PEER);
	assert_string_equal(why, reason);
	assert_memory_equal(&out, &poison, sizeof(out));
}

static void test_wire_decode(void **state)
{
	uint8_t b[DFX_WIRE_LEN + 8] = { 0 };
	uint64_t a = ua(1, 3);
	const char *why = NULL;
	dfx_msg_t out;
	uint8_t *heap;

	forge(b, DFX_WIRE_VERSION, DFX_MSG_WAKE, 0x80000001u, a, 0x1122334455ull,
	      INT_MAX);
	assert_int_equal(wire_get_u16(b), DFX_WIRE_VERSION);
	assert_int_equal(wire_get_u16(b + 2), DFX_MSG_WAKE);
	assert_int_equal(wire_get_u32(b + 4), 0x80000001u);
	assert_true(wire_get_u64(b + 8) == a);
	assert_true(wire_get_u64(b + 16) == 0x1122334455ull);
	assert_true(wire_get_u64(b + 24) == INT_MAX);
	assert_int_equal(dfx_wire_decode(b, DFX_WIRE_LEN, 0, 1, NN, NULL, &out,
					 &why),
			 CVMM_OK);
	assert_null(why);
	assert_int_equal(out.type, DFX_MSG_WAKE);
	assert_int_equal(out.bitset, 0x80000001u);
	assert_true(out.uaddr == a && out.id == 0x1122334455ull);
	assert_true(out.arg == INT_MAX);

	for (size_t len = 0; len <= sizeof(b); len++)
		if (len != DFX_WIRE_LEN)
			expect_decode(b, len, 0, 1, "bad length");
	expect_decode(NULL, DFX_WIRE_LEN, 0, 1, "bad length");
	for (size_t len = 0; len < DFX_WIRE_LEN; len++) {
		heap = malloc(len ? len : 1); /* ASan: nothing past len */
		memcpy(heap, b, len);
		expect_decode(heap, len, 0, 1, "bad length");
		free(heap);
	}
	expect_decode(b, DFX_WIRE_LEN, -1, 1, "bad source");
	expect_decode(b, DFX_WIRE_LEN, NN, 1, "bad source");
	expect_decode(b, DFX_WIRE_LEN, 0, NN, "bad receiver");
	expect_decode(b, DFX_WIRE_LEN, 0, 0, /* a request to a non-home */
		      "request to a node that is not the home");

	forge(b, 2, DFX_MSG_WAKE, 1, a, 1, 1);
	expect_decode(b, DFX_WIRE_LEN, 0, 1, "bad version");
	forge(b, 1, DFX_MSG_END, 1, a, 1, 1);
	expect_decode(b, DFX_WIRE_LEN, 0, 1, "bad type");
	forge(b, 1, DFX_MSG_WAKE, 1, a + 2, 1, 1);
	expect_decode(b, DFX_WIRE_LEN, 0, 1, "unaligned address");
	forge(b, 1, DFX_MSG_WAKE, 1, a, 0, 1);
	expect_decode(b, DFX_WIRE_LEN, 0, 1, "zero id");
	forge(b, 1, DFX_MSG_REG_ACK, 1, a, 1, 0);
	expect_decode(b, DFX_WIRE_LEN, 1, 0, "bad bitset");
	forge(b, 1, DFX_MSG_CANCEL_ACK, 0, a, 1, 2);
	expect_decode(b, DFX_WIRE_LEN, 1, 0, "bad argument");
	forge(b, 1, DFX_MSG_CANCEL_ACK, 0, a, 1, 1);
	expect_decode(b, DFX_WIRE_LEN, 2, 0,
		      "reply from a node that is not the home");
	assert_int_equal(dfx_wire_decode(b, DFX_WIRE_LEN, 1, 0, NN, NULL, &out,
					 &why),
			 CVMM_OK);
	assert_int_equal(out.arg, 1);
}

static void test_malformed(void **state)
{
	uint8_t b[DFX_WIRE_LEN + 8];
	dfx_t *d = dx[1];
	uint64_t a = ua(1, 0);

	forge(b, 1, DFX_MSG_REG, 1, a, 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN - 1), CVMM_ERR_PEER);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN + 1), CVMM_ERR_PEER);
	assert_int_equal(dfx_recv(d, 0, NULL, DFX_WIRE_LEN), CVMM_ERR_PEER);
	assert_int_equal(dfx_recv(d, -1, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	assert_int_equal(dfx_recv(d, NN, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 2, DFX_MSG_REG, 1, a, 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, 0, 1, a, 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_WAKEUP + 1, 0, a, 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_REG, 1, a + 2, 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_REG, 0, a, 7, 0); /* bitset 0 */
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_REG, 1, a, 0, 0); /* id 0 */
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_REG, 1, ua(2, 0), 7, 0); /* not the home */
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_WAKE, 1, a, 7, (uint64_t)INT_MAX + 1);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	forge(b, 1, DFX_MSG_CANCEL_ACK, 0, ua(2, 0), 7, 2);
	assert_int_equal(dfx_recv(d, 2, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	/* a reply from a node that is not the home */
	forge(b, 1, DFX_MSG_WAKEUP, 0, ua(2, 0), 7, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	/* Well formed, for an id this node does not know: ignored. */
	forge(b, 1, DFX_MSG_WAKEUP, 0, ua(2, 0), 7, 0);
	assert_int_equal(dfx_recv(d, 2, b, DFX_WIRE_LEN), CVMM_OK);
	forge(b, 1, DFX_MSG_WAKE_ACK, 0, ua(0, 0), 0x1234567890ULL, 3);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_OK);
	/* A registration twice from one waiter is refused. */
	forge(b, 1, DFX_MSG_REG, 1, a, 99, 0);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_OK);
	assert_int_equal(dfx_recv(d, 0, b, DFX_WIRE_LEN), CVMM_ERR_PEER);
	assert_int_equal(dfx_wake(dx[0], a, INT_MAX, ~0u), 1);
}

/* Random bytes, and random fields behind a valid header, never crash a
 * node; the service still works afterwards. */
static void test_fuzz(void **state)
{
	unsigned seed = 7;
	uint8_t b[DFX_WIRE_LEN + 16];
	waiter_t w;
	int acks;

	for (int i = 0; i < 100000; i++) {
		size_t len = rand_r(&seed) % 3 ? DFX_WIRE_LEN :
						 rand_r(&seed) % sizeof(b);
		int src = (int)(rand_r(&seed) % (NN + 2)) - 1;

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)rand_r(&seed);
		if (rand_r(&seed) % 2)
			forge(b, 1, rand_r(&seed) % 9,
			      rand_r(&seed) % 4 ? rand_r(&seed) % 4 : 0,
			      ua(rand_r(&seed) % NN, rand_r(&seed) % 8) +
				      rand_r(&seed) % 2,
			      rand_r(&seed) % 6, rand_r(&seed) % 3);
		dfx_recv(dx[rand_r(&seed) % NN], src, b, len);
	}
	ms_sleep(100); /* the replies to forged requests drain */
	acks = __atomic_load_n(&reg_acks, __ATOMIC_SEQ_CST);
	waiter_start(&w, 2, ua(1, 500), ~0u, -1);
	reg_wait(acks + 1);
	assert_int_equal(dfx_wake(dx[0], ua(1, 500), 1, ~0u), 1);
	assert_true(waiter_join(&w, 2000));
	assert_int_equal(w.ret, 0);
}

/* The same, with own-node messages delivered inside send. */
static void test_cancel_race_inline(void **state)
{
	test_cancel_race(state);
}

static void test_mutex_stress_inline(void **state)
{
	test_mutex_stress(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup_sync, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_args),         T(test_eagain),
		T(test_cross_node),   T(test_busy),
		T(test_fifo_counts),
		T(test_bitset),       T(test_shared_keys),
		T(test_timeout),
		T(test_no_lost_wakeup),
		T(test_cancel_race),  TS(test_cancel_race_inline),
		T(test_mutex_stress), TS(test_mutex_stress_inline),
		T(test_roles),        T(test_interrupted),
		T(test_leave),
		cmocka_unit_test(test_wire_decode),
		T(test_malformed),    T(test_fuzz),
	};

	/* Malformed and forged messages are warned about by design. Set
	 * once, before any delivery thread can read it. */
	log_level = LOG_LVL_ERROR;
	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
