/* fft: parallel complex 1-D FFT, the six-step radix-sqrt(n) algorithm of
 * SPLASH-2's FFT kernel (Bailey's "FFTs in external or hierarchical memory").
 *
 * The n = 2^m points are seen as an r x r matrix (r = sqrt(n)):
 *   transpose; r row FFTs of length r; multiply by the twiddles
 *   w_n^(row*col); transpose; r row FFTs; transpose.
 * Transposes are blocked (16 x 16 complex blocks); each thread owns a
 * contiguous block of rows of every matrix and does the row FFTs and the
 * transposes into its rows. Barriers (mutex + condvar) separate the steps.
 *
 * Check: the forward transform at 8 points against a direct DFT, and
 * inverse(forward(x)) against x; both maximum errors, relative to the
 * input's 2-norm resp. its largest element, must be below 1e-9. Every
 * element is computed by the same operations whatever the thread count,
 * so the printed errors do not depend on -p.
 *
 *   fft [-m M] [-p P] [-t]
 *     -m M  2^M points, M even, 2..28 (default 22: 4 Mi points, 256 MiB)
 *     -p P  threads (default 1)
 *     -t    print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define BLK 16 /* transpose block, in complex elements */
#define TOL 1e-9
#define NSAMPLE 8

typedef struct {
	double re, im;
} cplx;

static int M = 22, P = 1;
static long N, R; /* points, matrix side */
static cplx *x, *y, *x0;
static cplx *tab; /* tab[t] = exp(-2 pi i t / N) */
static cplx *wr;  /* wr[k] = exp(-2 pi i k / R), k < R/2 */
static int *rev;  /* bit reversal of log2(R) bits */
static wl_barrier_t bar;

static inline cplx cmul(cplx a, cplx b)
{
	cplx c = { a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re };
	return c;
}

/* dst rows [lo, hi) = columns of src, in BLK x BLK blocks. */
static void transpose(const cplx *src, cplx *dst, long lo, long hi)
{
	for (long ib = lo; ib < hi; ib += BLK) {
		long ie = ib + BLK < hi ? ib + BLK : hi;

		for (long jb = 0; jb < R; jb += BLK) {
			long je = jb + BLK < R ? jb + BLK : R;

			for (long i = ib; i < ie; i++)
				for (long j = jb; j < je; j++)
					dst[i * R + j] = src[j * R + i];
		}
	}
}

/* In-place radix-2 FFT of one row of length R; dir -1 forward, +1 inverse
 * (unscaled). */
static void fft_row(cplx *a, int dir)
{
	for (long i = 0; i < R; i++) {
		long j = rev[i];

		if (i < j) {
			cplx t = a[i];
			a[i] = a[j];
			a[j] = t;
		}
	}
	for (long len = 2; len <= R; len <<= 1) {
		long half = len >> 1, step = R / len;

		for (long s = 0; s < R; s += len) {
			for (long k = 0; k < half; k++) {
				cplx w = wr[k * step];

				if (dir > 0)
					w.im = -w.im;
				cplx u = a[s + k];
				cplx v = cmul(a[s + k + half], w);
				a[s + k].re = u.re + v.re;
				a[s + k].im = u.im + v.im;
				a[s + k + half].re = u.re - v.re;
				a[s + k + half].im = u.im - v.im;
			}
		}
	}
}

/* Row FFTs of rows [lo, hi) of a, optionally multiplied by the twiddles
 * w_N^(dir * row * col). */
static void fft_rows(cplx *a, long lo, long hi, int dir, int twiddle)
{
	for (long i = lo; i < hi; i++) {
		cplx *row = a + i * R;

		fft_row(row, dir);
		if (!twiddle)
			continue;
		for (long k = 0; k < R; k++) {
			cplx w = tab[(i * k) & (N - 1)];

			if (dir > 0)
				w.im = -w.im;
			row[k] = cmul(row[k], w);
		}
	}
}

/* The six steps: the transform of src ends in dst; src is clobbered. */
static void fft6(int id, cplx *src, cplx *dst, int dir)
{
	long lo, hi;

	wl_split(R, P, id, &lo, &hi);
	transpose(src, dst, lo, hi);
	wl_barrier_wait(&bar);
	fft_rows(dst, lo, hi, dir, 1);
	wl_barrier_wait(&bar);
	transpose(dst, src, lo, hi);
	wl_barrier_wait(&bar);
	fft_rows(src, lo, hi, dir, 0);
	wl_barrier_wait(&bar);
	transpose(src, dst, lo, hi);
	wl_barrier_wait(&bar);
}

/* Per-thread results, reduced by the main thread in a fixed order. */
static double t_inv[WL_MAXPROCS], t_xmax[WL_MAXPROCS];
static double *row_norm2; /* sum |x0|^2 of each row */
static long ks[NSAMPLE];
static double fwd_abs[NSAMPLE]; /* |y[k] - direct DFT at k| */

