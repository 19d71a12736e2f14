/* cvmm report: the self-contained HTML page with inline SVG charts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report_int.h"

static const char *const t_color[T_NR] = { "#4e79a7", "#e15759", "#f28e2b",
					   "#bab0ac" };
static const char *const node_color[] = { "#4e79a7", "#e15759", "#59a14f",
					  "#f28e2b", "#b07aa1", "#76b7b2",
					  "#edc948", "#9c755f" };

/* ---- HTML page ----------------------------------------------------------- */

#define SVG_W 900

static void html_esc(FILE *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '&': fputs("&amp;", o); break;
		case '"': fputs("&quot;", o); break;
		default: fputc(*s, o);
		}
	}
}

static void html_head(const rep_t *r, FILE *o)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<title>cvmm report</title>\n<style>\n"
	      "body{font:14px/1.4 sans-serif;margin:2em;color:#222;"
	      "max-width:960px}\n"
	      "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;"
	      "border-bottom:1px solid #ccc}\n"
	      "table{border-collapse:collapse}td,th{padding:2px 8px;"
	      "text-align:right;border-bottom:1px solid #eee}\n"
	      "td.l,th.l{text-align:left}.note{color:#666}"
	      ".hint{background:#fff4d6;padding:4px 8px;margin:4px 0}\n"
	      "svg{display:block;margin:0.5em 0}svg text{font:11px sans-serif}\n"
	      "</style></head><body>\n<h1>cvmm report</h1>\n<p>", o);
	html_esc(o, r->exe[0] ? r->exe : r->path);
	fprintf(o, "<br>%d vCPUs on %d node%s, %.3f s wall, exit status %d"
		"</p>\n", r->vcpus, r->nodes, r->nodes == 1 ? "" : "s",
		r->wall, r->exit_status);
}

static void svg_legend(FILE *o, int x, int y, const char *color,
		       const char *label)
{
	fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
		"fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x, y,
		color, x + 16, y + 10, label);
}

/* One vCPU's stacked bar: segments scaled by scale pixels per second. */
static void svg_vcpu_bar(FILE *o, const rep_vcpu_t *c, int y, double scale)
{
	double x = 120;

	fprintf(o, "<text x=\"4\" y=\"%d\">vcpu %d (node %d)</text>\n",
		y + 15, c->vcpu, c->node);
	for (int k = 0; k < T_NR; k++) {
		double w = c->t[k] * scale;

		if (w <= 0)
			continue;
		fprintf(o, "<rect class=\"seg\" x=\"%.1f\" y=\"%d\" "
			"width=\"%.1f\" height=\"20\" fill=\"%s\"><title>%s "
			"%.6f s (%.1f%%)</title></rect>\n", x, y, w,
			t_color[k], t_label[k], c->t[k],
			rep_pct(c->t[k], rep_total(c)));
		x += w;
	}
	fprintf(o, "<text x=\"%.1f\" y=\"%d\">%.3f s</text>\n", x + 4, y + 15,
		rep_total(c));
}

