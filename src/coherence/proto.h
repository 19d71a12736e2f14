/* The Ivy coherence protocol as data: page states, events and the two
 * transition tables (node side and manager side), driven by coh_fault() and
 * coh_recv(). No transport, no userfaultfd: actions act through coh_ops_t,
 * so the protocol runs over a loopback in unit tests (test/unit/test_proto.c)
 * and is model-checked by test/model/ivy.pml. The message script is in
 * proto.c above the tables. */
#ifndef CVMM_COHERENCE_PROTO_H
#define CVMM_COHERENCE_PROTO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coherence/proto_wire.h"
#include "common/status.h"

#define COH_MAX_NODES 64 /* copyset is one u64 */
#define COH_HOLD_MIN_US 50      /* a page's first window after a bounce */
#define COH_HOLD_MAX_US 100000  /* the largest cfg.hold_max_us accepted */
#define COH_HOLD_BOUNCE_US 200  /* asked for again within max(this,
				   hold_max_us) of losing it: a bounce */

/* Page state on every node. */
typedef enum coh_state {
	COH_INVALID,      /* no valid copy mapped */
	COH_SHARED,       /* read-only copy, current */
	COH_EXCLUSIVE,    /* the only copy, writable; this node is owner */
	COH_READ_WAIT,    /* READ_REQ sent, no copy */
	COH_WRITE_WAIT,   /* WRITE_REQ sent, no valid copy */
	COH_UPGRADE_WAIT, /* WRITE_REQ sent (a fault's, or an upgrade-ahead's:
			     COH_FLAG_UPGRADE), read-only copy still
			     current */
	COH_READ_FETCH,   /* READ_GRANT in: a thread copies the page from the
			     owner, then coh_fetch_done (-> SHARED) */
	COH_WRITE_FETCH,  /* WRITE_GRANT in from another owner: copy, then
			     coh_fetch_done (-> EXCLUSIVE) */
	COH_AHEAD_WAIT,   /* WRITE_REQ with COH_FLAG_AHEAD sent, no valid
			     copy: a WRITE_GRANT or a NACK comes */
	COH_PROMOTED,     /* was EXCLUSIVE here when the manager promoted
			     it: a data page of the release model homed
			     here, whose faults that model serves
			     (COH_DATA), until coh_node_seed takes it back
			     (EXCLUSIVE again) */
	COH_NSTATES
} coh_state_t;

/* Events at a node (faults and messages for the node role). */
typedef enum coh_event {
	COH_EV_READ_FAULT,
	COH_EV_WRITE_FAULT,
	COH_EV_FWD_READ,
	COH_EV_FWD_WRITE,
	COH_EV_INVALIDATE,
	COH_EV_READ_GRANT,
	COH_EV_WRITE_GRANT,
	COH_EV_GET_DONE,  /* local: the page bytes are in (coh_fetch_done) */
	COH_EV_NACK,      /* the manager refused a write-ahead or an
			     upgrade-ahead */
	COH_EV_WRITE_AHEAD, /* local: ask for the page for writing, nobody
			       here waiting (coh_fault_ahead; on a SHARED
			       page an upgrade-ahead, coh_fault_upgrade) */
	COH_EV_PROMOTE,   /* the manager hands the page to the release
			     model, homed here ("Promotion", proto.c) */
	COH_EV_TO_DATA,   /* NACK with COH_FLAG_DATA: the page left this
			     protocol while we asked */
	COH_NEVENTS
} coh_event_t;

/* Page state at its manager. */
typedef enum coh_mstate {
	COH_M_IDLE,       /* no request in progress */
	COH_M_BUSY_READ,  /* FWD_READ sent, waiting for CONFIRM_READ */
	COH_M_BUSY_INV,   /* INVALIDATEs sent, waiting for INV_ACKs */
	COH_M_BUSY_WRITE, /* FWD_WRITE/WRITE_GRANT sent, waiting for CONFIRM */
	COH_M_PROMOTE,    /* PROMOTE sent to the owner, waiting for PROMOTED */
	COH_M_DATA,       /* a data page of the release model, homed at the
			     last owner: every request is refused (NACK
			     with COH_FLAG_DATA) */
	COH_M_NSTATES
} coh_mstate_t;

