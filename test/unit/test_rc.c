/* The release memory model's protocol (coherence/rc.c) over a loopback:
 * 2 to 4 in-process nodes whose messages are delivered in random order
 * (no order kept even between two nodes), each message encoded and decoded
 * on the way. A data-race-free random program runs for thousands of
 * seeds: in every round each 64-byte line of every page belongs to one
 * node (or to nobody: read-only this round); nodes write their lines and
 * read theirs and the read-only ones, release and acquire at random, have
 * clean copies expire (staleness), do atomics that turn pages into
 * synchronization pages; a barrier (every node releases, waits for its
 * acks, then acquires) ends a round. Checked: every read returns the value
 * last written (happens-before is the barrier order in this program), a
 * page turned synchronization page has every write at its home when the
 * last node flushed, and no race is reported. Then: a racy program is
 * reported (two nodes, and the home's own writes), malformed messages are
 * refused, a lying peer gets CVMM_ERR_PEER, a hand-over the membership
 * protocol would never make is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/diff.h"
#include "coherence/rc.h"

#define MAXN 4
#define NPAGES 5
#define LINES 64 /* 64-byte lines per page */
#define PG 4096
#define QCAP 4096
#define NOBODY 255

typedef struct qmsg {
	uint32_t dst;
	size_t len;
	uint8_t *buf; /* encoded */
	bool frames;  /* a batch (ops->send_many): frames back to back */
} qmsg_t;

static bool batch_mode; /* world_init_cfg: the nodes send batches */
/* t_protect: calls, failed calls, pages protected in runs of 2 or more */
static unsigned long n_protects, n_protect_fails, n_protect_runs;
static unsigned long n_unprotects; /* t_unprotect's calls */

static struct {
	unsigned nn;
	rc_node_t *node[MAXN];
	uint32_t id[MAXN];
	uint8_t mem[MAXN][NPAGES][PG];
	uint8_t mapped[MAXN][NPAGES]; /* 0, 1 read-only, 2 writable */
	uint8_t sc[NPAGES][PG];       /* sync pages: the sequential store */
	bool sc_on[NPAGES];
	uint8_t expect[NPAGES][PG];
	uint8_t owner[NPAGES][LINES];
	qmsg_t q[QCAP];
	unsigned qlen;
	unsigned races;
	unsigned updates;              /* write notices applied in place */
	rc_race_t last_race;
	bool ivy;                      /* ivy_first: pages start RC_SC */
	uint8_t promoted[NPAGES];      /* handed over at node - 1 (0: not) */
	uint8_t applied[NPAGES];       /* nodes that applied diffs (bits) */
	uint8_t seeded[NPAGES];        /* nodes told the sync owner (bits) */
	uint8_t seed_owner[NPAGES];
	uint8_t was_home[NPAGES];      /* went back to sequential first from
					  home node - 1 (0: never) */
	uint8_t went_back_at[NPAGES];  /* the nodes in the VM then (bits) */
	uint8_t role[MAXN];            /* the node playing each manager role */
	unsigned gone;                 /* nodes out of the VM (bits) */
	bool taking;                   /* an heir takes the leaver's homes */
	uint64_t rng, seed;
} W;

static unsigned rnd(unsigned k)
{
	W.rng ^= W.rng << 13;
	W.rng ^= W.rng >> 7;
	W.rng ^= W.rng << 17;
	return (unsigned)(W.rng % k);
}

/* The page's manager: the node playing its role (a leave moves roles). */
static uint32_t home_of(void *ctx, uint64_t page)
{
	(void)ctx;
	return W.role[(page * 3 + 1) % W.nn];
}

static bool in_vm(unsigned n)
{
	return !(W.gone >> n & 1);
}

static unsigned self_of(void *ctx)
{
	return *(uint32_t *)ctx;
}

static cvmm_status_t t_send(void *ctx, uint32_t dst, const rc_msg_t *m,
			    const void *data, size_t len)
{
	unsigned s = self_of(ctx);
	qmsg_t *q;

	assert_true(W.qlen < QCAP);
	assert_true(dst < W.nn && dst != s);
	assert_true(in_vm(dst) && in_vm(s)); /* nothing to or from the gone */
	if (m->type == RC_MSG_PAGE && (m->flags & RC_F_PAGE)) {
		assert_null(data);
		data = W.mem[s][m->page];
		len = PG;
	}
	q = &W.q[W.qlen++];
	q->dst = dst;
	q->frames = false;
	q->len = RC_WIRE_LEN + len;
	q->buf = malloc(q->len);
	assert_non_null(q->buf);
	rc_wire_encode(m, q->buf);
	if (len)
		memcpy(q->buf + RC_WIRE_LEN, data, len);
	return CVMM_OK;
}

/* A batch: one queue entry of frames (rc_frame_next), as coh.c sends. */
static cvmm_status_t t_send_many(void *ctx, uint32_t dst, const rc_msg_t *m,
				 const void *const *data, const size_t *len,
				 unsigned k)
{
	unsigned s = self_of(ctx);
	size_t need = 0, off = 0;
	qmsg_t *q;

	assert_true(W.qlen < QCAP);
	assert_true(k > 0 && dst < W.nn && dst != s);
	assert_true(in_vm(dst) && in_vm(s));
	for (unsigned i = 0; i < k; i++)
		need += RC_FRAME_HDR + RC_WIRE_LEN +
			(m[i].type == RC_MSG_PAGE && (m[i].flags & RC_F_PAGE)
				 ? PG
				 : len[i]);
	q = &W.q[W.qlen++];
	q->dst = dst;
	q->len = need;
	q->frames = true;
	q->buf = malloc(need);
	assert_non_null(q->buf);
	for (unsigned i = 0; i < k; i++) {
		bool page = m[i].type == RC_MSG_PAGE &&
			    (m[i].flags & RC_F_PAGE);
		const void *d = page ? W.mem[s][m[i].page] : data[i];
		size_t l = page ? PG : len[i];

		rc_frame_put(q->buf + off, RC_WIRE_LEN + l);
		rc_wire_encode(&m[i], q->buf + off + RC_FRAME_HDR);
		if (l)
			memcpy(q->buf + off + RC_FRAME_HDR + RC_WIRE_LEN, d, l);
		off += RC_FRAME_HDR + RC_WIRE_LEN + l;
	}
	return CVMM_OK;
}

static cvmm_status_t t_map(void *ctx, uint64_t page, bool writable)
{
	W.mapped[self_of(ctx)][page] = writable ? 2 : 1;
	return CVMM_OK;
}

/* ops_batch write-protects a release's pages in runs (rc_ops_t.protect):
 * each mapped writable; every 5th call fails and changes nothing, so
 * that the release protects those pages one by one. */
static cvmm_status_t t_protect(void *ctx, uint64_t first, uint64_t count)
{
	if (++n_protects % 5 == 0) {
		n_protect_fails++;
		return CVMM_ERR_IO;
	}
	for (uint64_t q = first; q < first + count; q++) {
		assert_int_equal(W.mapped[self_of(ctx)][q], 2);
		W.mapped[self_of(ctx)][q] = 1;
	}
	n_protect_runs += count > 1;
	return CVMM_OK;
}

/* ops_batch: pages mapped read-only become writable in runs
 * (rc_ops_t.unprotect); every 7th call fails and changes nothing. */
static cvmm_status_t t_unprotect(void *ctx, uint64_t first, uint64_t count)
{
	if (++n_unprotects % 7 == 0)
		return CVMM_ERR_IO;
	for (uint64_t q = first; q < first + count; q++) {
		assert_int_equal(W.mapped[self_of(ctx)][q], 1);
		W.mapped[self_of(ctx)][q] = 2;
	}
	return CVMM_OK;
}

static cvmm_status_t t_unmap(void *ctx, uint64_t page)
{
	W.mapped[self_of(ctx)][page] = 0;
	return CVMM_OK;
}

static void t_read(void *ctx, uint64_t page, void *buf)
{
	memcpy(buf, W.mem[self_of(ctx)][page], PG);
}

static cvmm_status_t t_put(void *ctx, uint64_t page, const void *data)
{
	if (data)
		memcpy(W.mem[self_of(ctx)][page], data, PG);
	else
		memset(W.mem[self_of(ctx)][page], 0, PG);
	return CVMM_OK;
}

static cvmm_status_t t_apply(void *ctx, uint64_t page, const uint8_t *d,
			     size_t len)
{
	if (!W.ivy && !W.taking) /* else homed where handed over */
		assert_int_equal(home_of(NULL, page), self_of(ctx));
	W.applied[page] |= (uint8_t)(1u << self_of(ctx));
	return diff_apply(W.mem[self_of(ctx)][page], d, len);
}

/* A write notice's diff applied to a mapped copy. */
static cvmm_status_t t_update(void *ctx, uint64_t page, const uint8_t *d,
			      size_t len)
{
	assert_int_not_equal(W.mapped[self_of(ctx)][page], 0);
	W.updates++;
	return diff_apply(W.mem[self_of(ctx)][page], d, len);
}

static bool t_is_zero(void *ctx, uint64_t page)
{
	const uint8_t *p = W.mem[self_of(ctx)][page];

	for (unsigned i = 0; i < PG; i++)
		if (p[i])
			return false;
	return true;
}

static void t_notify(void *ctx, uint64_t page)
{
	(void)ctx;
	(void)page;
}

static void t_race(void *ctx, const rc_race_t *r)
{
	(void)ctx;
	W.races++;
	W.last_race = *r;

}

/* Only the home and the manager hear of the sync page's owner, both the
 * same one; a page going back to sequential first (writer < nodes) goes
 * back for a node other than its home. */
