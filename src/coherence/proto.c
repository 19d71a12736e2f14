/* Ivy multiple-reader/single-writer, sequentially consistent coherence on
 * guest pages with fixed distributed managers (Li & Hudak; the 2005 paper's
 * figure 7). Model-checked by test/model/ivy.pml, which has the same states
 * and transitions; change both together.
 *
 * Initially one node owns each page: EXCLUSIVE there, INVALID elsewhere,
 * and its manager records that owner with an empty copyset. The owner is
 * node 0 for every page until the runtime declares node 0's image
 * (coh_node_add_image: the pages its loader wrote); from then on a page
 * outside the image starts at its manager ("First touch" below). Nothing
 * is set up per page: the state is encoded so that zero-filled memory
 * means "initial" (coh_init_owner says whose), and kept in two-level
 * tables whose chunks appear on first write.
 *
 * Message script. R requester, M = manager(page) (coh_manager: runs of
 * COH_MGR_RUN pages dealt round-robin), O owner,
 * C each sharer in M's copyset other than R and O. Any of them may be the
 * same node; messages to oneself go through ops->send like any other.
 * The owner always holds a current copy; M serializes requests per page,
 * from the request to its CONFIRM.
 *
 *   read fault at R (INVALID -> READ_WAIT)
 *     R -> M   READ_REQ                 M busy? queue it (FIFO). Else:
 *     M -> O   FWD_READ(R)              M: BUSY_READ
 *     O                                 EXCLUSIVE -> SHARED (write-protect)
 *     O -> R   READ_GRANT(O)            push: the page's bytes with it
 *     R                                 READ_WAIT -> READ_FETCH, notify
 *     R        coh_fault: COH_FETCH     to the first faulting thread only;
 *              it gets the page from O  one-sided, O's CPU not involved
 *              (pushed: the bytes are   (pushed: GET_DONE at once, in the
 *              in, no get)                same step as the grant)
 *     R        coh_fetch_done           GET_DONE: READ_FETCH -> SHARED,
 *     R -> M   CONFIRM_READ               notify; M: copyset += R, IDLE,
 *                                         next request
 *
 *   write fault at R (INVALID -> WRITE_WAIT, SHARED -> UPGRADE_WAIT)
 *     R -> M   WRITE_REQ                M busy? queue it. Else:
 *     M -> C   INVALIDATE  (each C)     M: BUSY_INV
 *     C                                 SHARED -> INVALID (UPGRADE_WAIT ->
 *     C -> M   INV_ACK                    WRITE_WAIT), unmapped
 *     ...last ack (or no C at all)      M: BUSY_WRITE
 *     M -> O   FWD_WRITE(R)             (R == O: M -> R WRITE_GRANT(R));
 *                                       HAVE when R is in the copyset: its
 *                                         copy is current, push no bytes
 *     O                                 -> INVALID (UPGRADE_WAIT ->
 *     O -> R   WRITE_GRANT(O)             WRITE_WAIT); bytes stay for the get
 *                                         (push: they go with the grant)
 *     R                                 UPGRADE_WAIT, or O == R: the copy
 *                                         here is current, -> EXCLUSIVE now
 *                                       WRITE_WAIT: -> WRITE_FETCH, notify;
 *     R        coh_fault: COH_FETCH,      one thread gets the page from O
 *              get, coh_fetch_done      GET_DONE: -> EXCLUSIVE, notify
 *     R -> M   CONFIRM_WRITE            M: owner = R, copyset = {}, IDLE
 *
 * Faults with a request in flight coalesce (COH_WAIT, no second message);
 * the thread waits for ops->notify and calls coh_fault again. A fault on a
 * page that is already accessible returns COH_READY and ops->map re-maps it
 * (how the runtime recovers a page the guest view lost).
 *
 * O's bytes cannot change between its grant and R's get: O is SHARED or
 * INVALID then (so not pinned), and any later request for the page waits at
 * M for R's CONFIRM, which R sends after its get. For the same reason every
 * message for the page that reaches R in a FETCH state is illegal, and a
 * pushed copy (taken when O sends the grant, after this step) equals what a
 * get would have read: push is the get made at the earliest moment, which
 * the model's interleavings include.
 *
 * Push or get (cfg.push): a get is one round trip after the grant; over a
 * transport that emulates gets with messages (UCX on TCP) the owner's CPU
 * serves it anyway, so pushing the bytes with the grant saves that round
 * trip (docs/coherence.md has the numbers). R takes whatever comes.
 *
 * Pins: the agent writes a page through its own view only while pinned
 * (coh_pin: EXCLUSIVE only). FWD_READ and FWD_WRITE for a pinned page are
 * deferred in arrival order and run by the last coh_unpin; M waits for the
 * grant as it would for a slow owner.
 *
 * Holds (cfg.hold_max_us > 0; Mirage's delta): a page that bounces between
 * nodes (a lock, a counter, a falsely shared page) moves at every access;
 * kept where it arrives for a short while, it moves once per batch of
 * accesses. Each node keeps per page a window delta, started by the write
 * grant that makes the page EXCLUSIVE here. A node that asks for a page
 * again within max(COH_HOLD_BOUNCE_US, hold_max_us) of a forward taking it
 * away saw it bounce: at that arrival delta doubles (from COH_HOLD_MIN_US,
 * capped at hold_max_us); any other arrival halves it (0 below
 * COH_HOLD_MIN_US), and so does a forward that comes after a long stay. A
 * page nobody contends never gets a window; one that stops bouncing loses
 * it. A FWD_READ or FWD_WRITE reaching the EXCLUSIVE owner within delta of
 * the arrival is deferred as for a pin, until that deadline: coh_hold_tick
 * (the runtime's timer, told by cfg.hold_armed) runs it then, or the last
 * coh_unpin if a pin outlasts the hold. M waits as for a slow owner.
 *
 * Why sequential consistency and liveness are unchanged: a held forward is
 * one the owner serves late, nothing else. The page stays EXCLUSIVE
 * meanwhile (only a forward takes that away; INVALIDATE never goes to the
 * owner), so the owner's accesses during the hold are the single writer's,
 * and the forward is legal when it runs. M is busy with the page until the
 * requester's CONFIRM, which needs the forward, so it sends the owner
 * nothing else about the page: per page, the messages are as if the
 * forward had arrived late. What arrives behind it on the same channel
 * concerns other pages, whose state machines share nothing with this one;
 * ivy.pml lets an owner put a forward aside, take later messages and write
 * the page, and serve the forward as a step of its own (pins and holds
 * alike, no new state or message). No request is lost: the deferred list
 * keeps it, and a hold always ends, at most hold_max_us after the arrival,
 * on a timer that waits for no other node and for no guest action.
 *
 * Sends after unlock: actions only append their messages to the outbox of
 * the thread holding the node's lock (n->ob, on that thread's stack), which
 * sends them in order after coh_node_unlock, because a send may run coh_recv at
 * once (a message to oneself). Two threads of one node may therefore send
 * in another order than they stepped. Only one such pair exists per page:
 * R's CONFIRM (or C's INV_ACK) and R's (C's) next request, made by another
 * thread. If the request overtakes, M is still busy with the page and
 * queues it, as it would have anyway.
 *
 * The tricky race: two sharers A and B both write. A's WRITE_REQ reaches M
 * first; B is in UPGRADE_WAIT, its own request queued at M:
 *
 *     A (SHARED)          M                  B (SHARED)          O
 *     WRITE_REQ  ------>  BUSY_INV   <------ WRITE_REQ (queued)
 *     UPGRADE_WAIT        INVALIDATE ------> UPGRADE_WAIT -> WRITE_WAIT
 *                         <----------------- INV_ACK   (copy now stale)
 *                         BUSY_WRITE
 *                         FWD_WRITE(A) ----------------------------> INVALID
 *     <------------------------------------------------------------- WRITE_GRANT(O)
 *     EXCLUSIVE (A's copy still current: no get)
 *     CONFIRM_WRITE ----> owner A, IDLE; B's request dequeued:
 *                         FWD_WRITE(B) -> A; A -> B WRITE_GRANT(A); B
 *                         fetches from A (B must not reuse its stale copy:
 *                         that is why INVALIDATE turns UPGRADE_WAIT into
 *                         WRITE_WAIT).
 *
 * Batches (ops->send_many, coh_recv_many): the messages one lock hold
 * produced for one node leave as one transport message, and a node takes
 * such a batch in one lock hold, in order. Per channel the order is the
 * one the steps produced, and a batch is handled as its messages would be
 * one after the other, so the per-page machines see nothing new; only
 * the order between channels changes, which was free already.
 *
 * Read-ahead (coh_fault_ahead): with push, a read fault may also raise the
 * read fault event of pages nobody here waits for (INVALID ones only).
 * Each is an ordinary READ_REQ; its grant completes in the handler (the
 * pushed bytes, or zeros made here for a zero grant), so it needs no
 * thread, and the manager's CONFIRM comes as for any read. ivy.pml needs
 * no change: a node there may take a read fault on any page at any time.
 * Managers own runs of COH_MGR_RUN pages, so a run of read-aheads goes to
 * one or two managers, as one or two batches.
 *
 * Write-ahead (coh_fault_ahead on a write, push only): the write fault
 * event of a page nobody here waits for, INVALID here and managed
 * elsewhere, as a WRITE_REQ marked COH_FLAG_AHEAD (AHEAD_WAIT). Its
 * manager treats it as any write request when it grants it, which it
 * does only for a page nobody has asked for yet that starts at the
 * manager and is all zeros there (ahead_ok: a fresh page's first touch);
 * else it answers NACK, which changes nothing at the manager and takes
 * the asker back to INVALID (its waiters ask again). A grant completes in
 * the handler as a read-ahead's does. ivy.pml: a node may ask ahead for
 * any INVALID page it does not manage; the manager may grant when idle
 * or refuse at any time.
 *
 * Upgrade-ahead (coh_fault_upgrade, any transfer): the write fault event
 * of a page SHARED here that nobody here waits for, as a WRITE_REQ marked
 * COH_FLAG_UPGRADE (UPGRADE_WAIT, as an upgrade). Its manager serves it
 * as any write request only when idle and the asker is the page's owner
 * (upgrade_ok): R == O, so the copyset is invalidated and M itself
 * grants, with no bytes, and the page is EXCLUSIVE at R. Else it answers
 * NACK, which changes nothing at the manager: R goes back to SHARED, or,
 * if another writer's forward took its copy meanwhile (WRITE_WAIT), to
 * INVALID; its waiters ask again. A grant thus never reaches R without
 * its copy, and no thread is ever needed to fetch. Promotion counts it
 * as no store. ivy.pml: the asking node may ask so for any SHARED page;
 * the manager may grant its owner when idle or refuse at any time.
 *
 * First touch: a page nobody has asked for starts at its manager, so its
 * first writer either is the manager (no message at all) or asks the
 * manager, who is also the owner and grants at once (a zero grant: no
 * bytes), instead of every page starting at node 0 and every first write
 * elsewhere going through node 0. Only the initial owner changes; the
 * pages node 0's loader wrote stay node 0's, and every node computes the
 * same initial owner for every page (coh_node_add_image is applied by all
 * nodes at the same point of the layout log, before any page moved), so
 * nodes and managers agree from the start as before. ivy.pml starts one
 * page at node 0 and one at its manager.
 *
 * Promotion (cfg.promote_after, the release model's "sequential first",
 * rc.h): under the release model every page that is not the program's
 * image starts here, where each node's first write after the page came
 * from elsewhere faults and is decoded; a WRITE_REQ says whether that
 * write was a plain store (COH_FLAG_PLAIN). The manager counts them;
 * anything else (an atomic) makes the page sticky: never promoted. It
 * also notes the page's first writer (the owner it started at, unless
 * that is the manager and its copy is still all zeros: then the first
 * asker). Once promote_after plain requests came and the first writer
 * owns the page again with no copyset (it is EXCLUSIVE, the only copy),
 * the manager, idle, sends it PROMOTE (M_PROMOTE, requests queue); the
 * owner hands the page to the release model, homed there (ops->to_data,
 * before its PROMOTED leaves: whoever hears of the home after can find
 * it there), goes to state PROMOTED and answers PROMOTED; a fault there
 * from then on maps nothing and answers COH_DATA (a thread that saw the
 * page not yet a data page before it took our lock must not map it
 * writable after the release model write-protected it for a copy sent
 * elsewhere: the copy would never hear of its writes). The manager
 * hears of the home the same way, then refuses every queued and later
 * request with NACK + COH_FLAG_DATA naming the home (M_DATA). A refused
 * node was waiting with no copy (the owner had the only one when the
 * promotion began, and the manager grants nothing after): it goes back
 * to INVALID, learns the home (ops->to_data) and its threads ask the
 * release model. A PROMOTE waits like a forward while the page is
 * pinned. If the release model makes the page a synchronization page
 * (coh_node_seed, at the home and the manager), the home is EXCLUSIVE
 * again and the manager serves requests from there, for good; if
 * PROMOTED is still in flight then (the home went on at once), its
 * arrival does that. ivy.pml -DPROMOTION: the manager may promote the
 * page outside the image at any CONFIRM_WRITE; the owner must then be
 * EXCLUSIVE with no copy anywhere and every refused node waiting with
 * none, and the home's accesses are the release model's from then on
 * (its dat bit); -DPROMOTION_ON_READ (promoting after a read) fails.
 *
 * Not yet: timeouts on waits (STYLE: no wait spins forever). */
