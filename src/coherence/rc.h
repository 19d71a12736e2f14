/* The release memory model's protocol for data pages (issue 14,
 * --memory-model=release; docs/coherence.md "The release memory model"):
 * home-based release consistency, several writers per page (diffs at
 * release, write notices to the other copies before it completes), with the
 * pages used for synchronization handed to the sequentially consistent
 * protocol (proto.h) for good. Like proto.c it is pure: no transport, no
 * userfaultfd, everything through rc_ops_t, so it runs over a loopback in
 * test/unit/test_rc.c and follows test/model/rc.pml.
 *
 * Every page has a home, which keeps the master copy: its manager
 * (cfg.manager, the same function on every node) for a page that starts
 * as a data page; with sequential first (cfg.ivy_first, below) the node
 * the sequential protocol hands the page over at, which every node
 * learns from that protocol (rc_to_data) or from the home's SYNC_FLUSH
 * before it could ask for the page. A home never changes while the page
 * is a data page (one given back to sequential first, below, is homed
 * where it is promoted again).
 *
 * The home maps the page writable without a twin while no other node
 * holds a copy (nobody to notice, nothing to diff: its releases skip the
 * page); the first FETCH from elsewhere write-protects it, and the
 * home's next write takes the twin (and is decoded, as any node's). On a
 * node:
 *
 *   INV    not mapped; the next access fetches the home's copy (FETCH ->
 *          PAGE); at the home INV only means "not mapped yet";
 *   FETCH  a FETCH is in flight (or waits until this node's diffs of the
 *          page are acknowledged: the fetched copy must include them);
 *   RO     mapped read-only, as the home had it at version base;
 *   RW     mapped writable with a twin: the bytes as they were before this
 *          node's first write since its last release.
 *
 * A release (rc_release: every system call, thread creation and exit,
 * handing a synchronization page on) write-protects every RW page and
 * sends the home the bytes that differ from the twin (diff.h). The home
 * applies them and sends a write notice (WN) to every other node that
 * holds a copy. A node that wrote the page itself since its last notice
 * (a co-writer: its diff came meanwhile) gets the diff with it: if its
 * copy has every earlier version (fetched + 1 == ver: versions made by
 * its own diffs count once their DIFF_ACK, which carries the version,
 * came) and no byte of its own unreleased writes is among the diff's, it
 * applies the diff to the copy and its twin and keeps the copy (an
 * update: the page is not fetched again); else it drops its copy and
 * says so in its ack, and the home's next notice to it is plain. Any
 * other node gets a plain notice: it drops its copy (a dirty one keeps
 * its twin: its diff goes home before it is fetched again) and leaves
 * the copyset (a copy only read, kept up to date, would keep the home's
 * page write-protected and every home write noticed, for nothing). All
 * acknowledge; then the home acknowledges the diff, and the release is
 * complete when every diff it sent is acknowledged (rc_released). So when
 * a release completes no stale copy of what it wrote is left anywhere,
 * and an acquire has nothing to drop (rc_acquire only ends the home's own
 * intervals, for race detection). The home writes its master directly but
 * twins it too, so that its writes are noticed (and checked for races) at
 * its release like anyone's.
 *
 * Race detection: a diff carries the version of the home's copy its twin
 * came from. Two diffs from different nodes that change a byte in common,
 * where the later one's copy predates the earlier one's arrival, are
 * writes that no synchronization ordered: ops->race. The home remembers
 * the last RC_LOG diffs per page; an older one escapes detection.
 *
 * Synchronization pages: an atomic write (insn.h) to a data page makes it
 * a synchronization page everywhere: the node asks the home (SYNC_REQ),
 * the home asks every other node to flush its diff of the page and unmap
 * it (SYNC_FLUSH -> diffs -> SYNC_ACK), then tells everyone (SYNC_GO).
 * From then on rc_fault answers RC_IVY: the sequential protocol serves
 * the page, starting with the home owning it and every other node without
 * a copy, which is what the flush left behind. A home that is not the
 * page's manager sends SYNC_GO to the manager only, which tells the
 * sequential protocol the page's owner (ops->sync_owner, as the home did
 * before its own SYNC_GO) and then sends SYNC_GO to everyone else: no
 * request of the sequential protocol reaches the manager before it knows.
 *
 * Sequential first (cfg.ivy_first): an atomic goes unseen when it hits a
 * page already writable on its node, so a page whose lock sits next to
 * data would otherwise lose its lock's updates to a later diff. So every
 * page starts RC_SC, served by the sequential protocol, where each node
 * faults when it takes the page from another one and the faulting write
 * is decoded; its manager counts the write requests that came from plain
 * stores and hands the page over once their count reaches a threshold
 * with no other write among them (proto.h cfg.promote_after), at an owner
 * holding the only copy: that owner becomes the page's home (rc_to_data),
 * the others learn it when the manager refuses their next request. A
 * page with a lock that several nodes take is seen with an atomic long
 * before, and stays sequentially consistent.
 *
 * Back to sequential first (cfg.demote_after): a data page whose diffs
 * come from one other node alone, time after time (no other copy, no
 * write of the home's between), costs that writer a twin fault, a diff
 * and its ack every interval, for nobody: a histogram that one node
 * fills, promoted where another node wrote it in an earlier phase. Its
 * home then gives it back to the sequential protocol: the flush of a
 * sync page, but its SYNC_GO carries RC_F_SC and the writer, and every
 * node makes the page RC_SC again with a fresh record (rc.c back_to_sc).
 * The sequential protocol serves it from the home, counting plain moves
 * afresh, and promotes it again once the writer holds it (proto.h
 * coh_node_demote): the writer is its home then, writing without a twin
 * while nobody else holds a copy. A fresh record recognizes nothing of
 * the data page's messages, so none may be in flight: a node acknowledges
 * a flush only once its diffs are acknowledged, a FETCH of its answered
 * (refused) and the agent done writing the page, and the home finishes
 * only when every notice is acknowledged too. What may still come names
 * the old home, which each record keeps: a refusal by the sequential
 * protocol made before (rc_to_data) and a SYNC_REQ sent to it are stale;
 * a membership change, at a quiet point, forgets it.
 *
 * No message order is assumed, between any two nodes: every reply that a
 * change of state made stale is recognized and dropped. */
