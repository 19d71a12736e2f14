/* A node joining a running VM: node 0's join socket and both sides of the
 * conversation (join.h). The VM-wide steps are svc_join.c's. */
#include "node/join.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "core/vm.h"
#include "node/node_wire.h"
#include "node/svc.h"
#include "rdma/boot.h"

#define JOIN_HELLO_MS 5000         /* a connection says HELLO within */
#define JOIN_RANGES_MAX 16384      /* image and kept ranges, each */
#define JOIN_READY_MS 10000        /* WELCOME to READY, the VM paused */

_Static_assert(JOIN_SLOTS_MAX == NODE_SLOTS_MAX, "a welcome covers the slots");

static int listen_fd = -1;
static char listen_addr[96];
static uint64_t cookie;
static char *exe, **argv0, *cmdline, *cwd;

const char *join_exe(void)
{
	return exe;
}

const char *join_cwd(void)
{
	return cwd;
}

char *const *join_argv(void)
{
	return argv0;
}

/* Keeps /proc/self/exe and /proc/self/cmdline (confinement hides them
 * later). */
static void keep_command(void)
{
	char buf[4096];
	size_t len = 0, n = 0;
	ssize_t r;
	FILE *f;

	r = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (r > 0) {
		buf[r] = '\0';
		exe = strdup(buf);
	}
	if (getcwd(buf, sizeof(buf)))
		cwd = strdup(buf); /* the command line's relative paths */
	f = fopen("/proc/self/cmdline", "re");
	if (!f)
		return;
	cmdline = malloc(65536);
	if (cmdline)
		len = fread(cmdline, 1, 65535, f);
	fclose(f);
	if (!cmdline || len == 0 || len == 65535)
		return;
	cmdline[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n += cmdline[i] == '\0';
	argv0 = calloc(n + 1, sizeof(*argv0));
	for (size_t i = 0, a = 0; argv0 && i < len && a < n; a++) {
		argv0[a] = cmdline + i;
		i += strlen(cmdline + i) + 1;
	}
}

const char *join_listen_addr(void)
{
	return listen_fd >= 0 ? listen_addr : NULL;
}

uint64_t join_cookie(void)
{
	return cookie;
}

static int timeout_ms(void)
{
	return node_opts.timeout_ms > 0 ? node_opts.timeout_ms : 30000;
}

/* ---- node 0 ---------------------------------------------------------------- */

static size_t slot_encode(uint8_t *b, int k, uint64_t epoch)
{
	join_slot_t sl = { .node = k, .size = node_size(),
			   .nvcpus = cvmm_vm.nvcpus, .pid0 = cvmm_vm.pid,
			   .epoch = epoch, .push = node_pages_pushed(),
			   .same_host = cvmm_vm.same_host,
			   .release = node_opts.memory_model ==
				      NODE_MM_RELEASE,
			   .race_warn = node_opts.on_race == NODE_RACE_WARN,
			   .staleness_ms = node_opts.staleness_ms };

	return join_wire_slot_encode(&sl, b);
}

/* The WELCOME: membership, roles, addresses and keys, the layout (the
 * layout is frozen: svc_join.c). NULL when out of memory. */
static uint8_t *welcome_encode(size_t *len)
{
	uint64_t (*img)[2] = NULL, (*kept)[2] = NULL;
	unsigned nvma = 0, nimg = 0, nkept = 0;
	join_welcome_t w = { 0 };
	gmem_change_t *vmas;
	uint8_t *b = NULL;
	size_t cap;

	node_svc_join_state(&w.live, &w.drained, w.roles);
	vmas = gmem_snapshot_frozen(&cvmm_gmem, &nvma);
	img = calloc(JOIN_RANGES_MAX, sizeof(*img));
	kept = calloc(JOIN_RANGES_MAX, sizeof(*kept));
	if (!img || !kept || (cvmm_gmem.nvmas && !vmas))
		goto out;
	nimg = coh_rt_images(img, JOIN_RANGES_MAX);
	nkept = coh_rt_kept(kept, JOIN_RANGES_MAX);
	for (int j = 0; j < node_size(); j++)
		if ((w.live >> j & 1) &&
		    (!(w.addr[j] = node_peer_addr(j, &w.addr_len[j])) ||
		     !(w.rkey[j] = node_peer_rkey(j, &w.rkey_len[j]))))
			goto out;
	w.nlayout = nvma + nimg + nkept;
	w.layout = calloc(w.nlayout ? w.nlayout : 1, sizeof(*w.layout));
	if (!w.layout)
		goto out;
	if (nvma)
		memcpy(w.layout, vmas, nvma * sizeof(*vmas));
	for (unsigned i = 0; i < nimg; i++)
		w.layout[nvma + i] = (gmem_change_t){
			.op = GMEM_CH_IMAGE, .start = img[i][0],
			.end = img[i][1] };
	for (unsigned i = 0; i < nkept; i++)
		w.layout[nvma + nimg + i] = (gmem_change_t){
			.op = GMEM_CH_TLS, .start = kept[i][0],
			.end = kept[i][1] };
	cap = join_wire_welcome_len(&w, node_size());
	b = malloc(cap);
	if (b && (*len = join_wire_welcome_encode(&w, node_size(), b, cap)) !=
			 cap) {
		free(b);
		b = NULL;
	}
out:
	free(w.layout);
	free(vmas);
	free(img);
	free(kept);
	return b;
}

/* One join, on node 0's join thread. */
static void serve(int fd, uint64_t epoch, const char *peer)
{
	uint64_t t0 = cvmm_now_ns();
	uint8_t slot[JOIN_SLOT_LEN];
	char why[320] = "", line[320];
	void *blob = NULL;
	uint8_t *welcome = NULL;
	size_t len = 0, wlen = 0;
	bool ok = false;
	int k = node_svc_join_begin(epoch, why, sizeof(why));

	if (k < 0) {
		log_warn("join from %s refused: %s", peer, why);
		(void)boot_join_refuse(fd, why, 1000);
		return;
	}
	log_info("join: %s asks to join: it will be node %d", peer, k);
	if (boot_join_send(fd, slot, slot_encode(slot, k, node_svc_epoch()),
			   timeout_ms()) != CVMM_OK ||
	    boot_join_recv(fd, &blob, &len, timeout_ms(), why,
			   sizeof(why)) != CVMM_OK) {
		if (!why[0])
			snprintf(why, sizeof(why), "it went away");
		goto end;
	}
	{
		const void *a, *rk;
		size_t al, rl;

		if (join_wire_addr_decode(blob, len, &a, &al, &rk, &rl, why,
					  sizeof(why)) != CVMM_OK)
			goto end;
		if (node_svc_join_connect(k, a, al, rk, rl, why,
					  sizeof(why)) != CVMM_OK)
			goto refuse;
	}
	welcome = welcome_encode(&wlen);
	if (!welcome) {
		snprintf(why, sizeof(why), "out of memory for the welcome");
		goto refuse;
	}
	free(blob);
	blob = NULL;
	/* the VM is paused meanwhile: a joiner that hangs is given up */
	if (boot_join_send(fd, welcome, wlen, timeout_ms()) != CVMM_OK ||
	    boot_join_recv(fd, &blob, &len, JOIN_READY_MS, why,
			   sizeof(why)) != CVMM_OK || len != 4) {
		if (!why[0])
			snprintf(why, sizeof(why), "it did not get ready");
		goto end;
	}
	ok = true;
	goto end;
refuse:
	(void)boot_join_refuse(fd, why, 1000);
end:
	node_svc_join_end(k, ok, t0, line, sizeof(line));
	if (ok) {
		uint8_t done[8];

		wire_put_u64(done, node_svc_epoch());
		(void)boot_join_send(fd, done, sizeof(done), 1000);
		log_info("join: %s (%s) in %.0f ms", line, peer,
			 (double)(cvmm_now_ns() - t0) / 1e6);
	} else {
		log_warn("join: %s (%s): %s", line, peer, why);
	}
	free(blob);
	free(welcome);
}

static void *join_main(void *arg)
{
	(void)arg;
	for (;;) {
		char peer[96];
		uint64_t epoch = 0;
		int fd = -1;
		cvmm_status_t st = boot_join_accept(listen_fd, cookie,
						    JOIN_HELLO_MS, &fd, &epoch,
						    peer, sizeof(peer));

		if (st == CVMM_ERR_IO) {
			log_warn("join socket: %m: no more joins");
			return NULL;
		}
		if (st != CVMM_OK)
			continue;
		serve(fd, epoch, peer);
		close(fd);
	}
}

/* --join-listen auto: loopback under cvmm run -n (every agent is here),
 * else the coordinator's address, else every address. */
static void listen_spec(char *buf, size_t cap)
{
	const char *c = node_opts.coordinator, *colon;

	if (node_opts.join_listen && strcmp(node_opts.join_listen, "auto")) {
		snprintf(buf, cap, "%s", node_opts.join_listen);
		return;
	}
	if (node_boot() && !strcmp(boot_method(node_boot()), "launcher")) {
		snprintf(buf, cap, "127.0.0.1:0");
		return;
	}
	colon = c ? strrchr(c, ':') : NULL;
	if (colon && strncmp(c, "unix:", 5))
		snprintf(buf, cap, "%.*s:0", (int)(colon - c), c);
	else
		snprintf(buf, cap, "0.0.0.0:0");
}

cvmm_status_t join_listen_start(uint64_t c)
{
	char spec[128];
	pthread_t t;

	cookie = c;
	keep_command();
	if (node_opts.join_listen && !strcmp(node_opts.join_listen, "off")) {
		log_info("joins: --join-listen off: no node can join");
		return CVMM_OK;
	}
	listen_spec(spec, sizeof(spec));
	if (boot_join_listen(spec, listen_addr, sizeof(listen_addr),
			     &listen_fd) != CVMM_OK) {
		log_warn("joins: cannot listen on %s: no node can join", spec);
		listen_fd = -1;
		return CVMM_OK;
	}
	if (pthread_create(&t, NULL, join_main, NULL) != 0) {
		log_warn("joins: cannot start the join thread: no node can "
			 "join");
		close(listen_fd);
		listen_fd = -1;
		return CVMM_OK;
	}
	pthread_detach(t);
	log_info("joins: node 0 listens at %s (%d free slots; cvmm ctl "
		 "add-node, or cvmm agent --join %s)", listen_addr,
		 node_size() - node_live_at_start(), listen_addr);
	return CVMM_OK;
}

/* ---- the joiner ------------------------------------------------------------ */

static cvmm_status_t recv_or_say(int fd, void **blob, size_t *len,
				 int tmo, const char *step)
{
	char why[320];
	cvmm_status_t st = boot_join_recv(fd, blob, len, tmo, why, sizeof(why));

	if (st != CVMM_OK) {
		log_error("join refused by node 0 (%s): %s", step, why);
		close(fd);
	}
	return st;
}

cvmm_status_t join_dial(const char *addr, uint64_t ck, uint64_t epoch,
			int tmo, int *fd, join_slot_t *s)
{
	void *blob = NULL;
	size_t len = 0;
	char why[96];
	cvmm_status_t st = boot_join_dial(addr, ck, epoch, tmo, fd);

	if (st != CVMM_OK)
		return st;
	st = recv_or_say(*fd, &blob, &len, tmo, "hello");
	if (st != CVMM_OK)
		return st;
	st = join_wire_slot_decode(blob, len, s, why, sizeof(why));
	free(blob);
	if (st != CVMM_OK) {
		log_error("join: node 0 at %s answered with %s", addr, why);
		close(*fd);
	}
	return st;
}

cvmm_status_t join_send_addr(int fd, const void *addr, size_t alen,
			     const void *rkey, size_t rlen, int tmo)
{
	size_t cap = 8 + alen + rlen, n;
	uint8_t *b = malloc(cap);
	cvmm_status_t st = CVMM_ERR_NOMEM;

	if (b) {
		n = join_wire_addr_encode(addr, alen, rkey, rlen, b, cap);
		st = n ? boot_join_send(fd, b, n, tmo) : CVMM_ERR_INVALID;
	}
	free(b);
	if (st != CVMM_OK) {
		log_error("join: cannot send node 0 this agent's address: %s",
			  cvmm_status_str(st));
		close(fd);
	}
	return st;
}

cvmm_status_t join_recv_welcome(int fd, const join_slot_t *s,
				join_welcome_t *w, int tmo)
{
	void *blob = NULL;
	size_t len = 0;
	char why[96];
	cvmm_status_t st;

	memset(w, 0, sizeof(*w));
	st = recv_or_say(fd, &blob, &len, tmo, "welcome");
	if (st != CVMM_OK)
		return st;
	st = join_wire_welcome_decode(blob, len, s, w, why, sizeof(why));
	if (st == CVMM_OK) {
		w->blob = blob;
		return CVMM_OK;
	}
	log_error("join: node 0 sent %s", why);
	free(blob);
	close(fd);
	return CVMM_ERR_PEER;
}

void join_welcome_free(join_welcome_t *w)
{
	free(w->layout);
	free(w->blob);
	memset(w, 0, sizeof(*w));
}

cvmm_status_t join_finish(int fd, uint64_t *epoch, int tmo)
{
	uint8_t ready[4] = { 0 };
	void *blob = NULL;
	size_t len = 0;
	cvmm_status_t st = boot_join_send(fd, ready, sizeof(ready), tmo);

	if (st != CVMM_OK) {
		log_error("join: node 0 went away before this node was in");
		close(fd);
		return st;
	}
	st = recv_or_say(fd, &blob, &len, tmo, "ready");
	if (st != CVMM_OK)
		return st;
	if (len != 8) {
		free(blob);
		log_error("join: node 0 sent a malformed confirmation");
		close(fd);
		return CVMM_ERR_PEER;
	}
	*epoch = wire_get_u64(blob);
	free(blob);
	close(fd);
	return CVMM_OK;
}