#include "coherence/proto.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coherence/proto_int.h"
#include "common/log.h"

/* ---- sending ------------------------------------------------------------- */

/* Sends what the steps produced, in order, with no lock held. Returns st
 * if it is an error (the messages produced before the failing action are
 * still sent: they are legal), else the first send failure. */
static cvmm_status_t ob_send_failed(coh_node_t *n, uint32_t dst,
				    const coh_msg_t *m, cvmm_status_t s,
				    cvmm_status_t st)
{
	log_error("node %u page 0x%llx: sending %s to node %u: %s",
		  n->cfg.self, (unsigned long long)m->page,
		  coh_msg_type_str(m->type), dst, cvmm_status_str(s));
	return st ? st : s;
}

/* With send_many, the messages to each node leave together, in their
 * order; the order between nodes may change, which the protocol allows
 * (only each channel is FIFO: "Sends after unlock" above). */
static cvmm_status_t ob_flush(coh_node_t *n, coh_outbox_t *ob,
			      cvmm_status_t st)
{
	const coh_ops_t *o = n->cfg.ops;
	coh_msg_t group[COH_OUTBOX_MAX];
	bool sent[COH_OUTBOX_MAX] = { false };

	for (unsigned i = 0; i < ob->ntodata; i++)
		o->to_data(n->cfg.ctx, ob->todata[i], ob->todata_home[i]);
	ob->ntodata = 0;
	for (unsigned i = 0; i < ob->len; i++) {
		uint32_t dst = ob->dst[i];
		unsigned k = 0;
		cvmm_status_t s;

		if (!o->send_many) {
			s = o->send(n->cfg.ctx, dst, &ob->m[i]);
			if (s != CVMM_OK)
				return ob_send_failed(n, dst, &ob->m[i], s, st);
			continue;
		}
		if (sent[i])
			continue;
		for (unsigned j = i; j < ob->len; j++)
			if (!sent[j] && ob->dst[j] == dst) {
				group[k++] = ob->m[j];
				sent[j] = true;
			}
		s = k == 1 ? o->send(n->cfg.ctx, dst, &group[0])
			   : o->send_many(n->cfg.ctx, dst, group, k);
		if (s != CVMM_OK)
			return ob_send_failed(n, dst, &group[0], s, st);
	}
	return st;
}

static bool fetch_claimed(coh_node_t *n, uint64_t page)
{
	coh_xpage_t *x = coh_xpage_find(n, page);

	return x && x->fetching && x->claimed;
}

static bool is_fetch(coh_state_t st)
{
	return st == COH_READ_FETCH || st == COH_WRITE_FETCH;
}

static cvmm_status_t send_msg(coh_node_t *n, uint32_t dst, unsigned type,
			      uint64_t page, uint32_t arg)
{
	coh_outbox_t *ob = n->ob;

	coh_assert_locked(n);
	assert(ob);
	if (ob->len == COH_OUTBOX_MAX) {
		log_error("node %u page 0x%llx: outbox full", n->cfg.self,
			  (unsigned long long)page);
		return CVMM_ERR_NOMEM;
	}
	log_trace("node %u page 0x%llx send %s to node %u", n->cfg.self,
		  (unsigned long long)page, coh_msg_type_str(type), dst);
	ob->dst[ob->len] = dst;
	ob->m[ob->len++] = (coh_msg_t){ .version = COH_WIRE_VERSION,
					.type = (uint16_t)type,
					.src = n->cfg.self, .arg = arg,
					.page = page };
	return CVMM_OK;
}

static void notify(coh_node_t *n, uint64_t page)
{
	n->cfg.ops->notify(n->cfg.ctx, page);
}

/* The page leaves for the release model, homed at home: announced after
 * the lock is released, before the step's messages (ob_flush). */
static cvmm_status_t to_data(coh_node_t *n, uint64_t page, uint32_t home)
{
	coh_outbox_t *ob = n->ob;

	coh_assert_locked(n);
	if (!n->cfg.ops->to_data || ob->ntodata == COH_TODATA_MAX)
		return CVMM_ERR_PEER; /* promotion is off here */
	ob->todata[ob->ntodata] = page;
	ob->todata_home[ob->ntodata++] = home;
	return CVMM_OK;
}

/* ---- holds (see "Holds" above) ------------------------------------------- */

/* This node asked for a page again within this long of losing it: the
 * page bounces (a lock, a counter, a falsely shared page), not merely
 * moving on (a producer's page read once by a consumer). */
static uint64_t hold_bounce_ns(const coh_node_t *n)
{
	return 1000ull * (n->cfg.hold_max_us > COH_HOLD_BOUNCE_US
				  ? n->cfg.hold_max_us : COH_HOLD_BOUNCE_US);
}

/* The page's hold record; NULL with holds off, or when alloc is false and
 * the page never had one (or its chunk cannot be allocated: the page then
 * simply gets no window). */
static coh_hpage_t *hold_rec(coh_node_t *n, uint64_t page, bool alloc)
{
	if (!n->cfg.hold_max_us)
		return NULL;
	return coh_sparse_at(&n->hold, page, alloc);
}

static uint32_t hold_shrink(uint32_t d)
{
	return d / 2 < COH_HOLD_MIN_US ? 0 : d / 2;
}

/* This node requests the page (a miss or an upgrade): a bounce when a
 * forward took it away only just now. */
static void hold_requested(coh_node_t *n, uint64_t page)
{
	coh_hpage_t *h = hold_rec(n, page, false);

	if (h)
		h->bounced = h->left &&
			     n->cfg.now_ns(n->cfg.ctx) - h->left <
				     hold_bounce_ns(n);
}

/* A write grant made the page EXCLUSIVE here. Asked for again right after
 * it left (hold_requested): its window grows (COH_HOLD_MIN_US, then
 * doubling up to hold_max_us); else it shrinks (halves, to 0 below
 * COH_HOLD_MIN_US). */
static void hold_arrived(coh_node_t *n, uint64_t page)
{
	coh_hpage_t *h = hold_rec(n, page, true);
	uint32_t d;

	if (!h)
		return;
	d = h->delta_us;
	d = !h->bounced ? hold_shrink(d) : d ? 2 * d : COH_HOLD_MIN_US;
	h->delta_us = d < n->cfg.hold_max_us ? d : n->cfg.hold_max_us;
	h->bounced = false;
	h->arrived = n->cfg.now_ns(n->cfg.ctx);
}

