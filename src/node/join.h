/* A node joining a running VM (docs/design.md, "Elastic nodes"): node 0's
 * join socket and the conversation on it, both sides.
 *
 *   joiner -> 0   HELLO    the job cookie, the epoch it expects (rdma/boot.h)
 *   0 -> joiner   SLOT     its node number, the VM's slots, vCPUs, epoch,
 *                          node 0's pid, page transfer; or a refusal line
 *   joiner -> 0   ADDR     its worker address and memory key
 *   (node 0 pauses the VM; every node connects to the joiner: svc_join.c)
 *   0 -> joiner   WELCOME  the nodes in the VM, the drained ones, the node
 *                          playing each role, every node's address and key,
 *                          the guest layout; or a refusal line
 *   joiner -> 0   READY    connected to everyone, layout applied
 *   0 -> joiner   DONE     the new epoch (every node took it in); resumed
 *
 * The blobs are join_wire.h's, every field checked on receipt.
 * A refusal or a step that fails or times out leaves the VM as it was
 * (the slot used) and ends the joiner with one line. */
#ifndef CVMM_NODE_JOIN_H
#define CVMM_NODE_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "core/gmem.h"
#include "node/join_wire.h"
#include "node/node.h"

/* Node 0 of a VM with free slots: listens where --join-listen says (bound
 * before confinement) and serves joins from a thread of its own. A VM
 * that cannot listen runs without joins (logged). */
cvmm_status_t join_listen_start(uint64_t cookie);
/* "HOST:PORT" joiners connect to, or NULL when node 0 does not listen. */
const char *join_listen_addr(void);
/* The job cookie (cvmm ctl join-info; the control socket is the user's). */
uint64_t join_cookie(void);
/* Node 0's executable and command line as it started (read before
 * confinement), for cvmm ctl add-node to start a local agent alike;
 * NULL when unknown. argv is NULL-terminated. */
const char *join_exe(void);
const char *join_cwd(void);
char *const *join_argv(void);

/* The joiner's side, in order; each logs one line on failure (a refusal
 * says node 0's reason) and closes fd then. */
cvmm_status_t join_dial(const char *addr, uint64_t cookie, uint64_t epoch,
			int timeout_ms, int *fd, join_slot_t *slot);
cvmm_status_t join_send_addr(int fd, const void *addr, size_t alen,
			     const void *rkey, size_t rlen, int timeout_ms);
cvmm_status_t join_recv_welcome(int fd, const join_slot_t *slot,
				join_welcome_t *w, int timeout_ms);
void join_welcome_free(join_welcome_t *w);
/* READY, then node 0's DONE: *epoch the VM's epoch with this node in. */
cvmm_status_t join_finish(int fd, uint64_t *epoch, int timeout_ms);

#endif
