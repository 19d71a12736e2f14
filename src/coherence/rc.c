/* The release memory model's protocol for data pages (rc.h).
 *
 * Message script (node n, home h of page p; "=>" a message):
 *
 *   n faults, p INV:       n => h FETCH;  h => n PAGE(ver, bytes | ZERO)
 *                          n: RO at base ver, mapped read-only
 *   n writes, p RO:        twin := copy, RW, mapped writable (no message)
 *   h writes, p no copy    RW without a twin; a FETCH takes the twin
 *   elsewhere:
 *   n releases:            every RW p: write-protect, RO;
 *                          n => h DIFF(base, seq, runs); h applies it,
 *                          ver++, h => every other node c in p's
 *                          copyset: WN(ver, the diff); c applies it to
 *                          its copy (and twin) when the copy has ver - 1
 *                          and no own byte in it, c => h WN_ACK(ver); or
 *                          c drops its copy (a dirty one keeps its twin:
 *                          on its next fault its DIFF goes first, FETCH
 *                          after the ack), c => h WN_ACK(ver, DROP), and
 *                          h's next WN to c is plain (no diff: c leaves
 *                          the copyset); then h => n DIFF_ACK(seq, ver);
 *                          the release is complete when every seq it
 *                          covers is acked
 *   h releases:            as n, its diff applied already: only the WNs
 *   n acquires:            nothing to drop (the WNs did)
 *   n sees an atomic:      n => h SYNC_REQ (or h itself);
 *                          h => every other node SYNC_FLUSH;
 *                          each: unmap, DIFF if dirty, after the acks
 *                          (and a FETCH's answer, the agent's write)
 *                          => h SYNC_ACK; once all came and h's WNs
 *                          are acked, h => every other node SYNC_GO
 *                          (h not m: h => m SYNC_GO, m => the others)
 *   h gets demote_after    as for an atomic, but SYNC_GO(SC, w): every
 *   diffs in a row from    node back_to_sc; the sequential protocol
 *   w alone:               serves p from h, promotes it again at w
 *
 * One lock per node guards the page records; messages produced under it
 * are sent after it is released (rc_ops_t.send may run handlers). */
#include "coherence/rc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/diff.h"
#include "common/log.h"
#include "common/page.h"

_Static_assert(CVMM_PAGE_SIZE == DIFF_PAGE, "a diff covers one page");

#define MASK_WORDS (DIFF_PAGE / 64)
/* The tick sends a page's writes only when they are this small (flags,
 * counters): a page being rewritten whole waits for its release. */
#define RC_TICK_MAX 256
/* A co-writer of a page stays one (its notices carry the diff) for as
 * many notices after its own last diff as there are other nodes, up to
 * this many: with several writers a page gets a notice from each of the
 * others between two of its diffs (a stencil's pages on 4 nodes; when
 * each notice ended it, two of the three were plain: the copy dropped and
 * fetched again every sweep). The count is two bits a node
 * (rc_page_t.quiet). */
#define RC_QUIET 4

/* The last RC_LOG diffs applied to a page at its home: which node, the
 * version they made, the bytes they changed. */
typedef struct rc_log {
	unsigned next, used;
	uint32_t ver[RC_LOG];
	uint8_t node[RC_LOG];
	uint64_t mask[RC_LOG][MASK_WORDS]; /* bit b % 64 of word b / 64 */
} rc_log_t;

/* At a home: a diff applied whose write notices are not all acked yet;
 * its writer's DIFF_ACK (or, for the home's own, its ack) waits. */
typedef struct rc_wait {
	struct rc_wait *next;
	uint32_t ver;    /* the version the diff made (the notices carry it) */
	uint32_t seq;    /* the writer's diff number */
	uint32_t writer;
	unsigned left;   /* WN_ACKs outstanding */
} rc_wait_t;

/* A diff made while an earlier one of the same page was in flight: it
 * leaves when that one is acknowledged (two diffs of one page that cross
 * could land in the wrong order at the home). */
typedef struct rc_qdiff {
	struct rc_qdiff *next;
	uint32_t base;
	size_t len;
	uint8_t d[];
} rc_qdiff_t;

typedef struct rc_page {
	struct rc_page *hnext;        /* hash chain */
	struct rc_page *lnext, *lprev; /* the node's cdirty or hdirty list */
	uint64_t page;
	uint8_t *twin;     /* dirty: the bytes before this interval's writes */
	rc_log_t *log;     /* at the home, once a diff arrived */
	rc_wait_t *waits;  /* at the home: diffs waiting for notice acks */
	uint64_t copyset;  /* at the home: nodes that may hold a copy */
	uint64_t writers;  /* at the home: nodes whose diff of the page came
			      since their last notices with the diff, one a
			      node but them (RC_QUIET): co-writers, whose next
			      notice carries the diff (the others' is plain:
			      a copy only read would otherwise stay in the
			      copyset, and each of the home's writes fault
			      for a twin and send it a notice: radix on 2
			      nodes 166k -> 292k write faults, twice the
			      time) */
	uint64_t quiet[2]; /* at the home: a co-writer's notices with the
			      diff since its own last diff, two bits a node
			      (quiet[1] the high one; RC_QUIET) */
	uint64_t dropped;  /* at the home: nodes in the copyset whose last
			      notice with the diff dropped their copy: the
			      next one is plain */
	uint32_t base;     /* race detection: the version known here */
	uint32_t fetched;  /* the home's version our copy came from */
	uint32_t epoch;    /* a node: when the last notice came; the home:
			      when hbase was taken (n->epoch then) */
	uint32_t hbase;    /* the home: base (home_epoch) */
	uint32_t pre_wn;   /* a node: seen when the epoch's first notice
			      came */
	uint32_t seen;     /* a node: the highest version whose notice or
			      page (with its bytes) arrived here */
	uint32_t ver;      /* at the home: diffs applied */
	uint16_t inflight; /* DIFFs sent, not acknowledged */
	uint8_t home;      /* the home, RC_NOHOME while not known */
	uint8_t st;        /* rc_state_t */
	uint8_t cls;       /* rc_class_t (at the home: its flush, too) */
	uint8_t pending;   /* at the home, flushing: SYNC_ACKs outstanding */
	uint8_t was_home;  /* the home it had when it went back to sequential
			      first (back_to_sc), else RC_NOHOME */
	uint8_t solo;      /* at the home: the node + 1 whose diffs came
			      alone solo_run times in a row (demote_after) */
	uint8_t solo_run;
	uint8_t demote;    /* at the home, flushing: the writer it goes back
			      to sequential first for, else RC_NOHOME (a
			      sync page for good) */
	bool promoted_here; /* handed over here by the sequential protocol
			       (to_data_locked): it can give it back */
	uint32_t pins;     /* the agent is writing it through its own view */
	bool listed;
	bool refetch;       /* the FETCH in flight is stale: drop its reply */
	bool after_ack;     /* FETCH once this page's diffs are acked */
	bool flush_pending; /* SYNC_ACK owed once the diffs are acked */
	uint32_t ticked;    /* rc_tick sent this page's writes in this
			       node's release interval (rc_node.rel + 1) */
	bool hot;           /* its last interval here ended with writes in
			       it: twinned ahead of a neighbour's write
			       (twin_ahead) */
	bool no_ahead;      /* dropped (rc_drop) since its last fault here:
			       not fetched ahead (the guest may have
			       unmapped it) */
	rc_qdiff_t *qhead, *qtail; /* diffs waiting for the one in flight */
} rc_page_t;

typedef struct rc_out {
	uint32_t dst;
	rc_msg_t m;
	void *data;
	size_t len;
} rc_out_t;

typedef struct rc_outbox {
	rc_out_t *v;
	unsigned len, cap;
	cvmm_status_t err;
} rc_outbox_t;

struct rc_node {
	rc_cfg_t cfg;
	uint32_t rel; /* releases so far (rc_tick: once a page each) */
	pthread_mutex_t lock;
	rc_outbox_t *ob;
	rc_page_t **buckets;
	uint64_t nbuckets, npages_rec;
	rc_page_t *cdirty; /* pages homed elsewhere with a twin */
	rc_page_t *hdirty; /* pages homed here with a twin */
	/* diffs: seq of the last sent; every seq <= acked_upto is acked;
	 * ring[seq & (ring_cap - 1)] marks acks above it */
	uint32_t seq, acked_upto;
	uint8_t *ring;
	uint32_t ring_cap;
	uint64_t ntwins; /* dirty pages (twins), homed here or elsewhere */
	rc_page_t **pv;  /* scratch: the pages protect_dirty sorts */
	size_t pv_cap;
	uint64_t nqueued;  /* diffs waiting for an earlier one's ack */
	uint32_t epoch;    /* acquires so far, from 1 */
	uint64_t members;  /* the nodes in the VM (rc_depart, rc_join) */
	bool halted;       /* a race was seen with cfg.halt_on_race */
	rc_stats_t stats;
	uint8_t buf[DIFF_PAGE];  /* scratch: the current bytes */
	uint8_t dbuf[DIFF_MAX];  /* scratch: a diff */
};

