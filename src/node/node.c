/* The node agent's life: join, connect, register, serve, shut down. */
#include "node/node.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/dfutex.h"
#include "common/log.h"
#include "node/join.h"
#include "node/svc.h"
#include "rdma/dl_verbs.h"

node_opts_t node_opts;

static const char *const page_transfer_names[] = {
	[NODE_PAGE_PUSH] = "push", [NODE_PAGE_GET] = "get",
	[NODE_PAGE_AUTO] = "auto", NULL,
};
static const char *const memory_model_names[] = {
	[NODE_MM_SEQUENTIAL] = "sequential", [NODE_MM_RELEASE] = "release",
	NULL,
};
static const char *const balance_names[] = {
	[NODE_BALANCE_OFF] = "off", [NODE_BALANCE_AUTO] = "auto", NULL,
};
static const char *const on_race_names[] = {
	[NODE_RACE_STOP] = "stop", [NODE_RACE_WARN] = "warn", NULL,
};

#define OPT(f) offsetof(node_opts_t, f)
const cfg_field_t node_fields[] = {
	{ "nodes", "1", "node agents cvmm run starts on this machine",
	  OPT(nodes), CFG_INT, NULL, 'n', NULL, NULL },
	{ "rank", "-1", "this agent's rank (-1: from the launcher)",
	  OPT(rank), CFG_INT, NULL, 0, NULL, NULL },
	{ "size", "-1", "number of agents (-1: from the launcher)",
	  OPT(size), CFG_INT, NULL, 0, NULL, NULL },
	{ "coordinator", NULL, "HOST:PORT where rank 0 serves the bootstrap",
	  OPT(coordinator), CFG_STRING, "HOST:PORT", 0, NULL, NULL },
	{ "selftest", NULL, "check the fabric between the agents (=bench: "
	  "measure it) instead of running a program",
	  OPT(selftest), CFG_OPTSTR, "bench", 0, "check", NULL },
	{ "transport", "auto", "the fabric (UCX_* variables still apply)",
	  OPT(transport), CFG_ENUM, NULL, 0, NULL, xp_transport_names },
	{ "progress", "hybrid", "how agents wait for the network",
	  OPT(progress), CFG_ENUM, NULL, 0, NULL, xp_progress_names },
	{ "iface", NULL, "network devices for UCX (UCX_NET_DEVICES), e.g. "
	  "eth1 or mlx5_0:1",
	  OPT(iface), CFG_STRING, "DEV", 0, NULL, NULL },
	{ "timeout-ms", "30000", "bootstrap and connection timeout",
	  OPT(timeout_ms), CFG_INT, NULL, 0, NULL, NULL },
	{ "placement", "spread", "node of each guest thread: spread "
	  "(round robin), pack (fill a node's vCPUs first), FILE (one "
	  "node number per line, in creation order) or auto (as spread, then "
	  "threads move to the node their pages come from)",
	  OPT(placement), CFG_STRING, "spread|pack|auto|FILE", 0, NULL, NULL },
	{ "migrate-every", "0", "test mode: every guest thread moves to the "
	  "next node after every N trap points (coherence faults and syscall "
	  "returns; 0: off)",
	  OPT(migrate_every), CFG_INT, NULL, 0, NULL, NULL },
	{ "page-transfer", "auto", "how a page reaches a node that faults on "
	  "it: push (the owner sends it with its grant), get (the faulting "
	  "node reads it with a one-sided get) or auto (get when every agent "
	  "reaches the others over RDMA, else push)",
	  OPT(page_transfer), CFG_ENUM, NULL, 0, NULL, page_transfer_names },
	{ "hold-max-us", "1000", "holding window: a page that bounces "
	  "between nodes stays up to this many microseconds where it arrived "
	  "before a request takes it away (adaptive per page; 0: off)",
	  OPT(hold_max_us), CFG_INT, NULL, 0, NULL, NULL },
	{ "read-ahead", "16", "read-ahead: a thread whose read faults walk "
	  "through memory (up by one page, or by one stride up or down) also "
	  "asks for up to this many pages of the walk after the one it "
	  "faulted on, in the same messages (0: off; push transfers only)",
	  OPT(read_ahead), CFG_INT, NULL, 0, NULL, NULL },
	{ "memory-model", "sequential", "what the guest's memory promises "
	  "across nodes: sequential (every program runs as on one machine) or "
	  "release (several nodes write one page at once; only for programs "
	  "whose conflicting accesses are ordered by locks, atomics, futexes "
	  "or thread creation and join: docs/coherence.md)",
	  OPT(memory_model), CFG_ENUM, NULL, 0, NULL, memory_model_names },
	{ "on-race", "stop", "release model: a data race seen (two nodes "
	  "wrote one byte unordered) stops the VM, or only warns",
	  OPT(on_race), CFG_ENUM, NULL, 0, NULL, on_race_names },
	{ "staleness-ms", "5", "release model: writes not released yet "
	  "are sent home at least every this many ms, so a loop spinning on "
	  "a plain flag sees it change (0: only at synchronization)",
	  OPT(staleness_ms), CFG_INT, NULL, 0, NULL, NULL },
	{ "twin-ahead", "16", "release model: a write fault on a data page "
	  "also makes up to this many pages after it writable, those this "
	  "node wrote in its last interval, so that their first writes do "
	  "not fault (0: off)",
	  OPT(twin_ahead), CFG_INT, NULL, 0, NULL, NULL },
	{ "balance", "off", "auto: every second node 0 looks at how much CPU "
	  "each node's guest threads get, and a node whose threads wait for "
	  "a CPU (the machine is shared) gives one to a node with an idle "
	  "core (off: only cvmm ctl balance does)",
	  OPT(balance), CFG_ENUM, NULL, 0, NULL, balance_names },
	{ "max-nodes", "0", "slots of the VM: nodes may join a running VM "
	  "until it has this many (cvmm ctl add-node, --join; 0: the agents "
	  "started, no joins)",
	  OPT(max_nodes), CFG_INT, NULL, 0, NULL, NULL },
	{ "join", NULL, "join the running VM whose node 0 listens at "
	  "HOST:PORT (cvmm ctl join-info tells it; the job cookie in "
	  "CVMM_JOB_COOKIE) instead of starting one",
	  OPT(join), CFG_STRING, "HOST:PORT", 0, NULL, NULL },
	{ "join-listen", "auto", "node 0 of a VM with free slots: where "
	  "joining agents connect (auto: 127.0.0.1 under cvmm run -n, else "
	  "the coordinator's address or every address; off: nowhere)",
	  OPT(join_listen), CFG_STRING, "HOST:PORT|auto|off", 0, NULL,
	  NULL },
	{ "join-epoch", "0", "--join: refuse to join unless the VM's "
	  "membership is at this epoch (0: any)",
	  OPT(join_epoch), CFG_INT, NULL, 0, NULL, NULL },
	{ NULL },
};

