/* Unit tests of "cvmm report" (cli/report.c, report_html.c): a single-node
 * stats file written here, the multi-node sample
 * test/report/sample_multinode.json (run from the repository root), guest
 * symbol names with the fib guest of this build, and malformed input.
 *
 * The fib guest is $GUESTS/fib when GUESTS is set (as for the integration
 * scripts), else guests/fib beside this test's directory
 * ($(BUILD)/test/test_report -> $(BUILD)/guests/fib); the symbol test says
 * "skipped" when it is not built (make guests). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/report.h"
#include "common/json.h"
#include "core/loader.h"

#define SAMPLE "test/report/sample_multinode.json"

static const char single[] =
	"{\"version\": 1, \"vcpus\": 2, \"nodes\": 1, \"exe\": \"/nonexistent/"
	"fib\", \"wall_s\": 0.5, \"exit_status\": 0, \"per_vcpu\": ["
	"{\"vcpu\": 0, \"host_pu\": 0, \"threads\": 1, \"guest_s\": 0.4, "
	"\"coherence_s\": 0.0, \"syscall_s\": 0.05, \"idle_s\": 0.05, "
	"\"syscalls\": 30},"
	"{\"vcpu\": 1, \"host_pu\": 1, \"threads\": 2, \"guest_s\": 0.45, "
	"\"coherence_s\": 0.0, \"syscall_s\": 0.01, \"idle_s\": 0.04, "
	"\"syscalls\": 9}],"
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

/* Runs the report of doc (written to a temporary file); returns the HTML. */
static char *run_doc(const json_t *doc)
{
	char *in = tmp_file(NULL), *out = tmp_file(NULL), *html;
	FILE *f = fopen(in, "w");

	assert_non_null(f);
	assert_int_equal(jdoc_write(doc, f, JDOC_INDENT), CVMM_OK);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run(in, out), 0);
	html = slurp(out);
	unlink(in);
	unlink(out);
	free(in);
	free(out);
	return html;
}

static json_t *load_sample(void)
{
	char err[JDOC_ERR_LEN];
	json_t *doc;

	if (access(SAMPLE, R_OK) != 0) {
		print_message("skipped: %s not found (run from the repository "
			      "root)\n", SAMPLE);
		skip();
	}
	doc = jdoc_load(SAMPLE, err, sizeof(err));
	if (!doc)
		fail_msg("%s: %s", SAMPLE, err);
	return doc;
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
	json_t *doc = load_sample();
	char *html;

	/* no executable: names come from the file alone */
	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<svg id=\"vcpu-time\""));
	assert_non_null(strstr(html, "<svg id=\"latency\""));
	assert_non_null(strstr(html, "<svg id=\"fault-scatter\""));
	assert_non_null(strstr(html, "<table id=\"hot-pages\""));
	assert_non_null(strstr(html, "stack of thread 5"));
	assert_non_null(strstr(html, "heap"));
	assert_non_null(strstr(html, "written alternately by nodes 1 and 3"));
	assert_non_null(strstr(html, "no executable named: addresses in hex"));
	/* threads that moved: every node's out and in, the threads that
	 * moved (a thread with none is not listed) */
	assert_non_null(strstr(html, "<table id=\"migrations\">"));
	assert_non_null(strstr(html, "9 migrations"));
	assert_non_null(strstr(html, "<tr><td>2</td><td>4</td><td>1</td></tr>"));
	assert_non_null(strstr(html, "<table id=\"migrations-threads\">"));
	assert_non_null(strstr(html, "<tr><td>7</td><td>5</td></tr>"));
	assert_null(strstr(html, "<tr><td>8</td><td>0</td></tr>"));
	free(html);
	json_decref(doc);
}

