/* stencil: Jacobi sweeps of the 5-point Laplace stencil on a shared grid
 * cut into sub-page blocks, dealt to the threads diagonally, so that every
 * page of the grid holds blocks of several threads (the blocked pattern of
 * issue 14: natively the threads write different cache lines, a single-
 * writer page protocol moves a page for each).
 *
 * The N x N grid of points (x, y) = (j, i) / (N - 1), boundary included,
 * is stored row by row, twice (Jacobi: each sweep reads one grid and writes
 * the other). It is cut into B x B blocks (B doubles = 8 B bytes of each
 * row; a 4 KiB page holds 512 / B such pieces of rows), and
 * block (I, J) belongs to thread (I + J) mod P: a checkerboard for two
 * threads, every thread in every block row and column for more. Every
 * sweep each thread updates the interior points of its blocks,
 * u'(i, j) = ((u(i-1, j) + u(i+1, j)) + (u(i, j-1) + u(i, j+1))) / 4;
 * barrier. The boundary holds u* = x^2 - y^2 + xy / 2, which is discrete-
 * harmonic: it is the fixed point, and the interior starts at u* plus four
 * eigenvectors of the Jacobi iteration, sin(k pi x) sin(l pi y) with
 * (k, l) = (1, 1), (3, 2), (N/2, N/3), (N-2, N-3), amplitudes 1, 1/2, 1/4,
 * 1/8. Each decays by its eigenvalue (cos(k pi h) + cos(l pi h)) / 2 per
 * sweep (the last one changes sign every sweep), so u after S sweeps is
 * known in closed form.
 *
 * Check: max |u - predicted| over the grid after the last sweep below 1e-9
 * (rounding is ~1e-15 a sweep; a stale neighbour or a lost write is off by
 * about one sweep's change, 1e-6 or more at the default size). Printed:
 * the sum of the grid every S / 4 sweeps and after the last (per-block
 * sums added in block order) and that error. Every point sees the same
 * operations in the same order whoever owns its block, so none of it
 * depends on -p.
 *
 *   stencil [-n N] [-b B] [-s S] [-p P] [-t]
 *     -n N  grid points per side, boundary included, a multiple of B, at
 *           least 8 (default 512: a row is a page)
 *     -b B  block side in points (default 16: 128-byte pieces of rows)
 *     -s S  sweeps (default 300)
 *     -p P  threads (default 1)
 *     -t    print the elapsed time to stderr
 * Default size: about 0.1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define NMODE 4
#define TOL 1e-9
#define MAXCHK 8

static long N = 512, B = 16, NB, S = 300;
static int P = 1;
static double *grid[2];    /* N * N each */
static double *bsum;       /* per block: sum of its points at a checkpoint */
static double *sx[NMODE], *sy[NMODE]; /* sin(k pi i h), sin(l pi j h) */
static double amp[NMODE] = { 1.0, 0.5, 0.25, 0.125 };
static double lam[NMODE];  /* eigenvalue of each mode */
static double decay[NMODE]; /* lam^S */
static long chk_sweep[MAXCHK];
static double chk_sum[MAXCHK];
static int nchk;
static wl_barrier_t bar;
static double t_err[WL_MAXPROCS];

static inline int owner(long I, long J)
{
	return (int)((I + J) % P);
}

static inline double ustar(long i, long j)
{
	double h = 1.0 / (double)(N - 1), x = (double)j * h, y = (double)i * h;

	return x * x - y * y + 0.5 * x * y;
}

static inline int interior(long i, long j)
{
	return i > 0 && i < N - 1 && j > 0 && j < N - 1;
}

/* Thread id's blocks, (I, J) in block order: for (I..) for (J..) if mine. */
#define FOR_MY_BLOCKS(id, I, J)                                        \
	for (long I = 0; I < NB; I++)                                  \
		for (long J = (((id) - I) % P + P) % P; J < NB; J += P)

static void init(int id)
{
	FOR_MY_BLOCKS(id, I, J) {
		for (long i = I * B; i < (I + 1) * B; i++)
			for (long j = J * B; j < (J + 1) * B; j++) {
				double u = ustar(i, j);

				if (interior(i, j))
					for (int m = 0; m < NMODE; m++)
						u += amp[m] * sx[m][i] * sy[m][j];
				grid[0][i * N + j] = u;
				grid[1][i * N + j] = u;
			}
	}
}

static void sweep(int id, const double *src, double *dst)
{
	FOR_MY_BLOCKS(id, I, J) {
		long ilo = I * B, ihi = (I + 1) * B;
		long jlo = J * B, jhi = (J + 1) * B;

		if (ilo == 0)
			ilo = 1;
		if (ihi == N)
			ihi = N - 1;
		if (jlo == 0)
			jlo = 1;
		if (jhi == N)
			jhi = N - 1;
		for (long i = ilo; i < ihi; i++) {
			const double *s = src + i * N;
			double *d = dst + i * N;

			for (long j = jlo; j < jhi; j++)
				d[j] = 0.25 * ((s[j - N] + s[j + N]) +
					       (s[j - 1] + s[j + 1]));
		}
	}
}