static void html_vcpus(const rep_t *r, FILE *o)
{
	int h = 40 + 28 * (int)r->nv;
	double max = 0;

	for (size_t i = 0; i < r->nv; i++)
		if (rep_total(&r->v[i]) > max)
			max = rep_total(&r->v[i]);
	fprintf(o, "<h2>Time per vCPU</h2>\n<p class=\"note\">where each "
		"vCPU's time went (the 2005 paper's Table 2)</p>\n");
	fprintf(o, "<svg id=\"vcpu-time\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		SVG_W, h, SVG_W, h);
	for (int k = 0; k < T_NR; k++)
		svg_legend(o, 120 + 110 * k, 4, t_color[k], t_label[k]);
	for (size_t i = 0; i < r->nv; i++)
		svg_vcpu_bar(o, &r->v[i], 30 + 28 * (int)i,
			     max > 0 ? (SVG_W - 200) / max : 0);
	fprintf(o, "</svg>\n");
}

static void html_vcpu_table(const rep_t *r, FILE *o)
{
	char shared[512];

	fprintf(o, "<table><tr><th>vCPU</th><th>node</th><th>host PU</th>"
		"<th>threads</th><th>total s</th><th>guest %%</th>"
		"<th>coherence %%</th><th>syscall %%</th><th>idle %%</th>"
		"<th title=\"of the time its threads were ready to run\">"
		"waiting for a CPU %%</th><th>syscalls</th></tr>\n");
	for (size_t i = 0; i < r->nv; i++) {
		const rep_vcpu_t *c = &r->v[i];
		double t = rep_total(c), w = rep_cpu_wait_pct(c);

		fprintf(o, "<tr><td>%d</td><td>%d</td><td>%d</td><td>%lu</td>"
			"<td>%.3f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
			"<td>%.1f</td>", c->vcpu, c->node, c->host_pu,
			c->threads, t, rep_pct(c->t[T_GUEST], t),
			rep_pct(c->t[T_COH], t), rep_pct(c->t[T_SYS], t),
			rep_pct(c->t[T_IDLE], t));
		if (w < 0)
			fprintf(o, "<td>-</td>");
		else
			fprintf(o, "<td>%.1f</td>", w);
		fprintf(o, "<td>%lu</td></tr>\n", c->syscalls);
	}
	fprintf(o, "</table>\n");
	rep_time_shared(r, shared, sizeof(shared));
	if (shared[0]) {
		fprintf(o, "<p class=\"note\" id=\"time-shared\">");
		html_esc(o, shared);
		fprintf(o, "</p>\n");
	}
}

static void svg_hist_bar(FILE *o, const json_t *b, int i, double bw,
			 double max)
{
	double lo = jdoc_num(json_array_get(b, 0), 0);
	double hi = jdoc_num(json_array_get(b, 1), 0);
	double n = jdoc_num(json_array_get(b, 2), 0);
	double h = max > 0 ? 220 * n / max : 0, x = 50 + bw * i;

	fprintf(o, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		"height=\"%.1f\" fill=\"#4e79a7\"><title>%g-%g us: %.0f "
		"faults</title></rect>\n", x + 1, 240 - h, bw - 2, h, lo, hi,
		n);
	fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f"
		"</text>\n", x + bw / 2, 236 - h, n);
	fprintf(o, "<text x=\"%.1f\" y=\"256\" text-anchor=\"middle\">%g"
		"</text>\n", x + bw / 2, lo);
}

static void html_hist(const rep_t *r, FILE *o)
{
	const json_t *h = json_object_get(r->faults, "latency_hist_us"), *b;
	size_t n = json_array_size(h), i;
	double max = 0, bw;

	fprintf(o, "<h2>Fault latency</h2>\n");
	if (!n) {
		fprintf(o, "<p class=\"note\">no latency histogram</p>\n");
		return;
	}
	json_array_foreach(h, i, b)
		if (jdoc_num(json_array_get(b, 2), 0) > max)
			max = jdoc_num(json_array_get(b, 2), 0);
	bw = (double)(SVG_W - 70) / (double)n;
	fprintf(o, "<p class=\"note\">faults per latency bucket (log2 "
		"buckets; the 2005 paper's Figure 10)</p>\n<svg id=\"latency\" "
		"width=\"%d\" height=\"280\" viewBox=\"0 0 %d 280\" "
		"xmlns=\"http://www.w3.org/2000/svg\">\n<line x1=\"50\" "
		"y1=\"240\" x2=\"%d\" y2=\"240\" stroke=\"#444\"/>\n", SVG_W,
		SVG_W, SVG_W - 20);
	json_array_foreach(h, i, b)
		svg_hist_bar(o, b, (int)i, bw, max);
	fprintf(o, "<text x=\"%d\" y=\"274\" text-anchor=\"middle\">fault "
		"latency, microseconds (bucket lower bound)</text>\n</svg>\n",
		SVG_W / 2);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Distinct page addresses of the trace, sorted; the scatter's y axis. */
static size_t trace_pages(const json_t *tr, uint64_t *pages)
{
	size_t n = 0, u = 0, i;
	const json_t *e;

	json_array_foreach(tr, i, e) {
		if (i == REP_MAX_TRACE)
			break;
		pages[n++] = jdoc_u64(json_array_get(e, 1), 0);
	}
	qsort(pages, n, sizeof(*pages), cmp_u64);
	for (i = 0; i < n; i++)
		if (u == 0 || pages[u - 1] != pages[i])
			pages[u++] = pages[i];
	return u;
}

static void svg_point(FILE *o, const json_t *e, double x, double y)
{
	int node = jdoc_int(json_array_get(e, 2), 0);
	const char *c = node_color[(unsigned)node % 8];
	const char *rw = json_string_value(json_array_get(e, 3));
	bool w = rw && strcmp(rw, "w") == 0;

	fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" "
		"stroke=\"%s\"/>\n", x, y, w ? c : "none", c);
}