static cvmm_status_t t_sync_owner(void *ctx, uint64_t page, uint32_t owner,
				  uint32_t writer)
{
	unsigned s = self_of(ctx);

	assert_true(s == owner || s == home_of(NULL, page));
	if (writer != RC_NOHOME) {
		assert_true(writer < W.nn && writer != owner);
		return CVMM_OK;
	}
	if (W.seeded[page])
		assert_int_equal(W.seed_owner[page], owner);
	W.seeded[page] |= (uint8_t)(1u << s);
	W.seed_owner[page] = (uint8_t)owner;
	return CVMM_OK;
}

static const rc_ops_t ops = {
	.send = t_send, .map = t_map, .unmap = t_unmap, .read = t_read,
	.put = t_put, .apply = t_apply, .update = t_update,
	.is_zero = t_is_zero,
	.notify = t_notify, .race = t_race, .sync_owner = t_sync_owner,
};

static const rc_ops_t ops_batch = {
	.send = t_send, .send_many = t_send_many, .map = t_map,
	.protect = t_protect, .unprotect = t_unprotect, .unmap = t_unmap,
	.read = t_read,
	.put = t_put, .apply = t_apply, .update = t_update,
	.is_zero = t_is_zero,
	.notify = t_notify, .race = t_race, .sync_owner = t_sync_owner,
};

/* The page's home as its manager knows it: the manager itself, or where
 * the page was handed over (ivy_first). */
static uint32_t home_now(unsigned pg)
{
	return rc_page_home(W.node[home_of(NULL, pg)], pg);
}

/* Pages promoted go back to sequential first after 1 or 2 diffs from
 * one node alone, or never (ivy_first only: there is no going back
 * without the sequential protocol). */
static unsigned demote_of(uint64_t seed, bool ivy_first)
{
	return ivy_first ? (unsigned)(seed / 3 % 3) : 0;
}

static void world_init_cfg(unsigned nn, uint64_t seed, bool ivy_first)
{
	for (unsigned i = 0; i < W.qlen; i++)
		free(W.q[i].buf);
	memset(&W, 0, sizeof(W));
	W.nn = nn;
	W.ivy = ivy_first;
	for (unsigned pg = 0; ivy_first && pg < NPAGES; pg++)
		W.sc_on[pg] = true; /* the sequential protocol's, at first */
	W.seed = seed;
	W.rng = seed * 2654435761u + 88172645463325252ull;
	for (unsigned i = 0; i < nn; i++) {
		/* twins ahead: off, one page, or past the last page */
		rc_cfg_t c = {.self = i, .nnodes = nn, .npages = NPAGES,
			      .manager = home_of, .ivy_first = ivy_first,
			      .twin_ahead = (unsigned[]){ 0, 1, 16 }[seed % 3],
			      .demote_after = demote_of(seed, ivy_first),
			      .ops = batch_mode ? &ops_batch : &ops,
			      .ctx = &W.id[i]};

		W.id[i] = i;
		W.role[i] = (uint8_t)i;
		assert_int_equal(rc_node_create(&c, &W.node[i]), CVMM_OK);
	}
}

static void world_init(unsigned nn, uint64_t seed)
{
	world_init_cfg(nn, seed, false);
}

static void world_free(void)
{
	for (unsigned i = 0; i < W.nn; i++)
		rc_node_destroy(W.node[i]);
	for (unsigned i = 0; i < W.qlen; i++)
		free(W.q[i].buf);
	W.qlen = 0;
	W.nn = 0;
}

static unsigned long n_demoted; /* the random test */

/* The home turned the page into a sync page, or gave it back to the
 * sequential protocol (demote_after): everything written to it so far
 * must be in the home's copy now; from here on it is sequentially
 * consistent (the Ivy protocol's part, stood in for by one store), until
 * promoted again. */
static void check_sync_switch(void)
{
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		uint32_t h = W.promoted[pg] - 1u;

		if (W.sc_on[pg] || !W.promoted[pg] ||
		    rc_page_class(W.node[h], pg) != RC_SC)
			continue;
		assert_memory_equal(W.mem[h][pg], W.expect[pg], PG);
		memcpy(W.sc[pg], W.mem[h][pg], PG);
		W.sc_on[pg] = true;
		W.promoted[pg] = 0;
		W.was_home[pg] = (uint8_t)(h + 1);
		W.went_back_at[pg] = (uint8_t)(((1u << W.nn) - 1) & ~W.gone);
		W.applied[pg] = 0; /* diffs go to the next home */
		n_demoted++;
	}
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		uint32_t h = home_now(pg);

		if (W.sc_on[pg] || h == RC_NOHOME ||
		    rc_page_class(W.node[h], pg) != RC_SYNC)
			continue;
		/* the sequential protocol heard of its owner at the home,
		 * and at the manager before anyone else could ask */
		assert_true(W.seeded[pg] >> h & 1);
		assert_int_equal(W.seed_owner[pg], h);
		assert_memory_equal(W.mem[h][pg], W.expect[pg], PG);
		memcpy(W.sc[pg], W.mem[h][pg], PG);
		W.sc_on[pg] = true;
	}
}

/* Decodes q, hands it to its node, frees it. */
static void deliver_msg(qmsg_t q)
{
	rc_msg_t m;
	const void *data;
	size_t dlen;
	char why[64];

	if (q.frames) { /* every frame, in order, in one rc_recv_many */
		rc_msg_t *mv = calloc(q.len / RC_FRAME_HDR, sizeof(*mv));
		const void **dv = calloc(q.len / RC_FRAME_HDR, sizeof(*dv));
		size_t *lv = calloc(q.len / RC_FRAME_HDR, sizeof(*lv));
		size_t off = 0, fl, ml;
		const void *msg;
		unsigned k = 0;

		assert_true(mv && dv && lv);
		while (off < q.len) {
			fl = rc_frame_next(q.buf + off, q.len - off, &msg, &ml);
			assert_true(fl > 0);
			assert_int_equal(rc_wire_decode(msg, ml, W.nn, NPAGES,
							&mv[k], &dv[k], &lv[k],
							why, sizeof(why)),
					 CVMM_OK);
			k++;
			off += fl;
		}
		assert_int_equal(rc_recv_many(W.node[q.dst], mv, dv, lv, k),
				 CVMM_OK);
		free(mv);
		free(dv);
		free(lv);
		free(q.buf);
		check_sync_switch();
		return;
	}
	assert_int_equal(rc_wire_decode(q.buf, q.len, W.nn, NPAGES, &m, &data,
					&dlen, why, sizeof(why)),
			 CVMM_OK);
	assert_int_equal(rc_recv(W.node[q.dst], &m, data, dlen), CVMM_OK);
	free(q.buf);
	check_sync_switch();
}

/* Delivers one message at random; false when none is in flight. */
static bool deliver_one(void)
{
	qmsg_t q;

	if (W.qlen == 0)
		return false;
	unsigned i = rnd(W.qlen);

	q = W.q[i];
	W.q[i] = W.q[--W.qlen];
	deliver_msg(q);
	return true;
}

static unsigned long n_promoted, n_promoted_sync; /* the random test */
static unsigned long n_ahead; /* the random test's fetches ahead */
static unsigned long n_twins_ahead; /* and twins taken ahead of a write */
/* the random test: notices applied in place, and copies they dropped */
static unsigned long n_updates, n_dropped;

/* A page the sequential protocol handed over while node n still takes
 * it for its own: n's next request would be refused, naming the home. */
static void learn_promoted(unsigned n, unsigned pg)
{
	/* (a node that joined after the page became a sync page is served
	 * by the sequential protocol: nothing refuses it) */
	if (W.promoted[pg] && !W.sc_on[pg] &&
	    rc_page_class(W.node[n], pg) == RC_SC)
		assert_int_equal(rc_to_data(W.node[n], pg,
					    W.promoted[pg] - 1u), CVMM_OK);
	/* a refusal from before the page went back, arriving late, names
	 * the old home: no effect (a node that joined since asked nothing
	 * before) */
	if (W.was_home[pg] && W.sc_on[pg] && (W.went_back_at[pg] >> n & 1) &&
	    rnd(4) == 0 &&
	    rc_page_class(W.node[n], pg) == RC_SC) {
		assert_int_equal(rc_to_data(W.node[n], pg,
					    W.was_home[pg] - 1u), CVMM_OK);
		assert_int_equal(rc_page_class(W.node[n], pg), RC_SC);
	}
}

/* The sequential protocol hands page pg over at node h (it owns the page,
 * nobody else has a copy): h's copy is the store's, mapped writable; the
 * manager hears next; the others when they ask (learn_promoted). */
static void promote(unsigned pg, unsigned h)
{
	for (unsigned n = 0; n < W.nn; n++)
		if (in_vm(n) && rc_page_class(W.node[n], pg) != RC_SC)
			return; /* handed over once only */
	/* the sequential protocol promotes a page given back at the node
	 * that wrote it alone, never at the home that gave it back */
	if (W.was_home[pg] == h + 1)
		return;
	memcpy(W.mem[h][pg], W.sc[pg], PG);
	W.mapped[h][pg] = 2;
	W.sc_on[pg] = false;
	W.promoted[pg] = (uint8_t)(h + 1);
	n_promoted++;
	assert_int_equal(rc_to_data(W.node[h], pg, h), CVMM_OK);
	learn_promoted(home_of(NULL, pg), pg);
}

/* Node n accesses page pg: faults until the access may proceed. Returns
 * true for a synchronization page (access W.sc), false for its copy. */
static bool access_page(unsigned n, unsigned pg, bool write)
{
	learn_promoted(n, pg);
	for (unsigned tries = 0;; tries++) {
		rc_fault_kind_t k;

		if (tries >= 100000) {
			char d[200];
			rc_describe(W.node[n], pg, d, sizeof(d));
			fail_msg("seed %llu nn %u ivy %d gone %x node %u page %u write %d mapped %u: %s", (unsigned long long)W.seed, W.nn, W.ivy, W.gone, n, pg, write, W.mapped[n][pg], d);
		}
		if (W.sc_on[pg] && (rc_page_class(W.node[n], pg) == RC_SYNC ||
				    rc_page_class(W.node[n], pg) == RC_SC))
			return true;
		if (W.mapped[n][pg] >= (write ? 2 : 1))
			return false;
		assert_int_equal(rc_fault(W.node[n], pg, write, false, &k),
				 CVMM_OK);
		if (k == RC_IVY) {
			if (!W.sc_on[pg]) {
				char d[200];

				rc_describe(W.node[n], pg, d, sizeof(d));
				fail_msg("seed %llu nn %u gone %x node %u page "
					 "%u promoted %u was_home %u: %s",
					 (unsigned long long)W.seed, W.nn,
					 W.gone, n, pg, W.promoted[pg],
					 W.was_home[pg], d);
			}
			return true;
		}
		if (k == RC_WAIT)
			assert_true(deliver_one());
	}
}