/* Sum of the grid u: each thread sums its blocks, thread 0 adds the block
 * sums in block order into chk_sum[c]. */
static void checkpoint(int id, const double *u, int c)
{
	FOR_MY_BLOCKS(id, I, J) {
		double s = 0;

		for (long i = I * B; i < (I + 1) * B; i++)
			for (long j = J * B; j < (J + 1) * B; j++)
				s += u[i * N + j];
		bsum[I * NB + J] = s;
	}
	wl_barrier_wait(&bar);
	/* The others go on sweeping; they write bsum[] again only after
	 * the next sweep's barrier, which waits for thread 0. */
	if (id == 0) {
		double s = 0;

		for (long b = 0; b < NB * NB; b++)
			s += bsum[b];
		chk_sum[c] = s;
	}
}

static void worker(int id)
{
	long step = S / 4 > 0 ? S / 4 : 1;
	const double *u;
	double err = 0;
	int c = 0;

	init(id);
	wl_barrier_wait(&bar);
	for (long s = 0; s < S; s++) {
		sweep(id, grid[s & 1], grid[!(s & 1)]);
		wl_barrier_wait(&bar);
		if ((s + 1) % step == 0 || s + 1 == S)
			checkpoint(id, grid[!(s & 1)], c++);
	}
	u = grid[S & 1];
	FOR_MY_BLOCKS(id, I, J) {
		for (long i = I * B; i < (I + 1) * B; i++)
			for (long j = J * B; j < (J + 1) * B; j++) {
				double p = ustar(i, j), e;

				if (interior(i, j))
					for (int m = 0; m < NMODE; m++)
						p += amp[m] * decay[m] *
						     sx[m][i] * sy[m][j];
				e = fabs(u[i * N + j] - p);
				if (e > err)
					err = e;
			}
	}
	t_err[id] = err;
}

static void usage(void)
{
	fprintf(stderr, "usage: stencil [-n N] [-b B] [-s S] [-p P] [-t]\n"
			"  -n N  grid points per side, a multiple of B, at "
			"least 8 (default 512)\n"
			"  -b B  block side in points (default 16)\n"
			"  -s S  sweeps (default 300)\n"
			"  -p P  threads (default 1)\n"
			"  -t    print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long k[NMODE], l[NMODE], step;
	double h, err = 0;
	int c;

	wl_prog = "stencil";
	while ((c = getopt(argc, argv, "n:b:s:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 8, 32768); break;
		case 'b': B = wl_arg_long(optarg, 'b', 1, 32768); break;
		case 's': S = wl_arg_long(optarg, 's', 1, 100000); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (N % B)
		wl_die("-n %ld is not a multiple of the block side %ld", N, B);
	NB = N / B;
	h = 1.0 / (double)(N - 1);
	k[0] = 1, l[0] = 1;
	k[1] = 3, l[1] = 2;
	k[2] = N / 2, l[2] = N / 3;
	k[3] = N - 2, l[3] = N - 3;
	for (int m = 0; m < NMODE; m++) {
		sx[m] = wl_alloc(N * sizeof(double));
		sy[m] = wl_alloc(N * sizeof(double));
		for (long i = 0; i < N; i++) {
			sx[m][i] = sin((double)k[m] * M_PI * (double)i * h);
			sy[m][i] = sin((double)l[m] * M_PI * (double)i * h);
		}
		lam[m] = (cos((double)k[m] * M_PI * h) +
			  cos((double)l[m] * M_PI * h)) / 2;
		decay[m] = pow(lam[m], (double)S);
	}
	step = S / 4 > 0 ? S / 4 : 1;
	for (long s = 1; s <= S; s++)
		if (s % step == 0 || s == S)
			chk_sweep[nchk++] = s;
	grid[0] = wl_alloc((size_t)N * N * sizeof(double));
	grid[1] = wl_alloc((size_t)N * N * sizeof(double));
	bsum = wl_alloc((size_t)NB * NB * sizeof(double));
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	for (int t = 0; t < P; t++)
		if (t_err[t] > err)
			err = t_err[t];

	printf("stencil: %ld x %ld points, %ld x %ld blocks of %ld x %ld, "
	       "%ld Jacobi sweeps\n", N, N, NB, NB, B, B, S);
	for (int m = 0; m < NMODE; m++)
		printf("stencil: mode (%ld, %ld) amplitude %.3f eigenvalue "
		       "%.9f, after %ld sweeps %.6e\n", k[m], l[m], amp[m],
		       lam[m], S, amp[m] * decay[m]);
	for (int i = 0; i < nchk; i++)
		printf("stencil: sweep %5ld sum %.15e\n", chk_sweep[i],
		       chk_sum[i]);
	printf("stencil: max |u - predicted| %.3e (bound %.0e)\n", err, TOL);
	if (err < TOL) {
		printf("stencil: PASS (every point as predicted after %ld "
		       "sweeps)\n", S);
		return 0;
	}
	printf("stencil: FAIL (u is not the predicted solution)\n");
	return 1;
}
