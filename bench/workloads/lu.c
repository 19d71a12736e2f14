/* lu: blocked dense LU factorisation without pivoting, after SPLASH-2's LU
 * kernel (contiguous-blocks version).
 *
 * The N x N matrix is diagonally dominant (off-diagonal entries uniform in
 * [-1, 1), diagonal N), so no pivoting is needed. It is stored as B x B
 * blocks, each contiguous, and block (I, J) belongs to thread
 * (I mod pr) * pc + (J mod pc) of a pr x pc thread grid (the 2-D scatter).
 * Each step K: the owner factors the diagonal block; barrier; the owners of
 * the perimeter blocks of row K and column K solve with it; barrier; every
 * owner updates its interior blocks A_IJ -= A_IK * A_KJ; barrier.
 *
 * Check: ||A - L*U||_inf / ||A||_inf < 1e-10, with A regenerated from its
 * formula (an untouched copy) and L*U multiplied blockwise in parallel by
 * block rows. Each block sees the same operations in the same order
 * whatever the thread count, so the printed residual does not depend on -p.
 *
 *   lu [-n N] [-b B] [-p P] [-t]
 *     -n N  matrix order (default 1536)
 *     -b B  block size (default 16)
 *     -p P  threads (default 1)
 *     -t    print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define TOL 1e-10

static long N = 1536, B = 16;
static int P = 1, PR, PC;
static long NB;    /* blocks per dimension */
static double *A;  /* NB * NB blocks of B * B doubles */
static wl_barrier_t bar;
static double *row_res, *row_abs; /* per matrix row: sum |A - LU|, |A| */

static inline double *blk(long I, long J)
{
	return A + (I * NB + J) * B * B;
}

/* Rows (or columns) in block row (column) I. */
static inline long bsz(long I)
{
	return N - I * B < B ? N - I * B : B;
}

static inline int owner(long I, long J)
{
	return (int)((I % PR) * PC + J % PC);
}

/* The matrix, entry (i, j): a function of (i, j) only. */
static inline double elem(long i, long j)
{
	if (i == j)
		return (double)N;
	return 2.0 * wl_unif(3, (uint64_t)i * (uint64_t)N + (uint64_t)j) - 1.0;
}

/* ---- block kernels (leading dimension B) ------------------------------- */

/* a = L U in place, unit lower L, n x n. */
static void lu_diag(double *a, long n)
{
	for (long k = 0; k < n; k++) {
		double piv = a[k * B + k];

		for (long i = k + 1; i < n; i++) {
			double l = a[i * B + k] /= piv;

			for (long j = k + 1; j < n; j++)
				a[i * B + j] -= l * a[k * B + j];
		}
	}
}

/* a = L^-1 a, L the unit lower triangle of d (n x n); a is n x m. */
static void solve_row(const double *d, double *a, long n, long m)
{
	for (long k = 0; k < n; k++)
		for (long i = k + 1; i < n; i++) {
			double l = d[i * B + k];

			for (long j = 0; j < m; j++)
				a[i * B + j] -= l * a[k * B + j];
		}
}

/* a = a U^-1, U the upper triangle of d (n x n); a is m x n. */
static void solve_col(const double *d, double *a, long m, long n)
{
	for (long i = 0; i < m; i++) {
		double *r = a + i * B;

		for (long k = 0; k < n; k++) {
			double v = r[k] /= d[k * B + k];

			for (long j = k + 1; j < n; j++)
				r[j] -= v * d[k * B + j];
		}
	}
}

/* c -= a * b: c is m x p, a m x n, b n x p. */
static void mul_sub(double *c, const double *a, const double *b, long m,
		    long n, long p)
{
	for (long i = 0; i < m; i++)
		for (long k = 0; k < n; k++) {
			double v = a[i * B + k];

			for (long j = 0; j < p; j++)
				c[i * B + j] -= v * b[k * B + j];
		}
}

/* ---- the factorisation ------------------------------------------------- */

static void init_blocks(int id)
{
	for (long I = 0; I < NB; I++)
		for (long J = 0; J < NB; J++) {
			if (owner(I, J) != id)
				continue;
			double *a = blk(I, J);

			for (long r = 0; r < B; r++)
				for (long c = 0; c < B; c++)
					a[r * B + c] = (r < bsz(I) && c < bsz(J))
						? elem(I * B + r, J * B + c) : 0;
		}
}