#ifndef CVMM_COHERENCE_RC_H
#define CVMM_COHERENCE_RC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define RC_MAX_NODES 64
#define RC_LOG 4 /* diffs per page remembered for race detection */
#define RC_TWIN_AHEAD_MAX 64 /* cfg.twin_ahead */

typedef enum rc_state { RC_INV, RC_FETCH, RC_RO, RC_RW } rc_state_t;

typedef enum rc_class {
	RC_DATA,      /* release consistency, several writers */
	RC_SYNC_WAIT, /* becoming a synchronization page: wait */
	RC_SYNC,      /* a synchronization page: the sequential protocol */
	RC_SC,        /* not shown to be data yet (cfg.ivy_first): the
			 sequential protocol serves it until it promotes
			 it (rc_to_data) */
} rc_class_t;

typedef enum rc_msg_type {
	RC_MSG_FETCH = 1, /* node -> home: the page, please */
	RC_MSG_PAGE,      /* home -> node: ver; flags ZERO, or the page
			     follows, or SYNC (refused: no longer data) */
	RC_MSG_DIFF,      /* node -> home: ver = the copy's base, seq; the
			     diff follows */
	RC_MSG_DIFF_ACK,  /* home -> node: seq; ver = the version the
			     diff made */
	RC_MSG_SYNC_REQ,  /* node -> home: an atomic write was seen */
	RC_MSG_SYNC_FLUSH, /* home -> node: flush and unmap your copy */
	RC_MSG_SYNC_ACK,  /* node -> home: done, every diff acknowledged */
	RC_MSG_SYNC_GO,   /* home -> node: the page is a sync page now */
	RC_MSG_WN,        /* home -> node: a write notice: ver was made by a
			     diff, drop your copy; with RC_F_DIFF the diff
			     follows: apply it instead if you can */
	RC_MSG_WN_ACK,    /* node -> home: done (ver echoed); RC_F_DROP:
			     the copy was dropped, not updated */
	RC_MSG_END
} rc_msg_type_t;

