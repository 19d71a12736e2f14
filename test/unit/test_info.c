/* Unit tests for cli/info.c and info_rdma.c: `cvmm info` run in-process
 * with stdout redirected to a temporary file; text sections, the vCPU
 * placement rule, the RDMA verdict on this host, JSON shape, bad options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "cli/info.h"
#include "rdma/dl_verbs.h"

#define OUT_MAX (256 << 10)

static char out[OUT_MAX];

/* Runs info_main(argv) with stdout captured into out; returns its status. */
static int run_info(char **argv)
{
	char path[] = "/tmp/cvmm-test-info-XXXXXX";
	int argc = 0, fd, saved, rc;
	ssize_t n, got = 0;

	while (argv[argc])
		argc++;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	rc = info_main(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(fd);
	return rc;
}

/* Same with error logs silenced (bad options log on purpose). */
static int run_info_quiet(char **argv)
{
	log_level_t saved = log_level;
	int rc;

	log_level = LOG_LVL_FATAL;
	rc = run_info(argv);
	log_level = saved;
	return rc;
}

static void assert_has(const char *needle)
{
	if (!strstr(out, needle))
		fail_msg("missing \"%s\" in output:\n%s", needle, out);
}

static int host_cores(void)
{
	hwloc_topology_t topo;
	int n;

	assert_int_equal(hwloc_topology_init(&topo), 0);
	assert_int_equal(hwloc_topology_load(topo), 0);
	n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	hwloc_topology_destroy(topo);
	return n;
}

static void test_text_sections(void **state)
{
	char *argv[] = { "info", NULL };

	assert_int_equal(run_info(argv), 0);
	assert_has("host topology (hwloc)");
	assert_has("  packages ");
	assert_has("  numa nodes ");
	assert_has("  cores ");
	assert_has("  pus ");
	assert_has("rdma devices (libibverbs)");
	assert_has("ucx transports (ucx ");
	assert_has("kernel features (for this user");
	assert_has("userfaultfd");
	assert_has("syscall user dispatch");
	assert_has("seccomp RET_TRAP");
	assert_has("\nverdict: cvmm run will use ");
	assert_has("syscall interception: ");
	assert_has("multi-node coherence: ");
	assert_has("\n  page transfer: ");
}

static void test_text_no_rdma(void **state)
{
	struct ibv_device **list;
	char *argv[] = { "info", NULL };
	int n = 0;

	assert_int_equal(verbs_load(LOG_LVL_ERROR), CVMM_OK);
	list = verbs.ibv_get_device_list(&n);
	if (list)
		verbs.ibv_free_device_list(list);
	if (list && n > 0) {
		print_message("note: this host has %d RDMA device(s): "
			      "skipping the no-device checks\n", n);
		skip();
	}
	assert_int_equal(run_info(argv), 0);
	assert_has("no RDMA device");
	assert_has("docs/softroce.md");
	assert_has("verdict: cvmm run will use tcp (no RDMA device");
	assert_has("tcp on ");
	assert_has("\n  page transfer: push (--page-transfer=auto: no ACTIVE "
		   "RDMA port");
}

/* vcpu i -> first PU of core i mod ncores, as vm_place_vcpus does. */
static void assert_vcpu_rule(int nvcpus)
{
	hwloc_topology_t topo;
	int ncores;
	char line[128];

	assert_int_equal(hwloc_topology_init(&topo), 0);
	assert_int_equal(hwloc_topology_load(topo), 0);
	ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	assert_true(ncores > 0);
	for (int i = 0; i < nvcpus; i++) {
		hwloc_obj_t core = hwloc_get_obj_by_type(
			topo, HWLOC_OBJ_CORE, (unsigned)(i % ncores));
		hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(
			topo, core->cpuset, HWLOC_OBJ_PU, 0);

		snprintf(line, sizeof(line), "    vcpu %d -> pu %u (core %d", i,
			 pu->os_index, i % ncores);
		assert_has(line);
	}
	snprintf(line, sizeof(line), "    vcpu %d -> ", nvcpus);
	assert_null(strstr(out, line));
	hwloc_topology_destroy(topo);
}

static void test_vcpus_map(void **state)
{
	char *short_opt[] = { "info", "-v", "4", NULL };
	char *long_opt[] = { "info", "--vcpus", "4", NULL };
	char *eq_opt[] = { "info", "--vcpus=4", NULL };

	assert_int_equal(run_info(short_opt), 0);
	assert_has("vcpu placement for -v 4 (vcpu i -> first pu of core i "
		   "mod ");
	assert_vcpu_rule(4);
	assert_int_equal(run_info(long_opt), 0);
	assert_vcpu_rule(4);
	assert_int_equal(run_info(eq_opt), 0);
	assert_vcpu_rule(4);
}

static void test_vcpus_default(void **state)
{
	char *argv[] = { "info", NULL };
	char want[64];
	int ncores = host_cores();

	assert_int_equal(run_info(argv), 0);
	snprintf(want, sizeof(want), "vcpu placement for -v %d ", ncores);
	assert_has(want);
	assert_vcpu_rule(ncores);
}

/* out parsed as one JSON document (common/json.h); the caller decrefs. */
static json_t *out_json(void)
{
	char err[JDOC_ERR_LEN];
	json_t *doc = jdoc_parse(out, strlen(out), err, sizeof(err));

	if (!doc)
		fail_msg("cvmm info --format=json: %s:\n%s", err, out);
	return doc;
}

/* Member path a.b.c of doc, failing the test when it is absent. */
static json_t *member(json_t *doc, const char *path)
{
	char buf[128], *save, *key;
	json_t *v = doc;

	snprintf(buf, sizeof(buf), "%s", path);
	for (key = strtok_r(buf, ".", &save); key;
	     key = strtok_r(NULL, ".", &save)) {
		v = json_object_get(v, key);
		if (!v)
			fail_msg("no member %s in:\n%s", path, out);
	}
	return v;
}

/* --page-transfer=auto's choice follows the transport verdict: get over
 * rdma, push over tcp (node.c, node_page_push, decides the same way). */
static void assert_page_transfer(json_t *doc)
{
	const char *tr = json_string_value(member(doc, "verdict.transport"));
	const char *page = json_string_value(member(doc,
						    "verdict.page_transfer"));

	assert_non_null(tr);
	assert_non_null(page);
	assert_string_equal(page, strcmp(tr, "rdma") == 0 ? "get" : "push");
	assert_true(json_is_string(member(doc,
					  "verdict.page_transfer_reason")));
}

static void test_json(void **state)
{
	char *argv[] = { "info", "--format=json", "-v", "4", NULL };
	char *spaced[] = { "info", "--format", "json", NULL };
	json_t *doc, *vcpus;

	assert_int_equal(run_info(argv), 0);
	doc = out_json();
	assert_true(json_is_boolean(member(doc, "topology.ok")));
	assert_true(json_is_array(member(doc, "rdma.devices")));
	assert_true(json_is_string(member(doc, "ucx.version")));
	assert_true(json_is_array(member(doc, "ucx.transports")));
	assert_true(json_is_boolean(member(doc, "kernel.userfaultfd.full")));
	assert_true(json_is_boolean(member(doc,
					   "kernel.userfaultfd.minor_shmem")));
	assert_true(json_is_boolean(member(doc,
					   "kernel.syscall_user_dispatch")));
	assert_true(json_is_string(member(doc, "verdict.transport")));
	assert_true(json_is_string(member(doc,
					  "verdict.syscall_interception")));
	assert_true(json_is_boolean(member(doc, "verdict.uffd_minor_shmem")));
	assert_page_transfer(doc);
	vcpus = member(doc, "topology.vcpus");
	assert_int_equal(json_array_size(vcpus), 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(json_integer_value(json_object_get(
					 json_array_get(vcpus, i), "vcpu")),
				 i);
	assert_null(strstr(out, "verdict: "));
	assert_int_equal(out[strlen(out) - 1], '\n');
	json_decref(doc);
	assert_int_equal(run_info(spaced), 0);
	doc = out_json();
	assert_true(json_is_object(member(doc, "verdict")));
	json_decref(doc);
}

static void test_bad_options(void **state)
{
	char *cases[][4] = {
		{ "info", "--bogus", NULL },
		{ "info", "-v", "0", NULL },
		{ "info", "-v", "abc", NULL },
		{ "info", "-v", "4x", NULL },
		{ "info", "--vcpus=100000", NULL },
		{ "info", "-v", NULL },
		{ "info", "--format=xml", NULL },
		{ "info", "--format", NULL },
		{ "info", "extra", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run_info_quiet(cases[i]);

		if (rc == 0)
			fail_msg("case %zu (%s %s) returned 0", i, cases[i][1],
				 cases[i][2] ? cases[i][2] : "");
		assert_string_equal(out, "");
	}
}

static void test_help(void **state)
{
	char *argv[] = { "info", "--help", NULL };

	assert_int_equal(run_info(argv), 0);
	assert_has("usage: cvmm info");
	assert_null(strstr(out, "verdict"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_sections),
		cmocka_unit_test(test_text_no_rdma),
		cmocka_unit_test(test_vcpus_map),
		cmocka_unit_test(test_vcpus_default),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_help),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
