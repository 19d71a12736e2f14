/* barnes: Barnes-Hut gravitational n-body simulation in 3-D, after
 * SPLASH-2's BARNES application.
 *
 * n equal-mass bodies start as a Plummer sphere (Aarseth, Henon & Wielen's
 * sampling, in standard units G = M = 1). Every step:
 *   - the bounding cube is found (per-thread extents, reduced by thread 0);
 *   - the octree is built in parallel, as in SPLASH: each thread inserts
 *     its own bodies into the shared tree, locking only the cell it changes
 *     (a hashed array of mutexes) and reading child pointers with atomic
 *     read-modify-writes (slot_get); cells come from a shared pool in
 *     per-thread chunks taken under a mutex; one body per leaf;
 *   - centres of mass and quadrupoles: the subtrees at depth 3 are shared out among the
 *     threads, thread 0 does the levels above and lists the bodies in tree
 *     order (for locality in the force phase);
 *   - forces: threads take chunks of 32 bodies of that list from a counter
 *     under a mutex and walk the tree (opening criterion size/d < theta,
 *     theta = 0.5; monopole and quadrupole moments as in SPLASH;
 *     Plummer softening eps = 0.05);
 *   - leapfrog (kick-drift-kick) with dt = 0.025 for the thread's bodies.
 * Barriers separate the phases.
 *
 * The tree's shape does not depend on the insertion order (one body per
 * leaf) and every sum is taken in octant order, so the run is the same
 * whatever the thread count. Check: after the last step the accelerations
 * of 64 sample bodies are compared with direct O(n) summation; the maximum
 * relative error must be below 2% and is printed as the smallest of
 * 0.1%, 0.2%, 0.5%, 1%, 2% it is below (WL_DEBUG=1 in the environment
 * prints the raw value to stderr).
 *
 *   barnes [-n N] [-s STEPS] [-p P] [-t]
 *     -n N      bodies, >= 2 (default 16384)
 *     -s STEPS  time steps (default 8)
 *     -p P      threads (default 1)
 *     -t        print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define THETA 0.5
#define EPS 0.05
#define DT 0.025
#define NSAMPLE 64
#define ETOL 0.02
#define NCLOCK 1024    /* hashed cell locks */
#define CHUNK_CELLS 256
#define CHUNK_BODIES 32
#define TASK_DEPTH 3
#define MAXDEPTH 60
#define EMPTY 0        /* child slot: 0 empty, > 0 cell, < 0 body -c-1 */

typedef struct {
	double com[3], mass;
	double quad[6]; /* xx xy xz yy yz zz of sum m (3 y y^T - |y|^2 I) */
	double ctr[3], half;
	int child[8];
} cell_t;

static long N = 16384;
static int STEPS = 8, P = 1;
static double (*pos)[3], (*vel)[3], (*acc)[3], *mass;
static cell_t *cells;
static long cell_cap, cell_next; /* cell_next under alloc_lock */
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t clock_[NCLOCK];
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static long work_next; /* under work_lock */
static long *order;    /* bodies in tree order */
static int *tasks, ntasks;
static double t_box[WL_MAXPROCS][6];
static int t_fail[WL_MAXPROCS];
static long sample_idx[NSAMPLE];
static double sample_err[NSAMPLE];
static wl_barrier_t bar;

#define ROOT 1

/* ---- cells ------------------------------------------------------------- */

typedef struct {
	long cur, end;
} pool_t;

/* A new cell for this thread, or 0 when the pool is exhausted. */
static int cell_new(pool_t *p, const double ctr[3], double half)
{
	if (p->cur == p->end) {
		pthread_mutex_lock(&alloc_lock);
		p->cur = cell_next;
		cell_next += CHUNK_CELLS;
		pthread_mutex_unlock(&alloc_lock);
		p->end = p->cur + CHUNK_CELLS;
		if (p->end > cell_cap) {
			p->cur = p->end;
			return 0;
		}
	}
	cell_t *c = &cells[p->cur];

	memset(c, 0, sizeof(*c));
	memcpy(c->ctr, ctr, sizeof(c->ctr));
	c->half = half;
	return (int)p->cur++;
}

static inline int octant(const cell_t *c, const double x[3])
{
	return (x[0] >= c->ctr[0]) | (x[1] >= c->ctr[1]) << 1 |
	       (x[2] >= c->ctr[2]) << 2;
}

