/* The transport between two real processes, without the project's
 * bootstrap: the test forks a child agent (rank 1), the two exchange worker
 * addresses and remote keys over a socketpair, connect, and then the parent
 * (rank 0) drives the checks, asking the child to act through one-byte
 * commands on the socketpair. Run once over tcp and once over shared memory
 * (skipped with a message when UCX cannot run shm here).
 *
 * Checks: 64 random 4 KiB pages put and read back byte for byte (and the
 * child's whole region hashed), fetch-add from both sides on one word,
 * compare-and-swap, range checks, 1000 numbered active messages each way in
 * order (some large enough for rendezvous), zero-length and 4 MiB messages,
 * messages to the own node, replies sent from inside a handler (and sends
 * to the own node there, which must not nest handlers), a foreign
 * sender with a wrong job cookie (dropped and logged once), peer loss:
 * the child _exit()s and the parent's lost callback must fire within 5 s,
 * and rank 1 used again: a new child (a fresh process) connects after the
 * parent's xp_peer_reset, while an agent stamping the old epoch is
 * dropped whole. And, with no transport, the policy of a wait for each
 * progress mode: what its idle rounds do (poll, yield, nap) and how long
 * it stays awake. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "rdma/xp.h"
#include "rdma/xp_int.h"

#define PAGE 4096
#define NPAGES 256
#define REGION (NPAGES * PAGE)
#define COOKIE 0x5eed5eed12345678ull
#define NMSG 1000
#define BIG (4u << 20)
#define MID (256u << 10)
#define AM_SEQ (XP_AM_USER + 0)
#define AM_ZERO (XP_AM_USER + 1)
#define AM_BIG (XP_AM_USER + 2)
#define AM_PING (XP_AM_USER + 3)
#define AM_PONG (XP_AM_USER + 4)
#define AM_RELAY (XP_AM_USER + 5)
#define AM_NEST (XP_AM_USER + 6)
#define FADD_CHILD 1000000ull
#define SOCK_MS 15000

typedef struct side {
	xp_transport_t tp;
	int rank;
	int peer;
	int fd;
	pid_t child;
	bool skip;
	xp_t *x;
	uint8_t *region;
	uint64_t peer_base;
	const void *rkey;     /* packed key of the own region */
	size_t rkey_len;
} side_t;

/* The epoch a forked child stamps on what it sends (test_peer_reset). */
static uint32_t child_epoch;

/* What the handlers saw, on either side. */
static struct {
	atomic_uint seq_next;   /* next expected AM_SEQ index from the peer */
	atomic_uint seq_bad;
	atomic_uint self_next;  /* the same for messages to the own node */
	atomic_uint zero;
	atomic_uint big_ok;
	atomic_uint big_bad;
	atomic_uint pongs;
	atomic_int ping_err;
	atomic_uint nest_ok;
	atomic_uint nest_bad;
} rx;

static __thread int handler_depth;

static atomic_int lost_peer = -1;
static char lost_reason[200];
static uint64_t lost_ns;
static uint8_t mirror[REGION]; /* what the child's region should hold */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd_next(&seed);

		memcpy(p + i, &v, 8);
	}
}