#define RC_F_ZERO 0x1 /* PAGE: the home's copy is all zeros */
#define RC_F_PAGE 0x2 /* PAGE: the home's copy follows (sender appends) */
#define RC_F_SYNC 0x4 /* PAGE: refused, the page is (becoming) sync */
#define RC_F_DIFF 0x8 /* WN: the diff that made ver follows */
#define RC_F_DROP 0x10 /* WN_ACK: the copy was dropped (not updated) */
#define RC_F_TICK 0x20 /* DIFF: sent by the staleness tick (rc_tick): its
			  notices carry it to every copy */
#define RC_F_SC 0x40   /* SYNC_GO: back to "sequential first", to be
			  promoted again at node ver (cfg.demote_after) */
#define RC_NOHOME 0xff  /* a page's home, not known (not assigned) yet */

typedef struct rc_msg {
	uint16_t type;
	uint16_t flags;
	uint32_t src;
	uint32_t ver; /* PAGE: the home's version; DIFF: the copy's base */
	uint32_t seq; /* DIFF, DIFF_ACK: the sender's diff number */
	uint64_t page;
} rc_msg_t;

/* Wire layout (24 bytes, little-endian), then the payload: a PAGE with
 * RC_F_PAGE carries 4096 bytes, a DIFF or a WN with RC_F_DIFF its diff
 * (1 .. DIFF_MAX bytes).
 *   0 u16 type, 2 u16 flags, 4 u32 src, 8 u32 ver, 12 u32 seq, 16 u64 page */
#define RC_WIRE_LEN 24
void rc_wire_encode(const rc_msg_t *m, void *buf);
/* Decodes and checks a message of len bytes from a peer: type, flags, src
 * < nnodes, page < npages, the payload's length for the type (a diff is
 * checked by diff_check). *data and *dlen: the payload. CVMM_ERR_PEER with a
 * reason in why when malformed. */
cvmm_status_t rc_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			     uint64_t npages, rc_msg_t *m, const void **data,
			     size_t *dlen, char *why, size_t whylen);

/* Batches (ops->send_many): a transport message is frames back to back,
 * each a u32 (little-endian) length L then a message of L bytes
 * (RC_WIRE_LEN <= L <= RC_FRAME_MAX). rc_frame_next: the length of the
 * frame at buf (RC_FRAME_HDR + L; *msg, *mlen: its message), or 0 when
 * what is left is no whole frame. */
#define RC_FRAME_HDR 4
#define RC_FRAME_MAX (RC_WIRE_LEN + DIFF_MAX)
size_t rc_frame_next(const void *buf, size_t len, const void **msg,
		     size_t *mlen);
void rc_frame_put(void *buf, size_t mlen);
const char *rc_msg_type_str(unsigned type);

/* A race seen at a home: node a's earlier diff and node b's later one
 * both changed the byte at offset off of page. */
typedef struct rc_race {
	uint64_t page;
	uint32_t a, b;
	unsigned off;
} rc_race_t;

/* What the protocol asks of its environment (ctx = cfg.ctx). send is
 * called with no lock held, after the step that produced the message; the
 * others with the node's lock held: they must not block on the network
 * nor call rc_*. */
