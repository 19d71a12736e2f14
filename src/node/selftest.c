/* --selftest: the transport checked (or measured) between the real agents,
 * over the real fabric, with guest memory as the registered region.
 *
 * Layout of the test region (same guest addresses on every node):
 *   own[r]   ST_PAGES pages rank r fills with pattern(r, page)
 *   inbox[r] ST_PAGES pages other ranks put pattern(src, page) into, one
 *            block of ST_PAGES per source rank
 *   words    one 8-byte counter per rank, for atomics */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/page.h"
#include "node/node.h"
#include "node/selftest.h"

#define ST_BASE     (GMEM_LO + (256UL << 20))
#define ST_PAGES    64
#define ST_MSGS     1000
#define ST_ADDS     500
#define ST_BIG      (4UL << 20)
#define ST_AM_SEQ   (XP_AM_USER + 1)
#define ST_AM_BIG   (XP_AM_USER + 2)
#define ST_AM_PING  (XP_AM_USER + 3)
#define ST_AM_PONG  (XP_AM_USER + 4)
#define ST_AM_PING4K (XP_AM_USER + 5) /* answered with a page */
#define ST_WAIT_MS  20000

typedef struct st_state {
	int rank, size;
	uint64_t own, inbox, words; /* guest addresses of the three areas */
	uint32_t *next_seq;         /* per source: next expected sequence */
	volatile uint64_t seq_got, seq_bad, big_got, big_bad, zero_got;
	volatile uint64_t pongs;
} st_state_t;

static st_state_t st;

static uint64_t st_pattern(int rank, uint64_t page, uint64_t i)
{
	uint64_t x = ((uint64_t)rank << 40) ^ (page << 20) ^ i;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdUL;
	x ^= x >> 29;
	return x;
}

static void st_fill(uint64_t *p, int rank, uint64_t page)
{
	for (uint64_t i = 0; i < CVMM_PAGE_SIZE / 8; i++)
		p[i] = st_pattern(rank, page, i);
}

static bool st_check(const uint64_t *p, int rank, uint64_t page)
{
	for (uint64_t i = 0; i < CVMM_PAGE_SIZE / 8; i++)
		if (p[i] != st_pattern(rank, page, i))
			return false;
	return true;
}

static uint64_t st_remote(uint64_t gaddr)
{
	return (uint64_t)(uintptr_t)gmem_agent(gaddr);
}

/* ---- message handlers (progress thread) ---------------------------------- */

static void st_on_seq(xp_t *x, int src, const void *data, size_t len,
		      void *arg)
{
	uint32_t seq;

	if (len == 0) {
		__atomic_fetch_add(&st.zero_got, 1, __ATOMIC_SEQ_CST);
		return;
	}
	memcpy(&seq, data, sizeof(seq));
	if (len != 64 || seq != st.next_seq[src])
		__atomic_fetch_add(&st.seq_bad, 1, __ATOMIC_SEQ_CST);
	st.next_seq[src] = seq + 1;
	__atomic_fetch_add(&st.seq_got, 1, __ATOMIC_SEQ_CST);
}

static void st_on_big(xp_t *x, int src, const void *data, size_t len,
		      void *arg)
{
	bool ok = len == ST_BIG;

	for (uint64_t pg = 0; ok && pg < ST_BIG / CVMM_PAGE_SIZE; pg++)
		ok = st_check((const uint64_t *)data + pg * CVMM_PAGE_SIZE / 8, src,
			      1000 + pg);
	if (!ok)
		__atomic_fetch_add(&st.big_bad, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&st.big_got, 1, __ATOMIC_SEQ_CST);
}

static void st_on_ping(xp_t *x, int src, const void *data, size_t len,
		       void *arg)
{
	xp_am_send(x, src, ST_AM_PONG, data, len);
}

/* A page back for a small request: a remote read fault's exchange. */
static void st_on_ping4k(xp_t *x, int src, const void *data, size_t len,
			 void *arg)
{
	static uint64_t page[CVMM_PAGE_SIZE / 8];

	xp_am_send(x, src, ST_AM_PONG, page, sizeof(page));
}

static void st_on_pong(xp_t *x, int src, const void *data, size_t len,
		       void *arg)
{
	__atomic_fetch_add(&st.pongs, 1, __ATOMIC_SEQ_CST);
}

