/* cvmm report, internal: the loaded stats file and the helpers the
 * terminal summary (report.c) and the HTML page (report_html.c) share. */
#ifndef CVMM_CLI_REPORT_INT_H
#define CVMM_CLI_REPORT_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/json.h"
#include "common/page.h"
#include "core/loader.h"

#define REP_MAX_TRACE 20000 /* scatter points drawn at most */
#define REP_MAX_HOT   25    /* hot pages listed at most */
#define REP_NAME      160

enum { T_GUEST, T_COH, T_SYS, T_IDLE, T_NR };


typedef struct rep_vcpu {
	int vcpu, host_pu, node;
	unsigned long threads, syscalls;
	double t[T_NR];
	double cpu, cpu_wait; /* s on a CPU, s ready but waiting for one (-1:
				 a file from before these) */
} rep_vcpu_t;

/* The loaded file: doc is jansson's tree (common/json.h), the json_t
 * pointers point into it (NULL when absent). */
typedef struct rep {
	const char *path;
	json_t *doc;
	const char *exe;
	int vcpus, nodes, exit_status;
	double wall;
	rep_vcpu_t *v;
	size_t nv;
	bool has_coh; /* several nodes or any coherence member present */
	json_t *faults, *trace, *hot, *threads, *heap, *msgs;
	json_t *migs; /* "migrations": threads that moved between nodes */
	json_t *rc;   /* "release": the release memory model's counters */
	json_t *bal;  /* "balance": the balancer's mode and moves */
	json_t *mem;  /* "membership": slots, joins and leaves */
	loader_image_t img;
	bool have_img;
	void *map;
	size_t maplen;
	char sym_note[300];
} rep_t;

extern const char *const t_label[T_NR];

/* A syscall's name and how often it was called. */
typedef struct rep_count {
	const char *name; /* points into r->doc */
	double n;
} rep_count_t;

void rep_name(const rep_t *r, uint64_t addr, char *buf, size_t len);
double rep_total(const rep_vcpu_t *c);

/* The % of its runnable time vCPU c's threads waited for a CPU, -1 when
 * the file does not say. */
double rep_cpu_wait_pct(const rep_vcpu_t *c);

/* "time-shared: ..." for vCPUs that share a host PU on one node, or whose
 * threads waited for a CPU 10% or more of their runnable time; "" when
 * none did. */
void rep_time_shared(const rep_t *r, char *buf, size_t len);
double rep_pct(double part, double whole);
rep_count_t *rep_syscalls(const rep_t *r, size_t *n);
bool rep_hint(const json_t *hp, const char *name, char *buf, size_t len);

/* Hot page hp took write faults from atomic instructions (a lock, a
 * counter, a flag lives there). */
bool rep_hot_sync(const json_t *hp);

/* The threads of "migrations" "per_thread" with a positive count, most
 * first as the file has them: their count into *n, at most max kept. */
size_t rep_mig_threads(const rep_t *r, const json_t **out, size_t max);

/* One move of the balancer's timeline as text: "T s: thread X node F -> T
 * (...)". */
void rep_bal_move(const json_t *m, char *buf, size_t len);
/* One membership change as a line: "T s: node K joined (epoch E, M ms)"
 * or "T s: node K left, node H took its roles and N pages (...)". */
void rep_member_event(const json_t *e, char *buf, size_t len);
/* "S slots, N started, J joins, L leaves" */
void rep_member_head(const rep_t *r, char *buf, size_t len);

/* What the report says when the release model saw data races. */
#define REP_RACE_HINT                                                        \
	"two nodes wrote the same bytes with no synchronization between "    \
	"them (a data race): the release memory model promises nothing for " \
	"such writes; synchronize them or run with the default "             \
	"--memory-model=sequential"

/* The run used the release memory model: "release" says so, or one of
 * its counters is positive (a file from before the member: false). */
bool rep_rc_used(const rep_t *r);

/* The release member's counter key, 0 when absent. */
double rep_rc(const rep_t *r, const char *key);

/* A byte count as "812 bytes", "18.1 KiB" or "3.2 MiB". */
void rep_bytes(double n, char *buf, size_t len);

/* Writes the HTML page to out; returns the exit status. */
int rep_html(const rep_t *r, const char *out);

#endif
