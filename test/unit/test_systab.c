/* The syscall table is data: every entry is complete, and every call that
 * unmodified static glibc pthreads programs make (docs/design.md) is handled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/syscall.h>

#include "core/sys/sys.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_complete),
		cmocka_unit_test(test_glibc_set_is_handled),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("systab", tests, NULL, NULL);
}