static uint64_t hash(const uint8_t *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint8_t big_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* Message i of the numbered sequence: mostly 8 bytes, every 50th MID. */
static size_t seq_len(unsigned i)
{
	return i % 50 == 49 ? MID : 8;
}

/* ---- socketpair helpers -------------------------------------------------- */

static bool sock_wait(int fd, short ev)
{
	struct pollfd pfd = { .fd = fd, .events = ev };

	return poll(&pfd, 1, SOCK_MS) == 1;
}

static bool sock_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = sock_wait(fd, POLLOUT) ? write(fd, p, len) : -1;

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool sock_recv(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = sock_wait(fd, POLLIN) ? read(fd, p, len) : -1;

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool sock_send_blob(int fd, const void *buf, size_t len)
{
	uint64_t l = len;

	return sock_send(fd, &l, 8) && sock_send(fd, buf, len);
}

static void *sock_recv_blob(int fd, size_t *len)
{
	uint64_t l;
	void *buf;

	if (!sock_recv(fd, &l, 8) || l > (1u << 20))
		return NULL;
	buf = malloc(l ? l : 1);
	if (buf && !sock_recv(fd, buf, l)) {
		free(buf);
		return NULL;
	}
	*len = l;
	return buf;
}

/* ---- handlers (both sides) ----------------------------------------------- */

static void on_seq(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	atomic_uint *next = src == xp_rank(x) ? &rx.self_next : &rx.seq_next;
	uint32_t i;

	if (len < 4) {
		atomic_fetch_add(&rx.seq_bad, 1);
		return;
	}
	memcpy(&i, data, 4);
	if (i != atomic_load(next) || len != seq_len(i))
		atomic_fetch_add(&rx.seq_bad, 1);
	atomic_store(next, i + 1);
}

static void on_zero(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	if (len == 0)
		atomic_fetch_add(&rx.zero, 1);
}

static void on_big(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len && p[i] == big_byte(i); i++)
		;
	if (len == BIG && i == len)
		atomic_fetch_add(&rx.big_ok, 1);
	else
		atomic_fetch_add(&rx.big_bad, 1);
}

/* Replies from inside the handler (the transport sends a copy). */
static void on_ping(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	if (xp_am_send(x, src, AM_PONG, data, len) != CVMM_OK)
		atomic_fetch_add(&rx.ping_err, 1);
}

static void on_pong(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	atomic_fetch_add(&rx.pongs, 1);
}

/* Sends to its own node from inside a handler: that message must be handled
 * after this handler returns, never nested inside it. */
static void on_relay(xp_t *x, int src, const void *data, size_t len,
		     void *arg)
{
	handler_depth++;
	if (xp_am_send(x, xp_rank(x), AM_NEST, NULL, 0) != CVMM_OK)
		atomic_fetch_add(&rx.nest_bad, 1);
	handler_depth--;
}

static void on_nest(xp_t *x, int src, const void *data, size_t len, void *arg)
{
	if (handler_depth || src != xp_rank(x))
		atomic_fetch_add(&rx.nest_bad, 1);
	else
		atomic_fetch_add(&rx.nest_ok, 1);
}

static void on_lost(int peer, const char *reason, void *arg)
{
	snprintf(lost_reason, sizeof(lost_reason), "%s", reason);
	lost_ns = now_ns();
	atomic_store(&lost_peer, peer);
}

/* ---- setup shared by parent and child ------------------------------------ */

static cvmm_status_t side_register(side_t *s)
{
	static const struct {
		unsigned id;
		xp_am_fn_t fn;
	} h[] = {
		{ AM_SEQ, on_seq },   { AM_ZERO, on_zero }, { AM_BIG, on_big },
		{ AM_PING, on_ping }, { AM_PONG, on_pong },
		{ AM_RELAY, on_relay }, { AM_NEST, on_nest },
	};
	cvmm_status_t st = CVMM_OK;

	for (unsigned i = 0; i < sizeof(h) / sizeof(h[0]) && !st; i++)
		st = xp_am_register(s->x, h[i].id, h[i].fn, s);
	return st;
}

/* Exchanges worker address, region base and rkey with the other side. */
static cvmm_status_t side_exchange(side_t *s, void **paddr, size_t *paddr_len,
				   void **prkey, size_t *prkey_len)
{
	const void *addr, *rkey;
	size_t alen, rlen;
	uint64_t base = (uint64_t)(uintptr_t)s->region;

	if (xp_address(s->x, &addr, &alen) != CVMM_OK ||
	    xp_mem_register(s->x, s->region, REGION, &rkey, &rlen) != CVMM_OK)
		return CVMM_ERR_IO;
	s->rkey = rkey;
	s->rkey_len = rlen;
	if (!sock_send_blob(s->fd, addr, alen) ||
	    !sock_send_blob(s->fd, rkey, rlen) || !sock_send(s->fd, &base, 8))
		return CVMM_ERR_IO;
	*paddr = sock_recv_blob(s->fd, paddr_len);
	*prkey = sock_recv_blob(s->fd, prkey_len);
	if (!*paddr || !*prkey || !sock_recv(s->fd, &s->peer_base, 8))
		return CVMM_ERR_IO;
	return CVMM_OK;
}

static cvmm_status_t side_connect(side_t *s)
{
	const void *addrs[2];
	size_t lens[2], alen = 0, rlen = 0;
	void *paddr = NULL, *prkey = NULL;
	cvmm_status_t st;

	st = side_exchange(s, &paddr, &alen, &prkey, &rlen);
	if (st == CVMM_OK) {
		addrs[s->peer] = paddr;
		lens[s->peer] = alen;
		addrs[s->rank] = NULL;
		lens[s->rank] = 0;
		st = xp_connect(s->x, addrs, lens, 5000);
	}
	if (st == CVMM_OK)
		st = xp_mem_remote(s->x, s->peer, s->peer_base, REGION, prkey,
				   rlen);
	if (st == CVMM_OK)
		st = xp_start(s->x, on_lost, s);
	free(paddr);
	free(prkey);
	return st;
}

/* Both sides report whether xp_init worked; true when both did. */
static bool side_agree(side_t *s, cvmm_status_t mine)
{
	int32_t m = mine, theirs = -100;

	if (!sock_send(s->fd, &m, 4) || !sock_recv(s->fd, &theirs, 4))
		return false;
	return m == 0 && theirs == 0;
}

static cvmm_status_t side_start(side_t *s)
{
	xp_opts_t o = {
		.transport = s->tp,
		.progress = XP_PROGRESS_HYBRID,
		.heartbeat_ms = 200,
		.lost_ms = 1500,
	};
	cvmm_status_t st;

	s->region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s->region == MAP_FAILED)
		return CVMM_ERR_NOMEM;
	fill(s->region, REGION, s->rank + 1);
	st = xp_init(&o, s->rank, 2, COOKIE, &s->x);
	if (st == CVMM_OK && s->rank == 1)
		xp_set_epoch(s->x, child_epoch);
	if (st == CVMM_OK)
		st = side_register(s);
	if (!side_agree(s, st))
		return st ? st : CVMM_ERR_UNSUPPORTED;
	return side_connect(s);
}