/* A forward took the page, or its exclusivity, away from here. */
static void hold_left(coh_node_t *n, uint64_t page)
{
	coh_hpage_t *h = hold_rec(n, page, false);

	if (h && h->arrived)
		h->left = n->cfg.now_ns(n->cfg.ctx);
}

/* A forward for page arrived: when the page is EXCLUSIVE here and within
 * its window, the deadline until which to hold the forward back, else 0.
 * A page requested away only after a long stay shrinks its window. */
static uint64_t hold_deadline(coh_node_t *n, uint64_t page)
{
	coh_hpage_t *h = hold_rec(n, page, false);
	uint64_t now, end;

	if (!h || !h->arrived || coh_page_st(n, page) != COH_EXCLUSIVE)
		return 0;
	now = n->cfg.now_ns(n->cfg.ctx);
	if (now - h->arrived >= 2 * hold_bounce_ns(n))
		h->delta_us = hold_shrink(h->delta_us);
	end = h->arrived + 1000ull * h->delta_us;
	return h->delta_us && now < end ? end : 0;
}

/* ---- node actions: one signature, m is NULL for local events ------------- */

static cvmm_status_t act_wait(coh_node_t *n, uint64_t page, const coh_msg_t *m)
{
	return CVMM_OK; /* coalesced with the request in flight, or spurious */
}

static cvmm_status_t act_read_req(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	hold_requested(n, page);
	return send_msg(n, mgr_of(n, page), COH_MSG_READ_REQ, page, 0);
}

static cvmm_status_t act_write_req(coh_node_t *n, uint64_t page,
				   const coh_msg_t *m)
{
	cvmm_status_t st;

	hold_requested(n, page);
	st = send_msg(n, mgr_of(n, page), COH_MSG_WRITE_REQ, page, 0);
	if (st == CVMM_OK && n->plain)
		n->ob->m[n->ob->len - 1].flags = COH_FLAG_PLAIN;
	return st;
}

/* A write-ahead: as a write miss, but the manager may refuse it. */
static cvmm_status_t act_write_ahead(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	cvmm_status_t st = act_write_req(n, page, m);

	if (st == CVMM_OK)
		n->ob->m[n->ob->len - 1].flags = COH_FLAG_AHEAD;
	return st;
}

/* An upgrade-ahead: the upgrade of a page held read-shared here, nobody
 * here waiting, marked COH_FLAG_UPGRADE (the manager grants it only to
 * the page's owner, and counts it as no store). A guess, so no bounce
 * for the page's hold either (hold_requested). */
static cvmm_status_t act_upgrade_ahead(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m)
{
	cvmm_status_t st = send_msg(n, mgr_of(n, page), COH_MSG_WRITE_REQ,
				    page, 0);

	if (st == CVMM_OK)
		n->ob->m[n->ob->len - 1].flags = COH_FLAG_UPGRADE;
	return st;
}

/* The manager refused the upgrade-ahead: as if it had never been asked
 * (the copy stays, or is gone if another writer took it meanwhile);
 * threads that coalesced with it ask again. Nothing was registered for
 * it (no bytes ever come with its grant), so ops->refused is not told. */
static cvmm_status_t act_upgrade_refused(coh_node_t *n, uint64_t page,
					 const coh_msg_t *m)
{
	notify(n, page);
	return CVMM_OK;
}

/* The manager refused the write-ahead: as if it had never been asked;
 * threads that coalesced with it ask again. */
static cvmm_status_t act_refused(coh_node_t *n, uint64_t page,
				 const coh_msg_t *m)
{
	if (n->cfg.ops->refused)
		n->cfg.ops->refused(n->cfg.ctx, page);
	notify(n, page);
	return CVMM_OK;
}

/* The manager hands our EXCLUSIVE page to the release model, homed here:
 * this protocol is done with it (PROMOTED: nobody asks the manager for it
 * any more, and our faults are the release model's). */
static cvmm_status_t act_promote(coh_node_t *n, uint64_t page,
				 const coh_msg_t *m)
{
	cvmm_status_t st;

	if (m->src != mgr_of(n, page))
		return CVMM_ERR_PEER;
	st = to_data(n, page, n->cfg.self);

	return st ? st : send_msg(n, mgr_of(n, page), COH_MSG_PROMOTED, page, 0);
}

/* Our request was refused: the page is a data page now. Threads waiting
 * for it ask the release model (ops->to_data notifies them). */
static cvmm_status_t act_to_data(coh_node_t *n, uint64_t page,
				 const coh_msg_t *m)
{
	if (m->src != mgr_of(n, page))
		return CVMM_ERR_PEER;
	/* nothing will land: a request ahead (a write-ahead, or a
	 * read-ahead under the release model) forgets its page */
	if (n->cfg.ops->refused)
		n->cfg.ops->refused(n->cfg.ctx, page);
	notify(n, page);
	return to_data(n, page, m->arg);
}

/* Sends a grant, saying when our copy is all zeros (no copy needed), or
 * with our copy attached (push); bytes: the requester has no current copy
 * (FWD_WRITE without COH_FLAG_HAVE). */
static cvmm_status_t send_grant(coh_node_t *n, uint32_t dst, unsigned type,
				uint64_t page, bool bytes)
{
	cvmm_status_t st = send_msg(n, dst, type, page, n->cfg.self);
	uint32_t *flags;

	if (st != CVMM_OK || !bytes)
		return st;
	flags = &n->ob->m[n->ob->len - 1].flags;
	if (n->cfg.ops->is_zero && n->cfg.ops->is_zero(n->cfg.ctx, page))
		*flags = COH_FLAG_ZERO;
	else if (n->cfg.push && dst != n->cfg.self)
		*flags = COH_FLAG_PAGE;
	return CVMM_OK;
}

static cvmm_status_t act_grant_read(coh_node_t *n, uint64_t page,
				    const coh_msg_t *m)
{
	return send_grant(n, m->arg, COH_MSG_READ_GRANT, page, true);
}

static cvmm_status_t act_downgrade_grant_read(coh_node_t *n, uint64_t page,
					      const coh_msg_t *m)
{
	const coh_ops_t *o = n->cfg.ops;
	cvmm_status_t st = o->downgrade ? o->downgrade(n->cfg.ctx, page)
					: o->install(n->cfg.ctx, page, COH_SHARED);

	hold_left(n, page);
	return st ? st : act_grant_read(n, page, m);
}

static cvmm_status_t act_grant_write(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->invalidate_local(n->cfg.ctx, page);

	hold_left(n, page);
	return st ? st : send_grant(n, m->arg, COH_MSG_WRITE_GRANT, page,
				    !(m->flags & COH_FLAG_HAVE));
}

static cvmm_status_t act_invalidate(coh_node_t *n, uint64_t page,
				    const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->invalidate_local(n->cfg.ctx, page);

	return st ? st : send_msg(n, mgr_of(n, page), COH_MSG_INV_ACK, page, 0);
}

static void fetch_end(coh_node_t *n, uint64_t page)
{
	coh_xpage_t *x = coh_xpage_find(n, page);

	assert(x && x->fetching);
	x->fetching = false;
	coh_xpage_put(n, x);
}

/* A grant: remember whom to copy from; the waiting threads retry and the
 * first one claims the get (act_claim). Pushed bytes go into our copy now
 * and node_settle finishes the fetch in this step. */
static cvmm_status_t act_fetch_begin(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	coh_xpage_t *x = coh_xpage_get(n, page);
	cvmm_status_t st;

	if (!x)
		return CVMM_ERR_NOMEM;
	x->fetching = true;
	x->claimed = false;
	x->owner = (uint8_t)m->arg;
	x->zero = (m->flags & COH_FLAG_ZERO) != 0;
	x->have = (m->flags & COH_FLAG_PAGE) != 0;
	/* pushing: a zero page is made here too, so that a grant completes
	 * with no thread to fetch (a read-ahead has none) */
	if (x->zero && n->cfg.push && n->cfg.ops->put_page)
		x->have = true;
	if (x->have) {
		st = n->cfg.ops->put_page(n->cfg.ctx, page, m->arg,
					  x->zero ? NULL : n->rx_page);
		if (st != CVMM_OK) {
			fetch_end(n, page);
			return st;
		}
	}
	notify(n, page);
	return CVMM_OK;
}

/* A fault in a FETCH state: the first caller per grant claims the get
 * (coh_fault sees claimed go up and returns COH_FETCH); the rest wait. */
static cvmm_status_t act_claim(coh_node_t *n, uint64_t page,
			       const coh_msg_t *m)
{
	coh_xpage_t *x = coh_xpage_find(n, page);

	assert(x && x->fetching);
	x->claimed = true;
	return CVMM_OK;
}

static cvmm_status_t act_read_fetched(coh_node_t *n, uint64_t page,
				      const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->install(n->cfg.ctx, page, COH_SHARED);

	if (st == CVMM_OK)
		st = send_msg(n, mgr_of(n, page), COH_MSG_CONFIRM_READ, page, 0);
	if (st == CVMM_OK) {
		fetch_end(n, page);
		notify(n, page);
	}
	return st;
}

/* The copy here is current (it was, or the get put it there). */
static cvmm_status_t act_write_granted(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->install(n->cfg.ctx, page, COH_EXCLUSIVE);

	hold_arrived(n, page);
	if (st == CVMM_OK)
		st = send_msg(n, mgr_of(n, page), COH_MSG_CONFIRM_WRITE, page,
			      0);
	if (st == CVMM_OK)
		notify(n, page);
	return st;
}

static cvmm_status_t act_write_fetched(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m)
{
	cvmm_status_t st = act_write_granted(n, page, m);

	if (st == CVMM_OK)
		fetch_end(n, page);
	return st;
}

/* ---- manager actions ------------------------------------------------------ */