static void do_write(unsigned n, unsigned pg, unsigned b, uint8_t v)
{
	if (access_page(n, pg, true))
		W.sc[pg][b] = v;
	else
		W.mem[n][pg][b] = v;
	W.expect[pg][b] = v;
}

static void do_read(unsigned n, unsigned pg, unsigned b)
{
	uint8_t v = access_page(n, pg, false) ? W.sc[pg][b] : W.mem[n][pg][b];

	if (v != W.expect[pg][b])
		fail_msg("seed %llu, %u nodes: node %u page %u byte %u: read "
			 "%u, expected %u", (unsigned long long)W.seed, W.nn, n,
			 pg, b, v, W.expect[pg][b]);
}

/* An atomic write: only when it would fault (the page is not writable
 * here: an atomic to a writable copy goes unseen, rc.h). */
static void do_atomic(unsigned n, unsigned pg)
{
	rc_fault_kind_t k;

	if (W.mapped[n][pg] == 2)
		return;
	learn_promoted(n, pg);
	for (unsigned tries = 0;; tries++) {
		assert_true(tries < 100000);
		assert_int_equal(rc_fault(W.node[n], pg, true, true, &k),
				 CVMM_OK);
		if (k == RC_IVY)
			break;
		assert_int_equal(k, RC_WAIT);
		if (!deliver_one())
			assert_int_equal(rc_page_class(W.node[n], pg), RC_SYNC);
	}
	assert_true(W.sc_on[pg]);
	W.sc[pg][0]++;
	W.expect[pg][0]++;
}

static void release_wait(unsigned n)
{
	uint64_t t;

	assert_int_equal(rc_release(W.node[n], &t), CVMM_OK);
	while (!rc_released(W.node[n], t))
		assert_true(deliver_one());
}

static void barrier(void)
{
	for (unsigned n = 0; n < W.nn; n++)
		if (in_vm(n))
			release_wait(n);
	for (unsigned n = 0; n < W.nn; n++)
		if (in_vm(n))
			assert_int_equal(rc_acquire(W.node[n], true), CVMM_OK);
}

/* Lines this round: each a node's, or nobody's (read by all). */
static void deal_lines(void)
{
	for (unsigned pg = 0; pg < NPAGES; pg++)
		for (unsigned l = 0; l < LINES; l++)
			W.owner[pg][l] = rnd(4) == 0 ? NOBODY : rnd(W.nn);
	for (unsigned pg = 0; pg < NPAGES; pg++) /* nothing for the gone */
		for (unsigned l = 0; l < LINES; l++)
			if (W.owner[pg][l] != NOBODY && !in_vm(W.owner[pg][l]))
				W.owner[pg][l] = NOBODY;
}

static void step(unsigned n)
{
	if (!in_vm(n))
		return;
	unsigned pg = rnd(NPAGES), l = rnd(LINES), b = l * 64 + rnd(64);
	unsigned op = rnd(100);

	if (op < 40) {
		if (W.owner[pg][l] == n)
			do_write(n, pg, b, (uint8_t)(1 + rnd(255)));
	} else if (op < 85) {
		if (W.owner[pg][l] == n || W.owner[pg][l] == NOBODY)
			do_read(n, pg, b);
	} else if (op < 90) {
		uint64_t t;

		assert_int_equal(rc_release(W.node[n], &t), CVMM_OK);
	} else if (op < 94) {
		assert_int_equal(rc_acquire(W.node[n], true), CVMM_OK);
	} else if (op < 97) {
		assert_int_equal(rc_tick(W.node[n]), CVMM_OK);
	} else if (op < 98 && rnd(4) == 0) {
		do_atomic(n, pg);
	} else if (op >= 98 && W.ivy && rnd(2)) {
		promote(pg, n);
	} else if (rnd(3) == 0) {
		/* a fetch-ahead of a few pages, at any point */
		uint64_t ahead[3] = {rnd(NPAGES), rnd(NPAGES), rnd(NPAGES)};

		assert_int_equal(rc_fetch_ahead(W.node[n], ahead, 1 + rnd(3)),
				 CVMM_OK);
	} else {
		for (unsigned k = rnd(4); k > 0; k--)
			deliver_one();
	}
}

/* Bits of b with bit k moved to bit h. */
static unsigned move_bit(unsigned b, unsigned k, unsigned h)
{
	return b >> k & 1 ? (b & ~(1u << k)) | 1u << h : b;
}

static unsigned long n_left, n_joined, n_taken, n_merged;

/* Node k leaves at a quiet point (docs/coherence.md, "The release model
 * and membership"): every message delivered, k's own release complete,
 * the pages homed at k to its heir, every other node departs k. */
static void leave(unsigned k)
{
	unsigned h = k;
	rc_home_rec_t *v;
	size_t cnt;
	char why[64];

	do
		h = (h + 1) % W.nn;
	while (!in_vm(h));
	while (deliver_one())
		;
	release_wait(k);
	while (deliver_one())
		;
	for (unsigned n = 0; n < W.nn; n++)
		assert_false(in_vm(n) && rc_busy(W.node[n], why, sizeof(why)));
	assert_int_equal(rc_home_records(W.node[k], &v, &cnt), CVMM_OK);
	W.taking = true; /* the heir, not yet its roles' node, applies */
	for (size_t i = 0; i < cnt; i++) {
		/* the heir's own writes not yet released stay */
		n_merged += W.mapped[h][v[i].page] == 2;
		assert_int_equal(rc_take_home(W.node[h], k, &v[i],
					      W.mem[k][v[i].page]),
				 CVMM_OK);
		n_taken++;
	}
	W.taking = false;
	free(v);
	for (unsigned n = 0; n < W.nn; n++)
		if (n != k && in_vm(n))
			assert_int_equal(rc_depart(W.node[n], k, h), CVMM_OK);
	memset(W.was_home, 0, sizeof(W.was_home)); /* (rc_depart) */
	for (unsigned r = 0; r < W.nn; r++)
		if (W.role[r] == k)
			W.role[r] = (uint8_t)h;
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		/* the sequential protocol's records move likewise */
		if (W.promoted[pg] == k + 1)
			W.promoted[pg] = (uint8_t)(h + 1);
		W.seeded[pg] = (uint8_t)move_bit(W.seeded[pg], k, h);
		if (W.seed_owner[pg] == k)
			W.seed_owner[pg] = (uint8_t)h;
		W.applied[pg] = (uint8_t)move_bit(W.applied[pg], k, h);
		W.mapped[k][pg] = 0;
	}
	W.gone |= 1u << k;
	n_left++;
}

/* A new node joins slot k: a fresh agent, no record, its memory empty;
 * every node in lets broadcasts reach it again. */
static void join(unsigned k)
{
	unsigned members = ((1u << W.nn) - 1) & ~W.gone;
	rc_cfg_t c = {.self = k, .nnodes = W.nn, .npages = NPAGES,
		      .manager = home_of, .ivy_first = W.ivy,
		      .twin_ahead = (unsigned[]){ 0, 1, 16 }[W.seed % 3],
		      .demote_after = demote_of(W.seed, W.ivy),
		      .members = members | 1u << k, .ops = &ops,
		      .ctx = &W.id[k]};

	while (deliver_one())
		;
	rc_node_destroy(W.node[k]);
	memset(W.mem[k], 0x5a, sizeof(W.mem[k])); /* nothing of the old one */
	assert_int_equal(rc_node_create(&c, &W.node[k]), CVMM_OK);
	for (unsigned n = 0; n < W.nn; n++)
		if (in_vm(n))
			assert_int_equal(rc_join(W.node[n], k), CVMM_OK);
	W.gone &= ~(1u << k);
	for (unsigned pg = 0; pg < NPAGES; pg++)
		W.went_back_at[pg] &= (uint8_t)~(1u << k);
	n_joined++;
}

/* elastic: 0 nothing; 1 a node (not 0) leaves at a random step; 2 and
 * then joins back into its slot a while later (ivy_first only: a joiner
 * learns which pages are sync pages from the sequential protocol). */
static void run_program_el(unsigned nn, uint64_t seed, bool ivy,
			   unsigned rounds, unsigned steps, int elastic)
{
	unsigned at_leave = UINT32_MAX, at_join = UINT32_MAX, k = 0;

	world_init_cfg(nn, seed, ivy);
	if (elastic) {
		k = 1 + rnd(nn - 1);
		at_leave = rnd(rounds * steps);
		if (elastic > 1)
			at_join = at_leave + 1 + rnd(rounds * steps - at_leave);
	}
	for (unsigned r = 0; r < rounds; r++) {
		deal_lines();
		for (unsigned s = 0; s < steps; s++) {
			unsigned t = r * steps + s;

			if (t == at_leave)
				leave(k);
			if (t == at_join)
				join(k);
			step(rnd(nn));
		}
		barrier();
	}
	/* after the last barrier every node reads every byte right */
	for (unsigned n = 0; n < nn; n++)
		if (in_vm(n))
		for (unsigned pg = 0; pg < NPAGES; pg++)
			for (unsigned b = 0; b < PG; b += 61)
				do_read(n, pg, b);
	while (deliver_one())
		;
	assert_int_equal(W.races, 0);
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		/* diffs landed at one node only: the page's one home */
		uint32_t h = home_now(pg);

		if (W.applied[pg])
			assert_int_equal(W.applied[pg], 1u << h);
		if (W.promoted[pg] && W.sc_on[pg])
			n_promoted_sync++;
		if (W.sc_on[pg] && W.ivy && h != RC_NOHOME &&
		    h != home_of(NULL, pg))
			assert_int_equal(W.seeded[pg],
					 1u << h | 1u << home_of(NULL, pg));
	}
	n_updates += W.updates;
	for (unsigned n = 0; n < nn; n++) {
		rc_stats_t s;

		if (!in_vm(n))
			continue;
		rc_get_stats(W.node[n], &s);
		n_dropped += s.invalidated;
		n_ahead += s.fetches_ahead;
		n_twins_ahead += s.twins_ahead;
	}
	world_free();
}