static void factor(int id)
{
	for (long K = 0; K < NB; K++) {
		long nk = bsz(K);
		double *d = blk(K, K);

		if (owner(K, K) == id)
			lu_diag(d, nk);
		wl_barrier_wait(&bar);
		for (long J = K + 1; J < NB; J++)
			if (owner(K, J) == id)
				solve_row(d, blk(K, J), nk, bsz(J));
		for (long I = K + 1; I < NB; I++)
			if (owner(I, K) == id)
				solve_col(d, blk(I, K), bsz(I), nk);
		wl_barrier_wait(&bar);
		for (long I = K + 1; I < NB; I++)
			for (long J = K + 1; J < NB; J++)
				if (owner(I, J) == id)
					mul_sub(blk(I, J), blk(I, K), blk(K, J),
						bsz(I), nk, bsz(J));
		wl_barrier_wait(&bar);
	}
}

/* ---- the check: block rows I = id, id + P, ... ------------------------- */

/* c = -(L U) block (I, J): the sum over K <= min(I, J) of L_IK U_KJ, where
 * the diagonal blocks give their unit lower resp. upper triangles. */
static void lu_block(double *c, double *l, double *u, long I, long J)
{
	long m = bsz(I), p = bsz(J);

	for (long i = 0; i < B * B; i++)
		c[i] = 0;
	for (long K = 0; K <= I && K <= J; K++) {
		const double *lk = blk(I, K), *uk = blk(K, J);
		long n = bsz(K);

		if (K == I) { /* unit lower triangle of the diagonal block */
			for (long i = 0; i < m; i++)
				for (long k = 0; k < n; k++)
					l[i * B + k] = k < i ? lk[i * B + k]
						: (k == i ? 1.0 : 0.0);
			lk = l;
		}
		if (K == J) { /* upper triangle */
			for (long k = 0; k < n; k++)
				for (long j = 0; j < p; j++)
					u[k * B + j] = j >= k ? uk[k * B + j] : 0;
			uk = u;
		}
		mul_sub(c, lk, uk, m, n, p);
	}
}

static void check(int id)
{
	double *c = wl_alloc(3 * B * B * sizeof(double));

	for (long I = id; I < NB; I += P) {
		for (long r = 0; r < bsz(I); r++)
			row_res[I * B + r] = row_abs[I * B + r] = 0;
		for (long J = 0; J < NB; J++) {
			lu_block(c, c + B * B, c + 2 * B * B, I, J);
			for (long r = 0; r < bsz(I); r++)
				for (long s = 0; s < bsz(J); s++) {
					double a = elem(I * B + r, J * B + s);

					row_res[I * B + r] +=
						fabs(a + c[r * B + s]);
					row_abs[I * B + r] += fabs(a);
				}
		}
	}
	free(c);
}

static void worker(int id)
{
	init_blocks(id);
	wl_barrier_wait(&bar);
	factor(id);
	check(id);
}

static void usage(void)
{
	fprintf(stderr, "usage: lu [-n N] [-b B] [-p P] [-t]\n"
			"  -n N  matrix order (default 1536)\n"
			"  -b B  block size (default 16)\n"
			"  -p P  threads (default 1)\n"
			"  -t    print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double res = 0, anorm = 0, rel;
	int c;

	wl_prog = "lu";
	while ((c = getopt(argc, argv, "n:b:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 1, 1L << 15); break;
		case 'b': B = wl_arg_long(optarg, 'b', 1, 1024); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (B > N)
		B = N;
	NB = (N + B - 1) / B;
	for (PR = 1; (PR + 1) * (PR + 1) <= P; PR++)
		;
	while (P % PR)
		PR--;
	PC = P / PR;

	A = wl_alloc((size_t)NB * NB * B * B * sizeof(double));
	row_res = wl_alloc(NB * B * sizeof(double));
	row_abs = wl_alloc(NB * B * sizeof(double));
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	for (long i = 0; i < N; i++) {
		if (row_res[i] > res)
			res = row_res[i];
		if (row_abs[i] > anorm)
			anorm = row_abs[i];
	}
	rel = res / anorm;
	printf("lu: %ld x %ld matrix, %ld x %ld blocks of %ld\n", N, N, NB, NB,
	       B);
	printf("lu: ||A - L*U||_inf / ||A||_inf = %.2e\n", rel);
	if (rel < TOL) {
		printf("lu: PASS (residual < %.0e)\n", TOL);
		return 0;
	}
	printf("lu: FAIL (residual not < %.0e)\n", TOL);
	return 1;
}
