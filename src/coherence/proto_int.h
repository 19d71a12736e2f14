/* Internal to the coherence protocol (proto.c and proto_store.c), not part
 * of its interface (proto.h): the per-node data both files need, and the
 * per-page storage proto_store.c keeps for proto.c's actions and dispatch.
 * Include it from nowhere else. */
#ifndef CVMM_COHERENCE_PROTO_INT_H
#define CVMM_COHERENCE_PROTO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coherence/proto.h"

/* A directory of chunks of 2^shift entries, each chunk allocated zero-filled
 * on first write; a missing chunk reads as zeros. So zero must encode every
 * entry's initial value, and memory grows with the pages touched. */
typedef struct coh_sparse {
	char **dir;
	uint64_t ndir;
	unsigned shift;
	size_t esz;
} coh_sparse_t;

/* ---- per-node data -------------------------------------------------------- */

/* A request queued at a manager: at most one per node per page. */
typedef struct coh_qent {
	struct coh_qent *next;
	uint8_t type; /* COH_MEV_READ_REQ or COH_MEV_WRITE_REQ */
	uint8_t node;
} coh_qent_t;

/* Manager-side metadata of one page (pages with manager(page) == self).
 * All zero is the initial record: IDLE, the initial owner (init_owner:
 * coh_mpage fills it in while used is 0), empty copyset. */
typedef struct coh_mpage {
	uint64_t copyset;
	coh_qent_t *q; /* waiting requests, FIFO; short, so no tail pointer */
	uint8_t st;    /* coh_mstate_t */
	uint8_t owner;
	uint8_t req;     /* requester being served */
	uint8_t pending; /* INV_ACKs outstanding */
	uint8_t used;    /* a request for the page has reached the manager */
	uint8_t plains;  /* write requests from plain stores (saturating) */
	uint8_t sticky;  /* a write request from anything else came, or it
			    was a sync page of the release model: never
			    promoted */
	uint8_t seeded;  /* made a sync page while promoting (PROMOTED in
			    flight): it is served again when that comes */
	uint8_t first;   /* the node that wrote the page first + 1 (0: not
			    known yet), where promotion homes it */
} coh_mpage_t;

/* Pages [first, end) node 0 wrote before the guest ran. */
typedef struct coh_image {
	uint64_t first, end;
} coh_image_t;

/* A FWD_* that arrived while its page was pinned. */
typedef struct coh_defer {
	struct coh_defer *next;
	coh_msg_t m;
} coh_defer_t;

/* What only a few pages have at a time, kept in a small hash rather than
 * per page: a fetch in flight (grant in, page not yet installed), or pins
 * with the forwards they hold back. Freed when neither is left. */
typedef struct coh_xpage {
	struct coh_xpage *next;
	uint64_t page;
	bool fetching;  /* in a FETCH state */
	bool claimed;   /* a coh_fault caller got COH_FETCH for this grant */
	uint8_t owner;  /* fetching: whom to copy from */
	bool zero;      /* fetching: the grant said the page is all zeros */
	bool have;      /* fetching: the grant brought the bytes (pushed) */
	uint8_t ndefer;
	uint32_t pins;
	uint64_t hold_until; /* forwards deferred by a hold until then; 0: none */
	coh_defer_t *defer, *defer_tail;
} coh_xpage_t;

/* The holding window of one page at this node (cfg.hold_max_us > 0 only),
 * sparse by page. All zero initially: never arrived, never left, no
 * window. */
typedef struct coh_hpage {
	uint64_t arrived; /* now_ns when a write grant last made it EXCLUSIVE */
	uint64_t left;    /* now_ns when a forward last took it (or its
			     exclusivity) away */
	uint32_t delta_us; /* the window: 0, or COH_HOLD_MIN_US .. hold_max */
	bool bounced;     /* requested again soon after it left */
} coh_hpage_t;

#define COH_XHASH 256
/* One step sends at most ~N INVALIDATEs and a forward; an unpin runs at
 * most COH_MAX_NODES deferred forwards, one message each. */
