/* Node services (svc.h): request slots, sending, the message handler that
 * hands each decoded message to its service, and the hooks core calls.
 *
 * Handlers never block: work that may (a syscall, vm_exit's flush) runs on
 * a proxy or a short-lived thread. Request ids name a slot in a table of
 * waiting requests with a generation, so a reply for an unknown or stale id
 * from a confused peer is dropped, never dereferenced. */
#include "node/svc_int.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/stats_member.h"

#define SVC_SLOTS 4096

gmem_t *svc_gm;
vm_t *svc_vm;

const vm_node_ops_t node_svc_ops = {
	.syscall = svc_syscall,
	.place = svc_place,
	.thread_start = svc_thread_start,
	.thread_count = svc_thread_count,
	.thread_exited = svc_thread_exited,
	.move_where = svc_move_where,
	.thread_move = svc_thread_move,
	.interrupted = node_svc_interrupted,
	.load_changed = svc_load_changed,
	.collect_stats = svc_collect_stats,
};

static struct {
	pthread_mutex_t lock;
	svc_wait_t *w[SVC_SLOTS];
	uint16_t gen[SVC_SLOTS];
	unsigned next;
} slots = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- waiting for replies ---------------------------------------------- */

uint64_t svc_wait_open(svc_wait_t *w, uint32_t acks)
{
	uint64_t id = 0;

	/* nothing to wait for (every other node left): done at once */
	*w = (svc_wait_t){ .pending = acks, .done = acks == 0 };
	pthread_mutex_lock(&slots.lock);
	for (unsigned n = 0; n < SVC_SLOTS; n++) {
		unsigned i = (slots.next + n) % SVC_SLOTS;

		if (!slots.w[i]) {
			slots.w[i] = w;
			slots.gen[i]++;
			slots.next = i + 1;
			id = (uint64_t)slots.gen[i] << 16 | i | 1ULL << 32;
			break;
		}
	}
	pthread_mutex_unlock(&slots.lock);
	if (!id)
		die("more than %d node requests in flight", SVC_SLOTS);
	return id;
}

void svc_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void svc_wait_close(uint64_t id)
{
	pthread_mutex_lock(&slots.lock);
	slots.w[id & 0xffff] = NULL;
	pthread_mutex_unlock(&slots.lock);
}

int64_t svc_wait_done(svc_wait_t *w, uint64_t id)
{
	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &w->done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL,
			0);
	svc_wait_close(id);
	return w->ret;
}

