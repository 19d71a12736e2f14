/* The balancer's decisions and node 0's record of its moves (balance.h). */
#include "core/balance.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

void balance_start(balance_state_t *s)
{
	s->from = s->to = -1;
	s->streak = 0;
	s->quiet = 0;
}

static uint64_t delta(uint64_t now, uint64_t prev)
{
	return now >= prev ? now - prev : 0; /* a counter reset: nothing */
}

balance_view_t balance_view(const balance_sample_t *prev,
			    const balance_sample_t *now, uint64_t period_ns)
{
	balance_view_t v = { .share_pct = -1, .free_pct = 0,
			     .threads = now->threads, .speed = now->speed,
			     .ok = prev->ok && now->ok && period_ns > 0 };
	uint64_t run, wait, idle;

	if (!v.ok)
		return v;
	run = delta(now->run_ns, prev->run_ns);
	wait = delta(now->wait_ns, prev->wait_ns);
	idle = delta(now->idle_ns, prev->idle_ns);
	if ((run + wait) * 100 >= (uint64_t)BALANCE_BUSY_PCT * period_ns)
		v.share_pct = (int)(run * 100 / (run + wait));
	/* idle over the period, in % of one core (at most all its cores) */
	if (idle > (uint64_t)now->cores * period_ns)
		idle = (uint64_t)now->cores * period_ns;
	v.free_pct = (int)(idle * 100 / period_ns);
	return v;
}

/* The fastest speed among the nodes that answered (at least 1). */
static uint64_t fastest_of(const balance_view_t *v, int n)
{
	uint64_t max = 1;

	for (int i = 0; i < n; i++)
		if (v[i].ok && v[i].speed > max)
			max = v[i].speed;
	return max;
}

/* Node i's speed; unknown (0) is taken as the fastest known. */
static uint64_t speed_of(const balance_view_t *v, int i, uint64_t fastest)
{
	return v[i].speed ? v[i].speed : fastest;
}

/* Node i's progress: its share times its speed, in % of speed ref. */
static int rate(const balance_view_t *v, int i, uint64_t fastest,
		uint64_t ref)
{
	return (int)((uint64_t)v[i].share_pct * speed_of(v, i, fastest) / ref);
}

/* The node that progresses least (a thread to give, a share measured),
 * -1 none. */
static int slowest(const balance_view_t *v, int n, uint64_t fastest)
{
	int k = -1;

	for (int i = 0; i < n; i++)
		if (v[i].ok && v[i].threads > 0 && v[i].share_pct >= 0 &&
		    (k < 0 || rate(v, i, fastest, fastest) <
				      rate(v, k, fastest, fastest)))
			k = i;
	return k;
}

static bool has_room(const balance_view_t *v, int i)
{
	return v[i].ok && v[i].free_pct >= BALANCE_FREE_PCT &&
	       (v[i].share_pct < 0 || v[i].share_pct >= BALANCE_FAST_PCT);
}

/* The node that can take a thread from k: among those with a core to
 * spare whose own threads are not kept waiting, one of the fastest (a
 * speed within a tenth of the fastest's counts as the same), and of those
 * the one with the most idle time. */
static int roomiest(const balance_view_t *v, int n, int k, uint64_t fastest)
{
	uint64_t top = 0;
	int j = -1;

	for (int i = 0; i < n; i++)
		if (i != k && has_room(v, i) && speed_of(v, i, fastest) > top)
			top = speed_of(v, i, fastest);
	for (int i = 0; i < n; i++)
		if (i != k && has_room(v, i) &&
		    speed_of(v, i, fastest) * 10 >= top * 9 &&
		    (j < 0 || v[i].free_pct > v[j].free_pct))
			j = i;
	return j;
}