static void run_program(unsigned nn, uint64_t seed, bool ivy,
			unsigned rounds, unsigned steps)
{
	run_program_el(nn, seed, ivy, rounds, steps, 0);
}

static void test_random_drf(void **state)
{
	(void)state;
	n_updates = n_dropped = n_ahead = n_twins_ahead = 0;
	for (uint64_t seed = 1; seed <= 3000; seed++)
		run_program(2 + seed % 3, seed, false, 4, 120);
	/* both answers to a notice with its diff were taken, many times;
	 * copies came ahead of their reads and twins ahead of their writes
	 * at any point */
	printf("notices applied in place: %lu, copies dropped: %lu, "
	       "fetched ahead: %lu, twinned ahead: %lu\n",
	       n_updates, n_dropped, n_ahead, n_twins_ahead);
	assert_true(n_updates > 1000 && n_dropped > 1000 && n_ahead > 1000 &&
		    n_twins_ahead > 1000);
}

/* The same with every step's messages to a node sent as one batch
 * (ops->send_many) and taken in one rc_recv_many: batches travel in any
 * order, like single messages. */
static void test_random_drf_batched(void **state)
{
	(void)state;
	batch_mode = true;
	n_protects = n_protect_fails = n_protect_runs = n_unprotects = 0;
	for (uint64_t seed = 1; seed <= 1500; seed++)
		run_program(2 + seed % 3, seed, seed % 2, 4, 120);
	batch_mode = false;
	/* releases write-protected runs of pages in one call, and fell
	 * back to one page at a time when a call failed */
	printf("write-protect calls: %lu (%lu failed, %lu of 2 pages or "
	       "more); calls making twinned-ahead pages writable: %lu\n",
	       n_protects, n_protect_fails, n_protect_runs, n_unprotects);
	assert_true(n_protect_runs > 100 && n_protect_fails > 100 &&
		    n_unprotects > 100);
}

/* Frames: a truncated header or message, a message shorter than a
 * header or longer than the largest, are no frame. */
static void test_frames(void **state)
{
	uint8_t buf[RC_FRAME_HDR + RC_FRAME_MAX + 8] = { 0 };
	const void *msg;
	size_t ml;

	(void)state;
	rc_frame_put(buf, RC_WIRE_LEN);
	assert_int_equal(rc_frame_next(buf, RC_FRAME_HDR + RC_WIRE_LEN, &msg,
				       &ml),
			 RC_FRAME_HDR + RC_WIRE_LEN);
	assert_ptr_equal(msg, buf + RC_FRAME_HDR);
	assert_int_equal(ml, RC_WIRE_LEN);
	assert_int_equal(rc_frame_next(buf, RC_FRAME_HDR + RC_WIRE_LEN - 1,
				       &msg, &ml), 0);
	assert_int_equal(rc_frame_next(buf, 3, &msg, &ml), 0);
	assert_int_equal(rc_frame_next(NULL, 100, &msg, &ml), 0);
	rc_frame_put(buf, RC_WIRE_LEN - 1);
	assert_int_equal(rc_frame_next(buf, sizeof(buf), &msg, &ml), 0);
	rc_frame_put(buf, RC_FRAME_MAX + 1);
	assert_int_equal(rc_frame_next(buf, sizeof(buf), &msg, &ml), 0);
	rc_frame_put(buf, RC_FRAME_MAX);
	assert_int_equal(rc_frame_next(buf, sizeof(buf), &msg, &ml),
			 RC_FRAME_HDR + RC_FRAME_MAX);
	rc_frame_put(buf, 0xffffffffu);
	assert_int_equal(rc_frame_next(buf, sizeof(buf), &msg, &ml), 0);
}

/* The same with pages that start sequentially consistent (ivy_first),
 * handed over to this protocol at random points by whichever node then
 * owns them, the others learning it when they next ask. */
static void test_random_drf_ivy_first(void **state)
{
	(void)state;
	n_demoted = 0;
	for (uint64_t seed = 1; seed <= 3000; seed++)
		run_program(2 + seed % 3, seed, true, 4, 120);
	printf("pages handed over: %lu, made sync pages after: %lu, given "
	       "back: %lu\n", n_promoted, n_promoted_sync, n_demoted);
	assert_true(n_promoted > 1000 && n_promoted_sync > 100 &&
		    n_demoted > 100);
}

/* Nodes leave and join at quiet points in the middle of the random
 * programs (3 or 4 nodes; a node other than 0 leaves, its heir is the
 * next one in; with ivy_first it joins back into its slot as a new,
 * empty node later): every read still right, nothing sent to a node out
 * of the VM, diffs at one home at a time. */
static void test_random_elastic(void **state)
{
	(void)state;
	n_left = n_joined = n_taken = n_merged = 0;
	for (uint64_t seed = 1; seed <= 1500; seed++) {
		run_program_el(3 + seed % 2, seed, false, 4, 120, 1);
		run_program_el(3 + seed % 2, seed, true, 4, 120,
			       1 + (int)(seed % 2));
	}
	printf("left: %lu, joined: %lu, homes taken: %lu (the heir's copy "
	       "dirty: %lu)\n", n_left, n_joined, n_taken, n_merged);
	assert_true(n_left == 3000 && n_joined > 700);
	assert_true(n_taken > 1000 && n_merged > 50);
}

static void test_counts(void **state)
{
	rc_stats_t s;

	(void)state;
	world_init(2, 7);
	/* page 0's home is node 1 (home_of); node 0 writes it */
	do_write(0, 0, 10, 5);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.fetches, 1);
	assert_int_equal(s.zero_fetches, 1);
	assert_int_equal(s.twins, 1);
	assert_int_equal(rc_page_state(W.node[0], 0), RC_RW);
	release_wait(0);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.diffs_sent, 1);
	assert_int_equal(s.diff_bytes, 4 + 1);
	assert_int_equal(rc_page_state(W.node[0], 0), RC_RO);
	assert_int_equal(W.mem[1][0][10], 5);
	/* a release with nothing dirty sends nothing */
	release_wait(0);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.diffs_sent, 1);
	/* the home writes: at its release node 0's copy gets a write notice
	 * with the diff and is updated in place (its copy had every earlier
	 * version: its own diff's came with the DIFF_ACK); nothing fetched */
	do_write(1, 0, 11, 6);
	assert_int_equal(W.mapped[0][0], 1);
	release_wait(1);
	assert_int_equal(W.mapped[0][0], 1);
	assert_int_equal(W.updates, 1);
	do_read(0, 0, 11);
	do_read(0, 0, 10);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.fetches, 1);
	assert_int_equal(s.updated, 1);
	assert_int_equal(s.invalidated, 0);
	/* node 0 writes and releases, then writes again while the home
	 * does: the home's notice (node 0 wrote since its last one) lands in
	 * its dirty copy and its twin, so its next diff carries its own byte
	 * only */
	do_write(0, 0, 20, 8);
	release_wait(0);
	do_write(0, 0, 22, 10);
	do_write(1, 0, 21, 9);
	release_wait(1);
	assert_int_equal(W.mem[0][0][21], 9);
	/* write-protected by the update (its next write is decoded), the
	 * twin kept: the write after it takes no new twin */
	assert_int_equal(W.mapped[0][0], 1);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.twins, 3);
	do_write(0, 0, 25, 13);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.twins, 3);
	assert_int_equal(W.mapped[0][0], 2);
	release_wait(0);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.updated, 2);
	assert_int_equal(s.diffs_sent, 3);
	assert_int_equal(s.diff_bytes, 4 * (4 + 1)); /* the third: 2 runs */
	assert_int_equal(W.mem[1][0][22], 10);
	assert_int_equal(W.mem[1][0][25], 13);
	/* its diff made it a co-writer once more: the home's next notice
	 * updates it; it writes nothing more, so the one after is plain */
	do_write(1, 0, 23, 11);
	release_wait(1);
	assert_int_equal(W.mapped[0][0], 1);
	do_write(1, 0, 24, 12);
	release_wait(1);
	assert_int_equal(W.mapped[0][0], 0);
	do_read(0, 0, 24);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.updated, 3);
	rc_get_stats(W.node[1], &s);
	assert_int_equal(s.notices, 4);
	assert_int_equal(W.races, 0);
	world_free();
}

/* cvmm ctl pause's test of a node: busy while its diff is unacknowledged
 * (and its home while the notices it sent are), quiet once the release
 * completed everywhere. */
static void test_busy(void **state)
{
	char why[160] = "";
	uint64_t t;

	(void)state;
	world_init(2, 7);
	assert_false(rc_busy(W.node[0], why, sizeof(why)));
	do_write(0, 0, 10, 5); /* page 0 is homed at node 1 */
	assert_false(rc_busy(W.node[0], why, sizeof(why)));
	assert_int_equal(rc_release(W.node[0], &t), CVMM_OK);
	assert_true(rc_busy(W.node[0], why, sizeof(why)));
	assert_string_equal(why, "diffs not yet acknowledged");
	while (!rc_released(W.node[0], t))
		assert_true(deliver_one());
	while (deliver_one())
		;
	assert_false(rc_busy(W.node[0], why, sizeof(why)));
	assert_false(rc_busy(W.node[1], why, sizeof(why)));
	world_free();
}