/* Events at a manager. INV_DONE is internal: raised when the last INV_ACK
 * is in (or none was needed). */
typedef enum coh_mevent {
	COH_MEV_READ_REQ,
	COH_MEV_WRITE_REQ,
	COH_MEV_INV_ACK,
	COH_MEV_INV_DONE,
	COH_MEV_CONFIRM_READ,
	COH_MEV_CONFIRM_WRITE,
	COH_MEV_PROMOTE,  /* internal: idle, the owner alone has the page,
			     and it moved often enough by plain stores */
	COH_MEV_PROMOTED,
	COH_MNEVENTS
} coh_mevent_t;

/* What the protocol asks of its environment. ctx is coh_cfg_t.ctx.
 * send is called with NO protocol lock held (messages produced by one step
 * are collected and sent after the lock is released, in the order produced):
 * the transport may run handlers, which call coh_recv, inside send. The other
 * calls are made with the node's lock held, must not block on the network
 * and must not call back into coh_*. */
typedef struct coh_ops {
	/* Sends m to node dst (possibly this node). A grant with
	 * COH_FLAG_PAGE carries this node's copy of the page: send appends
	 * it (the bytes cannot change before the requester confirms: the
	 * manager holds the page until then). */
	cvmm_status_t (*send)(void *ctx, uint32_t dst, const coh_msg_t *m);
	/* As send for the k messages m[0..k), in order, to one node, as one
	 * transport message when it can (coh_recv_many on the other side).
	 * May be NULL (send is called k times). */
	cvmm_status_t (*send_many)(void *ctx, uint32_t dst, const coh_msg_t *m,
				   unsigned k);
	/* A grant from node from brought the page (COH_FLAG_PAGE): copy the
	 * CVMM_PAGE_SIZE at data into our copy of it (not mapped here now).
	 * Needed only when a peer pushes. */
	cvmm_status_t (*put_page)(void *ctx, uint64_t page, uint32_t from,
				  const void *data);
	/* Unmaps page from the guest view (bytes stay in the agent view). */
	cvmm_status_t (*invalidate_local)(void *ctx, uint64_t page);
	/* Maps page read-only (COH_SHARED) or writable (COH_EXCLUSIVE). Also
	 * used to downgrade EXCLUSIVE -> SHARED at the owner. */
	cvmm_status_t (*install)(void *ctx, uint64_t page, coh_state_t st);
	/* The owner keeps page read-only (EXCLUSIVE -> SHARED before a read
	 * grant): as install(SHARED), for a page that is usually mapped here
	 * already. May be NULL (install is used). */
	cvmm_status_t (*downgrade)(void *ctx, uint64_t page);
	/* The owner's copy of page is known to be all zeros (never written
	 * here, or dropped): its grant says so and the requester zeroes its
	 * own copy instead of fetching. May be NULL (always false). */
	bool (*is_zero)(void *ctx, uint64_t page);
	/* coh_fault is returning COH_READY: (re)map the page for the access
	 * that faulted as st. May be NULL. */
	cvmm_status_t (*map)(void *ctx, uint64_t page, coh_state_t st);
	/* The page's state changed: threads waiting in the runtime for it
	 * should call coh_fault again. */
	void (*notify)(void *ctx, uint64_t page);
	/* A request of page was refused (a write-ahead's NACK, or any
	 * request's NACK naming a data page's home): nothing will arrive
	 * for it (the runtime forgets a read- or write-ahead registered for
	 * it). May be NULL. */
	void (*refused)(void *ctx, uint64_t page);
	/* The page left this protocol for the release model's data pages
	 * (rc.h), homed at home: on home when PROMOTE came, on the manager
	 * when PROMOTED came, on a node whose request was refused. Called
	 * with no lock held, before the step's messages leave. Needed only
	 * with cfg.promote_after. */
	void (*to_data)(void *ctx, uint64_t page, uint32_t home);
} coh_ops_t;