/* ---- the child ----------------------------------------------------------- */

static int32_t child_fadd(side_t *s)
{
	uint64_t old, prev = 0;

	for (int i = 0; i < 1000; i++) {
		if (xp_fadd64(s->x, 0, s->peer_base, FADD_CHILD, &old))
			return -1;
		if (i && old <= prev)
			return -2;
		prev = old;
	}
	return 0;
}

static int32_t send_seq(xp_t *x, int peer, unsigned n)
{
	static uint8_t buf[MID];

	for (uint32_t i = 0; i < n; i++) {
		memcpy(buf, &i, 4);
		if (xp_am_send(x, peer, AM_SEQ, buf, seq_len(i)) != CVMM_OK)
			return -1;
	}
	return 0;
}

static int32_t send_zero_big(xp_t *x, int peer)
{
	uint8_t *big = malloc(BIG);
	int32_t r = -1;

	if (!big)
		return -1;
	for (size_t i = 0; i < BIG; i++)
		big[i] = big_byte(i);
	if (xp_am_send(x, peer, AM_ZERO, NULL, 0) == CVMM_OK &&
	    xp_am_send(x, peer, AM_BIG, big, BIG) == CVMM_OK)
		r = 0;
	free(big);
	return r;
}

/* Reports what the child received from the parent. */
static int32_t child_rx_report(void)
{
	if (atomic_load(&rx.seq_bad) || atomic_load(&rx.big_bad) ||
	    atomic_load(&rx.ping_err))
		return -1;
	return (int32_t)(atomic_load(&rx.seq_next) * 100 +
			 atomic_load(&rx.zero) * 10 + atomic_load(&rx.big_ok));
}

/* A foreign agent: same rank 1, wrong cookie. Its HELLO must be dropped by
 * the parent, so its connect times out. */
static int32_t child_bad_cookie(side_t *s, const void *paddr, size_t alen)
{
	xp_opts_t o = { .transport = s->tp };
	const void *addrs[2] = { paddr, NULL };
	size_t lens[2] = { alen, 0 };
	xp_t *x2;
	cvmm_status_t st;

	if (xp_init(&o, 1, 2, COOKIE ^ 1, &x2) != CVMM_OK)
		return -1;
	st = xp_connect(x2, addrs, lens, 300);
	xp_fini(x2);
	return st == CVMM_ERR_TIMEOUT ? 0 : -2;
}

/* The agent a rank had before (test_peer_reset): right cookie, rank 1,
 * the epoch before the parent's reset. Its HELLO, messages and goodbye
 * must all be dropped by the parent, none taken for the new agent's. */
static int32_t child_stale(side_t *s, const void *paddr, size_t alen)
{
	xp_opts_t o = { .transport = s->tp };
	const void *addrs[2] = { paddr, NULL };
	size_t lens[2] = { alen, 0 };
	xp_t *x2;
	int32_t r = 0;

	if (xp_init(&o, 1, 2, COOKIE, &x2) != CVMM_OK)
		return -1;
	xp_set_epoch(x2, child_epoch - 1);
	if (xp_connect(x2, addrs, lens, 300) != CVMM_ERR_TIMEOUT)
		r = -2; /* the parent answered it */
	else if (send_seq(x2, 0, 10))
		r = -3;
	xp_flush(x2, 0);
	xp_fini(x2); /* its BYE too */
	return r;
}

static int32_t child_cmd(side_t *s, char cmd, const void *paddr, size_t alen)
{
	uint64_t h;

	switch (cmd) {
	case 'F':
		return child_fadd(s);
	case 'A':
		if (send_seq(s->x, 0, NMSG) || send_zero_big(s->x, 0))
			return -1;
		return 0;
	case 'C':
		return child_rx_report();
	case 'H':
		h = hash(s->region, REGION);
		return (int32_t)(h ^ (h >> 32));
	case 'K':
		return child_bad_cookie(s, paddr, alen);
	case 'O':
		return child_stale(s, paddr, alen);
	case 'R':
		for (int i = 0; i < 10; i++)
			if (xp_am_send(s->x, 0, AM_RELAY, NULL, 0) != CVMM_OK)
				return -1;
		return 0;
	case 'E':
		_exit(0); /* peer loss: no xp_fini, no goodbye */
	case 'Q':
		xp_fini(s->x);
		_exit(0);
	}
	return -99;
}

static void child_main(int fd, xp_transport_t tp)
{
	side_t s = { .tp = tp, .rank = 1, .peer = 0, .fd = fd };
	const void *paddr = NULL;
	char cmd;
	int32_t r;

	if (side_start(&s) != CVMM_OK)
		_exit(2);
	r = 0;
	if (!sock_send(fd, &r, 4))
		_exit(3);
	/* the parent's address again, for the foreign-cookie agent */
	paddr = sock_recv_blob(fd, &(size_t){ 0 });
	while (sock_recv(fd, &cmd, 1)) {
		size_t alen = 0;

		if ((cmd == 'K' || cmd == 'O') &&
		    !sock_recv(fd, &alen, sizeof(alen)))
			break;
		r = child_cmd(&s, cmd, paddr, alen);
		if (!sock_send(fd, &r, 4))
			break;
	}
	_exit(4);
}

