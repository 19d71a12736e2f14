/* The control socket of a running VM (cvmm ctl, issue 15's control
 * interface): node 0's agent listens on a UNIX socket that only its user
 * can reach, CTL_DIR/<node 0's pid>.sock, where CTL_DIR is
 * $XDG_RUNTIME_DIR/cvmm when that is set, else /tmp/cvmm-<uid> (made 0700,
 * refused when another user owns it or others can enter it). A client
 * connects, writes one request line and reads the answer until the server
 * closes:
 *
 *   status         nodes, vCPUs and guest threads per node, faults and
 *                  fault rate, resident guest memory, vCPU times, thread
 *                  moves: a table
 *   status json    the same as one JSON object
 *   migrate T K    guest thread T moves to node K: at once when it runs
 *                  guest code (vm_thread_kick), else when the system call
 *                  or coherence fault it is in returns: one line saying
 *                  from where, or that it is there already
 *   pause          every node stops: guest threads wait at their trap
 *                  points, nothing of coherence or futexes in flight
 *                  (node/svc.h, node_svc_pause); one line
 *   resume         they go on; one line
 *   balance        one round of the balancer (core/balance.h) on a period
 *                  measured now: one line saying which thread moves where
 *                  and why, or "no move: " and why not
 *
 * An unknown request is answered "error: ..." on one line. The server
 * checks the peer's uid (SO_PEERCRED) besides the directory's mode.
 * README.md ("Other commands") describes it for users. */
#ifndef CVMM_NODE_CTL_SERVER_H
#define CVMM_NODE_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "core/gmem.h"
#include "core/vm.h"

#define CTL_REQ_MAX 256 /* a request line, newline included */

/* The directory of this user's control sockets into buf (made 0700 when
 * make; checked either way): false, with one line logged, when it cannot
 * be made or is not this user's alone. */
bool ctl_dir(char *buf, size_t cap, bool make);

/* A socket connected to the control socket at path, or -1 (errno says
 * why: ECONNREFUSED for a socket nobody listens on any more). */
int ctl_dial(const char *path);

/* The length of the job id in a control socket's file name "<id>.sock",
 * 0 for any other name. */
size_t ctl_sock_id(const char *name);

/* Node 0, before confinement: binds CTL_DIR/<pid>.sock (after removing
 * that directory's stale sockets: nobody listens on them) and serves it on
 * a thread until the process exits. A failure is logged and leaves the VM
 * without a control socket (CVMM_ERR_IO); the VM runs anyway. */
cvmm_status_t ctl_server_start(vm_t *vm, gmem_t *gm);

/* The socket's path once started ("" before). */
const char *ctl_server_path(void);

/* The answer to one request line (no newline), into a malloc'd string
 * of *len bytes, NUL-terminated (join-argv's holds NULs of its own);
 * NULL: out of memory. For the server thread and tests. */
char *ctl_answer(const char *req, size_t *len);

#endif
