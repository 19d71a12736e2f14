/* cvmm ctl remove-node K (svc.h): node K leaves the running VM, the
 * sequential memory model only (docs/design.md, "Elastic nodes", step 3).
 * Node 0 drains K (its threads move off it, futex waits restarted
 * elsewhere) and waits for it to run none, pauses the VM (nothing in
 * flight), then:
 *
 *   GIVE    0 -> K      hand everything to heir H: K sends H its manager
 *                       records of the roles it plays, every page it holds
 *                       with its state and bytes, and the futex waiters
 *                       queued at its homes (TAKE messages, each acked);
 *                       ACK arg the pages sent
 *   TAKE    K -> H      a batch of records, one page, or a batch of
 *                       waiters; ACK
 *   DEPART  0 -> all    K left, H plays its roles (tid: the new epoch,
 *           but K       on every message from now on): owner K becomes H
 *                       and K's copies H's in every record (coh_node_depart),
 *                       the futex homes move (dfx_set_roles), K is
 *                       departed (nothing is sent to it, its going is no
 *                       loss) and stays drained; ACK
 *   BYE     0 -> K      K acks and exits 0
 *
 * and resumes. A hand-over that fails half-way leaves two nodes believing
 * they hold a page: the VM ends (one line).
 *
 *   LEAVE   K -> 0      SIGTERM at K (the machine's owner takes it back):
 *                       node 0 runs the above for K; ACK -1 when it
 *                       refuses (K then exits 143, and the job ends as
 *                       for a lost node) */
#include "node/svc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/dfutex.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/stats_member.h"

#define LEAVE_DRAIN_MS 10000 /* for the leaving node's threads to go */
#define LEAVE_GIVE_MS 120000 /* for its hand-over */
#define TAKE_ACK_MS 10000

static uint8_t roles[NODE_SLOTS_MAX]; /* the node playing each role */
static bool roles_set;
/* one membership change at a time: a leave or a join (svc_join.c) */
static pthread_mutex_t member_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t member_epoch = 1; /* node 0: changes so far, plus one */

static void roles_init(void)
{
	if (roles_set)
		return;
	memcpy(roles, node_start_roles(), sizeof(roles));
	roles_set = true;
}

const uint8_t *svc_roles(void)
{
	roles_init();
	return roles;
}

void svc_member_lock(void)
{
	pthread_mutex_lock(&member_lock);
}

void svc_member_unlock(void)
{
	pthread_mutex_unlock(&member_lock);
}

/* A leave or a join holds the VM paused: a user's resume must wait. */
static bool changing;
static bool own_pause; /* the change paused the VM (not the user) */

bool node_svc_changing(void)
{
	return __atomic_load_n(&changing, __ATOMIC_ACQUIRE);
}

cvmm_status_t svc_change_pause(char *why, size_t cap)
{
	char line[320];
	int r = node_svc_pause(line, sizeof(line));

	if (r < 0) {
		snprintf(why, cap, "%s", line + strlen("error: "));
		return CVMM_ERR_TIMEOUT;
	}
	own_pause = r > 0; /* a pause of the user's (0) stays */
	__atomic_store_n(&changing, true, __ATOMIC_RELEASE);
	return CVMM_OK;
}

void svc_change_resume(void)
{
	char line[320];

	__atomic_store_n(&changing, false, __ATOMIC_RELEASE);
	if (own_pause) /* a pause the user asked for stays */
		node_svc_resume(line, sizeof(line));
}

void svc_member_log(member_event_t ev, int k, int heir, uint64_t t0,
		    int64_t pages)
{
	uint16_t per[MEMBER_NODES] = { 0 };
	uint64_t now = cvmm_now_ns();
	int n = svc_nnodes() < MEMBER_NODES ? svc_nnodes() : MEMBER_NODES;

	for (int i = 0; i < svc_vm->nvcpus; i++) {
		int host = vm_vcpu_node(svc_vm, i);

		if (host < n)
			per[host]++;
	}
	member_log(now - svc_vm->t_start, ev, k, heir, svc_epoch(),
		   (double)(now - t0) / 1e6, pages, per, n);
}

