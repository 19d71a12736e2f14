/* Guest threads across nodes: where a new thread goes (--placement), its
 * start on another node (START), and the count of live threads, which node
 * 0 keeps for the whole VM (LIVE): the VM ends when it reaches zero, or
 * when any node reports that the VM ended there (EXIT).
 *
 * The count: a thread is counted once, before it can run, by the node that
 * creates it (wherever it will run), and uncounted once, where it exits. A
 * thread that moves to another node (svc_migrate.c) stays counted, so the
 * VM neither ends while it is in flight nor waits for it twice. */
#include "node/svc_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static unsigned clones; /* threads this node created, for placement */
static int *place_file;
static unsigned place_len;
static bool place_pack;

/* Node 0: the VM's live guest threads (under svc_vm->lock). */
static int live;

/* Reads a --placement FILE: one node number per line. */
static cvmm_status_t placement_load(const char *path)
{
	FILE *f = fopen(path, "r");
	int node;

	if (!f) {
		log_error("--placement: %s is neither spread, pack, auto nor "
			  "a readable file", path);
		return CVMM_ERR_INVALID;
	}
	while (fscanf(f, "%d", &node) == 1) {
		int *p = realloc(place_file, (place_len + 1) * sizeof(*p));

		if (!p || node < 0 || node >= svc_nnodes()) {
			log_error("--placement %s: node %d out of range "
				  "(0..%d)", path, node, svc_nnodes() - 1);
			fclose(f);
			free(p);
			return CVMM_ERR_INVALID;
		}
		place_file = p;
		place_file[place_len++] = node;
	}
	fclose(f);
	return CVMM_OK;
}

cvmm_status_t svc_placement_init(const char *placement)
{
	/* auto places new threads as spread does; they move later */
	if (!placement || !strcmp(placement, "spread") ||
	    !strcmp(placement, "auto"))
		return CVMM_OK;
	if (!strcmp(placement, "pack")) {
		place_pack = true;
		return CVMM_OK;
	}
	return placement_load(placement);
}

/* The node --placement names for the c-th new thread of this node. */
static int place_of(unsigned c)
{
	int n = svc_nnodes(), per;

	if (place_file && c <= place_len)
		return place_file[c - 1];
	if (place_pack) {
		per = (svc_vm->nvcpus + n - 1) / n;
		return (int)((svc_self() + c / (unsigned)per) % (unsigned)n);
	}
	return (int)((svc_self() + c) % (unsigned)n);
}

int svc_place(void)
{
	int k;

	if (svc_nnodes() < 2)
		return 0;
	/* a drained node (cvmm ctl drain) gets none: the next one */
	k = svc_undrained_from(place_of(++clones));
	return k < 0 ? svc_self() : k;
}

/* Node 0: adds delta to the VM's count; true when none is left. */
static bool live_change(int delta)
{
	bool none;

	pthread_mutex_lock(&svc_vm->lock);
	live += delta;
	none = live <= 0;
	pthread_mutex_unlock(&svc_vm->lock);
	return none;
}

/* Node 0 counts a thread about to start; other nodes ask node 0 to, and
 * wait for its ACK (so the count never dips to zero early). */
static long live_add(int tid)
{
	node_hdr_t h = { .type = NODE_MSG_LIVE, .count = 1, .tid = tid };
	svc_wait_t w;

	if (svc_self() == 0) {
		live_change(1);
		return 0;
	}
	h.id = svc_wait_open(&w, 1);
	if (svc_send_hdr(0, &h) != CVMM_OK) {
		svc_wait_close(h.id);
		return -EAGAIN;
	}
	svc_wait_done(&w, h.id);
	return 0;
}

/* Takes back live_add for a thread that never started (its creator is
 * alive and counted: the VM cannot end here). */
static void live_sub(int tid)
{
	node_hdr_t h = { .type = NODE_MSG_LIVE, .count = (uint32_t)-1,
			 .tid = tid };

	if (svc_self() == 0)
		live_change(-1);
	else if (svc_send_hdr(0, &h) != CVMM_OK)
		log_warn("cannot tell node 0 that thread %d did not start",
			 tid);
}

long svc_thread_count(int tid)
{
	return live_add(tid);
}

long svc_thread_start(int target, int tid, const guest_regs_t *regs,
		      uint64_t clear_tid, uint64_t sigmask)
{
	node_hdr_t h = { .type = NODE_MSG_START, .tid = tid };
	uint8_t buf[NODE_WIRE_START_LEN];
	size_t len;

	if (live_add(tid))
		return -EAGAIN;
	len = node_wire_start_encode(&h, clear_tid, sigmask, regs, buf,
				     sizeof(buf));
	if (svc_send(target, buf, len) == CVMM_OK)
		return 0;
	live_sub(tid);
	return -EAGAIN;
}

static void *end_main(void *why)
{
	vm_exit(svc_vm, why ? CVMM_EXIT_FAILURE : 0, why);
}

void svc_vm_end(const char *why)
{
	pthread_t th;

	if (pthread_create(&th, NULL, end_main, (void *)why))
		vm_exit(svc_vm, why ? CVMM_EXIT_FAILURE : 0, why);
}

void svc_on_start(int src, const node_hdr_t *h, const void *msg,
		  size_t len)
{
	guest_regs_t *regs = aligned_alloc(64, sizeof(*regs));
	uint64_t clear_tid, sigmask;
	vthread_t *vt = NULL;

	if (!regs)
		die("out of memory starting a guest thread");
	if (node_wire_start_decode(msg, len, &clear_tid, &sigmask, regs) !=
	    CVMM_OK) {
		log_warn("node %d: malformed thread start: dropped", src);
		free(regs);
		return;
	}
	vt = vm_thread_new_tid(svc_vm, regs, h->tid);
	free(regs);
	if (vt) {
		vt->clear_tid = clear_tid;
		vt->sigmask = sigmask;
	}
	/* its creator saw it start: a thread lost here would hang whoever
	 * joins it, so the VM ends instead */
	if (!vt || vm_thread_run(svc_vm, vt) != 0)
		svc_vm_end("cannot start a guest thread");
}

static void *exit_main(void *arg)
{
	vm_exit(svc_vm, (int)(intptr_t)arg, NULL);
}

/* vm_exit flushes the transport, which a handler may not: a thread does. */
static void exit_async(int status)
{
	pthread_t th;

	if (pthread_create(&th, NULL, exit_main, (void *)(intptr_t)status))
		vm_exit(svc_vm, status, NULL);
}

void svc_thread_exited(vm_t *vm, int tid, bool last)
{
	node_hdr_t h = { .type = NODE_MSG_LIVE, .count = (uint32_t)-1,
			 .tid = tid };

	if (svc_self() != 0)
		svc_send_hdr(0, &h); /* node 0 counts the VM's threads */
	else if (live_change(-1))
		vm_exit(vm, 0, NULL);
}

void svc_on_live(int src, const node_hdr_t *h)
{
	int delta = (int32_t)h->count;
	bool none;

	if (delta != 1 && delta != -1) {
		log_warn("node %d: malformed thread count message", src);
		return;
	}
	none = live_change(delta);
	if (delta > 0) {
		svc_send_ack(src, h->id, 0);
		return;
	}
	svc_proxy_retire(src, h->tid);
	if (none)
		exit_async(0);
}

void svc_on_exit(int src, const node_hdr_t *h)
{
	exit_async((int)h->arg);
}
