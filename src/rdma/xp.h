/* The transport: one API for one-sided get/put, atomics and active messages
 * between the N node agents, implemented on UCX UCP, so the same calls run
 * as RDMA READ/WRITE on InfiniBand, RoCE and SoftRoCE and over TCP and shared
 * memory where no RDMA device exists (docs/design.md decision 6).
 *
 * Threading: every call may be made from any thread (vCPU threads and the
 * progress thread) at the same time. Blocking calls wait for their own
 * completion, progressing the worker themselves with a poll-then-yield loop
 * (never a pure busy spin: agents may share a CPU). A progress thread serves
 * incoming operations (UCX over TCP emulates get and atomics with messages
 * the target must progress) and runs active-message handlers. No wait is
 * unbounded: blocking calls give up with CVMM_ERR_TIMEOUT or CVMM_ERR_PEER
 * when the peer is lost. The transport never includes coherence headers.
 *
 * Wherever a call takes a peer, it may be this node's own rank: xp_connect
 * also opens a loopback endpoint, and xp_mem_register records the own
 * region, so a manager that happens to be local needs no special case.
 * While a caller waits in a blocking call it progresses the worker itself
 * and the progress thread naps (two threads polling one worker only fight
 * over the CPU). Message format: rdma/xp_wire.h. */
#ifndef CVMM_RDMA_XP_H
#define CVMM_RDMA_XP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct xp xp_t;

typedef enum xp_transport {
	XP_TRANSPORT_AUTO = 0, /* UCX's choice */
	XP_TRANSPORT_RDMA,     /* rc/ud/dc verbs (InfiniBand, RoCE, SoftRoCE) */
	XP_TRANSPORT_TCP,
	XP_TRANSPORT_SHM,      /* shared memory (one host only) */
} xp_transport_t;

/* How the progress thread waits. Measured over tcp on 2 cpus: all three
 * give ~20 us gets. When agents share one cpu, POLL and HYBRID degrade to
 * ~200 us per get and EVENT stays ~30 us; UCX's worker lock is a spinlock
 * unless UCX_USE_MT_MUTEX=y, which removes multi-ms tails on a shared cpu
 * but slows active messages on idle cpus. */
typedef enum xp_progress {
	XP_PROGRESS_HYBRID = 0, /* poll spin_us, then sleep on the event fd */
	XP_PROGRESS_POLL,       /* poll, yielding the CPU between rounds */
	XP_PROGRESS_EVENT,      /* always sleep on the worker's event fd */
} xp_progress_t;

typedef struct xp_opts {
	xp_transport_t transport;
	xp_progress_t progress;
	int spin_us;            /* HYBRID: polling time before sleeping */
	const char *iface;      /* UCX_NET_DEVICES, or NULL */
	int heartbeat_ms;       /* 0: default 500 */
	int lost_ms;            /* peer lost after this silence; 0: 3000 */
	int op_timeout_ms;      /* blocking calls give up; 0: 10000 (added) */
} xp_opts_t;

/* The names of xp_transport_t and xp_progress_t values, indexed by value
 * and NULL-terminated (config fields and messages use them). */
extern const char *const xp_transport_names[];
extern const char *const xp_progress_names[];

/* Called (from the progress thread) once per peer found lost: UCX error,
 * missed heartbeats, or a malformed message. A peer that closed in order
 * (its xp_fini sends a BYE) is not reported, though calls to it then fail
 * with CVMM_ERR_PEER. Losses seen before xp_start are reported when it
 * starts. Must not call xp_fini. Over shm (and auto when the user's UCX_TLS
 * leaves only shm) UCX cannot report a dead peer: the heartbeat alone
 * does, after lost_ms. */
typedef void (*xp_lost_fn_t)(int peer, const char *reason, void *arg);

/* Creates the UCP context and worker for rank of size agents. cookie is the
 * job cookie: every message carries it, and a message without the right one
 * is dropped and logged (with the sender's claimed rank). Logs and returns
 * an error when UCX cannot start with the requested transport. */
cvmm_status_t xp_init(const xp_opts_t *o, int rank, int size, uint64_t cookie,
		      xp_t **out);

/* This worker's address, to exchange through the bootstrap. The pointer is
 * valid until xp_fini. */