uint64_t svc_epoch(void)
{
	return __atomic_load_n(&member_epoch, __ATOMIC_ACQUIRE);
}

void svc_epoch_set(uint64_t e)
{
	__atomic_store_n(&member_epoch, e, __ATOMIC_RELEASE);
	node_set_epoch(e); /* on every message from now on */
}

/* ---- the leaving node ---------------------------------------------------- */

typedef struct batch {
	uint8_t *items; /* NODE_TAKE_ITEM_LEN each */
	size_t n, cap;
	bool oom;
} batch_t;

static void batch_add(batch_t *b, const uint8_t *item)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		uint8_t *p = realloc(b->items, cap * NODE_TAKE_ITEM_LEN);

		if (!p) {
			b->oom = true;
			return;
		}
		b->items = p;
		b->cap = cap;
	}
	memcpy(b->items + b->n++ * NODE_TAKE_ITEM_LEN, item,
	       NODE_TAKE_ITEM_LEN);
}

static void rec_item(void *ctx, uint64_t page, const coh_record_t *r)
{
	uint8_t item[NODE_TAKE_ITEM_LEN];
	wire_w_t w = wire_w_init(item, sizeof(item));

	wire_w_u64(&w, page);
	wire_w_u64(&w, r->copyset);
	wire_w_u8(&w, r->st);
	wire_w_u8(&w, r->owner);
	wire_w_u8(&w, r->used);
	wire_w_u8(&w, r->plains);
	wire_w_u8(&w, r->sticky);
	wire_w_u8(&w, r->seeded);
	wire_w_u8(&w, r->first);
	wire_w_u8(&w, 0);
	batch_add(ctx, item);
}

static void waiter_item(void *ctx, uint64_t uaddr, uint64_t id, int node,
			uint32_t bitset)
{
	uint8_t item[NODE_TAKE_ITEM_LEN];
	wire_w_t w = wire_w_init(item, sizeof(item));

	wire_w_u64(&w, uaddr);
	wire_w_u64(&w, id);
	wire_w_u32(&w, (uint32_t)node);
	wire_w_u32(&w, bitset);
	batch_add(ctx, item);
}

/* Sends one TAKE to dst and waits for its ACK: true when acked 0. */
static bool take_send(int dst, int kind, uint32_t count, const void *body,
		      size_t len)
{
	size_t cap = NODE_WIRE_HDR_LEN + len;
	node_hdr_t h = { .type = NODE_MSG_TAKE, .arg = kind, .count = count };
	uint8_t *buf = malloc(cap);
	svc_wait_t w;
	bool ok = false;

	if (!buf)
		return false;
	h.id = svc_wait_open(&w, 1);
	if (node_wire_hdr_encode(&h, buf, cap) == NODE_WIRE_HDR_LEN) {
		memcpy(buf + NODE_WIRE_HDR_LEN, body, len);
		if (svc_send(dst, buf, cap) == CVMM_OK)
			ok = svc_wait_done_ms(&w, h.id, TAKE_ACK_MS) &&
			     w.ret == 0;
		else
			svc_wait_close(h.id);
	} else {
		svc_wait_close(h.id);
	}
	free(buf);
	return ok;
}

static bool batch_send(int dst, int kind, const batch_t *b)
{
	for (size_t i = 0; i < b->n; i += NODE_TAKE_MAX) {
		size_t k = b->n - i < NODE_TAKE_MAX ? b->n - i : NODE_TAKE_MAX;

		if (!take_send(dst, kind, (uint32_t)k,
			       b->items + i * NODE_TAKE_ITEM_LEN,
			       k * NODE_TAKE_ITEM_LEN))
			return false;
	}
	return true;
}

