/* ocean: red-black Gauss-Seidel multigrid solving a 2-D Poisson problem,
 * the elliptic solver at the heart of SPLASH-2's OCEAN application.
 *
 * -Laplace(u) = f on the unit square, u = 0 on the boundary, discretised
 * cell-centred on N x N cells stored with a ghost layer: (N+2)^2 arrays
 * (the Dirichlet condition u = 0 on each face enters the 5-point stencil as
 * an extra diagonal term). f is chosen so that
 * u = sin(pi x) sin(pi y) + 0.1 sin(4 pi x) sin(3 pi y) exactly.
 * V(2,2) cycles: red-black Gauss-Seidel smoothing, residual restricted by
 * averaging the 4 fine cells, bilinear prolongation; the grid is halved
 * while it is even and larger than 8 x 8, and one thread solves the
 * coarsest with 200 sweeps. Every level is split into blocks of rows, one
 * per thread; barriers separate the half-sweeps and the grid transfers.
 * Cycles run until ||r||_2 / ||f||_2 < 1e-9 * max(1, (N / 1024)^2) (the
 * bound follows the rounding floor, which grows like 1 / h^2).
 *
 * Red-black ordering makes every update independent of the thread count,
 * and the residual norm is summed row by row in a fixed order, so the
 * residuals, the number of cycles and the discretisation error printed are
 * the same for any -p. Check: converged within 40 cycles, and the maximum
 * error against the exact solution is below 3 / N^2 (second order).
 *
 *   ocean [-n N] [-p P] [-t]
 *     -n N  cells per side, c * 2^k with c <= 8, in [2, 16384]
 *           (default 2560 = 5 * 2^9)
 *     -p P  threads (default 1)
 *     -t    print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define MAXLEV 16
#define COARSEST 8
#define COARSE_SWEEPS 200
#define NU1 2
#define NU2 2
#define MAXCYCLES 40

typedef struct {
	long n;       /* cells per side */
	long s;       /* row stride, n + 2 */
	double h2;    /* cell width squared */
	double *u, *f;
} level_t;

static long N = 2560;
static double rtol;
static int P = 1, NLEV;
static level_t lev[MAXLEV];
static double *row_sum; /* per finest row: sum of squares */
static double res_hist[MAXCYCLES + 1], fnorm, max_err;
static int ncycles;
static wl_barrier_t bar;
static double t_err[WL_MAXPROCS];

#define AT(L, i, j) ((L)->u[(i) * (L)->s + (j)])

static double exact(double x, double y)
{
	return sin(M_PI * x) * sin(M_PI * y) +
	       0.1 * sin(4 * M_PI * x) * sin(3 * M_PI * y);
}

static double rhs(double x, double y)
{
	return 2 * M_PI * M_PI * sin(M_PI * x) * sin(M_PI * y) +
	       0.1 * 25 * M_PI * M_PI * sin(4 * M_PI * x) * sin(3 * M_PI * y);
}

/* Rows [*lo, *hi) of level l that thread id owns, among rows 1..n. */
static void my_rows(const level_t *L, int id, long *lo, long *hi)
{
	wl_split(L->n, P, id, lo, hi);
	*lo += 1;
	*hi += 1;
}

/* Diagonal of the stencil at (i, j): 4, plus 1 per boundary face. */
static inline double diag(long n, long i, long j)
{
	return 4.0 + (i == 1) + (i == n) + (j == 1) + (j == n);
}

/* One colour (0: i + j even) of a Gauss-Seidel sweep over rows [lo, hi). */
static void relax(const level_t *L, long lo, long hi, int colour)
{
	long n = L->n, s = L->s;

	for (long i = lo; i < hi; i++) {
		double *u = L->u + i * s;
		const double *f = L->f + i * s;

		for (long j = 1 + ((i + 1 + colour) & 1); j <= n; j += 2)
			u[j] = (L->h2 * f[j] + u[j - 1] + u[j + 1] + u[j - s] +
				u[j + s]) / diag(n, i, j);
	}
}

/* Residual f - A u at (i, j). */
static inline double resid(const level_t *L, long i, long j)
{
	long s = L->s;
	const double *u = L->u + i * s + j;

	return L->f[i * s + j] - (diag(L->n, i, j) * u[0] - u[-1] - u[1] -
				  u[-s] - u[s]) / L->h2;
}