static void svg_scatter_axes(const rep_t *r, FILE *o, const uint64_t *pages,
			     size_t np, double tmax)
{
	char name[REP_NAME];
	size_t step = np > 12 ? np / 12 : 1;

	for (size_t i = 0; i < np; i += step) {
		double y = 380 - 360.0 * ((double)i + 0.5) / (double)np;

		rep_name(r, pages[i], name, sizeof(name));
		if (strcmp(name, "heap") == 0)
			snprintf(name, sizeof(name), "heap 0x%lx",
				 (unsigned long)pages[i]);
		fprintf(o, "<text x=\"196\" y=\"%.1f\" text-anchor=\"end\">",
			y + 4);
		html_esc(o, name);
		fprintf(o, "</text>\n");
	}
	fprintf(o, "<line x1=\"200\" y1=\"380\" x2=\"%d\" y2=\"380\" "
		"stroke=\"#444\"/><line x1=\"200\" y1=\"20\" x2=\"200\" "
		"y2=\"380\" stroke=\"#444\"/>\n<text x=\"200\" y=\"396\">0 s"
		"</text><text x=\"%d\" y=\"396\" text-anchor=\"end\">%.3f s"
		"</text>\n", SVG_W - 10, SVG_W - 10, tmax);
	for (int k = 0; k < r->nodes && k < 8; k++) {
		snprintf(name, sizeof(name), "node %d", k);
		svg_legend(o, 200 + 80 * k, 404, node_color[k], name);
	}
}

static void html_scatter(const rep_t *r, FILE *o)
{
	const json_t *tr = r->trace, *e;
	size_t np, i;
	double tmax = 0;
	uint64_t *pages;

	fprintf(o, "<h2>Faults over address space and time</h2>\n");
	if (!json_array_size(tr) ||
	    !(pages = calloc(json_array_size(tr), sizeof(*pages)))) {
		fprintf(o, "<p class=\"note\">no fault trace</p>\n");
		return;
	}
	np = trace_pages(tr, pages);
	json_array_foreach(tr, i, e) {
		double t = jdoc_num(json_array_get(e, 0), 0);

		if (i == REP_MAX_TRACE)
			break;
		tmax = t > tmax ? t : tmax;
	}
	fprintf(o, "<p class=\"note\">each dot a sampled fault: time across, "
		"page up (distinct pages in address order); filled = write, "
		"ring = read; colour = faulting node (the 2005 paper's "
		"Figure 9)</p>\n<svg id=\"fault-scatter\" width=\"%d\" "
		"height=\"424\" viewBox=\"0 0 %d 424\" "
		"xmlns=\"http://www.w3.org/2000/svg\">\n", SVG_W, SVG_W);
	svg_scatter_axes(r, o, pages, np, tmax);
	json_array_foreach(tr, i, e) {
		uint64_t a, *p;
		double t;

		if (i == REP_MAX_TRACE)
			break;
		a = jdoc_u64(json_array_get(e, 1), 0);
		p = bsearch(&a, pages, np, sizeof(*pages), cmp_u64);
		t = jdoc_num(json_array_get(e, 0), 0);
		svg_point(o, e, 200 + (SVG_W - 210) * (tmax > 0 ? t / tmax : 0),
			  380 - 360.0 * ((double)(p - pages) + 0.5) /
					(double)np);
	}
	fprintf(o, "</svg>\n");
	free(pages);
}

