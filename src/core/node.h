/* The node agent: joins the job (bootstrap), connects the transport to every
 * other agent, registers the agent view of guest memory for one-sided
 * access, and carries the shutdown rule (DESIGN.md decision 9): the VM's end
 * on node 0 ends every agent; a lost node ends the VM everywhere with
 * "cvmm: node K lost (reason)" within seconds. */
#ifndef CVMM_CORE_NODE_H
#define CVMM_CORE_NODE_H

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