/* Pages go to the heir GIVE_WINDOW at a time: sent back to back under one
 * request id, then their acks awaited together (one round trip per window,
 * not per page). */
#define GIVE_WINDOW 32

#define GIVE_MSG_MAX (NODE_WIRE_HDR_LEN + NODE_TAKE_RC_PAGE_LEN)
_Static_assert(NODE_TAKE_RC_PAGE_LEN >= NODE_TAKE_PAGE_LEN, "room");

typedef struct give {
	int heir, src;
	uint64_t id;
	uint64_t pages;
	uint64_t homes;                      /* of them: release-model homes */
	int kind;                            /* of the pages in msgs */
	unsigned n;                          /* pages in msgs, not sent yet */
	uint8_t (*msgs)[GIVE_MSG_MAX];
} give_t;

/* Sends the pages gathered and waits for every ack: true when all 0. */
static bool page_flush(give_t *g)
{
	node_hdr_t h = { .type = NODE_MSG_TAKE, .arg = g->kind, .count = 1 };
	size_t len = NODE_WIRE_HDR_LEN + (g->kind == NODE_TAKE_RC_PAGE
						  ? NODE_TAKE_RC_PAGE_LEN
						  : NODE_TAKE_PAGE_LEN);
	svc_wait_t w;
	bool ok = true;
	unsigned sent = 0;

	if (g->n == 0)
		return true;
	h.id = svc_wait_open(&w, g->n);
	for (unsigned i = 0; i < g->n && ok; i++) {
		ok = node_wire_hdr_encode(&h, g->msgs[i], NODE_WIRE_HDR_LEN) ==
			     NODE_WIRE_HDR_LEN &&
		     svc_send(g->heir, g->msgs[i], len) == CVMM_OK;
		sent += ok;
	}
	/* every message sent is acked (or the VM ends); none unsent is */
	if (sent < g->n)
		for (unsigned i = sent; i < g->n; i++)
			svc_reply(g->heir, &(node_hdr_t){ .id = h.id,
							  .arg = -1 },
				  NULL, 0);
	ok = svc_wait_done_ms(&w, h.id, TAKE_ACK_MS) && w.ret == 0 && ok;
	g->pages += ok ? g->n : 0;
	g->n = 0;
	return ok;
}

static bool page_item(void *ctx, uint64_t page, int state, const void *bytes)
{
	give_t *g = ctx;
	wire_w_t w = wire_w_init(g->msgs[g->n] + NODE_WIRE_HDR_LEN,
				 NODE_TAKE_PAGE_LEN);

	g->kind = NODE_TAKE_PAGE;
	wire_w_u64(&w, page);
	wire_w_u64(&w, (uint64_t)state);
	wire_w_bytes(&w, bytes, 4096);
	return ++g->n < GIVE_WINDOW || page_flush(g);
}

/* A data page of the release model homed here, with its master copy. */
static bool rc_item(void *ctx, const rc_home_rec_t *r, const void *bytes)
{
	give_t *g = ctx;
	wire_w_t w = wire_w_init(g->msgs[g->n] + NODE_WIRE_HDR_LEN,
				 NODE_TAKE_RC_PAGE_LEN);

	g->kind = NODE_TAKE_RC_PAGE;
	g->homes++;
	wire_w_u64(&w, r->page);
	wire_w_u64(&w, r->copyset);
	wire_w_u64(&w, r->writers);
	wire_w_u64(&w, r->dropped);
	wire_w_u32(&w, r->ver);
	wire_w_u32(&w, 0);
	wire_w_bytes(&w, bytes, 4096);
	return ++g->n < GIVE_WINDOW || page_flush(g);
}