typedef struct coh_cfg {
	uint32_t self;   /* this node */
	uint32_t nnodes; /* 1 .. COH_MAX_NODES */
	uint64_t npages; /* guest pages */
	bool push;       /* grants carry the page (COH_FLAG_PAGE) instead of
			    the requester getting it */
	/* The holding window (Mirage's delta, proto.c "Holds"): 0 = off.
	 * Else a page that keeps coming back here is kept for up to this
	 * long after it arrives before a forward takes it away. */
	uint32_t hold_max_us;
	const coh_ops_t *ops;
	void *ctx;
	/* The clock of the holds, in ns (any epoch, never going back); needed
	 * when hold_max_us > 0. Called with the node's lock held. */
	uint64_t (*now_ns)(void *ctx);
	/* A hold was armed that ends at deadline (now_ns's clock): someone
	 * must call coh_hold_tick by then. Called with the lock held; must
	 * not block. May be NULL (the caller polls coh_hold_tick). */
	void (*hold_armed)(void *ctx, uint64_t deadline);
	/* True when no guest thread of this node runs (all wait in calls, or
	 * none is here: one moved away): a forward is not held then, since a
	 * held page would only delay the node that wants it. Called with the
	 * lock held; must not block. May be NULL (never idle). */
	bool (*idle)(void *ctx);
	/* A forward held back here (by a hold or a pin) is due. NULL: it
	 * runs at once. Else it is handed over instead (FWD_READ and
	 * FWD_WRITE only), and the runtime gives it back with coh_recv when
	 * it may run: the release model releases first, since handing a
	 * page on is a release (coh.c, fwd_handle). Given back, it runs (or
	 * waits again for a pin; a hold that ended does not start again).
	 * Called with the lock held: must not block or call into this
	 * protocol. */
	cvmm_status_t (*forward_due)(void *ctx, const coh_msg_t *m);
	/* Promotion (the release memory model, proto.c "Promotion"): 0 =
	 * off. Else a page whose write requests reached its manager this
	 * many times, every one from a plain store (coh_fault_plain), and
	 * none from anything else, goes to the release model once its owner
	 * alone holds it; promotable (may be NULL: every page) can say no
	 * for a page. Called with the lock held: must not block or take
	 * another protocol's lock. */
	uint32_t promote_after;
	bool (*promotable)(void *ctx, uint64_t page);
	/* Roles (docs/design.md, "Elastic nodes", step 2): the manager role
	 * of a page is v = coh_manager(page, nnodes), for good; host[v] is
	 * the node that plays it (and, under first touch, the page's
	 * initial owner). NULL: node v plays role v. Copied at create. */
	const uint8_t *host;
} coh_cfg_t;

typedef struct coh_node coh_node_t;

/* One node's protocol state. Initially node 0 owns every page (EXCLUSIVE
 * there, INVALID elsewhere) and each manager records owner 0 and an empty
 * copyset, until coh_node_add_image. State is kept sparsely: memory grows
 * with the pages touched, not with npages (2^28 for 1 TiB).
 * Returns CVMM_OK and *out, CVMM_ERR_INVALID (bad cfg) or CVMM_ERR_NOMEM. */
cvmm_status_t coh_node_create(const coh_cfg_t *cfg, coh_node_t **out);
void coh_node_destroy(coh_node_t *n);

/* The most image ranges kept; more extend the last one (a superset of
 * node 0's pages only makes node 0 own more at first). */
#define COH_IMAGE_MAX 64

/* First touch where it happens: after the first call, a page nobody has
 * asked for yet belongs to its manager (EXCLUSIVE there, INVALID
 * elsewhere; the manager records itself as owner), so that its first
 * writer takes it from the manager, or has it already, instead of from
 * node 0; except the pages [first, end) of every call, which node 0 wrote
 * before the guest ran (its loader) and which stay node 0's. Every node
 * makes the same calls in the same order (the layout log), before any
 * page's state changed: otherwise CVMM_ERR_INVALID and nothing changes
 * (the nodes would disagree on who owns what). */
cvmm_status_t coh_node_add_image(coh_node_t *n, uint64_t first, uint64_t end);

/* The image ranges as kept (ascending, merged), as byte ranges; at most
 * cap, the count returned. A node that joins later makes the same
 * coh_node_add_image calls from them. */
unsigned coh_node_images(coh_node_t *n, uint64_t (*r)[2], unsigned cap);