/* ---- the parent ---------------------------------------------------------- */

static int32_t ask(side_t *s, char cmd)
{
	int32_t r = -1000;

	assert_true(sock_send(s->fd, &cmd, 1));
	assert_true(sock_recv(s->fd, &r, 4));
	return r;
}

static int group_setup(void **state, xp_transport_t tp)
{
	static side_t s;
	int sv[2];
	int32_t ok = -1;
	const void *addr;
	size_t alen;

	memset(&s, 0, sizeof(s));
	memset(&rx, 0, sizeof(rx));
	atomic_store(&lost_peer, -1);
	s.tp = tp;
	s.peer = 1;
	*state = &s;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	s.child = fork();
	if (s.child == 0) {
		close(sv[0]);
		child_main(sv[1], tp);
	}
	close(sv[1]);
	s.fd = sv[0];
	if (side_start(&s) != CVMM_OK || !sock_recv(s.fd, &ok, 4) || ok) {
		if (tp == XP_TRANSPORT_TCP)
			return -1; /* tcp must work everywhere */
		printf("[  SKIP    ] transport shm does not work here\n");
		s.skip = true;
		return 0;
	}
	xp_address(s.x, &addr, &alen);
	sock_send_blob(s.fd, addr, alen);
	fill(mirror, REGION, 2);
	return 0;
}

static int setup_tcp(void **state)
{
	return group_setup(state, XP_TRANSPORT_TCP);
}

static int setup_shm(void **state)
{
	return group_setup(state, XP_TRANSPORT_SHM);
}

static int group_teardown(void **state)
{
	side_t *s = *state;
	char q = 'Q';
	int wst;

	if (s->child > 0) {
		(void)!write(s->fd, &q, 1);
		if (waitpid(s->child, &wst, 0) < 0)
			kill(s->child, SIGKILL);
	}
	xp_fini(s->x);
	close(s->fd);
	if (s->region && s->region != MAP_FAILED)
		munmap(s->region, REGION);
	return 0;
}

static side_t *get_side(void **state)
{
	side_t *s = *state;

	if (s->skip)
		skip();
	return s;
}

static void test_describe(void **state)
{
	side_t *s = get_side(state);
	char buf[128];

	xp_describe(s->x, 1, buf, sizeof(buf));
	printf("           lanes to node 1: %s\n", buf);
	if (s->tp == XP_TRANSPORT_TCP)
		assert_non_null(strstr(buf, "tcp"));
	else
		assert_true(strstr(buf, "posix") || strstr(buf, "sysv") ||
			    strstr(buf, "cma"));
	assert_int_equal(xp_rank(s->x), 0);
	assert_int_equal(xp_size(s->x), 2);
}

static void test_put_get_pages(void **state)
{
	side_t *s = get_side(state);
	uint64_t seed = 42, h;
	uint8_t buf[PAGE];

	for (int i = 0; i < 64; i++) {
		uint64_t off = (rnd_next(&seed) % NPAGES) * PAGE;
		/* half from plain memory, half from the registered region */
		uint8_t *src = i % 2 ? buf : s->region + REGION - PAGE;

		fill(src, PAGE, rnd_next(&seed));
		assert_int_equal(xp_put(s->x, 1, src, s->peer_base + off, PAGE),
				 CVMM_OK);
		memcpy(mirror + off, src, PAGE);
	}
	assert_int_equal(xp_flush(s->x, 1), CVMM_OK);
	for (int i = 0; i < 64; i++) {
		uint64_t off = (rnd_next(&seed) % NPAGES) * PAGE;
		uint8_t *dst = i % 2 ? buf : s->region + REGION - PAGE;

		memset(dst, 0xee, PAGE);
		assert_int_equal(xp_get(s->x, 1, dst, s->peer_base + off, PAGE),
				 CVMM_OK);
		assert_memory_equal(dst, mirror + off, PAGE);
	}
	h = hash(mirror, REGION);
	assert_int_equal(ask(s, 'H'), (int32_t)(h ^ (h >> 32)));
}

static void test_range_checks(void **state)
{
	side_t *s = get_side(state);
	log_level_t saved = log_level;
	uint8_t buf[16];
	uint64_t old;

	log_level = LOG_LVL_FATAL; /* the errors below are expected */
	assert_int_equal(xp_get(s->x, 1, buf, s->peer_base + REGION - 8, 16),
			 CVMM_ERR_RANGE);
	assert_int_equal(xp_get(s->x, 1, buf, s->peer_base - 8, 8),
			 CVMM_ERR_RANGE);
	assert_int_equal(xp_put(s->x, 1, buf, s->peer_base + REGION, 1),
			 CVMM_ERR_RANGE);
	assert_int_equal(xp_fadd64(s->x, 1, s->peer_base + 4, 1, &old),
			 CVMM_ERR_INVALID);
	assert_int_equal(xp_get(s->x, 2, buf, s->peer_base, 8),
			 CVMM_ERR_INVALID);
	assert_int_equal(xp_am_send(s->x, 1, 1, NULL, 0), CVMM_ERR_INVALID);
	assert_int_equal(xp_am_send(s->x, 1, XP_AM_MAX, NULL, 0),
			 CVMM_ERR_INVALID);
	log_level = saved;
}

