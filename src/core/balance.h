/* The balancer (issue 15, "Balancing"; README --balance, cvmm ctl
 * balance): a node whose guest threads progress slower than they could,
 * because the machine is shared with other work, gives a thread to a node
 * with a core to spare.
 *
 * What it measures, per node and sampling period: how long the node's
 * guest threads ran on a CPU (run) and how long they were ready to run but
 * waited for one (wait: the host scheduler's run-queue delay, from
 * /proc/self/task/TID/schedstat), and how long the node's host cores were
 * idle (from /proc/stat). A node is slow when its threads were runnable
 * for a real part of the period and got less than BALANCE_SLOW_PCT of it
 * on a CPU; a node can take a thread when its cores were idle for at least
 * BALANCE_FREE_PCT of one core's period and its own threads (if any ran)
 * were not kept waiting. The slowest node gives one thread to the target
 * with the most idle time; the same pair must be seen BALANCE_STREAK
 * periods in a row, and after a move the balancer keeps still for
 * BALANCE_QUIET periods (hysteresis: a move changes what the next sample
 * sees).
 *
 * A machine that is slower but not shared (its threads get the whole CPU
 * and run slower) is seen by its speed: each node times a fixed chain of
 * dependent multiply-adds in its own thread's CPU time once (the best of
 * a few runs: balance_speed_probe), so the number is the core's, not how
 * busy the machine is. A node's threads progress at rate = share x its
 * speed, in % of the fastest node's; a target with a core to spare offers
 * its speed. A node is slow when its rate is below BALANCE_SLOW_PCT of
 * what the target offers: with equal speeds, a share below
 * BALANCE_SLOW_PCT, as before; an unshared node on a core slower by more
 * than a quarter gives a thread to a faster node with an idle core.
 * Speeds within a quarter of each other (this box's noise) change nothing.
 *
 * Pure functions of the samples (unit-tested), and node 0's record of the
 * moves for --stats and cvmm report. */
#ifndef CVMM_CORE_BALANCE_H
#define CVMM_CORE_BALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/json.h"

#define BALANCE_PERIOD_MS 1000 /* --balance auto: one sample a period */
#define BALANCE_SLOW_PCT 75    /* runnable threads got less CPU: slow */
#define BALANCE_BUSY_PCT 10    /* runnable at least this much of a period */
#define BALANCE_FREE_PCT 50    /* a target's idle time, % of one core */
#define BALANCE_FAST_PCT 90    /* a target's own threads' CPU share */
#define BALANCE_STREAK 2       /* periods the same move is seen first */
#define BALANCE_QUIET 3        /* periods without a move after one */
#define BALANCE_LOG_MAX 256    /* moves node 0 keeps for --stats */

/* One node's counters, cumulative (as its STATUS_REP carries them). */
typedef struct balance_sample {
	bool ok;          /* answered */
	uint32_t threads; /* guest threads there now */
	uint32_t cores;   /* host cores its vCPUs run on */
	uint64_t run_ns;  /* its guest threads on a CPU */
	uint64_t wait_ns; /* its guest threads waiting for a CPU */
	uint64_t idle_ns; /* its cores idle (summed over the cores) */
	uint32_t speed;   /* its speed probe, 0 unknown (taken as the fastest) */
} balance_sample_t;

/* What one period looked like on one node: percentages, -1 unknown. */
typedef struct balance_view {
	int share_pct; /* CPU its runnable threads got; -1: hardly ran */
	int free_pct;  /* idle time of its cores, % of one core */
	uint32_t threads;
	uint32_t speed;  /* balance_sample_t.speed */
	bool ok;
} balance_view_t;

typedef struct balance_state {
	int from, to;     /* the move seen last period, -1 none */
	unsigned streak;  /* periods in a row it was seen */
	unsigned quiet;   /* periods left without a move */
} balance_state_t;

typedef struct balance_move {
	int from, to;     /* -1: no move */
	int share_pct;    /* from's share */
	int free_pct;     /* to's idle time */
	int rate_pct;     /* from's progress, % of what to offers (= share
			     with equal speeds) */
} balance_move_t;

/* This core's speed: multiply-adds per microsecond of the calling
 * thread's CPU time, the best of a few runs (~2 ms in all). */
uint32_t balance_speed_probe(void);

void balance_start(balance_state_t *s);

/* The view of one node from two samples period_ns apart. */
balance_view_t balance_view(const balance_sample_t *prev,
			    const balance_sample_t *now, uint64_t period_ns);

/* The move the period's views call for (or none, with why in why[]).
 * force (cvmm ctl balance): act on this period alone, ignoring the streak
 * and the quiet periods. Updates s. */
balance_move_t balance_decide(balance_state_t *s, const balance_view_t *v,
			      int n, bool force, char *why, size_t cap);

/* ---- node 0's record (for --stats and cvmm report) ---- */

/* A move was asked: at t_ns since the VM started, thread tid. */
void balance_log(uint64_t t_ns, int tid, const balance_move_t *m,
		 bool forced);

/* The mode for --stats ("off", "auto"); NULL: no line. */
void balance_set_mode(const char *mode);

/* "balancer: MODE, N moves" for --stats on several nodes. */
void balance_table(FILE *out);

/* doc with "balance": {mode, period_ms, moves: [{t_s, tid, from, to,
 * from_cpu_pct, to_idle_pct, forced}]}. */
json_t *balance_json(json_t *doc);

#endif