/* The page's owner before anyone asked for it (node 0, or with first
 * touch its manager unless node 0's loader wrote it): the home of the page
 * under the release memory model (rc.h). The same on every node once
 * they made the same coh_node_add_image calls. */
uint32_t coh_page_home(const coh_node_t *n, uint64_t page);

/* The release memory model hands page to this protocol held by owner
 * (rc.h: its home, which first touch may have put off its initial owner):
 * before anything of the sequential protocol happened to the page here,
 * the node's state becomes EXCLUSIVE at owner and INVALID elsewhere, and
 * the page's manager records owner. Called on owner and on the manager
 * before either lets anyone else use the page (others start INVALID as
 * before). CVMM_ERR_INVALID when the page's records here are no longer
 * initial. */
cvmm_status_t coh_node_seed(coh_node_t *n, uint64_t page, uint32_t owner);
/* The release memory model gives a promoted page back (rc.h, "Back to
 * sequential first"), held by owner (its home): as coh_node_seed of a
 * promoted page, but not for good: the manager counts plain moves
 * afresh and promotes it again at writer (the node that wrote it alone,
 * its first writer from now on). CVMM_ERR_INVALID when the page is not
 * promoted here (at owner: PROMOTED; at the manager: promoted at owner). */
cvmm_status_t coh_node_demote(coh_node_t *n, uint64_t page, uint32_t owner,
			      uint32_t writer);

/* Whether node 0's loader wrote the page (a coh_node_add_image range):
 * the program's own image, its globals among them. */
bool coh_page_image(const coh_node_t *n, uint64_t page);


/* What a faulting thread must do next. */
typedef enum coh_fault_kind {
	COH_READY, /* accessible for this access: (re)map it as res.state */
	COH_WAIT,  /* a request is in flight: wait for ops->notify, call again */
	COH_FETCH, /* this caller claimed the copy: get the page from
		      res.owner's agent view into ours, then coh_fetch_done */
	COH_DATA,  /* promoted here (COH_PROMOTED): nothing mapped, the
		      release model serves the page (once ops->to_data has
		      told it, which notifies) */
} coh_fault_kind_t;

typedef struct coh_fault_res {
	coh_fault_kind_t kind;
	coh_state_t state; /* READY: COH_SHARED or COH_EXCLUSIVE (how to map) */
	uint32_t owner;    /* FETCH: whom to copy from */
	bool zero;         /* FETCH: the owner's copy is all zeros: zero ours
			      instead of copying */
	bool first;        /* READY: the page is still in its initial state
			      here (never moved: a first touch when it is
			      EXCLUSIVE) */
} coh_fault_res_t;

/* A local access to page faulted (write: a write access), or the agent
 * needs the page readable/writable. Sends a request or coalesces with the
 * one in flight; exactly one caller gets COH_FETCH per grant. Takes the
 * node's lock. Errors: CVMM_ERR_RANGE (page), a send failure. */
cvmm_status_t coh_fault(coh_node_t *n, uint64_t page, bool write,
			coh_fault_res_t *res);

/* The claimed copy is in place: installs the page (SHARED or EXCLUSIVE),
 * confirms to the manager, notifies. CVMM_ERR_INVALID if page is not in a
 * FETCH state. */
cvmm_status_t coh_fetch_done(coh_node_t *n, uint64_t page);

/* Pins page while the agent writes it through the agent view: *pinned is
 * true iff the page is EXCLUSIVE here, and then FWD_READ/FWD_WRITE for it
 * are deferred (queued, not refused) until the last coh_unpin, which runs
 * them. Pins nest (a count). */
cvmm_status_t coh_pin(coh_node_t *n, uint64_t page, bool *pinned);
cvmm_status_t coh_unpin(coh_node_t *n, uint64_t page);

/* Runs the forwards whose hold has ended (now_ns() >= its deadline) and
 * whose page is not pinned, in arrival order per page. *next: the earliest
 * deadline of a hold still pending, UINT64_MAX when none. Takes the node's
 * lock; a no-op with holds off. Errors: a send failure, or CVMM_ERR_PEER /
 * CVMM_ERR_NOMEM from running a forward. */
cvmm_status_t coh_hold_tick(coh_node_t *n, uint64_t *next);