cvmm_status_t xp_address(xp_t *x, const void **addr, size_t *len);

/* Creates endpoints to every other rank from their addresses (addrs[rank]
 * is ignored; a NULL or empty one leaves that rank unconnected), then exchanges a HELLO with each (cookie checked) and waits
 * until all are connected or timeout_ms passes. After a failure only
 * xp_fini is valid. */
cvmm_status_t xp_connect(xp_t *x, const void *const addrs[],
			 const size_t lens[], int timeout_ms);

/* xp_connect leaves a rank whose address is NULL or empty unconnected (not
 * in the job yet: a free slot). Later, with the progress thread running
 * and from any thread but a handler, xp_connect_peer creates the endpoint
 * to such a peer from its address and posts it the HELLO without waiting
 * (the peer connects back with xp_connect, which waits for that HELLO).
 * Once per agent of a rank (CVMM_ERR_EXISTS after, also for a rank
 * connected by xp_connect, until xp_peer_reset). */
cvmm_status_t xp_connect_peer(xp_t *x, int peer, const void *addr,
			      size_t len);

/* A rank used again by a new agent (a slot reused): forgets everything of
 * the old one (its endpoint closed by force, its remote key, queued
 * messages, sequence numbers, loss and goodbye) so that xp_connect_peer and
 * xp_mem_remote take the new one. Every message from peer stamped with an
 * epoch below min_epoch is dropped from then on, before its sequence
 * number counts: the old agent's late messages cannot pass for the new
 * one's, which stamps min_epoch or later from its first (xp_set_epoch
 * before xp_connect). Runs on the progress thread, so it never races the
 * heartbeat or a loss report (a loss of the old agent not yet reported is
 * reported first). Not from a handler; nothing may send to peer meanwhile. */
cvmm_status_t xp_peer_reset(xp_t *x, int peer, uint32_t min_epoch);

/* Starts the progress thread and the heartbeat; lost (may be NULL) is
 * called when a peer is lost. */
cvmm_status_t xp_start(xp_t *x, xp_lost_fn_t lost, void *arg);

/* Registers [base, base+len) for remote get/put/atomics (it may be a sparse
 * reservation: only registered, never touched). Returns the packed remote
 * key to exchange; valid until xp_fini. One region per agent
 * (CVMM_ERR_EXISTS on a second call). Mapped with UCP_MEM_MAP_NONBLOCK:
 * over tcp and shm 1 TiB of unpopulated memfd mapping registers in ~1 ms
 * and stays unpopulated; on InfiniBand this needs on-demand paging, or the
 * NIC would pin (and populate) the whole range. */
cvmm_status_t xp_mem_register(xp_t *x, void *base, size_t len,
			      const void **rkey, size_t *rkey_len);

/* Records peer's registered region (base address and packed rkey, as the
 * peer's xp_mem_register gave them); the key is unpacked on first use and
 * cached. Once per peer (CVMM_ERR_EXISTS after). */
cvmm_status_t xp_mem_remote(xp_t *x, int peer, uint64_t base, uint64_t len,
			    const void *rkey, size_t rkey_len);

/* One-sided, blocking until complete: remote is an address inside peer's
 * registered region (else CVMM_ERR_RANGE); local any memory (inside our
 * region is fastest). After CVMM_ERR_TIMEOUT or CVMM_ERR_PEER the operation
 * may still be under way in UCX: treat local as undefined until xp_fini. */
cvmm_status_t xp_get(xp_t *x, int peer, void *local, uint64_t remote,
		     size_t len);
/* Returns when the data has left local (the buffer is reusable); xp_flush
 * makes it visible at peer. */
cvmm_status_t xp_put(xp_t *x, int peer, const void *local, uint64_t remote,
		     size_t len);
cvmm_status_t xp_flush(xp_t *x, int peer);

/* 64-bit atomics on an 8-byte aligned remote word (else CVMM_ERR_INVALID);
 * *old gets the previous value. */
cvmm_status_t xp_fadd64(xp_t *x, int peer, uint64_t remote, uint64_t add,
			uint64_t *old);
cvmm_status_t xp_cswap64(xp_t *x, int peer, uint64_t remote, uint64_t cmp,
			 uint64_t swap, uint64_t *old);

