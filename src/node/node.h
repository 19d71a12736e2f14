/* The node agent: joins the job (bootstrap), connects the transport to every
 * other agent, registers the agent view of guest memory for one-sided
 * access, and carries the shutdown rule (docs/design.md decision 9): the VM's end
 * on node 0 ends every agent; a lost node ends the VM everywhere with
 * "cvmm: node K lost (reason)" within seconds. */
#ifndef CVMM_NODE_NODE_H
#define CVMM_NODE_NODE_H

#include <stdbool.h>

#include "common/config.h"
#include "common/status.h"
#include "core/gmem.h"
#include "core/vm.h"
#include "rdma/boot.h"
#include "rdma/xp.h"

/* Exit status of an agent whose VM ended because cvmm itself failed (a
 * node was lost, the transport broke). */
#define CVMM_EXIT_FAILURE 125

/* Active-message ids of the node agents (XP_AM_USER + 1..4: selftest.c). */
#define NODE_AM_SHUTDOWN (XP_AM_USER + 0) /* node 0 -> all: the VM ended */
#define NODE_AM_COH      (XP_AM_USER + 5) /* coherence protocol */
#define NODE_AM_FUTEX    (XP_AM_USER + 6) /* distributed futex */
#define NODE_AM_SVC      (XP_AM_USER + 7) /* node services (svc.h) */
#define NODE_AM_RC       (XP_AM_USER + 8) /* release memory model (rc.h) */

/* How page bytes reach a faulting node (--page-transfer). */
typedef enum node_page_transfer {
	NODE_PAGE_PUSH = 0, /* the owner sends the page with its grant */
	NODE_PAGE_GET,      /* the faulting node reads it with a one-sided get */
	NODE_PAGE_AUTO,     /* get when every agent reads over RDMA, else push
			     * (resolved at start: node.c, node_page_push) */
} node_page_transfer_t;

typedef struct node_opts {
	int nodes;          /* -n: agents cvmm run starts on this machine */
	int rank;           /* -1: from the launcher's environment */
	int size;           /* -1: from the launcher's environment */
	char *coordinator;  /* HOST:PORT of rank 0 when there is no PMIx */
	char *selftest;     /* NULL, "check" or "bench" */
	int transport;      /* xp_transport_t */
	int progress;       /* xp_progress_t */
	char *iface;
	int timeout_ms;     /* bootstrap and connection timeout */
	char *placement;    /* spread | pack | auto | FILE (node per thread) */
	int migrate_every;  /* test mode: move every N trap points, 0 off */
	int page_transfer;  /* node_page_transfer_t */
	int hold_max_us;    /* holding window cap, 0 = off (coh.h) */
	int read_ahead;     /* read-ahead pages, 0 = off (coh.h) */
	int memory_model;   /* node_memory_model_t */
	int on_race;        /* node_on_race_t */
	int staleness_ms;   /* release model: clean copies expire, 0 = never */
	int twin_ahead;     /* release model: pages twinned ahead of a write
			       fault, 0 = off (rc.h) */
	int balance;        /* node_balance_t */
	int max_nodes;      /* slots of the VM, 0: the agents started */
	char *join;         /* HOST:PORT of a running VM's node 0: join it */
	char *join_listen;  /* node 0: where joiners connect (auto, off,
			       HOST:PORT) */
	int join_epoch;     /* the membership epoch a joiner expects, 0 any */
} node_opts_t;

/* The most nodes (slots) of one VM: a manager role per slot, a bit per
 * node in the protocol's copysets and the drained mask. */
#define NODE_SLOTS_MAX 64

typedef enum node_balance {
	NODE_BALANCE_OFF,
	NODE_BALANCE_AUTO, /* node 0 moves threads off nodes kept from the
			      CPU (core/balance.h) */
} node_balance_t;

typedef enum node_memory_model {
	NODE_MM_SEQUENTIAL,
	NODE_MM_RELEASE,
} node_memory_model_t;

typedef enum node_on_race { NODE_RACE_STOP, NODE_RACE_WARN } node_on_race_t;

extern node_opts_t node_opts;
extern const cfg_field_t node_fields[];

/* Joins the job and connects to every other agent: boot_init, xp_init,
 * address exchange, xp_connect, registration of gm's agent view and rkey
 * exchange, xp_start; installs the shutdown hook in vm. Logs one line and
 * returns an error when any step fails. */
cvmm_status_t node_start(gmem_t *gm, vm_t *vm);

int node_rank(void);
/* The VM's slots (--max-nodes): every node number is below it. The nodes
 * started with the VM are 0..node_live_at_start()-1; the other slots are
 * free (departed from the start, their roles played by started nodes:
 * node_start_roles) until a node joins into one (node/join.c). */
int node_size(void);
int node_live_at_start(void);
/* The node playing each manager and futex-home role when this node
 * started: role v by v for a started node, by v mod the started nodes for
 * a free slot; a joining node's copy of node 0's at the join. */
const uint8_t *node_start_roles(void);
/* Worker address and packed memory key of node k as the bootstrap or a
 * join told them (node 0 hands them to joiners); NULL when unknown. */
const void *node_peer_addr(int k, size_t *len);
const void *node_peer_rkey(int k, size_t *len);
/* Records them for a node that joins (node 0 and every node). */
cvmm_status_t node_peer_keep(int k, const void *addr, size_t addr_len,
			     const void *rkey, size_t rkey_len);
/* Node k, out of the VM, gets a new agent (a join into a used slot): the
 * transport and this node's records of the old one are reset; the new
 * one's messages stamp min_epoch or later (xp_peer_reset). */
cvmm_status_t node_peer_reset(int k, uint64_t min_epoch);
/* Where each vCPU runs, from who is in the VM (the same on every node):
 * vCPU i on its slot's node (slot i mod the slots) while that node is in;
 * the others, in order, each on the node in hosting fewest so far (the
 * lowest of equals). Applied to vm
 * (vm_vcpus_rehost) at the start and at every join and leave; returns the
 * vCPUs this node hosts, -1 on one node or out of memory. */
int node_vcpus_rehost(vm_t *vm);
/* This node is out of the VM (it left and exits): the others going, or
 * its slot's next agent resetting their connections to it, is no loss. */
void node_out(void);
/* Node k left the VM (cvmm ctl remove-node): its roles and pages are
 * others', nothing is sent to it, and its going is no loss. */
bool node_departed(int k);
void node_set_departed(int k);
/* The page transfer this node uses: true push, false get (a joining
 * node takes node 0's). */
bool node_pages_pushed(void);
/* Node k joined (node/join.c) at epoch: it is in the VM from now on, and
 * a message of it from an earlier epoch is dropped. */
void node_set_joined(int k, uint64_t epoch);
/* The membership epoch this node's messages carry from now on. */
void node_set_epoch(uint64_t epoch);
xp_t *node_xp(void);
boot_t *node_boot(void);

/* Ends a job every agent finishes together (the selftest): stops treating
 * departures as losses, meets the others at a barrier, exits with status. */
void node_leave(int status) __attribute__((noreturn));

#endif