/* Notices with their diffs that overtake each other: the later one finds
 * a version missing and drops the copy (acked as dropped), the earlier
 * one finds no copy; the home's next notice to that node is a plain one,
 * which takes it out of the copyset: a further version notices nobody. A
 * fetch and a diff of its own bring the node back to updates. */
static void test_update_order(void **state)
{
	rc_stats_t s;
	uint64_t t0, t1, t2;
	qmsg_t q[4];
	unsigned nq;

	(void)state;
	world_init(2, 21);
	do_write(0, 0, 0, 9);        /* page 0's home is node 1 */
	release_wait(0);             /* a co-writer now */
	do_write(1, 0, 30, 1);
	assert_int_equal(rc_release(W.node[1], &t1), CVMM_OK);
	assert_int_equal(W.qlen, 1); /* the notice, with the diff */
	do_write(0, 0, 1, 8);        /* node 0 writes again: a co-writer */
	assert_int_equal(rc_release(W.node[0], &t0), CVMM_OK);
	assert_int_equal(W.qlen, 2); /* the notice, node 0's diff */
	q[0] = W.q[1];
	W.qlen = 1;
	deliver_msg(q[0]);           /* the diff lands: its ack is sent */
	do_write(1, 0, 31, 2);       /* the home's twin: the copy is out */
	assert_int_equal(rc_release(W.node[1], &t2), CVMM_OK);
	/* in flight: the first notice, the diff's ack, the second notice */
	nq = W.qlen;
	assert_int_equal(nq, 3);
	memcpy(q, W.q, sizeof(q[0]) * nq);
	W.qlen = 0;
	deliver_msg(q[2]);           /* the last one first: a gap */
	assert_int_equal(W.mapped[0][0], 0);
	deliver_msg(q[0]);
	deliver_msg(q[1]);
	while (deliver_one())
		;
	assert_true(rc_released(W.node[0], t0));
	assert_true(rc_released(W.node[1], t1));
	assert_true(rc_released(W.node[1], t2));
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.updated, 0);
	assert_int_equal(s.invalidated, 1);
	do_write(1, 0, 32, 3);       /* a plain notice: node 0 leaves */
	release_wait(1);
	do_write(1, 0, 33, 4);       /* nobody holds a copy: no notice */
	release_wait(1);
	rc_get_stats(W.node[1], &s);
	assert_int_equal(s.notices, 3);
	do_read(0, 0, 33);           /* fetched again, every byte */
	do_read(0, 0, 30);
	do_read(0, 0, 1);
	do_write(0, 0, 2, 7);        /* a co-writer again */
	release_wait(0);
	do_write(1, 0, 34, 5);
	release_wait(1);
	assert_int_equal(W.mapped[0][0], 1);
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.updated, 1);
	assert_int_equal(s.fetches, 2);
	do_read(0, 0, 34);
	world_free();
}

/* Two nodes write byte off of one page in one interval, neither having
 * seen the other's write: reported at the home, with both nodes; each
 * also writes bytes next to it that the other does not (no race there),
 * on both sides of a 64-byte word of the home's masks when off allows. */
static void racy_at(unsigned nn, unsigned a, unsigned b, unsigned off)
{
	world_init(nn, 11);
	/* page 1's home is node (1*3+1) % nn; every node reads it first (a
	 * home with no copy elsewhere writes without a twin, rc.h: its
	 * writes before the first copy leaves are not checked) */
	for (unsigned n = 0; n < nn; n++)
		do_read(n, 1, 0);
	if (off > 0)
		do_write(a, 1, off - 1, 3);
	do_write(a, 1, off, 1);
	do_write(b, 1, off, 2);
	if (off + 1 < DIFF_PAGE)
		do_write(b, 1, off + 1, 4);
	for (unsigned n = 0; n < nn; n++) {
		uint64_t t;

		assert_int_equal(rc_release(W.node[n], &t), CVMM_OK);
	}
	while (deliver_one())
		;
	assert_int_equal(W.races, 1);
	assert_int_equal(W.last_race.page, 1);
	assert_true((W.last_race.a == a && W.last_race.b == b) ||
		    (W.last_race.a == b && W.last_race.b == a));
	assert_true(W.last_race.off == off);
	world_free();
}

static void racy(unsigned nn, unsigned a, unsigned b)
{
	racy_at(nn, a, b, 100);
}

static void test_race_detected(void **state)
{
	(void)state;
	racy(3, 0, 2); /* page 1's home is node 1 */
	racy(3, 2, 0);
	racy(2, 0, 1); /* home 0 itself is one of the racers */
	racy(2, 1, 0);
	racy_at(3, 0, 2, 0);
	racy_at(3, 2, 0, 64); /* node 2 writes byte 63 too, node 0 65 */
	racy_at(3, 0, 2, 63);
	racy_at(2, 1, 0, DIFF_PAGE - 1);
	/* adjacent bytes, either side of a mask word, no byte in common */
	world_init(3, 12);
	for (unsigned n = 0; n < 3; n++)
		do_read(n, 1, 0);
	do_write(0, 1, 62, 1);
	do_write(0, 1, 63, 1);
	do_write(0, 1, 130, 1);
	do_write(2, 1, 64, 2);
	do_write(2, 1, 65, 2);
	do_write(2, 1, 129, 2);
	do_write(2, 1, 131, 2);
	barrier();
	for (unsigned b = 62; b < 132; b++)
		do_read(1, 1, b);
	assert_int_equal(W.races, 0);
	world_free();
	/* ordered by a barrier: no race */
	world_init(3, 12);
	do_write(0, 1, 100, 1);
	barrier();
	do_write(2, 1, 100, 2);
	barrier();
	do_read(1, 1, 100);
	while (deliver_one())
		;
	assert_int_equal(W.races, 0);
	world_free();
}

/* The index of the first single message of type from src (any: -1)
 * waiting for dst, in queue order, or -1. */
static int find_msg(unsigned dst, int src, uint16_t type)
{
	for (unsigned i = 0; i < W.qlen; i++) {
		rc_msg_t m;
		const void *d;
		size_t l;
		char why[64];

		if (W.q[i].dst != dst || W.q[i].frames)
			continue;
		assert_int_equal(rc_wire_decode(W.q[i].buf, W.q[i].len, W.nn,
						NPAGES, &m, &d, &l, why,
						sizeof(why)),
				 CVMM_OK);
		if (m.type == type && (src < 0 || m.src == (uint32_t)src))
			return (int)i;
	}
	return -1;
}

/* Delivers that message; false when there is none. */
static bool deliver_match(unsigned dst, int src, uint16_t type)
{
	int i = find_msg(dst, src, type);
	qmsg_t q;

	if (i < 0)
		return false;
	q = W.q[i];
	memmove(&W.q[i], &W.q[i + 1], (W.qlen - i - 1) * sizeof(W.q[0]));
	W.qlen--;
	deliver_msg(q);
	return true;
}

/* Back to sequential first (rc.h): a page promoted at node 2 that node 0
 * alone writes goes back after demote_after (2 here) diffs in a row; a
 * node whose FETCH was in flight when the flush came acknowledges the
 * flush only once the home refused it; every node then holds the page
 * RC_SC; a refusal and a SYNC_REQ from before, naming the old home, do
 * nothing; promoted again at node 0, it is a data page homed there.
 * Without the sequential protocol there is no going back: refused. */
static void test_back_to_sc(void **state)
{
	rc_msg_t req = {.type = RC_MSG_SYNC_REQ, .src = 0, .page = 1};
	rc_fault_kind_t k;
	rc_stats_t s;

	(void)state;
	{ /* nothing to go back to without the sequential protocol */
		rc_ops_t o = ops;
		rc_cfg_t c = {.self = 0, .nnodes = 2, .npages = NPAGES,
			      .manager = home_of, .demote_after = 2,
			      .ops = &o, .ctx = &W.id[0]};
		rc_node_t *x;

		assert_int_equal(rc_node_create(&c, &x), CVMM_ERR_INVALID);
		c.ivy_first = true;
		o.sync_owner = NULL;
		assert_int_equal(rc_node_create(&c, &x), CVMM_ERR_INVALID);
		o.sync_owner = ops.sync_owner;
		assert_int_equal(rc_node_create(&c, &x), CVMM_OK);
		rc_node_destroy(x);
	}
	world_init_cfg(3, 6, true); /* demote_of: 2 */
	W.sc[1][5] = W.expect[1][5] = 9;
	promote(1, 2); /* home node 2; manager node 1 */
	do_write(0, 1, 6, 1);
	release_wait(0);
	assert_int_equal(rc_page_class(W.node[2], 1), RC_DATA);
	do_write(0, 1, 7, 2);
	/* node 1 asks for a copy; its FETCH waits while node 0's second
	 * diff lands and the home starts the turn */
	learn_promoted(1, 1);
	assert_int_equal(rc_fault(W.node[1], 1, false, false, &k), CVMM_OK);
	assert_int_equal(k, RC_WAIT);
	{
		uint64_t t;

		assert_int_equal(rc_release(W.node[0], &t), CVMM_OK);
	}
	assert_true(deliver_match(2, 0, RC_MSG_DIFF));
	assert_int_equal(rc_page_class(W.node[2], 1), RC_SYNC_WAIT);
	assert_true(deliver_match(1, 2, RC_MSG_SYNC_FLUSH));
	assert_false(find_msg(2, 1, RC_MSG_SYNC_ACK) >= 0); /* its FETCH first */
	assert_true(deliver_match(2, 1, RC_MSG_FETCH));
	assert_true(deliver_match(1, 2, RC_MSG_PAGE)); /* refused */
	assert_true(find_msg(2, 1, RC_MSG_SYNC_ACK) >= 0);
	while (deliver_one())
		;
	for (unsigned n = 0; n < 3; n++) {
		assert_int_equal(rc_page_class(W.node[n], 1), RC_SC);
		assert_int_equal(rc_page_home(W.node[n], 1), RC_NOHOME);
	}
	assert_true(W.sc_on[1]);
	assert_int_equal(W.sc[1][5], 9);
	assert_int_equal(W.sc[1][7], 2);
	rc_get_stats(W.node[2], &s);
	assert_int_equal(s.demoted, 1);
	assert_int_equal(s.sync_pages, 0);
	/* from before the turn: a refusal naming node 2, a SYNC_REQ to it */
	assert_int_equal(rc_to_data(W.node[0], 1, 2), CVMM_OK);
	assert_int_equal(rc_page_class(W.node[0], 1), RC_SC);
	assert_int_equal(rc_recv(W.node[2], &req, NULL, 0), CVMM_OK);
	assert_int_equal(W.qlen, 0);
	/* promoted again where it was written */
	promote(1, 0);
	do_read(1, 1, 7);
	do_read(2, 1, 5);
	for (unsigned n = 0; n < 3; n++) {
		assert_int_equal(rc_page_class(W.node[n], 1), RC_DATA);
		assert_int_equal(rc_page_home(W.node[n], 1), 0);
	}
	world_free();
}