static void smooth(const level_t *L, int id, int sweeps)
{
	long lo, hi;

	my_rows(L, id, &lo, &hi);
	for (int k = 0; k < sweeps; k++) {
		relax(L, lo, hi, 0);
		wl_barrier_wait(&bar);
		relax(L, lo, hi, 1);
		wl_barrier_wait(&bar);
	}
}

/* Coarse f = average of the 4 fine residuals; coarse u = 0 (with ghosts). */
static void restrict_residual(const level_t *F, const level_t *C, int id)
{
	long lo, hi;

	wl_split(C->n + 2, P, id, &lo, &hi);
	for (long I = lo; I < hi; I++) {
		for (long J = 0; J < C->s; J++)
			C->u[I * C->s + J] = 0;
		if (I == 0 || I == C->n + 1)
			continue;
		for (long J = 1; J <= C->n; J++)
			C->f[I * C->s + J] = 0.25 *
				(resid(F, 2 * I - 1, 2 * J - 1) +
				 resid(F, 2 * I - 1, 2 * J) +
				 resid(F, 2 * I, 2 * J - 1) +
				 resid(F, 2 * I, 2 * J));
	}
}

/* Ghost cells of the coarse correction: odd reflection (u = 0 on the
 * faces), so that bilinear interpolation near the boundary is right. */
static void fill_ghosts(const level_t *C, int id)
{
	long lo, hi, n = C->n;

	my_rows(C, id, &lo, &hi);
	for (long I = lo; I < hi; I++) {
		AT(C, I, 0) = -AT(C, I, 1);
		AT(C, I, n + 1) = -AT(C, I, n);
	}
	if (lo <= 1 && 1 < hi) {
		for (long J = 1; J <= n; J++)
			AT(C, 0, J) = -AT(C, 1, J);
		AT(C, 0, 0) = AT(C, 1, 1);
		AT(C, 0, n + 1) = AT(C, 1, n);
	}
	if (lo <= n && n < hi) {
		for (long J = 1; J <= n; J++)
			AT(C, n + 1, J) = -AT(C, n, J);
		AT(C, n + 1, 0) = AT(C, n, 1);
		AT(C, n + 1, n + 1) = AT(C, n, n);
	}
}

/* Fine u += bilinear interpolation of the coarse correction. */
static void prolong(const level_t *F, const level_t *C, int id)
{
	long lo, hi;

	my_rows(F, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		long I = (i + 1) / 2, I2 = (i & 1) ? I - 1 : I + 1;

		for (long j = 1; j <= F->n; j++) {
			long J = (j + 1) / 2, J2 = (j & 1) ? J - 1 : J + 1;

			AT(F, i, j) += (9 * AT(C, I, J) + 3 * AT(C, I2, J) +
					3 * AT(C, I, J2) + AT(C, I2, J2)) /
				       16;
		}
	}
}

static void vcycle(int l, int id)
{
	level_t *F = &lev[l], *C = &lev[l + 1];

	if (l == NLEV - 1) {
		if (id == 0)
			for (int k = 0; k < COARSE_SWEEPS; k++) {
				relax(F, 1, F->n + 1, 0);
				relax(F, 1, F->n + 1, 1);
			}
		wl_barrier_wait(&bar);
		return;
	}
	smooth(F, id, NU1);
	restrict_residual(F, C, id);
	wl_barrier_wait(&bar);
	vcycle(l + 1, id);
	fill_ghosts(C, id);
	wl_barrier_wait(&bar);
	prolong(F, C, id);
	wl_barrier_wait(&bar);
	smooth(F, id, NU2);
}

/* ||f - A u||_2 on the finest grid, scaled by the cell area, summed row by
 * row in order by thread 0; every thread returns with it in res_hist. */
static double residual_norm(int id, int k)
{
	const level_t *F = &lev[0];
	long lo, hi;

	my_rows(F, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		double s = 0;

		for (long j = 1; j <= F->n; j++) {
			double r = resid(F, i, j);

			s += r * r;
		}
		row_sum[i] = s;
	}
	wl_barrier_wait(&bar);
	if (id == 0) {
		double s = 0;

		for (long i = 1; i <= F->n; i++)
			s += row_sum[i];
		res_hist[k] = sqrt(s * F->h2);
	}
	wl_barrier_wait(&bar);
	return res_hist[k];
}

