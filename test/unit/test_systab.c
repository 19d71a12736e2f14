/* The syscall table is data: every entry is complete, and every call that
 * unmodified static glibc pthreads programs make (docs/design.md) is handled. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/sys/sys.h"
#include "core/vm.h"

static void test_entries_complete(void **state)
{
	for (unsigned nr = 0; nr < SYS_NR_MAX; nr++) {
		const sys_entry_t *e = &sys_table[nr];

		if (e->level == SYS_MISSING) {
			assert_null(e->fn);
			assert_null(e->name);
			continue;
		}
		/* the entry's name is the kernel's name for that number */
		assert_non_null(e->name);
		assert_non_null(sys_names[nr]);
		assert_string_equal(e->name, sys_names[nr]);
		if (e->level == SYS_ERROR) {
			assert_true(e->err > 0);
			assert_non_null(e->note);
		} else {
			assert_non_null(e->fn);
		}
		if (e->level == SYS_PARTIAL)
			assert_non_null(e->note);
	}
}

static void test_glibc_set_is_handled(void **state)
{
	static const int needed[] = {
		SYS_brk, SYS_arch_prctl, SYS_set_tid_address,
		SYS_set_robust_list, SYS_prlimit64, SYS_readlink,
		SYS_getrandom, SYS_mprotect, SYS_newfstatat, SYS_ioctl,
		SYS_clone3, SYS_clone, SYS_rt_sigaction, SYS_rt_sigprocmask,
		SYS_madvise, SYS_exit, SYS_exit_group, SYS_mmap, SYS_munmap,
		SYS_futex, SYS_read, SYS_write, SYS_openat, SYS_close,
		SYS_lseek, SYS_sched_getaffinity, SYS_clock_gettime,
		SYS_gettimeofday, SYS_time, SYS_nanosleep,
		SYS_clock_nanosleep, SYS_getpid, SYS_gettid, SYS_uname,
		SYS_sched_yield, SYS_getcpu, SYS_sysinfo, SYS_getcwd,
		SYS_chdir, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev,
		SYS_fstat, SYS_getdents64, SYS_fcntl, SYS_dup, SYS_dup2,
		SYS_dup3, SYS_pipe2, SYS_unlinkat, SYS_mkdirat,
		SYS_renameat,
	};

	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		const sys_entry_t *e = &sys_table[needed[i]];

		if (!e->fn)
			fail_msg("syscall %d (%s) has no handler", needed[i],
				 sys_names[needed[i]]);
	}
	/* rseq is refused on purpose so glibc uses getcpu */
	assert_int_equal(sys_table[SYS_rseq].level, SYS_ERROR);
}

static void test_names(void **state)
{
	assert_string_equal(sys_name(SYS_read), "read");
	assert_string_equal(sys_name(SYS_kexec_load), "kexec_load");
	assert_string_equal(sys_name(SYS_futex), "futex");
	assert_null(sys_name(SYS_NR_MAX));
	assert_null(sys_name(100000));
}

/* ---- routing: the table's where column is what the dispatcher does ---- */

static const char *const where_text[] = {
	[SYS_LOCAL] = "local", [SYS_FUTEX] = "futex-home",
	[SYS_IOSRV] = "io-server", [SYS_VM] = "vm",
};

static unsigned long forwarded_nr;
static int forwarded_count;

#define FORWARDED_RET (-4242)

static long mock_syscall(vthread_t *vt, unsigned long nr, const uint64_t a[6])
{
	forwarded_nr = nr;
	forwarded_count++;
	return FORWARDED_RET;
}

static const vm_node_ops_t mock_nodes = { .syscall = mock_syscall };

