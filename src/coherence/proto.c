/* Ivy multiple-reader/single-writer, sequentially consistent coherence on
 * guest pages with fixed distributed managers (Li & Hudak; the 2005 paper's
 * figure 7). Model-checked by test/model/ivy.pml, which has the same states
 * and transitions; change both together.
 *
 * Message script. R requester, M = manager(page) = page mod N, O owner,
 * C each sharer in M's copyset other than R and O. Any of them may be the
 * same node; messages to oneself go through ops->send like any other.
 * The owner always holds a current copy; M serializes requests per page.
 *
 *   read fault at R (INVALID -> READ_WAIT)
 *     R -> M   READ_REQ                 M busy? queue it (FIFO). Else:
 *     M -> O   FWD_READ(R)              M: BUSY_READ
 *     O                                 EXCLUSIVE -> SHARED (write-protect)
 *     O -> R   READ_GRANT(O)
 *     R        get page from O          one-sided, O's CPU not involved
 *     R                                 READ_WAIT -> SHARED, threads resume
 *     R -> M   CONFIRM_READ             M: copyset += R, IDLE, next request
 *
 *   write fault at R (INVALID -> WRITE_WAIT, SHARED -> UPGRADE_WAIT)
 *     R -> M   WRITE_REQ                M busy? queue it. Else:
 *     M -> C   INVALIDATE  (each C)     M: BUSY_INV
 *     C                                 SHARED -> INVALID (UPGRADE_WAIT ->
 *     C -> M   INV_ACK                    WRITE_WAIT), unmapped
 *     ...last ack (or no C at all)      M: BUSY_WRITE
 *     M -> O   FWD_WRITE(R)             (R == O: M -> R WRITE_GRANT(R))
 *     O                                 -> INVALID (UPGRADE_WAIT ->
 *     O -> R   WRITE_GRANT(O)             WRITE_WAIT); bytes stay for the get
 *     R        get page from O          unless R's copy is current
 *     R                                 -> EXCLUSIVE, threads resume
 *     R -> M   CONFIRM_WRITE            M: owner = R, copyset = {}, IDLE
 *
 * O's bytes cannot change between its grant and R's get: O is SHARED or
 * INVALID then, and any later request for the page waits at M for R's
 * CONFIRM, which R sends after its get.
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
 *                         FWD_WRITE(B) -> A; A -> B WRITE_GRANT(A); B gets
 *                         from A (B must not reuse its stale copy: that is
 *                         why INVALIDATE turns UPGRADE_WAIT into WRITE_WAIT).
 *
 * Faults on a page with a request in flight coalesce (no second message);
 * the faulting thread waits for install() and retries its access.
 * Not yet: batching INVALIDATEs of several pages per node in one message,
 * owner hints, timeouts on waits (STYLE: no wait spins forever). */
#include "coherence/proto.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct coh_qent {
	uint8_t type; /* COH_MEV_READ_REQ or COH_MEV_WRITE_REQ */
	uint8_t node;
} coh_qent_t;

/* Manager-side metadata of one page (pages with manager(page) == self). */
typedef struct coh_mpage {
	uint8_t st; /* coh_mstate_t */
	uint32_t owner;
	uint32_t req; /* requester being served */
	uint32_t pending; /* INV_ACKs outstanding */
	uint64_t copyset;
	uint8_t qhead, qlen;
	coh_qent_t q[COH_MAX_NODES]; /* one request per node per page at most */
} coh_mpage_t;

struct coh_node {
	coh_cfg_t cfg;
	pthread_mutex_t lock;
	pthread_t holder;
	bool held;
	uint8_t *st;         /* coh_state_t per page */
	coh_mpage_t *mpages; /* index page / nnodes */
};

/* ---- locking and accessors ---------------------------------------------- */

static void node_lock(coh_node_t *n)
{
	pthread_mutex_lock(&n->lock);
	n->holder = pthread_self();
	n->held = true;
}

static void node_unlock(coh_node_t *n)
{
	n->held = false;
	pthread_mutex_unlock(&n->lock);
}

static void assert_locked(const coh_node_t *n)
{
	assert(n->held && pthread_equal(n->holder, pthread_self()));
	(void)n;
}

static coh_state_t page_st(coh_node_t *n, uint64_t page)
{
	assert_locked(n);
	return (coh_state_t)n->st[page];
}