/* Runs the terminal summary of doc into a string. */
static char *run_doc_text(const json_t *doc)
{
	char *in = tmp_file(NULL), *txt;
	FILE *f = fopen(in, "w");
	char *argv[] = { "report", in, NULL };
	int saved = dup(STDOUT_FILENO);
	char *out = tmp_file(NULL);
	int fd = open(out, O_WRONLY | O_TRUNC);

	assert_non_null(f);
	assert_int_equal(jdoc_write(doc, f, JDOC_INDENT), CVMM_OK);
	assert_int_equal(fclose(f), 0);
	assert_true(saved >= 0 && fd >= 0);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	assert_int_equal(report_main(2, argv), 0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	txt = slurp(out);
	unlink(in);
	unlink(out);
	free(in);
	free(out);
	return txt;
}

/* A hot page with atomic writes: its count on the terminal and in the
 * table, and a synchronisation-page hint instead of the false-sharing
 * one; a file from before the field: as before. */
static void test_sync_pages(void **state)
{
	json_t *doc = load_sample();
	json_t *hot0;
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	hot0 = json_array_get(json_object_get(doc, "hot_pages"), 0);
	assert_non_null(hot0);
	assert_int_equal(json_object_set_new(hot0, "atomic_writes",
					     json_integer(3000)),
			 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "3302 writes (3000 atomic)"));
	assert_non_null(strstr(txt, "holds a synchronization variable (3000 "
				    "of its write faults were atomic"));
	assert_non_null(strstr(txt, "alternately by nodes 1 and 3: keep "
				    "other data off its page"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<th>atomic writes</th>"));
	assert_non_null(strstr(html, "<td>3302</td><td>3000</td>"));
	assert_non_null(strstr(html, "Synchronization page: page"));
	/* the other alternating pages keep the false-sharing hint */
	assert_non_null(strstr(html, "False sharing? "));
	free(html);
	assert_int_equal(json_object_del(hot0, "atomic_writes"), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "atomic"));
	free(txt);
	json_decref(doc);
}

static void test_migrations(void **state)
{
	json_t *doc = load_sample();
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "migrations: 9 (node 0 out 3 in 2, node 1 "
				    "out 2 in 4, node 2 out 4 in 1, node 3 "
				    "out 0 in 2)\n"));
	assert_non_null(strstr(txt, "threads that moved: thread 7 5, thread "
				    "5 4\n"));
	free(txt);
	/* a file from before migrations: no section, no line */
	assert_int_equal(json_object_del(doc, "migrations"), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "migrations"));
	free(txt);
	html = run_doc(doc);
	assert_null(strstr(html, "id=\"migrations"));
	free(html);
	/* none at all: the line says 0, no thread list */
	assert_int_equal(json_object_set_new(doc, "migrations", json_pack(
		"{s:i, s:[], s:[]}", "total", 0, "per_node", "per_thread")),
		0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "migrations: 0\n"));
	assert_null(strstr(txt, "threads that moved"));
	free(txt);
	/* a malformed member is no member */
	assert_int_equal(json_object_set_new(doc, "migrations",
					     json_string("many")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "migrations"));
	free(txt);
	json_decref(doc);
}

/* Time-sharing: a file from before the CPU times shows "-" and no line
 * (its vCPUs are on distinct PUs of each node); two vCPUs of one node on
 * one PU are named, and a wait of 10% or more of the runnable time is
 * given, on the terminal and in the page. */
static void test_time_shared(void **state)
{
	json_t *doc = load_sample(), *pv;
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "time-shared"));
	assert_non_null(strstr(txt, "       -        57\n"));
	free(txt);
	pv = json_object_get(doc, "per_vcpu");
	for (size_t i = 0; i < json_array_size(pv); i++) {
		json_t *v = json_array_get(pv, i);

		json_object_set_new(v, "cpu_s", json_real(1.0));
		json_object_set_new(v, "cpu_wait_s", json_real(0.05));
	}
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "time-shared")); /* 5%: not worth a line */
	assert_non_null(strstr(txt, "     4.8        57\n"));
	free(txt);
	/* vCPU 1 onto vCPU 0's PU, its threads waited as long as they ran */
	json_object_set_new(json_array_get(pv, 1), "host_pu",
			    json_integer(0));
	json_object_set_new(json_array_get(pv, 1), "cpu_wait_s",
			    json_real(1.0));
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "time-shared: node 0 pu 0 runs vCPUs 0, "
				    "1; guest threads waited for a CPU 14% of "
				    "the time they were ready to run\n"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<p class=\"note\" id=\"time-shared\">"
				     "time-shared: node 0 pu 0 runs vCPUs 0, "
				     "1;"));
	free(html);
	json_decref(doc);
}

/* The balancer's moves: a line and the timeline on the terminal, a list
 * in the page; nothing for a file without the member or a malformed one
 * (the sample file is from before it). */
static void test_balance(void **state)
{
	json_t *doc = load_sample();
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "balancer"));
	free(txt);
	assert_int_equal(json_object_set_new(doc, "balance", json_pack(
		"{s:s, s:i, s:i, s:[{s:f, s:i, s:i, s:i, s:i, s:i, s:b}]}",
		"mode", "auto", "period_ms", 1000, "moves_total", 1, "moves",
		"t_s", 3.03, "tid", 26365, "from", 1, "to", 0, "from_cpu_pct",
		14, "to_idle_pct", 64, "forced", 0)), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "balancer: auto, 1 moves\n  3.03 s: "
				    "thread 26365 node 1 -> node 0 (node 1's "
				    "threads got 14% of the CPU they wanted, "
				    "node 0 had 64% of a core idle)\n"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<ol id=\"balance\"><li>3.03 s: thread "
				     "26365 node 1 -&gt; node 0"));
	free(html);
	assert_int_equal(json_object_set_new(doc, "balance",
					     json_string("auto")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "balancer"));
	free(txt);
	json_decref(doc);
}