static void sub_ctr(const cell_t *c, int k, double ctr[3])
{
	for (int d = 0; d < 3; d++)
		ctr[d] = c->ctr[d] + ((k >> d) & 1 ? 0.5 : -0.5) * c->half;
}

/* A child pointer, read without the cell's lock while descending: with a
 * locked read-modify-write (lock xadd of 0), not a plain acquire load.
 * Natively the same (1.14 s either way with -p 2); but an acquire load is
 * a plain mov on x86, which a release-consistent shared memory such as
 * cvmm's --memory-model=release cannot see, so the new cell it leads to
 * could be read stale there (a wrong tree: a wrong result or a crash in
 * about 1 run in 100 on 2 nodes). A program written for such a memory
 * synchronizes with operations it can see; this one then runs as on one
 * machine (0 of 600 runs wrong). */
static inline int slot_get(cell_t *c, int k)
{
	return __atomic_fetch_add(&c->child[k], 0, __ATOMIC_ACQ_REL);
}

static inline void slot_set(cell_t *c, int k, int v)
{
	__atomic_store_n(&c->child[k], v, __ATOMIC_RELEASE);
}

/* Inserts body b under the root, locking the one cell it changes. Returns
 * 0, or -1 when the cell pool is exhausted or the tree too deep. */
static int insert(pool_t *pool, long b)
{
	int cur = ROOT;

	for (int depth = 0; depth < MAXDEPTH; depth++) {
		cell_t *c = &cells[cur];
		int k = octant(c, pos[b]), v = slot_get(c, k);

		if (v > 0) {
			cur = v;
			continue;
		}
		pthread_mutex_t *lk = &clock_[cur % NCLOCK];

		pthread_mutex_lock(lk);
		v = slot_get(c, k);
		if (v == EMPTY) {
			slot_set(c, k, (int)(-b - 1));
			pthread_mutex_unlock(lk);
			return 0;
		}
		if (v < 0) { /* a body: push it one level down */
			double ctr[3];
			int nc;

			sub_ctr(c, k, ctr);
			nc = cell_new(pool, ctr, 0.5 * c->half);
			if (!nc) {
				pthread_mutex_unlock(lk);
				return -1;
			}
			cells[nc].child[octant(&cells[nc], pos[-v - 1])] = v;
			slot_set(c, k, nc);
			v = nc;
		}
		pthread_mutex_unlock(lk);
		cur = v;
	}
	return -1;
}

/* ---- centres of mass ----------------------------------------------------- */

/* Mass, centre of mass and quadrupole of cell ci from its children, in
 * octant order; recurses into child cells when all is set or they lie
 * above TASK_DEPTH (the task cells are done by then). */
static void com(int ci, int depth, int all)
{
	cell_t *c = &cells[ci];
	double m = 0, s[3] = { 0, 0, 0 };

	for (int k = 0; k < 8; k++) {
		int v = c->child[k];
		const double *x;
		double mk;

		if (v == EMPTY)
			continue;
		if (v > 0) {
			if (all || depth + 1 < TASK_DEPTH)
				com(v, depth + 1, all);
			x = cells[v].com;
			mk = cells[v].mass;
		} else {
			x = pos[-v - 1];
			mk = mass[-v - 1];
		}
		m += mk;
		for (int d = 0; d < 3; d++)
			s[d] += mk * x[d];
	}
	c->mass = m;
	for (int d = 0; d < 3; d++)
		c->com[d] = s[d] / m;
	/* Parallel axis: each child's own quadrupole (zero for a body) plus
	 * its mass at its offset from this centre. */
	for (int q = 0; q < 6; q++)
		c->quad[q] = 0;
	for (int k = 0; k < 8; k++) {
		int v = c->child[k];
		const double *x;
		double mk, y[3], y2;

		if (v == EMPTY)
			continue;
		if (v > 0) {
			x = cells[v].com;
			mk = cells[v].mass;
			for (int q = 0; q < 6; q++)
				c->quad[q] += cells[v].quad[q];
		} else {
			x = pos[-v - 1];
			mk = mass[-v - 1];
		}
		for (int d = 0; d < 3; d++)
			y[d] = x[d] - c->com[d];
		y2 = y[0] * y[0] + y[1] * y[1] + y[2] * y[2];
		c->quad[0] += mk * (3 * y[0] * y[0] - y2);
		c->quad[1] += mk * 3 * y[0] * y[1];
		c->quad[2] += mk * 3 * y[0] * y[2];
		c->quad[3] += mk * (3 * y[1] * y[1] - y2);
		c->quad[4] += mk * 3 * y[1] * y[2];
		c->quad[5] += mk * (3 * y[2] * y[2] - y2);
	}
}