static void page_set_st(coh_node_t *n, uint64_t page, coh_state_t st)
{
	assert_locked(n);
	n->st[page] = (uint8_t)st;
}

static coh_mpage_t *mpage(coh_node_t *n, uint64_t page)
{
	assert_locked(n);
	assert(coh_manager(page, n->cfg.nnodes) == n->cfg.self);
	return &n->mpages[page / n->cfg.nnodes];
}

static cvmm_status_t send_msg(coh_node_t *n, uint32_t dst, unsigned type,
			      uint64_t page, uint32_t arg)
{
	coh_msg_t m = { .version = COH_WIRE_VERSION, .type = (uint16_t)type,
			.src = n->cfg.self, .arg = arg, .page = page };

	log_trace("node %u page 0x%llx send %s to node %u", n->cfg.self,
		  (unsigned long long)page, coh_msg_type_str(type), dst);
	return n->cfg.ops->send(n->cfg.ctx, dst, &m);
}

static uint32_t mgr_of(coh_node_t *n, uint64_t page)
{
	return coh_manager(page, n->cfg.nnodes);
}

/* ---- node actions: one signature, m is NULL for faults ------------------- */

static cvmm_status_t act_wait(coh_node_t *n, uint64_t page, const coh_msg_t *m)
{
	return CVMM_OK; /* coalesced with the request in flight, or spurious */
}

static cvmm_status_t act_read_req(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	return send_msg(n, mgr_of(n, page), COH_MSG_READ_REQ, page, 0);
}

static cvmm_status_t act_write_req(coh_node_t *n, uint64_t page,
				   const coh_msg_t *m)
{
	return send_msg(n, mgr_of(n, page), COH_MSG_WRITE_REQ, page, 0);
}

static cvmm_status_t act_grant_read(coh_node_t *n, uint64_t page,
				    const coh_msg_t *m)
{
	return send_msg(n, m->arg, COH_MSG_READ_GRANT, page, n->cfg.self);
}

static cvmm_status_t act_downgrade_grant_read(coh_node_t *n, uint64_t page,
					      const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->install(n->cfg.ctx, page, COH_SHARED);

	return st ? st : act_grant_read(n, page, m);
}

static cvmm_status_t act_grant_write(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->invalidate_local(n->cfg.ctx, page);

	return st ? st
		  : send_msg(n, m->arg, COH_MSG_WRITE_GRANT, page, n->cfg.self);
}

static cvmm_status_t act_invalidate(coh_node_t *n, uint64_t page,
				    const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->invalidate_local(n->cfg.ctx, page);

	return st ? st : send_msg(n, mgr_of(n, page), COH_MSG_INV_ACK, page, 0);
}

static cvmm_status_t act_read_grant(coh_node_t *n, uint64_t page,
				    const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->get_page(n->cfg.ctx, m->arg, page);

	if (st == CVMM_OK)
		st = n->cfg.ops->install(n->cfg.ctx, page, COH_SHARED);
	return st ? st
		  : send_msg(n, mgr_of(n, page), COH_MSG_CONFIRM_READ, page, 0);
}

static cvmm_status_t act_write_grant_upgrade(coh_node_t *n, uint64_t page,
					     const coh_msg_t *m)
{
	cvmm_status_t st = n->cfg.ops->install(n->cfg.ctx, page, COH_EXCLUSIVE);

	return st ? st
		  : send_msg(n, mgr_of(n, page), COH_MSG_CONFIRM_WRITE, page, 0);
}

static cvmm_status_t act_write_grant_fetch(coh_node_t *n, uint64_t page,
					   const coh_msg_t *m)
{
	cvmm_status_t st = CVMM_OK;

	if (m->arg != n->cfg.self)
		st = n->cfg.ops->get_page(n->cfg.ctx, m->arg, page);
	return st ? st : act_write_grant_upgrade(n, page, m);
}

/* ---- manager actions ------------------------------------------------------ */

static cvmm_status_t mact_enqueue(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	if (mp->qlen >= COH_MAX_NODES)
		return CVMM_ERR_PEER; /* more than one request per node */
	mp->q[(mp->qhead + mp->qlen) % COH_MAX_NODES] = (coh_qent_t){
		.type = m->type == COH_MSG_READ_REQ ? COH_MEV_READ_REQ
						    : COH_MEV_WRITE_REQ,
		.node = (uint8_t)m->src };
	mp->qlen++;
	return CVMM_OK;
}