/* ---- wire ----------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void rc_wire_encode(const rc_msg_t *m, void *buf)
{
	uint8_t *b = buf;

	put16(b, m->type);
	put16(b + 2, m->flags);
	put32(b + 4, m->src);
	put32(b + 8, m->ver);
	put32(b + 12, m->seq);
	put64(b + 16, m->page);
}

static const char *const rc_names[RC_MSG_END] = {
	[RC_MSG_FETCH] = "fetch",         [RC_MSG_PAGE] = "page",
	[RC_MSG_DIFF] = "diff",           [RC_MSG_DIFF_ACK] = "diff_ack",
	[RC_MSG_SYNC_REQ] = "sync_req",   [RC_MSG_SYNC_FLUSH] = "sync_flush",
	[RC_MSG_SYNC_ACK] = "sync_ack",   [RC_MSG_SYNC_GO] = "sync_go",
	[RC_MSG_WN] = "wn",               [RC_MSG_WN_ACK] = "wn_ack",
};

const char *rc_msg_type_str(unsigned type)
{
	return type > 0 && type < RC_MSG_END ? rc_names[type] : "?";
}

static cvmm_status_t bad(char *why, size_t whylen, const char *s)
{
	if (whylen > 0) {
		strncpy(why, s, whylen - 1);
		why[whylen - 1] = '\0';
	}
	return CVMM_ERR_PEER;
}

cvmm_status_t rc_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			     uint64_t npages, rc_msg_t *m, const void **data,
			     size_t *dlen, char *why, size_t whylen)
{
	const uint8_t *b = buf;
	rc_msg_t t;
	size_t pl;

	if (!buf || len < RC_WIRE_LEN)
		return bad(why, whylen, "short rc message");
	t.type = (uint16_t)get_le(b, 2);
	t.flags = (uint16_t)get_le(b + 2, 2);
	t.src = (uint32_t)get_le(b + 4, 4);
	t.ver = (uint32_t)get_le(b + 8, 4);
	t.seq = (uint32_t)get_le(b + 12, 4);
	t.page = get_le(b + 16, 8);
	pl = len - RC_WIRE_LEN;
	if (t.type < RC_MSG_FETCH || t.type >= RC_MSG_END)
		return bad(why, whylen, "unknown rc message type");
	if (t.src >= nnodes)
		return bad(why, whylen, "rc message from a node out of range");
	if (t.page >= npages)
		return bad(why, whylen, "rc message for a page out of range");
	if (t.type == RC_MSG_PAGE) {
		unsigned f = t.flags;

		if (f != RC_F_ZERO && f != RC_F_PAGE && f != RC_F_SYNC)
			return bad(why, whylen, "rc page with bad flags");
		if (pl != (f == RC_F_PAGE ? DIFF_PAGE : 0))
			return bad(why, whylen, "rc page of the wrong length");
	} else {
		unsigned ok = t.type == RC_MSG_WN        ? RC_F_DIFF
			      : t.type == RC_MSG_WN_ACK  ? RC_F_DROP
			      : t.type == RC_MSG_DIFF    ? RC_F_TICK
			      : t.type == RC_MSG_SYNC_GO ? RC_F_SC
							 : 0;

		if (t.flags & ~ok)
			return bad(why, whylen, "rc message with flags");
		if ((t.flags & RC_F_SC) && t.ver >= nnodes)
			return bad(why, whylen, "rc sync-go for a node out of "
						"range");
		if (t.type == RC_MSG_DIFF ||
		    (t.type == RC_MSG_WN && (t.flags & RC_F_DIFF))) {
			if (pl == 0 || pl > DIFF_MAX ||
			    diff_check(b + RC_WIRE_LEN, pl, NULL) != CVMM_OK)
				return bad(why, whylen, "malformed rc diff");
		} else if (pl != 0) {
			return bad(why, whylen, "rc message with a payload");
		}
	}
	*m = t;
	*data = pl ? b + RC_WIRE_LEN : NULL;
	*dlen = pl;
	return CVMM_OK;
}

size_t rc_frame_next(const void *buf, size_t len, const void **msg,
		     size_t *mlen)
{
	size_t l;

	if (!buf || len < RC_FRAME_HDR)
		return 0;
	l = (size_t)get_le(buf, 4);
	if (l < RC_WIRE_LEN || l > RC_FRAME_MAX || l > len - RC_FRAME_HDR)
		return 0;
	*msg = (const uint8_t *)buf + RC_FRAME_HDR;
	*mlen = l;
	return RC_FRAME_HDR + l;
}

void rc_frame_put(void *buf, size_t mlen)
{
	put32(buf, (uint32_t)mlen);
}

/* ---- records ---------------------------------------------------------------- */

static uint64_t hash_page(uint64_t page, uint64_t nb)
{
	return (page * 0x9e3779b97f4a7c15ull >> 17) & (nb - 1);
}

static cvmm_status_t grow(rc_node_t *n)
{
	uint64_t nb = n->nbuckets * 2;
	rc_page_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return CVMM_ERR_NOMEM;
	for (uint64_t i = 0; i < n->nbuckets; i++) {
		rc_page_t *p = n->buckets[i], *nx;

		for (; p; p = nx) {
			uint64_t h = hash_page(p->page, nb);

			nx = p->hnext;
			p->hnext = b[h];
			b[h] = p;
		}
	}
	free(n->buckets);
	n->buckets = b;
	n->nbuckets = nb;
	return CVMM_OK;
}

static rc_page_t *find(rc_node_t *n, uint64_t page)
{
	rc_page_t *p = n->buckets[hash_page(page, n->nbuckets)];

	while (p && p->page != page)
		p = p->hnext;
	return p;
}

/* A page's class before anything happened to it here. */
static rc_class_t initial_class(rc_node_t *n, uint64_t page)
{
	if (n->cfg.sync_at_start && n->cfg.sync_at_start(n->cfg.ctx, page))
		return RC_SYNC;
	return n->cfg.ivy_first ? RC_SC : RC_DATA;
}

static rc_page_t *get(rc_node_t *n, uint64_t page)
{
	rc_page_t *p = find(n, page);
	uint64_t h;

	if (p)
		return p;
	if (n->npages_rec >= n->nbuckets && grow(n) != CVMM_OK)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->page = page;
	p->was_home = RC_NOHOME;
	p->cls = (uint8_t)initial_class(n, page);
	/* an RC_SC page's home is the owner it is promoted at */
	p->home = p->cls == RC_SC ? RC_NOHOME
				  : (uint8_t)n->cfg.manager(n->cfg.ctx, page);
	h = hash_page(page, n->nbuckets);
	p->hnext = n->buckets[h];
	n->buckets[h] = p;
	n->npages_rec++;
	return p;
}

static uint32_t manager(rc_node_t *n, uint64_t page)
{
	return n->cfg.manager(n->cfg.ctx, page);
}

static bool homed_here(rc_node_t *n, const rc_page_t *p)
{
	return p->home == n->cfg.self;
}

static void unlist(rc_node_t *n, rc_page_t *p)
{
	if (!p->listed)
		return;
	if (p->lprev)
		p->lprev->lnext = p->lnext;
	else if (n->cdirty == p)
		n->cdirty = p->lnext;
	else
		n->hdirty = p->lnext;
	if (p->lnext)
		p->lnext->lprev = p->lprev;
	p->lnext = p->lprev = NULL;
	p->listed = false;
}

/* Keeps p on the list a release (and the tick) must visit: the dirty
 * pages (with a twin), homed elsewhere or here. Clean copies are on no
 * list: a release's work is what was written, not what is cached. */
static void relist(rc_node_t *n, rc_page_t *p)
{
	bool home = homed_here(n, p);
	bool want = p->twin != NULL;
	rc_page_t **head = home ? &n->hdirty : &n->cdirty;

	if (want == p->listed)
		return;
	if (!want) {
		unlist(n, p);
		return;
	}
	p->lprev = NULL;
	p->lnext = *head;
	if (*head)
		(*head)->lprev = p;
	*head = p;
	p->listed = true;
}

/* Learns (or, at the manager, decides) the page's home; the page moves to
 * the list it belongs on. */
static void set_home(rc_node_t *n, rc_page_t *p, uint32_t home)
{
	unlist(n, p);
	p->home = (uint8_t)home;
	relist(n, p);
}

/* ---- lock and outbox --------------------------------------------------- */

static void lock(rc_node_t *n, rc_outbox_t *ob)
{
	pthread_mutex_lock(&n->lock);
	memset(ob, 0, sizeof(*ob));
	n->ob = ob;
}

/* The outbox's messages to each node, in order, as batches (ops->
 * send_many): for each destination in the order of its first message. */
static cvmm_status_t send_batches(rc_node_t *n, rc_outbox_t *ob)
{
	unsigned k = ob->len;
	rc_msg_t *m = malloc(k * sizeof(*m));
	const void **d = malloc(k * sizeof(*d));
	size_t *l = malloc(k * sizeof(*l));
	bool *done = calloc(k, sizeof(*done));
	cvmm_status_t st = m && d && l && done ? CVMM_OK : CVMM_ERR_NOMEM;

	for (unsigned i = 0; i < k && st == CVMM_OK; i++) {
		unsigned b = 0;

		if (done[i])
			continue;
		for (unsigned j = i; j < k; j++)
			if (!done[j] && ob->v[j].dst == ob->v[i].dst) {
				done[j] = true;
				m[b] = ob->v[j].m;
				d[b] = ob->v[j].data;
				l[b++] = ob->v[j].len;
			}
		st = n->cfg.ops->send_many(n->cfg.ctx, ob->v[i].dst, m, d, l,
					   b);
	}
	free(m);
	free(d);
	free(l);
	free(done);
	return st;
}

/* Unlocks, then sends what the step produced: in order, or per node in
 * order (batches). Returns the first error of the step (st), the outbox
 * or a send. */
static cvmm_status_t unlock_send(rc_node_t *n, cvmm_status_t st)
{
	rc_outbox_t *ob = n->ob;

	n->ob = NULL;
	pthread_mutex_unlock(&n->lock);
	if (st == CVMM_OK)
		st = ob->err;
	if (st == CVMM_OK && ob->len > 1 && n->cfg.ops->send_many)
		st = send_batches(n, ob);
	else
		for (unsigned i = 0; i < ob->len && st == CVMM_OK; i++)
			st = n->cfg.ops->send(n->cfg.ctx, ob->v[i].dst,
					      &ob->v[i].m, ob->v[i].data,
					      ob->v[i].len);
	for (unsigned i = 0; i < ob->len; i++)
		free(ob->v[i].data);
	free(ob->v);
	return st;
}

static void emit(rc_node_t *n, uint32_t dst, uint16_t type, uint64_t page,
		 uint16_t flags, uint32_t ver, uint32_t seq, const void *data,
		 size_t len)
{
	rc_outbox_t *ob = n->ob;
	rc_out_t *o;

	if (ob->err != CVMM_OK)
		return;
	if (ob->len == ob->cap) {
		unsigned cap = ob->cap ? ob->cap * 2 : 8;
		rc_out_t *v = realloc(ob->v, cap * sizeof(*v));

		if (!v) {
			ob->err = CVMM_ERR_NOMEM;
			return;
		}
		ob->v = v;
		ob->cap = cap;
	}
	o = &ob->v[ob->len];
	o->dst = dst;
	o->m = (rc_msg_t){.type = type, .flags = flags, .src = n->cfg.self,
			  .ver = ver, .seq = seq, .page = page};
	o->data = NULL;
	o->len = len;
	if (len) {
		o->data = malloc(len);
		if (!o->data) {
			ob->err = CVMM_ERR_NOMEM;
			return;
		}
		memcpy(o->data, data, len);
	}
	ob->len++;
}

/* ---- acks ------------------------------------------------------------------ */

/* Room in the ring for seq (the ring covers acked_upto+1 .. +ring_cap). */
static cvmm_status_t ring_fit(rc_node_t *n, uint32_t seq)
{
	uint32_t cap = n->ring_cap;
	uint8_t *r;

	if (seq - n->acked_upto <= cap)
		return CVMM_OK;
	while (seq - n->acked_upto > cap)
		cap *= 2;
	r = calloc(cap, 1);
	if (!r)
		return CVMM_ERR_NOMEM;
	for (uint32_t s = n->acked_upto + 1; s != n->seq + 1; s++)
		r[s & (cap - 1)] = n->ring[s & (n->ring_cap - 1)];
	free(n->ring);
	n->ring = r;
	n->ring_cap = cap;
	return CVMM_OK;
}

static bool ack_seq(rc_node_t *n, uint32_t seq)
{
	if (seq - n->acked_upto - 1 >= n->seq - n->acked_upto)
		return false; /* not outstanding */
	if (n->ring[seq & (n->ring_cap - 1)])
		return false; /* acked twice */
	n->ring[seq & (n->ring_cap - 1)] = 1;
	while (n->acked_upto != n->seq &&
	       n->ring[(n->acked_upto + 1) & (n->ring_cap - 1)]) {
		n->acked_upto++;
		n->ring[n->acked_upto & (n->ring_cap - 1)] = 0;
	}
	return true;
}

/* ---- race log ---------------------------------------------------------------- */