/* tasks = the cells at depth TASK_DEPTH, in tree order. */
static void list_tasks(int ci, int depth)
{
	if (depth == TASK_DEPTH) {
		tasks[ntasks++] = ci;
		return;
	}
	for (int k = 0; k < 8; k++)
		if (cells[ci].child[k] > 0)
			list_tasks(cells[ci].child[k], depth + 1);
}

static long list_bodies(int ci, long n)
{
	for (int k = 0; k < 8; k++) {
		int v = cells[ci].child[k];

		if (v > 0)
			n = list_bodies(v, n);
		else if (v < 0)
			order[n++] = -v - 1;
	}
	return n;
}

/* ---- forces ------------------------------------------------------------ */

static inline void add_acc(const double x[3], const double y[3], double m,
			   double a[3])
{
	double d[3] = { y[0] - x[0], y[1] - x[1], y[2] - x[2] };
	double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + EPS * EPS;
	double f = m / (r2 * sqrt(r2));

	for (int j = 0; j < 3; j++)
		a[j] += f * d[j];
}

/* Acceleration at x of a cell's monopole and quadrupole, d = com - x:
 * M d / r^3 - Q d / r^5 + 5/2 (d.Q.d) d / r^7, r softened. */
static inline void add_cell(const double x[3], const cell_t *c,
			    const double d[3], double a[3])
{
	const double *q = c->quad;
	double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + EPS * EPS;
	double ir = 1 / sqrt(r2), ir2 = ir * ir, ir5 = ir2 * ir2 * ir;
	double qd[3] = { q[0] * d[0] + q[1] * d[1] + q[2] * d[2],
			 q[1] * d[0] + q[3] * d[1] + q[4] * d[2],
			 q[2] * d[0] + q[4] * d[1] + q[5] * d[2] };
	double dqd = d[0] * qd[0] + d[1] * qd[1] + d[2] * qd[2];
	double fm = c->mass * ir * ir2 + 2.5 * dqd * ir5 * ir2;

	(void)x;
	for (int j = 0; j < 3; j++)
		a[j] += fm * d[j] - ir5 * qd[j];
}

/* Acceleration of body b from the tree, depth first in octant order. */
static void tree_acc(long b, double a[3])
{
	int stack[8 * MAXDEPTH + 8], sp = 0;
	const double *x = pos[b];

	a[0] = a[1] = a[2] = 0;
	stack[sp++] = ROOT;
	while (sp) {
		int v = stack[--sp];

		if (v < 0) {
			add_acc(x, pos[-v - 1], mass[-v - 1], a);
			continue;
		}
		const cell_t *c = &cells[v];
		double d[3] = { c->com[0] - x[0], c->com[1] - x[1],
				c->com[2] - x[2] };
		double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
		double size = 2 * c->half;
		int inside = fabs(x[0] - c->ctr[0]) <= c->half &&
			     fabs(x[1] - c->ctr[1]) <= c->half &&
			     fabs(x[2] - c->ctr[2]) <= c->half;

		if (!inside && size * size < THETA * THETA * r2) {
			add_cell(x, c, d, a);
			continue;
		}
		for (int k = 7; k >= 0; k--) { /* popped in octant order */
			int ch = c->child[k];

			if (ch > 0 || (ch < 0 && -ch - 1 != b))
				stack[sp++] = ch;
		}
	}
}

static void forces(void)
{
	for (;;) {
		long lo, hi;

		pthread_mutex_lock(&work_lock);
		lo = work_next;
		work_next += CHUNK_BODIES;
		pthread_mutex_unlock(&work_lock);
		if (lo >= N)
			return;
		hi = lo + CHUNK_BODIES < N ? lo + CHUNK_BODIES : N;
		for (long i = lo; i < hi; i++)
			tree_acc(order[i], acc[order[i]]);
	}
}