static boot_t *boot;
static xp_t *xp;
#define NODE_MAX 4096
static bool lost_seen[NODE_MAX];

/* This agent's rank and the job's size, kept from the bootstrap: the exit
 * paths free the bootstrap (boot_fini) while other threads still ask. */
static int self_rank, job_size = 1, live_at_start = 1;
static uint8_t start_roles[NODE_SLOTS_MAX];

int node_live_at_start(void)
{
	return live_at_start;
}

const uint8_t *node_start_roles(void)
{
	return start_roles;
}

/* Every node's worker address and memory key (node 0 gives them to a
 * joining node); written before the node is in the VM, read after. */
static struct {
	void *addr, *rkey;
	size_t addr_len, rkey_len;
} peer_blob[NODE_SLOTS_MAX];

/* *dst becomes a copy of src[0..len) (NULL src: unchanged). */
static cvmm_status_t blob_set(void **dst, size_t *dlen, const void *src,
			      size_t len)
{
	void *b;

	if (!src)
		return CVMM_OK;
	b = malloc(len ? len : 1);
	if (!b)
		return CVMM_ERR_NOMEM;
	memcpy(b, src, len);
	free(*dst);
	*dst = b;
	*dlen = len;
	return CVMM_OK;
}

cvmm_status_t node_peer_keep(int k, const void *addr, size_t addr_len,
			     const void *rkey, size_t rkey_len)
{
	cvmm_status_t st;

	if (k < 0 || k >= NODE_SLOTS_MAX)
		return CVMM_ERR_INVALID;
	st = blob_set(&peer_blob[k].addr, &peer_blob[k].addr_len, addr,
		      addr_len);
	return st == CVMM_OK ? blob_set(&peer_blob[k].rkey,
					&peer_blob[k].rkey_len, rkey, rkey_len)
			     : st;
}

const void *node_peer_addr(int k, size_t *len)
{
	if (k < 0 || k >= NODE_SLOTS_MAX || !peer_blob[k].addr)
		return NULL;
	*len = peer_blob[k].addr_len;
	return peer_blob[k].addr;
}

const void *node_peer_rkey(int k, size_t *len)
{
	if (k < 0 || k >= NODE_SLOTS_MAX || !peer_blob[k].rkey)
		return NULL;
	*len = peer_blob[k].rkey_len;
	return peer_blob[k].rkey;
}

int node_rank(void)
{
	return self_rank;
}

static bool departed[NODE_MAX];
/* The epoch at which each node joined (0: it started with the VM): what it
 * sends carries that epoch or a later one (node_admit). */
static uint32_t joined_at[NODE_MAX];

bool node_departed(int k)
{
	return k >= 0 && k < NODE_MAX &&
	       __atomic_load_n(&departed[k], __ATOMIC_ACQUIRE);
}

void node_set_departed(int k)
{
	if (k >= 0 && k < NODE_MAX)
		__atomic_store_n(&departed[k], true, __ATOMIC_RELEASE);
}

void node_set_joined(int k, uint64_t epoch)
{
	if (k < 0 || k >= NODE_MAX)
		return;
	__atomic_store_n(&joined_at[k], (uint32_t)epoch, __ATOMIC_RELEASE);
	__atomic_store_n(&departed[k], false, __ATOMIC_RELEASE);
}

int node_vcpus_rehost(vm_t *vm)
{
	int *count = calloc((size_t)job_size, sizeof(*count)), in = 0, here;
	uint16_t *hosts = vm ? calloc((size_t)vm->nvcpus, sizeof(*hosts))
			     : NULL;

	for (int k = 0; count && k < job_size; k++)
		in += !node_departed(k);
	if (!count || !hosts || in == 0 || job_size < 2) {
		free(count);
		free(hosts);
		return -1;
	}
	/* each node in its own slot's, then the others' one by one to the
	 * node in hosting fewest so far (the lowest of equals) */
	for (int i = 0; i < vm->nvcpus; i++)
		if (!node_departed(i % job_size)) {
			hosts[i] = (uint16_t)(i % job_size);
			count[i % job_size]++;
		}
	for (int i = 0; i < vm->nvcpus; i++) {
		int best = -1;

		if (!node_departed(i % job_size))
			continue;
		for (int k = 0; k < job_size; k++)
			if (!node_departed(k) &&
			    (best < 0 || count[k] < count[best]))
				best = k;
		hosts[i] = (uint16_t)best;
		count[best]++;
	}
	here = vm_vcpus_rehost(vm, hosts);
	log_debug("vcpus: %d of %d on this node", here, vm->nvcpus);
	free(count);
	free(hosts);
	return here;
}