static void report_race(rc_node_t *n, uint64_t page, uint32_t a, uint32_t b,
			unsigned off)
{
	rc_race_t r = {.page = page, .a = a, .b = b, .off = off};

	n->stats.races++;
	if (n->cfg.halt_on_race)
		n->halted = true;
	if (n->cfg.ops->race)
		n->cfg.ops->race(n->cfg.ctx, &r);
}

/* The bytes the well-formed diff d[0..len) changes, as a mask. */
static void mask_runs(uint64_t *m, const uint8_t *d, size_t len)
{
	size_t pos = 0;
	unsigned off, cnt;
	const uint8_t *bytes;

	memset(m, 0, MASK_WORDS * sizeof(*m));
	while (diff_run(d, len, &pos, &off, &cnt, &bytes)) {
		unsigned end = off + cnt; /* bits [off, end), <= DIFF_PAGE */

		for (unsigned w = off / 64; w * 64 < end; w++) {
			uint64_t bits = ~0ull;

			if (w == off / 64)
				bits &= ~0ull << (off % 64);
			if (end < w * 64 + 64)
				bits &= ~(~0ull << (end % 64));
			m[w] |= bits;
		}
	}
}

/* The first byte of the diff d[0..len) whose bit is set in mask and
 * whose value differs from ref's, DIFF_PAGE if none. */
static unsigned first_conflict(const uint64_t *mask, const uint8_t *d,
			       size_t len, const uint8_t *ref)
{
	size_t pos = 0;
	unsigned off, cnt;
	const uint8_t *bytes;

	while (diff_run(d, len, &pos, &off, &cnt, &bytes))
		for (unsigned b = off; b < off + cnt; b++)
			if ((mask[b / 64] >> (b % 64) & 1) &&
			    bytes[b - off] != ref[b])
				return b;
	return DIFF_PAGE;
}

/* A diff from node with base base is about to make version p->ver + 1:
 * reports the first byte it shares with a logged diff of another node
 * that its copy did not include, unless it writes the value that byte
 * holds already in ref (the page as the earlier writes left it): two
 * nodes storing the same value (the kernel's two tid stores at a clone,
 * say) is harmless. Then logs it. */
static void race_check_log(rc_node_t *n, rc_page_t *p, uint32_t node,
			   uint32_t base, const uint8_t *d, size_t len,
			   const uint8_t *ref)
{
	rc_log_t *lg = p->log;
	uint64_t m[MASK_WORDS];
	unsigned k;

	if (!lg) {
		lg = p->log = calloc(1, sizeof(*lg));
		if (!lg)
			return; /* no detection for this page */
	}
	mask_runs(m, d, len);
	for (unsigned e = 0; e < lg->used; e++) {
		uint64_t common = 0;
		unsigned b;

		if (lg->node[e] == node || lg->ver[e] <= base)
			continue;
		for (unsigned w = 0; w < MASK_WORDS; w++)
			common |= lg->mask[e][w] & m[w];
		if (!common) /* no byte in common: the usual case */
			continue;
		b = first_conflict(lg->mask[e], d, len, ref);
		if (b < DIFF_PAGE) {
			report_race(n, p->page, lg->node[e], node, b);
			break;
		}
	}
	k = lg->next;
	lg->next = (k + 1) % RC_LOG;
	if (lg->used < RC_LOG)
		lg->used++;
	lg->node[k] = (uint8_t)node;
	lg->ver[k] = p->ver + 1;
	memcpy(lg->mask[k], m, sizeof(m));
}

/* ---- steps ------------------------------------------------------------------- */

/* Race detection: p->base is the page's version this node knows of,
 * that is every write released before this node's last acquire (n->epoch
 * counts acquires). A write notice reaches every copy before the release
 * it serves completes, so one that arrived before the last acquire is
 * known, and one that arrived after it is not, even once a fetch brought
 * the bytes (eager invalidation shows writes early). At the home, every
 * diff applied before the epoch began is known (hbase: the master's
 * version when this epoch saw its first diff). A base too high only
 * misses a race; it is never lower than what is known (no false race). */
static void home_epoch(rc_node_t *n, rc_page_t *p)
{
	if (p->epoch != n->epoch) {
		p->epoch = n->epoch;
		p->hbase = p->ver;
	}
}

static uint32_t home_base(rc_node_t *n, rc_page_t *p)
{
	return p->epoch == n->epoch ? p->hbase : p->ver;
}

/* The base a diff made now carries: what this node knows of the page at
 * the end of the interval (a write it learned of by an acquire during
 * the interval is known; the diff's writes before that acquire are then
 * not checked against it: a race missed, never a false one). */
static void know(rc_node_t *n, rc_page_t *p)
{
	uint32_t k;

	if (homed_here(n, p))
		k = home_base(n, p);
	else if (p->epoch != n->epoch)
		k = p->seen;
	else /* what was seen before this epoch's first notice came: a
		copy fetched in an earlier epoch is known since its acquire
		(p->base may be older: a notice then held it back) */
		k = p->pre_wn > p->base ? p->pre_wn : p->base;
	if (k > p->base)
		p->base = k;
}

static cvmm_status_t take_twin(rc_node_t *n, rc_page_t *p)
{
	p->twin = malloc(DIFF_PAGE);
	if (!p->twin)
		return CVMM_ERR_NOMEM;

	n->cfg.ops->read(n->cfg.ctx, p->page, p->twin);
	n->stats.twins++;
	n->ntwins++;
	return CVMM_OK;
}

static void drop_twin(rc_node_t *n, rc_page_t *p)
{
	if (!p->twin)
		return;
	free(p->twin);
	p->twin = NULL;
	n->ntwins--;
}

/* The diff of p's dirty copy against its twin into n->dbuf (the current
 * bytes in n->buf), a writable mapping write-protected first; the caller
 * drops the twin (keep_twin: not while the agent writes the page through
 * its own view, where no write protection stops it: the twin stays and
 * the next diff carries what this one did and what follows). */
static bool keep_twin(const rc_page_t *p)
{
	return p->pins > 0;
}

/* Ending p's interval write-protects it: mapped writable and no agent
 * write in progress (keep_twin). protect_dirty does it ahead for a
 * release's dirty pages in runs. */
static bool protect_due(const rc_page_t *p)
{
	return p->st == RC_RW && !keep_twin(p);
}

static size_t close_interval(rc_node_t *n, rc_page_t *p, cvmm_status_t *st)
{
	size_t len;

	know(n, p);
	if (protect_due(p)) {
		*st = n->cfg.ops->map(n->cfg.ctx, p->page, false);
		p->st = RC_RO;
	}
	n->cfg.ops->read(n->cfg.ctx, p->page, n->buf);
	len = diff_encode(p->twin, n->buf, n->dbuf);
	if (len == 0)
		n->stats.diffs_empty++;
	p->hot = len > 0;
	return len;
}

static cvmm_status_t send_diff(rc_node_t *n, rc_page_t *p, uint32_t base,
			       const uint8_t *d, size_t len, uint16_t flags)
{
	cvmm_status_t e = ring_fit(n, n->seq + 1);

	if (e != CVMM_OK)
		return e;
	n->seq++;
	emit(n, p->home, RC_MSG_DIFF, p->page, flags, base, n->seq, d, len);
	p->inflight++;
	n->stats.diffs_sent++;
	n->stats.diff_bytes += len;
	return CVMM_OK;
}

/* Ends the interval of a dirty copy of a page homed elsewhere and sends
 * its diff, or queues it while an earlier diff of the page is in flight. */
static cvmm_status_t flush_one(rc_node_t *n, rc_page_t *p)
{
	cvmm_status_t st = CVMM_OK;
	size_t len = close_interval(n, p, &st);

	if (!keep_twin(p))
		drop_twin(n, p);
	if (len > 0 && (p->inflight > 0 || p->qhead)) {
		rc_qdiff_t *q = malloc(sizeof(*q) + len);

		if (!q)
			return CVMM_ERR_NOMEM;
		q->next = NULL;
		q->base = p->base;
		q->len = len;
		memcpy(q->d, n->dbuf, len);
		if (p->qtail)
			p->qtail->next = q;
		else
			p->qhead = q;
		p->qtail = q;
		n->nqueued++;
	} else if (len > 0) {
		cvmm_status_t e = send_diff(n, p, p->base, n->dbuf, len, 0);

		if (st == CVMM_OK)
			st = e;
	}
	relist(n, p);
	return st;
}

/* A flush's SYNC_ACK leaves once nothing of this node's is in flight for
 * the page any more: every diff acknowledged (none queued), the agent
 * done writing it (its last diff sent), and a FETCH sent before the
 * flush answered (the home answers it, refusing: after the ack the page
 * may go back to sequential first, where nothing of this protocol may
 * reach it any more, back_to_sc). */
static void flush_ack(rc_node_t *n, rc_page_t *p)
{
	if (!p->flush_pending || p->inflight || p->qhead || p->twin ||
	    p->pins || p->st == RC_FETCH)
		return;
	p->flush_pending = false;
	emit(n, p->home, RC_MSG_SYNC_ACK, p->page, 0, 0, 0, NULL, 0);
}

static int page_order(const void *a, const void *b)
{
	uint64_t x = (*(rc_page_t *const *)a)->page;
	uint64_t y = (*(rc_page_t *const *)b)->page;

	return x < y ? -1 : x > y;
}

/* Before the intervals of the dirty pages homed here (and with copies,
 * those homed elsewhere) end: every one mapped writable and not pinned
 * is write-protected now, in runs of neighbouring pages, one
 * ops->protect each instead of one call (and one TLB shootdown) per
 * page; close_interval then finds them read-only. Pages a run could not
 * protect, or all of them without memory for the sort, are left to
 * close_interval. Under the node's lock, like the closes that follow:
 * a write to a page protected here waits for them and takes a new
 * twin. */
static void protect_dirty(rc_node_t *n, bool copies)
{
	rc_page_t *p;
	size_t k = 0, i, j;

	if (!n->cfg.ops->protect)
		return;
	for (int l = copies ? 0 : 1; l < 2; l++)
		for (p = l ? n->hdirty : n->cdirty; p; p = p->lnext)
			k += p->twin && protect_due(p);
	if (k == 0)
		return;
	if (k > n->pv_cap) {
		rc_page_t **v = realloc(n->pv, k * sizeof(*v));

		if (!v)
			return;
		n->pv = v;
		n->pv_cap = k;
	}
	k = 0;
	for (int l = copies ? 0 : 1; l < 2; l++)
		for (p = l ? n->hdirty : n->cdirty; p; p = p->lnext)
			if (p->twin && protect_due(p))
				n->pv[k++] = p;
	qsort(n->pv, k, sizeof(*n->pv), page_order);
	for (i = 0; i < k; i = j) {
		for (j = i + 1; j < k && n->pv[j]->page == n->pv[j - 1]->page + 1;
		     j++)
			;
		if (n->cfg.ops->protect(n->cfg.ctx, n->pv[i]->page, j - i) !=
		    CVMM_OK)
			continue;
		for (size_t m = i; m < j; m++)
			n->pv[m]->st = RC_RO;
	}
}

static void drop_queued(rc_node_t *n, rc_page_t *p)
{
	while (p->qhead) {
		rc_qdiff_t *q = p->qhead;

		p->qhead = q->next;
		free(q);
		n->nqueued--;
	}
	p->qtail = NULL;
}