/* Ends every hold of this node now (their forwards run, unless pinned), as
 * if their deadlines had passed: for when no guest thread of this node
 * runs, so a held page would only delay the node that wants it. The same
 * errors as coh_hold_tick; a no-op with holds off or none armed. */
cvmm_status_t coh_hold_release(coh_node_t *n);

/* As coh_fault for a write by a plain store (decoded at the faulting
 * instruction: no atomic), which promotion counts (cfg.promote_after). */
cvmm_status_t coh_fault_plain(coh_node_t *n, uint64_t page,
			      coh_fault_res_t *res);

/* As coh_fault, and in the same step asks for the pages ahead[0..k) (k <=
 * 32; *asked: bit i set when ahead[i] was asked for) that are INVALID
 * here, for reading (a read-ahead) or, after a write fault, for writing
 * (a write-ahead: WRITE_REQ with COH_FLAG_AHEAD, which the manager grants
 * only for a page nobody has asked for yet that is all zeros at its
 * manager, and else refuses: NACK, ops->refused). Their grants install
 * them with no thread waiting. Only with cfg.push (a fetched page needs a
 * thread to get it, and its manager would wait for one): otherwise the
 * pages ahead are ignored. The requests leave in one outbox flush, so
 * those to one manager travel together (send_many). */
cvmm_status_t coh_fault_ahead(coh_node_t *n, uint64_t page, bool write,
			      const uint64_t *ahead, unsigned k,
			      uint32_t *asked, coh_fault_res_t *res);

/* coh_fault_ahead for a write by a plain store (coh_fault_plain). The
 * write-aheads it asks are no stores: promotion counts them neither way
 * (they only make a fresh page's first toucher its first writer). */
cvmm_status_t coh_fault_plain_ahead(coh_node_t *n, uint64_t page,
				    const uint64_t *ahead, unsigned k,
				    uint32_t *asked, coh_fault_res_t *res);

/* As coh_fault for a write (plain: by a plain store, as coh_fault_plain),
 * and in the same step asks for the pages ahead[0..k) that are SHARED
 * here for writing (an upgrade-ahead: WRITE_REQ with COH_FLAG_UPGRADE,
 * UPGRADE_WAIT). Its manager grants it only to the page's owner with
 * nothing in progress (the owner's copy is current: no bytes come), and
 * else refuses it (NACK: back to SHARED, or to INVALID when another
 * writer took the copy meanwhile). Promotion counts it as no store.
 * Nothing is registered for these pages (no bytes land), and either
 * page transfer (push or get) serves them. */
cvmm_status_t coh_fault_upgrade(coh_node_t *n, uint64_t page, bool plain,
				const uint64_t *ahead, unsigned k,
				coh_fault_res_t *res);

/* Handles a decoded message m (coh_wire_decode checked its fields) from
 * m->src; page: the CVMM_PAGE_SIZE that came with a COH_FLAG_PAGE grant,
 * else NULL. CVMM_ERR_PEER when the message is illegal in the page's
 * current state (logged with the peer's id). Takes the node's lock. */
cvmm_status_t coh_recv(coh_node_t *n, const coh_msg_t *m, const void *page);

/* As coh_recv for the k messages m[0..k) (pages[i]: message i's pushed
 * bytes or NULL) in order, under one hold of the lock as long as the
 * outbox has room: the answers to one node leave together (send_many).
 * Stops at the first error. */
cvmm_status_t coh_recv_many(coh_node_t *n, const coh_msg_t *m,
			    const void *const *pages, unsigned k);

/* For the release model (coh.c): runs the longest prefix of forwards
 * m[0..k) whose pages this node holds read-only (SHARED, or UPGRADE_WAIT
 * at the owner), each checked under the same hold of the lock that runs
 * it; *ran: how many ran. Such a page was not written here since the
 * forward that made it read-only, which ran after a release, so handing
 * it on needs no release. CVMM_ERR_PEER as coh_recv_many. */
cvmm_status_t coh_recv_fwd_ro(coh_node_t *n, const coh_msg_t *m,
			      const void *const *pages, unsigned k,
			      unsigned *ran);

/* Snapshots (take the lock): the page's state here; and at its manager
 * (this node must be manager(page)) the manager state and owner. */