/* Both sides add to one word in the parent's region at the same time: the
 * parent through its loopback endpoint, the child over the transport. */
static void test_fadd_both_sides(void **state)
{
	side_t *s = get_side(state);
	uint64_t *word = (uint64_t *)s->region, old;
	uint64_t base = (uint64_t)(uintptr_t)word;
	char cmd = 'F';
	int32_t r = -1;

	*word = 0;
	assert_true(sock_send(s->fd, &cmd, 1));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(xp_fadd64(s->x, 0, base, 1, &old), CVMM_OK);
	assert_true(sock_recv(s->fd, &r, 4));
	assert_int_equal(r, 0);
	assert_int_equal(__atomic_load_n(word, __ATOMIC_SEQ_CST),
			 1000 + 1000 * FADD_CHILD);
}

#define NTHREADS 4
#define THREAD_OPS 300

static void *thread_main(void *arg)
{
	side_t *s = arg;
	uint8_t page[PAGE];
	uint64_t old;
	intptr_t bad = 0;

	for (int i = 0; i < THREAD_OPS; i++) {
		bad += xp_fadd64(s->x, 1, s->peer_base + 16, 1, &old) != 0;
		bad += xp_get(s->x, 1, page, s->peer_base + PAGE, PAGE) != 0;
		bad += xp_fadd64(s->x, 0, (uintptr_t)s->region + 16, 1,
				 &old) != 0;
		if (i % 10 == 0)
			bad += xp_am_send(s->x, 1, AM_PONG, NULL, 0) != 0;
	}
	return (void *)bad;
}

/* Several threads issue blocking calls at once, to the peer and to the own
 * node, while both progress threads run. */
static void test_threads(void **state)
{
	side_t *s = get_side(state);
	pthread_t t[NTHREADS];
	uint64_t before, after;
	void *bad;

	assert_int_equal(xp_get(s->x, 1, &before, s->peer_base + 16, 8),
			 CVMM_OK);
	memset(s->region + 16, 0, 8);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, s),
				 0);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	assert_int_equal(xp_get(s->x, 1, &after, s->peer_base + 16, 8),
			 CVMM_OK);
	assert_int_equal(after - before, NTHREADS * THREAD_OPS);
	assert_int_equal(*(uint64_t *)(s->region + 16), NTHREADS * THREAD_OPS);
	memcpy(mirror + 16, &after, 8);
}

static void test_cswap(void **state)
{
	side_t *s = get_side(state);
	uint64_t addr = s->peer_base + 8, v, old = 0, now;

	assert_int_equal(xp_get(s->x, 1, &v, addr, 8), CVMM_OK);
	assert_int_equal(xp_cswap64(s->x, 1, addr, v + 1, 42, &old), CVMM_OK);
	assert_int_equal(old, v);
	assert_int_equal(xp_get(s->x, 1, &now, addr, 8), CVMM_OK);
	assert_int_equal(now, v);
	assert_int_equal(xp_cswap64(s->x, 1, addr, v, 42, &old), CVMM_OK);
	assert_int_equal(old, v);
	assert_int_equal(xp_get(s->x, 1, &now, addr, 8), CVMM_OK);
	assert_int_equal(now, 42);
	memcpy(mirror + 8, &now, 8);
}

static void wait_for(atomic_uint *v, unsigned want)
{
	uint64_t end = now_ns() + 5000000000ull;

	while (atomic_load(v) < want && now_ns() < end)
		sched_yield();
}

/* The child's report once everything sent to it was delivered (a sender's
 * call returns when its buffer is reusable, not when the handler ran). */
static int32_t ask_until(side_t *s, int32_t want)
{
	uint64_t end = now_ns() + 5000000000ull;
	int32_t r;

	while ((r = ask(s, 'C')) != want && r != -1 && now_ns() < end)
		usleep(1000);
	return r;
}

static void test_am_order(void **state)
{
	side_t *s = get_side(state);

	/* parent -> child, then the child's verdict */
	assert_int_equal(send_seq(s->x, 1, NMSG), 0);
	assert_int_equal(send_zero_big(s->x, 1), 0);
	assert_int_equal(ask_until(s, NMSG * 100 + 10 + 1),
			 NMSG * 100 + 10 + 1);
	/* child -> parent */
	assert_int_equal(ask(s, 'A'), 0);
	wait_for(&rx.big_ok, 1);
	assert_int_equal(atomic_load(&rx.seq_next), NMSG);
	assert_int_equal(atomic_load(&rx.zero), 1);
	assert_int_equal(atomic_load(&rx.big_ok), 1);
	assert_int_equal(atomic_load(&rx.seq_bad), 0);
	assert_int_equal(atomic_load(&rx.big_bad), 0);
}