typedef struct rc_ops {
	/* Sends m to dst with payload data[0..len) (a diff), or, for a PAGE
	 * with RC_F_PAGE (data NULL), with this node's copy of the page. */
	cvmm_status_t (*send)(void *ctx, uint32_t dst, const rc_msg_t *m,
			      const void *data, size_t len);
	/* The messages m[0..k) one step made for dst, in order, with their
	 * payloads as for send: one transport message rather than k (a
	 * release's diffs to one home, a home's notices and acks). May be
	 * NULL: send each. */
	cvmm_status_t (*send_many)(void *ctx, uint32_t dst, const rc_msg_t *m,
				   const void *const *data, const size_t *len,
				   unsigned k);
	/* Maps the page for the guest, read-only or writable (a writable page
	 * made read-only is write-protected: no write reaches it after). */
	cvmm_status_t (*map)(void *ctx, uint64_t page, bool writable);
	/* Unmaps the page from the guest (our copy's bytes stay). */
	cvmm_status_t (*unmap)(void *ctx, uint64_t page);
	/* Write-protects pages [first, first + count), each mapped
	 * writable in the guest view: a release ending their intervals,
	 * one call for a run. May be NULL (map(ctx, page, false) page by
	 * page); on an error each page is protected on its own. */
	cvmm_status_t (*protect)(void *ctx, uint64_t first, uint64_t count);
	/* Pages [first, first + count), each mapped read-only in the guest
	 * view, become writable: one call for a run (a write's neighbours
	 * twinned ahead). May be NULL (map(ctx, page, true) page by
	 * page); on an error each page is mapped on its own. */
	cvmm_status_t (*unprotect)(void *ctx, uint64_t first,
				   uint64_t count);
	/* Copies our copy of the page into buf (4096 bytes). */
	void (*read)(void *ctx, uint64_t page, void *buf);
	/* Writes the home's copy into ours: data, or zeros when NULL. */
	cvmm_status_t (*put)(void *ctx, uint64_t page, const void *data);
	/* At the home: applies a checked diff to the master copy. */
	cvmm_status_t (*apply)(void *ctx, uint64_t page, const uint8_t *d,
			       size_t len);
	/* Elsewhere: applies a write notice's checked diff to our copy,
	 * mapped for the guest (read-only, or writable with a twin: guest
	 * threads may be writing other bytes of it meanwhile). */
	cvmm_status_t (*update)(void *ctx, uint64_t page, const uint8_t *d,
				size_t len);
	/* At the home: the master copy is known to be all zeros. May be
	 * NULL (never). */
	bool (*is_zero)(void *ctx, uint64_t page);
	/* The page's state or class changed: waiting threads retry. */
	void (*notify)(void *ctx, uint64_t page);
	/* A race was seen (at the home). May be NULL. */
	void (*race)(void *ctx, const rc_race_t *r);
	/* Acks of this node's diffs came in: rc_released may have changed.
	 * May be NULL. */
	void (*acked)(void *ctx);
	/* The page becomes a synchronization page held by owner (its home):
	 * called on the home and on the page's manager, before the class
	 * changes there. writer < nnodes: not for good, the page goes back
	 * to "sequential first" (cfg.demote_after), to be promoted again at
	 * writer. May be NULL (homes are the managers; no demote_after). */
	cvmm_status_t (*sync_owner)(void *ctx, uint64_t page, uint32_t owner,
				    uint32_t writer);
} rc_ops_t;

typedef struct rc_cfg {
	uint32_t self, nnodes; /* nnodes 1 .. RC_MAX_NODES */
	uint64_t npages;
	/* The page's manager: the home of a page that starts as a data
	 * page; the same function on every node. */
	uint32_t (*manager)(void *ctx, uint64_t page);
	/* After a race is seen here no release completes any more (no
	 * diff is acknowledged, rc_released stays false): the program stops
	 * where it is while the environment ends the VM, instead of going on
	 * with the race's outcome. */
	bool halt_on_race;
	/* Pages that are synchronization pages from the start (the same on
	 * every node), e.g. the program's globals. May be NULL (none). */
	bool (*sync_at_start)(void *ctx, uint64_t page);
	/* Every other page starts RC_SC: served by the sequential protocol,
	 * which decodes every write that moves it between nodes, until that
	 * protocol hands it over (rc_to_data) after it moved often enough by
	 * plain stores only ("Sequential first" above). */
	bool ivy_first;
	/* A write fault on a data page mapped read-only twins up to this
	 * many pages after it ahead (rc.c twin_ahead): those mapped
	 * read-only whose last interval here ended with writes, mapped
	 * writable with it, so that their own first writes do not fault (an
	 * atomic there goes unseen, as on any page already writable). 0:
	 * off; at most RC_TWIN_AHEAD_MAX. */
	unsigned twin_ahead;
	/* With ivy_first: a page promoted here whose diffs come from one
	 * other node alone this many times in a row (no other copy, no
	 * write of the home's between) goes back to "sequential first"
	 * ("Back to sequential first" above), to be promoted again at that
	 * writer. 0: never; else ivy_first and ops->sync_owner are
	 * needed (rc_node_create refuses it without). */
	unsigned demote_after;
	/* The nodes in the VM at start (bits; 0: all nnodes): the others are
	 * free slots, which no broadcast reaches until rc_join. */
	uint64_t members;
	const rc_ops_t *ops;
	void *ctx;
} rc_cfg_t;

