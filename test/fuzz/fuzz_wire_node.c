/* fuzz_wire decoder 4: the node-service messages (src/node/node_wire.c),
 * as svc.c's handler sees a payload from a peer. Input: the message. Checks:
 * an accepted message decodes with its type's decoder and encodes back to
 * the same bytes (a START's register image is one this CPU could restore);
 * a refused one is CVMM_ERR_PEER. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/entry.h"
#include "fuzz_wire.h"
#include "node/node_wire.h"

static uint8_t again[1 << 20];

/* Re-encodes an accepted message of buf[len] and compares. */
static void node_fuzz_accepted(const uint8_t *buf, size_t len)
{
	static node_stats_t stats;
	static gmem_change_t c[NODE_WIRE_LAYOUT_MAX];
	static guest_regs_t regs;
	entry_xstate_t x;
	uint64_t a[6], clear, mask;
	node_status_t status;
	node_migrate_t m;
	node_hdr_t h;
	unsigned n;
	size_t out = 0;

	FUZZ_CHECK(node_wire_hdr_decode(buf, len, &h) == CVMM_OK);
	switch (h.type) {
	case NODE_MSG_SYSCALL:
		FUZZ_CHECK(node_wire_syscall_decode(buf, len, a) == CVMM_OK);
		out = node_wire_syscall_encode(&h, a, again, sizeof(again));
		break;
	case NODE_MSG_LAYOUT:
		FUZZ_CHECK(node_wire_layout_decode(buf, len, c, &n) ==
			   CVMM_OK);
		out = node_wire_layout_encode(&h, c, n, again, sizeof(again));
		/* the reserved word of a change is not kept */
		for (unsigned i = 0; i < n && out == len; i++)
			memcpy(again + NODE_WIRE_HDR_LEN +
				       i * NODE_WIRE_CHANGE_LEN + 12,
			       buf + NODE_WIRE_HDR_LEN +
				       i * NODE_WIRE_CHANGE_LEN + 12, 4);
		break;
	case NODE_MSG_MIGRATE:
		FUZZ_CHECK(node_wire_migrate_decode(buf, len, &m, &regs) ==
			   CVMM_OK);
		entry_xstate_probe(&x);
		FUZZ_CHECK(regs.xsave_len == 0 ||
			   entry_xsave_valid(regs.xsave, regs.xsave_len, &x));
		out = node_wire_migrate_encode(&h, &m, &regs, again,
					       sizeof(again));
		break;
	case NODE_MSG_START:
		FUZZ_CHECK(node_wire_start_decode(buf, len, &clear, &mask,
						  &regs) == CVMM_OK);
		entry_xstate_probe(&x);
		FUZZ_CHECK(regs.xsave_len == 0 ||
			   entry_xsave_valid(regs.xsave, regs.xsave_len, &x));
		out = node_wire_start_encode(&h, clear, mask, &regs, again,
					     sizeof(again));
		break;
	case NODE_MSG_STATS_REP:
		FUZZ_CHECK(node_wire_stats_decode(buf, len, &stats) ==
			   CVMM_OK);
		out = node_wire_stats_encode(&h, &stats, again, sizeof(again));
		break;
	case NODE_MSG_STATUS_REP:
		FUZZ_CHECK(node_wire_status_decode(buf, len, &status) ==
			   CVMM_OK);
		out = node_wire_status_encode(&h, &status, again,
					      sizeof(again));
		break;
	case NODE_MSG_TAKE: /* items of fixed size after the header */
		FUZZ_CHECK(node_wire_take_check(buf, len) == CVMM_OK);
		FUZZ_CHECK(len > NODE_WIRE_HDR_LEN && len <= sizeof(again));
		out = node_wire_hdr_encode(&h, again, sizeof(again));
		memcpy(again + NODE_WIRE_HDR_LEN, buf + NODE_WIRE_HDR_LEN,
		       len - NODE_WIRE_HDR_LEN);
		out = out == NODE_WIRE_HDR_LEN ? len : 0;
		break;
	case NODE_MSG_JOIN: {
		const void *ja, *jr;
		size_t jal, jrl;

		FUZZ_CHECK(node_wire_join_decode(buf, len, &ja, &jal, &jr,
						 &jrl) == CVMM_OK);
		out = node_wire_join_encode(&h, ja, jal, jr, jrl, again,
					    sizeof(again));
		break;
	}
	default:
		FUZZ_CHECK(len == NODE_WIRE_HDR_LEN);
		out = node_wire_hdr_encode(&h, again, sizeof(again));
		break;
	}
	FUZZ_CHECK(out == len && memcmp(again, buf, len) == 0);
}

static bool node_fuzz_run(const uint8_t *data, size_t size)
{
	cvmm_status_t st = node_wire_check(data, size);

	if (st == CVMM_OK) {
		node_fuzz_accepted(data, size);
		return true;
	}
	FUZZ_CHECK(st == CVMM_ERR_PEER);
	return false;
}

/* A START's registers with this CPU's whole image: every component it
 * carries named in XSTATE_BV, MXCSR its default. */
