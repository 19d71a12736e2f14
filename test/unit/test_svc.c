/* Node 0's admission of forwarded syscall requests (src/node/
 * svc_syscall.c, svc_syscall_admit): a peer, or a guest that reached agent
 * code on another node, may forge any request. Only the calls the syscall
 * table runs on node 0 are run; the ones it runs where they are called
 * (clone, exit, signals, futex, arch_prctl, ...) are refused, since they
 * would run node-local code without the calling thread's context;
 * malformed requests (wrong length, vCPU or number out of range, id 0)
 * are dropped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "node/node_wire.h"
#include "core/sys/sys.h"
#include "node/svc_int.h"

#define NVCPUS 4

static uint8_t msg[NODE_WIRE_SYSCALL_LEN + 8];

/* A well-formed SYSCALL request for nr from vcpu, as a peer sends it. */
static size_t request(long nr, int vcpu, uint64_t id, node_hdr_t *h)
{
	const uint64_t a[6] = { 1, 2, 3, 4, 5, 6 };

	memset(h, 0, sizeof(*h));
	h->type = NODE_MSG_SYSCALL;
	h->id = id;
	h->arg = nr;
	h->tid = 7;
	h->vcpu = vcpu;
	return node_wire_syscall_encode(h, a, msg, sizeof(msg));
}

static svc_admit_t admit(long nr, int vcpu, uint64_t id)
{
	node_hdr_t h;
	uint64_t a[6] = { 0 };
	size_t len = request(nr, vcpu, id, &h);

	assert_int_equal(len, NODE_WIRE_SYSCALL_LEN);
	return svc_syscall_admit(&h, msg, len, NVCPUS, a);
}

static void test_node0_calls_run(void **state)
{
	node_hdr_t h;
	uint64_t a[6] = { 0 };
	size_t len = request(SYS_read, 3, 9, &h);

	(void)state;
	assert_int_equal(svc_syscall_admit(&h, msg, len, NVCPUS, a),
			 SVC_ADMIT_RUN);
	for (int i = 0; i < 6; i++)
		assert_int_equal(a[i], (uint64_t)i + 1);
	assert_int_equal(admit(SYS_openat, 0, 1), SVC_ADMIT_RUN);
	assert_int_equal(admit(SYS_mmap, 1, 1), SVC_ADMIT_RUN);
	assert_int_equal(admit(SYS_exit_group, 2, 1), SVC_ADMIT_RUN);
}

/* Every number the table does not place on node 0 is refused, whatever
 * the rest of the request says. */
static void test_forged_local_calls_refused(void **state)
{
	static const long local[] = {
		SYS_clone,	   SYS_clone3,	    SYS_exit,
		SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_futex,
		SYS_arch_prctl,   SYS_set_tid_address, SYS_execve,
		SYS_getpid,	   SYS_sched_yield, SYS_ptrace,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		assert_int_equal(admit(local[i], 0, 5), SVC_ADMIT_REFUSE);
	/* the table decides, number by number */
	for (long nr = 0; nr < 512; nr++)
		assert_int_equal(admit(nr, 1, 5),
				 sys_runs_on_node0((unsigned long)nr)
					 ? SVC_ADMIT_RUN
					 : SVC_ADMIT_REFUSE);
}

static void test_malformed_dropped(void **state)
{
	node_hdr_t h;
	uint64_t a[6] = { 0 };
	size_t len;

	(void)state;
	assert_int_equal(admit(SYS_read, NVCPUS, 5), SVC_ADMIT_DROP);
	assert_int_equal(admit(SYS_read, -1, 5), SVC_ADMIT_DROP);
	assert_int_equal(admit(SYS_read, 0, 0), SVC_ADMIT_DROP);
	/* numbers no syscall has */
	assert_int_equal(admit(-1, 0, 5), SVC_ADMIT_DROP);
	assert_int_equal(admit(-4096, 0, 5), SVC_ADMIT_DROP);
	assert_int_equal(admit(100000, 0, 5), SVC_ADMIT_DROP);
	assert_int_equal(admit((long)1 << 40, 0, 5), SVC_ADMIT_DROP);
	len = request(SYS_read, 0, 5, &h);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(svc_syscall_admit(&h, msg, n, NVCPUS, a),
				 SVC_ADMIT_DROP);
	assert_int_equal(svc_syscall_admit(&h, msg, len + 1, NVCPUS, a),
			 SVC_ADMIT_DROP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node0_calls_run),
		cmocka_unit_test(test_forged_local_calls_refused),
		cmocka_unit_test(test_malformed_dropped),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("svc", tests, NULL, NULL);
}