/* Waits until *counter reaches want; false after ST_WAIT_MS. */
static bool st_wait(volatile uint64_t *counter, uint64_t want)
{
	for (int ms = 0; ms < ST_WAIT_MS; ms++) {
		for (int spin = 0; spin < 100; spin++) {
			if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= want)
				return true;
			sched_yield();
		}
		usleep(1000);
	}
	return false;
}

/* ---- the checks ----------------------------------------------------------- */

static int st_setup(gmem_t *gm)
{
	uint64_t len = (uint64_t)st.size * ST_PAGES * CVMM_PAGE_SIZE * 2 + CVMM_PAGE_SIZE;
	long at = gmem_mmap(gm, ST_BASE, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);

	if (at != (long)ST_BASE)
		return -1;
	st.own = ST_BASE;
	st.inbox = ST_BASE + (uint64_t)st.size * ST_PAGES * CVMM_PAGE_SIZE;
	st.words = st.inbox + (uint64_t)st.size * ST_PAGES * CVMM_PAGE_SIZE;
	for (uint64_t pg = 0; pg < ST_PAGES; pg++)
		st_fill(gmem_agent(st.own + (st.rank * ST_PAGES + pg) *
						    CVMM_PAGE_SIZE),
			st.rank, pg);
	st.next_seq = calloc((size_t)st.size, sizeof(uint32_t));
	return st.next_seq ? 0 : -1;
}

/* Gets every peer's own pages and checks them byte for byte. */
static int st_get_all(xp_t *x, char *why, size_t whylen)
{
	uint64_t buf[CVMM_PAGE_SIZE / 8];

	for (int p = 0; p < st.size; p++) {
		for (uint64_t pg = 0; p != st.rank && pg < ST_PAGES; pg++) {
			uint64_t at = st.own + (p * ST_PAGES + pg) * CVMM_PAGE_SIZE;

			if (xp_get(x, p, buf, st_remote(at), CVMM_PAGE_SIZE) !=
				    CVMM_OK ||
			    !st_check(buf, p, pg)) {
				snprintf(why, whylen, "get page %lu from node %d",
					 pg, p);
				return -1;
			}
		}
	}
	return 0;
}

/* Puts pattern(rank, page) into this rank's block of every peer's inbox. */
static int st_put_all(xp_t *x, char *why, size_t whylen)
{
	uint64_t buf[CVMM_PAGE_SIZE / 8];

	for (int p = 0; p < st.size; p++) {
		if (p == st.rank)
			continue;
		for (uint64_t pg = 0; pg < ST_PAGES; pg++) {
			uint64_t at = st.inbox + (st.rank * ST_PAGES + pg) *
							 CVMM_PAGE_SIZE;

			st_fill(buf, st.rank, pg);
			if (xp_put(x, p, buf, st_remote(at), CVMM_PAGE_SIZE) != CVMM_OK) {
				snprintf(why, whylen, "put to node %d", p);
				return -1;
			}
		}
		if (xp_flush(x, p) != CVMM_OK) {
			snprintf(why, whylen, "flush to node %d", p);
			return -1;
		}
	}
	return 0;
}

static int st_inbox_check(char *why, size_t whylen)
{
	for (int q = 0; q < st.size; q++) {
		for (uint64_t pg = 0; q != st.rank && pg < ST_PAGES; pg++) {
			if (!st_check(gmem_agent(st.inbox + (q * ST_PAGES + pg) *
							      CVMM_PAGE_SIZE),
				      q, pg)) {
				snprintf(why, whylen,
					 "page %lu put by node %d differs", pg,
					 q);
				return -1;
			}
		}
	}
	return 0;
}

/* Every rank adds ST_ADDS times to every other rank's word. */
static int st_atomics(xp_t *x, char *why, size_t whylen)
{
	uint64_t old;

	for (int p = 0; p < st.size; p++) {
		for (int i = 0; p != st.rank && i < ST_ADDS; i++) {
			if (xp_fadd64(x, p, st_remote(st.words + 8 * p), 1,
				      &old) != CVMM_OK) {
				snprintf(why, whylen, "fetch-add at node %d", p);
				return -1;
			}
		}
	}
	return 0;
}