static void node_fuzz_image(guest_regs_t *regs)
{
	uint32_t mxcsr = 0x1f80;
	entry_xstate_t x;

	entry_xstate_probe(&x);
	for (uint32_t i = 0; i < x.size; i++)
		regs->xsave[i] = (uint8_t)(i * 13 + 5);
	memcpy(regs->xsave + XSAVE_MXCSR, &mxcsr, 4);
	if (x.mask) {
		memset(regs->xsave + XSAVE_XSTATE_BV, 0, XSAVE_HDR_LEN);
		memcpy(regs->xsave + XSAVE_XSTATE_BV, &x.mask, 8);
	}
	regs->xsave_len = x.size;
}

/* One message of each body type (START and MIGRATE without and with an
 * image), an ACK, a MOVED, a LOAD, a DESCRIBE, a STATUS_REP, a MOVE
 * (of a thread, and the balancer's of any), a TAKE and a JOIN. */
static size_t node_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	static node_stats_t s = { .nvcpus = 2, .nhot = 1, .ntrace = 1,
				  .nthreads = 1 };
	static guest_regs_t regs;
	const uint64_t a[6] = { 3, 0x600000, 4096, 0, 0, 0 };
	const gmem_change_t c = { .op = GMEM_CH_SET, .prot = 3,
				  .start = GMEM_LO, .end = GMEM_LO + 8192 };
	node_hdr_t h = { .id = 1ull << 32 | 5, .tid = 101, .vcpu = 1 };
	const node_migrate_t mig = { .clear_tid = 0x7fe000, .sigmask = 1,
				     .robust_list = 0x7fe010, .robust_len = 24,
				     .hold_ns = 20000000 };

	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x401000;
	regs.rsp = 0x7ff000;

	switch (k) {
	case 0:
		h.type = NODE_MSG_SYSCALL;
		h.arg = 1;
		return node_wire_syscall_encode(&h, a, buf, cap);
	case 1:
		h.type = NODE_MSG_LAYOUT;
		return node_wire_layout_encode(&h, &c, 1, buf, cap);
	case 2:
		h.type = NODE_MSG_START;
		return node_wire_start_encode(&h, 0x7fe000, 0, &regs, buf,
					      cap);
	case 3:
		h.type = NODE_MSG_STATS_REP;
		s.vc[1].guest_ns = 1000;
		s.hot[0].page = 0x601;
		s.rc.diffs_sent = 3;
		return node_wire_stats_encode(&h, &s, buf, cap);
	case 4:
		h.type = NODE_MSG_ACK;
		h.arg = -11;
		return node_wire_hdr_encode(&h, buf, cap);
	case 5:
		h.type = NODE_MSG_START;
		node_fuzz_image(&regs);
		return node_wire_start_encode(&h, 0x7fe000, 0, &regs, buf,
					      cap);
	case 6:
	case 7:
		h.type = NODE_MSG_MIGRATE;
		regs.rax = 3;
		regs.fs = 0x4c9000;
		if (k == 7)
			node_fuzz_image(&regs);
		return node_wire_migrate_encode(&h, &mig, &regs, buf, cap);
	case 8:
		h.type = NODE_MSG_MOVED;
		return node_wire_hdr_encode(&h, buf, cap);
	case 9:
		h.type = NODE_MSG_LOAD;
		h.count = 3;
		return node_wire_hdr_encode(&h, buf, cap);
	case 10:
		h.type = NODE_MSG_DESCRIBE;
		h.arg = 0x4fb000;
		return node_wire_hdr_encode(&h, buf, cap);
	case 11: {
		const node_status_t st = { .vcpus = 2, .threads = 3,
					   .read_faults = 40, .resident = 9,
					   .run_ns = 5000, .wait_ns = 700,
					   .cores = 1, .cores_idle_ns = 9000 };

		h.type = NODE_MSG_STATUS_REP;
		return node_wire_status_encode(&h, &st, buf, cap);
	}
	case 12:
		h.type = NODE_MSG_MOVE;
		h.arg = 1;
		return node_wire_hdr_encode(&h, buf, cap);
	case 13: /* the balancer's: any thread */
		h.type = NODE_MSG_MOVE;
		h.tid = 0;
		h.arg = 0;
		return node_wire_hdr_encode(&h, buf, cap);
	case 14: /* a leaving node's records, two of them */
		h.type = NODE_MSG_TAKE;
		h.arg = NODE_TAKE_RECORDS;
		h.count = 2;
		if (cap < NODE_WIRE_HDR_LEN + 2 * NODE_TAKE_ITEM_LEN ||
		    node_wire_hdr_encode(&h, buf, cap) != NODE_WIRE_HDR_LEN)
			return 0;
		memset(buf + NODE_WIRE_HDR_LEN, 0x11, 2 * NODE_TAKE_ITEM_LEN);
		return NODE_WIRE_HDR_LEN + 2 * NODE_TAKE_ITEM_LEN;
	case 15: /* a node joining: its address and key */
		h.type = NODE_MSG_JOIN;
		h.arg = 2;
		return node_wire_join_encode(&h, "ucx-address", 11, "rkey", 4,
					     buf, cap);
	default:
		return 0;
	}
}

const fuzz_wire_target_t fuzz_wire_node = {
	.name = "node",
	.run = node_fuzz_run,
	.seed = node_fuzz_seed,
};