static void init(int id)
{
	const level_t *F = &lev[0];
	long lo, hi;
	double h = 1.0 / (double)F->n, fs = 0;

	wl_split(F->n + 2, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		for (long j = 0; j < F->s; j++) {
			int inside = i >= 1 && i <= F->n && j >= 1 && j <= F->n;

			F->u[i * F->s + j] = 0;
			F->f[i * F->s + j] = inside
				? rhs((i - 0.5) * h, (j - 0.5) * h) : 0;
		}
		if (i >= 1 && i <= F->n) {
			fs = 0;
			for (long j = 1; j <= F->n; j++)
				fs += F->f[i * F->s + j] * F->f[i * F->s + j];
			row_sum[i] = fs;
		}
	}
	wl_barrier_wait(&bar);
	if (id == 0) {
		fs = 0;
		for (long i = 1; i <= F->n; i++)
			fs += row_sum[i];
		fnorm = sqrt(fs * F->h2);
	}
	wl_barrier_wait(&bar);
}

static void worker(int id)
{
	const level_t *F = &lev[0];
	double h = 1.0 / (double)F->n, err = 0;
	long lo, hi;
	int k;

	init(id);
	residual_norm(id, 0);
	for (k = 1; k <= MAXCYCLES; k++) {
		vcycle(0, id);
		if (residual_norm(id, k) < rtol * fnorm)
			break;
	}
	if (id == 0)
		ncycles = k;
	my_rows(F, id, &lo, &hi);
	for (long i = lo; i < hi; i++)
		for (long j = 1; j <= F->n; j++) {
			double e = fabs(AT(F, i, j) -
					exact((i - 0.5) * h, (j - 0.5) * h));
			if (e > err)
				err = e;
		}
	t_err[id] = err;
}

static void usage(void)
{
	fprintf(stderr, "usage: ocean [-n N] [-p P] [-t]\n"
			"  -n N  cells per side, c * 2^k with c <= 8, in "
			"[2, 16384] (default 2560)\n"
			"  -p P  threads (default 1)\n"
			"  -t    print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double bound;
	int c, ok;

	wl_prog = "ocean";
	while ((c = getopt(argc, argv, "n:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 2, 16384); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	for (long n = N; n > COARSEST; n /= 2)
		if (n % 2)
			wl_die("-n must be c * 2^k with c <= %d", COARSEST);
	rtol = N > 1024 ? 1e-9 * ((double)N / 1024) * ((double)N / 1024) : 1e-9;
	bound = 3.0 / ((double)N * (double)N);
	for (long n = N; NLEV < MAXLEV; n /= 2) {
		level_t *L = &lev[NLEV++];

		L->n = n;
		L->s = n + 2;
		L->h2 = 1.0 / ((double)n * (double)n);
		L->u = wl_alloc((size_t)L->s * L->s * sizeof(double));
		L->f = wl_alloc((size_t)L->s * L->s * sizeof(double));
		if (n <= COARSEST || n % 2)
			break;
	}
	row_sum = wl_alloc((N + 2) * sizeof(double));
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	for (int i = 0; i < P; i++)
		if (t_err[i] > max_err)
			max_err = t_err[i];
	ok = res_hist[ncycles <= MAXCYCLES ? ncycles : MAXCYCLES] <
		     rtol * fnorm &&
	     max_err < bound;

	printf("ocean: %ld x %ld cells, %d levels, V(%d,%d) cycles\n", N, N,
	       NLEV, NU1, NU2);
	printf("ocean: ||f|| %.3e, initial ||r|| %.3e\n", fnorm, res_hist[0]);
	for (int k = 1; k <= ncycles && k <= MAXCYCLES; k++)
		printf("ocean: cycle %2d ||r|| %.3e (x %.3f)\n", k, res_hist[k],
		       res_hist[k] / res_hist[k - 1]);
	printf("ocean: max error vs exact solution %.3e (bound 3/N^2 = %.3e)\n",
	       max_err, bound);
	if (ok) {
		printf("ocean: PASS (||r||/||f|| < %.1e after %d cycles, "
		       "second-order error)\n", rtol, ncycles);
		return 0;
	}
	printf("ocean: FAIL (%s)\n", max_err < bound ? "no convergence"
						     : "error above the bound");
	return 1;
}