static int st_atomics_check(xp_t *x, char *why, size_t whylen)
{
	uint64_t *mine = gmem_agent(st.words + 8 * st.rank);
	uint64_t want = (uint64_t)(st.size - 1) * ST_ADDS, old = 0;
	int peer = (st.rank + 1) % st.size;

	if (__atomic_load_n(mine, __ATOMIC_SEQ_CST) != want) {
		snprintf(why, whylen, "fetch-add total %lu, expected %lu",
			 *mine, want);
		return -1;
	}
	/* compare-swap: a wrong expected value must not swap */
	if (xp_cswap64(x, peer, st_remote(st.words + 8 * peer), 12345, 7,
		       &old) != CVMM_OK ||
	    old != want) {
		snprintf(why, whylen, "compare-swap at node %d saw %lu", peer,
			 old);
		return -1;
	}
	return 0;
}

/* ST_MSGS numbered messages, one zero-length and one 4 MiB to each peer. */
static int st_messages(xp_t *x, char *why, size_t whylen)
{
	uint8_t msg[64] = { 0 };
	uint64_t *big = malloc(ST_BIG);

	if (!big)
		return -1;
	for (uint64_t pg = 0; pg < ST_BIG / CVMM_PAGE_SIZE; pg++)
		st_fill(big + pg * CVMM_PAGE_SIZE / 8, st.rank, 1000 + pg);
	for (int p = 0; p < st.size; p++) {
		for (uint32_t i = 0; p != st.rank && i < ST_MSGS; i++) {
			memcpy(msg, &i, sizeof(i));
			if (xp_am_send(x, p, ST_AM_SEQ, msg, sizeof(msg)) !=
			    CVMM_OK)
				goto err;
		}
		if (p != st.rank &&
		    (xp_am_send(x, p, ST_AM_SEQ, NULL, 0) != CVMM_OK ||
		     xp_am_send(x, p, ST_AM_BIG, big, ST_BIG) != CVMM_OK))
			goto err;
	}
	free(big);
	return 0;
err:
	snprintf(why, whylen, "message send failed");
	free(big);
	return -1;
}

static int st_messages_check(char *why, size_t whylen)
{
	uint64_t peers = (uint64_t)st.size - 1;

	if (!st_wait(&st.seq_got, peers * ST_MSGS) ||
	    !st_wait(&st.zero_got, peers) || !st_wait(&st.big_got, peers)) {
		snprintf(why, whylen, "messages missing (%lu/%lu, big %lu)",
			 st.seq_got, peers * ST_MSGS, st.big_got);
		return -1;
	}
	if (st.seq_bad || st.big_bad) {
		snprintf(why, whylen, "%lu messages out of order, %lu big bad",
			 st.seq_bad, st.big_bad);
		return -1;
	}
	return 0;
}

static int st_barrier(void)
{
	return boot_barrier(node_boot()) == CVMM_OK ? 0 : -1;
}

static int st_run_checks(xp_t *x, char *why, size_t whylen)
{
	if (st_get_all(x, why, whylen) || st_put_all(x, why, whylen) ||
	    st_atomics(x, why, whylen) || st_messages(x, why, whylen) ||
	    st_barrier() || st_inbox_check(why, whylen) ||
	    st_messages_check(why, whylen) ||
	    st_atomics_check(x, why, whylen) || st_barrier())
		return -1;
	return 0;
}

/* Node 0 prints every agent's line; the exit status says if all passed. */
static int st_report(const char *line)
{
	void **all;
	size_t *lens;
	int bad = 0;

	if (boot_allgather(node_boot(), line, strlen(line) + 1, &all, &lens) !=
	    CVMM_OK)
		return 1;
	for (int r = 0; r < st.size; r++) {
		const char *l = all[r];

		if (lens[r] == 0 || l[lens[r] - 1] != '\0' ||
		    !strstr(l, ": ok"))
			bad = 1;
		if (st.rank == 0)
			printf("%s\n", lens[r] && l[lens[r] - 1] == '\0'
					       ? l
					       : "(garbled report)");
	}
	boot_free_all(node_boot(), all, lens);
	if (st.rank == 0)
		printf("selftest: %d agents: %s\n", st.size,
		       bad ? "FAILED" : "all checks passed");
	fflush(stdout);
	return bad;
}