static void test_route_is_the_where_column(void **state)
{
	for (unsigned nr = 0; nr < SYS_NR_MAX; nr++) {
		const sys_entry_t *e = &sys_table[nr];
		bool node0 = e->fn && (e->where == SYS_IOSRV ||
				       e->where == SYS_VM);

		assert_int_equal(sys_runs_on_node0(nr), node0);
	}
	assert_false(sys_runs_on_node0(SYS_NR_MAX));
	/* calls whose place was once decided in node code */
	assert_int_equal(sys_table[SYS_rt_sigaction].where, SYS_VM);
	assert_true(sys_runs_on_node0(SYS_rt_sigaction));
	assert_int_equal(sys_table[SYS_clone].where, SYS_LOCAL);
	assert_int_equal(sys_table[SYS_clone3].where, SYS_LOCAL);
	assert_false(sys_runs_on_node0(SYS_clone3));
	assert_true(sys_runs_on_node0(SYS_read));
	assert_true(sys_runs_on_node0(SYS_mmap));
	assert_true(sys_runs_on_node0(SYS_exit_group));
	assert_false(sys_runs_on_node0(SYS_exit));
	assert_false(sys_runs_on_node0(SYS_futex));
	/* refused calls answer where they are made */
	assert_false(sys_runs_on_node0(SYS_execve));
}

/* On node 1 of a VM spanning nodes, sys_dispatch hands exactly the calls
 * the table places on node 0 to the node layer, and runs the rest here. */
static void test_dispatch_forwards_by_table(void **state)
{
	vthread_t *vt = calloc(1, sizeof(*vt));
	const uint64_t a[6] = { 0 };
	const uint64_t wake[6] = { 0, FUTEX_WAKE_PRIVATE, 1 };
	int expected = 0;

	assert_non_null(vt);
	vt->tid = 7;
	cvmm_vm.pid = 7;
	cvmm_vm.nodes = &mock_nodes;
	cvmm_vm.node = 1;
	cvmm_vm.nnodes = 2;
	forwarded_count = 0;
	for (unsigned nr = 0; nr < SYS_NR_MAX; nr++) {
		if (!sys_runs_on_node0(nr))
			continue;
		forwarded_nr = ~0ul;
		assert_int_equal(sys_dispatch(vt, nr, a), FORWARDED_RET);
		assert_int_equal(forwarded_nr, nr);
		expected++;
	}
	assert_int_equal(forwarded_count, expected);
	assert_true(expected > 50);
	/* local and futex-home calls never reach the forwarder */
	assert_int_equal(sys_dispatch(vt, SYS_getpid, a), 7);
	assert_int_equal(sys_dispatch(vt, SYS_gettid, a), 7);
	assert_int_equal(sys_dispatch(vt, SYS_futex, wake), 0);
	assert_int_equal(sys_dispatch(vt, SYS_execve, a), -ENOSYS);
	assert_int_equal(forwarded_count, expected);
	cvmm_vm.nodes = NULL;
	cvmm_vm.node = 0;
	cvmm_vm.nnodes = 1;
	free(vt);
}

/* `cvmm syscalls --format=csv` prints the table's where column. */
static void test_print_tells_the_where(void **state)
{
	char path[] = "/tmp/test_systab.XXXXXX";
	int fd = mkstemp(path), saved = dup(1), rows = 0;
	char line[512];
	FILE *f;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stdout);
	dup2(fd, 1);
	assert_true(sys_table_print("csv"));
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f)); /* header */
	while (fgets(line, sizeof(line), f)) {
		unsigned nr;
		char name[64], level[16], where[16];

		assert_int_equal(sscanf(line, "%u,%63[^,],%15[^,],%15[^,],",
					&nr, name, level, where), 4);
		assert_true(nr < SYS_NR_MAX);
		assert_string_equal(where, where_text[sys_table[nr].where]);
		rows++;
	}
	fclose(f);
	unlink(path);
	assert_true(rows > 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_complete),
		cmocka_unit_test(test_glibc_set_is_handled),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_route_is_the_where_column),
		cmocka_unit_test(test_dispatch_forwards_by_table),
		cmocka_unit_test(test_print_tells_the_where),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("systab", tests, NULL, NULL);
}