static void *give_main(void *arg)
{
	give_t *g = arg;
	batch_t recs = { 0 }, waiters = { 0 };
	bool ok = true;

	roles_init();
	/* the release model: every write made here goes home first, and
	 * this node's own home intervals end (their notices acked) */
	coh_rt_release_all();
	for (uint32_t v = 0; ok && v < (uint32_t)svc_nnodes(); v++)
		if (roles[v] == svc_self())
			ok = coh_rt_role_records(v, rec_item, &recs) ==
			     CVMM_OK;
	ok = ok && !recs.oom && batch_send(g->heir, NODE_TAKE_RECORDS, &recs);
	g->msgs = malloc(GIVE_WINDOW * sizeof(*g->msgs));
	ok = ok && g->msgs && coh_rt_held_pages(page_item, g) && page_flush(g);
	ok = ok && coh_rt_rc_homes(rc_item, g) && page_flush(g);
	if (ok && cvmm_dfx)
		dfx_home_waiters(cvmm_dfx, waiter_item, &waiters);
	ok = ok && !waiters.oom &&
	     batch_send(g->heir, NODE_TAKE_WAITERS, &waiters);
	log_info("leave: node %d handed %zu records, %llu pages (%llu homes "
		 "of the release model's data pages) and %zu futex waiters to "
		 "node %d%s", svc_self(), recs.n, (unsigned long long)g->pages,
		 (unsigned long long)g->homes, waiters.n, g->heir,
		 ok ? "" : ": FAILED");
	svc_send_ack(g->src, g->id, ok ? (int64_t)g->pages : -1);
	free(recs.items);
	free(waiters.items);
	free(g->msgs);
	free(g);
	return NULL;
}

void svc_on_give(int src, const node_hdr_t *h)
{
	give_t *g = calloc(1, sizeof(*g));
	pthread_t t;

	if (!g || h->arg < 0 || h->arg >= svc_nnodes() ||
	    h->arg == svc_self()) {
		free(g);
		svc_send_ack(src, h->id, -1);
		return;
	}
	*g = (give_t){ .heir = (int)h->arg, .src = src, .id = h->id };
	if (pthread_create(&t, NULL, give_main, g) != 0) {
		free(g);
		svc_send_ack(src, h->id, -1);
		return;
	}
	pthread_detach(t);
}

static void *bye_main(void *arg)
{
	(void)arg;
	usleep(100 * 1000); /* the ACK leaves first */
	log_info("leave: node %d is out of the VM: exiting", svc_self());
	_exit(0);
}

void svc_on_bye(int src, const node_hdr_t *h)
{
	pthread_t t;

	node_out(); /* node 0 may end the VM, or the slot be reused, first */
	svc_send_ack(src, h->id, 0);
	if (pthread_create(&t, NULL, bye_main, NULL) != 0)
		_exit(0);
	pthread_detach(t);
}

/* ---- the heir ------------------------------------------------------------ */

static cvmm_status_t take_items(int src, const node_hdr_t *h,
			       const uint8_t *p)
{
	cvmm_status_t st = CVMM_OK;

	roles_init();
	for (uint32_t i = 0; i < h->count && st == CVMM_OK; i++) {
		wire_r_t r = wire_r_init(p + i * NODE_TAKE_ITEM_LEN,
					 NODE_TAKE_ITEM_LEN);

		if (h->arg == NODE_TAKE_RECORDS) {
			uint64_t page = wire_r_u64(&r);
			coh_record_t rec = { .copyset = wire_r_u64(&r) };

			rec.st = wire_r_u8(&r);
			rec.owner = wire_r_u8(&r);
			rec.used = wire_r_u8(&r);
			rec.plains = wire_r_u8(&r);
			rec.sticky = wire_r_u8(&r);
			rec.seeded = wire_r_u8(&r);
			rec.first = wire_r_u8(&r);
			st = coh_rt_take_record(
				(uint32_t)(page / COH_MGR_RUN %
					   (uint64_t)svc_nnodes()),
				page, &rec);
		} else {
			uint64_t uaddr = wire_r_u64(&r), id = wire_r_u64(&r);
			uint32_t node = wire_r_u32(&r), bits = wire_r_u32(&r);
			uint8_t after[NODE_SLOTS_MAX];

			/* the homes as they will be once the leaver's roles
			 * are this node's */
			memcpy(after, roles, sizeof(after));
			for (int v = 0; v < svc_nnodes(); v++)
				if (after[v] == src)
					after[v] = (uint8_t)svc_self();
			st = cvmm_dfx ? dfx_take_waiter(cvmm_dfx, after, uaddr,
							id, (int)node, bits)
				      : CVMM_ERR_INVALID;
		}
	}
	return st;
}