typedef struct rc_stats {
	uint64_t fetches, zero_fetches, twins;
	uint64_t fetches_ahead; /* of those, rc_fetch_ahead's */
	uint64_t twins_ahead;   /* twins taken ahead of a write (rc.c
				   twin_ahead) */
	uint64_t diffs_sent, diff_bytes, diffs_applied, diffs_empty;
	uint64_t acquires, releases, invalidated, stale_drops;
	uint64_t sync_pages, races, notices;
	uint64_t updated; /* notices applied to the copy in place */
	uint64_t promoted; /* pages handed over by the sequential protocol
			      (cfg.ivy_first), homed here */
	uint64_t demoted;  /* of those, given back (cfg.demote_after) */
} rc_stats_t;

typedef struct rc_node rc_node_t;

cvmm_status_t rc_node_create(const rc_cfg_t *cfg, rc_node_t **out);
void rc_node_destroy(rc_node_t *n);

typedef enum rc_fault_kind {
	RC_READY, /* mapped for the access: retry it */
	RC_WAIT,  /* wait for ops->notify on the page, then call again */
	RC_IVY,   /* a synchronization page: ask the sequential protocol */
} rc_fault_kind_t;

/* A guest access to page faulted (write; atomic: by an atomic read-
 * modify-write instruction, which makes the page a synchronization page).
 * Errors: CVMM_ERR_RANGE, CVMM_ERR_NOMEM, a send failure. */
cvmm_status_t rc_fault(rc_node_t *n, uint64_t page, bool write, bool atomic,
		       rc_fault_kind_t *kind);

/* As rc_fault for a write by the agent through its own view (a system
 * call's result, a copy): when READY the page is also pinned until
 * rc_unpin, and a release meanwhile sends what was written so far but
 * keeps the page dirty (no write protection stops the agent's writes). */
cvmm_status_t rc_fault_pin(rc_node_t *n, uint64_t page,
			   rc_fault_kind_t *kind);
void rc_unpin(rc_node_t *n, uint64_t page);

/* Fetch-ahead: asks the homes for those of pages[0..k) that are data
 * pages with no copy here and nothing of this node's pending, as a read
 * fault would, without waiting; the copies arrive mapped read-only.
 * Pages not known here as data pages, and pages dropped (rc_drop) since
 * this node last faulted on them, are skipped. */
cvmm_status_t rc_fetch_ahead(rc_node_t *n, const uint64_t *pages,
			     unsigned k);


/* Starts a release: every dirty copy here is write-protected and its diff
 * sent. *ticket: pass to rc_released, which is true once every diff sent
 * so far (by this release or an earlier one) was acknowledged. */
cvmm_status_t rc_release(rc_node_t *n, uint64_t *ticket);
bool rc_released(rc_node_t *n, uint64_t ticket);

/* An acquire: ends the intervals of this node's writes to pages homed
 * here (race detection; notices leave). Never blocks, may be called from
 * a message handler. Copies need no dropping: write notices dropped them
 * before the release that this acquire follows completed. thread: a
 * guest thread of this node synchronized (a call returned, a sync page
 * arrived for it), which race detection counts as this node's; false for
 * the agent's own (serving another node's call). */
cvmm_status_t rc_acquire(rc_node_t *n, bool thread);

/* Bounded staleness, run every few ms: what each dirty page has been
 * written so far goes out (to the home, and from there as write notices),
 * once per page between two of this node's releases (rc_release), however
 * often the page is twinned again meanwhile, and without write-protecting
 * anything, so that a plain flag written and spun on without any
 * synchronization still reaches the reader, at the cost of a page compare
 * per dirty page. */
cvmm_status_t rc_tick(rc_node_t *n);

/* True when this node has nothing to release: no dirty page (not even
 * one homed here, whose other copies a release would notice), every diff
 * and notice acknowledged. A sync page may then leave this node without
 * a release first. */
bool rc_clean(rc_node_t *n);

