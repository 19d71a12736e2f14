/* The node agent's life: join, connect, register, serve, shut down. */
#include "core/node.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define NODE_AM_SHUTDOWN (XP_AM_USER + 0)

node_opts_t node_opts;

#define OPT(f) offsetof(node_opts_t, f)
const cfg_field_t node_fields[] = {
	{ "nodes", "1", "node agents cvmm run starts on this machine",
	  OPT(nodes), CFG_INT, NULL, 'n', NULL },
	{ "rank", "-1", "this agent's rank (default: from the launcher)",
	  OPT(rank), CFG_INT, NULL, 0, NULL },
	{ "size", "-1", "number of agents (default: from the launcher)",
	  OPT(size), CFG_INT, NULL, 0, NULL },
	{ "coordinator", NULL, "HOST:PORT where rank 0 serves the bootstrap",
	  OPT(coordinator), CFG_STRING, "HOST:PORT", 0, NULL },
	{ "selftest", NULL, "check the fabric between the agents (=bench: "
	  "measure it) instead of running a program",
	  OPT(selftest), CFG_OPTSTR, "[=bench]", 0, "check" },
	{ "transport", "auto", "auto|rdma|tcp|shm (UCX_* variables still apply)",
	  OPT(transport), CFG_ENUM, "auto|rdma|tcp|shm", 0, NULL },
	{ "progress", "hybrid", "how agents wait for the network: "
	  "poll|event|hybrid",
	  OPT(progress), CFG_ENUM, "poll|event|hybrid", 0, NULL },
	{ "iface", NULL, "network devices for UCX (UCX_NET_DEVICES), e.g. "
	  "eth1 or mlx5_0:1",
	  OPT(iface), CFG_STRING, "DEV", 0, NULL },
	{ "timeout-ms", "30000", "bootstrap and connection timeout",
	  OPT(timeout_ms), CFG_INT, NULL, 0, NULL },
	{ NULL },
};

static boot_t *boot;
static xp_t *xp;
#define NODE_MAX 4096
static bool lost_seen[NODE_MAX];

int node_rank(void)
{
	return boot ? boot_rank(boot) : 0;
}

int node_size(void)
{
	return boot ? boot_size(boot) : 1;
}

xp_t *node_xp(void)
{
	return xp;
}

boot_t *node_boot(void)
{
	return boot;
}

static volatile bool leaving; /* peers going away is expected now */

/* Progress thread: a peer stopped answering. */
static void node_lost(int peer, const char *reason, void *arg)
{
	char msg[256];

	if (leaving)
		return;
	if (peer >= 0 && peer < NODE_MAX)
		lost_seen[peer] = true;
	snprintf(msg, sizeof(msg), "node %d lost (%s)", peer, reason);
	vm_exit(arg, CVMM_EXIT_FAILURE, msg);
}

/* A message from node 0: the VM has ended. */
static void node_on_shutdown(xp_t *x, int src, const void *data, size_t len,
			     void *arg)
{
	if (src != 0) {
		log_warn("node %d sent a shutdown: ignored (only node 0 may)",
			 src);
		return;
	}
	log_debug("node 0 ended the vm: exiting");
	boot_fini(boot); /* PMIx_Finalize: mpirun wants a proper exit */
	_exit(0);
}

/* vm_exit hook on node 0: tell every agent still reachable, flushed. */
static void node_on_exit(int status)
{
	int32_t st = status;

	if (!xp || node_rank() != 0)
		return;
	for (int peer = 1; peer < node_size(); peer++) {
		if (lost_seen[peer])
			continue;
		if (xp_am_send(xp, peer, NODE_AM_SHUTDOWN, &st, sizeof(st)) ==
		    CVMM_OK)
			xp_flush(xp, peer);
	}
	leaving = true;
	boot_fini(boot);
}

static cvmm_status_t node_exchange_addresses(int timeout_ms)
{
	const void *addr;
	size_t len, *lens;
	void **all;
	cvmm_status_t st;

	st = xp_address(xp, &addr, &len);
	if (st != CVMM_OK)
		return st;
	st = boot_allgather(boot, addr, len, &all, &lens);
	if (st != CVMM_OK)
		return st;
	st = xp_connect(xp, (const void *const *)all, lens, timeout_ms);
	boot_free_all(boot, all, lens);
	return st;
}

/* Registers the agent view and records every peer's (same addresses on
 * every node, different keys). */
static cvmm_status_t node_exchange_memory(gmem_t *gm)
{
	uint64_t base = (uint64_t)(uintptr_t)gmem_agent(GMEM_LO);
	uint64_t len = GMEM_HI - GMEM_LO;
	const void *rkey;
	size_t rkey_len, *lens;
	void **all;
	cvmm_status_t st;

	st = xp_mem_register(xp, gmem_agent(GMEM_LO), len, &rkey, &rkey_len);
	if (st != CVMM_OK)
		return st;
	st = boot_allgather(boot, rkey, rkey_len, &all, &lens);
	if (st != CVMM_OK)
		return st;
	for (int r = 0; r < node_size() && st == CVMM_OK; r++)
		if (r != node_rank())
			st = xp_mem_remote(xp, r, base, len, all[r], lens[r]);
	boot_free_all(boot, all, lens);
	return st;
}

static cvmm_status_t node_xp_opts(xp_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	if (!xp_transport_parse(node_opts.transport, &o->transport) ||
	    !xp_progress_parse(node_opts.progress, &o->progress))
		return CVMM_ERR_INVALID;
	o->spin_us = 50;
	o->iface = node_opts.iface;
	return CVMM_OK;
}

cvmm_status_t node_start(gmem_t *gm, vm_t *vm)
{
	boot_opts_t bo = { .rank = node_opts.rank, .size = node_opts.size,
			   .coordinator = node_opts.coordinator,
			   .timeout_ms = node_opts.timeout_ms };
	xp_opts_t xo;
	cvmm_status_t st;

	st = boot_init(&bo, &boot);
	if (st != CVMM_OK)
		return st;
	if (node_opts.nodes > 1 && node_opts.nodes != boot_size(boot))
		log_warn("-n %d ignored: the launcher started %d agents",
			 node_opts.nodes, boot_size(boot));
	st = node_xp_opts(&xo);
	if (st == CVMM_OK)
		st = xp_init(&xo, boot_rank(boot), boot_size(boot),
			     boot_cookie(boot), &xp);
	/* handlers before connecting: an unhandled message is dropped */
	if (st == CVMM_OK)
		st = xp_am_register(xp, NODE_AM_SHUTDOWN, node_on_shutdown,
				    NULL);
	if (st == CVMM_OK)
		st = node_exchange_addresses(node_opts.timeout_ms);
	if (st == CVMM_OK)
		st = node_exchange_memory(gm);
	if (st == CVMM_OK)
		st = xp_start(xp, node_lost, vm);
	if (st != CVMM_OK) {
		log_error("node %d: cannot join the job: %s",
			  boot_rank(boot), cvmm_status_str(st));
		return st;
	}
	vm->on_exit = node_on_exit;
	log_info("node %d of %d connected via %s", boot_rank(boot),
		 boot_size(boot), boot_method(boot));
	return CVMM_OK;
}

void node_leave(int status)
{
	leaving = true;
	if (boot) {
		boot_barrier(boot);
		boot_fini(boot);
	}
	fflush(NULL);
	_exit(status);
}
