/* cvmm report: a --stats JSON file as a terminal summary and an HTML page
 * with inline SVG charts (per-vCPU time breakdown, fault latency histogram,
 * faults over address space and time, hot pages by guest symbol). Fields of
 * the coherence protocol are optional: a single-node file has none. */
#include "cli/report.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/report_int.h"

const char *const t_label[T_NR] = { "guest", "coherence", "syscall",
					   "idle" };

/* ---- loading ------------------------------------------------------------ */

static void rep_vcpu_fill(rep_vcpu_t *c, const json_t *j, int i)
{
	c->vcpu = jdoc_int(json_object_get(j, "vcpu"), i);
	c->host_pu = jdoc_int(json_object_get(j, "host_pu"), -1);
	c->node = jdoc_int(json_object_get(j, "node"), 0);
	c->threads = jdoc_u64(json_object_get(j, "threads"), 0);
	c->syscalls = jdoc_u64(json_object_get(j, "syscalls"), 0);
	c->t[T_GUEST] = jdoc_num(json_object_get(j, "guest_s"), 0);
	c->t[T_COH] = jdoc_num(json_object_get(j, "coherence_s"), 0);
	c->t[T_SYS] = jdoc_num(json_object_get(j, "syscall_s"), 0);
	c->t[T_IDLE] = jdoc_num(json_object_get(j, "idle_s"), 0);
	c->cpu = jdoc_num(json_object_get(j, "cpu_s"), -1);
	c->cpu_wait = jdoc_num(json_object_get(j, "cpu_wait_s"), -1);
}

double rep_cpu_wait_pct(const rep_vcpu_t *c)
{
	if (c->cpu < 0 || c->cpu_wait < 0)
		return -1;
	return rep_pct(c->cpu_wait, c->cpu + c->cpu_wait);
}