/* ---- one step's tree and forces ----------------------------------------- */

static void bounding_box(int id, long lo, long hi)
{
	double *bx = t_box[id];

	for (int d = 0; d < 3; d++) {
		bx[d] = INFINITY;
		bx[3 + d] = -INFINITY;
	}
	for (long i = lo; i < hi; i++)
		for (int d = 0; d < 3; d++) {
			if (pos[i][d] < bx[d])
				bx[d] = pos[i][d];
			if (pos[i][d] > bx[3 + d])
				bx[3 + d] = pos[i][d];
		}
}

static void new_root(void)
{
	double lo[3], hi[3], half = 0;
	cell_t *r = &cells[ROOT];

	for (int d = 0; d < 3; d++) {
		lo[d] = INFINITY;
		hi[d] = -INFINITY;
		for (int t = 0; t < P; t++) {
			lo[d] = fmin(lo[d], t_box[t][d]);
			hi[d] = fmax(hi[d], t_box[t][3 + d]);
		}
		half = fmax(half, 0.5 * (hi[d] - lo[d]));
	}
	memset(r, 0, sizeof(*r));
	for (int d = 0; d < 3; d++)
		r->ctr[d] = 0.5 * (lo[d] + hi[d]);
	r->half = half * 1.001 + 1e-9;
	cell_next = ROOT + 1;
	work_next = 0;
	ntasks = 0;
}

/* Builds the tree of the current positions and sets acc. Returns 0, or -1
 * in every thread when one failed to insert. */
static int tree_forces(int id, long lo, long hi)
{
	pool_t pool = { 0, 0 };

	bounding_box(id, lo, hi);
	if (wl_barrier_wait(&bar))
		new_root(); /* the last thread in; the others wait below */
	wl_barrier_wait(&bar);
	for (long i = lo; i < hi && !t_fail[id]; i++)
		if (insert(&pool, i))
			t_fail[id] = 1;
	wl_barrier_wait(&bar);
	for (int t = 0; t < P; t++)
		if (t_fail[t])
			return -1;
	if (id == 0)
		list_tasks(ROOT, 0);
	wl_barrier_wait(&bar);
	for (int t = id; t < ntasks; t += P)
		com(tasks[t], TASK_DEPTH, 1);
	wl_barrier_wait(&bar);
	if (id == 0) {
		com(ROOT, 0, 0);
		list_bodies(ROOT, 0);
	}
	wl_barrier_wait(&bar);
	forces();
	wl_barrier_wait(&bar);
	return 0;
}

/* ---- initial conditions: a Plummer sphere -------------------------------- */

static double rnd(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return (double)(wl_mix64(*s) >> 11) * (1.0 / 9007199254740992.0);
}

static void isotropic(uint64_t *s, double len, double v[3])
{
	double z = 2 * rnd(s) - 1, ph = 2 * M_PI * rnd(s);
	double rxy = sqrt(1 - z * z);

	v[0] = len * rxy * cos(ph);
	v[1] = len * rxy * sin(ph);
	v[2] = len * z;
}

static void plummer(int id, long lo, long hi)
{
	const double rsc = 3 * M_PI / 16, vsc = sqrt(1 / rsc);

	for (long i = lo; i < hi; i++) {
		uint64_t s = wl_mix64(0xb0d1e5ULL + (uint64_t)i);
		double r, x, y;

		do
			r = 1 / sqrt(pow(rnd(&s) * 0.999 + 1e-6, -2.0 / 3) - 1);
		while (r > 9);
		isotropic(&s, r * rsc, pos[i]);
		do {
			x = rnd(&s);
			y = 0.1 * rnd(&s);
		} while (y > x * x * pow(1 - x * x, 3.5));
		isotropic(&s, x * sqrt(2.0) * pow(1 + r * r, -0.25) * vsc,
			  vel[i]);
		mass[i] = 1.0 / (double)N;
	}
	(void)id;
}

/* Moves the centre of mass to rest at the origin (thread 0, in order). */
static void centre(void)
{
	double cp[3] = { 0, 0, 0 }, cv[3] = { 0, 0, 0 };

	for (long i = 0; i < N; i++)
		for (int d = 0; d < 3; d++) {
			cp[d] += pos[i][d] / (double)N;
			cv[d] += vel[i][d] / (double)N;
		}
	for (long i = 0; i < N; i++)
		for (int d = 0; d < 3; d++) {
			pos[i][d] -= cp[d];
			vel[i][d] -= cv[d];
		}
}

