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
#include "core/vcpu.h"
#include "rdma/boot.h"
#include "rdma/xp.h"

/* Exit status of an agent whose VM ended because cvmm itself failed (a
 * node was lost, the transport broke). */
#define CVMM_EXIT_FAILURE 125

/* Active-message ids of the node agents (XP_AM_USER + 1..4: selftest.c). */
#define NODE_AM_SHUTDOWN (XP_AM_USER + 0) /* node 0 -> all: the VM ended */
#define NODE_AM_COH      (XP_AM_USER + 5) /* coherence protocol */
#define NODE_AM_FUTEX    (XP_AM_USER + 6) /* distributed futex */
#define NODE_AM_SVC      (XP_AM_USER + 7) /* node services (node_svc.c) */

typedef struct node_opts {
	int nodes;          /* -n: agents cvmm run starts on this machine */
	int rank;           /* -1: from the launcher's environment */
	int size;           /* -1: from the launcher's environment */
	char *coordinator;  /* HOST:PORT of rank 0 when there is no PMIx */
	char *selftest;     /* NULL, "check" or "bench" */
	char *transport;
	char *progress;
	char *iface;
	int timeout_ms;     /* bootstrap and connection timeout */
	char *placement;    /* spread | pack | FILE (node per new thread) */
	char *page_transfer; /* push | get (coh_rt_cfg_t.push) */
} node_opts_t;

extern node_opts_t node_opts;
extern const cfg_field_t node_fields[];

/* Joins the job and connects to every other agent: boot_init, xp_init,
 * address exchange, xp_connect, registration of gm's agent view and rkey
 * exchange, xp_start; installs the shutdown hook in vm. Logs one line and
 * returns an error when any step fails. */
cvmm_status_t node_start(gmem_t *gm, vm_t *vm);

int node_rank(void);
int node_size(void);
xp_t *node_xp(void);
boot_t *node_boot(void);

/* ---- node services (node_svc.c), multi-node VMs only ---- */

/* Registers the service message handler (before connecting) and, on node
 * 0, makes gm publish layout changes to every node. */
cvmm_status_t node_svc_init(gmem_t *gm, vm_t *vm);

/* True when syscall nr of a thread on this node runs on node 0 (file and
 * console I/O, memory layout, process-wide signal state, exit_group). */
bool node_svc_forwards(unsigned long nr);

/* Runs syscall nr for vt on node 0 (by a proxy thread there, one per guest
 * thread, so a thread's calls stay in order) and returns its result. */
long node_svc_syscall(vthread_t *vt, unsigned long nr, const uint64_t a[6]);

/* The node a new guest thread goes to (--placement), counting this node's
 * clones. */
int node_svc_place(void);

/* Starts a guest thread with tid and regs on node target (not this one);
 * the VM counts it as live before this returns. 0 or -errno. */
long node_svc_start_thread(int target, int tid, const guest_regs_t *regs,
			   uint64_t clear_tid, uint64_t sigmask);

/* A guest thread on this node (not node 0) exited. */
void node_svc_thread_exited(int tid);

/* Node 0, --stats at the end: every node's vCPU times and coherence
 * counters into vm and coh_rt_stats (bounded wait per node). */
void node_svc_collect_stats(vm_t *vm);

/* The VM ended on this node (not node 0): tells node 0, flushed. */
void node_svc_exit(int status);

/* Ends a job every agent finishes together (the selftest): stops treating
 * departures as losses, meets the others at a barrier, exits with status. */
void node_leave(int status) __attribute__((noreturn));

/* cvmm run -n N on one machine: starts N agents (this program, "agent"
 * instead of "run"), serves their bootstrap on a private UNIX socket and
 * returns node 0's exit status (CVMM_EXIT_FAILURE if it never reported). */
int node_launch(int nodes, int argc, char **argv);

/* --selftest: transport checks between all agents (all-to-all, get/put of
 * random pages byte for byte, atomics from every agent on one word, message
 * order per peer, large and zero-length messages); "bench" measures
 * latencies between node 0 and node 1 instead. Node 0 prints the result.
 * Returns the exit status. */
int node_selftest(gmem_t *gm, const char *mode);

#endif