coh_state_t coh_page_state(coh_node_t *n, uint64_t page);
cvmm_status_t coh_mpage_info(coh_node_t *n, uint64_t page, coh_mstate_t *st,
			     uint32_t *owner, uint64_t *copyset);

/* Managers own runs of COH_MGR_RUN consecutive pages, dealt round-robin:
 * a read-ahead of the pages after a fault (coh_fault_ahead) asks one
 * manager for most of them, in one message. */
#define COH_MGR_RUN 16

/* manager(page) = (page / COH_MGR_RUN) mod nnodes. */
static inline uint32_t coh_manager(uint64_t page, uint32_t nnodes)
{
	return (uint32_t)((page / COH_MGR_RUN) % nnodes);
}

/* The page's index among the pages its manager manages (dense). */
static inline uint64_t coh_mgr_index(uint64_t page, uint32_t nnodes)
{
	return page / ((uint64_t)COH_MGR_RUN * nnodes) * COH_MGR_RUN +
	       page % COH_MGR_RUN;
}

/* The tables, exported for the table tests. A cell has a label; it is
 * legal iff action != NULL. label == NULL means the cell was forgotten. */
typedef cvmm_status_t (*coh_action_fn)(coh_node_t *n, uint64_t page,
				       const coh_msg_t *m);
typedef struct coh_trans {
	uint8_t next;
	coh_action_fn action;
	const char *label;
} coh_trans_t;

extern const coh_trans_t coh_node_table[COH_NSTATES][COH_NEVENTS];
extern const coh_trans_t coh_mgr_table[COH_M_NSTATES][COH_MNEVENTS];

const char *coh_state_str(coh_state_t st);

/* One line on page's state at n (and at its manager, when n is it), for
 * stuck waits and debuggers; waits at most 100 ms for n's lock. */
void coh_describe(coh_node_t *n, uint64_t page, char *buf, size_t len);

/* ---- a node leaving (docs/design.md, "Elastic nodes", step 3) ------------
 * Only at a quiet point: no request in flight anywhere, no queue at any
 * manager (cvmm ctl pause). Node k leaves, its heir h takes its roles and
 * the pages it holds:
 *   at k: coh_node_role_records for every role k plays; each record goes
 *         to h (coh_node_take_record); and every page k holds
 *         (coh_page_state SHARED or EXCLUSIVE, explicit or as initial
 *         owner) goes to h with its bytes (coh_node_take_page);
 *   then on every node but k: coh_node_depart(k, h).
 * After that no message goes to k: its roles are h's, owner k is h, k's
 * copies are h's. */
typedef struct coh_record {
	uint64_t copyset;
	uint8_t st, owner, used, plains, sticky, seeded, first;
} coh_record_t;

/* Calls fn for every record of manager role v, which n plays (a role
 * with a request queued is CVMM_ERR_INVALID: not quiet). */
cvmm_status_t coh_node_role_records(coh_node_t *n, uint32_t v,
				    void (*fn)(void *ctx, uint64_t page,
					       const coh_record_t *r),
				    void *ctx);
/* At the heir: a record of role v (played here from coh_node_depart). */
cvmm_status_t coh_node_take_record(coh_node_t *n, uint32_t v, uint64_t page,
				   const coh_record_t *r);
/* At the heir: the leaving node held page in st (SHARED or EXCLUSIVE),
 * and its bytes are in this node's memory now; or PROMOTED: a data page
 * of the release model homed there, now here (rc_take_home). */
cvmm_status_t coh_node_take_page(coh_node_t *n, uint64_t page,
				 coh_state_t st);
/* Every node but k: k's roles are h's from now on; in the records here,
 * owner (and first writer) k becomes h, and k's copy h's. */
cvmm_status_t coh_node_depart(coh_node_t *n, uint32_t k, uint32_t h);

/* Whether anything of n's is in flight (cvmm ctl pause waits until no node
 * is): a request of its own not yet served (a *_WAIT or *_FETCH state), a
 * forward it holds back (a pin, a holding window), or as a manager a
 * request in progress or queued. The first such page and what it waits
 * for go into why. Walks every record: for pauses, not fault paths. */
bool coh_node_busy(coh_node_t *n, char *why, size_t len);

#endif