static cvmm_status_t mact_enqueue(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	coh_qent_t **pp = &mp->q, *e;

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->node == m->src)
			return CVMM_ERR_PEER; /* one request per node */
	e = malloc(sizeof(*e));
	if (!e)
		return CVMM_ERR_NOMEM;
	*e = (coh_qent_t){ .type = m->type == COH_MSG_READ_REQ
					   ? COH_MEV_READ_REQ
					   : COH_MEV_WRITE_REQ,
			   .node = (uint8_t)m->src };
	*pp = e;
	return CVMM_OK;
}

static cvmm_status_t mact_start_read(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);

	mp->req = (uint8_t)m->src;
	return send_msg(n, mp->owner, COH_MSG_FWD_READ, page, m->src);
}

static cvmm_status_t mact_start_write(coh_node_t *n, uint64_t page,
				      const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	cvmm_status_t st;

	mp->req = (uint8_t)m->src;
	mp->pending = 0;
	for (uint32_t c = 0; c < n->cfg.nnodes; c++) {
		if (!(mp->copyset >> c & 1) || c == m->src || c == mp->owner)
			continue;
		st = send_msg(n, c, COH_MSG_INVALIDATE, page, 0);
		if (st)
			return st;
		mp->pending++;
	}
	return CVMM_OK; /* mgr_settle raises INV_DONE when pending is 0 */
}

static cvmm_status_t mact_inv_ack(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);

	if (mp->pending == 0 || !(mp->copyset >> m->src & 1))
		return CVMM_ERR_PEER;
	mp->copyset &= ~(1ull << m->src);
	mp->pending--;
	return CVMM_OK;
}

static cvmm_status_t mact_inv_done(coh_node_t *n, uint64_t page,
				   const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	cvmm_status_t st;

	if (mp->owner == mp->req)
		return send_msg(n, mp->req, COH_MSG_WRITE_GRANT, page,
				mp->owner);
	st = send_msg(n, mp->owner, COH_MSG_FWD_WRITE, page, mp->req);
	/* still in the copyset: R's copy is current, the owner need not
	 * send the bytes (an upgrade) */
	if (st == CVMM_OK && (mp->copyset >> mp->req & 1))
		n->ob->m[n->ob->len - 1].flags = COH_FLAG_HAVE;
	return st;
}

static cvmm_status_t mact_confirm_read(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);

	if (m->src != mp->req)
		return CVMM_ERR_PEER;
	mp->copyset |= 1ull << m->src;
	return CVMM_OK;
}

static cvmm_status_t mact_confirm_write(coh_node_t *n, uint64_t page,
					const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);

	if (m->src != mp->req)
		return CVMM_ERR_PEER;
	mp->owner = (uint8_t)m->src;
	mp->copyset = 0;
	return CVMM_OK;
}

/* Promotion: the owner alone holds the page; it becomes a data page
 * homed there once the owner says it took it over. */
static cvmm_status_t mact_promote(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	return send_msg(n, coh_mpage(n, page)->owner, COH_MSG_PROMOTE, page, 0);
}

static cvmm_status_t refuse(coh_node_t *n, uint64_t page, uint32_t dst)
{
	cvmm_status_t st = send_msg(n, dst, COH_MSG_NACK, page,
				    coh_mpage(n, page)->owner);

	if (st == CVMM_OK)
		n->ob->m[n->ob->len - 1].flags = COH_FLAG_DATA;
	return st;
}

/* The owner is the page's home now: the manager learns it, and every
 * request that waited is refused (its node asks the home). */
static cvmm_status_t mact_promoted(coh_node_t *n, uint64_t page,
				   const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	cvmm_status_t st;

	if (m->src != mp->owner)
		return CVMM_ERR_PEER;
	if (mp->seeded)
		return CVMM_OK; /* a sync page already (coh_node_seed): back
				   to serving requests, mgr_settle */
	st = to_data(n, page, mp->owner);
	while (st == CVMM_OK && mp->q) {
		coh_qent_t *e = mp->q;

		mp->q = e->next;
		st = refuse(n, page, e->node);
		free(e);
	}
	return st;
}

static cvmm_status_t mact_refuse(coh_node_t *n, uint64_t page,
				 const coh_msg_t *m)
{
	return refuse(n, page, m->src);
}

/* ---- the tables ----------------------------------------------------------- */

#define T(nx, fn, lbl) { .next = (nx), .action = (fn), .label = (lbl) }
#define ILLEGAL(why) { .next = 0, .action = NULL, .label = "illegal: " why }
/* M serializes the page from the request to the CONFIRM, which R sends
 * only after its get: nothing may reach R for the page in between. */
#define FETCHING ILLEGAL("manager holds the page until the confirm")