static uint64_t ahead_count(unsigned n)
{
	rc_stats_t s;

	rc_get_stats(W.node[n], &s);
	return s.fetches_ahead;
}

/* Fetch-ahead (rc_fetch_ahead) asks only for a data page homed elsewhere
 * with no copy here and nothing of ours pending: the copy lands mapped
 * read-only with the home's bytes. Not for a page never faulted on here,
 * nor at its home, nor while our diff of it is in flight (a copy without
 * our own write: the fetch would overtake it), nor after a drop until a
 * fault. */
static void test_fetch_ahead(void **state)
{
	uint64_t one = 1, all[NPAGES] = {0, 1, 2, 3, 4};

	(void)state;
	world_init(3, 31); /* every page's home is node 1 */
	do_read(0, 1, 0);
	do_read(2, 1, 0);
	assert_int_equal(rc_fetch_ahead(W.node[0], &one, 1), CVMM_OK);
	assert_int_equal(rc_fetch_ahead(W.node[0], all + 2, 3), CVMM_OK);
	assert_int_equal(rc_fetch_ahead(W.node[1], all, NPAGES), CVMM_OK);
	assert_int_equal(ahead_count(0) + ahead_count(1), 0);

	/* node 2's write drops node 0's copy: fetched ahead, it lands */
	do_write(2, 1, 20, 6);
	release_wait(2);
	assert_int_equal(W.mapped[0][1], 0);
	assert_int_equal(rc_fetch_ahead(W.node[0], &one, 1), CVMM_OK);
	assert_int_equal(ahead_count(0), 1);
	while (deliver_one())
		;
	assert_int_equal(W.mapped[0][1], 1);
	assert_memory_equal(W.mem[0][1], W.expect[1], PG);

	/* our diff in flight when a notice drops the copy: no fetch */
	barrier();
	do_write(0, 1, 10, 5);
	do_write(2, 1, 30, 7);
	{
		uint64_t t0, t2;

		assert_int_equal(rc_release(W.node[0], &t0), CVMM_OK);
		assert_int_equal(rc_release(W.node[2], &t2), CVMM_OK);
	}
	assert_true(deliver_match(1, 2, RC_MSG_DIFF));
	assert_true(deliver_match(0, 1, RC_MSG_WN));
	assert_int_equal(W.mapped[0][1], 0);
	assert_int_equal(rc_fetch_ahead(W.node[0], &one, 1), CVMM_OK);
	if (deliver_match(1, 0, RC_MSG_FETCH)) /* ahead of our diff */
		assert_true(deliver_match(0, 1, RC_MSG_PAGE));
	while (deliver_one())
		;
	do_read(0, 1, 10);
	do_read(0, 1, 30);

	/* dropped (the guest unmapped it): not until a fault again */
	barrier();
	do_read(0, 2, 0);
	assert_int_equal(rc_drop(W.node[0], 2, 3), CVMM_OK);
	W.mapped[0][2] = 0; /* the guest's munmap took the mapping */
	assert_int_equal(rc_fetch_ahead(W.node[0], all + 2, 1), CVMM_OK);
	assert_int_equal(ahead_count(0), 1);
	do_read(0, 2, 0);
	do_write(2, 2, 40, 8); /* a plain notice: node 0 never wrote it */
	release_wait(2);
	assert_int_equal(W.mapped[0][2], 0);
	assert_int_equal(rc_fetch_ahead(W.node[0], all + 2, 1), CVMM_OK);
	assert_int_equal(ahead_count(0), 2);
	while (deliver_one())
		;
	assert_int_equal(W.mapped[0][2], 1);
	assert_memory_equal(W.mem[0][2], W.expect[2], PG);
	world_free();
}

/* Twins ahead (cfg.twin_ahead 16 with seed 32): a write fault makes the
 * pages after it writable with their twins, those mapped read-only here
 * whose last interval here ended with writes; their writes reach the
 * home at the release like any; a page twinned ahead but not written
 * gives an empty diff and is not twinned ahead again; a page only read,
 * or with no copy here, never is. */
static void test_twin_ahead(void **state)
{
	rc_stats_t s;

	(void)state;
	world_init(3, 32); /* every page's home is node 1 */
	for (unsigned pg = 1; pg <= 3; pg++)
		do_read(0, pg, 0);
	do_write(0, 2, 10, 1);
	do_write(0, 3, 10, 2);
	release_wait(0); /* 2 and 3: an interval with writes ended */
	assert_int_equal(W.mapped[0][2], 1);
	assert_int_equal(W.mapped[0][3], 1);
	do_write(0, 1, 10, 3); /* faults: 2 and 3 come with it */
	assert_int_equal(W.mapped[0][1], 2);
	assert_int_equal(W.mapped[0][2], 2);
	assert_int_equal(W.mapped[0][3], 2);
	assert_int_equal(W.mapped[0][4], 0); /* no copy here */
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.twins_ahead, 2);
	do_write(0, 2, 20, 4); /* no fault: writable already */
	rc_get_stats(W.node[0], &s);
	assert_int_equal(s.twins, 5); /* 2, 3, then 1 with 2 and 3 */
	release_wait(0);
	assert_int_equal(W.mem[1][2][20], 4); /* at the home */
	assert_int_equal(W.mem[1][1][10], 3);
	/* 3 was not written: not twinned ahead again; 1 and 2 were */
	do_write(0, 0, 10, 5);
	assert_int_equal(W.mapped[0][1], 2);
	assert_int_equal(W.mapped[0][2], 2);
	assert_int_equal(W.mapped[0][3], 1);
	release_wait(0);
	while (deliver_one())
		;
	for (unsigned n = 0; n < 3; n++)
		for (unsigned pg = 0; pg < NPAGES; pg++)
			do_read(n, pg, 20);
	world_free();
}

/* What a node knows: a copy fetched after a write notice in one epoch is
 * known once the node acquired; a diff made after a later notice must
 * carry it as its base (it once carried the older base the first notice
 * had left: a false race on the byte the fetch had brought). */
static void test_known_base(void **state)
{
	(void)state;
	world_init(3, 19); /* page 1's home is node 1 */
	do_read(0, 1, 0);
	do_write(2, 1, 100, 5);
	release_wait(2);        /* its notice drops node 0's copy */
	do_read(0, 1, 100);     /* fetched again, in the same epoch */
	barrier();              /* node 0 knows node 2's write now */
	do_write(0, 1, 100, 6); /* byte 100 is node 0's this round */
	do_write(1, 1, 200, 7); /* the home, node 0 holding a copy */
	release_wait(1);        /* a notice to node 0, dirty */
	release_wait(0);
	while (deliver_one())
		;
	assert_int_equal(W.races, 0);
	world_free();
}

/* Two diffs of one page from one node must not land in the wrong order:
 * the second waits for the first's ack (reflush), whatever the delivery
 * order. */
static void test_diff_order(void **state)
{
	uint64_t t1, t2;

	(void)state;
	world_init(2, 16);
	/* page 0's home is node 1 */
	do_write(0, 0, 7, 1);
	assert_int_equal(rc_release(W.node[0], &t1), CVMM_OK);
	do_write(0, 0, 7, 2); /* RO again: a new twin */
	assert_int_equal(rc_release(W.node[0], &t2), CVMM_OK);
	assert_false(rc_released(W.node[0], t2));
	/* deliver the newest message first each time */
	while (W.qlen > 0)
		deliver_msg(W.q[--W.qlen]);
	assert_true(rc_released(W.node[0], t2));
	assert_int_equal(W.mem[1][0][7], 2);
	world_free();
}

/* The agent writes a page through its own view, which no write
 * protection stops: a release meanwhile sends what is there so far and
 * keeps the page dirty, so the writes after it go out at the next one. */
static void test_agent_pin(void **state)
{
	rc_fault_kind_t k;

	(void)state;
	world_init(2, 17);
	for (;;) { /* page 0's home is node 1 */
		assert_int_equal(rc_fault_pin(W.node[0], 0, &k), CVMM_OK);
		if (k == RC_READY)
			break;
		assert_true(deliver_one());
	}
	W.mem[0][0][5] = 1; /* the agent's writes */
	release_wait(0);
	assert_int_equal(W.mem[1][0][5], 1);
	assert_int_equal(rc_page_state(W.node[0], 0), RC_RW);
	W.mem[0][0][6] = 2; /* still pinned, still writable */
	rc_unpin(W.node[0], 0);
	release_wait(0);
	assert_int_equal(W.mem[1][0][6], 2);
	assert_int_equal(rc_page_state(W.node[0], 0), RC_RO);

	/* a write notice while the agent writes: a guest fault waits for the
	 * unpin (no fetch may overwrite the agent's bytes), then the diff
	 * goes first and the fetch brings both nodes' writes */
	for (;;) {
		assert_int_equal(rc_fault_pin(W.node[0], 0, &k), CVMM_OK);
		if (k == RC_READY)
			break;
		assert_true(deliver_one());
	}
	do_write(1, 0, 9, 4); /* the home */
	release_wait(1);      /* its notice drops node 0's copy */
	assert_int_equal(W.mapped[0][0], 0);
	assert_int_equal(rc_fault(W.node[0], 0, false, false, &k), CVMM_OK);
	assert_int_equal(k, RC_WAIT);
	assert_int_equal(W.qlen, 0);
	W.mem[0][0][7] = 3;
	rc_unpin(W.node[0], 0);
	do_read(0, 0, 9);
	assert_int_equal(W.mem[0][0][7], 3);
	assert_int_equal(W.mem[1][0][7], 3);
	world_free();
}

