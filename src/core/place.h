/* Where a guest thread should run on a VM of several nodes: the decisions
 * of --placement auto and --migrate-every (docs/coherence.md, "Threads that
 * move"), as pure functions of a thread's record, the time and this node's
 * view of the VM. No clock, no globals, no messages: the node layer
 * (src/node/svc_migrate.c) calls them at the thread's trap points and does
 * the moving.
 *
 * The record lives in the thread's vthread and only the thread itself
 * touches it (at its trap points); what has to survive a move (the
 * back-off) travels in the MIGRATE message, the rest starts afresh on the
 * new node, whose clock may be another host's. */
#ifndef CVMM_CORE_PLACE_H
#define CVMM_CORE_PLACE_H

#include <stdbool.h>
#include <stdint.h>

#define PLACE_WINDOW 64           /* remote faults remembered per thread */
#define PLACE_MIN_REMOTE 32       /* recent remote faults before any move */
#define PLACE_SHARE_PCT 75        /* share of them one node must have given */
#define PLACE_AGE_NS 200000000ULL /* a fault older than 200 ms drops out */
#define PLACE_HOLD_NS 20000000ULL /* least residence after a move: 20 ms */
#define PLACE_HOLD_MAX_NS (PLACE_HOLD_NS << 6) /* back-off cap: 1.28 s */
#define PLACE_SETTLED 4 /* a stay of 4 holds is no ping-pong */

/* One remote fault: the node the page came from, and when. */
typedef struct place_fault {
	int32_t node;
	uint32_t pad;
	uint64_t t_ns;
} place_fault_t;

typedef struct place_thread {
	uint64_t arrived_ns; /* on this node since (this node's clock) */
	uint64_t hold_ns;    /* least residence on this node */
	int32_t prev;        /* the node it came from; -1: started here */
	uint32_t nfaults;    /* valid entries of ring */
	uint32_t head;       /* where the next fault goes */
	uint32_t traps;      /* trap points since it came (--migrate-every) */
	place_fault_t ring[PLACE_WINDOW]; /* the last remote faults */
} place_thread_t;

/* This node's view of the VM when a thread decides. */
typedef struct place_view {
	int self, nnodes, nvcpus; /* vCPU i lives on node i mod nnodes */
	/* guest threads per node as this node knows them (load[self] exact
	 * and counting the deciding thread); NULL: unknown, no balance rule */
	const uint32_t *load;
} place_view_t;

/* A thread starts on this node at now: no faults, the base hold, no node
 * it came from. Cannot fail. */
void place_start(place_thread_t *t, uint64_t now_ns);

/* A thread arrives from node from at now with the hold its old node gave
 * it (place_hold_next there; clamped to [PLACE_HOLD_NS, PLACE_HOLD_MAX_NS],
 * it may come from a peer). Its fault window starts empty: faults taken
 * elsewhere say nothing about this node. Cannot fail. */
void place_arrive(place_thread_t *t, int from, uint64_t hold_ns,
		  uint64_t now_ns);

/* Records a coherence fault the thread took on node self at now, served
 * with bytes from node src (-1: none moved or not known). Only remote
 * sources (src >= 0, src != self) enter the window. Cannot fail. */
void place_note(place_thread_t *t, int src, int self, uint64_t now_ns);

/* --placement auto: the node the thread should move to now, or -1 to stay.
 * It moves to X when it has been on this node for its hold, at least
 * PLACE_MIN_REMOTE of its remote faults are younger than PLACE_AGE_NS and
 * PLACE_SHARE_PCT percent of those came from X, and place_balance_ok allows
 * X. Reads t only. */
int place_decide(const place_thread_t *t, const place_view_t *v,
		 uint64_t now_ns);

/* The balance rule: false when moving one more thread to node to would put
 * more threads there than it has vCPUs while another node (this one counted
 * without the mover) has fewer threads than vCPUs, so threads do not pile
 * onto the node that holds the data. True when v->load is NULL. */
bool place_balance_ok(const place_view_t *v, int to);

/* The vCPUs of node (vCPU i lives on node i mod nnodes). */
int place_vcpus_of(int node, int nnodes, int nvcpus);

/* The hold the thread gets on node to if it moves there now: doubled (up
 * to PLACE_HOLD_MAX_NS) when to is the node it just came from and it
 * stayed here less than PLACE_SETTLED holds (a ping-pong), else the base
 * PLACE_HOLD_NS. */
uint64_t place_hold_next(const place_thread_t *t, int to, uint64_t now_ns);

/* --migrate-every N (a test mode): counts a trap point; at every Nth the
 * thread goes to the next node, (self + 1) mod nnodes, whatever its faults
 * or the nodes' loads. -1: stay (also when every is 0 or there is one
 * node). */
int place_every(place_thread_t *t, unsigned every, int self, int nnodes);

#endif
