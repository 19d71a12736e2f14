/* rdma/dl.c: libraries loaded on first use. A missing library or function
 * gives one line and CVMM_ERR_UNSUPPORTED with an empty table; UCX, PMIx
 * and libibverbs load by their SONAMEs; the signal handlers UCX's
 * constructors take are put back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "rdma/dl.h"
#include "rdma/dl_pmix.h"
#include "rdma/dl_ucx.h"
#include "rdma/dl_verbs.h"

static int saved_stderr = -1;
static FILE *cap_file;
static char cap_buf[4096];

/* Sends fd 2 (where log_emit writes) to a temporary file. */
static void capture_begin(void)
{
	cap_file = tmpfile();
	assert_non_null(cap_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(cap_file), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was logged since capture_begin. */
static const char *capture_end(void)
{
	size_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(cap_file);
	n = fread(cap_buf, 1, sizeof(cap_buf) - 1, cap_file);
	cap_buf[n] = '\0';
	fclose(cap_file);
	return cap_buf;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

struct math_api {
	double (*cos)(double);
	double (*cvmm_no_such_function)(double);
};

static void test_missing_library(void **state)
{
	struct math_api t = { 0 };
	static const dl_sym_t syms[] = { DL_SYM(struct math_api, cos) };
	dl_lib_t lib = DL_LIB_INIT("libcvmm-missing.so.0",
				   "multi-node runs need it", syms, t);
	const char *out;

	assert_string_equal(dl_error(&lib), "");
	capture_begin();
	assert_int_equal(dl_load(&lib, LOG_LVL_ERROR), CVMM_ERR_UNSUPPORTED);
	out = capture_end();
	print_message("%s", out);
	assert_int_equal(count_lines(out), 1);
	assert_string_equal(out, "cvmm: cannot load libcvmm-missing.so.0: "
				 "cannot open shared object file: No such "
				 "file or directory; multi-node runs need "
				 "it\n");
	assert_string_equal(dl_error(&lib),
			    "cannot load libcvmm-missing.so.0: cannot open "
			    "shared object file: No such file or directory");
	assert_null(t.cos);
	/* not retried; the caller's level decides whether it is said again */
	capture_begin();
	assert_int_equal(dl_load(&lib, LOG_LVL_DEBUG), CVMM_ERR_UNSUPPORTED);
	out = capture_end();
	assert_int_equal(count_lines(out), log_level >= LOG_LVL_DEBUG);
}

static void test_missing_function(void **state)
{
	struct math_api t = { 0 };
	static const dl_sym_t syms[] = {
		DL_SYM(struct math_api, cos)
		DL_SYM(struct math_api, cvmm_no_such_function)
	};
	dl_lib_t lib = DL_LIB_INIT("libm.so.6", "the test needs it", syms, t);
	const char *out;

	capture_begin();
	assert_int_equal(dl_load(&lib, LOG_LVL_WARN), CVMM_ERR_UNSUPPORTED);
	out = capture_end();
	print_message("%s", out);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "cvmm: warn: cannot load libm.so.6: "
				    "undefined symbol: "
				    "cvmm_no_such_function; the test needs "
				    "it\n"));
	assert_null(t.cos); /* all or nothing */
	assert_null(t.cvmm_no_such_function);
}

static void test_found(void **state)
{
	struct math_api t = { 0 };
	static const dl_sym_t syms[] = { DL_SYM(struct math_api, cos) };
	dl_lib_t lib = DL_LIB_INIT("libm.so.6", "the test needs it", syms, t);
	volatile double zero = 0.0;

	assert_int_equal(dl_load(&lib, LOG_LVL_ERROR), CVMM_OK);
	assert_ptr_equal(t.cos, cos);
	assert_true(t.cos(zero) == 1.0);
	assert_string_equal(dl_error(&lib), "");
}

typedef struct ksig {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
} ksig_t;

static void on_signal(int sig)
{
}

/* The handlers entry.c installs before the node step loads UCX (with its
 * own restorer: compared as the kernel holds them) survive the load. */
static void test_ucx_keeps_handlers(void **state)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa = { .sa_handler = on_signal };
	ksig_t before[4], after[4];
	log_level_t level = log_level;
	const char *out;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(sigaction(sigs[i], &sa, NULL), 0);
		assert_int_equal(syscall(SYS_rt_sigaction, sigs[i], NULL,
					 &before[i], 8), 0);
	}
	log_level = LOG_LVL_DEBUG;
	capture_begin();
	assert_int_equal(ucx_load(LOG_LVL_ERROR), CVMM_OK);
	out = capture_end();
	log_level = level;
	print_message("%s", out);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(syscall(SYS_rt_sigaction, sigs[i], NULL,
					 &after[i], 8), 0);
		assert_memory_equal(&before[i], &after[i], sizeof(ksig_t));
	}
	/* UCX's error handling (UCX_HANDLE_ERRORS, default bt) took them */
	if (!getenv("UCX_HANDLE_ERRORS") && !getenv("UCX_ERROR_SIGNALS"))
		assert_non_null(strstr(out, "libucp.so.0 took the handler "
					    "of signal 11: put back"));
	assert_string_equal(ucx_load_error(), "");
	assert_non_null(ucx.ucp_get_version_string);
	print_message("ucx %s\n", ucx.ucp_get_version_string());
}

static void test_families_load(void **state)
{
	assert_int_equal(ucx_load(LOG_LVL_ERROR), CVMM_OK);
	assert_int_equal(pmix_load(LOG_LVL_ERROR), CVMM_OK);
	assert_int_equal(verbs_load(LOG_LVL_ERROR), CVMM_OK);
	assert_non_null(ucx.ucp_init_version);
	assert_non_null(ucx.uct_release_tl_resource_list);
	assert_non_null(pmix.PMIx_Value_destruct);
	assert_non_null(verbs.ibv_get_device_list);
	assert_non_null((verbs.ibv_query_port));
	assert_string_equal(pmix.PMIx_Error_string(PMIX_SUCCESS), "SUCCESS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_function),
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_ucx_keeps_handlers),
		cmocka_unit_test(test_families_load),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("dl", tests, NULL, NULL);
}