/* A plain flag written and spun on with no synchronization: the tick
 * (a release that does not wait) makes the reader see it. Its notice
 * carries the diff to every copy, so the reader's copy is updated in
 * place; a release's notice drops a copy only read (a plain notice). */
static void test_staleness(void **state)
{
	(void)state;
	world_init(3, 13);
	do_read(2, 1, 0); /* node 2 caches page 1 (home 1) */
	do_write(0, 1, 0, 9);
	assert_int_equal(W.mapped[2][1], 1); /* still the old copy */
	assert_int_equal(rc_tick(W.node[0]), CVMM_OK);
	while (deliver_one())
		;
	assert_int_equal(W.mapped[2][1], 1); /* updated in place: 9 */
	assert_int_equal(W.updates, 1);
	do_read(2, 1, 0);
	do_write(0, 1, 1, 8);
	release_wait(0);
	assert_int_equal(W.mapped[2][1], 0); /* dropped */
	assert_int_equal(W.updates, 1);
	do_read(2, 1, 1); /* refetched: 8 */
	do_read(2, 1, 0);
	world_free();
}

/* node n's counts so far */
static rc_stats_t stats_of(unsigned n)
{
	rc_stats_t s;

	rc_get_stats(W.node[n], &s);
	return s;
}

/* The tick sends a page's writes once per release of the node, however
 * often its twin is taken again meanwhile: a copy a notice dropped sends
 * its own diff before its refetch, and its next write takes a new twin;
 * ticking that twin too sent another notice, which dropped the next
 * copy, and so on (is on 4 nodes: 42k tick diffs per node, 11.8 s
 * against 1.5 s). After the node's release the tick sends again. */
static void test_staleness_once(void **state)
{
	uint64_t d;

	(void)state;
	world_init(3, 15); /* seed % 3 == 0: no twins ahead */
	do_write(0, 1, 0, 9);  /* dirty at node 0, home 1 */
	assert_int_equal(rc_tick(W.node[0]), CVMM_OK);
	assert_int_equal(stats_of(0).diffs_sent, 1);
	while (deliver_one())
		;
	do_write(2, 1, 100, 4);
	release_wait(2); /* node 0 a co-writer: its copy updated in place */
	do_write(2, 1, 101, 5);
	release_wait(2); /* and again (one notice for each other node) */
	assert_int_equal(W.mapped[0][1], 1);
	do_write(2, 1, 102, 3);
	release_wait(2); /* not any more: a plain notice drops its copy */
	assert_int_equal(W.mapped[0][1], 0);
	do_write(0, 1, 1, 6); /* its diff first, a refetch, a new twin */
	do_read(0, 1, 101);
	d = stats_of(0).diffs_sent;
	/* ticked once in this release interval already */
	assert_int_equal(rc_tick(W.node[0]), CVMM_OK);
	assert_int_equal(stats_of(0).diffs_sent, d);
	while (deliver_one())
		;
	release_wait(0);
	d = stats_of(0).diffs_sent;
	do_write(0, 1, 2, 7);
	assert_int_equal(rc_tick(W.node[0]), CVMM_OK);
	assert_int_equal(stats_of(0).diffs_sent, d + 1);
	while (deliver_one())
		;
	do_read(2, 1, 2);
	do_read(2, 1, 1);
	world_free();
}

/* Three writers of one page (4 nodes, page 1 homed at node 0), each
 * releasing in turn: a writer gets a notice from each of the two others
 * between two of its own diffs, and each carries the diff: no copy is
 * dropped or fetched again (when each notice ended a co-writer, the
 * second was plain: a stencil's pages were fetched again every sweep).
 * A writer that stops gets one notice with the diff for each other node
 * since its last diff, then a plain one. */
static void test_cowriters(void **state)
{
	uint64_t f[4];

	(void)state;
	world_init(4, 15); /* seed % 3 == 0: no twins ahead */
	for (unsigned r = 0; r < 4; r++) {
		if (r == 1) /* the first round made them writers */
			for (unsigned n = 1; n < 4; n++)
				f[n] = stats_of(n).fetches;
		for (unsigned n = 1; n < 4; n++) {
			do_write(n, 1, 8 * n + r, (uint8_t)(10 * n + r));
			release_wait(n);
			for (unsigned k = 1; k < 4; k++)
				do_read(k, 1, 8 * n + r);
		}
	}
	for (unsigned n = 1; n < 4; n++) {
		assert_int_equal(stats_of(n).fetches, f[n]);
		assert_int_equal(W.mapped[n][1], 1);
	}
	/* node 1 stops writing; the last round's notices from nodes 2 and 3
	 * were two; the next one is its third */
	do_write(2, 1, 40, 1);
	release_wait(2);
	assert_int_equal(W.mapped[1][1], 1);
	do_write(3, 1, 41, 2);
	release_wait(3);
	assert_int_equal(W.mapped[1][1], 0); /* plain: dropped */
	assert_int_equal(W.mapped[2][1], 1);
	do_read(1, 1, 41);
	do_read(1, 1, 40);
	world_free();
}

static void test_sync_page(void **state)
{
	rc_stats_t s;

	(void)state;
	world_init(3, 14);
	do_write(0, 1, 50, 3);   /* dirty at node 0, home 1 */
	do_read(2, 1, 0);
	do_atomic(2, 1);         /* node 2 makes it a sync page */
	assert_true(W.sc_on[1]);
	while (deliver_one()) /* the other nodes' SYNC_GO */
		;
	for (unsigned n = 0; n < 3; n++) {
		assert_int_equal(rc_page_class(W.node[n], 1), RC_SYNC);
		assert_int_equal(W.mapped[n][1], 0);
	}
	assert_int_equal(W.sc[1][50], 3); /* node 0's write was flushed */
	rc_get_stats(W.node[1], &s);
	assert_int_equal(s.sync_pages, 1);
	/* after: every fault goes to the sequential protocol */
	rc_fault_kind_t k;

	assert_int_equal(rc_fault(W.node[0], 1, false, false, &k), CVMM_OK);
	assert_int_equal(k, RC_IVY);
	world_free();
}

/* Sequential first (rc.h "Sequential first"; 3 nodes, every page's
 * manager node 1): a page starts RC_SC, the sequential protocol's, and no
 * message of this protocol is taken for it but its home's flush; handed
 * over (rc_to_data), its owner is the home writing without a twin, the
 * others fetch from there, after which the home's writes take a twin and
 * are noticed; a duplicate hand-over is nothing, one naming
 * another home is refused. A home that makes its page a sync page at once
 * flushes nodes that had not heard of the hand-over yet, the manager
 * among them, which learn the home from the flush. */
static void test_ivy_first(void **state)
{
	rc_msg_t m = {.type = RC_MSG_FETCH, .src = 2, .page = 1};
	rc_fault_kind_t k;
	rc_stats_t s;

	(void)state;
	world_init_cfg(3, 23, true);
	for (unsigned n = 0; n < 3; n++) {
		assert_int_equal(rc_page_class(W.node[n], 1), RC_SC);
		assert_int_equal(rc_page_home(W.node[n], 1), RC_NOHOME);
		assert_int_equal(rc_fault(W.node[n], 1, true, false, &k),
				 CVMM_OK);
		assert_int_equal(k, RC_IVY);
	}
	assert_int_equal(rc_recv(W.node[1], &m, NULL, 0), CVMM_ERR_PEER);
	assert_int_equal(W.qlen, 0);
	/* the sequential protocol left node 2 the owner of what it wrote */
	W.sc[1][5] = W.expect[1][5] = 9;
	promote(1, 2); /* node 2, then the manager (node 1) */
	assert_int_equal(rc_to_data(W.node[0], 1, 2), CVMM_OK);
	assert_int_equal(rc_to_data(W.node[0], 1, 2), CVMM_OK); /* again */
	assert_int_equal(rc_to_data(W.node[0], 1, 1), CVMM_ERR_PEER);
	assert_int_equal(rc_to_data(W.node[0], NPAGES, 1), CVMM_ERR_RANGE);
	for (unsigned n = 0; n < 3; n++) {
		assert_int_equal(rc_page_class(W.node[n], 1), RC_DATA);
		assert_int_equal(rc_page_home(W.node[n], 1), 2);
	}
	assert_int_equal(rc_page_state(W.node[2], 1), RC_RW);
	do_write(2, 1, 6, 1); /* no copy elsewhere: no twin, no message */
	release_wait(2);
	rc_get_stats(W.node[2], &s);
	assert_int_equal(s.twins, 0);
	assert_int_equal(s.promoted, 1);
	assert_int_equal(W.qlen, 0);
	do_read(0, 1, 5); /* fetched from node 2, not the manager */
	/* serving the copy write-protected the home's page: its next write
	 * takes a twin and is noticed at its release (node 0's copy, only
	 * read, goes) */
	assert_int_equal(W.mapped[2][1], 1);
	do_write(2, 1, 8, 3);
	rc_get_stats(W.node[2], &s);
	assert_int_equal(s.twins, 1);
	release_wait(2);
	assert_int_equal(W.mapped[0][1], 0);
	do_read(0, 1, 8);
	do_write(0, 1, 7, 4);
	release_wait(0);
	do_read(2, 1, 7);
	do_read(1, 1, 7);
	/* page 2: promoted at node 0, which makes it a sync page before
	 * nodes 1 (the manager) and 2 heard of the hand-over */
	W.mem[0][2][3] = W.expect[2][3] = 5;
	W.sc_on[2] = false;
	assert_int_equal(rc_to_data(W.node[0], 2, 0), CVMM_OK);
	do_atomic(0, 2);
	while (deliver_one())
		;
	assert_true(W.sc_on[2]);
	assert_int_equal(W.seeded[2], 1u << 0 | 1u << 1);
	for (unsigned n = 0; n < 3; n++)
		assert_int_equal(rc_page_class(W.node[n], 2), RC_SYNC);
	assert_int_equal(W.sc[2][3], 5);
	/* the manager's own hand-over comes late: a stale one, nothing */
	assert_int_equal(rc_to_data(W.node[1], 2, 0), CVMM_OK);
	assert_int_equal(rc_page_class(W.node[1], 2), RC_SYNC);
	world_free();
}

