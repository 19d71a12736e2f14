/* common/env.c: what the agent keeps from the guest's environment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/env.h"

static void test_agent_only(void **state)
{
	assert_true(cvmm_env_agent_only("CVMM_JOB_COOKIE=00ff", NULL));
	assert_true(cvmm_env_agent_only("CVMM_BOOT_RANK=1", NULL));
	assert_true(cvmm_env_agent_only("CVMM_BOOT_ADDR=/tmp/x", NULL));
	assert_true(cvmm_env_agent_only("CVMM_AGENT_ENV=A,B", NULL));
	assert_true(cvmm_env_agent_only("UCX_USE_MT_MUTEX=y",
					"CVMM_NODE_PROGRESS,UCX_USE_MT_MUTEX"));
	/* the user's own variables, also cvmm's documented settings */
	assert_false(cvmm_env_agent_only("UCX_USE_MT_MUTEX=y", NULL));
	assert_false(cvmm_env_agent_only("UCX_USE_MT_MUTEX=y", "UCX_USE"));
	assert_false(cvmm_env_agent_only("CVMM_JOB_COOKIEX=1", NULL));
	assert_false(cvmm_env_agent_only("CVMM_CORE_VCPUS=4", NULL));
	assert_false(cvmm_env_agent_only("PATH=/bin", "PATHX,XPATH"));
	assert_false(cvmm_env_agent_only("HOME=/root", ""));
}

static void test_guest_env(void **state)
{
	char *envp[] = { "PATH=/bin", "CVMM_JOB_COOKIE=1234", "HOME=/h",
			 "CVMM_AGENT_ENV=CVMM_NODE_PROGRESS,UCX_USE_MT_MUTEX",
			 "CVMM_NODE_PROGRESS=event", "CVMM_BOOT_SIZE=2",
			 "UCX_USE_MT_MUTEX=y", "CVMM_TEST_VAR=x", NULL };
	char **g = cvmm_env_guest(envp);

	assert_non_null(g);
	assert_string_equal(g[0], "PATH=/bin");
	assert_string_equal(g[1], "HOME=/h");
	assert_string_equal(g[2], "CVMM_TEST_VAR=x");
	assert_null(g[3]);
	free(g);
}

static void test_add_records(void **state)
{
	unsetenv(CVMM_ENV_ADDED);
	unsetenv("CVMM_T_ONE");
	setenv("CVMM_T_TWO", "user", 1);
	assert_int_equal(cvmm_env_add("CVMM_T_ONE", "1"), 0);
	assert_int_equal(cvmm_env_add("CVMM_T_TWO", "2"), 0);
	assert_string_equal(getenv("CVMM_T_ONE"), "1");
	assert_string_equal(getenv("CVMM_T_TWO"), "user"); /* the user's wins */
	assert_string_equal(getenv(CVMM_ENV_ADDED), "CVMM_T_ONE");
	unsetenv("CVMM_T_THREE");
	assert_int_equal(cvmm_env_add("CVMM_T_THREE", "3"), 0);
	assert_string_equal(getenv(CVMM_ENV_ADDED), "CVMM_T_ONE,CVMM_T_THREE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_only),
		cmocka_unit_test(test_guest_env),
		cmocka_unit_test(test_add_records),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("env", tests, NULL, NULL);
}