void svc_on_take(int src, const node_hdr_t *h, const void *msg, size_t len)
{
	const uint8_t *p = (const uint8_t *)msg + NODE_WIRE_HDR_LEN;
	cvmm_status_t st;

	if (node_wire_take_check(msg, len) != CVMM_OK) {
		log_warn("node %d: malformed take message: dropped", src);
		return;
	}
	if (h->arg == NODE_TAKE_PAGE) {
		wire_r_t r = wire_r_init(p, NODE_TAKE_PAGE_LEN);
		uint64_t page = wire_r_u64(&r);
		int state = (int)wire_r_u64(&r);

		st = coh_rt_take_page(page, state, p + 16);
	} else if (h->arg == NODE_TAKE_RC_PAGE) {
		wire_r_t r = wire_r_init(p, NODE_TAKE_RC_PAGE_LEN);
		rc_home_rec_t rec = { .page = wire_r_u64(&r) };

		rec.copyset = wire_r_u64(&r);
		rec.writers = wire_r_u64(&r);
		rec.dropped = wire_r_u64(&r);
		rec.ver = wire_r_u32(&r);
		st = src >= 0 && src < svc_nnodes()
			     ? coh_rt_take_rc_home((uint32_t)src, &rec, p + 40)
			     : CVMM_ERR_INVALID;
	} else {
		st = take_items(src, h, p);
	}
	if (st != CVMM_OK)
		log_error("leave: node %d's %s refused here: %s", src,
			  h->arg == NODE_TAKE_PAGE || h->arg == NODE_TAKE_RC_PAGE
				  ? "page"
				  : "items",
			  cvmm_status_str(st));
	svc_send_ack(src, h->id, st == CVMM_OK ? 0 : -1);
}

/* ---- every node ---------------------------------------------------------- */

/* k left, h plays its roles. */
static cvmm_status_t depart_here(int k, int h, uint64_t epoch)
{
	cvmm_status_t st = CVMM_OK;

	if (epoch > svc_epoch())
		svc_epoch_set(epoch);
	roles_init();
	if (cvmm_coh_on)
		st = coh_rt_depart((uint32_t)k, (uint32_t)h);
	for (int v = 0; v < svc_nnodes(); v++)
		if (roles[v] == k)
			roles[v] = (uint8_t)h;
	if (st == CVMM_OK && cvmm_dfx)
		st = dfx_set_roles(cvmm_dfx, roles);
	node_set_departed(k);
	node_vcpus_rehost(svc_vm); /* its vCPUs to the nodes in */
	svc_drain_keep(k);
	if (node_xp())
		xp_peer_expect_gone(node_xp(), k);
	return st;
}

void svc_on_depart(int src, const node_hdr_t *h)
{
	cvmm_status_t st = CVMM_ERR_INVALID;

	if (h->arg > 0 && h->arg < svc_nnodes() && h->arg != svc_self() &&
	    (int)h->count < svc_nnodes() && (int64_t)h->count != h->arg)
		st = depart_here((int)h->arg, (int)h->count,
				 h->tid > 0 ? (uint64_t)h->tid : 0);
	if (st != CVMM_OK)
		svc_vm_end("leave: this node could not take another's leaving");
	svc_send_ack(src, h->id, 0);
}

/* ---- node 0 -------------------------------------------------------------- */