static void html_pairs(FILE *o, const json_t *hp)
{
	const json_t *pairs = json_object_get(hp, "pairs"), *p;
	size_t i;

	json_array_foreach(pairs, i, p)
		fprintf(o, "%s%.0f&harr;%.0f (%.0f)", i ? ", " : "",
			jdoc_num(json_array_get(p, 0), -1),
			jdoc_num(json_array_get(p, 1), -1),
			jdoc_num(json_array_get(p, 2), 0));
}

static void html_hot(const rep_t *r, FILE *o)
{
	char name[REP_NAME], hint[512];
	const json_t *h;
	size_t i;

	fprintf(o, "<h2>Hot pages</h2>\n");
	if (!json_array_size(r->hot)) {
		fprintf(o, "<p class=\"note\">no hot pages</p>\n");
		return;
	}
	fprintf(o, "<table id=\"hot-pages\"><tr><th class=\"l\">page</th>"
		"<th class=\"l\">name</th><th>faults</th><th>writes</th>"
		"<th>atomic writes</th>"
		"<th class=\"l\">node pairs (bounces)</th></tr>\n");
	json_array_foreach(r->hot, i, h) {
		uint64_t addr = jdoc_u64(json_object_get(h, "addr"), 0);

		if (i == REP_MAX_HOT)
			break;
		rep_name(r, addr, name, sizeof(name));
		fprintf(o, "<tr><td class=\"l\">0x%lx</td><td class=\"l\">",
			(unsigned long)addr);
		html_esc(o, name);
		fprintf(o, "</td><td>%.0f</td><td>%.0f</td><td>%.0f</td>"
			"<td class=\"l\">",
			jdoc_num(json_object_get(h, "faults"), 0),
			jdoc_num(json_object_get(h, "writes"), 0),
			jdoc_num(json_object_get(h, "atomic_writes"), 0));
		html_pairs(o, h);
		fprintf(o, "</td></tr>\n");
	}
	fprintf(o, "</table>\n");
	if (r->sym_note[0]) {
		fprintf(o, "<p class=\"note\">");
		html_esc(o, r->sym_note);
		fprintf(o, "</p>\n");
	}
	json_array_foreach(r->hot, i, h) {
		rep_name(r, jdoc_u64(json_object_get(h, "addr"), 0), name,
			 sizeof(name));
		if (!rep_hint(h, name, hint, sizeof(hint)))
			continue;
		fprintf(o, "<p class=\"hint\">%s", rep_hot_sync(h)
				   ? "Synchronization page: "
				   : "False sharing? ");
		html_esc(o, hint);
		fprintf(o, "</p>\n");
	}
}

static void html_faults(const rep_t *r, FILE *o)
{
	static const char *const keys[] = { "read", "write",
					    "invalidations_sent",
					    "invalidations_received",
					    "bytes_moved" };
	const char *key;
	const json_t *m;

	fprintf(o, "<h2>Coherence</h2>\n<table>\n");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		fprintf(o, "<tr><th class=\"l\">%s</th><td>%.0f</td></tr>\n",
			keys[i], jdoc_num(json_object_get(r->faults, keys[i]),
					  0));
	json_object_foreach(r->msgs, key, m) {
		fprintf(o, "<tr><th class=\"l\">messages, ");
		html_esc(o, key);
		fprintf(o, "</th><td>%.0f</td></tr>\n", jdoc_num(m, 0));
	}
	fprintf(o, "</table>\n");
}