static void init_rows(int id)
{
	long lo, hi;
	double xm = 0;

	wl_split(R, P, id, &lo, &hi);
	for (long i = lo * R; i < hi * R; i++) {
		double a = -2.0 * M_PI * (double)i / (double)N;

		x[i].re = 2.0 * wl_unif(1, (uint64_t)i) - 1.0;
		x[i].im = 2.0 * wl_unif(2, (uint64_t)i) - 1.0;
		x0[i] = x[i];
		y[i].re = y[i].im = 0;
		tab[i].re = cos(a);
		tab[i].im = sin(a);
		double a2 = x[i].re * x[i].re + x[i].im * x[i].im;

		if (i % R == 0)
			row_norm2[i / R] = 0;
		row_norm2[i / R] += a2;
		if (sqrt(a2) > xm)
			xm = sqrt(a2);
	}
	t_xmax[id] = xm;
	wl_barrier_wait(&bar);
	wl_split(R / 2, P, id, &lo, &hi);
	for (long k = lo; k < hi; k++)
		wr[k] = tab[k * R];
	wl_barrier_wait(&bar);
}

/* Sample s (computed by thread s mod P, serially, so the same sum whatever
 * P is): |y[k] - sum_j x0[j] w^(jk)|. */
static void check_forward(int id)
{
	for (int s = id; s < NSAMPLE; s += P) {
		long k = ks[s];
		cplx d = { 0, 0 };

		for (long j = 0; j < N; j++) {
			cplx t = cmul(x0[j], tab[(j * k) & (N - 1)]);
			d.re += t.re;
			d.im += t.im;
		}
		fwd_abs[s] = sqrt((y[k].re - d.re) * (y[k].re - d.re) +
				  (y[k].im - d.im) * (y[k].im - d.im));
	}
}

static void worker(int id)
{
	long lo, hi;
	double err = 0;

	init_rows(id);
	fft6(id, x, y, -1); /* X = FFT(x) in y */
	check_forward(id);
	wl_barrier_wait(&bar); /* y is read before the inverse clobbers it */
	fft6(id, y, x, +1); /* n * x in x */
	wl_split(N, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		double dr = x[i].re / (double)N - x0[i].re;
		double di = x[i].im / (double)N - x0[i].im;
		double e = sqrt(dr * dr + di * di);

		if (e > err)
			err = e;
	}
	t_inv[id] = err;
}

static void usage(void)
{
	fprintf(stderr, "usage: fft [-m M] [-p P] [-t]\n"
			"  -m M  2^M complex points, M even in [2, 28] "
			"(default 22)\n"
			"  -p P  threads (default 1)\n"
			"  -t    print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double inv_err = 0, xmax = 0, fwd_err = 0, norm = 0;
	int c, bits;

	wl_prog = "fft";
	while ((c = getopt(argc, argv, "m:p:th")) != -1) {
		switch (c) {
		case 'm': M = (int)wl_arg_long(optarg, 'm', 2, 28); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (M % 2)
		wl_die("-m must be even (the points form a square matrix)");
	N = 1L << M;
	R = 1L << (M / 2);
	bits = M / 2;
	if (P > R)
		wl_die("-p %d is more than the %ld rows", P, R);

	x = wl_alloc(N * sizeof(cplx));
	y = wl_alloc(N * sizeof(cplx));
	x0 = wl_alloc(N * sizeof(cplx));
	tab = wl_alloc(N * sizeof(cplx));
	wr = wl_alloc((R / 2 + 1) * sizeof(cplx));
	rev = wl_alloc(R * sizeof(int));
	row_norm2 = wl_alloc(R * sizeof(double));
	/* Sample frequencies whose twiddles tab[j * k mod N] are read in at
	 * most 16 sequential streams (random ones would miss the cache on
	 * every term). */
	ks[0] = 0;
	ks[1] = 1;
	ks[2] = 3;
	ks[3] = N / 2;
	ks[4] = N / 4 + 1;
	ks[5] = 3 * (N / 8) + 5;
	ks[6] = 5 * (N / 16) + 7;
	ks[7] = N - 1;
	for (int s = 0; s < NSAMPLE; s++)
		ks[s] &= N - 1;
	for (long i = 0; i < R; i++) {
		int v = 0;

		for (int b = 0; b < bits; b++)
			if (i & (1L << b))
				v |= 1 << (bits - 1 - b);
		rev[i] = v;
	}
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	/* Reductions in a fixed order (max is exact in any order). */
	for (long i = 0; i < R; i++)
		norm += row_norm2[i];
	norm = sqrt(norm);
	for (int i = 0; i < P; i++) {
		if (t_inv[i] > inv_err)
			inv_err = t_inv[i];
		if (t_xmax[i] > xmax)
			xmax = t_xmax[i];
	}
	inv_err /= xmax;
	for (int s = 0; s < NSAMPLE; s++)
		if (fwd_abs[s] / norm > fwd_err)
			fwd_err = fwd_abs[s] / norm;

	printf("fft: %ld complex points (m %d) as %ld x %ld rows\n", N, M, R,
	       R);
	printf("fft: forward vs direct DFT at %d points: max relative error "
	       "%.2e\n", NSAMPLE, fwd_err);
	printf("fft: inverse(forward(x)) vs x: max relative error %.2e\n",
	       inv_err);
	if (fwd_err < TOL && inv_err < TOL) {
		printf("fft: PASS (both errors < %.0e)\n", TOL);
		return 0;
	}
	printf("fft: FAIL (an error is not < %.0e)\n", TOL);
	return 1;
}