bool svc_wait_slice(svc_wait_t *w, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	if (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &w->done, FUTEX_WAIT_PRIVATE, 0, &ts, NULL,
			0);
	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

bool svc_wait_done_ms(svc_wait_t *w, uint64_t id, long ms)
{
	/* in slices of 10 ms until the deadline */
	for (long t = 0; t < ms && !svc_wait_slice(w, 10); t += 10)
		;
	svc_wait_close(id);
	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

int64_t svc_ask(int dst, node_hdr_t *h, node_stats_t *stats,
		node_status_t *status, long ms)
{
	svc_wait_t w;

	h->id = svc_wait_open(&w, 1);
	w.stats = stats;
	w.status = status;
	if (svc_send_hdr(dst, h) != CVMM_OK) {
		svc_wait_close(h->id);
		return -EHOSTUNREACH;
	}
	if (!svc_wait_done_ms(&w, h->id, ms))
		return -ETIMEDOUT;
	return w.ret;
}

void svc_reply(int src, const node_hdr_t *h, const void *msg, size_t len)
{
	unsigned i = (unsigned)(h->id & 0xffff);
	int64_t ret = h->arg;
	svc_wait_t *w;

	pthread_mutex_lock(&slots.lock);
	w = slots.w[i];
	if (!w || (h->id >> 32) != 1 ||
	    slots.gen[i] != (uint16_t)(h->id >> 16)) {
		pthread_mutex_unlock(&slots.lock);
		log_warn("node %d: reply to an unknown request: dropped", src);
		return;
	}
	if (msg && (w->status ? h->type != NODE_MSG_STATUS_REP ||
					node_wire_status_decode(
						msg, len, w->status) != CVMM_OK
			      : h->type != NODE_MSG_STATS_REP || !w->stats ||
					node_wire_stats_decode(
						msg, len, w->stats) != CVMM_OK)) {
		log_warn("node %d: malformed counters: left out", src);
		ret = -EPROTO;
	}
	if (ret < 0 || w->ret == 0)
		w->ret = ret;
	if (--w->pending == 0) {
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &w->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
			0);
	}
	pthread_mutex_unlock(&slots.lock);
}

/* ---- sending ------------------------------------------------------------- */

cvmm_status_t svc_send(int dst, const void *msg, size_t len)
{
	if (!len)
		return CVMM_ERR_INVALID;
	return xp_am_send(node_xp(), dst, NODE_AM_SVC, msg, len);
}

cvmm_status_t svc_send_hdr(int dst, const node_hdr_t *h)
{
	uint8_t buf[NODE_WIRE_HDR_LEN];

	return svc_send(dst, buf, node_wire_hdr_encode(h, buf, sizeof(buf)));
}

void svc_send_ack(int dst, uint64_t id, int64_t ret)
{
	node_hdr_t h = { .type = NODE_MSG_ACK, .id = id, .arg = ret };

	if (svc_send_hdr(dst, &h) != CVMM_OK)
		log_warn("cannot answer node %d", dst);
}

/* ---- the handler ------------------------------------------------------- */

/* True when a message of type may arrive here from src. */
static bool svc_direction_ok(unsigned type, int src)
{
	switch (type) {
	case NODE_MSG_SYSCALL:
	case NODE_MSG_LIVE:
	case NODE_MSG_EXIT:
	case NODE_MSG_STATS_REP:
	case NODE_MSG_STATUS_REP:
	case NODE_MSG_MOVED:
	case NODE_MSG_LEAVE:
	case NODE_MSG_CANCEL:
		return svc_self() == 0;
	case NODE_MSG_LAYOUT:
	case NODE_MSG_STATS:
	case NODE_MSG_STATUS:
	case NODE_MSG_MOVE:
	case NODE_MSG_PAUSE:
	case NODE_MSG_DRAIN:
	case NODE_MSG_GIVE:
	case NODE_MSG_DEPART:
	case NODE_MSG_BYE:
	case NODE_MSG_JOIN:
	case NODE_MSG_JOINED:
		return src == 0;
	default:
		return true;
	}
}

static void svc_on_msg(xp_t *x, int src, const void *data, size_t len,
		       void *arg)
{
	node_hdr_t h;

	if (node_wire_hdr_decode(data, len, &h) != CVMM_OK ||
	    !svc_direction_ok(h.type, src)) {
		log_warn("node %d: malformed service message (%zu bytes): "
			 "dropped", src, len);
		return;
	}
	/* a node out of the VM (left, or a free slot) has nothing to say
	 * but the answer to a last request (a leaver's BYE) */
	if (node_departed(src) && h.type != NODE_MSG_ACK) {
		log_warn("node %d is not in the VM: its service message %u "
			 "dropped", src, h.type);
		return;
	}
	switch (h.type) {
	case NODE_MSG_SYSCALL:
		svc_on_syscall(src, &h, data, len);
		return;
	case NODE_MSG_LAYOUT:
		svc_on_layout(src, &h, data, len);
		return;
	case NODE_MSG_START:
		svc_on_start(src, &h, data, len);
		return;
	case NODE_MSG_MIGRATE:
		svc_on_migrate(src, &h, data, len);
		return;
	case NODE_MSG_TAKE:
		svc_on_take(src, &h, data, len);
		return;
	case NODE_MSG_JOIN:
		svc_on_join(src, &h, data, len);
		return;
	case NODE_MSG_STATS_REP:
	case NODE_MSG_STATUS_REP:
		svc_reply(src, &h, data, len);
		return;
	}
	/* the rest are a header alone */
	if (len != NODE_WIRE_HDR_LEN) {
		log_warn("node %d: service message type %u of %zu bytes: "
			 "dropped", src, h.type, len);
		return;
	}
	switch (h.type) {
	case NODE_MSG_LIVE:
		svc_on_live(src, &h);
		break;
	case NODE_MSG_EXIT:
		svc_on_exit(src, &h);
		break;
	case NODE_MSG_ACK:
		svc_reply(src, &h, NULL, 0);
		break;
	case NODE_MSG_STATS:
		svc_on_stats(src, &h);
		break;
	case NODE_MSG_MOVED:
		svc_on_moved(src, &h);
		break;
	case NODE_MSG_LOAD:
		svc_on_load(src, &h);
		break;
	case NODE_MSG_STATUS:
		svc_on_status(src, &h);
		break;
	case NODE_MSG_MOVE:
		svc_on_move(src, &h);
		break;
	case NODE_MSG_PAUSE:
		svc_on_pause(src, &h);
		break;
	case NODE_MSG_DRAIN:
		svc_on_drain(src, &h);
		break;
	case NODE_MSG_GIVE:
		svc_on_give(src, &h);
		break;
	case NODE_MSG_DEPART:
		svc_on_depart(src, &h);
		break;
	case NODE_MSG_JOINED:
		svc_on_joined(src, &h);
		break;
	case NODE_MSG_CANCEL:
		svc_on_cancel(src, &h);
		break;
	case NODE_MSG_BYE:
		svc_on_bye(src, &h);
		break;
	case NODE_MSG_LEAVE:
		svc_on_leave(src, &h);
		break;
	case NODE_MSG_DESCRIBE:
		if (cvmm_coh_on)
			coh_rt_describe((uint64_t)h.arg);
		break;
	}
}

void node_svc_attach(gmem_t *gm, vm_t *vm)
{
	if (!svc_gm)
		svc_gm = gm;
	if (!svc_vm)
		svc_vm = vm;
}

void node_svc_describe(uint64_t addr)
{
	node_hdr_t h = { .type = NODE_MSG_DESCRIBE, .arg = (int64_t)addr };

	for (int k = 0; k < svc_nnodes(); k++)
		if (k != svc_self() && !node_departed(k) &&
		    svc_send_hdr(k, &h) != CVMM_OK)
			log_debug("cannot ask node %d for its state of a page",
				  k);
}

void node_svc_exit(int status)
{
	node_hdr_t h = { .type = NODE_MSG_EXIT, .arg = status };

	if (svc_send_hdr(0, &h) == CVMM_OK)
		xp_flush(node_xp(), 0);
}

cvmm_status_t node_svc_init(gmem_t *gm, vm_t *vm)
{
	svc_gm = gm;
	svc_vm = vm;
	if (svc_placement_init(node_opts.placement) != CVMM_OK ||
	    svc_migrate_init(node_opts.placement, node_opts.migrate_every) !=
		    CVMM_OK ||
	    svc_balance_init(node_opts.balance == NODE_BALANCE_AUTO) !=
		    CVMM_OK ||
	    svc_leave_init() != CVMM_OK ||
	    (svc_self() == 0 && svc_syscall_init() != CVMM_OK))
		return CVMM_ERR_INVALID;
	if (svc_self() == 0)
		member_start(svc_nnodes(), node_live_at_start());
	/* free slots run nothing until a node joins into one */
	for (int k = node_live_at_start(); k < svc_nnodes(); k++)
		if (node_departed(k))
			svc_drain_keep(k);
	if (svc_self() == 0 && svc_nnodes() > 1)
		gm->publish = svc_publish;
	return xp_am_register(node_xp(), NODE_AM_SVC, svc_on_msg, NULL);
}