/* Active messages. Ids below XP_AM_USER are the transport's own. A handler
 * runs on the progress thread (or a thread waiting in a blocking call) with
 * the sender's rank and the payload, valid only during the call; it must not
 * block for long. Messages from one sender arrive in the order sent (also
 * across eager and rendezvous sizes). Inside a handler UCX forbids
 * progressing the worker: xp_am_send there sends a copy and returns at
 * once, while get, put, flush and the atomics refuse with CVMM_ERR_INVALID.
 * A message to the own node is handled inside xp_am_send (UCX's self
 * transport) or, when sent from a handler, right after that handler
 * returns: handlers never nest. Handlers don't run once xp_fini has
 * begun. */
#define XP_AM_USER 8
#define XP_AM_MAX 64
typedef void (*xp_am_fn_t)(xp_t *x, int src, const void *data, size_t len,
			   void *arg);

/* Optional: asked before a message of a user id from src, sent in the
 * sender's membership epoch, is handled; false drops it (the hook logs).
 * Set before xp_connect. */
typedef bool (*xp_admit_fn_t)(int src, unsigned id, uint32_t epoch);
void xp_set_admit(xp_t *x, xp_admit_fn_t fn);

/* The membership epoch every message sent from now on carries (0 at
 * first). */
void xp_set_epoch(xp_t *x, uint32_t epoch);

/* Register before xp_connect: a message whose id has no handler is dropped
 * with a warning. */
cvmm_status_t xp_am_register(xp_t *x, unsigned id, xp_am_fn_t fn, void *arg);

/* The largest message xp_am_send sends eagerly (no rendezvous: one
 * message, no round trip before its bytes): messages batched up to it
 * cost one send. XP_AM_EAGER when xp set UCX's rendezvous threshold
 * (UCX_RNDV_THRESH not in the environment), else 8 KiB (below UCX's own
 * thresholds on its TCP and shared-memory transports). */
#define XP_AM_EAGER (64u << 10)
size_t xp_am_eager_max(const xp_t *x);

/* Sends len bytes (0 allowed, any size) to peer; returns when the buffer is
 * reusable. As for put, after an error UCX may still read data. */
cvmm_status_t xp_am_send(xp_t *x, int peer, unsigned id, const void *data,
			 size_t len);

/* Progresses the worker on the calling thread (running the handlers of
 * what arrives) until *word differs from old or max_ns pass; true if it
 * changed. A thread that waits for a reply this way needs no wake-up from
 * the progress thread (a cross-cpu wake-up costs 30-60 us on small VMs).
 * Agents that share cores (progress "event") wait at least
 * XP_SHARED_WAIT_NS whatever max_ns says: a thread that sleeps instead
 * needs two wake-ups in a row there, the progress thread's and then its
 * own, each behind another agent's running thread. False at once inside
 * a handler. */
#define XP_SHARED_WAIT_NS 3000000ull
bool xp_progress_until(xp_t *x, const uint32_t *word, uint32_t old,
		       uint64_t max_ns);

/* The job is ending and peers may exit at any moment: failed operations
 * are logged at debug level only from now on, and an active message that
 * fails (the peer gone, or its endpoint reset) is dropped and reported
 * sent (the guest's threads
 * still running here until the process exits must not print errors or
 * turn the guest's exit status into a failure). */
void xp_quiet(xp_t *x);
bool xp_is_quiet(void);

/* True once peer was found lost (the lost callback ran or is running). */
bool xp_peer_lost(xp_t *x, int peer);

/* The peer is expected to go (it left the job in order): its going is
 * logged at debug and no lost callback runs. */
void xp_peer_expect_gone(xp_t *x, int peer);

int xp_rank(const xp_t *x);
int xp_size(const xp_t *x);

/* Names the UCX transports the worker uses towards peer ("tcp", "rc_mlx5",
 * "sysv,posix,cma"...), comma-separated, into buf; "?" when unknown. */
void xp_describe(xp_t *x, int peer, char *buf, size_t len);

/* Stops the progress thread, sends BYE to live peers, closes endpoints
 * (flushing; forced towards lost peers; bounded), frees all. */
void xp_fini(xp_t *x);

#endif