void node_set_epoch(uint64_t epoch)
{
	if (xp)
		xp_set_epoch(xp, (uint32_t)epoch);
}

int node_size(void)
{
	return job_size;
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

void node_out(void)
{
	leaving = true;
	if (xp)
		xp_quiet(xp);
}

/* The VM ends because a node was lost: on a thread of its own, so the
 * progress thread stays free to handle node 0's SHUTDOWN meanwhile. */
static void *node_lost_main(void *msg)
{
	/* A node other than 0 may just be leaving first when node 0 ends the
	 * VM: its SHUTDOWN, already on the way, ends this agent quietly. */
	if (node_rank() != 0 && !strstr(msg, "node 0 "))
		usleep(1000 * 1000);
	vm_exit(&cvmm_vm, CVMM_EXIT_FAILURE, msg);
}

/* Progress thread: a peer stopped answering. */
static void node_lost(int peer, const char *reason, void *arg)
{
	char msg[256];
	pthread_t th;

	if (peer >= 0 && peer < NODE_MAX)
		__atomic_store_n(&lost_seen[peer], true, __ATOMIC_RELEASE);
	if (leaving)
		return;
	if (node_departed(peer)) { /* it left (cvmm ctl remove-node) */
		log_debug("node %d gone after leaving: %s", peer, reason);
		return;
	}
	snprintf(msg, sizeof(msg), "node %d lost (%s)", peer, reason);
	if (pthread_create(&th, NULL, node_lost_main, strdup(msg)) != 0)
		vm_exit(arg, CVMM_EXIT_FAILURE, msg);
}

/* Node 0, ending the VM: SHUTDOWNs sent and not yet confirmed. Node 0
 * exits after every node did (or 2 s): a node that saw node 0's
 * connection go first would take it for a lost node 0 and end with a
 * failure, which mpirun reports. */
static bool shutting;
static bool sd_sent[NODE_MAX], sd_confirmed[NODE_MAX];

/* Node k: confirms node 0's SHUTDOWN, then exits (on a thread of its own:
 * the flush cannot run inside a handler). */
static void *node_shutdown_main(void *arg)
{
	int32_t ack = 0;

	if (xp_am_send(xp, 0, NODE_AM_SHUTDOWN, &ack, sizeof(ack)) ==
	    CVMM_OK)
		xp_flush(xp, 0);
	boot_fini(boot); /* PMIx_Finalize: mpirun wants a proper exit */
	_exit(0);
}

/* A message from node 0: the VM has ended; at node 0, a node's
 * confirmation of it. */
static void node_on_shutdown(xp_t *x, int src, const void *data, size_t len,
			     void *arg)
{
	pthread_t th;

	if (src != 0) {
		if (node_rank() == 0 && src > 0 && src < NODE_MAX &&
		    __atomic_load_n(&shutting, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&sd_confirmed[src], true,
					 __ATOMIC_RELEASE);
			return;
		}
		log_warn("node %d sent a shutdown: ignored (only node 0 may)",
			 src);
		return;
	}
	log_debug("node 0 ended the vm: exiting");
	leaving = true; /* node 0 goes once this node is gone */
	xp_quiet(xp);   /* and may go before we do: no news then */
	if (pthread_create(&th, NULL, node_shutdown_main, NULL) != 0) {
		boot_fini(boot);
		_exit(0);
	}
}

/* vm_exit hook on nodes > 0 of a VM: node 0 ends the VM everywhere (its
 * SHUTDOWN ends this process); give it a few seconds, unless it is gone. */
static void node_on_exit_member(int status)
{
	if (lost_seen[0])
		return;
	node_svc_exit(status);
	leaving = true;
	for (int i = 0; i < 50; i++)
		usleep(100000);
}

/* Every node sent a SHUTDOWN confirmed it or was lost. */
static bool shutdown_confirmed(void)
{
	for (int peer = 1; peer < node_size() && peer < NODE_MAX; peer++)
		if (sd_sent[peer] &&
		    !__atomic_load_n(&sd_confirmed[peer], __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&lost_seen[peer], __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* vm_exit hook on node 0: tell every agent still reachable, flushed, and
 * wait (2 s at most) until each has confirmed or is gone. */
static void node_on_exit(int status)
{
	int32_t st = status;

	if (!xp) { /* a job of one: nobody to tell */
		leaving = true;
		boot_fini(boot);
		return;
	}
	xp_quiet(xp);
	if (node_rank() != 0) {
		node_on_exit_member(status);
		return;
	}
	__atomic_store_n(&shutting, true, __ATOMIC_RELEASE);
	for (int peer = 1; peer < node_size() && peer < NODE_MAX; peer++) {
		if (lost_seen[peer] || node_departed(peer))
			continue;
		if (xp_am_send(xp, peer, NODE_AM_SHUTDOWN, &st, sizeof(st)) ==
		    CVMM_OK) {
			sd_sent[peer] = true;
			xp_flush(xp, peer);
		}
	}
	leaving = true;
	for (int i = 0; i < 2000 && !shutdown_confirmed(); i++)
		usleep(1000);
	boot_fini(boot);
}

static cvmm_status_t node_exchange_addresses(int timeout_ms)
{
	const void *addr;
	size_t len, *lens;
	void **all;
	cvmm_status_t st;

	const void **addrs = calloc((size_t)job_size, sizeof(*addrs));
	size_t *alens = calloc((size_t)job_size, sizeof(*alens));

	st = !addrs || !alens ? CVMM_ERR_NOMEM : xp_address(xp, &addr, &len);
	if (st == CVMM_OK)
		st = boot_allgather(boot, addr, len, &all, &lens);
	if (st != CVMM_OK) {
		free(addrs);
		free(alens);
		return st;
	}
	/* the free slots stay unconnected until a node joins into one */
	for (int r = 0; r < live_at_start && st == CVMM_OK; r++) {
		addrs[r] = all[r];
		alens[r] = lens[r];
		st = node_peer_keep(r, all[r], lens[r], NULL, 0);
	}
	if (st == CVMM_OK)
		st = xp_connect(xp, (const void *const *)addrs, alens,
				timeout_ms);
	boot_free_all(boot, all, lens);
	free(addrs);
	free(alens);
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
	for (int r = 0; r < live_at_start && st == CVMM_OK; r++) {
		st = node_peer_keep(r, NULL, 0, all[r], lens[r]);
		if (st == CVMM_OK && r != node_rank())
			st = xp_mem_remote(xp, r, base, len, all[r], lens[r]);
	}
	boot_free_all(boot, all, lens);
	return st;
}

/* The name of the local interface holding address a (IPv4 or IPv6), into
 * name (IF_NAMESIZE); false when none does. */
static bool node_iface_of(const struct sockaddr *a, char *name)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != a->sa_family)
			continue;
		if (a->sa_family == AF_INET)
			found = ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
				((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		else
			found = !memcmp(
				&((const struct sockaddr_in6 *)a)->sin6_addr,
				&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
				sizeof(struct in6_addr));
		if (found)
			snprintf(name, IF_NAMESIZE, "%s", i->ifa_name);
	}
	freeifaddrs(ifs);
	return found;
}

/* The interface this host reaches the coordinator HOST:PORT through (the
 * route a UDP socket connected to it takes; nothing is sent). */
static bool node_iface_to(const char *coordinator, char *name)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	bool ok = false;
	int fd;

	snprintf(host, sizeof(host), "%s", coordinator);
	colon = strrchr(host, ':');
	if (!colon)
		return false;
	*colon = '\0';
	if (host[0] == '[' && colon > host && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return false;
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &len) == 0)
		ok = node_iface_of((struct sockaddr *)&me, name);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ok;
}

/* True when this host has an RDMA device (UCX's ib transports use it
 * without listening sockets, so it is not limited here). */
static bool node_has_rdma(void)
{
	int n = 0;
	struct ibv_device **l;

	if (verbs_load(LOG_LVL_DEBUG) != CVMM_OK)
		return false;
	l = verbs.ibv_get_device_list(&n);
	if (l)
		verbs.ibv_free_device_list(l);
	return l && n > 0;
}

/* ---- --page-transfer ----------------------------------------------------- */

/* Why an agent cannot read pages with one-sided RDMA (0: it can). */
enum { NODE_RDMA_READS = 0, NODE_RDMA_NOT_TRANSPORT, NODE_RDMA_NO_PORT };

static bool node_dev_active(struct ibv_device *d)
{
	struct ibv_device_attr attr;
	struct ibv_port_attr pa;
	struct ibv_context *ctx;
	bool active = false;

	if (d->transport_type == IBV_TRANSPORT_IWARP) /* not used by UCX */
		return false;
	ctx = verbs.ibv_open_device(d);
	if (!ctx)
		return false;
	if (verbs.ibv_query_device(ctx, &attr) == 0)
		for (unsigned p = 1; p <= attr.phys_port_cnt && !active; p++)
			active = verbs_query_port(ctx, (uint8_t)p, &pa) == 0 &&
				 pa.state == IBV_PORT_ACTIVE;
	verbs.ibv_close_device(ctx);
	return active;
}

/* Whether UCX will reach the other agents from here over verbs (rc, dc:
 * reads served by the NIC, not the owner's CPU): --transport is auto or
 * rdma and an RDMA port is ACTIVE, which is what cvmm info's verdict calls
 * rdma. Over tcp UCX emulates a get with messages the owner's progress
 * thread serves, shm copies: there the grant might as well carry the page. */
static uint8_t node_rdma_reads(void)
{
	struct ibv_device **l;
	bool active = false;
	int n = 0;

	if (node_opts.transport != XP_TRANSPORT_AUTO &&
	    node_opts.transport != XP_TRANSPORT_RDMA)
		return NODE_RDMA_NOT_TRANSPORT;
	if (verbs_load(LOG_LVL_DEBUG) != CVMM_OK)
		return NODE_RDMA_NO_PORT;
	l = verbs.ibv_get_device_list(&n);
	for (int i = 0; l && i < n && !active; i++)
		active = node_dev_active(l[i]);
	if (l)
		verbs.ibv_free_device_list(l);
	return active ? NODE_RDMA_READS : NODE_RDMA_NO_PORT;
}

/* --page-transfer as this agent applies it; *push false: get. auto is get
 * only when every agent reads with RDMA (node_rdma_reads), else push. The
 * agents' views may differ (hosts with and without a NIC), so every agent
 * gives its own to one allgather (every agent makes it, whatever its
 * option) and applies the same rule to the same list: all the agents
 * that say auto choose alike. An explicit push or get is the agent's own
 * (a node takes either from its peers). */
static cvmm_status_t node_page_push(bool *push)
{
	static const char *const why[] = {
		[NODE_RDMA_NOT_TRANSPORT] = "--transport is tcp or shm",
		[NODE_RDMA_NO_PORT] = "no ACTIVE RDMA port",
	};
	uint8_t mine = node_rdma_reads(), v = NODE_RDMA_READS;
	int without = -1;
	size_t *lens;
	void **all;
	cvmm_status_t st = boot_allgather(boot, &mine, 1, &all, &lens);

	if (st != CVMM_OK)
		return st;
	for (int r = 0; r < live_at_start && without < 0; r++) {
		v = lens[r] == 1 ? *(const uint8_t *)all[r] : NODE_RDMA_NO_PORT;
		if (v != NODE_RDMA_READS)
			without = r;
	}
	boot_free_all(boot, all, lens);
	if (node_opts.page_transfer != NODE_PAGE_AUTO) {
		*push = node_opts.page_transfer == NODE_PAGE_PUSH;
		return CVMM_OK;
	}
	*push = without >= 0;
	if (*push)
		log_info("page transfer: push (auto: node %d: %s)", without,
			 why[v <= NODE_RDMA_NO_PORT ? v : NODE_RDMA_NO_PORT]);
	else
		log_info("page transfer: get (auto: every agent reads pages "
			 "over RDMA)");
	return CVMM_OK;
}

/* The network interfaces UCX may use and listen on, when the user named
 * none (--iface, UCX_NET_DEVICES): the one towards the coordinator, or, for
 * agents all on this machine (cvmm run -n) without RDMA, loopback only.
 * Otherwise UCX's own choice (every interface). A joining agent: the one
 * towards node 0's join address. */
static const char *node_iface_default(char *buf)
{
	if (node_opts.iface)
		return node_opts.iface;
	if (getenv("UCX_NET_DEVICES"))
		return NULL;
	if (node_opts.join) /* the one towards node 0 */
		return node_iface_to(node_opts.join, buf) ? buf : NULL;
	if (node_opts.coordinator && node_iface_to(node_opts.coordinator, buf))
		return buf;
	if (boot && !strcmp(boot_method(boot), "launcher") && !node_has_rdma())
		return "lo";
	return NULL;
}

static cvmm_status_t node_xp_opts(xp_opts_t *o)
{
	static char iface[IF_NAMESIZE];

	memset(o, 0, sizeof(*o));
	o->transport = (xp_transport_t)node_opts.transport;
	o->progress = (xp_progress_t)node_opts.progress;
	/* hybrid: keep polling 0.5 ms after the last message. A remote fault
	 * is several messages ~20-50 us apart; sleeping after 50 us made
	 * every hop pay an event-fd wake-up (faultbench read: 370 -> 230 us) */
	o->spin_us = 500;
	o->iface = node_iface_default(iface);
	if (o->iface && !node_opts.iface)
		log_info("transport on %s only (--iface chooses)", o->iface);
	return CVMM_OK;
}

/* ---- one VM over several agents ---------------------------------------- */

/* A send to a peer that has just died can fail (a held forward, a grant)
 * before the transport reports the peer lost: the loss is then the reason
 * the job ends, and its line the one to print. So a fatal error waits up
 * to 1.5 s (longer than node_lost_main's own wait) for a lost peer, and
 * leaves the ending to node_lost when one shows. */
static void *node_fatal_main(void *why)
{
	for (int i = 0; i < 150; i++) {
		for (int p = 0; p < NODE_MAX; p++)
			/* a node that left goes without ending anything */
			if (__atomic_load_n(&lost_seen[p], __ATOMIC_ACQUIRE) &&
			    !node_departed(p))
				return NULL;
		usleep(10 * 1000);
	}
	vm_exit(&cvmm_vm, CVMM_EXIT_FAILURE, why);
}

/* The coherence protocol broke. Possibly called inside a message handler,
 * where vm_exit could not flush: a thread ends the VM. */
static void node_fatal(const char *why)
{
	static int once;
	pthread_t th;

	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		return;
	if (pthread_create(&th, NULL, node_fatal_main, strdup(why)) != 0)
		vm_exit(&cvmm_vm, CVMM_EXIT_FAILURE, why);
}

static cvmm_status_t dfx_send(void *ctx, int dst, const void *msg, size_t len)
{
	return xp_am_send(xp, dst, NODE_AM_FUTEX, msg, len);
}

static int dfx_read(void *ctx, uint64_t uaddr, uint32_t *val)
{
	const uint32_t *w = gmem_ptr(&cvmm_gmem, uaddr, 4, PROT_READ);

	if (!w)
		return -EFAULT;
	*val = __atomic_load_n(w, __ATOMIC_SEQ_CST);
	return 0;
}

static bool dfx_spin(void *ctx, const uint32_t *word, uint32_t old,
		     uint64_t ns)
{
	return xp_progress_until(xp, word, old, ns);
}

static bool dfx_interrupted(void *ctx)
{
	return node_svc_interrupted();
}

static const dfx_ops_t dfx_ops = { .send = dfx_send, .read_word = dfx_read,
				   .spin = dfx_spin,
				   .interrupted = dfx_interrupted };

static void node_on_futex(xp_t *x, int src, const void *data, size_t len,
			  void *arg)
{
	if (cvmm_dfx)
		dfx_recv(cvmm_dfx, src, data, len);
}

static bool pages_pushed;

bool node_pages_pushed(void)
{
	return pages_pushed;
}

/* Coherence, futex and release-model messages from a node out of the VM
 * (left, or a free slot) are dropped: every role, owner and copy that
 * could have named it names its heir, so one arriving is a bug or a stale
 * agent. The services check theirs (svc.c), the transport's own and the
 * shutdown's pass. */
static bool admit_warned[NODE_MAX];

static bool node_admit(int src, unsigned id, uint32_t epoch)
{
	uint32_t in = src >= 0 && src < NODE_MAX
			      ? __atomic_load_n(&joined_at[src],
						__ATOMIC_ACQUIRE)
			      : 0;

	if (epoch < in) { /* sent before the node was in the VM */
		if (!__atomic_exchange_n(&admit_warned[src], true,
					 __ATOMIC_RELAXED))
			log_warn("node %d sent a message of epoch %u, before "
				 "it joined (epoch %u): dropped (and any more)",
				 src, epoch, in);
		return false;
	}
	if (id == NODE_AM_SVC || id == NODE_AM_SHUTDOWN || !node_departed(src))
		return true;
	if (src >= 0 && src < NODE_MAX &&
	    !__atomic_exchange_n(&admit_warned[src], true, __ATOMIC_RELAXED))
		log_warn("node %d is not in the VM: its message %u dropped "
			 "(and any more)", src, id);
	return false;
}

/* Slot k used again by a new agent (svc_join.c): the transport forgets the
 * old one, and so do the loss and shutdown records and the admit warning. */
cvmm_status_t node_peer_reset(int k, uint64_t min_epoch)
{
	cvmm_status_t st;

	if (k <= 0 || k >= NODE_MAX || k >= job_size || !xp ||
	    !node_departed(k))
		return CVMM_ERR_INVALID;
	st = xp_peer_reset(xp, k, (uint32_t)min_epoch);
	if (st != CVMM_OK)
		return st;
	/* the old agent's loss was reported inside the reset, if at all */
	__atomic_store_n(&lost_seen[k], false, __ATOMIC_RELEASE);
	__atomic_store_n(&sd_sent[k], false, __ATOMIC_RELEASE);
	__atomic_store_n(&sd_confirmed[k], false, __ATOMIC_RELEASE);
	__atomic_store_n(&admit_warned[k], false, __ATOMIC_RELAXED);
	return CVMM_OK;
}

/* Before connecting: the handlers of a multi-node VM. push: the page
 * transfer a joining node takes from node 0; NULL: agreed by all
 * (node_page_push). */
static cvmm_status_t node_vm_register(gmem_t *gm, vm_t *vm, const bool *push)
{
	coh_rt_cfg_t cc = { .xp = xp, .self = node_rank(),
			    .nnodes = node_size(), .am_id = NODE_AM_COH,
			    .memfd = gm->memfd, .lo = GMEM_LO, .hi = GMEM_HI,
			    .delta = GMEM_DELTA, .fatal = node_fatal,
			    .hold_max_us = node_opts.hold_max_us,
			    .guest_idle = vm_guest_idle,
			    .read_ahead = node_opts.read_ahead,
			    .release = node_opts.memory_model ==
				       NODE_MM_RELEASE,
			    .rc_am_id = NODE_AM_RC,
			    .race_warn = node_opts.on_race == NODE_RACE_WARN,
			    .staleness_ms = node_opts.staleness_ms,
			    .twin_ahead = node_opts.twin_ahead,
			    .stuck = node_svc_describe,
			    .host = start_roles };
	cvmm_status_t st;

	for (int k = 0; k < node_size() && k < 64; k++)
		if (k == node_rank() || !node_departed(k))
			cc.members |= 1ull << k;

	xp_set_admit(xp, node_admit);
	if (vm->nvcpus < node_size()) {
		log_error("%d vCPUs cannot span %d nodes: use -v %d or more",
			  vm->nvcpus, node_size(), node_size());
		return CVMM_ERR_INVALID;
	}
	if (push)
		cc.push = *push;
	st = push ? CVMM_OK : node_page_push(&cc.push);
	pages_pushed = cc.push;
	if (st == CVMM_OK)
		st = coh_rt_init(&cc);
	if (st == CVMM_OK)
		st = dfx_create(node_rank(), node_size(), &dfx_ops, NULL,
				&cvmm_dfx);
	if (st == CVMM_OK)
		st = dfx_set_roles(cvmm_dfx, start_roles);
	if (st == CVMM_OK)
		st = xp_am_register(xp, NODE_AM_FUTEX, node_on_futex, NULL);
	if (st == CVMM_OK)
		st = node_svc_init(gm, vm);
	return st;
}

/* After connecting: userfaultfd, one pid for the guest, vCPUs per node.
 * Coherence starts before the gather, which is then the point after which
 * every node has it on: node 0 loads the program only after the gather,
 * and each node's progress thread, running since xp_start, applies the
 * layout node 0 publishes as it comes. A node whose coherence started
 * after the image reached it would skip the image (coh_rt_image) and take
 * node 0 for every page's first owner, unlike the others (the release
 * model's "ocean -n 4" failure of 2026-12-07, docs/coherence.md). */
static cvmm_status_t node_vm_start(gmem_t *gm, vm_t *vm)
{
	int32_t mine[3] = { getpid(), vm->nvcpus, node_opts.memory_model },
		first[3];
	size_t *lens;
	void **all;
	cvmm_status_t st;

	st = coh_rt_start();
	if (st != CVMM_OK)
		return st;
	gm->coherent = true;
	st = boot_allgather(boot, mine, sizeof(mine), &all, &lens);
	if (st != CVMM_OK)
		return st;
	memcpy(first, all[0], sizeof(first));
	boot_free_all(boot, all, lens);
	if (first[1] != vm->nvcpus) {
		log_error("node %d has %d vCPUs but node 0 has %d: give every "
			  "agent the same -v", node_rank(), vm->nvcpus,
			  first[1]);
		return CVMM_ERR_INVALID;
	}
	if (first[2] != node_opts.memory_model) {
		log_error("node %d runs the %s memory model but node 0 the %s "
			  "one: give every agent the same --memory-model",
			  node_rank(), memory_model_names[node_opts.memory_model],
			  first[2] == NODE_MM_RELEASE ? "release" : "sequential");
		return CVMM_ERR_INVALID;
	}
	vm_set_nodes(vm, node_rank(), node_size(),
		     strcmp(boot_method(boot), "launcher") == 0, first[0]);
	node_vcpus_rehost(vm); /* free slots' vCPUs */
	vm->nodes = &node_svc_ops;
	return CVMM_OK;
}

/* Tells cvmm ctl add-node (CVMM_JOIN_NOTIFY_FD) that this node is in. */
static void node_join_notify(void)
{
	const char *v = getenv("CVMM_JOIN_NOTIFY_FD");
	char *end;
	long fd = v ? strtol(v, &end, 10) : -1;

	if (!v || *end || fd < 3 || fd > 65535)
		return;
	dprintf((int)fd, "node %d\n", self_rank);
	close((int)fd);
	unsetenv("CVMM_JOIN_NOTIFY_FD");
}

/* --join ADDR: this agent joins a running VM as a node of its own
 * (node/join.h): node 0 gives it a slot, every node connects to it, it
 * connects to every node, learns the layout, and waits for threads. */
static cvmm_status_t node_join(gmem_t *gm, vm_t *vm)
{
	const char *ck = getenv("CVMM_JOB_COOKIE");
	uint64_t base = (uint64_t)(uintptr_t)gmem_agent(GMEM_LO), cookie,
		 epoch = 0, drained = 0;
	size_t alen, rlen, *lens = NULL;
	const void *addr, *rkey, **addrs = NULL;
	int tmo = node_opts.timeout_ms > 0 ? node_opts.timeout_ms : 30000, fd;
	join_welcome_t w = { 0 };
	join_slot_t s;
	xp_opts_t xo;
	cvmm_status_t st;

	if (!ck || boot_cookie_parse(ck, &cookie) != CVMM_OK) {
		log_error("--join: CVMM_JOB_COOKIE must hold the job's cookie "
			  "(16 hex digits; cvmm ctl join-info tells it)");
		return CVMM_ERR_INVALID;
	}
	if (node_opts.join_epoch < 0) {
		log_error("--join-epoch %d: 0 (any) or more",
			  node_opts.join_epoch);
		return CVMM_ERR_INVALID;
	}
	st = join_dial(node_opts.join, cookie, (uint64_t)node_opts.join_epoch,
		       tmo, &fd, &s);
	if (st != CVMM_OK)
		return st;
	if (s.nvcpus != vm->nvcpus) {
		log_error("--join: the VM has %d vCPUs but this agent %d: give "
			  "it -v %d", s.nvcpus, vm->nvcpus, s.nvcpus);
		close(fd);
		return CVMM_ERR_INVALID;
	}
	/* the VM's memory model, whatever this agent was given */
	if (s.release != (node_opts.memory_model == NODE_MM_RELEASE))
		log_info("--join: the VM runs the %s memory model: so does "
			 "this node", s.release ? "release" : "sequential");
	node_opts.memory_model = s.release ? NODE_MM_RELEASE
					   : NODE_MM_SEQUENTIAL;
	node_opts.on_race = s.race_warn ? NODE_RACE_WARN : NODE_RACE_STOP;
	node_opts.staleness_ms = s.staleness_ms;
	self_rank = s.node;
	job_size = live_at_start = s.size;
	st = node_xp_opts(&xo);
	if (st == CVMM_OK)
		st = xp_init(&xo, s.node, s.size, cookie, &xp);
	/* the epoch with this node in, on everything it sends from its first
	 * HELLO: node 0 holds the membership lock from SLOT to DONE, so it is
	 * the next one; the nodes drop what an earlier agent of this slot
	 * sent (stamped before it) and admit nothing of this node's from an
	 * earlier one (the answers to node 0's resume come before DONE) */
	if (st == CVMM_OK)
		node_set_epoch(s.epoch + 1);
	if (st == CVMM_OK)
		st = xp_am_register(xp, NODE_AM_SHUTDOWN, node_on_shutdown,
				    NULL);
	if (st == CVMM_OK)
		st = xp_address(xp, &addr, &alen);
	if (st == CVMM_OK)
		st = xp_mem_register(xp, gmem_agent(GMEM_LO), GMEM_HI - GMEM_LO,
				     &rkey, &rlen);
	if (st != CVMM_OK) {
		close(fd);
		return st;
	}
	st = join_send_addr(fd, addr, alen, rkey, rlen, tmo);
	if (st == CVMM_OK)
		st = join_recv_welcome(fd, &s, &w, tmo);
	if (st != CVMM_OK)
		return st; /* fd closed */
	memcpy(start_roles, w.roles, (size_t)s.size);
	drained = w.drained;
	for (int k = 0; k < s.size; k++)
		if (k != s.node && !(w.live >> k & 1))
			node_set_departed(k);
	addrs = calloc((size_t)s.size, sizeof(*addrs));
	lens = calloc((size_t)s.size, sizeof(*lens));
	st = addrs && lens ? node_vm_register(gm, vm, &s.push)
			   : CVMM_ERR_NOMEM;
	for (int k = 0; st == CVMM_OK && k < s.size; k++) {
		addrs[k] = w.addr[k];
		lens[k] = w.addr_len[k];
	}
	if (st == CVMM_OK) {
		node_svc_join_apply(w.drained, 0);
		st = xp_connect(xp, (const void *const *)addrs, lens, tmo);
	}
	for (int k = 0; st == CVMM_OK && k < s.size; k++)
		if (w.addr[k])
			st = xp_mem_remote(xp, k, base, GMEM_HI - GMEM_LO,
					   w.rkey[k], w.rkey_len[k]);
	if (st == CVMM_OK)
		st = xp_start(xp, node_lost, vm);
	if (st == CVMM_OK) {
		vm_set_nodes(vm, s.node, s.size, s.same_host, s.pid0);
		node_vcpus_rehost(vm); /* as every node has it now */
		st = coh_rt_start();
	}
	if (st == CVMM_OK) {
		gm->coherent = true;
		vm->nodes = &node_svc_ops;
		gmem_apply(gm, w.layout, w.nlayout);
		st = join_finish(fd, &epoch, tmo);
		fd = -1;
	}
	free(addrs);
	free(lens);
	join_welcome_free(&w);
	if (st != CVMM_OK) {
		if (fd >= 0)
			close(fd);
		log_error("node %d: cannot join the VM: %s", s.node,
			  cvmm_status_str(st));
		return st;
	}
	if (epoch != s.epoch + 1)
		log_warn("join: node 0 says epoch %llu, not %llu",
			 (unsigned long long)epoch,
			 (unsigned long long)s.epoch + 1);
	node_svc_join_apply(drained, epoch);
	vm->on_exit = node_on_exit;
	log_info("node %d of %d joined the VM at %s (epoch %llu)", s.node,
		 s.size, node_opts.join, (unsigned long long)epoch);
	node_join_notify();
	return CVMM_OK;
}

cvmm_status_t node_start(gmem_t *gm, vm_t *vm)
{
	bool vm_nodes;
	boot_opts_t bo = { .rank = node_opts.rank, .size = node_opts.size,
			   .coordinator = node_opts.coordinator,
			   .timeout_ms = node_opts.timeout_ms };
	xp_opts_t xo;
	cvmm_status_t st;

	if (node_opts.join)
		return node_join(gm, vm);
	st = boot_init(&bo, &boot);
	if (st != CVMM_OK)
		return st;
	self_rank = boot_rank(boot);
	job_size = live_at_start = boot_size(boot);
	if (node_opts.nodes > 1 && node_opts.nodes != boot_size(boot))
		log_warn("-n %d ignored: the launcher started %d agents",
			 node_opts.nodes, boot_size(boot));
	if (node_opts.max_nodes != 0 && !node_opts.selftest) {
		if (node_opts.max_nodes < live_at_start ||
		    node_opts.max_nodes > NODE_SLOTS_MAX) {
			log_error("--max-nodes %d: from the %d agents started "
				  "to %d", node_opts.max_nodes, live_at_start,
				  NODE_SLOTS_MAX);
			return CVMM_ERR_INVALID;
		}
		job_size = node_opts.max_nodes;
	}
	for (int v = 0; v < NODE_SLOTS_MAX; v++)
		start_roles[v] = (uint8_t)(v < live_at_start
						   ? v
						   : v % live_at_start);
	for (int k = live_at_start; k < job_size; k++)
		node_set_departed(k); /* a free slot */
	/* A job of one (mpirun -np 1, --size 1) runs the VM as cvmm run does:
	 * no peer to reach, so no UCX context, worker or registration of the
	 * guest window (18 ms on the 2-core VM). The selftest wants its
	 * transport even alone. */
	if (job_size == 1 && !node_opts.selftest) {
		vm->on_exit = node_on_exit;
		log_info("node 0 of 1 via %s: no transport", boot_method(boot));
		return CVMM_OK;
	}
	st = node_xp_opts(&xo);
	if (st == CVMM_OK)
		st = xp_init(&xo, boot_rank(boot), job_size,
			     boot_cookie(boot), &xp);
	if (st == CVMM_OK)
		xp_set_epoch(xp, 1); /* the membership's first (svc_epoch) */
	/* handlers before connecting: an unhandled message is dropped */
	if (st == CVMM_OK)
		st = xp_am_register(xp, NODE_AM_SHUTDOWN, node_on_shutdown,
				    NULL);
	vm_nodes = st == CVMM_OK && !node_opts.selftest && job_size > 1;
	if (vm_nodes)
		st = node_vm_register(gm, vm, NULL);
	if (st == CVMM_OK)
		st = node_exchange_addresses(node_opts.timeout_ms);
	if (st == CVMM_OK)
		st = node_exchange_memory(gm);
	if (st == CVMM_OK)
		st = xp_start(xp, node_lost, vm);
	if (st == CVMM_OK && vm_nodes)
		st = node_vm_start(gm, vm);
	if (st != CVMM_OK) {
		log_error("node %d: cannot join the job: %s",
			  boot_rank(boot), cvmm_status_str(st));
		return st;
	}
	vm->on_exit = node_on_exit;
	log_info("node %d of %d connected via %s", boot_rank(boot),
		 boot_size(boot), boot_method(boot));
	/* a node may join into a free slot, or into the slot of a node that
	 * left; a VM of mpirun or srun without free slots opens no port unless asked
	 * (--join-listen HOST:PORT) */
	if (vm_nodes && node_rank() == 0 && job_size > 1 &&
	    job_size <= NODE_SLOTS_MAX &&
	    (job_size > live_at_start ||
	     !strcmp(boot_method(boot), "launcher") ||
	     (node_opts.join_listen && strcmp(node_opts.join_listen, "auto"))))
		return join_listen_start(boot_cookie(boot));
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