/* The release memory model's counters: all nodes, then each node (up to
 * eight columns); only when the run used the model. */
static void html_release(const rep_t *r, FILE *o)
{
	static const char *const rows[][2] = {
		{ "diffs_sent", "diffs sent" },
		{ "diff_bytes", "diff bytes" },
		{ "write_notices", "write notices" },
		{ "notices_applied", "write notices applied in place" },
		{ "promoted_pages", "pages promoted to data pages" },
		{ "demoted_pages", "of those, given back to the sequential protocol" },
		{ "sync_pages", "synchronization pages" },
		{ "races", "races detected" },
		{ "forwards_deferred", "forwards that waited for a release" },
		{ "seq_page_faults", "faults on pages under the sequential protocol" },
		{ "seq_page_fault_ns", "their time (ns)" },
		{ "data_page_faults", "faults on data pages" },
		{ "data_page_fault_ns", "their time (ns)" },
		{ "handover_release_ns", "time hand-overs waited for a release (ns)" },
	};
	const json_t *nodes = json_object_get(r->rc, "per_node"), *n;
	size_t nn = json_array_size(nodes) <= 8 ? json_array_size(nodes) : 0;
	size_t i;

	if (!rep_rc_used(r))
		return;
	fprintf(o, "<h2>Release memory model</h2>\n<p class=\"note\">"
		"--memory-model=release: at each release a node's writes to "
		"data pages go to their homes as diffs, and write notices "
		"update the other nodes' copies in place (or drop them); a page written by an atomic "
		"instruction becomes a synchronization page, sequentially "
		"consistent from then on (counted at its home)</p>\n"
		"<table id=\"release\"><tr><th class=\"l\"></th>"
		"<th>all nodes</th>");
	for (i = 0; i < nn; i++)
		fprintf(o, "<th>node %d</th>",
			jdoc_int(json_object_get(json_array_get(nodes, i),
						 "node"), (int)i));
	fprintf(o, "</tr>\n");
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		fprintf(o, "<tr><th class=\"l\">%s</th><td>%.0f</td>",
			rows[k][1], rep_rc(r, rows[k][0]));
		json_array_foreach(nodes, i, n) {
			if (i == nn)
				break;
			fprintf(o, "<td>%.0f</td>",
				jdoc_num(json_object_get(n, rows[k][0]), 0));
		}
		fprintf(o, "</tr>\n");
	}
	fprintf(o, "</table>\n");
	if (rep_rc(r, "races") > 0)
		fprintf(o, "<p class=\"hint\">Data races: %s</p>\n",
			REP_RACE_HINT);
}

/* Threads that moved between nodes: per node out and in, and the threads
 * that moved most. Nothing for a file without the member (older runs). */
static void html_migrations(const rep_t *r, FILE *o)
{
	const json_t *nodes = json_object_get(r->migs, "per_node"), *m;
	const json_t *th[REP_MAX_HOT];
	size_t i, n;

	if (!r->migs)
		return;
	fprintf(o, "<h2>Threads that moved</h2>\n<p class=\"note\">%.0f "
		"migrations: a thread moves to the node its pages come from "
		"(--placement auto) or, in tests, every N trap points "
		"(--migrate-every)</p>\n<table id=\"migrations\"><tr><th>"
		"node</th><th>threads out</th><th>threads in</th></tr>\n",
		jdoc_num(json_object_get(r->migs, "total"), 0));
	json_array_foreach(nodes, i, m)
		fprintf(o, "<tr><td>%d</td><td>%.0f</td><td>%.0f</td></tr>\n",
			jdoc_int(json_object_get(m, "node"), -1),
			jdoc_num(json_object_get(m, "out"), 0),
			jdoc_num(json_object_get(m, "in"), 0));
	fprintf(o, "</table>\n");
	n = rep_mig_threads(r, th, REP_MAX_HOT);
	if (!n)
		return;
	fprintf(o, "<table id=\"migrations-threads\"><tr><th>thread</th>"
		"<th>migrations</th></tr>\n");
	for (i = 0; i < n; i++)
		fprintf(o, "<tr><td>%.0f</td><td>%.0f</td></tr>\n",
			jdoc_num(json_object_get(th[i], "tid"), 0),
			jdoc_num(json_object_get(th[i], "migrations"), 0));
	fprintf(o, "</table>\n");
}