static cvmm_status_t mact_start_read(coh_node_t *n, uint64_t page,
				     const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	mp->req = m->src;
	return send_msg(n, mp->owner, COH_MSG_FWD_READ, page, m->src);
}

static cvmm_status_t mact_start_write(coh_node_t *n, uint64_t page,
				      const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);
	cvmm_status_t st;

	mp->req = m->src;
	mp->pending = 0;
	for (uint32_t c = 0; c < n->cfg.nnodes; c++) {
		if (!(mp->copyset >> c & 1) || c == m->src || c == mp->owner)
			continue;
		st = send_msg(n, c, COH_MSG_INVALIDATE, page, 0);
		if (st)
			return st;
		mp->pending++;
	}
	return CVMM_OK; /* coh_recv raises INV_DONE when pending is 0 */
}

static cvmm_status_t mact_inv_ack(coh_node_t *n, uint64_t page,
				  const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	if (mp->pending == 0 || !(mp->copyset >> m->src & 1))
		return CVMM_ERR_PEER;
	mp->copyset &= ~(1ull << m->src);
	mp->pending--;
	return CVMM_OK;
}

static cvmm_status_t mact_inv_done(coh_node_t *n, uint64_t page,
				   const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	if (mp->owner == mp->req)
		return send_msg(n, mp->req, COH_MSG_WRITE_GRANT, page,
				mp->owner);
	return send_msg(n, mp->owner, COH_MSG_FWD_WRITE, page, mp->req);
}

static cvmm_status_t mact_confirm_read(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	if (m->src != mp->req)
		return CVMM_ERR_PEER;
	mp->copyset |= 1ull << m->src;
	return CVMM_OK;
}

static cvmm_status_t mact_confirm_write(coh_node_t *n, uint64_t page,
					const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);

	if (m->src != mp->req)
		return CVMM_ERR_PEER;
	mp->owner = m->src;
	mp->copyset = 0;
	return CVMM_OK;
}

/* ---- the tables ----------------------------------------------------------- */

#define T(nx, fn, lbl) { .next = (nx), .action = (fn), .label = (lbl) }
#define ILLEGAL(why) { .next = 0, .action = NULL, .label = "illegal: " why }