static void test_malformed(void **state)
{
	uint8_t buf[RC_WIRE_LEN + DIFF_PAGE + 8];
	rc_msg_t m = {.type = RC_MSG_FETCH, .src = 1, .page = 3}, o;
	const void *d;
	size_t dl;
	char why[64];

	(void)state;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_OK);
	assert_int_equal(o.page, 3);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN - 1, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 3, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER); /* page out of range */
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 1, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER); /* src out of range */
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 1, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER); /* payload on a fetch */
	m.type = RC_MSG_END;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	m.type = RC_MSG_PAGE;
	m.flags = RC_F_PAGE;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 100, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER); /* short page */
	m.flags = RC_F_PAGE | RC_F_ZERO;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	/* the flags of the first-touch homes this protocol no longer has
	 * (0x8 "you are the home", 0x10 "ask the home"), and an unknown one */
	for (unsigned f = 0x8; f <= 0x20; f <<= 1) {
		m.flags = (uint16_t)(f | (f == 0x8 ? RC_F_ZERO : 0));
		rc_wire_encode(&m, buf);
		assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d,
						&dl, why, sizeof(why)),
				 CVMM_ERR_PEER);
	}
	/* a diff whose run leaves the page */
	m.type = RC_MSG_DIFF;
	m.flags = 0;
	rc_wire_encode(&m, buf);
	buf[RC_WIRE_LEN] = 0xff;
	buf[RC_WIRE_LEN + 1] = 0x0f; /* offset 4095 */
	buf[RC_WIRE_LEN + 2] = 2;    /* length 2 */
	buf[RC_WIRE_LEN + 3] = 0;
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER);
	/* a notice with its diff: the flag and a well-formed diff together */
	buf[RC_WIRE_LEN + 1] = 0; /* offset 255, length 2 */
	m.type = RC_MSG_WN;
	m.flags = RC_F_DIFF;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_OK);
	assert_int_equal(o.flags, RC_F_DIFF);
	assert_int_equal(dl, 6);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER); /* the flag without the diff */
	m.flags = 0;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER); /* a diff without the flag */
	m.flags = RC_F_DROP; /* an ack's flag on a notice */
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	m.type = RC_MSG_WN_ACK;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_OK);
	m.flags = RC_F_DIFF; /* a notice's flag on an ack */
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	/* the tick's flag: on a diff (the 6 bytes above), nowhere else */
	m.type = RC_MSG_DIFF;
	m.flags = RC_F_TICK;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_OK);
	assert_int_equal(o.flags, RC_F_TICK);
	m.flags = RC_F_TICK | RC_F_SC; /* and no other one with it */
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER);
	m.type = RC_MSG_WN;
	m.flags = RC_F_DIFF | RC_F_TICK;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN + 6, 2, 4, &o, &d,
					&dl, why, sizeof(why)),
			 CVMM_ERR_PEER);
	m.type = RC_MSG_FETCH;
	m.flags = RC_F_TICK;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	/* back to sequential first: on a SYNC_GO naming a node in range
	 * (ver), nowhere else */
	m.type = RC_MSG_SYNC_GO;
	m.flags = RC_F_SC;
	m.ver = 1;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_OK);
	assert_true(o.flags == RC_F_SC && o.ver == 1);
	m.ver = 2;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
	m.type = RC_MSG_SYNC_FLUSH;
	m.ver = 1;
	rc_wire_encode(&m, buf);
	assert_int_equal(rc_wire_decode(buf, RC_WIRE_LEN, 2, 4, &o, &d, &dl,
					why, sizeof(why)),
			 CVMM_ERR_PEER);
}

/* Well-formed messages that are lies in the receiver's state. */
/* A hand-over that the membership protocol would never make is refused
 * and changes nothing: a home from a node that is not the page's home,
 * from itself, past the pages, without bytes; a page this node is still
 * fetching; a depart of itself, or to an heir out of the VM. */
static void test_take_home_refused(void **state)
{
	static uint8_t bytes[PG];
	/* 3 nodes: page 0's home is node 1 ((0*3+1)%3) */
	rc_home_rec_t r = {.page = 0, .ver = 3};
	rc_fault_kind_t k;

	(void)state;
	world_init(3, 16);
	memset(bytes, 0x77, sizeof(bytes));
	/* node 2 is not page 0's home: node 0 takes nothing from it */
	assert_int_equal(rc_take_home(W.node[0], 2, &r, bytes),
			 CVMM_ERR_INVALID);
	assert_int_equal(rc_page_home(W.node[0], 0), 1);
	assert_int_not_equal(W.mem[0][0][0], 0x77);
	/* from itself, past the pages, without bytes */
	assert_int_equal(rc_take_home(W.node[0], 0, &r, bytes),
			 CVMM_ERR_INVALID);
	r.page = NPAGES;
	assert_int_equal(rc_take_home(W.node[0], 1, &r, bytes),
			 CVMM_ERR_INVALID);
	r.page = 0;
	assert_int_equal(rc_take_home(W.node[0], 1, &r, NULL),
			 CVMM_ERR_INVALID);
	/* a fetch in flight: not a quiet point */
	assert_int_equal(rc_fault(W.node[0], 0, false, false, &k), CVMM_OK);
	assert_int_equal(k, RC_WAIT);
	assert_int_equal(rc_take_home(W.node[0], 1, &r, bytes),
			 CVMM_ERR_INVALID);
	assert_int_not_equal(W.mem[0][0][0], 0x77);
	while (deliver_one())
		;
	/* quiet now: the real hand-over from the home is taken */
	assert_int_equal(rc_take_home(W.node[0], 1, &r, bytes), CVMM_OK);
	assert_int_equal(rc_page_home(W.node[0], 0), 0);
	assert_int_equal(W.mem[0][0][0], 0x77);
	/* a depart of itself, of k to k, or to an heir out of the VM */
	assert_int_equal(rc_depart(W.node[0], 0, 1), CVMM_ERR_INVALID);
	assert_int_equal(rc_depart(W.node[0], 1, 1), CVMM_ERR_INVALID);
	assert_int_equal(rc_depart(W.node[0], 1, 2), CVMM_OK);
	assert_int_equal(rc_depart(W.node[0], 2, 1), CVMM_ERR_INVALID);
	world_free();
}

static void test_lying_peer(void **state)
{
	rc_msg_t m = {.src = 0, .page = 1};
	uint8_t d[5] = {0, 0, 1, 0, 7};

	(void)state;
	world_init(2, 15);
	/* page 1's home is node 0 ((1*3+1)%2); node 1 is not its home */
	m.type = RC_MSG_PAGE;
	m.flags = RC_F_ZERO;
	assert_int_equal(rc_recv(W.node[1], &m, NULL, 0), CVMM_ERR_PEER);
	m.type = RC_MSG_DIFF_ACK;
	m.flags = 0;
	m.seq = 1;
	assert_int_equal(rc_recv(W.node[1], &m, NULL, 0), CVMM_ERR_PEER);
	m.type = RC_MSG_SYNC_GO;
	assert_int_equal(rc_recv(W.node[1], &m, NULL, 0), CVMM_ERR_PEER);
	m.type = RC_MSG_FETCH; /* node 0 asks node 1, not the home */
	assert_int_equal(rc_recv(W.node[1], &m, NULL, 0), CVMM_ERR_PEER);
	m.src = 1;
	m.type = RC_MSG_SYNC_ACK; /* no flush in progress at the home */
	assert_int_equal(rc_recv(W.node[0], &m, NULL, 0), CVMM_ERR_PEER);
	m.type = RC_MSG_DIFF;
	m.ver = 5; /* a version the home never made */
	assert_int_equal(rc_recv(W.node[0], &m, d, sizeof(d)), CVMM_ERR_PEER);
	m.src = 0; /* from itself */
	m.ver = 0;
	assert_int_equal(rc_recv(W.node[0], &m, d, sizeof(d)), CVMM_ERR_PEER);
	assert_int_equal(W.qlen, 0);
	world_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_update_order),
		cmocka_unit_test(test_race_detected),
		cmocka_unit_test(test_fetch_ahead),
		cmocka_unit_test(test_twin_ahead),
		cmocka_unit_test(test_staleness),
		cmocka_unit_test(test_staleness_once),
		cmocka_unit_test(test_cowriters),
		cmocka_unit_test(test_diff_order),
		cmocka_unit_test(test_known_base),
		cmocka_unit_test(test_agent_pin),
		cmocka_unit_test(test_sync_page),
		cmocka_unit_test(test_ivy_first),
		cmocka_unit_test(test_back_to_sc),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_lying_peer),
		cmocka_unit_test(test_take_home_refused),
		cmocka_unit_test(test_random_drf),
		cmocka_unit_test(test_random_drf_ivy_first),
		cmocka_unit_test(test_random_drf_batched),
		cmocka_unit_test(test_random_elastic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