/* Node k's guest threads, -1 when it does not answer. */
static int threads_on(int k)
{
	node_status_t *s = calloc((size_t)svc_nnodes(), sizeof(*s));
	bool *ok = calloc((size_t)svc_nnodes(), sizeof(*ok));
	int n = -1;

	if (s && ok && node_svc_status(s, ok, svc_nnodes(), 1000, false) >
			       k && ok[k])
		n = (int)s[k].threads;
	free(s);
	free(ok);
	return n;
}

static int64_t ask(int k, int type, int64_t arg, uint32_t count, long ms)
{
	node_hdr_t h = { .type = (uint16_t)type, .arg = arg, .count = count };

	return svc_ask(k, &h, NULL, NULL, ms);
}

void node_svc_remove(int k, char *out, size_t cap)
{
	char line[320];
	int n = svc_nnodes(), heir = -1, t = -1;
	uint64_t t0 = cvmm_now_ns(), t_give, e;
	int64_t pages;

	if (svc_self() != 0 || !svc_vm || n < 2) {
		snprintf(out, cap, "error: the VM has one node");
		return;
	}
	if (k == 0) {
		snprintf(out, cap, "error: node 0 cannot leave: it holds the "
			 "terminal, the I/O server and the program's image");
		return;
	}
	if (k < 0 || k >= n || k >= 64 || node_departed(k)) {
		snprintf(out, cap, "error: no node %d in the VM", k);
		return;
	}
	if (coh_rt_paused()) {
		snprintf(out, cap, "error: the VM is paused: cvmm ctl resume "
			 "first (node %d's threads must move off it)", k);
		return;
	}
	svc_member_lock();
	for (int i = 1; i < n && heir < 0; i++) {
		int j = (k + i) % n;

		if (!node_departed(j))
			heir = j;
	}
	if (heir < 0) {
		snprintf(out, cap, "error: no node to take node %d's place", k);
		goto out;
	}
	if (!svc_drained(k)) {
		node_svc_drain(k, true, line, sizeof(line));
		if (!strncmp(line, "error:", 6)) {
			snprintf(out, cap, "%s", line);
			goto out;
		}
	}
	for (int i = 0; i < LEAVE_DRAIN_MS / 50 && (t = threads_on(k)) != 0;
	     i++)
		svc_sleep_ms(50);
	if (t != 0) {
		snprintf(out, cap, "error: node %d still runs %d guest "
			 "threads after %d s (a call that does not return); "
			 "it stays, drained", k, t, LEAVE_DRAIN_MS / 1000);
		goto out;
	}
	/* no layout change in flight (one would wait for the leaving node's
	 * answer for ever) until it is gone */
	gmem_freeze(svc_gm);
	if (svc_change_pause(line, sizeof(line)) != CVMM_OK) {
		gmem_thaw(svc_gm);
		snprintf(out, cap, "error: %s; node %d stays, drained", line,
			 k);
		goto out;
	}
	t_give = cvmm_now_ns();
	pages = ask(k, NODE_MSG_GIVE, heir, 0, LEAVE_GIVE_MS);
	t_give = cvmm_now_ns() - t_give;
	if (pages < 0)
		svc_vm_end("leave: a node's hand-over failed half-way");
	svc_stats_keep_leaver(k);
	e = svc_epoch() + 1; /* the epoch without k, on every node */
	for (int j = 1; j < n; j++) {
		node_hdr_t d = { .type = NODE_MSG_DEPART, .arg = k,
				 .count = (uint32_t)heir, .tid = (int32_t)e };

		if (j != k && !node_departed(j) &&
		    svc_ask(j, &d, NULL, NULL, 5000) < 0)
			svc_vm_end("leave: a node did not take another's "
				   "leaving");
	}
	if (depart_here(k, heir, e) != CVMM_OK)
		svc_vm_end("leave: node 0 could not take another's leaving");
	(void)ask(k, NODE_MSG_BYE, 0, 0, 2000);
	svc_member_log(MEMBER_LEAVE, k, heir, t0, pages);
	svc_change_resume();
	gmem_thaw(svc_gm);
	log_info("leave: node %d left; node %d took its roles and %lld "
		 "pages (%.1f MiB) in %.0f ms", k, heir, (long long)pages,
		 (double)pages * 4096 / (1 << 20),
		 (double)(cvmm_now_ns() - t0) / 1e6);
	snprintf(out, cap, "node %d left: node %d took its roles and %lld "
		 "pages (%.1f MiB) in %.0f ms (hand-over %.1f ms)", k, heir,
		 (long long)pages, (double)pages * 4096 / (1 << 20),
		 (double)(cvmm_now_ns() - t0) / 1e6, (double)t_give / 1e6);
out:
	svc_member_unlock();
}