const coh_trans_t coh_node_table[COH_NSTATES][COH_NEVENTS] = {
	[COH_INVALID] = {
		[COH_EV_READ_FAULT] = T(COH_READ_WAIT, act_read_req, "read miss"),
		[COH_EV_WRITE_FAULT] = T(COH_WRITE_WAIT, act_write_req, "write miss"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
	},
	[COH_SHARED] = {
		[COH_EV_READ_FAULT] = T(COH_SHARED, act_wait, "spurious read fault"),
		[COH_EV_WRITE_FAULT] = T(COH_UPGRADE_WAIT, act_write_req, "upgrade"),
		[COH_EV_FWD_READ] = T(COH_SHARED, act_grant_read, "owner grants read"),
		[COH_EV_FWD_WRITE] = T(COH_INVALID, act_grant_write, "owner gives up page"),
		[COH_EV_INVALIDATE] = T(COH_INVALID, act_invalidate, "invalidated"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
	},
	[COH_EXCLUSIVE] = {
		[COH_EV_READ_FAULT] = T(COH_EXCLUSIVE, act_wait, "spurious read fault"),
		[COH_EV_WRITE_FAULT] = T(COH_EXCLUSIVE, act_wait, "spurious write fault"),
		[COH_EV_FWD_READ] = T(COH_SHARED, act_downgrade_grant_read, "owner downgrades"),
		[COH_EV_FWD_WRITE] = T(COH_INVALID, act_grant_write, "owner gives up page"),
		[COH_EV_INVALIDATE] = ILLEGAL("owner is never invalidated"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
	},
	[COH_READ_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_READ_WAIT, act_wait, "coalesced read"),
		[COH_EV_WRITE_FAULT] = T(COH_READ_WAIT, act_wait, "write waits for read"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = T(COH_SHARED, act_read_grant, "read granted"),
		[COH_EV_WRITE_GRANT] = ILLEGAL("no write requested"),
	},
	[COH_WRITE_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_WRITE_WAIT, act_wait, "coalesced read"),
		[COH_EV_WRITE_FAULT] = T(COH_WRITE_WAIT, act_wait, "coalesced write"),
		[COH_EV_FWD_READ] = ILLEGAL("not owner"),
		[COH_EV_FWD_WRITE] = ILLEGAL("not owner"),
		[COH_EV_INVALIDATE] = ILLEGAL("not in copyset"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = T(COH_EXCLUSIVE, act_write_grant_fetch, "write granted"),
	},
	[COH_UPGRADE_WAIT] = {
		[COH_EV_READ_FAULT] = T(COH_UPGRADE_WAIT, act_wait, "spurious read fault"),
		[COH_EV_WRITE_FAULT] = T(COH_UPGRADE_WAIT, act_wait, "coalesced write"),
		[COH_EV_FWD_READ] = T(COH_UPGRADE_WAIT, act_grant_read, "owner grants read"),
		[COH_EV_FWD_WRITE] = T(COH_WRITE_WAIT, act_grant_write, "owner loses race"),
		[COH_EV_INVALIDATE] = T(COH_WRITE_WAIT, act_invalidate, "sharer loses race"),
		[COH_EV_READ_GRANT] = ILLEGAL("no read requested"),
		[COH_EV_WRITE_GRANT] = T(COH_EXCLUSIVE, act_write_grant_upgrade, "upgrade granted"),
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
	},
	[COH_M_BUSY_READ] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_READ, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_READ, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = ILLEGAL("no write in progress"),
		[COH_MEV_INV_DONE] = ILLEGAL("no write in progress"),
		[COH_MEV_CONFIRM_READ] = T(COH_M_IDLE, mact_confirm_read, "read done"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("no write in progress"),
	},
	[COH_M_BUSY_INV] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_INV, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_INV, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = T(COH_M_BUSY_INV, mact_inv_ack, "ack"),
		[COH_MEV_INV_DONE] = T(COH_M_BUSY_WRITE, mact_inv_done, "forward write"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = ILLEGAL("acks still missing"),
	},
	[COH_M_BUSY_WRITE] = {
		[COH_MEV_READ_REQ] = T(COH_M_BUSY_WRITE, mact_enqueue, "queue"),
		[COH_MEV_WRITE_REQ] = T(COH_M_BUSY_WRITE, mact_enqueue, "queue"),
		[COH_MEV_INV_ACK] = ILLEGAL("all acks were in"),
		[COH_MEV_INV_DONE] = ILLEGAL("all acks were in"),
		[COH_MEV_CONFIRM_READ] = ILLEGAL("no read in progress"),
		[COH_MEV_CONFIRM_WRITE] = T(COH_M_IDLE, mact_confirm_write, "write done"),
	},
};

/* ---- dispatch ------------------------------------------------------------- */

static cvmm_status_t node_step(coh_node_t *n, uint64_t page, coh_event_t ev,
			       const coh_msg_t *m)
{
	coh_state_t cur = page_st(n, page);
	const coh_trans_t *t = &coh_node_table[cur][ev];
	cvmm_status_t st;

	assert(t->label != NULL); /* a forgotten cell */
	if (t->action == NULL) {
		log_error("node %u page 0x%llx: %s in state %s from node %u (%s)",
			  n->cfg.self, (unsigned long long)page,
			  m ? coh_msg_type_str(m->type) : "fault",
			  coh_state_str(cur), m ? m->src : n->cfg.self, t->label);
		return CVMM_ERR_PEER;
	}
	st = t->action(n, page, m);
	if (st == CVMM_OK)
		page_set_st(n, page, (coh_state_t)t->next);
	return st;
}

static cvmm_status_t mgr_step(coh_node_t *n, uint64_t page, coh_mevent_t ev,
			      const coh_msg_t *m)
{
	coh_mpage_t *mp = mpage(n, page);
	const coh_trans_t *t = &coh_mgr_table[mp->st][ev];
	cvmm_status_t st;

	assert(t->label != NULL);
	if (t->action == NULL) {
		log_error("manager %u page 0x%llx: event %d in state %d from node %u (%s)",
			  n->cfg.self, (unsigned long long)page, (int)ev,
			  (int)mp->st, m->src, t->label);
		return CVMM_ERR_PEER;
	}
	st = t->action(n, page, m);
	if (st == CVMM_OK)
		mp->st = t->next;
	return st;
}

/* Runs the internal events that follow a manager step: INV_DONE when no
 * ack is outstanding, and the next queued request once IDLE. */
static cvmm_status_t mgr_settle(coh_node_t *n, uint64_t page)
{
	coh_mpage_t *mp = mpage(n, page);
	cvmm_status_t st = CVMM_OK;
	coh_msg_t m = { .version = COH_WIRE_VERSION, .page = page };

	while (st == CVMM_OK) {
		if (mp->st == COH_M_BUSY_INV && mp->pending == 0) {
			m.src = n->cfg.self;
			st = mgr_step(n, page, COH_MEV_INV_DONE, &m);
		} else if (mp->st == COH_M_IDLE && mp->qlen > 0) {
			coh_qent_t e = mp->q[mp->qhead];

			mp->qhead = (uint8_t)((mp->qhead + 1) % COH_MAX_NODES);
			mp->qlen--;
			m.src = e.node;
			m.type = e.type == COH_MEV_READ_REQ ? COH_MSG_READ_REQ
							    : COH_MSG_WRITE_REQ;
			st = mgr_step(n, page, (coh_mevent_t)e.type, &m);
		} else {
			break;
		}
	}
	return st;
}

static int msg_node_event(unsigned type)
{
	switch (type) {
	case COH_MSG_FWD_READ: return COH_EV_FWD_READ;
	case COH_MSG_FWD_WRITE: return COH_EV_FWD_WRITE;
	case COH_MSG_INVALIDATE: return COH_EV_INVALIDATE;
	case COH_MSG_READ_GRANT: return COH_EV_READ_GRANT;
	case COH_MSG_WRITE_GRANT: return COH_EV_WRITE_GRANT;
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
	default: return -1;
	}
}

cvmm_status_t coh_recv(coh_node_t *n, const coh_msg_t *m)
{
	int nev = msg_node_event(m->type), mev = msg_mgr_event(m->type);
	cvmm_status_t st;

	if (m->page >= n->cfg.npages || m->src >= n->cfg.nnodes ||
	    (nev < 0 && mev < 0))
		return CVMM_ERR_PEER;
	if (mev >= 0 && mgr_of(n, m->page) != n->cfg.self) {
		log_error("node %u page 0x%llx: %s from node %u but not manager",
			  n->cfg.self, (unsigned long long)m->page,
			  coh_msg_type_str(m->type), m->src);
		return CVMM_ERR_PEER;
	}
	node_lock(n);
	if (nev >= 0) {
		st = node_step(n, m->page, (coh_event_t)nev, m);
	} else {
		st = mgr_step(n, m->page, (coh_mevent_t)mev, m);
		if (st == CVMM_OK)
			st = mgr_settle(n, m->page);
	}
	node_unlock(n);
	return st;
}

cvmm_status_t coh_fault(coh_node_t *n, uint64_t page, bool write, bool *ready)
{
	coh_state_t cur;
	cvmm_status_t st;

	if (page >= n->cfg.npages)
		return CVMM_ERR_RANGE;
	node_lock(n);
	st = node_step(n, page, write ? COH_EV_WRITE_FAULT : COH_EV_READ_FAULT,
		       NULL);
	cur = page_st(n, page);
	node_unlock(n);
	if (st == CVMM_OK)
		*ready = cur == COH_EXCLUSIVE ||
			 (!write && (cur == COH_SHARED || cur == COH_UPGRADE_WAIT));
	return st;
}

coh_state_t coh_page_state(coh_node_t *n, uint64_t page)
{
	coh_state_t st;

	node_lock(n);
	st = page_st(n, page);
	node_unlock(n);
	return st;
}

cvmm_status_t coh_mpage_info(coh_node_t *n, uint64_t page, coh_mstate_t *st,
			     uint32_t *owner, uint64_t *copyset)
{
	coh_mpage_t *mp;

	if (page >= n->cfg.npages || mgr_of(n, page) != n->cfg.self)
		return CVMM_ERR_INVALID;
	node_lock(n);
	mp = mpage(n, page);
	*st = (coh_mstate_t)mp->st;
	*owner = mp->owner;
	*copyset = mp->copyset;
	node_unlock(n);
	return CVMM_OK;
}

cvmm_status_t coh_node_create(const coh_cfg_t *cfg, coh_node_t **out)
{
	coh_node_t *n;
	uint64_t nm;

	if (!cfg || !cfg->ops || cfg->nnodes == 0 ||
	    cfg->nnodes > COH_MAX_NODES || cfg->self >= cfg->nnodes ||
	    cfg->npages == 0)
		return CVMM_ERR_INVALID;
	n = calloc(1, sizeof(*n));
	if (!n)
		return CVMM_ERR_NOMEM;
	nm = (cfg->npages + cfg->nnodes - 1) / cfg->nnodes;
	n->cfg = *cfg;
	n->st = calloc(cfg->npages, 1);
	n->mpages = calloc(nm, sizeof(*n->mpages));
	if (!n->st || !n->mpages) {
		coh_node_destroy(n);
		return CVMM_ERR_NOMEM;
	}
	pthread_mutex_init(&n->lock, NULL);
	for (uint64_t p = cfg->self; p < cfg->npages; p += cfg->nnodes) {
		n->st[p] = COH_EXCLUSIVE;
		n->mpages[p / cfg->nnodes].owner = cfg->self;
	}
	*out = n;
	return CVMM_OK;
}

void coh_node_destroy(coh_node_t *n)
{
	if (!n)
		return;
	free(n->st);
	free(n->mpages);
	free(n);
}

const char *coh_state_str(coh_state_t st)
{
	static const char *const names[COH_NSTATES] = {
		"invalid", "shared", "exclusive", "read_wait", "write_wait",
		"upgrade_wait" };

	return (unsigned)st < COH_NSTATES ? names[st] : "?";
}

/* ---- wire ---------------------------------------------------------------- */

const char *coh_msg_type_str(unsigned type)
{
	static const char *const names[COH_MSG_END] = {
		[COH_MSG_READ_REQ] = "read_req",
		[COH_MSG_WRITE_REQ] = "write_req",
		[COH_MSG_FWD_READ] = "fwd_read",
		[COH_MSG_FWD_WRITE] = "fwd_write",
		[COH_MSG_INVALIDATE] = "invalidate",
		[COH_MSG_INV_ACK] = "inv_ack",
		[COH_MSG_READ_GRANT] = "read_grant",
		[COH_MSG_WRITE_GRANT] = "write_grant",
		[COH_MSG_CONFIRM_READ] = "confirm_read",
		[COH_MSG_CONFIRM_WRITE] = "confirm_write" };

	return type > 0 && type < COH_MSG_END ? names[type] : "?";
}

static void put_le(uint8_t *b, uint64_t v, int len)
{
	for (int i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, int len)
{
	uint64_t v = 0;

	for (int i = len - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

void coh_wire_encode(const coh_msg_t *m, void *buf)
{
	uint8_t *b = buf;

	put_le(b, m->version, 2);
	put_le(b + 2, m->type, 2);
	put_le(b + 4, m->src, 4);
	put_le(b + 8, m->arg, 4);
	put_le(b + 12, m->reserved, 4);
	put_le(b + 16, m->page, 8);
}

static bool type_has_arg(unsigned type)
{
	return type == COH_MSG_FWD_READ || type == COH_MSG_FWD_WRITE ||
	       type == COH_MSG_READ_GRANT || type == COH_MSG_WRITE_GRANT;
}

cvmm_status_t coh_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			      uint64_t npages, coh_msg_t *out, char *why,
			      size_t whylen)
{
	const uint8_t *b = buf;
	coh_msg_t m;
	const char *bad = NULL;
	char tmp[96];

	if (len != COH_WIRE_LEN) {
		snprintf(tmp, sizeof(tmp), "length %zu, not %d", len,
			 COH_WIRE_LEN);
		bad = tmp;
		goto err;
	}
	m = (coh_msg_t){ .version = (uint16_t)get_le(b, 2),
			 .type = (uint16_t)get_le(b + 2, 2),
			 .src = (uint32_t)get_le(b + 4, 4),
			 .arg = (uint32_t)get_le(b + 8, 4),
			 .reserved = (uint32_t)get_le(b + 12, 4),
			 .page = get_le(b + 16, 8) };
	if (m.version != COH_WIRE_VERSION)
		bad = "unknown version";
	else if (m.type == 0 || m.type >= COH_MSG_END)
		bad = "unknown message type";
	else if (m.src >= nnodes)
		bad = "source node out of range";
	else if (type_has_arg(m.type) ? m.arg >= nnodes : m.arg != 0)
		bad = "argument node out of range";
	else if (m.reserved != 0)
		bad = "reserved field not zero";
	else if (m.page >= npages)
		bad = "page out of range";
	if (!bad) {
		*out = m;
		return CVMM_OK;
	}
err:
	if (whylen > 0)
		snprintf(why, whylen, "%s", bad);
	return CVMM_ERR_PEER;
}