/* The guest's memory [first, end) (pages) was dropped on this node (munmap,
 * MADV_DONTNEED: the caller unmapped it and emptied our copy): copies,
 * twins and race logs of those pages are forgotten; a fetch in flight
 * lands as nothing (it is asked again). Synchronization pages stay so. */
cvmm_status_t rc_drop(rc_node_t *n, uint64_t first, uint64_t end);

/* The sequential protocol hands an RC_SC page over: it is a data page
 * homed at home from now on. On home (its owner there, EXCLUSIVE and
 * mapped writable: it becomes the home writing without a twin), on the
 * page's manager and on every node whose request for it was refused
 * (they hold no copy). A page that moved on meanwhile (a synchronization
 * page now: the refusal was stale) or was handed over already with the
 * same home is left as it is. CVMM_ERR_PEER for anything else. */
cvmm_status_t rc_to_data(rc_node_t *n, uint64_t page, uint32_t home);

/* Handles a decoded message (data/len: its payload). CVMM_ERR_PEER when
 * it is illegal in the page's state (a malformed or lying peer). */
cvmm_status_t rc_recv(rc_node_t *n, const rc_msg_t *m, const void *data,
		      size_t len);
/* rc_recv of m[0..k) in order, in one hold of the node's lock (what they
 * make for one node leaves as one batch); stops at the first error. */
cvmm_status_t rc_recv_many(rc_node_t *n, const rc_msg_t *m,
			   const void *const *data, const size_t *len,
			   unsigned k);

/* ---- membership (docs/coherence.md, "The release model and membership")
 * Only at a quiet point (rc_busy false on every node, cvmm ctl pause).
 * Node k leaves for heir h:
 *   at k: its own release, complete (rc_release, rc_released); then
 *         rc_home_records: every data page homed at k, whose master copy
 *         goes with its record to h (rc_take_home);
 *   then on every node but k: rc_depart(k, h).
 * After that no message of this protocol goes to k: the pages homed at k
 * are h's (same versions, so copies elsewhere stay current and their
 * diffs go to h), k is out of every copyset, and broadcasts skip it. A
 * node joining slot k starts with no record (every page RC_SC or a sync
 * page at start: it learns the rest as it asks) and every other node
 * calls rc_join(k). */
typedef struct rc_home_rec {
	uint64_t page, copyset, writers, dropped;
	uint32_t ver;
} rc_home_rec_t;

/* The data pages homed here (*out: malloc'd, *count of them).
 * CVMM_ERR_INVALID when this node is not released (a twin, a diff not
 * acknowledged) or not quiet. */
cvmm_status_t rc_home_records(rc_node_t *n, rc_home_rec_t **out,
			      size_t *count);
/* At the heir: page r->page, homed at from, is homed here from now on,
 * with the master copy bytes (4096). This node's own writes to its copy
 * not yet released stay, on top of the master, as the home's open
 * interval (noticed at its next release); its race log starts empty. */
cvmm_status_t rc_take_home(rc_node_t *n, uint32_t from, const rc_home_rec_t *r,
			   const void *bytes);
/* On every node but k: k left, h took the pages homed at k (CVMM_ERR_INVALID
 * at h when one of them was not taken). */
cvmm_status_t rc_depart(rc_node_t *n, uint32_t k, uint32_t h);
/* A node joined slot k: broadcasts reach it again. */
cvmm_status_t rc_join(rc_node_t *n, uint32_t k);

/* Snapshots. */
rc_class_t rc_page_class(rc_node_t *n, uint64_t page);
/* One line on page's record here (class, state, home, flush), for stuck
 * waits (coh_rt_describe). */
void rc_describe(rc_node_t *n, uint64_t page, char *buf, size_t len);

/* Whether anything of n's is in flight (cvmm ctl pause): diffs not yet
 * acknowledged or queued, a fetch, a page becoming a synchronization page,
 * notices not yet acknowledged at a home. The first such one goes into
 * why. */
bool rc_busy(rc_node_t *n, char *why, size_t len);
rc_state_t rc_page_state(rc_node_t *n, uint64_t page);
/* The page's home as this node knows it (RC_NOHOME: not yet). */
uint32_t rc_page_home(rc_node_t *n, uint64_t page);
void rc_get_stats(rc_node_t *n, rc_stats_t *out);

#endif
