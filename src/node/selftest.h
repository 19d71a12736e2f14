/* --selftest: the fabric between the agents, checked or measured. */
#ifndef CVMM_NODE_SELFTEST_H
#define CVMM_NODE_SELFTEST_H

#include "core/gmem.h"

/* Transport checks between all agents (all-to-all, get/put of random pages
 * byte for byte, atomics from every agent on one word, message order per
 * peer, large and zero-length messages); mode "bench" measures latencies
 * between node 0 and node 1 instead. Node 0 prints the result. Returns the
 * exit status. */
int node_selftest(gmem_t *gm, const char *mode);

#endif