static void test_am_self(void **state)
{
	side_t *s = get_side(state);

	assert_int_equal(send_seq(s->x, 0, 100), 0);
	assert_int_equal(send_zero_big(s->x, 0), 0);
	wait_for(&rx.big_ok, 2);
	assert_int_equal(atomic_load(&rx.self_next), 100);
	assert_int_equal(atomic_load(&rx.zero), 2);
	assert_int_equal(atomic_load(&rx.big_ok), 2);
	assert_int_equal(atomic_load(&rx.seq_bad), 0);
}

/* The membership epoch: every message carries the sender's, the admit
 * hook sees it and may drop the message. */
static _Atomic uint32_t admit_seen;
static atomic_bool admit_refuse;

static bool admit_epoch(int src, unsigned id, uint32_t epoch)
{
	(void)src;
	if (id == AM_SEQ)
		atomic_store(&admit_seen, epoch);
	return !atomic_load(&admit_refuse);
}

static void test_am_epoch(void **state)
{
	side_t *s = get_side(state);
	unsigned before;

	xp_set_admit(s->x, admit_epoch);
	xp_set_epoch(s->x, 9);
	atomic_store(&rx.self_next, 0);
	assert_int_equal(send_seq(s->x, 0, 10), 0);
	assert_int_equal(atomic_load(&rx.self_next), 10);
	assert_int_equal(atomic_load(&admit_seen), 9);
	before = atomic_load(&rx.self_next);
	atomic_store(&admit_refuse, true);
	xp_set_epoch(s->x, 10);
	assert_int_equal(send_seq(s->x, 0, 10), 0);
	usleep(20000);
	assert_int_equal(atomic_load(&admit_seen), 10);
	assert_int_equal(atomic_load(&rx.self_next), before); /* dropped */
	atomic_store(&admit_refuse, false);
	xp_set_admit(s->x, NULL);
	xp_set_epoch(s->x, 0);
}

/* Ping-pong where the child answers from inside its handler. */
static void test_am_reply_from_handler(void **state)
{
	side_t *s = get_side(state);
	uint64_t t0 = now_ns(), want;
	uint8_t msg[64] = { 1 };

	for (unsigned i = 0; i < 200; i++) {
		want = atomic_load(&rx.pongs) + 1;
		assert_int_equal(xp_am_send(s->x, 1, AM_PING, msg, sizeof(msg)),
				 CVMM_OK);
		wait_for(&rx.pongs, (unsigned)want);
		assert_int_equal(atomic_load(&rx.pongs), want);
	}
	printf("           64 B round trip: %.1f us\n",
	       (double)(now_ns() - t0) / 200 / 1000);
	assert_int_not_equal(ask(s, 'C'), -1);
}

/* A handler that sends to its own node: from the test thread (the self
 * transport delivers inside xp_am_send) and from the progress thread (a
 * relay asked by the child). */
static void test_am_no_nesting(void **state)
{
	side_t *s = get_side(state);

	for (int i = 0; i < 10; i++)
		assert_int_equal(xp_am_send(s->x, 0, AM_RELAY, NULL, 0),
				 CVMM_OK);
	assert_int_equal(ask(s, 'R'), 0);
	wait_for(&rx.nest_ok, 20);
	assert_int_equal(atomic_load(&rx.nest_ok), 20);
	assert_int_equal(atomic_load(&rx.nest_bad), 0);
}

/* A foreign agent with the wrong cookie: dropped, logged once, no loss. */
static void test_wrong_cookie(void **state)
{
	side_t *s = get_side(state);
	char cmd = 'K', log[4096] = "", path[] = "/tmp/test_xp_logXXXXXX";
	int lf = mkstemp(path), saved = dup(2);
	const void *addr;
	size_t alen;
	ssize_t n;
	int32_t r = -1;

	assert_true(lf >= 0);
	xp_address(s->x, &addr, &alen);
	dup2(lf, 2);
	assert_true(sock_send(s->fd, &cmd, 1) &&
		    sock_send(s->fd, &alen, sizeof(alen)));
	assert_true(sock_recv(s->fd, &r, 4));
	usleep(100000);
	dup2(saved, 2);
	close(saved);
	n = pread(lf, log, sizeof(log) - 1, 0);
	close(lf);
	unlink(path);
	assert_int_equal(r, 0);
	assert_true(n > 0);
	assert_non_null(strstr(log, "dropped message from node 1: wrong job "
				    "cookie"));
	assert_int_equal(atomic_load(&lost_peer), -1);
	assert_int_not_equal(ask(s, 'C'), -1); /* the real node 1 still works */
}

static void test_peer_lost(void **state)
{
	side_t *s = get_side(state);
	char cmd = 'E';
	uint64_t t0, end;
	uint8_t buf[8];
	int wst;

	t0 = now_ns();
	assert_true(sock_send(s->fd, &cmd, 1));
	assert_int_equal(waitpid(s->child, &wst, 0), s->child);
	s->child = 0;
	end = t0 + 5000000000ull;
	while (atomic_load(&lost_peer) < 0 && now_ns() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&lost_peer), 1);
	printf("           node 1 lost after %.0f ms: %s\n",
	       (double)(lost_ns - t0) / 1e6, lost_reason);
	assert_int_equal(xp_get(s->x, 1, buf, s->peer_base, 8), CVMM_ERR_PEER);
	assert_int_equal(xp_am_send(s->x, 1, AM_ZERO, NULL, 0), CVMM_ERR_PEER);
}