/* Appends to buf (len bytes, *at used so far), clamped. */
static void app(char *buf, size_t len, size_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void app(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = *at + (size_t)n < len ? *at + (size_t)n : len;
}

/* Whether vCPU i is the first of its node to run on its host PU. */
static bool first_on_pu(const rep_t *r, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (r->v[j].node == r->v[i].node &&
		    r->v[j].host_pu == r->v[i].host_pu)
			return false;
	return true;
}

void rep_time_shared(const rep_t *r, char *buf, size_t len)
{
	double cpu = 0, wait = 0;
	size_t at = 0;
	bool known = false;

	buf[0] = '\0';
	for (size_t i = 0; i < r->nv; i++) {
		const rep_vcpu_t *c = &r->v[i];
		unsigned n = 0;

		if (c->cpu >= 0 && c->cpu_wait >= 0) {
			cpu += c->cpu;
			wait += c->cpu_wait;
			known = true;
		}
		if (c->host_pu < 0 || !first_on_pu(r, i))
			continue;
		for (size_t j = i + 1; j < r->nv; j++)
			if (r->v[j].node == c->node &&
			    r->v[j].host_pu == c->host_pu)
				n++;
		if (!n)
			continue;
		app(buf, len, &at, "%s node %d pu %d runs vCPUs %d",
		    at ? ";" : "time-shared:", c->node, c->host_pu, c->vcpu);
		for (size_t j = i + 1; j < r->nv; j++)
			if (r->v[j].node == c->node &&
			    r->v[j].host_pu == c->host_pu)
				app(buf, len, &at, ", %d", r->v[j].vcpu);
	}
	if (known && rep_pct(wait, cpu + wait) >= 10)
		app(buf, len, &at, "%s guest threads waited for a CPU %.0f%% "
		    "of the time they were ready to run",
		    at ? ";" : "time-shared:", rep_pct(wait, cpu + wait));
}

/* Fills r from the parsed document; false (with a message) when it is not
 * a cvmm stats file. */
static bool rep_model(rep_t *r)
{
	json_t *d = r->doc, *pv = json_object_get(d, "per_vcpu"), *j;
	size_t i;

	if (!json_is_array(pv)) {
		fprintf(stderr, "cvmm: %s: not a cvmm stats file (no per_vcpu "
				"array)\n", r->path);
		return false;
	}
	r->exe = json_string_value(json_object_get(d, "exe"));
	if (!r->exe)
		r->exe = "";
	r->vcpus = jdoc_int(json_object_get(d, "vcpus"),
			    (int)json_array_size(pv));
	r->nodes = jdoc_int(json_object_get(d, "nodes"), 1);
	r->exit_status = jdoc_int(json_object_get(d, "exit_status"), 0);
	r->wall = jdoc_num(json_object_get(d, "wall_s"), 0);
	r->v = calloc(json_array_size(pv) + 1, sizeof(*r->v));
	if (!r->v) {
		fprintf(stderr, "cvmm: %s: out of memory\n", r->path);
		return false;
	}
	json_array_foreach(pv, i, j)
		rep_vcpu_fill(&r->v[i], j, (int)i);
	r->nv = json_array_size(pv);
	r->faults = json_object_get(d, "faults");
	r->trace = json_object_get(d, "fault_trace");
	r->hot = json_object_get(d, "hot_pages");
	r->threads = json_object_get(d, "threads");
	r->heap = json_object_get(d, "heap");
	r->msgs = json_object_get(d, "messages");
	r->migs = json_object_get(d, "migrations");
	if (!json_is_object(r->migs))
		r->migs = NULL;
	r->bal = json_object_get(d, "balance");
	if (!json_is_object(r->bal))
		r->bal = NULL;
	r->mem = json_object_get(d, "membership");
	if (!json_is_object(r->mem))
		r->mem = NULL;
	r->rc = json_object_get(d, "release");
	if (!json_is_object(r->rc))
		r->rc = NULL;
	/* every file has coherence_s per vCPU (0 on one node): not a sign */
	r->has_coh = r->nodes > 1 || r->faults || json_array_size(r->trace) ||
		     json_array_size(r->hot);
	return true;
}

static bool rep_load(rep_t *r, const char *path)
{
	char err[JDOC_ERR_LEN];

	r->path = path;
	r->doc = jdoc_load(path, err, sizeof(err));
	if (!r->doc) {
		fprintf(stderr, "cvmm: %s: %s\n", path, err);
		return false;
	}
	if (!json_is_object(r->doc)) {
		fprintf(stderr, "cvmm: %s: not a cvmm stats file (not an "
				"object)\n", path);
		return false;
	}
	return rep_model(r);
}

/* ---- naming guest addresses --------------------------------------------- */

/* Maps the guest executable for loader_symbolize; on failure names stay in
 * hex and sym_note says why. */
static void rep_sym_open(rep_t *r)
{
	char err[200];
	struct stat st;
	int fd;

	if (!r->exe[0]) {
		snprintf(r->sym_note, sizeof(r->sym_note),
			 "no executable named: addresses in hex");
		return;
	}
	fd = open(r->exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		snprintf(r->sym_note, sizeof(r->sym_note),
			 "%s not readable (%m): addresses in hex", r->exe);
		if (fd >= 0)
			close(fd);
		return;
	}
	r->maplen = (size_t)st.st_size;
	r->map = mmap(NULL, r->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		snprintf(r->sym_note, sizeof(r->sym_note),
			 "%s cannot be mapped: addresses in hex", r->exe);
		return;
	}
	if (loader_parse(r->map, r->maplen, &r->img, err, sizeof(err)) !=
	    CVMM_OK) {
		snprintf(r->sym_note, sizeof(r->sym_note),
			 "%s: %s: addresses in hex", r->exe, err);
		return;
	}
	r->have_img = true;
}

static void rep_sym_close(rep_t *r)
{
	if (r->map)
		munmap(r->map, r->maplen);
	r->map = NULL;
	r->have_img = false;
}

/* Thread whose stack holds addr, or -1. */
static long rep_stack_of(const rep_t *r, uint64_t addr)
{
	const json_t *t;
	size_t i;

	json_array_foreach(r->threads, i, t) {
		uint64_t lo = jdoc_u64(json_object_get(t, "stack_lo"), 0);
		uint64_t hi = jdoc_u64(json_object_get(t, "stack_hi"), 0);

		if (addr >= lo && addr < hi)
			return (long)jdoc_u64(json_object_get(t, "tid"), 0);
	}
	return -1;
}

typedef struct rep_cover {
	char first[REP_NAME]; /* "sym+0xoff" at the first probe inside it */
	char base[REP_NAME];
	unsigned hits;
} rep_cover_t;

/* Counts, in 16-byte probes, how much of [addr, end) each symbol covers. */
static unsigned rep_cover(const rep_t *r, uint64_t addr, uint64_t end,
			  rep_cover_t *cv, unsigned max)
{
	char one[REP_NAME];
	unsigned n = 0, i;

	for (uint64_t a = addr; a < end; a += 16) {
		if (!loader_symbolize(&r->img, a, one, sizeof(one)))
			continue;
		for (i = 0; i < n; i++)
			if (strncmp(cv[i].base, one, strlen(cv[i].base)) == 0 &&
			    (one[strlen(cv[i].base)] == '+' ||
			     !one[strlen(cv[i].base)]))
				break;
		if (i == n && n == max)
			continue;
		if (i == n) {
			snprintf(cv[n].first, REP_NAME, "%s", one);
			snprintf(cv[n].base, REP_NAME, "%s", one);
			if (strstr(cv[n].base, "+0x"))
				*strstr(cv[n].base, "+0x") = '\0';
			cv[n++].hits = 0;
		}
		cv[i].hits++;
	}
	return n;
}

/* Names the page at addr by the symbol covering most of it, plus how many
 * others share it ("grid+0x3000", "results+0x0 (+9 more)"). An address
 * that is not page aligned gets its own symbol only. */
static bool rep_sym_page(const rep_t *r, uint64_t addr, char *buf, size_t len)
{
	uint64_t end = (addr & (CVMM_PAGE_SIZE - 1)) ? addr + 1 : addr + CVMM_PAGE_SIZE;
	rep_cover_t cv[32];
	unsigned n = rep_cover(r, addr, end, cv, 32), best = 0;

	if (!n)
		return false;
	for (unsigned i = 1; i < n; i++)
		if (cv[i].hits > cv[best].hits)
			best = i;
	if (n == 1)
		snprintf(buf, len, "%s", cv[best].first);
	else
		snprintf(buf, len, "%s (+%u more)", cv[best].first, n - 1);
	return true;
}

/* Names guest address addr: "heap", "stack of thread T", a symbol, "mmap"
 * (outside the image, the heap and the stacks: memory the guest mapped),
 * or hex. */
void rep_name(const rep_t *r, uint64_t addr, char *buf, size_t len)
{
	long tid = rep_stack_of(r, addr);

	if (json_array_size(r->heap) == 2 &&
	    addr >= jdoc_u64(json_array_get(r->heap, 0), 0) &&
	    addr < jdoc_u64(json_array_get(r->heap, 1), 0))
		snprintf(buf, len, "heap");
	else if (tid >= 0)
		snprintf(buf, len, "stack of thread %ld", tid);
	else if (r->have_img && (addr < r->img.lo || addr >= r->img.hi))
		snprintf(buf, len, "mmap");
	else if (!r->have_img || !rep_sym_page(r, addr, buf, len))
		snprintf(buf, len, "0x%lx", (unsigned long)addr);
}

/* ---- shared helpers ------------------------------------------------------ */

double rep_total(const rep_vcpu_t *c)
{
	return c->t[T_GUEST] + c->t[T_COH] + c->t[T_SYS] + c->t[T_IDLE];
}

double rep_pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

static int cmp_count_desc(const void *a, const void *b)
{
	double x = ((const rep_count_t *)a)->n, y = ((const rep_count_t *)b)->n;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Numeric members of "syscalls", most frequent first; caller frees. NULL
 * out of memory. */
rep_count_t *rep_syscalls(const rep_t *r, size_t *n)
{
	json_t *s = json_object_get(r->doc, "syscalls"), *j;
	rep_count_t *v = calloc(json_object_size(s) + 1, sizeof(*v));
	const char *key;

	*n = 0;
	if (!v)
		return NULL;
	json_object_foreach(s, key, j)
		if (json_is_number(j))
			v[(*n)++] = (rep_count_t){ key, json_number_value(j) };
	qsort(v, *n, sizeof(*v), cmp_count_desc);
	return v;
}

/* The latency bucket holding fraction q of all faults: writes "lo-hi us". */
static bool rep_hist_quantile(const json_t *hist, double q, char *buf,
			      size_t len)
{
	double total = 0, seen = 0;
	const json_t *b;
	size_t i;

	json_array_foreach(hist, i, b)
		total += jdoc_num(json_array_get(b, 2), 0);
	if (total <= 0)
		return false;
	json_array_foreach(hist, i, b) {
		seen += jdoc_num(json_array_get(b, 2), 0);
		if (seen >= q * total) {
			snprintf(buf, len, "%g-%g us",
				 jdoc_num(json_array_get(b, 0), 0),
				 jdoc_num(json_array_get(b, 1), 0));
			return true;
		}
	}
	return false;
}

/* The node pair that bounced page hp most often; false when none. */
static bool rep_top_pair(const json_t *hp, int *a, int *b, double *bounces)
{
	const json_t *pairs = json_object_get(hp, "pairs"), *best = NULL, *p;
	size_t i;

	json_array_foreach(pairs, i, p)
		if (!best || jdoc_num(json_array_get(p, 2), 0) >
				     jdoc_num(json_array_get(best, 2), 0))
			best = p;
	if (!best)
		return false;
	*a = jdoc_int(json_array_get(best, 0), -1);
	*b = jdoc_int(json_array_get(best, 1), -1);
	*bounces = jdoc_num(json_array_get(best, 2), 0);
	return true;
}

bool rep_hot_sync(const json_t *hp)
{
	return jdoc_num(json_object_get(hp, "atomic_writes"), 0) > 0;
}

/* The plain-words hint for hot page hp, if one applies: a page several
 * nodes write by turns, false sharing or a synchronisation page. */
bool rep_hint(const json_t *hp, const char *name, char *buf, size_t len)
{
	char label[REP_NAME + 40], nodes[48];
	double bounces;
	int a, b;

	if (!json_is_true(json_object_get(hp, "alternating_writers")))
		return false;
	if (strcmp(name, "heap") == 0 || strcmp(name, "mmap") == 0 ||
	    strncmp(name, "stack of", 8) == 0)
		snprintf(label, sizeof(label), "0x%lx (%s)", (unsigned long)
			 jdoc_u64(json_object_get(hp, "addr"), 0), name);
	else
		snprintf(label, sizeof(label), "%s", name);
	name = label;
	if (!rep_top_pair(hp, &a, &b, &bounces))
		snprintf(nodes, sizeof(nodes), "several nodes");
	else
		snprintf(nodes, sizeof(nodes), "nodes %d and %d", a, b);
	if (rep_hot_sync(hp))
		snprintf(buf, len, "page %s holds a synchronization variable "
			 "(%.0f of its write faults were atomic instructions: "
			 "a lock, a counter, a flag) and is written "
			 "alternately by %s: keep other data off its page",
			 name, jdoc_num(json_object_get(hp, "atomic_writes"), 0),
			 nodes);
	else
		snprintf(buf, len, "page %s is written alternately by %s: if "
			 "these are different variables, pad or align them "
			 "to separate 4 KiB pages", name, nodes);
	return true;
}

size_t rep_mig_threads(const rep_t *r, const json_t **out, size_t max)
{
	const json_t *t;
	size_t i, n = 0;

	json_array_foreach(json_object_get(r->migs, "per_thread"), i, t)
		if (n < max && jdoc_num(json_object_get(t, "migrations"), 0) > 0)
			out[n++] = t;
	return n;
}

bool rep_rc_used(const rep_t *r)
{
	const char *model = json_string_value(json_object_get(r->rc,
							      "memory_model"));
	const char *key;
	const json_t *v;

	if (model && strcmp(model, "release") == 0)
		return true;
	json_object_foreach(r->rc, key, v)
		if (jdoc_num(v, 0) > 0)
			return true;
	return false;
}

double rep_rc(const rep_t *r, const char *key)
{
	return jdoc_num(json_object_get(r->rc, key), 0);
}

void rep_bytes(double n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%.0f bytes", n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", n / (1024 * 1024));
}

/* ---- terminal summary ---------------------------------------------------- */

static void term_vcpus(const rep_t *r, FILE *o)
{
	double sum[T_NR] = { 0 }, all = 0;
	char shared[512];

	fprintf(o, "cvmm report: %s\n", r->exe[0] ? r->exe : r->path);
	fprintf(o, "  %d vcpus on %d node%s, %.3f s wall, exit status %d\n",
		r->vcpus, r->nodes, r->nodes == 1 ? "" : "s", r->wall,
		r->exit_status);
	fprintf(o, "%5s %4s %4s %7s %9s %7s %7s %7s %7s %8s %9s\n", "vcpu",
		"node", "pu", "threads", "total s", "guest%", "coher%",
		"sysc%", "idle%", "cpuwait%", "syscalls");
	for (size_t i = 0; i < r->nv; i++) {
		const rep_vcpu_t *c = &r->v[i];
		double t = rep_total(c), w = rep_cpu_wait_pct(c);

		fprintf(o, "%5d %4d %4d %7lu %9.3f %7.1f %7.1f %7.1f %7.1f ",
			c->vcpu, c->node, c->host_pu, c->threads, t,
			rep_pct(c->t[T_GUEST], t), rep_pct(c->t[T_COH], t),
			rep_pct(c->t[T_SYS], t), rep_pct(c->t[T_IDLE], t));
		if (w < 0)
			fprintf(o, "%8s", "-");
		else
			fprintf(o, "%8.1f", w);
		fprintf(o, " %9lu\n", c->syscalls);
		for (int k = 0; k < T_NR; k++)
			sum[k] += c->t[k];
		all += t;
	}
	fprintf(o, "%5s %4s %4s %7s %9.3f %7.1f %7.1f %7.1f %7.1f\n", "all",
		"", "", "", all, rep_pct(sum[T_GUEST], all), rep_pct(sum[T_COH], all),
		rep_pct(sum[T_SYS], all), rep_pct(sum[T_IDLE], all));
	rep_time_shared(r, shared, sizeof(shared));
	if (shared[0])
		fprintf(o, "%s\n", shared);
}

static void term_syscalls(const rep_t *r, FILE *o)
{
	size_t n;
	rep_count_t *v = rep_syscalls(r, &n);

	if (!v)
		return;
	fprintf(o, "top syscalls:");
	for (size_t i = 0; i < n && i < 10; i++)
		fprintf(o, "%s %s %.0f", i ? "," : "", v[i].name, v[i].n);
	fprintf(o, "%s\n", n == 0 ? " none" : n > 10 ? ", ..." : "");
	free(v);
}

static void term_messages(const rep_t *r, FILE *o)
{
	const char *key;
	const json_t *m;
	bool first = true;

	if (!json_object_size(r->msgs))
		return;
	fprintf(o, "messages:");
	json_object_foreach(r->msgs, key, m) {
		fprintf(o, "%s %s %.0f", first ? "" : ",", key,
			jdoc_num(m, 0));
		first = false;
	}
	fprintf(o, "\n");
}

static void term_faults(const rep_t *r, FILE *o)
{
	const json_t *f = r->faults;
	const json_t *h = json_object_get(f, "latency_hist_us");
	char q50[64], q99[64];

	fprintf(o, "faults: %.0f read, %.0f write, invalidations %.0f sent "
		"%.0f received, %.1f MiB moved\n",
		jdoc_num(json_object_get(f, "read"), 0),
		jdoc_num(json_object_get(f, "write"), 0),
		jdoc_num(json_object_get(f, "invalidations_sent"), 0),
		jdoc_num(json_object_get(f, "invalidations_received"), 0),
		jdoc_num(json_object_get(f, "bytes_moved"), 0) / (1 << 20));
	if (rep_hist_quantile(h, 0.5, q50, sizeof(q50)) &&
	    rep_hist_quantile(h, 0.99, q99, sizeof(q99)))
		fprintf(o, "fault latency: median in %s, 99th percentile in "
			"%s\n", q50, q99);
	term_messages(r, o);
}

static void term_hot(const rep_t *r, FILE *o)
{
	char name[REP_NAME], hint[512];
	const json_t *h;
	size_t i;

	if (!json_array_size(r->hot))
		return;
	fprintf(o, "hot pages:\n");
	json_array_foreach(r->hot, i, h) {
		uint64_t addr = jdoc_u64(json_object_get(h, "addr"), 0);
		double bounces = 0;
		int a = -1, b = -1;

		if (i == 10) /* the terminal shows the ten hottest */
			break;
		rep_name(r, addr, name, sizeof(name));
		rep_top_pair(h, &a, &b, &bounces);
		fprintf(o, "  0x%-10lx %-28s %7.0f faults %7.0f writes",
			(unsigned long)addr, name,
			jdoc_num(json_object_get(h, "faults"), 0),
			jdoc_num(json_object_get(h, "writes"), 0));
		if (rep_hot_sync(h))
			fprintf(o, " (%.0f atomic)",
				jdoc_num(json_object_get(h, "atomic_writes"),
					 0));
		if (a >= 0)
			fprintf(o, "  nodes %d<->%d %.0f", a, b, bounces);
		fprintf(o, "\n");
		if (rep_hint(h, name, hint, sizeof(hint)))
			fprintf(o, "    hint: %s\n", hint);
	}
	if (r->sym_note[0])
		fprintf(o, "  (%s)\n", r->sym_note);
}

/* The release memory model's block, only when the run used it. */
static void term_release(const rep_t *r, FILE *o)
{
	char bytes[32];

	if (!rep_rc_used(r))
		return;
	rep_bytes(rep_rc(r, "diff_bytes"), bytes, sizeof(bytes));
	fprintf(o, "release memory model: %.0f diffs sent (%s), %.0f write "
		"notices (%.0f applied in place)\n  %.0f pages promoted to data pages "
		"(%.0f given back), %.0f synchronization pages, %.0f races "
		"detected, %.0f forwards waited for a release\n",
		rep_rc(r, "diffs_sent"), bytes, rep_rc(r, "write_notices"),
		rep_rc(r, "notices_applied"), rep_rc(r, "promoted_pages"),
		rep_rc(r, "demoted_pages"), rep_rc(r, "sync_pages"),
		rep_rc(r, "races"),
		rep_rc(r, "forwards_deferred"));
	/* where the fault time went (files of runs since 2026-12-07) */
	if (rep_rc(r, "seq_page_faults") + rep_rc(r, "data_page_faults") > 0)
		fprintf(o, "  fault time: %.3f s on pages under the sequential "
			"protocol (%.0f faults), %.3f s on data pages (%.0f); "
			"hand-overs waiting for a release: %.3f s\n",
			rep_rc(r, "seq_page_fault_ns") / 1e9,
			rep_rc(r, "seq_page_faults"),
			rep_rc(r, "data_page_fault_ns") / 1e9,
			rep_rc(r, "data_page_faults"),
			rep_rc(r, "handover_release_ns") / 1e9);
	if (rep_rc(r, "races") > 0)
		fprintf(o, "  hint: %s\n", REP_RACE_HINT);
}

/* "migrations: T (node 0 out O in I, ...)" and the threads that moved
 * most; nothing for a file without the member (older runs). */
static void term_migrations(const rep_t *r, FILE *o)
{
	const json_t *nodes = json_object_get(r->migs, "per_node"), *m;
	const json_t *th[10];
	size_t i, n;

	if (!r->migs)
		return;
	fprintf(o, "migrations: %.0f",
		jdoc_num(json_object_get(r->migs, "total"), 0));
	json_array_foreach(nodes, i, m)
		fprintf(o, "%snode %d out %.0f in %.0f", i ? ", " : " (",
			jdoc_int(json_object_get(m, "node"), -1),
			jdoc_num(json_object_get(m, "out"), 0),
			jdoc_num(json_object_get(m, "in"), 0));
	fprintf(o, json_array_size(nodes) ? ")\n" : "\n");
	n = rep_mig_threads(r, th, 10);
	if (!n)
		return;
	fprintf(o, "threads that moved:");
	for (i = 0; i < n; i++)
		fprintf(o, "%s thread %.0f %.0f", i ? "," : "",
			jdoc_num(json_object_get(th[i], "tid"), 0),
			jdoc_num(json_object_get(th[i], "migrations"), 0));
	fprintf(o, "\n");
}

void rep_bal_move(const json_t *m, char *buf, size_t len)
{
	int from = jdoc_int(json_object_get(m, "from"), -1);

	snprintf(buf, len, "%.2f s: thread %d node %d -> node %d (node %d's "
		 "threads got %d%% of the CPU they wanted, node %d had %d%% "
		 "of a core idle%s)",
		 jdoc_num(json_object_get(m, "t_s"), 0),
		 jdoc_int(json_object_get(m, "tid"), 0), from,
		 jdoc_int(json_object_get(m, "to"), -1), from,
		 jdoc_int(json_object_get(m, "from_cpu_pct"), 0),
		 jdoc_int(json_object_get(m, "to"), -1),
		 jdoc_int(json_object_get(m, "to_idle_pct"), 0),
		 json_is_true(json_object_get(m, "forced")) ? "; cvmm ctl "
							      "balance"
							    : "");
}

/* "balancer: MODE, N moves" and the moves in time order; nothing for a
 * file without the member. */
static void term_balance(const rep_t *r, FILE *o)
{
	const json_t *moves = json_object_get(r->bal, "moves"), *m;
	char line[300];
	size_t i;

	if (!r->bal)
		return;
	fprintf(o, "balancer: %s, %.0f moves\n",
		json_string_value(json_object_get(r->bal, "mode"))
			?: "?",
		jdoc_num(json_object_get(r->bal, "moves_total"), 0));
	json_array_foreach(moves, i, m) {
		rep_bal_move(m, line, sizeof(line));
		fprintf(o, "  %s\n", line);
	}
}

void rep_member_event(const json_t *e, char *buf, size_t len)
{
	const char *ev = json_string_value(json_object_get(e, "event"));
	const json_t *vc = json_object_get(e, "vcpus"), *c;
	double t = jdoc_num(json_object_get(e, "t_s"), 0);
	int node = jdoc_int(json_object_get(e, "node"), -1), n;
	const char *sep = "; vCPUs: ";
	size_t i;

	if (ev && !strcmp(ev, "leave"))
		n = snprintf(buf, len, "%.2f s: node %d left, node %d took its "
			     "roles and %.0f pages (epoch %.0f, %.0f ms)", t,
			     node, jdoc_int(json_object_get(e, "heir"), -1),
			     jdoc_num(json_object_get(e, "pages"), 0),
			     jdoc_num(json_object_get(e, "epoch"), 0),
			     jdoc_num(json_object_get(e, "ms"), 0));
	else
		n = snprintf(buf, len, "%.2f s: node %d joined (epoch %.0f, "
			     "%.0f ms)", t, node,
			     jdoc_num(json_object_get(e, "epoch"), 0),
			     jdoc_num(json_object_get(e, "ms"), 0));
	/* the vCPUs each node hosts after the change (files from before
	 * they were recorded have none) */
	json_array_foreach(vc, i, c) {
		int v = jdoc_int(c, 0);

		if (v <= 0 || n < 0 || (size_t)n >= len)
			continue;
		n += snprintf(buf + n, len - (size_t)n, "%snode %zu %d", sep, i,
			      v);
		sep = ", ";
	}
}

void rep_member_head(const rep_t *r, char *buf, size_t len)
{
	snprintf(buf, len, "%.0f slots, %.0f started, %.0f joins, %.0f leaves",
		 jdoc_num(json_object_get(r->mem, "slots"), 0),
		 jdoc_num(json_object_get(r->mem, "started"), 0),
		 jdoc_num(json_object_get(r->mem, "joins"), 0),
		 jdoc_num(json_object_get(r->mem, "leaves"), 0));
}

/* "membership: ..." and its changes in time order; nothing for a file
 * without the member. */
static void term_membership(const rep_t *r, FILE *o)
{
	const json_t *ev = json_object_get(r->mem, "events"), *e;
	char line[1200]; /* up to 64 nodes' vCPUs */
	size_t i;

	if (!r->mem)
		return;
	rep_member_head(r, line, sizeof(line));
	fprintf(o, "membership: %s\n", line);
	json_array_foreach(ev, i, e) {
		rep_member_event(e, line, sizeof(line));
		fprintf(o, "  %s\n", line);
	}
}

static void rep_terminal(const rep_t *r, FILE *o)
{
	term_vcpus(r, o);
	term_syscalls(r, o);
	if (!r->has_coh) {
		fprintf(o, "no coherence data: single node run\n");
		return;
	}
	if (r->faults)
		term_faults(r, o);
	term_release(r, o);
	term_migrations(r, o);
	term_balance(r, o);
	term_membership(r, o);
	term_hot(r, o);
}

/* ---- entry point --------------------------------------------------------- */

static int rep_usage(FILE *f, int rc)
{
	fprintf(f, "usage: cvmm report FILE.json [-o report.html]\n"
		   "  prints the --stats=FILE.json of a run as tables; -o (or "
		   "--output=) also\n  writes a self-contained HTML page with "
		   "charts\n");
	return rc;
}

int report_main(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	rep_t r = { 0 };
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return rep_usage(stdout, 0);
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strncmp(argv[i], "--output=", 9) == 0)
			out = argv[i] + 9;
		else if (argv[i][0] != '-' && !in)
			in = argv[i];
		else
			return rep_usage(stderr, 1);
	}
	if (!in)
		return rep_usage(stderr, 1);
	if (!rep_load(&r, in))
		goto out_free;
	rep_sym_open(&r);
	rep_terminal(&r, stdout);
	fflush(stdout);
	rc = out ? rep_html(&r, out) : 0;
	if (out && rc == 0)
		printf("wrote %s\n", out);
	rep_sym_close(&r);
out_free:
	free(r.v);
	json_decref(r.doc);
	return rc;
}