/* ---- SIGTERM at a node: it asks to leave ---------------------------------- */

static int term_pipe[2] = { -1, -1 };

static void on_term(int sig)
{
	char c = (char)sig;
	int e = errno;

	if (write(term_pipe[1], &c, 1) < 0) {
		/* nothing to do in a handler */
	}
	errno = e;
}

static void *term_main(void *arg)
{
	node_hdr_t h = { .type = NODE_MSG_LEAVE };
	sigset_t set;
	char c;
	int64_t r;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* this thread takes it */
	while (read(term_pipe[0], &c, 1) != 1)
		;
	log_info("SIGTERM: node %d asks node 0 to let it leave the VM",
		 svc_self());
	/* a leave that succeeds ends this process (BYE) before the answer */
	r = svc_ask(0, &h, NULL, NULL, LEAVE_GIVE_MS + LEAVE_DRAIN_MS + 10000);
	log_error("node %d: SIGTERM, and it could not leave the VM in order "
		  "(%s): exiting", svc_self(),
		  r == -1 ? "node 0 refused; its log says why"
			  : "no answer from node 0");
	_exit(128 + SIGTERM);
}

cvmm_status_t svc_leave_init(void)
{
	struct sigaction sa;
	sigset_t set;
	pthread_t t;

	if (svc_self() == 0 || svc_nnodes() < 2)
		return CVMM_OK; /* node 0's SIGTERM ends the job, as before */
	/* blocked here (and in every guest thread: vt_main), so it never runs
	 * on guest code's FS and stack; the transport's threads run agent
	 * code only, where it may */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pipe2(term_pipe, O_CLOEXEC) != 0) {
		log_error("leave: pipe: %m");
		return CVMM_ERR_IO;
	}
	if (pthread_create(&t, NULL, term_main, NULL) != 0) {
		log_error("leave: cannot start the SIGTERM thread");
		return CVMM_ERR_NOMEM;
	}
	pthread_detach(t);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0) {
		log_error("leave: SIGTERM handler: %m");
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

typedef struct leave_req {
	int node;
	uint64_t id;
} leave_req_t;

static void *leave_main(void *arg)
{
	leave_req_t *q = arg;
	char line[320];

	node_svc_remove(q->node, line, sizeof(line));
	if (!strncmp(line, "error:", 6)) {
		log_warn("SIGTERM at node %d: it cannot leave: %s", q->node,
			 line + 7);
		svc_send_ack(q->node, q->id, -1);
	} else {
		log_info("SIGTERM at node %d: %s", q->node, line);
	}
	free(q);
	return NULL;
}

void svc_on_leave(int src, const node_hdr_t *h)
{
	leave_req_t *q = malloc(sizeof(*q));
	pthread_t t;

	if (q) {
		*q = (leave_req_t){ .node = src, .id = h->id };
		if (pthread_create(&t, NULL, leave_main, q) == 0) {
			pthread_detach(t);
			return;
		}
	}
	free(q);
	svc_send_ack(src, h->id, -1);
}