uint32_t balance_speed_probe(void)
{
	uint64_t best = UINT64_MAX;

	for (int run = 0; run < 5; run++) {
		struct timespec a, b;
		uint64_t x = (uint64_t)run + 1, ns;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		for (int i = 0; i < (1 << 18); i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			__asm__ volatile("" : "+r"(x)); /* one chain, kept */
		}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
		     (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
		if (ns > 0 && ns < best)
			best = ns;
	}
	if (best == UINT64_MAX)
		return 0;
	return (uint32_t)(((uint64_t)1 << 18) * 1000 / best) + 1;
}

balance_move_t balance_decide(balance_state_t *s, const balance_view_t *v,
			      int n, bool force, char *why, size_t cap)
{
	balance_move_t m = { .from = -1, .to = -1 };
	uint64_t fastest = fastest_of(v, n);
	int k = slowest(v, n, fastest), j = -1, r = 0;
	bool quiet = !force && s->quiet > 0;

	/* k's progress against what j offers (a whole core at its speed),
	 * or, with no j, against the fastest core */
	if (k >= 0) {
		j = roomiest(v, n, k, fastest);
		r = rate(v, k, fastest,
			 j >= 0 ? speed_of(v, j, fastest) : fastest);
	}
	if (quiet)
		s->quiet--;
	if (k < 0) {
		snprintf(why, cap, "no guest thread was runnable long enough "
			 "to measure");
	} else if (r >= BALANCE_SLOW_PCT) {
		snprintf(why, cap, "no node is slow (the least progress: node "
			 "%d, %d%% of the CPU it wanted, at %d%% of the fastest "
			 "core's speed)", k, v[k].share_pct,
			 (int)(speed_of(v, k, fastest) * 100 / fastest));
		k = -1;
	} else if (j < 0) {
		snprintf(why, cap, "node %d is slow (its threads got %d%% of "
			 "the CPU they wanted, at %d%% of the fastest core's "
			 "speed) but no other node has half a core idle", k,
			 v[k].share_pct,
			 (int)(speed_of(v, k, fastest) * 100 / fastest));
	}
	if (k < 0 || j < 0) {
		s->from = s->to = -1;
		s->streak = 0;
		return m;
	}
	if (s->from == k && s->to == j) {
		s->streak++;
	} else {
		s->from = k;
		s->to = j;
		s->streak = 1;
	}
	if (quiet) {
		s->streak = 0; /* what a move changed is seen afresh */
		snprintf(why, cap, "node %d is slow (%d%%), node %d has room: "
			 "quiet after a move", k, v[k].share_pct, j);
		return m;
	}
	if (!force && s->streak < BALANCE_STREAK) {
		snprintf(why, cap, "node %d is slow (%d%%), node %d has room: "
			 "seen %u of %d periods", k, v[k].share_pct, j,
			 s->streak, BALANCE_STREAK);
		return m;
	}
	m = (balance_move_t){ .from = k, .to = j, .share_pct = v[k].share_pct,
			      .free_pct = v[j].free_pct, .rate_pct = r };
	if (r * 10 < v[k].share_pct * 9) /* the speeds tell */
		snprintf(why, cap, "node %d's threads got %d%% of the CPU they "
			 "wanted on a core %d%% as fast as node %d's, which "
			 "had %d%% of a core idle", k, v[k].share_pct,
			 (int)(speed_of(v, k, fastest) * 100 /
			       speed_of(v, j, fastest)), j,
			 v[j].free_pct);
	else
		snprintf(why, cap, "node %d's threads got %d%% of the CPU they "
			 "wanted, node %d had %d%% of a core idle", k,
			 v[k].share_pct, j, v[j].free_pct);
	s->streak = 0;
	s->quiet = BALANCE_QUIET;
	return m;
}

/* ---- the record ---------------------------------------------------------- */

typedef struct balance_entry {
	uint64_t t_ns;
	int tid;
	balance_move_t m;
	bool forced;
} balance_entry_t;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static balance_entry_t moves[BALANCE_LOG_MAX];
static unsigned nmoves, nlost;
static const char *log_mode;

void balance_log(uint64_t t_ns, int tid, const balance_move_t *m,
		 bool forced)
{
	pthread_mutex_lock(&log_lock);
	if (nmoves < BALANCE_LOG_MAX)
		moves[nmoves++] = (balance_entry_t){ t_ns, tid, *m, forced };
	else
		nlost++;
	pthread_mutex_unlock(&log_lock);
}

void balance_set_mode(const char *mode)
{
	log_mode = mode;
}

void balance_table(FILE *out)
{
	if (!log_mode)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(out, "balancer: %s, %u moves\n", log_mode, nmoves + nlost);
	pthread_mutex_unlock(&log_lock);
}

json_t *balance_json(json_t *doc)
{
	json_t *arr;

	if (!log_mode)
		return doc;
	arr = json_array();
	pthread_mutex_lock(&log_lock);
	for (unsigned i = 0; i < nmoves; i++) {
		const balance_entry_t *e = &moves[i];

		arr = jdoc_push(arr,
				json_pack("{s:f, s:i, s:i, s:i, s:i, s:i, s:b}",
					  "t_s",
					  (double)(e->t_ns / 1000) / 1e6,
					  "tid", e->tid, "from", e->m.from,
					  "to", e->m.to, "from_cpu_pct",
					  e->m.share_pct, "to_idle_pct",
					  e->m.free_pct, "forced", e->forced));
	}
	pthread_mutex_unlock(&log_lock);
	return jdoc_set(doc, "balance",
			json_pack("{s:s, s:i, s:i, s:o}", "mode", log_mode,
				  "period_ms", BALANCE_PERIOD_MS, "moves_total",
				  (int)(nmoves + nlost),
				  "moves", arr ? arr : json_null()));
}