/* At the home: the nodes in mask count their notices with the diff
 * afresh (their own diff came, or they left the page). */
static void quiet_reset(rc_page_t *p, uint64_t mask)
{
	p->quiet[0] &= ~mask;
	p->quiet[1] &= ~mask;
}

/* At the home: the co-writers c among the noticed nodes t got one more
 * notice with the diff; the one that makes as many since their own last
 * diff as there are other nodes in the VM (at most RC_QUIET) ends it
 * (their next notice is plain), as does any other notice (t not in c: a
 * plain one, or the tick's diff to a node that is no co-writer). */
static void quiet_count(rc_node_t *n, rc_page_t *p, uint64_t c, uint64_t t)
{
	unsigned others = (unsigned)__builtin_popcountll(n->members) - 1;
	unsigned lim = others < RC_QUIET ? others : RC_QUIET;
	uint64_t lo = p->quiet[0], hi = p->quiet[1], end = t & ~c;

	_Static_assert(RC_QUIET <= 4, "counts below RC_QUIET fit two bits");

	for (uint64_t m = c; m; m &= m - 1) {
		uint64_t b = m & -m;
		unsigned k = 1 + !!(lo & b) + 2 * !!(hi & b);

		lo &= ~b;
		hi &= ~b;
		if (k >= lim) {
			end |= b;
			continue;
		}
		if (k & 1)
			lo |= b;
		if (k & 2)
			hi |= b;
	}
	p->writers &= ~end;
	p->quiet[0] = lo & ~end;
	p->quiet[1] = hi & ~end;
}

/* At the home, a diff d[0..len) from writer made version p->ver: every
 * other node that may hold a copy gets a write notice. It carries the
 * diff (the node updates its copy or drops it) when the node is a
 * co-writer (p->writers: its own diff came since its last notices with
 * the diff, one from each other node: quiet_count), or the diff is the
 * staleness tick's (tick: a few bytes, where a drop would cost the node
 * a fetch, and its own diff first when it is writing the page too),
 * unless its last notice with the diff dropped its copy (p->dropped);
 * else it is plain (the node drops whatever it has and leaves the
 * copyset). The diff counts as done (writer's DIFF_ACK, or the home's
 * own seq acked) when all have acknowledged. A release so completes only
 * once no stale copy of what it wrote is left anywhere, and an acquire
 * has nothing to invalidate. */