/* ---- the check ----------------------------------------------------------- */

static void check(int id)
{
	for (int s = id; s < NSAMPLE; s += P) {
		long b = sample_idx[s];
		double a[3] = { 0, 0, 0 }, e2 = 0, a2 = 0;

		for (long j = 0; j < N; j++)
			if (j != b)
				add_acc(pos[b], pos[j], mass[j], a);
		for (int d = 0; d < 3; d++) {
			e2 += (acc[b][d] - a[d]) * (acc[b][d] - a[d]);
			a2 += a[d] * a[d];
		}
		sample_err[s] = sqrt(e2 / a2);
	}
}

static void worker(int id)
{
	long lo, hi;

	wl_split(N, P, id, &lo, &hi);
	plummer(id, lo, hi);
	wl_barrier_wait(&bar);
	if (id == 0)
		centre();
	wl_barrier_wait(&bar);
	if (tree_forces(id, lo, hi))
		return;
	for (int step = 0; step < STEPS; step++) {
		for (long i = lo; i < hi; i++)
			for (int d = 0; d < 3; d++) {
				vel[i][d] += 0.5 * DT * acc[i][d];
				pos[i][d] += DT * vel[i][d];
			}
		if (tree_forces(id, lo, hi))
			return;
		for (long i = lo; i < hi; i++)
			for (int d = 0; d < 3; d++)
				vel[i][d] += 0.5 * DT * acc[i][d];
	}
	check(id);
}

static void usage(void)
{
	fprintf(stderr, "usage: barnes [-n N] [-s STEPS] [-p P] [-t]\n"
			"  -n N      bodies, >= 2 (default 16384)\n"
			"  -s STEPS  time steps (default 8)\n"
			"  -p P      threads (default 1)\n"
			"  -t        print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const double bucket[] = { 0.001, 0.002, 0.005, 0.01, ETOL };
	double err = 0;
	int c, fail = 0;

	wl_prog = "barnes";
	while ((c = getopt(argc, argv, "n:s:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 2, 1L << 26); break;
		case 's': STEPS = (int)wl_arg_long(optarg, 's', 0, 100000); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (P > N)
		wl_die("-p %d is more than the %ld bodies", P, N);
	pos = wl_alloc(N * sizeof(double[3]));
	vel = wl_alloc(N * sizeof(double[3]));
	acc = wl_alloc(N * sizeof(double[3]));
	mass = wl_alloc(N * sizeof(double));
	order = wl_alloc(N * sizeof(long));
	tasks = wl_alloc((1 << (3 * TASK_DEPTH)) * sizeof(int));
	cell_cap = 4 * N + (long)CHUNK_CELLS * (P + 4);
	cells = wl_alloc(cell_cap * sizeof(cell_t));
	for (int i = 0; i < NCLOCK; i++)
		pthread_mutex_init(&clock_[i], NULL);
	for (int s = 0; s < NSAMPLE; s++)
		sample_idx[s] = (long)((N - 1) * (double)s / (NSAMPLE - 1));
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	for (int t = 0; t < P; t++)
		fail |= t_fail[t];
	printf("barnes: %ld bodies, %d steps of %g, theta %g, eps %g\n", N,
	       STEPS, DT, THETA, EPS);
	if (fail) {
		printf("barnes: FAIL (tree build: cell pool exhausted or "
		       "bodies too close)\n");
		return 1;
	}
	for (int s = 0; s < NSAMPLE && s < N; s++)
		if (sample_err[s] > err)
			err = sample_err[s];
	if (getenv("WL_DEBUG"))
		fprintf(stderr, "barnes: max sample error %.4e\n", err);
	for (unsigned i = 0; i < sizeof(bucket) / sizeof(bucket[0]); i++) {
		if (err < bucket[i]) {
			printf("barnes: PASS (accelerations of %d bodies within "
			       "%g%% of direct summation)\n", NSAMPLE,
			       bucket[i] * 100);
			return 0;
		}
	}
	printf("barnes: FAIL (an acceleration is %.2f%% off direct summation, "
	       "limit %g%%)\n", err * 100, ETOL * 100);
	return 1;
}