/* Nodes joining and leaving: a head line and the changes in time order on
 * the terminal, a list in the page; nothing without the member or with a
 * malformed one. */
static void test_membership(void **state)
{
	json_t *doc = load_sample();
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "membership"));
	free(txt);
	assert_int_equal(json_object_set_new(doc, "membership", json_pack(
		"{s:i, s:i, s:i, s:i, s:[{s:f, s:s, s:i, s:i, s:i, s:f, s:i,"
		" s:[iii]}, {s:f, s:s, s:i, s:i, s:i, s:f, s:i}]}",
		"slots", 4, "started", 3, "joins", 1, "leaves", 1, "events",
		"t_s", 1.25, "event", "leave", "node", 1, "heir", 2, "epoch", 2,
		"ms", 59.4, "pages", 43, "vcpus", 2, 0, 2,
		"t_s", 1.5, "event", "join", "node", 3, "heir", -1, "epoch", 3,
		"ms", 81.0, "pages", 0)), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "membership: 4 slots, 3 started, 1 joins, "
				    "1 leaves\n  1.25 s: node 1 left, node 2 "
				    "took its roles and 43 pages (epoch 2, 59 "
				    "ms); vCPUs: node 0 2, node 2 2\n  1.50 s: "
				    "node 3 joined (epoch 3, 81 ms)\n"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<ol id=\"membership\"><li>1.25 s: node 1 "
				     "left"));
	assert_non_null(strstr(html, "<li>1.50 s: node 3 joined (epoch 3, 81 "
				     "ms)</li>"));
	free(html);
	assert_int_equal(json_object_set_new(doc, "membership",
					     json_string("x")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "membership"));
	free(txt);
	json_decref(doc);
}

/* The release memory model's block: on the terminal and as a table with
 * a column per node; the race hint only with races; no block for the
 * sequential model's zeros or a file from before the member. */
static void test_release(void **state)
{
	json_t *doc = load_sample(), *rc;
	char *txt, *html;

	assert_int_equal(json_object_set_new(doc, "exe", json_string("")), 0);
	rc = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
		       "s:i, s:[{s:i, s:i, s:i}, {s:i, s:i, s:i}]}",
		       "memory_model", "release", "promoted_pages", 12,
		       "demoted_pages", 2,
		       "diffs_sent", 1715,
		       "diff_bytes", 18564, "write_notices", 4,
		       "notices_applied", 3, "sync_pages",
		       7, "races", 0, "forwards_deferred", 825, "twins", 3030,
		       "per_node", "node", 0, "diffs_sent", 1715, "sync_pages",
		       0, "node", 1, "diffs_sent", 0, "sync_pages", 7);
	assert_non_null(rc);
	assert_int_equal(json_object_set_new(doc, "release", rc), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "\nrelease memory model: 1715 diffs sent "
				    "(18.1 KiB), 4 write notices (3 applied in "
				    "place)\n  12 pages "
				    "promoted to data pages (2 given back), 7 "
				    "synchronization pages, 0 races detected, "
				    "825 forwards waited for a release\n"));
	assert_null(strstr(txt, "data race"));
	assert_null(strstr(txt, "fault time")); /* not in the file */
	free(txt);
	/* fault time by protocol, where the file has it */
	assert_int_equal(json_object_set_new(rc, "seq_page_faults",
					     json_integer(56000)), 0);
	assert_int_equal(json_object_set_new(rc, "seq_page_fault_ns",
					     json_integer(3510000000)), 0);
	assert_int_equal(json_object_set_new(rc, "data_page_faults",
					     json_integer(12000)), 0);
	assert_int_equal(json_object_set_new(rc, "data_page_fault_ns",
					     json_integer(290000000)), 0);
	assert_int_equal(json_object_set_new(rc, "handover_release_ns",
					     json_integer(45000000)), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "825 forwards waited for a release\n"
				    "  fault time: 3.510 s on pages under the "
				    "sequential protocol (56000 faults), 0.290 "
				    "s on data pages (12000); hand-overs "
				    "waiting for a release: 0.045 s\n"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<tr><th class=\"l\">faults on data "
				     "pages</th><td>12000</td>"));
	free(html);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<h2>Release memory model</h2>"));
	assert_non_null(strstr(html, "<table id=\"release\"><tr><th class=\"l\">"
				     "</th><th>all nodes</th><th>node 0</th>"
				     "<th>node 1</th></tr>"));
	assert_non_null(strstr(html, "<tr><th class=\"l\">diffs sent</th>"
				     "<td>1715</td><td>1715</td><td>0</td>"
				     "</tr>"));
	assert_non_null(strstr(html, "<tr><th class=\"l\">synchronization "
				     "pages</th><td>7</td><td>0</td><td>7</td>"
				     "</tr>"));
	assert_null(strstr(html, "Data races"));
	free(html);
	/* races: a hint */
	assert_int_equal(json_object_set_new(rc, "races", json_integer(2)), 0);
	txt = run_doc_text(doc);
	assert_non_null(strstr(txt, "2 races detected"));
	assert_non_null(strstr(txt, "  hint: two nodes wrote the same bytes"));
	free(txt);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<p class=\"hint\">Data races: "));
	free(html);
	/* the sequential model: zeros, no block */
	rc = json_pack("{s:s, s:i, s:i, s:[]}", "memory_model", "sequential",
		       "diffs_sent", 0, "races", 0, "per_node");
	assert_int_equal(json_object_set_new(doc, "release", rc), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "release memory model"));
	free(txt);
	html = run_doc(doc);
	assert_null(strstr(html, "Release memory model"));
	free(html);
	/* a file from before the member, or a malformed one */
	assert_int_equal(json_object_del(doc, "release"), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "release memory model"));
	free(txt);
	assert_int_equal(json_object_set_new(doc, "release",
					     json_string("yes")), 0);
	txt = run_doc_text(doc);
	assert_null(strstr(txt, "release memory model"));
	free(txt);
	json_decref(doc);
}