static cvmm_status_t notice(rc_node_t *n, rc_page_t *p, uint32_t writer,
			    uint32_t seq, const uint8_t *d, size_t len,
			    bool tick)
{
	uint64_t t = p->copyset & ~(1ull << writer) & ~(1ull << n->cfg.self);
	uint64_t plain = !d || len == 0 ? t
			 : tick		 ? t & p->dropped
					 : t & (p->dropped | ~p->writers);
	rc_wait_t *w;

	p->copyset &= ~plain;
	p->dropped &= ~plain;
	quiet_count(n, p, t & ~plain & p->writers, t);
	if (t == 0) {
		if (writer != n->cfg.self)
			emit(n, writer, RC_MSG_DIFF_ACK, p->page, 0, p->ver,
			     seq, NULL, 0);
		else if (ack_seq(n, seq) && n->cfg.ops->acked)
			n->cfg.ops->acked(n->cfg.ctx);
		return CVMM_OK;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return CVMM_ERR_NOMEM;
	*w = (rc_wait_t){.next = p->waits, .ver = p->ver, .seq = seq,
			 .writer = writer,
			 .left = (unsigned)__builtin_popcountll(t)};
	p->waits = w;
	for (uint32_t i = 0; i < n->cfg.nnodes; i++) {
		if (!(t >> i & 1))
			continue;
		if (plain >> i & 1)
			emit(n, i, RC_MSG_WN, p->page, 0, p->ver, 0, NULL, 0);
		else
			emit(n, i, RC_MSG_WN, p->page, RC_F_DIFF, p->ver, 0, d,
			     len);
	}
	n->stats.notices += w->left;
	return CVMM_OK;
}

/* The home's own writes to p, the diff d[0..len) (logged for race
 * detection already), made a new version: the other copies are noticed,
 * a seq of the home's own standing for the diff (its release waits for
 * their acks). */
static cvmm_status_t home_new_version(rc_node_t *n, rc_page_t *p,
				      const uint8_t *d, size_t len, bool tick)
{
	cvmm_status_t e;

	p->ver++;
	p->solo = p->solo_run = 0; /* not written by one other node alone */
	if (!(p->copyset & ~(1ull << n->cfg.self)))
		return CVMM_OK;
	e = ring_fit(n, n->seq + 1);
	if (e != CVMM_OK)
		return e;
	n->seq++;
	return notice(n, p, n->cfg.self, n->seq, d, len, tick);
}

/* The home's own interval on p ends: its changes are in the master
 * already; they are logged for race detection and the copies elsewhere
 * are noticed, as for a diff that arrived. */
static cvmm_status_t home_close(rc_node_t *n, rc_page_t *p)
{
	cvmm_status_t st = CVMM_OK;
	size_t len = close_interval(n, p, &st);

	if (len > 0)
		race_check_log(n, p, n->cfg.self, p->base, n->dbuf, len,
			       p->twin);
	if (keep_twin(p))
		memcpy(p->twin, n->buf, DIFF_PAGE); /* logged: a new start */
	else
		drop_twin(n, p);
	if (len > 0) {
		cvmm_status_t e = home_new_version(n, p, n->dbuf, len, false);

		if (st == CVMM_OK)
			st = e;
	}
	/* every other copy was just noticed (or there is none): the home
	 * writes on without a twin, and without the fault that would take
	 * one */
	if (st == CVMM_OK && p->st == RC_RO && !p->twin &&
	    !(p->copyset & ~(1ull << n->cfg.self))) {
		st = n->cfg.ops->map(n->cfg.ctx, p->page, true);
		p->st = RC_RW;
	}
	relist(n, p);
	return st;
}

static void send_fetch(rc_node_t *n, rc_page_t *p)
{
	p->st = RC_FETCH;
	p->refetch = false;
	emit(n, p->home, RC_MSG_FETCH, p->page, 0, 0, 0, NULL, 0);
	n->stats.fetches++;
	relist(n, p);
}

/* The page goes back to sequential first here (a flush left no copy,
 * twin, diff or notice of it anywhere): its record is a fresh RC_SC one,
 * but for the home it had, which names a refusal of the sequential
 * protocol made before as stale (to_data_locked), and a SYNC_REQ sent
 * to it then (recv_locked). */
static void back_to_sc(rc_page_t *p)
{
	/* unlisted (no twin), nothing queued: only the hash chain links it */
	rc_page_t fresh = {.hnext = p->hnext, .page = p->page,
			   .home = RC_NOHOME, .was_home = p->home,
			   .st = RC_INV, .cls = RC_SC,
			   .no_ahead = p->no_ahead};

	assert(!p->twin && !p->waits && !p->qhead && p->inflight == 0 &&
	       p->pins == 0 && !p->listed);
	free(p->log);
	*p = fresh;
}

/* The page is a sync page here now (writer < nnodes: back to sequential
 * first, to be promoted again at writer); at its home and its manager
 * the sequential protocol hears of its owner first (a home that is not
 * the page's initial owner there; the other nodes start without a copy
 * anyway). */
static cvmm_status_t sync_now(rc_node_t *n, rc_page_t *p, uint32_t writer)
{
	cvmm_status_t st = CVMM_OK;

	if (n->cfg.ops->sync_owner && (homed_here(n, p) ||
					manager(n, p->page) == n->cfg.self))
		st = n->cfg.ops->sync_owner(n->cfg.ctx, p->page, p->home,
					    writer);
	if (writer < n->cfg.nnodes)
		back_to_sc(p);
	else
		p->cls = RC_SYNC;
	n->cfg.ops->notify(n->cfg.ctx, p->page);
	return st;
}

/* Tells dst that the page is a sync page, or back to sequential first
 * for writer (< nnodes). */
static void sync_go_to(rc_node_t *n, rc_page_t *p, uint32_t dst,
		       uint32_t writer)
{
	if (writer < n->cfg.nnodes)
		emit(n, dst, RC_MSG_SYNC_GO, p->page, RC_F_SC, writer, 0, NULL,
		     0);
	else
		emit(n, dst, RC_MSG_SYNC_GO, p->page, 0, 0, 0, NULL, 0);
}

/* Tells every node but self and skip. */
static void sync_go(rc_node_t *n, rc_page_t *p, uint32_t skip,
		    uint32_t writer)
{
	for (uint32_t i = 0; i < n->cfg.nnodes; i++)
		if (i != n->cfg.self && i != skip && (n->members >> i & 1))
			sync_go_to(n, p, i, writer);
}

/* At the home, every flush done and every notice acknowledged (nothing
 * of the page is in flight: it may go back to sequential first): the
 * manager learns first when it is another node (it then tells the
 * others). */
static cvmm_status_t sync_finish(rc_node_t *n, rc_page_t *p)
{
	uint32_t m = manager(n, p->page), w = p->demote;

	if (w < n->cfg.nnodes)
		n->stats.demoted++;
	else
		n->stats.sync_pages++;
	p->demote = RC_NOHOME;
	if (m == n->cfg.self)
		sync_go(n, p, n->cfg.self, w);
	else
		sync_go_to(n, p, m, w);
	return sync_now(n, p, w);
}

/* At the home, flushing: done when every SYNC_ACK and every notice's
 * ack came. */
static cvmm_status_t sync_settle(rc_node_t *n, rc_page_t *p)
{
	if (p->cls != RC_SYNC_WAIT || p->pending > 0 || p->waits)
		return CVMM_OK;
	return sync_finish(n, p);
}

/* At the home: the page becomes a sync page (asked by node from, or the
 * home saw the atomic itself), or with writer < nnodes goes back to
 * sequential first (demote_after). A request for a page already on its
 * way is answered by the SYNC_GO that every node gets. */
static cvmm_status_t home_sync_begin(rc_node_t *n, rc_page_t *p,
				     uint32_t writer)
{
	cvmm_status_t st = CVMM_OK;

	if (p->cls != RC_DATA)
		return CVMM_OK;
	p->cls = RC_SYNC_WAIT;
	p->demote = writer < n->cfg.nnodes ? (uint8_t)writer : RC_NOHOME;
	if (p->twin)
		st = home_close(n, p);
	if (p->st != RC_INV) {
		cvmm_status_t e = n->cfg.ops->unmap(n->cfg.ctx, p->page);

		if (st == CVMM_OK)
			st = e;
		p->st = RC_INV;
	}
	p->pending = (uint8_t)__builtin_popcountll(n->members &
						   ~(1ull << n->cfg.self));
	for (uint32_t i = 0; i < n->cfg.nnodes; i++)
		if (i != n->cfg.self && (n->members >> i & 1))
			emit(n, i, RC_MSG_SYNC_FLUSH, p->page, 0, 0, 0, NULL, 0);
	{
		cvmm_status_t e = sync_settle(n, p);

		if (st == CVMM_OK)
			st = e;
	}
	return st;
}

/* ---- interface ------------------------------------------------------------- */

cvmm_status_t rc_node_create(const rc_cfg_t *cfg, rc_node_t **out)
{
	rc_node_t *n;

	if (!cfg || !out || cfg->nnodes < 1 || cfg->nnodes > RC_MAX_NODES ||
	    cfg->self >= cfg->nnodes || !cfg->ops || !cfg->manager ||
	    !cfg->ops->send || !cfg->ops->map ||
	    !cfg->ops->unmap || !cfg->ops->read || !cfg->ops->put ||
	    !cfg->ops->apply || !cfg->ops->notify ||
	    cfg->twin_ahead > RC_TWIN_AHEAD_MAX ||
	    (cfg->demote_after &&
	     (!cfg->ivy_first || !cfg->ops->sync_owner)) ||
	    (cfg->nnodes < 64 && cfg->members >> cfg->nnodes))
		return CVMM_ERR_INVALID;
	n = calloc(1, sizeof(*n));
	if (!n)
		return CVMM_ERR_NOMEM;
	n->cfg = *cfg;
	n->members = cfg->members ? cfg->members
				  : (cfg->nnodes == 64 ? ~0ull
						       : (1ull << cfg->nnodes) - 1);
	n->members |= 1ull << cfg->self;
	n->nbuckets = 1024;
	n->buckets = calloc(n->nbuckets, sizeof(*n->buckets));
	n->ring_cap = 256;
	n->epoch = 1;
	n->ring = calloc(n->ring_cap, 1);
	if (!n->buckets || !n->ring) {
		free(n->buckets);
		free(n->ring);
		free(n);
		return CVMM_ERR_NOMEM;
	}
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return CVMM_OK;
}

void rc_node_destroy(rc_node_t *n)
{
	if (!n)
		return;
	for (uint64_t i = 0; i < n->nbuckets; i++) {
		rc_page_t *p = n->buckets[i], *nx;

		for (; p; p = nx) {
			nx = p->hnext;
			free(p->twin);
			free(p->log);
			while (p->qhead) {
				rc_qdiff_t *q = p->qhead;

				p->qhead = q->next;
				free(q);
			}
			while (p->waits) {
				rc_wait_t *w = p->waits;

				p->waits = w->next;
				free(w);
			}
			free(p);
		}
	}
	free(n->pv);
	free(n->buckets);
	free(n->ring);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* A page a write to a neighbour twins ahead: a data page mapped
 * read-only here whose last interval here ended with writes (it is
 * likely written again now, as its neighbour is), that a write fault
 * would twin and map writable at once: at its home only while another
 * node holds a copy (else the home writes without a twin). */
static bool can_twin_ahead(rc_node_t *n, const rc_page_t *p)
{
	return p && p->cls == RC_DATA && p->hot && p->st == RC_RO &&
	       !p->twin && p->pins == 0 &&
	       (!homed_here(n, p) || (p->copyset & ~(1ull << n->cfg.self)));
}

/* Pages [first, first + count), twinned ahead, are mapped writable: in
 * one ops->unprotect, else page by page. */
static cvmm_status_t map_run(rc_node_t *n, uint64_t first, uint64_t count)
{
	cvmm_status_t st = CVMM_OK;

	if (count == 0 || (n->cfg.ops->unprotect &&
			   n->cfg.ops->unprotect(n->cfg.ctx, first, count) ==
				   CVMM_OK))
		return CVMM_OK;
	for (uint64_t q = first; q < first + count; q++) {
		cvmm_status_t e = n->cfg.ops->map(n->cfg.ctx, q, true);

		if (st == CVMM_OK)
			st = e;
	}
	return st;
}

/* A write fault on page: the next cfg.twin_ahead pages that
 * can_twin_ahead take their twins now and become writable, each as its
 * own write fault would (a neighbour of a page written in every
 * interval is written too: a stencil's rows, a block's pages), mapped
 * in runs (ops->unprotect); one not written after all only costs an
 * empty diff at the release, which then stops twinning it ahead. */
static cvmm_status_t twin_ahead(rc_node_t *n, uint64_t page)
{
	uint64_t first = page + 1, end = page + 1 + n->cfg.twin_ahead;
	cvmm_status_t st = CVMM_OK;

	if (end > n->cfg.npages)
		end = n->cfg.npages;
	for (uint64_t q = page + 1; q <= end; q++) {
		rc_page_t *p = q < end ? find(n, q) : NULL;
		cvmm_status_t e;

		if (can_twin_ahead(n, p) && take_twin(n, p) == CVMM_OK) {
			p->st = RC_RW;
			relist(n, p);
			n->stats.twins_ahead++;
			continue;
		}
		e = map_run(n, first, q - first); /* the run before q */
		if (st == CVMM_OK)
			st = e;
		first = q + 1;
	}
	return st;
}

static cvmm_status_t fault_locked(rc_node_t *n, uint64_t page, bool write,
				  bool atomic, rc_fault_kind_t *kind)
{
	rc_page_t *p = get(n, page);
	cvmm_status_t st = CVMM_OK;

	*kind = RC_WAIT;
	if (!p)
		return CVMM_ERR_NOMEM;
	p->no_ahead = false;
	if (p->cls == RC_SYNC || p->cls == RC_SC) {
		*kind = RC_IVY;
		return CVMM_OK;
	}
	if (p->cls == RC_SYNC_WAIT)
		return CVMM_OK;
	/* a data page's home is known: its manager, or where it was
	 * handed over (rc_to_data) */
	assert(p->home != RC_NOHOME);
	if (atomic) {
		if (homed_here(n, p)) {
			st = home_sync_begin(n, p, RC_NOHOME);
		} else {
			p->cls = RC_SYNC_WAIT;
			emit(n, p->home, RC_MSG_SYNC_REQ, page, 0, 0, 0, NULL,
			     0);
		}
		if (p->cls == RC_SYNC)
			*kind = RC_IVY;
		return st;
	}
	if (homed_here(n, p)) {
		/* the home twins too when others hold copies: its changes go
		 * out as notices (and take part in race detection) at its
		 * release; with no copy elsewhere it writes without one (a
		 * FETCH write-protects the page again) */
		if (write && p->st != RC_RW) {
			if (p->copyset & ~(1ull << n->cfg.self)) {
				st = take_twin(n, p);
				if (st != CVMM_OK)
					return st;
			}
			if (p->st == RC_RO)
				st = twin_ahead(n, page);
			if (st != CVMM_OK)
				return st;
			p->st = RC_RW;
		} else if (p->st == RC_INV) {
			/* read: writable at once when nobody else has a copy
			 * (as good as a write's fault, no twin needed) */
			p->st = p->copyset & ~(1ull << n->cfg.self) ? RC_RO
								    : RC_RW;
		}
		relist(n, p);
		*kind = RC_READY;
		return n->cfg.ops->map(n->cfg.ctx, page, p->st == RC_RW);
	}
	switch (p->st) {
	case RC_INV:
		if (p->twin && p->pins > 0)
			return CVMM_OK; /* the agent is still writing it:
					   wait for its unpin, then diff */
		if (p->twin) /* left dirty by a write notice: diff first */
			st = flush_one(n, p);
		if (p->inflight > 0) {
			/* our own diff must be in the home's copy before we
			 * fetch it (no order between messages is assumed) */
			p->st = RC_FETCH;
			p->after_ack = true;
			relist(n, p);
			return st;
		}
		send_fetch(n, p);
		return st;
	case RC_FETCH:
		return CVMM_OK;
	case RC_RO:
		if (write) {
			/* a copy a notice updated while dirty keeps its twin */
			if (!p->twin)
				st = take_twin(n, p);
			if (st == CVMM_OK)
				st = twin_ahead(n, page);
			if (st != CVMM_OK)
				return st;
			p->st = RC_RW;
			relist(n, p);
		}
		break;
	default:
		break;
	}
	*kind = RC_READY;
	return n->cfg.ops->map(n->cfg.ctx, page, p->st == RC_RW);
}

cvmm_status_t rc_fault(rc_node_t *n, uint64_t page, bool write, bool atomic,
		       rc_fault_kind_t *kind)
{
	rc_outbox_t ob;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	lock(n, &ob);
	return unlock_send(n, fault_locked(n, page, write, atomic, kind));
}

cvmm_status_t rc_fault_pin(rc_node_t *n, uint64_t page,
			   rc_fault_kind_t *kind)
{
	rc_outbox_t ob;
	cvmm_status_t st;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	lock(n, &ob);
	st = fault_locked(n, page, true, false, kind);
	if (st == CVMM_OK && *kind == RC_READY)
		find(n, page)->pins++;
	return unlock_send(n, st);
}

/* A page rc_fetch_ahead may ask for: a data page homed elsewhere, with no
 * copy here and nothing of ours pending (a twin, a diff in flight or
 * waiting, a pin), faulted on here since its last drop. */
static bool can_fetch_ahead(rc_node_t *n, const rc_page_t *p)
{
	return p && p->cls == RC_DATA && p->home != RC_NOHOME &&
	       !homed_here(n, p) && p->st == RC_INV && !p->twin &&
	       p->inflight == 0 && !p->qhead && p->pins == 0 &&
	       !p->no_ahead;
}

cvmm_status_t rc_fetch_ahead(rc_node_t *n, const uint64_t *pages,
			     unsigned k)
{
	rc_outbox_t ob;

	lock(n, &ob);
	for (unsigned i = 0; i < k; i++) {
		rc_page_t *p = pages[i] < n->cfg.npages ? find(n, pages[i])
							: NULL;

		if (!can_fetch_ahead(n, p))
			continue;
		send_fetch(n, p);
		n->stats.fetches_ahead++;
	}
	return unlock_send(n, CVMM_OK);
}

void rc_unpin(rc_node_t *n, uint64_t page)
{
	rc_outbox_t ob;
	cvmm_status_t st = CVMM_OK;
	rc_page_t *p;

	lock(n, &ob);
	p = find(n, page);
	if (p && p->pins > 0 && --p->pins == 0) {
		/* flushed meanwhile: what the agent wrote since goes home
		 * before the flush is acknowledged */
		if (p->flush_pending && p->twin)
			st = flush_one(n, p);
		flush_ack(n, p);
		n->cfg.ops->notify(n->cfg.ctx, page); /* faults wait for it */
	}
	st = unlock_send(n, st);
	if (st != CVMM_OK)
		log_error("node %u page 0x%llx: flush after the agent's write: "
			  "%s", n->cfg.self, (unsigned long long)page,
			  cvmm_status_str(st));
}

/* Ends the home's own intervals (its dirty pages homed here); the first
 * error. */
static cvmm_status_t close_home_intervals(rc_node_t *n)
{
	cvmm_status_t st = CVMM_OK;
	rc_page_t *p, *nx;

	protect_dirty(n, false);
	for (p = n->hdirty; p; p = nx) {
		cvmm_status_t e;

		nx = p->lnext;
		e = home_close(n, p);
		if (st == CVMM_OK)
			st = e;
	}
	return st;
}

cvmm_status_t rc_release(rc_node_t *n, uint64_t *ticket)
{
	rc_outbox_t ob;
	cvmm_status_t st = CVMM_OK;
	rc_page_t *p, *nx;

	lock(n, &ob);
	protect_dirty(n, true);
	for (p = n->cdirty; p; p = nx) {
		nx = p->lnext;
		if (p->twin) {
			cvmm_status_t e = flush_one(n, p);

			if (st == CVMM_OK)
				st = e;
		}
	}
	{
		cvmm_status_t e = close_home_intervals(n);

		if (st == CVMM_OK)
			st = e;
	}
	n->stats.releases++;
	n->rel++;
	*ticket = n->seq | (uint64_t)(n->nqueued > 0) << 32;
	return unlock_send(n, st);
}

bool rc_released(rc_node_t *n, uint64_t ticket)
{
	bool done;

	pthread_mutex_lock(&n->lock);
	/* seq numbers wrap at 2^32: compare by distance from acked_upto */
	if (n->halted)
		done = false;
	else if (ticket >> 32) /* a page of it waited to be flushed: wait for all */
		done = n->nqueued == 0 && n->acked_upto == n->seq;
	else
		done = (uint32_t)ticket - n->acked_upto - 1 >=
		       n->seq - n->acked_upto;
	pthread_mutex_unlock(&n->lock);
	return done;
}

cvmm_status_t rc_acquire(rc_node_t *n, bool thread)
{
	rc_outbox_t ob;
	cvmm_status_t st;

	lock(n, &ob);
	if (thread)
		n->epoch++;
	st = close_home_intervals(n);
	n->stats.acquires++;
	return unlock_send(n, st);
}

/* One dirty page's writes so far go out without ending its interval: no
 * write protection (the page stays writable, no fault follows), the twin
 * becomes the bytes the diff was made from, so what is written meanwhile
 * is in the next diff. */
static cvmm_status_t tick_one(rc_node_t *n, rc_page_t *p)
{
	size_t len;

	n->cfg.ops->read(n->cfg.ctx, p->page, n->buf);
	len = diff_encode(p->twin, n->buf, n->dbuf);
	p->ticked = n->rel + 1;
	if (len == 0 || len > RC_TICK_MAX)
		return CVMM_OK;
	know(n, p);
	if (homed_here(n, p)) {
		race_check_log(n, p, n->cfg.self, p->base, n->dbuf, len,
			       p->twin);
		memcpy(p->twin, n->buf, DIFF_PAGE);
		return home_new_version(n, p, n->dbuf, len, true);
	}
	memcpy(p->twin, n->buf, DIFF_PAGE);
	return send_diff(n, p, p->base, n->dbuf, len, RC_F_TICK);
}

cvmm_status_t rc_tick(rc_node_t *n)
{
	rc_outbox_t ob;
	cvmm_status_t st = CVMM_OK;
	rc_page_t *p;

	lock(n, &ob);
	for (p = n->cdirty; p && st == CVMM_OK; p = p->lnext)
		if (p->twin && p->ticked != n->rel + 1 && p->inflight == 0 &&
		    !p->qhead)
			st = tick_one(n, p);
	for (p = n->hdirty; p && st == CVMM_OK; p = p->lnext)
		if (p->ticked != n->rel + 1)
			st = tick_one(n, p);
	return unlock_send(n, st);
}

bool rc_clean(rc_node_t *n)
{
	bool clean;

	pthread_mutex_lock(&n->lock);
	clean = n->ntwins == 0 && n->acked_upto == n->seq;
	pthread_mutex_unlock(&n->lock);
	return clean;
}

static void drop_one(rc_node_t *n, rc_page_t *p)
{
	p->no_ahead = true;
	p->hot = false;
	drop_queued(n, p);
	drop_twin(n, p);
	free(p->log);
	p->log = NULL;
	p->copyset = 0;
	p->dropped = 0;
	p->writers = 0;
	quiet_reset(p, ~0ull);
	if (p->st == RC_FETCH) {
		if (p->after_ack)
			p->st = RC_INV; /* asked again at the next fault */
		else
			p->refetch = true;
		p->after_ack = false;
	} else {
		p->st = RC_INV;
	}
	relist(n, p);
}

cvmm_status_t rc_drop(rc_node_t *n, uint64_t first, uint64_t end)
{
	rc_page_t *p, *nx;

	pthread_mutex_lock(&n->lock);
	for (p = n->cdirty; p; p = nx) {
		nx = p->lnext;
		if (p->page >= first && p->page < end)
			drop_one(n, p);
	}
	for (p = n->hdirty; p; p = nx) {
		nx = p->lnext;
		if (p->page >= first && p->page < end)
			drop_one(n, p);
	}
	/* pages homed here that are clean: their logs and mappings */
	if (end - first <= n->npages_rec) {
		for (uint64_t q = first; q < end; q++) {
			p = find(n, q);
			if (p && p->cls == RC_DATA)
				drop_one(n, p);
		}
	} else {
		for (uint64_t i = 0; i < n->nbuckets; i++)
			for (p = n->buckets[i]; p; p = p->hnext)
				if (p->page >= first && p->page < end &&
				    p->cls == RC_DATA)
					drop_one(n, p);
	}
	pthread_mutex_unlock(&n->lock);
	return CVMM_OK;
}

static cvmm_status_t peer(rc_node_t *n, const rc_msg_t *m, const char *why)
{
	log_error("node %u page 0x%llx: rc %s from node %u: %s", n->cfg.self,
		  (unsigned long long)m->page, rc_msg_type_str(m->type), m->src,
		  why);
	return CVMM_ERR_PEER;
}

/* At the home: node src asks for the page. A copy going out ends the
 * home's writing without a twin: the page is write-protected, so that
 * the home's next write faults and takes the twin (what it writes from
 * there on is noticed at its release) and is decoded like any node's (an
 * atomic then makes it a sync page). A page the agent is writing through
 * its own view, which no protection stops, takes the twin now instead. */
static cvmm_status_t serve_fetch(rc_node_t *n, rc_page_t *p, uint32_t src)
{
	if (p->cls != RC_DATA) {
		emit(n, src, RC_MSG_PAGE, p->page, RC_F_SYNC, p->ver, 0, NULL,
		     0);
		return CVMM_OK;
	}
	if (p->st == RC_RW && !p->twin) {
		cvmm_status_t st;

		if (p->pins > 0) {
			st = take_twin(n, p);
			relist(n, p);
		} else {
			st = n->cfg.ops->map(n->cfg.ctx, p->page, false);
			p->st = RC_RO;
		}
		if (st != CVMM_OK)
			return st;
	}
	if (n->cfg.ops->is_zero && n->cfg.ops->is_zero(n->cfg.ctx, p->page))
		emit(n, src, RC_MSG_PAGE, p->page, RC_F_ZERO, p->ver, 0, NULL,
		     0);
	else
		emit(n, src, RC_MSG_PAGE, p->page, RC_F_PAGE, p->ver, 0, NULL,
		     0);
	p->copyset |= 1ull << src;
	p->dropped &= ~(1ull << src);
	return CVMM_OK;
}

static cvmm_status_t on_page(rc_node_t *n, rc_page_t *p, const rc_msg_t *m,
			     const void *data)
{
	cvmm_status_t st;

	if (p->st != RC_FETCH || p->after_ack)
		return peer(n, m, "no fetch in flight");
	if (p->refetch || (m->flags & RC_F_SYNC)) {
		if (p->refetch)
			n->stats.stale_drops++;
		p->refetch = false;
		p->st = RC_INV;
		relist(n, p);
		flush_ack(n, p);
		n->cfg.ops->notify(n->cfg.ctx, p->page);
		return CVMM_OK;
	}
	st = n->cfg.ops->put(n->cfg.ctx, p->page,
			     (m->flags & RC_F_PAGE) ? data : NULL);
	if (m->flags & RC_F_ZERO)
		n->stats.zero_fetches++;
	/* the bytes of a write noticed since the last acquire are not
	 * known: base stays below it */
	if (p->epoch == n->epoch) {
		if (p->pre_wn > p->base)
			p->base = p->pre_wn;
	} else if (m->ver > p->base) {
		p->base = m->ver;
	}
	p->fetched = m->ver;
	if (m->ver > p->seen)
		p->seen = m->ver;
	p->st = RC_RO;
	if (st == CVMM_OK)
		st = n->cfg.ops->map(n->cfg.ctx, p->page, false);
	n->cfg.ops->notify(n->cfg.ctx, p->page);
	return st;
}

/* At the home, a diff from m->src came: the run of diffs from one node
 * alone (cfg.demote_after) goes on while no other node holds a copy and
 * the home is not writing the page (home_new_version ends it too); a
 * tick's diff does not count (no release sent it). */
static void solo_count(rc_node_t *n, rc_page_t *p, const rc_msg_t *m)
{
	uint64_t others = p->copyset & ~(1ull << n->cfg.self) &
			  ~(1ull << m->src);

	if (p->cls != RC_DATA || p->twin || others) {
		p->solo = p->solo_run = 0;
		return;
	}
	if (m->flags & RC_F_TICK)
		return;
	if (p->solo != m->src + 1) {
		p->solo = (uint8_t)(m->src + 1);
		p->solo_run = 0;
	}
	if (p->solo_run < UINT8_MAX)
		p->solo_run++;
}

static cvmm_status_t on_diff(rc_node_t *n, rc_page_t *p, const rc_msg_t *m,
			     const void *data, size_t len)
{
	cvmm_status_t st;

	if (p->cls == RC_SYNC)
		return peer(n, m, "diff for a synchronization page");
	if (len == 0) /* its runs: rc_wire_decode checked them */
		return peer(n, m, "malformed diff");
	if (m->ver > p->ver)
		return peer(n, m, "diff from a version not yet made");
	home_epoch(n, p); /* before the master changes */
	p->writers |= 1ull << m->src;
	quiet_reset(p, 1ull << m->src);
	solo_count(n, p, m);
	n->cfg.ops->read(n->cfg.ctx, p->page, n->buf);
	race_check_log(n, p, m->src, m->ver, data, len, n->buf);
	if (p->twin) {
		/* the home is writing the page too: a byte it changed in this
		 * interval that the diff changes to another value is a race;
		 * the diff goes into the twin as well, so the home's own diff
		 * stays its own */
		const uint8_t *bytes;
		size_t pos = 0;
		unsigned off, cnt;

		while (diff_run(data, len, &pos, &off, &cnt, &bytes)) {
			unsigned b;

			if (!memcmp(p->twin + off, n->buf + off, cnt))
				continue; /* the home left these bytes alone */
			for (b = off; b < off + cnt; b++)
				if (p->twin[b] != n->buf[b] &&
				    bytes[b - off] != n->buf[b])
					break;
			if (b < off + cnt) {
				report_race(n, p->page, n->cfg.self, m->src, b);
				break;
			}
		}
		diff_apply_checked(p->twin, data, len);
	}
	st = n->cfg.ops->apply(n->cfg.ctx, p->page, data, len);
	p->ver++;
	n->stats.diffs_applied++;
	if (st == CVMM_OK && !n->halted) /* halted: no release completes */
		st = notice(n, p, m->src, m->seq, data, len,
			    (m->flags & RC_F_TICK) != 0);
	if (st == CVMM_OK && !n->halted && n->cfg.demote_after &&
	    p->promoted_here && p->pins == 0 && p->solo == m->src + 1 &&
	    p->solo_run >= n->cfg.demote_after)
		st = home_sync_begin(n, p, m->src);
	return st;
}

static cvmm_status_t on_diff_ack(rc_node_t *n, rc_page_t *p,
				 const rc_msg_t *m)
{
	if (p->inflight == 0 || !ack_seq(n, m->seq))
		return peer(n, m, "ack of no diff in flight");
	if (n->cfg.ops->acked)
		n->cfg.ops->acked(n->cfg.ctx);
	/* our copy had the version before the one our diff made: it has
	 * that one too (the diff's bytes are ours), and takes the next
	 * notice's diff in place */
	if ((p->st == RC_RO || p->st == RC_RW) && p->fetched + 1 == m->ver)
		p->fetched = m->ver;
	if (--p->inflight > 0)
		return CVMM_OK;
	if (p->qhead) { /* the next diff of the page may leave now */
		rc_qdiff_t *q = p->qhead;
		cvmm_status_t st;

		p->qhead = q->next;
		if (!p->qhead)
			p->qtail = NULL;
		n->nqueued--;
		st = send_diff(n, p, q->base, q->d, q->len, 0);
		free(q);
		return st;
	}
	if (p->after_ack) {
		p->after_ack = false;
		if (p->cls == RC_DATA) {
			send_fetch(n, p);
		} else {
			p->st = RC_INV;
			relist(n, p);
			n->cfg.ops->notify(n->cfg.ctx, p->page);
		}
	}
	flush_ack(n, p);
	return CVMM_OK;
}

static cvmm_status_t on_flush(rc_node_t *n, rc_page_t *p, const rc_msg_t *m)
{
	cvmm_status_t st = CVMM_OK;

	if (p->cls == RC_SYNC)
		return peer(n, m, "flush of a synchronization page");
	p->cls = RC_SYNC_WAIT;
	switch (p->st) {
	case RC_RO:
	case RC_RW:
		if (p->twin)
			st = flush_one(n, p);
		if (st == CVMM_OK)
			st = n->cfg.ops->unmap(n->cfg.ctx, p->page);
		p->st = RC_INV;
		break;
	case RC_INV:
		if (p->twin)
			st = flush_one(n, p);
		break;
	default: /* RC_FETCH */
		if (p->twin)
			st = flush_one(n, p);
		if (p->after_ack) {
			p->after_ack = false;
			p->st = RC_INV;
		} else {
			p->refetch = true;
		}
		break;
	}
	relist(n, p);
	p->flush_pending = true;
	flush_ack(n, p);
	n->cfg.ops->notify(n->cfg.ctx, p->page);
	return st;
}

/* Whether a notice's diff d[0..len) making version ver can update our
 * copy in place: a copy mapped here that has every earlier version, that
 * the agent is not writing, and none of whose own unreleased writes (the
 * bytes differing from its twin) the diff touches (a race: the copy is
 * dropped instead, so that its diff goes home, where the race is seen). */
static bool can_update(rc_node_t *n, rc_page_t *p, uint32_t ver,
		       const uint8_t *d, size_t len)
{
	if ((p->st != RC_RO && p->st != RC_RW) || p->pins > 0 ||
	    p->fetched + 1 != ver || !d)
		return false;
	if (!p->twin)
		return true;
	n->cfg.ops->read(n->cfg.ctx, p->page, n->buf);
	return !diff_touches(d, len, p->twin, n->buf);
}

/* A write notice: our copy is stale. With the diff that made it, a copy
 * that can take it (can_update) is updated in place, its twin too (so
 * that our own diff stays ours). Otherwise it is dropped: a dirty one
 * keeps its twin (its diff goes before the next fetch), a fetch in
 * flight may predate the diff: its reply is dropped. */
static cvmm_status_t on_notice(rc_node_t *n, rc_page_t *p, const rc_msg_t *m,
			       const void *data, size_t len)
{
	cvmm_status_t st = CVMM_OK;

	/* a write this node does not know; what it saw before it, it knows
	 * (a copy dropped long ago, its version number with it, does not
	 * make it forget the notices that came since: a base held back
	 * there would be a false race) */
	if (p->epoch != n->epoch) {
		p->epoch = n->epoch;
		p->pre_wn = p->seen;
	}
	if (m->ver > p->seen)
		p->seen = m->ver;

	if (can_update(n, p, m->ver, data, len)) {
		if (p->twin)
			diff_apply_checked(p->twin, data, len);
		st = n->cfg.ops->update(n->cfg.ctx, p->page, data, len);
		/* write-protected (the twin stays): the node's next write
		 * faults and is decoded, as after a dropped copy, so that an
		 * atomic there is still seen as it was before notices carried
		 * diffs (the OpenMP guest's lost wake-ups were atomics on
		 * pages that should never have been data pages: libgomp's
		 * semaphores in TLS, coh.c's keep_sc; this keeps the rest
		 * no worse) */
		if (p->st == RC_RW && st == CVMM_OK) {
			st = n->cfg.ops->map(n->cfg.ctx, p->page, false);
			p->st = RC_RO;
		}
		p->fetched = m->ver;
		n->stats.updated++;
		emit(n, m->src, RC_MSG_WN_ACK, p->page, 0, m->ver, 0, NULL, 0);
		return st;
	}
	if (p->st == RC_RO || p->st == RC_RW) {
		st = n->cfg.ops->unmap(n->cfg.ctx, p->page);
		p->st = RC_INV;
		n->stats.invalidated++;
		relist(n, p);
	} else if (p->st == RC_FETCH && !p->after_ack) {
		p->refetch = true;
	}
	emit(n, m->src, RC_MSG_WN_ACK, p->page, RC_F_DROP, m->ver, 0, NULL, 0);
	return st;
}

static cvmm_status_t on_notice_ack(rc_node_t *n, rc_page_t *p,
				   const rc_msg_t *m)
{
	rc_wait_t **pw = &p->waits, *w;

	if ((m->flags & RC_F_DROP) && (p->copyset >> m->src & 1))
		p->dropped |= 1ull << m->src;
	while (*pw && (*pw)->ver != m->ver)
		pw = &(*pw)->next;
	w = *pw;
	if (!w)
		return peer(n, m, "ack of no write notice");
	if (--w->left > 0)
		return CVMM_OK;
	*pw = w->next;
	if (w->writer != n->cfg.self)
		emit(n, w->writer, RC_MSG_DIFF_ACK, p->page, 0, w->ver, w->seq,
		     NULL, 0);
	else if (ack_seq(n, w->seq) && n->cfg.ops->acked)
		n->cfg.ops->acked(n->cfg.ctx);
	free(w);
	return sync_settle(n, p);
}

static cvmm_status_t recv_locked(rc_node_t *n, const rc_msg_t *m,
				 const void *data, size_t len)
{
	rc_page_t *p;
	bool home, mgr, from_home;
	uint32_t w;

	if (m->src >= n->cfg.nnodes || m->src == n->cfg.self ||
	    m->page >= n->cfg.npages)
		return peer(n, m, "bad source or page");
	p = get(n, m->page);
	if (!p)
		return CVMM_ERR_NOMEM;
	/* an atomic seen while the page went back to sequential first
	 * here: the sequential protocol sees it again (and keeps the page) */
	if (m->type == RC_MSG_SYNC_REQ && !homed_here(n, p) &&
	    p->was_home == n->cfg.self) {
		n->stats.stale_drops++;
		return CVMM_OK;
	}
	/* nobody holds a copy of a page the sequential protocol still
	 * serves here: only its home's flush, making it a sync page, can
	 * come (from a home we learn so) */
	if (p->cls == RC_SC && m->type != RC_MSG_SYNC_FLUSH)
		return peer(n, m, "not a data page here yet");
	mgr = manager(n, m->page) == n->cfg.self;
	/* from the home, which we learn so (the manager of a page handed
	 * over by the sequential protocol may hear from its home first) */
	if (m->type == RC_MSG_SYNC_FLUSH && p->home == RC_NOHOME &&
	    (!mgr || p->cls == RC_SC))
		set_home(n, p, m->src);
	home = homed_here(n, p);
	from_home = p->home != RC_NOHOME && m->src == p->home;
	switch (m->type) {
	case RC_MSG_FETCH:
		if (!home)
			return peer(n, m, "not its home");
		return serve_fetch(n, p, m->src);
	case RC_MSG_PAGE:
		if (home)
			return peer(n, m, "a page for its home");
		if (!from_home)
			return peer(n, m, "not from the page's home");
		if ((m->flags & RC_F_PAGE) && (!data || len != DIFF_PAGE))
			return peer(n, m, "page without its bytes");
		return on_page(n, p, m, data);
	case RC_MSG_DIFF:
		if (!home)
			return peer(n, m, "not its home");
		return on_diff(n, p, m, data, len);
	case RC_MSG_DIFF_ACK:
		if (home || !from_home)
			return peer(n, m, "not from the page's home");
		return on_diff_ack(n, p, m);
	case RC_MSG_SYNC_REQ:
		if (!home)
			return peer(n, m, "not its home");
		return home_sync_begin(n, p, RC_NOHOME);
	case RC_MSG_SYNC_FLUSH:
		if (home || !from_home)
			return peer(n, m, "not from the page's home");
		return on_flush(n, p, m);
	case RC_MSG_SYNC_ACK:
		if (!home || p->cls != RC_SYNC_WAIT || p->pending == 0)
			return peer(n, m, "no flush in progress");
		p->pending--;
		return sync_settle(n, p);
	case RC_MSG_WN:
		if (home || !from_home)
			return peer(n, m, "not from the page's home");
		return on_notice(n, p, m, data, len);
	case RC_MSG_WN_ACK:
		if (!home)
			return peer(n, m, "not its home");
		return on_notice_ack(n, p, m);
	case RC_MSG_SYNC_GO:
		/* from the home to its manager, or from the manager */
		if (home || p->cls != RC_SYNC_WAIT ||
		    (mgr ? !from_home : m->src != manager(n, m->page)))
			return peer(n, m, "no flush was done");
		w = m->flags & RC_F_SC ? m->ver : RC_NOHOME;
		if (mgr)
			sync_go(n, p, p->home, w);
		return sync_now(n, p, w);
	default:
		return peer(n, m, "unknown type");
	}
}

cvmm_status_t rc_recv(rc_node_t *n, const rc_msg_t *m, const void *data,
		      size_t len)
{
	return rc_recv_many(n, m, &data, &len, 1);
}

cvmm_status_t rc_recv_many(rc_node_t *n, const rc_msg_t *m,
			   const void *const *data, const size_t *len,
			   unsigned k)
{
	rc_outbox_t ob;
	cvmm_status_t st = CVMM_OK;

	lock(n, &ob);
	for (unsigned i = 0; i < k && st == CVMM_OK; i++)
		st = recv_locked(n, &m[i], data[i], len[i]);
	return unlock_send(n, st);
}

static cvmm_status_t to_data_locked(rc_node_t *n, uint64_t page,
				    uint32_t home)
{
	rc_page_t *p = get(n, page);

	if (!p)
		return CVMM_ERR_NOMEM;
	if (p->cls == RC_SYNC_WAIT || p->cls == RC_SYNC ||
	    (p->cls == RC_DATA && p->home == home) ||
	    (p->cls == RC_SC && p->was_home == home))
		return CVMM_OK; /* a refusal made stale by what followed */
	if (p->cls != RC_SC || home >= n->cfg.nnodes) {
		log_error("node %u page 0x%llx: handed over to the release "
			  "model, home %u, in class %u", n->cfg.self,
			  (unsigned long long)page, home, p->cls);
		return CVMM_ERR_PEER;
	}
	p->cls = RC_DATA;
	set_home(n, p, home);
	/* the home: the owner's only copy, mapped writable (sequential
	 * EXCLUSIVE), is the master now, written without a twin */
	p->st = home == n->cfg.self ? RC_RW : RC_INV;
	p->promoted_here = home == n->cfg.self;
	if (home == n->cfg.self)
		n->stats.promoted++;
	n->cfg.ops->notify(n->cfg.ctx, page);
	return CVMM_OK;
}

cvmm_status_t rc_to_data(rc_node_t *n, uint64_t page, uint32_t home)
{
	rc_outbox_t ob;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	lock(n, &ob);
	return unlock_send(n, to_data_locked(n, page, home));
}

/* ---- membership ------------------------------------------------------------ */

/* Something of p's in flight (rc_busy): a fetch, a flush, notices or
 * diffs not acknowledged. */
static bool page_in_flight(const rc_page_t *p)
{
	return p->st == RC_FETCH || p->cls == RC_SYNC_WAIT || p->pending ||
	       p->flush_pending || p->waits || p->inflight;
}

/* Whether p's state is one a quiet VM leaves: nothing in flight, no diff
 * queued, the agent writing nothing into it. */
static bool quiet_page(const rc_page_t *p)
{
	return !page_in_flight(p) && !p->qhead && !p->pins;
}

/* Diffs of this node's not yet acknowledged, or waiting to be sent. */
static bool diffs_pending(const rc_node_t *n)
{
	return n->seq != n->acked_upto || n->nqueued;
}

cvmm_status_t rc_home_records(rc_node_t *n, rc_home_rec_t **out,
			      size_t *count)
{
	rc_home_rec_t *v = NULL;
	size_t len = 0, cap = 0;
	cvmm_status_t st = CVMM_OK;

	pthread_mutex_lock(&n->lock);
	if (diffs_pending(n) || n->ntwins)
		st = CVMM_ERR_INVALID; /* not released, or not quiet */
	for (uint64_t i = 0; i < n->nbuckets && st == CVMM_OK; i++)
		for (rc_page_t *p = n->buckets[i]; p && st == CVMM_OK;
		     p = p->hnext) {
			if (!quiet_page(p)) {
				st = CVMM_ERR_INVALID;
				break;
			}
			if (!homed_here(n, p) || p->cls != RC_DATA)
				continue;
			if (len == cap) {
				size_t c = cap ? 2 * cap : 64;
				rc_home_rec_t *w = realloc(v, c * sizeof(*w));

				if (!w) {
					st = CVMM_ERR_NOMEM;
					break;
				}
				v = w;
				cap = c;
			}
			v[len++] = (rc_home_rec_t){
				.page = p->page, .ver = p->ver,
				.copyset = p->copyset, .writers = p->writers,
				.dropped = p->dropped };
		}
	pthread_mutex_unlock(&n->lock);
	if (st != CVMM_OK) {
		free(v);
		v = NULL;
		len = 0;
	}
	*out = v;
	*count = len;
	return st;
}

cvmm_status_t rc_take_home(rc_node_t *n, uint32_t from, const rc_home_rec_t *r,
			   const void *bytes)
{
	rc_outbox_t ob;
	uint64_t gone = 1ull << n->cfg.self | 1ull << from;
	cvmm_status_t st = CVMM_OK, e;
	rc_page_t *p;
	size_t len = 0;

	if (from >= n->cfg.nnodes || from == n->cfg.self ||
	    r->page >= n->cfg.npages || !bytes)
		return CVMM_ERR_INVALID;
	lock(n, &ob);
	p = get(n, r->page);
	if (!p) {
		st = CVMM_ERR_NOMEM;
		goto out;
	}
	/* a data page homed at from, or one this node never learned is
	 * one (the sequential protocol's refusal would have named from) */
	if (!quiet_page(p) || !(p->cls == RC_SC ||
				(p->cls == RC_DATA && p->home == from))) {
		st = CVMM_ERR_INVALID;
		goto out;
	}
	/* this node's own writes since its last release, if any: kept on
	 * top of the master, as the home's own open interval */
	if (p->twin) {
		n->cfg.ops->read(n->cfg.ctx, p->page, n->buf);
		len = diff_encode(p->twin, n->buf, n->dbuf);
	}
	st = n->cfg.ops->put(n->cfg.ctx, p->page, bytes);
	unlist(n, p);
	p->cls = RC_DATA;
	p->home = (uint8_t)n->cfg.self;
	p->ver = r->ver;
	p->copyset = r->copyset & ~gone;
	p->writers = r->writers & ~gone;
	quiet_reset(p, ~0ull); /* co-writers count afresh */
	p->dropped = r->dropped & ~gone;
	p->base = p->fetched = p->hbase = r->ver;
	if (p->seen < r->ver)
		p->seen = r->ver;
	p->epoch = 0; /* no interval of the home's begun: home_base = ver */
	free(p->log); /* race detection starts again for this page */
	p->log = NULL;
	p->refetch = p->after_ack = false;
	if (p->twin) {
		memcpy(p->twin, bytes, DIFF_PAGE);
		if (len > 0 && st == CVMM_OK)
			st = n->cfg.ops->apply(n->cfg.ctx, p->page, n->dbuf,
					       len);
		e = n->cfg.ops->map(n->cfg.ctx, p->page, true);
		p->st = RC_RW;
	} else {
		e = p->st != RC_INV ? n->cfg.ops->unmap(n->cfg.ctx, p->page)
				    : CVMM_OK;
		p->st = RC_INV; /* mapped again at the next fault */
	}
	if (st == CVMM_OK)
		st = e;
	relist(n, p);
	n->cfg.ops->notify(n->cfg.ctx, p->page);
out:
	return unlock_send(n, st);
}

cvmm_status_t rc_depart(rc_node_t *n, uint32_t k, uint32_t h)
{
	cvmm_status_t st = CVMM_OK;

	if (k >= n->cfg.nnodes || h >= n->cfg.nnodes || k == h ||
	    k == n->cfg.self || !(n->members >> h & 1))
		return CVMM_ERR_INVALID;
	pthread_mutex_lock(&n->lock);
	n->members &= ~(1ull << k);
	for (uint64_t i = 0; i < n->nbuckets; i++)
		for (rc_page_t *p = n->buckets[i]; p; p = p->hnext) {
			/* quiet: no refusal from before a page went back to
			 * sequential first is in flight any more, and the
			 * page's home may be its old one again (h) */
			p->was_home = RC_NOHOME;
			if (p->home == k) {
				/* the heir took every data page homed at k
				 * first (rc_take_home) */
				if (h == n->cfg.self && p->cls == RC_DATA)
					st = CVMM_ERR_INVALID;
				set_home(n, p, h);
			}
			if (homed_here(n, p)) {
				p->copyset &= ~(1ull << k);
				p->writers &= ~(1ull << k);
				quiet_reset(p, 1ull << k);
				p->dropped &= ~(1ull << k);
			}
		}
	pthread_mutex_unlock(&n->lock);
	return st;
}

cvmm_status_t rc_join(rc_node_t *n, uint32_t k)
{
	if (k >= n->cfg.nnodes)
		return CVMM_ERR_INVALID;
	pthread_mutex_lock(&n->lock);
	n->members |= 1ull << k;
	pthread_mutex_unlock(&n->lock);
	return CVMM_OK;
}

rc_class_t rc_page_class(rc_node_t *n, uint64_t page)
{
	rc_page_t *p;
	rc_class_t c;

	pthread_mutex_lock(&n->lock);
	p = find(n, page);
	c = p ? (rc_class_t)p->cls : initial_class(n, page);
	pthread_mutex_unlock(&n->lock);
	return c;
}

uint32_t rc_page_home(rc_node_t *n, uint64_t page)
{
	rc_page_t *p;
	uint32_t h;

	pthread_mutex_lock(&n->lock);
	p = find(n, page);
	if (p)
		h = p->home;
	else if (initial_class(n, page) == RC_SC)
		h = RC_NOHOME;
	else
		h = manager(n, page);
	pthread_mutex_unlock(&n->lock);
	return h;
}

bool rc_busy(rc_node_t *n, char *why, size_t len)
{
	bool busy = false;

	pthread_mutex_lock(&n->lock);
	if (diffs_pending(n)) {
		snprintf(why, len, "diffs not yet acknowledged");
		busy = true;
	}
	for (uint64_t i = 0; i < n->nbuckets && !busy; i++)
		for (rc_page_t *p = n->buckets[i]; p && !busy; p = p->hnext)
			if (page_in_flight(p)) {
				snprintf(why, len, "page 0x%llx: %s",
					 (unsigned long long)p->page *
						 DIFF_PAGE,
					 p->st == RC_FETCH ? "fetching"
					 : p->cls == RC_SYNC_WAIT
						 ? "becoming a sync page"
						 : "diffs or notices in flight");
				busy = true;
			}
	pthread_mutex_unlock(&n->lock);
	return busy;
}

void rc_describe(rc_node_t *n, uint64_t page, char *buf, size_t len)
{
	static const char *const cls[] = { "data", "sync_wait", "sync", "sc" };
	static const char *const st[] = { "inv", "fetch", "ro", "rw" };
	rc_page_t *p;

	pthread_mutex_lock(&n->lock);
	p = find(n, page);
	if (!p)
		snprintf(buf, len, "no record (initially %s)",
			 cls[initial_class(n, page)]);
	else
		snprintf(buf, len,
			 "%s %s home %d manager %u twin %d pending %u inflight "
			 "%u flush_pending %d refetch %d after_ack %d copyset "
			 "0x%llx ver %u fetched %u pins %u waits %d was_home "
			 "%d",
			 p->cls < 4 ? cls[p->cls] : "?",
			 p->st < 4 ? st[p->st] : "?",
			 p->home == RC_NOHOME ? -1 : p->home,
			 manager(n, page), p->twin != NULL, p->pending,
			 p->inflight, p->flush_pending, p->refetch,
			 p->after_ack, (unsigned long long)p->copyset, p->ver,
			 p->fetched, p->pins, p->waits != NULL,
			 p->was_home == RC_NOHOME ? -1 : p->was_home);
	pthread_mutex_unlock(&n->lock);
}

rc_state_t rc_page_state(rc_node_t *n, uint64_t page)
{
	rc_page_t *p;
	rc_state_t s;

	pthread_mutex_lock(&n->lock);
	p = find(n, page);
	s = p ? (rc_state_t)p->st : RC_INV;
	pthread_mutex_unlock(&n->lock);
	return s;
}

void rc_get_stats(rc_node_t *n, rc_stats_t *out)
{
	pthread_mutex_lock(&n->lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->lock);
}