#define COH_OUTBOX_MAX (2 * COH_MAX_NODES)

/* Messages produced under the lock, sent after it is released; before
 * them, the pages that left for the release model are announced
 * (ops->to_data: it takes that model's lock, which may be held while
 * it calls into this protocol). */
#define COH_TODATA_MAX COH_OUTBOX_MAX
typedef struct coh_outbox {
	unsigned len, ntodata;
	uint32_t dst[COH_OUTBOX_MAX];
	coh_msg_t m[COH_OUTBOX_MAX];
	uint64_t todata[COH_TODATA_MAX];
	uint32_t todata_home[COH_TODATA_MAX];
} coh_outbox_t;

struct coh_node {
	coh_cfg_t cfg;
	pthread_mutex_t lock;
	pthread_t holder;
	bool held;
	coh_outbox_t *ob;  /* the lock holder's outbox */
	bool plain;        /* the fault being stepped is a plain store's */
	const void *rx_page; /* the pushed bytes of the message being handled */
	coh_sparse_t st;   /* per page: coh_state_t + 1, 0 = initial */
	/* per manager role v hosted here (host[v] == self): coh_mpage_t,
	 * index coh_mgr_index(page); no directory for the others */
	coh_sparse_t mp[COH_MAX_NODES];
	uint8_t host[COH_MAX_NODES]; /* the node playing each role */
	uint64_t nm;       /* records per role (a table's size) */
	coh_sparse_t hold; /* coh_hpage_t per page, only with holds on */
	unsigned nholds;   /* xpages with hold_until != 0 */
	bool first_touch;  /* coh_node_add_image was called */
	unsigned nimage;
	coh_image_t image[COH_IMAGE_MAX]; /* ascending, disjoint */
	coh_xpage_t *xhash[COH_XHASH];
};

/* The node playing the manager role of page. */
static inline uint32_t mgr_of(const coh_node_t *n, uint64_t page)
{
	return n->host[coh_manager(page, n->cfg.nnodes)];
}

/* The records of page's manager role (hosted here: mgr_of is self). */
static inline coh_sparse_t *mp_table(coh_node_t *n, uint64_t page)
{
	return &n->mp[coh_manager(page, n->cfg.nnodes)];
}

/* The page's owner before anyone asked for it: node 0, or with first
 * touch its manager unless node 0's loader wrote it. */
uint32_t coh_init_owner(const coh_node_t *n, uint64_t page);

/* ---- proto_store.c ------------------------------------------------------ */

/* The node's lock. ob collects the messages the steps under the hold
 * produce (NULL for read-only snapshots); proto.c sends them after
 * coh_node_unlock. coh_assert_locked: the calling thread holds it. */
void coh_node_lock(coh_node_t *n, coh_outbox_t *ob);
void coh_node_unlock(coh_node_t *n);
void coh_assert_locked(const coh_node_t *n);

/* Entry i of s; alloc adds its chunk (zero-filled). NULL when the chunk
 * is missing and alloc is false, or out of memory. */
void *coh_sparse_at(coh_sparse_t *s, uint64_t i, bool alloc);

/* Per-page accessors; the caller holds the node's lock (asserted).
 * coh_page_set_st and coh_mpage need the page's chunk to exist;
 * coh_xpage_get returns NULL when out of memory, coh_xpage_put frees the
 * record once it holds nothing. */
coh_state_t coh_page_st(coh_node_t *n, uint64_t page);
bool coh_page_initial(coh_node_t *n, uint64_t page); /* never changed */
void coh_page_set_st(coh_node_t *n, uint64_t page, coh_state_t st);
coh_mpage_t *coh_mpage(coh_node_t *n, uint64_t page);
coh_xpage_t *coh_xpage_find(coh_node_t *n, uint64_t page);
coh_xpage_t *coh_xpage_get(coh_node_t *n, uint64_t page);
void coh_xpage_put(coh_node_t *n, coh_xpage_t *x);

#endif