/* ---- bench: node 0 against node 1 ------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define BENCH_N 2000

/* Median of BENCH_N timed runs of one operation kind against node 1. */
static double st_median(xp_t *x, int kind)
{
	static double t[BENCH_N];
	uint64_t buf[CVMM_PAGE_SIZE / 8] = { 0 }, old;
	uint64_t remote = st_remote(st.own + ST_PAGES * CVMM_PAGE_SIZE);

	for (int i = -200; i < BENCH_N; i++) {
		double t0 = ((double)cvmm_now_ns() / 1e3);
		uint64_t want = st.pongs + 1;

		if (kind == 0)
			xp_get(x, 1, buf, remote, CVMM_PAGE_SIZE);
		else if (kind == 1)
			xp_put(x, 1, buf, remote, CVMM_PAGE_SIZE), xp_flush(x, 1);
		else if (kind == 2)
			xp_am_send(x, 1, ST_AM_PING, buf, 64),
				st_wait(&st.pongs, want);
		else if (kind == 4)
			xp_am_send(x, 1, ST_AM_PING4K, buf, 64),
				st_wait(&st.pongs, want);
		else
			xp_fadd64(x, 1, st_remote(st.words + 8), 1, &old);
		if (i >= 0)
			t[i] = ((double)cvmm_now_ns() / 1e3) - t0;
	}
	qsort(t, BENCH_N, sizeof(t[0]), cmp_double);
	return t[BENCH_N / 2];
}

/* us rounded to two decimals, as the bench results keep them. */
static double st_us2(double us)
{
	return round(us * 100) / 100;
}

static int st_bench(xp_t *x)
{
	char lanes[128];

	if (st.size < 2) {
		log_error("--selftest=bench needs at least 2 agents");
		return 1;
	}
	if (st.rank == 0) {
		xp_describe(x, 1, lanes, sizeof(lanes));
		json_t *doc = json_pack("{s:f, s:f, s:f, s:f, s:f, s:o}",
			"xp_get_4k_us", st_us2(st_median(x, 0)),
			"xp_put_4k_us", st_us2(st_median(x, 1)),
			"xp_am_64_rtt_us", st_us2(st_median(x, 2)),
			"xp_am_4k_rtt_us", st_us2(st_median(x, 4)),
			"xp_fadd_us", st_us2(st_median(x, 3)),
			"xp_lanes", jdoc_str(lanes));

		/* one line: bench/run.py reads the last line */
		jdoc_write(doc, stdout, JDOC_LINE);
		json_decref(doc);
		fflush(stdout);
	}
	return st_barrier() ? 1 : 0;
}

int node_selftest(gmem_t *gm, const char *mode)
{
	xp_t *x = node_xp();
	char why[160] = "", line[256], lanes[128] = "-";

	st.rank = node_rank();
	st.size = node_size();
	if (st_setup(gm) != 0 ||
	    xp_am_register(x, ST_AM_SEQ, st_on_seq, NULL) != CVMM_OK ||
	    xp_am_register(x, ST_AM_BIG, st_on_big, NULL) != CVMM_OK ||
	    xp_am_register(x, ST_AM_PING, st_on_ping, NULL) != CVMM_OK ||
	    xp_am_register(x, ST_AM_PING4K, st_on_ping4k, NULL) != CVMM_OK ||
	    xp_am_register(x, ST_AM_PONG, st_on_pong, NULL) != CVMM_OK ||
	    st_barrier() != 0) {
		log_error("selftest: setup failed");
		return 1;
	}
	if (strcmp(mode, "bench") == 0)
		return st_bench(x);
	if (st.size > 1)
		xp_describe(x, (st.rank + 1) % st.size, lanes, sizeof(lanes));
	if (st_run_checks(x, why, sizeof(why)) == 0)
		snprintf(line, sizeof(line),
			 "node %d: connected to %d peers over %s; get/put %d "
			 "pages, %d atomics, %d ordered, zero-length and 4 MiB "
			 "messages per peer: ok",
			 st.rank, st.size - 1, lanes, 2 * ST_PAGES, ST_ADDS,
			 ST_MSGS);
	else
		snprintf(line, sizeof(line), "node %d: FAILED: %s", st.rank,
			 why);
	return st_report(line);
}
