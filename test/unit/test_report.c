/* Unit tests of "cvmm report" (core/report.c): a single-node stats file
 * written here, the multi-node sample test/report/sample_multinode.json
 * (run from the repository root), and malformed input. Symbol names are
 * checked only when build/guests/fib exists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/report.h"

#define SAMPLE "test/report/sample_multinode.json"

static const char single[] =
	"{\"version\": 1, \"vcpus\": 2, \"nodes\": 1, \"exe\": \"/nonexistent/"
	"fib\", \"wall_s\": 0.5, \"exit_status\": 0, \"per_vcpu\": ["
	"{\"vcpu\": 0, \"host_pu\": 0, \"threads\": 1, \"guest_s\": 0.4, "
	"\"syscall_s\": 0.05, \"idle_s\": 0.05, \"syscalls\": 30},"
	"{\"vcpu\": 1, \"host_pu\": 1, \"threads\": 2, \"guest_s\": 0.45, "
	"\"syscall_s\": 0.01, \"idle_s\": 0.04, \"syscalls\": 9}],"
	"\"syscalls\": {\"futex\": 12, \"write\": 3}}\n";

static char *tmp_file(const char *content)
{
	char *path = strdup("/tmp/cvmm_report_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	if (content)
		assert_int_equal(write(fd, content, strlen(content)),
				 (ssize_t)strlen(content));
	close(fd);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 20) - 1, f) > 0);
	fclose(f);
	return buf;
}

static int run(const char *in, const char *out)
{
	char *argv[] = { "report", (char *)in, "-o", (char *)out, NULL };

	return report_main(out ? 4 : 2, argv);
}

static void test_single_node(void **state)
{
	char *in = tmp_file(single), *out = tmp_file(NULL), *html;

	assert_int_equal(run(in, out), 0);
	html = slurp(out);
	assert_non_null(strstr(html, "<svg id=\"vcpu-time\""));
	assert_non_null(strstr(html, "no coherence data: single node run"));
	assert_null(strstr(html, "<svg id=\"latency\""));
	assert_non_null(strstr(html, "futex"));
	assert_null(strstr(html, "<script"));
	free(html);
	unlink(in);
	unlink(out);
	free(in);
	free(out);
}

static void test_multinode_sample(void **state)
{
	char *out = tmp_file(NULL), *html;

	if (access(SAMPLE, R_OK) != 0) {
		printf("note: %s not found (run from the repository root)\n",
		       SAMPLE);
		skip();
	}
	assert_int_equal(run(SAMPLE, out), 0);
	html = slurp(out);
	assert_non_null(strstr(html, "<svg id=\"vcpu-time\""));
	assert_non_null(strstr(html, "<svg id=\"latency\""));
	assert_non_null(strstr(html, "<svg id=\"fault-scatter\""));
	assert_non_null(strstr(html, "<table id=\"hot-pages\""));
	assert_non_null(strstr(html, "stack of thread 5"));
	assert_non_null(strstr(html, "heap"));
	assert_non_null(strstr(html, "written alternately by nodes 1 and 3"));
	/* the sample names /work/main/build/guests/fib as its exe */
	if (access("/work/main/build/guests/fib", R_OK) == 0) {
		assert_non_null(strstr(html, "results"));
		/* past the image, the heap and the stacks: not __TMC_END__ */
		assert_non_null(strstr(html, "0xfffe400000 (mmap)"));
		assert_null(strstr(html, "__TMC_END__"));
	} else {
		printf("note: build/guests/fib absent: symbol names not "
		       "checked\n");
	}
	free(html);
	unlink(out);
	free(out);
}

static void test_malformed(void **state)
{
	char *in = tmp_file("{\"version\": 1, \"per_vcpu\": [}");
	char *notstats = tmp_file("[1, 2, 3]");

	assert_int_not_equal(run(in, NULL), 0);
	assert_int_not_equal(run(notstats, NULL), 0);
	assert_int_not_equal(run("/nonexistent/run.json", NULL), 0);
	unlink(in);
	unlink(notstats);
	free(in);
	free(notstats);
}

static void test_usage(void **state)
{
	char *argv[] = { "report", NULL };
	char *argv2[] = { "report", "a.json", "--bogus", NULL };

	assert_int_equal(report_main(1, argv), 1);
	assert_int_equal(report_main(3, argv2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_node),
		cmocka_unit_test(test_multinode_sample),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