/* The fib guest of this build, or skip. */
static void fib_path(char *buf, size_t len)
{
	char self[PATH_MAX];
	const char *guests = getenv("GUESTS");
	ssize_t n;

	if (guests && guests[0]) {
		snprintf(buf, len, "%s/fib", guests);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		assert_true(n > 0);
		self[n] = '\0';
		snprintf(buf, len, "%s/../guests/fib", dirname(self));
	}
	if (access(buf, R_OK) != 0) {
		print_message("skipped: %s not built (make guests)\n", buf);
		skip();
	}
}

/* Address of the symbol name in img's writable segments, found the way
 * the report names addresses (loader_symbolize); 0 when absent. */
static uint64_t find_data_symbol(const loader_image_t *img, const char *name)
{
	char got[160];

	for (unsigned s = 0; s < img->nsegs; s++) {
		const loader_seg_t *g = &img->segs[s];

		if (!(g->prot & PROT_WRITE))
			continue;
		for (uint64_t a = g->vaddr; a < g->vaddr + g->memsz; a += 8)
			if (loader_symbolize(img, a, got, sizeof(got)) &&
			    strcmp(got, name) == 0)
				return a;
	}
	return 0;
}

/* fib's results array (a page written by every thread), wherever this
 * build put it: the sample's hottest page is moved onto it, and the report
 * must name it; an address past the image, the heap and the stacks is
 * "mmap", never the image's last symbol. */
static void test_symbols(void **state)
{
	char path[PATH_MAX + 16], err[200], *html;
	json_t *doc, *hot;
	loader_image_t img;
	struct stat st;
	uint64_t results;
	void *map;
	int fd;

	fib_path(path, sizeof(path));
	doc = load_sample();
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	if (loader_parse(map, (size_t)st.st_size, &img, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	results = find_data_symbol(&img, "results");
	munmap(map, (size_t)st.st_size);
	if (!results)
		fail_msg("%s: no symbol results (stripped?)", path);
	hot = json_array_get(json_object_get(doc, "hot_pages"), 0);
	assert_int_equal(json_object_set_new(hot, "addr",
			 json_integer((json_int_t)(results & ~0xfffULL))), 0);
	assert_int_equal(json_object_set_new(doc, "exe", json_string(path)),
			 0);
	html = run_doc(doc);
	assert_non_null(strstr(html, "<td class=\"l\">results"));
	assert_non_null(strstr(html, "0xfffe400000 (mmap)"));
	assert_null(strstr(html, "__TMC_END__"));
	assert_null(strstr(html, "addresses in hex"));
	free(html);
	json_decref(doc);
}

static void test_malformed(void **state)
{
	char *in = tmp_file("{\"version\": 1, \"per_vcpu\": [}");
	char *notstats = tmp_file("[1, 2, 3]");
	char *noarray = tmp_file("{\"per_vcpu\": 3}");
	char *big = tmp_file(NULL);

	assert_int_equal(truncate(big, JDOC_MAX_LEN + 1), 0);
	assert_int_not_equal(run(in, NULL), 0);
	assert_int_not_equal(run(notstats, NULL), 0);
	assert_int_not_equal(run(noarray, NULL), 0);
	assert_int_not_equal(run(big, NULL), 0);
	assert_int_not_equal(run("/nonexistent/run.json", NULL), 0);
	unlink(in);
	unlink(notstats);
	unlink(noarray);
	unlink(big);
	free(in);
	free(notstats);
	free(noarray);
	free(big);
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
		cmocka_unit_test(test_sync_pages),
		cmocka_unit_test(test_migrations),
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_time_shared),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_usage),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
