/* raw_ucp_get: the baseline for xp_get_4k_us. A minimal UCP program, no cvmm
 * code: two processes (fork), worker addresses and the rkey exchanged over a
 * socketpair, the target progressing its worker in a loop (UCX over TCP
 * needs the target to progress), the initiator timing ucp_get_nbx of 4 KiB
 * to completion. Prints {"raw_get_4k_us": median}.
 * (ucx_perftest's server does not progress during one-sided tests over TCP,
 * so it measures its own idle interval there, ~1 ms.)
 * Usage: raw_ucp_get [iterations]   UCX_TLS picks the transport. */
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include "common/json.h"

#define LEN 4096

static ucp_context_h ctx;
static ucp_worker_h worker;

static void xfer(int fd, void *buf, size_t len, int out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? write(fd, (char *)buf + done, len - done)
				: read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			exit(2);
		done += (size_t)n;
	}
}

static void send_blob(int fd, const void *p, size_t len)
{
	xfer(fd, &len, sizeof(len), 1);
	xfer(fd, (void *)p, len, 1);
}

static void *recv_blob(int fd)
{
	size_t len;
	void *p;

	xfer(fd, &len, sizeof(len), 0);
	p = malloc(len);
	xfer(fd, p, len, 0);
	return p;
}

static void setup(void)
{
	ucp_params_t p = { .field_mask = UCP_PARAM_FIELD_FEATURES,
			   .features = UCP_FEATURE_RMA };
	ucp_worker_params_t wp = { .field_mask =
					   UCP_WORKER_PARAM_FIELD_THREAD_MODE,
				   .thread_mode = UCS_THREAD_MODE_SINGLE };
	ucp_config_t *cfg;

	if (ucp_config_read(NULL, NULL, &cfg) != UCS_OK ||
	    ucp_init(&p, cfg, &ctx) != UCS_OK ||
	    ucp_worker_create(ctx, &wp, &worker) != UCS_OK)
		exit(2);
	ucp_config_release(cfg);
}

static ucp_ep_h connect_to(int fd)
{
	ucp_address_t *addr;
	size_t len;
	ucp_ep_params_t ep = { .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS };
	ucp_ep_h h;

	ucp_worker_get_address(worker, &addr, &len);
	send_blob(fd, addr, len);
	ep.address = recv_blob(fd);
	if (ucp_ep_create(worker, &ep, &h) != UCS_OK)
		exit(2);
	return h;
}

static void target(int fd, void *buf)
{
	ucp_mem_map_params_t mp = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
			      UCP_MEM_MAP_PARAM_FIELD_LENGTH,
		.address = buf, .length = LEN };
	ucp_mem_h mh;
	void *rkey;
	size_t len;
	uint64_t addr = (uint64_t)(uintptr_t)buf;

	connect_to(fd);
	ucp_mem_map(ctx, &mp, &mh);
	ucp_rkey_pack(ctx, mh, &rkey, &len);
	send_blob(fd, rkey, len);
	send_blob(fd, &addr, sizeof(addr));
	for (;;) { /* serve until killed, yielding when idle */
		if (!ucp_worker_progress(worker))
			sched_yield();
	}
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double get_once(ucp_ep_h ep, void *buf, uint64_t raddr, ucp_rkey_h rk)
{
	ucp_request_param_t rp = { 0 };
	double t0 = now_us();
	void *req = ucp_get_nbx(ep, buf, LEN, raddr, rk, &rp);

	if (UCS_PTR_IS_ERR(req))
		exit(3);
	if (req) {
		while (ucp_request_check_status(req) == UCS_INPROGRESS)
			ucp_worker_progress(worker);
		ucp_request_free(req);
	}
	return now_us() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000, sv[2];
	static char buf[LEN];
	double *t;
	pid_t pid;
	ucp_ep_h ep;
	ucp_rkey_h rk;
	uint64_t raddr;
	void *rkey;
	json_t *doc;

	if (n < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 2;
	pid = fork(); /* each process its own worker, so no "self" shortcut */
	setup();
	if (pid == 0)
		target(sv[1], buf);
	ep = connect_to(sv[0]);
	rkey = recv_blob(sv[0]);
	xfer(sv[0], &raddr, sizeof(size_t), 0); /* length prefix */
	xfer(sv[0], &raddr, sizeof(raddr), 0);
	if (ucp_ep_rkey_unpack(ep, rkey, &rk) != UCS_OK)
		return 2;
	t = calloc((size_t)n, sizeof(*t));
	for (int i = -500; i < n; i++) {
		double us = get_once(ep, buf, raddr, rk);

		if (i >= 0)
			t[i] = us;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	doc = json_pack("{s:f}", "raw_get_4k_us", round(t[n / 2] * 100) / 100);
	jdoc_write(doc, stdout, JDOC_LINE);
	json_decref(doc);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}