const coh_trans_t coh_node_table[COH_NSTATES][COH_NEVENTS] = {
	[COH_INVALID] = {
		[COH_EV_READ_FAULT] = T(COH_READ_WAIT, act_read_req, "read miss"),
		[COH_EV_WRITE_FAULT] = T(COH_WRITE_WAIT, act_write_req, "write miss"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = ILLEGAL("no write-ahead asked"),
		[COH_EV_WRITE_AHEAD] = T(COH_AHEAD_WAIT, act_write_ahead, "write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("not owner"),
		[COH_EV_TO_DATA] = ILLEGAL("nothing asked"),
	},
	[COH_SHARED] = {
		[COH_EV_READ_FAULT] = T(COH_SHARED, act_wait, "spurious read fault"),
		[COH_EV_WRITE_FAULT] = T(COH_UPGRADE_WAIT, act_write_req, "upgrade"),
		[COH_EV_FWD_READ] = T(COH_SHARED, act_grant_read, "owner grants read"),
		[COH_EV_FWD_WRITE] = T(COH_INVALID, act_grant_write, "owner gives up page"),
		[COH_EV_INVALIDATE] = T(COH_INVALID, act_invalidate, "invalidated"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = ILLEGAL("no write-ahead asked"),
		[COH_EV_WRITE_AHEAD] = T(COH_UPGRADE_WAIT, act_upgrade_ahead, "upgrade-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("the owner alone is promoted"),
		[COH_EV_TO_DATA] = ILLEGAL("nothing asked"),
	},
	[COH_EXCLUSIVE] = {
		[COH_EV_READ_FAULT] = T(COH_EXCLUSIVE, act_wait, "spurious read fault"),
		[COH_EV_WRITE_FAULT] = T(COH_EXCLUSIVE, act_wait, "spurious write fault"),
		[COH_EV_FWD_READ] = T(COH_SHARED, act_downgrade_grant_read, "owner downgrades"),
		[COH_EV_FWD_WRITE] = T(COH_INVALID, act_grant_write, "owner gives up page"),
		[COH_EV_INVALIDATE] = ILLEGAL("owner is never invalidated"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = ILLEGAL("no write-ahead asked"),
		[COH_EV_WRITE_AHEAD] = T(COH_EXCLUSIVE, act_wait, "valid: no write-ahead"),
		[COH_EV_PROMOTE] = T(COH_PROMOTED, act_promote, "promoted: a data page homed here"),
		[COH_EV_TO_DATA] = ILLEGAL("nothing asked"),
	},
	[COH_READ_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_READ_WAIT, act_wait, "coalesced read"),
		[COH_EV_WRITE_FAULT] = T(COH_READ_WAIT, act_wait, "write waits for read"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = T(COH_READ_FETCH, act_fetch_begin, "read granted: fetch"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = ILLEGAL("no write-ahead asked"),
		[COH_EV_WRITE_AHEAD] = T(COH_READ_WAIT, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("not owner"),
		[COH_EV_TO_DATA] = T(COH_INVALID, act_to_data, "refused: a data page now"),
	},
	[COH_WRITE_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_WRITE_WAIT, act_wait, "coalesced read"),
		[COH_EV_WRITE_FAULT] = T(COH_WRITE_WAIT, act_wait, "coalesced write"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		/* from self: node_settle raises GET_DONE at once */
		[COH_EV_WRITE_GRANT] = T(COH_WRITE_FETCH, act_fetch_begin, "write granted: fetch"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = T(COH_INVALID, act_upgrade_refused, "upgrade-ahead refused, copy gone"),
		[COH_EV_WRITE_AHEAD] = T(COH_WRITE_WAIT, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("not owner"),
		[COH_EV_TO_DATA] = T(COH_INVALID, act_to_data, "refused: a data page now"),
	},
	[COH_UPGRADE_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_UPGRADE_WAIT, act_wait, "read on current copy"),
		[COH_EV_WRITE_FAULT] = T(COH_UPGRADE_WAIT, act_wait, "coalesced write"),
		[COH_EV_FWD_READ] = T(COH_UPGRADE_WAIT, act_grant_read, "owner grants read"),
		[COH_EV_FWD_WRITE] = T(COH_WRITE_WAIT, act_grant_write, "owner loses race"),
		[COH_EV_INVALIDATE] = T(COH_WRITE_WAIT, act_invalidate, "sharer loses race"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = T(COH_EXCLUSIVE, act_write_granted, "upgrade granted"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = T(COH_SHARED, act_upgrade_refused, "upgrade-ahead refused"),
		[COH_EV_WRITE_AHEAD] = T(COH_UPGRADE_WAIT, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("the owner alone is promoted"),
		[COH_EV_TO_DATA] = ILLEGAL("a copy was left when promoted"),
	},
	[COH_READ_FETCH] = {
		[COH_EV_READ_FAULT] = T(COH_READ_FETCH, act_claim, "first fault fetches"),
		[COH_EV_WRITE_FAULT] = T(COH_READ_FETCH, act_claim, "first fault fetches"),
		[COH_EV_FWD_READ] = FETCHING,
		[COH_EV_FWD_WRITE] = FETCHING,
		[COH_EV_INVALIDATE] = FETCHING,
		[COH_EV_READ_GRANT] = FETCHING,
		[COH_EV_WRITE_GRANT] = FETCHING,
		[COH_EV_GET_DONE] = T(COH_SHARED, act_read_fetched, "read copy in"),
		[COH_EV_NACK] = FETCHING,
		[COH_EV_WRITE_AHEAD] = T(COH_READ_FETCH, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = FETCHING,
		[COH_EV_TO_DATA] = FETCHING,
	},
	[COH_WRITE_FETCH] = {
		[COH_EV_READ_FAULT] = T(COH_WRITE_FETCH, act_claim, "first fault fetches"),
		[COH_EV_WRITE_FAULT] = T(COH_WRITE_FETCH, act_claim, "first fault fetches"),
		[COH_EV_FWD_READ] = FETCHING,
		[COH_EV_FWD_WRITE] = FETCHING,
		[COH_EV_INVALIDATE] = FETCHING,
		[COH_EV_READ_GRANT] = FETCHING,
		[COH_EV_WRITE_GRANT] = FETCHING,
		[COH_EV_GET_DONE] = T(COH_EXCLUSIVE, act_write_fetched, "write copy in"),
		[COH_EV_NACK] = FETCHING,
		[COH_EV_WRITE_AHEAD] = T(COH_WRITE_FETCH, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = FETCHING,
		[COH_EV_TO_DATA] = FETCHING,
	},
	[COH_AHEAD_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_AHEAD_WAIT, act_wait, "coalesced read"),
		[COH_EV_WRITE_FAULT] = T(COH_AHEAD_WAIT, act_wait, "coalesced write"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = T(COH_WRITE_FETCH, act_fetch_begin, "write-ahead granted: fetch"),
		[COH_EV_GET_DONE] = ILLEGAL("no fetch in progress"),
		[COH_EV_NACK] = T(COH_INVALID, act_refused, "write-ahead refused"),
		[COH_EV_WRITE_AHEAD] = T(COH_AHEAD_WAIT, act_wait, "asked: no write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("not owner"),
		[COH_EV_TO_DATA] = T(COH_INVALID, act_to_data, "refused: a data page now"),
	},
	/* nothing of this protocol reaches a promoted page until
	 * coh_node_seed takes it back: the manager refuses every request
	 * meanwhile, so no forward, invalidation or grant comes */
	[COH_PROMOTED] = {
		[COH_EV_READ_FAULT] = T(COH_PROMOTED, act_wait, "a data page: the release model's"),
		[COH_EV_WRITE_FAULT] = T(COH_PROMOTED, act_wait, "a data page: the release model's"),
		[COH_EV_FWD_READ] = ILLEGAL("a data page"),
		[COH_EV_FWD_WRITE] = ILLEGAL("a data page"),
		[COH_EV_INVALIDATE] = ILLEGAL("a data page"),
		[COH_EV_READ_GRANT] = ILLEGAL("a data page"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("a data page"),
		[COH_EV_GET_DONE] = ILLEGAL("a data page"),
		[COH_EV_NACK] = ILLEGAL("a data page"),
		[COH_EV_WRITE_AHEAD] = T(COH_PROMOTED, act_wait, "a data page: no write-ahead"),
		[COH_EV_PROMOTE] = ILLEGAL("promoted already"),
		[COH_EV_TO_DATA] = ILLEGAL("nothing asked"),
	},
};

const coh_trans_t coh_mgr_table[COH_M_NSTATES][COH_MNEVENTS] = {
	[COH_M_IDLE] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_READ, mact_start_read, "forward read"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_INV, mact_start_write, "invalidate copyset"),
		[COH_MEV_INV_ACK] = ILLEGAL("no write in progress"),
		[COH_MEV_INV_DONE] = ILLEGAL("no write in progress"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("no write in progress"),
		[COH_MEV_PROMOTE] = T(COH_M_PROMOTE, mact_promote, "promote"),
		[COH_MEV_PROMOTED] = ILLEGAL("no promotion in progress"),
	},
	[COH_M_BUSY_READ] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_READ, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_READ, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = ILLEGAL("no write in progress"),
		[COH_MEV_INV_DONE] = ILLEGAL("no write in progress"),
		[COH_MEV_CONFIRM_READ] = T(COH_M_IDLE, mact_confirm_read, "read done"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("no write in progress"),
		[COH_MEV_PROMOTE] = ILLEGAL("busy"),
		[COH_MEV_PROMOTED] = ILLEGAL("no promotion in progress"),
	},
	[COH_M_BUSY_INV] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_INV, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_INV, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = T(COH_M_BUSY_INV, mact_inv_ack, "ack"),
		[COH_MEV_INV_DONE] = T(COH_M_BUSY_WRITE, mact_inv_done, "forward write"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("acks still missing"),
		[COH_MEV_PROMOTE] = ILLEGAL("busy"),
		[COH_MEV_PROMOTED] = ILLEGAL("no promotion in progress"),
	},
	[COH_M_BUSY_WRITE] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_WRITE, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_WRITE, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = ILLEGAL("all acks were in"),
		[COH_MEV_INV_DONE] = ILLEGAL("all acks were in"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = T(COH_M_IDLE, mact_confirm_write, "write done"),
		[COH_MEV_PROMOTE] = ILLEGAL("busy"),
		[COH_MEV_PROMOTED] = ILLEGAL("no promotion in progress"),
	},
	[COH_M_PROMOTE] = {
		[COH_MEV_READ_REQ] = T(COH_M_PROMOTE, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_PROMOTE, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = ILLEGAL("no write in progress"),
		[COH_MEV_INV_DONE] = ILLEGAL("no write in progress"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("no write in progress"),
		[COH_MEV_PROMOTE] = ILLEGAL("promoting already"),
		[COH_MEV_PROMOTED] = T(COH_M_DATA, mact_promoted, "a data page now"),
	},
	[COH_M_DATA] = {
		[COH_MEV_READ_REQ] = T(COH_M_DATA, mact_refuse, "refuse: a data page"),
		[COH_MEV_WRITE_REQ] = T(COH_M_DATA, mact_refuse, "refuse: a data page"),
		[COH_MEV_INV_ACK] = ILLEGAL("a data page"),
		[COH_MEV_INV_DONE] = ILLEGAL("a data page"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("a data page"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("a data page"),
		[COH_MEV_PROMOTE] = ILLEGAL("a data page"),
		[COH_MEV_PROMOTED] = ILLEGAL("a data page"),
	},
};

/* ---- dispatch ------------------------------------------------------------- */

static const char *ev_str(coh_event_t ev, const coh_msg_t *m)
{
	if (m)
		return coh_msg_type_str(m->type);
	return ev == COH_EV_GET_DONE ? "get_done"
	       : ev == COH_EV_WRITE_AHEAD ? "write-ahead"
	       : ev == COH_EV_WRITE_FAULT ? "write fault" : "read fault";
}

static const char *mstate_str(unsigned st)
{
	static const char *const names[COH_M_NSTATES] = {
		"idle", "busy_read", "busy_inv", "busy_write", "promote",
		"data" };

	return st < COH_M_NSTATES ? names[st] : "?";
}

static cvmm_status_t node_step(coh_node_t *n, uint64_t page, coh_event_t ev,
			       const coh_msg_t *m)
{
	coh_state_t cur = coh_page_st(n, page);
	const coh_trans_t *t = &coh_node_table[cur][ev];
	cvmm_status_t st;

	assert(t->label != NULL); /* a forgotten cell */
	if (t->action == NULL) {
		log_error("node %u page 0x%llx: %s in state %s from node %u (%s)",
			  n->cfg.self, (unsigned long long)page, ev_str(ev, m),
			  coh_state_str(cur), m ? m->src : n->cfg.self, t->label);
		return CVMM_ERR_PEER;
	}
	/* the chunk first, so that a successful action is always recorded */
	if (t->next != cur && !coh_sparse_at(&n->st, page, true))
		return CVMM_ERR_NOMEM;
	st = t->action(n, page, m);
	if (st == CVMM_OK && t->next != cur)
		coh_page_set_st(n, page, (coh_state_t)t->next);
	return st;
}

/* A grant that names this node as the owner, or that brought the bytes,
 * needs no get: the bytes here are the owner's. GET_DONE is raised under
 * the same lock hold, so to the outside the grant goes straight to SHARED
 * or EXCLUSIVE. */
static cvmm_status_t node_settle(coh_node_t *n, uint64_t page)
{
	coh_xpage_t *x;

	if (!is_fetch(coh_page_st(n, page)))
		return CVMM_OK;
	x = coh_xpage_find(n, page);
	assert(x && x->fetching);
	if (x->owner != n->cfg.self && !x->have)
		return CVMM_OK;
	return node_step(n, page, COH_EV_GET_DONE, NULL);
}

static cvmm_status_t node_run(coh_node_t *n, uint64_t page, coh_event_t ev,
			      const coh_msg_t *m)
{
	cvmm_status_t st = node_step(n, page, ev, m);

	return st ? st : node_settle(n, page);
}

static cvmm_status_t mgr_step(coh_node_t *n, uint64_t page, coh_mevent_t ev,
			      const coh_msg_t *m)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	const coh_trans_t *t = &coh_mgr_table[mp->st][ev];
	cvmm_status_t st;

	assert(t->label != NULL);
	if (t->action == NULL) {
		log_error("manager %u page 0x%llx: %s in state %s from node %u (%s)",
			  n->cfg.self, (unsigned long long)page,
			  ev == COH_MEV_INV_DONE   ? "inv_done"
			  : ev == COH_MEV_PROMOTE ? "promote"
						  : coh_msg_type_str(m->type),
			  mstate_str(mp->st), m->src, t->label);
		return CVMM_ERR_PEER;
	}
	st = t->action(n, page, m);
	if (st == CVMM_OK)
		mp->st = t->next;
	else if (st == CVMM_ERR_PEER)
		log_error("manager %u page 0x%llx: unexpected %s in state %s from node %u",
			  n->cfg.self, (unsigned long long)page,
			  coh_msg_type_str(m->type), mstate_str(mp->st),
			  m->src);
	return st;
}

/* Promotion is due: on, the page moved often enough by plain stores and
 * never by anything else, and its owner alone holds it (no copyset: the
 * owner is EXCLUSIVE, no request is in flight). */
static bool promote_due(coh_node_t *n, uint64_t page, const coh_mpage_t *mp)
{
	return n->cfg.promote_after && mp->st == COH_M_IDLE && !mp->sticky &&
	       mp->plains >= n->cfg.promote_after && mp->copyset == 0 &&
	       (!mp->first || mp->owner == mp->first - 1u) &&
	       (!n->cfg.promotable || n->cfg.promotable(n->cfg.ctx, page));
}

/* Runs the internal events that follow a manager step: INV_DONE when no
 * ack is outstanding, PROMOTE when due, and the next queued request once
 * IDLE. */
static cvmm_status_t mgr_settle(coh_node_t *n, uint64_t page)
{
	coh_mpage_t *mp = coh_mpage(n, page);
	cvmm_status_t st = CVMM_OK;
	coh_msg_t m = { .version = COH_WIRE_VERSION, .page = page };

	while (st == CVMM_OK) {
		if (mp->st == COH_M_DATA && mp->seeded) {
			mp->st = COH_M_IDLE; /* mact_promoted */
			mp->copyset = 0;
			mp->seeded = 0;
		} else if (mp->st == COH_M_BUSY_INV && mp->pending == 0) {
			m.src = n->cfg.self;
			st = mgr_step(n, page, COH_MEV_INV_DONE, &m);
		} else if (promote_due(n, page, mp)) {
			m.src = n->cfg.self;
			m.type = COH_MSG_PROMOTE;
			st = mgr_step(n, page, COH_MEV_PROMOTE, &m);
		} else if (mp->st == COH_M_IDLE && mp->q) {
			coh_qent_t *e = mp->q;

			mp->q = e->next;
			m.src = e->node;
			m.type = e->type == COH_MEV_READ_REQ ? COH_MSG_READ_REQ
							     : COH_MSG_WRITE_REQ;
			st = mgr_step(n, page, (coh_mevent_t)e->type, &m);
			free(e);
		} else {
			break;
		}
	}
	return st;
}

static int msg_node_event(const coh_msg_t *m)
{
	switch (m->type) {
	case COH_MSG_FWD_READ: return COH_EV_FWD_READ;
	case COH_MSG_FWD_WRITE: return COH_EV_FWD_WRITE;
	case COH_MSG_INVALIDATE: return COH_EV_INVALIDATE;
	case COH_MSG_READ_GRANT: return COH_EV_READ_GRANT;
	case COH_MSG_WRITE_GRANT: return COH_EV_WRITE_GRANT;
	case COH_MSG_NACK:
		return m->flags & COH_FLAG_DATA ? COH_EV_TO_DATA : COH_EV_NACK;
	case COH_MSG_PROMOTE: return COH_EV_PROMOTE;
	default: return -1;
	}
}

static int msg_mgr_event(unsigned type)
{
	switch (type) {
	case COH_MSG_READ_REQ: return COH_MEV_READ_REQ;
	case COH_MSG_WRITE_REQ: return COH_MEV_WRITE_REQ;
	case COH_MSG_INV_ACK: return COH_MEV_INV_ACK;
	case COH_MSG_CONFIRM_READ: return COH_MEV_CONFIRM_READ;
	case COH_MSG_CONFIRM_WRITE: return COH_MEV_CONFIRM_WRITE;
	case COH_MSG_PROMOTED: return COH_MEV_PROMOTED;
	default: return -1;
	}
}

/* Holds a forward back while its page is pinned; coh_unpin runs it. */
static cvmm_status_t defer_msg(coh_node_t *n, coh_xpage_t *x,
			       const coh_msg_t *m)
{
	coh_defer_t *d;

	if (x->ndefer >= COH_MAX_NODES) { /* M sends one forward at a time */
		log_error("node %u page 0x%llx: too many forwards while pinned, last from node %u",
			  n->cfg.self, (unsigned long long)m->page, m->src);
		return CVMM_ERR_PEER;
	}
	d = malloc(sizeof(*d));
	if (!d)
		return CVMM_ERR_NOMEM;
	*d = (coh_defer_t){ .m = *m };
	if (x->defer_tail)
		x->defer_tail->next = d;
	else
		x->defer = d;
	x->defer_tail = d;
	x->ndefer++;
	log_trace("node %u page 0x%llx: %s from node %u deferred (pinned)",
		  n->cfg.self, (unsigned long long)m->page,
		  coh_msg_type_str(m->type), m->src);
	return CVMM_OK;
}

/* Holds a forward back until the page's window ends (hold_deadline). */
static cvmm_status_t hold_msg(coh_node_t *n, uint64_t until,
			      const coh_msg_t *m)
{
	coh_xpage_t *x = coh_xpage_get(n, m->page);
	cvmm_status_t st;

	if (!x)
		return CVMM_ERR_NOMEM;
	st = defer_msg(n, x, m);
	if (st != CVMM_OK) {
		coh_xpage_put(n, x);
		return st;
	}
	x->hold_until = until;
	n->nholds++;
	if (n->cfg.hold_armed)
		n->cfg.hold_armed(n->cfg.ctx, until);
	return CVMM_OK;
}

static cvmm_status_t node_recv(coh_node_t *n, coh_event_t ev,
			       const coh_msg_t *m)
{
	coh_xpage_t *x;
	uint64_t until;

	/* a PROMOTE waits like a forward: the page stays here either way,
	 * and a pinned page must not change hands between the protocols */
	if (ev == COH_EV_FWD_READ || ev == COH_EV_FWD_WRITE ||
	    ev == COH_EV_PROMOTE) {
		x = coh_xpage_find(n, m->page);
		if (x && (x->pins > 0 || x->hold_until))
			return defer_msg(n, x, m);
		until = n->cfg.idle && n->cfg.idle(n->cfg.ctx)
				? 0
				: hold_deadline(n, m->page);
		if (until)
			return hold_msg(n, until, m);
	}
	return node_run(n, m->page, ev, m);
}

/* A write-ahead is served only for a page nobody has asked for that
 * starts here and is all zeros here: a fresh page's first touch, which
 * moves no bytes and takes nothing from a node using it. Anything else is
 * refused (a guess must not steal a page someone works on). */
static bool ahead_ok(coh_node_t *n, uint64_t page)
{
	const coh_mpage_t *mp = coh_mpage(n, page);
	const coh_ops_t *o = n->cfg.ops;

	return !mp->used && mp->owner == n->cfg.self &&
	       coh_page_st(n, page) == COH_EXCLUSIVE &&
	       !coh_xpage_find(n, page) && o->is_zero &&
	       o->is_zero(n->cfg.ctx, page);
}

/* An upgrade-ahead is granted only to the page's owner, when nothing is
 * in progress: its copy is current and stays so (only a forward, which
 * the manager would have to send first, takes an owner's copy), so the
 * grant never carries bytes. */
static bool upgrade_ok(coh_node_t *n, uint64_t page, uint32_t src)
{
	const coh_mpage_t *mp = coh_mpage(n, page);

	return mp->st == COH_M_IDLE && mp->owner == src;
}

static cvmm_status_t mgr_recv(coh_node_t *n, coh_mevent_t ev,
			      const coh_msg_t *m)
{
	coh_mpage_t *mp;
	cvmm_status_t st;

	if (!coh_sparse_at(mp_table(n, m->page),
			   coh_mgr_index(m->page, n->cfg.nnodes), true))
		return CVMM_ERR_NOMEM;
	mp = coh_mpage(n, m->page); /* its initial owner filled in */
	if (((m->flags & COH_FLAG_AHEAD) && !ahead_ok(n, m->page)) ||
	    ((m->flags & COH_FLAG_UPGRADE) &&
	     !upgrade_ok(n, m->page, m->src)))
		return send_msg(n, m->src, COH_MSG_NACK, m->page, 0);
	mp->used = 1;
	if (ev == COH_MEV_WRITE_REQ && n->cfg.promote_after &&
	    mp->st != COH_M_PROMOTE && mp->st != COH_M_DATA) {
		/* its first writer: the owner it started at (nothing moved
		 * yet), unless that is us and our copy is still all zeros */
		if (!mp->first)
			mp->first = 1 + (mp->owner == n->cfg.self &&
							 n->cfg.ops->is_zero &&
							 n->cfg.ops->is_zero(
								 n->cfg.ctx,
								 m->page)
						 ? m->src
						 : mp->owner);
		if (m->flags & (COH_FLAG_AHEAD | COH_FLAG_UPGRADE))
			; /* a guess (a fresh page's first touch ahead of
			     the stores): tells nothing of how it is written */
		else if (!(m->flags & COH_FLAG_PLAIN))
			mp->sticky = 1; /* an atomic, or not decoded */
		else if (mp->plains < UINT8_MAX)
			mp->plains++;
	}
	st = mgr_step(n, m->page, ev, m);
	return st ? st : mgr_settle(n, m->page);
}

static cvmm_status_t recv_check(coh_node_t *n, const coh_msg_t *m,
				const void *page)
{
	if (m->page >= n->cfg.npages || m->src >= n->cfg.nnodes ||
	    (msg_node_event(m) < 0 && msg_mgr_event(m->type) < 0) ||
	    !(m->flags & COH_FLAG_PAGE) != !page ||
	    (page && !n->cfg.ops->put_page))
		return CVMM_ERR_PEER;
	if (msg_mgr_event(m->type) >= 0 && mgr_of(n, m->page) != n->cfg.self) {
		log_error("node %u page 0x%llx: %s from node %u but not manager",
			  n->cfg.self, (unsigned long long)m->page,
			  coh_msg_type_str(m->type), m->src);
		return CVMM_ERR_PEER;
	}
	return CVMM_OK;
}

cvmm_status_t coh_recv(coh_node_t *n, const coh_msg_t *m, const void *page)
{
	return coh_recv_many(n, m, &page, 1);
}

/* The most one message's step can add to the outbox: a manager's
 * INVALIDATEs, or an unpin's deferred forwards (COH_OUTBOX_MAX). */
#define OB_STEP_MAX (COH_MAX_NODES + 2)

/* The outbox ob may not take another step's messages. */
static bool ob_full(const coh_outbox_t *ob)
{
	return ob->len > COH_OUTBOX_MAX - OB_STEP_MAX;
}

/* Forwards that need no release first under the release model: the page
 * is held read-only here (SHARED or UPGRADE_WAIT at its owner), so nothing
 * was written to it since the forward that made it read-only, which this
 * node handled after a release (coh.c, fwd_handle). Checked under the
 * same hold of the lock as each forward runs: a grant handled on another
 * thread in between (an upgrade-ahead's) can make a page writable. */
static bool fwd_read_only(coh_node_t *n, const coh_msg_t *m)
{
	coh_state_t s;

	if (m->type != COH_MSG_FWD_READ && m->type != COH_MSG_FWD_WRITE)
		return false;
	s = coh_page_st(n, m->page);
	return s == COH_SHARED || s == COH_UPGRADE_WAIT;
}

/* coh_recv_many, and with ro coh_recv_fwd_ro: stops before the first
 * message that is no forward of a page read-only here. *ran: how many
 * ran. */
static cvmm_status_t recv_run(coh_node_t *n, const coh_msg_t *m,
			      const void *const *pages, unsigned k, bool ro,
			      unsigned *ran)
{
	cvmm_status_t st = CVMM_OK;
	coh_outbox_t ob;

	*ran = 0;
	for (unsigned i = 0; i < k; i++)
		if (recv_check(n, &m[i], pages[i]) != CVMM_OK)
			return CVMM_ERR_PEER;
	coh_node_lock(n, &ob);
	for (unsigned i = 0; i < k && st == CVMM_OK; i++) {
		int nev = msg_node_event(&m[i]);

		if (ob_full(&ob) ||
		    ob.ntodata == COH_TODATA_MAX) {
			coh_node_unlock(n);
			st = ob_flush(n, &ob, st);
			if (st != CVMM_OK)
				return st;
			coh_node_lock(n, &ob);
		}
		if (ro && !fwd_read_only(n, &m[i]))
			break;
		n->rx_page = pages[i];
		if (nev >= 0)
			st = node_recv(n, (coh_event_t)nev, &m[i]);
		else
			st = mgr_recv(n, (coh_mevent_t)msg_mgr_event(m[i].type),
				      &m[i]);
		n->rx_page = NULL;
		if (st == CVMM_OK)
			*ran = i + 1;
	}
	coh_node_unlock(n);
	return ob_flush(n, &ob, st);
}

cvmm_status_t coh_recv_many(coh_node_t *n, const coh_msg_t *m,
			    const void *const *pages, unsigned k)
{
	unsigned ran;

	return recv_run(n, m, pages, k, false, &ran);
}

cvmm_status_t coh_recv_fwd_ro(coh_node_t *n, const coh_msg_t *m,
			      const void *const *pages, unsigned k,
			      unsigned *ran)
{
	return recv_run(n, m, pages, k, true, ran);
}

/* ---- local entry points ---------------------------------------------------- */

/* What the faulting thread does next, from the state after its fault
 * event; READY also re-maps the page (ops->map), under the lock so that no
 * invalidation slips in between. */
static cvmm_status_t fault_result(coh_node_t *n, uint64_t page, bool write,
				  bool was_claimed, coh_fault_res_t *r)
{
	coh_state_t cur = coh_page_st(n, page);
	coh_xpage_t *x;

	*r = (coh_fault_res_t){ .kind = COH_WAIT, .state = cur };
	if (cur == COH_PROMOTED) {
		/* never mapped from here: the release model may have
		 * write-protected it since (a copy went elsewhere) */
		r->kind = COH_DATA;
		return CVMM_OK;
	}
	if (cur == COH_EXCLUSIVE || cur == COH_SHARED ||
	    (cur == COH_UPGRADE_WAIT && !write)) {
		r->kind = COH_READY;
		r->first = coh_page_initial(n, page);
		r->state = cur == COH_EXCLUSIVE ? COH_EXCLUSIVE : COH_SHARED;
		if (!n->cfg.ops->map)
			return CVMM_OK;
		return n->cfg.ops->map(n->cfg.ctx, page, r->state);
	}
	if (is_fetch(cur) && !was_claimed) {
		x = coh_xpage_find(n, page);
		assert(x && x->claimed); /* act_claim just did */
		r->kind = COH_FETCH;
		r->owner = x->owner;
		r->zero = x->zero;
	}
	return CVMM_OK;
}

cvmm_status_t coh_fault(coh_node_t *n, uint64_t page, bool write,
			coh_fault_res_t *res)
{
	return coh_fault_ahead(n, page, write, NULL, 0, NULL, res);
}

static cvmm_status_t fault_ahead(coh_node_t *n, uint64_t page, bool write,
				 bool plain, bool up, const uint64_t *ahead,
				 unsigned k, uint32_t *asked,
				 coh_fault_res_t *res);

cvmm_status_t coh_fault_plain(coh_node_t *n, uint64_t page,
			      coh_fault_res_t *res)
{
	return fault_ahead(n, page, true, true, false, NULL, 0, NULL, res);
}

/* A read-ahead: the read fault event of a page nobody here waits for. Its
 * grant completes in the handler (pushed bytes, or zeros made here:
 * act_fetch_begin), so it needs no thread; the request is an ordinary
 * READ_REQ, and M and O cannot tell it from a fault's. */
static cvmm_status_t read_ahead(coh_node_t *n, uint64_t q, bool *asked)
{
	*asked = false;
	if (q >= n->cfg.npages || coh_page_st(n, q) != COH_INVALID ||
	    ob_full(n->ob))
		return CVMM_OK;
	*asked = true;
	return node_run(n, q, COH_EV_READ_FAULT, NULL);
}

/* A write-ahead: asks for q for writing, WRITE_REQ with COH_FLAG_AHEAD
 * (COH_AHEAD_WAIT). Not for a page this node manages: one that is
 * INVALID here has been asked for, or is node 0's image, and the
 * manager would refuse it. A page that starts here and has never moved
 * is mapped at once instead (ops->map, as its own fault would: its first
 * touch is here too, and costs no trap then). */
static cvmm_status_t write_ahead(coh_node_t *n, uint64_t q, bool *asked)
{
	*asked = false;
	if (q >= n->cfg.npages)
		return CVMM_OK;
	if (coh_page_initial(n, q) && coh_page_st(n, q) == COH_EXCLUSIVE)
		return n->cfg.ops->map ? n->cfg.ops->map(n->cfg.ctx, q,
							 COH_EXCLUSIVE)
				       : CVMM_OK;
	if (mgr_of(n, q) == n->cfg.self ||
	    coh_page_st(n, q) != COH_INVALID ||
	    ob_full(n->ob))
		return CVMM_OK;
	*asked = true;
	return node_run(n, q, COH_EV_WRITE_AHEAD, NULL);
}

/* An upgrade-ahead: asks for q, valid here read-only (SHARED), for
 * writing (act_upgrade_ahead); its manager grants it only to the owner,
 * with no bytes, or refuses it (NACK). */
static cvmm_status_t upgrade_ahead(coh_node_t *n, uint64_t q)
{
	if (q >= n->cfg.npages || coh_page_st(n, q) != COH_SHARED ||
	    ob_full(n->ob))
		return CVMM_OK;
	return node_run(n, q, COH_EV_WRITE_AHEAD, NULL);
}

cvmm_status_t coh_fault_ahead(coh_node_t *n, uint64_t page, bool write,
			      const uint64_t *ahead, unsigned k,
			      uint32_t *asked, coh_fault_res_t *res)
{
	return fault_ahead(n, page, write, false, false, ahead, k, asked, res);
}

cvmm_status_t coh_fault_plain_ahead(coh_node_t *n, uint64_t page,
				    const uint64_t *ahead, unsigned k,
				    uint32_t *asked, coh_fault_res_t *res)
{
	return fault_ahead(n, page, true, true, false, ahead, k, asked, res);
}

cvmm_status_t coh_fault_upgrade(coh_node_t *n, uint64_t page, bool plain,
				const uint64_t *ahead, unsigned k,
				coh_fault_res_t *res)
{
	return fault_ahead(n, page, true, plain, true, ahead, k, NULL, res);
}

static cvmm_status_t fault_ahead(coh_node_t *n, uint64_t page, bool write,
				 bool plain, bool up, const uint64_t *ahead,
				 unsigned k, uint32_t *asked,
				 coh_fault_res_t *res)
{
	coh_outbox_t ob;
	coh_fault_res_t r;
	cvmm_status_t st;
	bool claimed;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	coh_node_lock(n, &ob);
	claimed = fetch_claimed(n, page);
	n->plain = plain;
	st = node_run(n, page, write ? COH_EV_WRITE_FAULT : COH_EV_READ_FAULT,
		      NULL);
	n->plain = false;
	if (st == CVMM_OK)
		st = fault_result(n, page, write, claimed, &r);
	if (asked)
		*asked = 0;
	for (unsigned i = 0; i < k && up && st == CVMM_OK; i++)
		st = upgrade_ahead(n, ahead[i]);
	for (unsigned i = 0; i < k && i < 32 && !up && st == CVMM_OK &&
			     n->cfg.push;
	     i++) {
		bool a;

		st = write ? write_ahead(n, ahead[i], &a)
			   : read_ahead(n, ahead[i], &a);
		if (a && asked)
			*asked |= 1u << i;
	}
	coh_node_unlock(n);
	st = ob_flush(n, &ob, st);
	if (st == CVMM_OK)
		*res = r;
	return st;
}

cvmm_status_t coh_fetch_done(coh_node_t *n, uint64_t page)
{
	coh_outbox_t ob;
	cvmm_status_t st = CVMM_ERR_INVALID;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	coh_node_lock(n, &ob);
	if (is_fetch(coh_page_st(n, page)))
		st = node_run(n, page, COH_EV_GET_DONE, NULL);
	coh_node_unlock(n);
	return ob_flush(n, &ob, st);
}

cvmm_status_t coh_pin(coh_node_t *n, uint64_t page, bool *pinned)
{
	cvmm_status_t st = CVMM_OK;
	coh_xpage_t *x;
	bool ok;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	coh_node_lock(n, NULL);
	ok = coh_page_st(n, page) == COH_EXCLUSIVE;
	if (ok) {
		x = coh_xpage_get(n, page);
		if (x)
			x->pins++;
		else
			st = CVMM_ERR_NOMEM;
	}
	coh_node_unlock(n);
	if (st == CVMM_OK)
		*pinned = ok;
	return st;
}

/* Runs the forwards held back by the pins, in arrival order, through the
 * table. Pinned, the page stayed EXCLUSIVE, so the first is legal. With
 * cfg.forward_due, forwards go back to the runtime instead, which gives
 * them back through coh_recv when they may run. */
static cvmm_status_t run_deferred(coh_node_t *n, coh_xpage_t *x)
{
	coh_defer_t *d = x->defer, *next;
	cvmm_status_t st = CVMM_OK;

	x->defer = x->defer_tail = NULL;
	x->ndefer = 0;
	for (; d; d = next) {
		next = d->next;
		if (st == CVMM_OK && n->cfg.forward_due &&
		    (d->m.type == COH_MSG_FWD_READ ||
		     d->m.type == COH_MSG_FWD_WRITE))
			st = n->cfg.forward_due(n->cfg.ctx, &d->m);
		else if (st == CVMM_OK)
			st = node_run(n, d->m.page,
				      (coh_event_t)msg_node_event(&d->m),
				      &d->m);
		free(d);
	}
	return st;
}

cvmm_status_t coh_unpin(coh_node_t *n, uint64_t page)
{
	coh_outbox_t ob;
	cvmm_status_t st = CVMM_ERR_INVALID;
	coh_xpage_t *x;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	coh_node_lock(n, &ob);
	x = coh_xpage_find(n, page);
	if (x && x->pins > 0) {
		/* a hold still pending: coh_hold_tick runs them */
		st = --x->pins || x->hold_until ? CVMM_OK : run_deferred(n, x);
		coh_xpage_put(n, x);
	}
	coh_node_unlock(n);
	return ob_flush(n, &ob, st);
}

/* Ends the holds due at now: runs their forwards unless pinned (then the
 * last coh_unpin does). The earliest deadline left goes to *next. */
static cvmm_status_t hold_expire(coh_node_t *n, uint64_t now, uint64_t *next)
{
	cvmm_status_t st = CVMM_OK;

	*next = UINT64_MAX;
	for (unsigned b = 0; b < COH_XHASH && n->nholds; b++) {
		coh_xpage_t *x = n->xhash[b], *nx;

		for (; x; x = nx) {
			nx = x->next;
			if (!x->hold_until)
				continue;
			/* one grant per forward: room for all, or next time */
			if (x->hold_until > now ||
			    n->ob->len + x->ndefer > COH_OUTBOX_MAX ||
			    n->ob->ntodata + x->ndefer > COH_TODATA_MAX) {
				if (x->hold_until < *next)
					*next = x->hold_until;
				continue;
			}
			x->hold_until = 0;
			n->nholds--;
			if (!x->pins && st == CVMM_OK)
				st = run_deferred(n, x);
			coh_xpage_put(n, x);
		}
	}
	return st;
}

/* Ends the holds due now (all: every hold, as if its deadline had
 * passed), again while a full outbox left some due; *next gets the
 * earliest deadline left. */
static cvmm_status_t hold_run(coh_node_t *n, bool all, uint64_t *next)
{
	coh_outbox_t ob;
	cvmm_status_t st = CVMM_OK;
	uint64_t nx, now;

	do { /* again when the outbox filled up */
		nx = UINT64_MAX;
		coh_node_lock(n, &ob);
		now = !n->nholds ? 0
		      : all      ? UINT64_MAX - 1
				 : n->cfg.now_ns(n->cfg.ctx);
		if (n->nholds)
			st = hold_expire(n, now, &nx);
		coh_node_unlock(n);
		st = ob_flush(n, &ob, st);
	} while (st == CVMM_OK && nx <= now);
	*next = nx;
	return st;
}

cvmm_status_t coh_hold_tick(coh_node_t *n, uint64_t *next)
{
	return hold_run(n, false, next);
}

cvmm_status_t coh_hold_release(coh_node_t *n)
{
	uint64_t next;

	if (!__atomic_load_n(&n->nholds, __ATOMIC_RELAXED))
		return CVMM_OK; /* the common case: nothing held */
	return hold_run(n, true, &next);
}

const char *coh_state_str(coh_state_t st)
{
	static const char *const names[COH_NSTATES] = {
		"invalid", "shared", "exclusive", "read_wait", "write_wait",
		"upgrade_wait", "read_fetch", "write_fetch", "ahead_wait",
		"promoted" };

	return (unsigned)st < COH_NSTATES ? names[st] : "?";
}

static bool st_transient(coh_state_t st)
{
	return st != COH_INVALID && st != COH_SHARED && st != COH_EXCLUSIVE &&
	       st != COH_PROMOTED;
}

/* A request in progress or queued among the records of one role. */
static bool roles_busy(const coh_sparse_t *m, char *why, size_t len)
{
	for (uint64_t d = 0; d < m->ndir; d++)
		for (uint64_t i = 0; m->dir[d] && i < (1ull << m->shift); i++) {
			const coh_mpage_t *mp =
				(const coh_mpage_t *)(m->dir[d] +
						      i * m->esz);

			if (mp->q || (mp->st != COH_M_IDLE &&
				      mp->st != COH_M_DATA)) {
				snprintf(why, len, "a page it manages: %s%s",
					 mstate_str(mp->st),
					 mp->q ? ", requests queued" : "");
				return true;
			}
		}
	return false;
}

bool coh_node_busy(coh_node_t *n, char *why, size_t len)
{
	const coh_sparse_t *s = &n->st;
	bool busy = false;

	coh_node_lock(n, NULL);
	for (unsigned h = 0; h < COH_XHASH && !busy; h++)
		for (coh_xpage_t *x = n->xhash[h]; x && !busy; x = x->next)
			if (x->fetching || x->ndefer || x->hold_until) {
				snprintf(why, len, "page 0x%llx: %s",
					 (unsigned long long)x->page
						 << CVMM_PAGE_SHIFT,
					 x->fetching ? "fetching"
					 : x->ndefer ? "forward held by a pin"
						     : "holding window");
				busy = true;
			}
	for (uint64_t d = 0; d < s->ndir && !busy; d++)
		for (uint64_t i = 0; s->dir[d] && i < (1ull << s->shift); i++) {
			uint8_t v = (uint8_t)s->dir[d][i];
			uint64_t page = (d << s->shift) | i;

			if (v && st_transient((coh_state_t)(v - 1))) {
				snprintf(why, len, "page 0x%llx: %s",
					 (unsigned long long)page
						 << CVMM_PAGE_SHIFT,
					 coh_state_str((coh_state_t)(v - 1)));
				busy = true;
				break;
			}
		}
	for (unsigned v = 0; v < n->cfg.nnodes && !busy; v++)
		busy = roles_busy(&n->mp[v], why, len);
	coh_node_unlock(n);
	return busy;
}

/* One line on page's state here, for a stuck wait (coh_rt_describe: this
 * node's 10 s warning, or another node's DESCRIBE, on the progress
 * thread). Waits up to 100 ms for the lock; a node whose lock stays held
 * says so rather than hang. */
void coh_describe(coh_node_t *n, uint64_t page, char *buf, size_t len)
{
	struct timespec until;
	coh_xpage_t *x;
	size_t o;
	int q = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 100 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (pthread_mutex_timedlock(&n->lock, &until) != 0) {
		snprintf(buf, len, "node %u: lock held (by a stuck thread?)",
			 n->cfg.self);
		return;
	}
	n->holder = pthread_self();
	n->held = true;
	n->ob = NULL;
	o = (size_t)snprintf(buf, len, "node %u: %s", n->cfg.self,
			     coh_state_str(coh_page_st(n, page)));
	x = coh_xpage_find(n, page);
	if (x && o < len)
		o += (size_t)snprintf(buf + o, len - o,
				      " fetching %d claimed %d owner %u have %d"
				      " pins %u deferred %u hold %llu",
				      x->fetching, x->claimed, x->owner, x->have,
				      x->pins, x->ndefer,
				      (unsigned long long)x->hold_until);
	if (mgr_of(n, page) == n->cfg.self && o < len &&
	    coh_sparse_at(mp_table(n, page), coh_mgr_index(page, n->cfg.nnodes),
			  false)) {
		coh_mpage_t *mp = coh_mpage(n, page);

		for (coh_qent_t *e = mp->q; e; e = e->next)
			q++;
		snprintf(buf + o, len - o,
			 "; manager: %s owner %u req %u pending %u copyset "
			 "0x%llx queued %d used %u plains %u sticky %u seeded %u"
			 " first %u",
			 mstate_str(mp->st), mp->owner, mp->req, mp->pending,
			 (unsigned long long)mp->copyset, q, mp->used,
			 mp->plains, mp->sticky, mp->seeded, mp->first);
	} else if (mgr_of(n, page) == n->cfg.self && o < len) {
		snprintf(buf + o, len - o, "; manager: never asked");
	}
	coh_node_unlock(n);
}