/* A new agent as rank 1 after the old one was lost (a slot used again):
 * the parent resets the peer and connects to the new agent, which stamps a
 * later epoch. A third agent claiming rank 1 with the old epoch is dropped
 * whole (HELLO, ten numbered messages, goodbye): nothing delivered, no
 * sequence clash, no loss. Then the new agent works as the first did:
 * 1000 messages each way in order, zero-length and 4 MiB ones, a get of
 * its region. */
static void test_peer_reset(void **state)
{
	side_t *s = get_side(state);
	void *paddr = NULL, *prkey = NULL;
	size_t alen = 0, rlen = 0, mylen;
	uint64_t base = (uint64_t)(uintptr_t)s->region;
	const void *myaddr;
	uint8_t got[PAGE], *fresh;
	int32_t ok = -1, r;
	char cmd = 'O';
	int sv[2];

	assert_int_equal(atomic_load(&lost_peer), 1); /* test_peer_lost's */
	assert_int_equal(xp_peer_reset(s->x, 0, 5), CVMM_ERR_INVALID);
	assert_int_equal(xp_peer_reset(s->x, 1, 5), CVMM_OK);
	assert_false(xp_peer_lost(s->x, 1));
	atomic_store(&lost_peer, -1);
	atomic_store(&rx.seq_next, 0);
	atomic_store(&rx.zero, 0);
	atomic_store(&rx.big_ok, 0);
	close(s->fd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* a fresh process, as a new agent is (UCX does not survive a fork
	 * of an initialised context: its threads stay behind) */
	s->child = fork();
	if (s->child == 0) {
		char env[64];

		close(sv[0]);
		snprintf(env, sizeof(env), "%d,%d,5", sv[1], (int)s->tp);
		setenv("TEST_XP_CHILD", env, 1);
		execl("/proc/self/exe", "test_xp", (char *)NULL);
		_exit(5);
	}
	close(sv[1]);
	s->fd = sv[0];
	/* the child's side_start: agree, exchange, connect (it waits for
	 * the HELLO that xp_connect_peer posts) */
	assert_true(side_agree(s, CVMM_OK));
	assert_int_equal(xp_address(s->x, &myaddr, &mylen), CVMM_OK);
	assert_true(sock_send_blob(s->fd, myaddr, mylen) &&
		    sock_send_blob(s->fd, s->rkey, s->rkey_len) &&
		    sock_send(s->fd, &base, 8));
	paddr = sock_recv_blob(s->fd, &alen);
	prkey = sock_recv_blob(s->fd, &rlen);
	assert_non_null(paddr);
	assert_non_null(prkey);
	assert_true(sock_recv(s->fd, &s->peer_base, 8));
	assert_int_equal(xp_connect_peer(s->x, 1, paddr, alen), CVMM_OK);
	assert_int_equal(xp_connect_peer(s->x, 1, paddr, alen),
			 CVMM_ERR_EXISTS);
	assert_int_equal(xp_mem_remote(s->x, 1, s->peer_base, REGION, prkey,
				       rlen), CVMM_OK);
	free(paddr);
	free(prkey);
	assert_true(sock_recv(s->fd, &ok, 4));
	assert_int_equal(ok, 0);
	assert_true(sock_send_blob(s->fd, myaddr, mylen));
	/* the stale agent */
	assert_true(sock_send(s->fd, &cmd, 1) &&
		    sock_send(s->fd, &mylen, sizeof(mylen)));
	assert_true(sock_recv(s->fd, &r, 4));
	assert_int_equal(r, 0);
	usleep(300000);
	assert_int_equal(atomic_load(&rx.seq_next), 0);
	assert_int_equal(atomic_load(&rx.seq_bad), 0);
	assert_int_equal(atomic_load(&lost_peer), -1);
	assert_false(xp_peer_lost(s->x, 1));
	/* the new agent, both ways */
	assert_int_equal(ask(s, 'A'), 0);
	wait_for(&rx.seq_next, NMSG);
	wait_for(&rx.big_ok, 1);
	assert_int_equal(atomic_load(&rx.seq_next), NMSG);
	assert_int_equal(atomic_load(&rx.seq_bad), 0);
	assert_int_equal(atomic_load(&rx.zero), 1);
	assert_int_equal(atomic_load(&rx.big_ok), 1);
	assert_int_equal(send_seq(s->x, 1, NMSG), 0);
	assert_int_equal(send_zero_big(s->x, 1), 0);
	assert_int_equal(ask_until(s, NMSG * 100 + 10 + 1), NMSG * 100 + 11);
	fresh = malloc(REGION);
	assert_non_null(fresh);
	fill(fresh, REGION, 2); /* what a new rank 1's region holds */
	assert_int_equal(xp_get(s->x, 1, got, s->peer_base + PAGE, PAGE),
			 CVMM_OK);
	assert_memory_equal(got, fresh + PAGE, PAGE);
	free(fresh);
	assert_int_equal(atomic_load(&lost_peer), -1);
}

/* The child closes in order (xp_fini sends BYE): no loss is reported, and
 * later calls to it fail with CVMM_ERR_PEER. */
static void test_orderly_close(void **state)
{
	side_t *s = get_side(state);
	char cmd = 'Q';
	uint64_t end;
	uint8_t buf[8];
	int wst;

	assert_true(sock_send(s->fd, &cmd, 1));
	assert_int_equal(waitpid(s->child, &wst, 0), s->child);
	s->child = 0;
	end = now_ns() + 1000000000ull;
	while (xp_get(s->x, 1, buf, s->peer_base, 8) == CVMM_OK &&
	       now_ns() < end)
		usleep(1000);
	assert_int_equal(xp_get(s->x, 1, buf, s->peer_base, 8), CVMM_ERR_PEER);
	usleep(300000);
	assert_int_equal(atomic_load(&lost_peer), -1);
}

/* A wait's idle rounds: an agent with its own cores polls first, then
 * yields, then naps; one sharing its cores with other agents (progress
 * "event") never polls without yielding, naps as late, and stays awake
 * longer before its caller sleeps. */
static void test_backoff(void **state)
{
	unsigned nap_at[XP_PROGRESS_EVENT + 1] = { 0 };

	(void)state;
	for (unsigned m = XP_PROGRESS_HYBRID; m <= XP_PROGRESS_EVENT; m++) {
		xp_backoff_t prev = XP_BACKOFF_SPIN;

		for (unsigned r = 0; r < 100000; r++) {
			xp_backoff_t b = xp_backoff((xp_progress_t)m, r);

			assert_true(b >= prev); /* spin, yield, nap in order */
			if (b == XP_BACKOFF_NAP && !nap_at[m])
				nap_at[m] = r;
			prev = b;
		}
		assert_int_equal(prev, XP_BACKOFF_NAP);
	}
	assert_int_equal(xp_backoff(XP_PROGRESS_HYBRID, 0), XP_BACKOFF_SPIN);
	assert_int_equal(xp_backoff(XP_PROGRESS_POLL, 0), XP_BACKOFF_SPIN);
	assert_int_equal(xp_backoff(XP_PROGRESS_EVENT, 0), XP_BACKOFF_YIELD);
	assert_int_equal(nap_at[XP_PROGRESS_EVENT], nap_at[XP_PROGRESS_HYBRID]);
	assert_true(nap_at[XP_PROGRESS_HYBRID] > 1);
	/* and how long a wait stays awake before its caller sleeps: as
	 * asked with cores of its own, at least XP_SHARED_WAIT_NS with
	 * shared ones */
	assert_int_equal(xp_wait_budget(XP_PROGRESS_HYBRID, 300000), 300000);
	assert_int_equal(xp_wait_budget(XP_PROGRESS_POLL, 300000), 300000);
	assert_int_equal(xp_wait_budget(XP_PROGRESS_EVENT, 300000),
			 XP_SHARED_WAIT_NS);
	assert_int_equal(xp_wait_budget(XP_PROGRESS_EVENT, 5000000), 5000000);
}

#define XP_TESTS                                                              \
	cmocka_unit_test(test_describe),                                      \
	cmocka_unit_test(test_put_get_pages),                                 \
	cmocka_unit_test(test_range_checks),                                  \
	cmocka_unit_test(test_fadd_both_sides),                               \
	cmocka_unit_test(test_cswap),                                         \
	cmocka_unit_test(test_threads),                                       \
	cmocka_unit_test(test_am_order),                                      \
	cmocka_unit_test(test_am_self),                                       \
	cmocka_unit_test(test_am_epoch),                                      \
	cmocka_unit_test(test_am_reply_from_handler),                         \
	cmocka_unit_test(test_am_no_nesting),                                 \
	cmocka_unit_test(test_wrong_cookie),                                  \
	cmocka_unit_test(test_peer_lost),                                     \
	cmocka_unit_test(test_peer_reset)

int main(void)
{
	const struct CMUnitTest tests[] = { XP_TESTS };
	const struct CMUnitTest pure_tests[] = {
		cmocka_unit_test(test_backoff),
	};
	const struct CMUnitTest close_tests[] = {
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_orderly_close),
	};
	int fail;

	const char *child = getenv("TEST_XP_CHILD");
	int cfd, ctp;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (child && sscanf(child, "%d,%d,%u", &cfd, &ctp, &child_epoch) == 3)
		child_main(cfd, (xp_transport_t)ctp); /* test_peer_reset's */
	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	fail = cmocka_run_group_tests_name("xp waits", pure_tests, NULL, NULL);
	fail += cmocka_run_group_tests_name("xp over tcp", tests, setup_tcp,
					    group_teardown);
	fail += cmocka_run_group_tests_name("xp over shm", tests, setup_shm,
					    group_teardown);
	fail += cmocka_run_group_tests_name("xp close", close_tests,
					    setup_tcp, group_teardown);
	return fail;
}