/* The balancer's moves as a timeline; nothing for a file without the
 * member. */
static void html_balance(const rep_t *r, FILE *o)
{
	const json_t *moves = json_object_get(r->bal, "moves"), *m;
	char line[300];
	size_t i;

	if (!r->bal)
		return;
	fprintf(o, "<h2>Balancer</h2>\n<p class=\"note\">--balance ");
	html_esc(o, json_string_value(json_object_get(r->bal, "mode"))
			    ?: "?");
	fprintf(o, ": %.0f moves; a node whose guest threads wait for a CPU "
		"gives one to a node with an idle core</p>\n<ol id=\"balance\">",
		jdoc_num(json_object_get(r->bal, "moves_total"), 0));
	json_array_foreach(moves, i, m) {
		rep_bal_move(m, line, sizeof(line));
		fprintf(o, "<li>");
		html_esc(o, line);
		fprintf(o, "</li>\n");
	}
	fprintf(o, "</ol>\n");
}

/* The nodes that joined and left, in time order; nothing for a file
 * without the member. */
static void html_membership(const rep_t *r, FILE *o)
{
	const json_t *ev = json_object_get(r->mem, "events"), *e;
	char line[1200]; /* up to 64 nodes' vCPUs */
	size_t i;

	if (!r->mem)
		return;
	rep_member_head(r, line, sizeof(line));
	fprintf(o, "<h2>Membership</h2>\n<p class=\"note\">");
	html_esc(o, line);
	fprintf(o, "</p>\n<ol id=\"membership\">");
	json_array_foreach(ev, i, e) {
		rep_member_event(e, line, sizeof(line));
		fprintf(o, "<li>");
		html_esc(o, line);
		fprintf(o, "</li>\n");
	}
	fprintf(o, "</ol>\n");
}

static void html_syscalls(const rep_t *r, FILE *o)
{
	size_t n;
	rep_count_t *v = rep_syscalls(r, &n);

	fprintf(o, "<h2>System calls</h2>\n<table><tr><th class=\"l\">call"
		"</th><th>count</th></tr>\n");
	for (size_t i = 0; v && i < n && i < 20; i++) {
		fprintf(o, "<tr><td class=\"l\">");
		html_esc(o, v[i].name);
		fprintf(o, "</td><td>%.0f</td></tr>\n", v[i].n);
	}
	fprintf(o, "</table>\n");
	free(v);
}

int rep_html(const rep_t *r, const char *out)
{
	FILE *o = fopen(out, "w");

	if (!o) {
		fprintf(stderr, "cvmm: cannot write %s: %m\n", out);
		return 1;
	}
	html_head(r, o);
	html_vcpus(r, o);
	html_vcpu_table(r, o);
	if (!r->has_coh) {
		fprintf(o, "<p class=\"note\" id=\"no-coherence\">no coherence "
			"data: single node run</p>\n");
	} else {
		if (r->faults)
			html_faults(r, o);
		html_release(r, o);
		html_migrations(r, o);
		html_balance(r, o);
		html_membership(r, o);
		html_hist(r, o);
		html_scatter(r, o);
		html_hot(r, o);
	}
	html_syscalls(r, o);
	fprintf(o, "</body></html>\n");
	if (fclose(o) != 0) {
		fprintf(stderr, "cvmm: writing %s: %m\n", out);
		return 1;
	}
	return 0;
}

