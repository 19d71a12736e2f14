/* water: O(n^2) molecular dynamics with a cutoff, after SPLASH-2's
 * WATER-NSQUARED, with each water molecule simplified to one Lennard-Jones
 * atom (reduced units: sigma = epsilon = mass = 1).
 *
 * n atoms start on an fcc lattice in a periodic cube at density 0.8 with
 * random velocities at temperature 1.0 (a liquid once melted). The
 * shifted-force LJ potential (cutoff 2.5) keeps energy and force continuous
 * at the cutoff. Velocity Verlet with dt = 0.002. As in WATER-NSQUARED each
 * atom i interacts with the n/2 atoms that follow it cyclically (each pair
 * once, Newton's third law), each thread takes a contiguous block of i,
 * accumulates forces in a private buffer and then adds it into the shared
 * force array block by block under per-block mutexes; the potential and
 * kinetic energies are summed under a mutex; barriers separate the phases.
 *
 * Check: over the run, max_t |E(t) - E(0)| / |E(0)| < 1e-4 (total energy
 * conserved) and the total momentum stays below 1e-9 per atom. The
 * trajectory depends on the summation order (thread count, timing) in the
 * last bits, so only the bounds met are printed, never the raw values
 * (WL_DEBUG=1 in the environment prints them to stderr).
 *
 *   water [-n N] [-s STEPS] [-p P] [-t]
 *     -n N      atoms, >= 108 so that the box exceeds twice the cutoff
 *               (default 4000, a full 10^3-cell fcc lattice)
 *     -s STEPS  time steps (default 70)
 *     -p P      threads (default 1)
 *     -t        print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <math.h>
#include <unistd.h>

#include "wl_common.h"

#define DENSITY 0.8
#define TEMP0 1.0
#define DT 0.002
#define RCUT 2.5
#define ETOL 1e-4
#define PTOL 1e-9
#define LOCKBLK 64 /* atoms per force lock */

static long N = 4000;
static int STEPS = 70, P = 1;
static double L; /* box side */
static double (*pos)[3], (*vel)[3], (*frc)[3];
static double (**fbuf)[3]; /* per-thread private force buffers */
static long NLOCK;
static pthread_mutex_t *flock;
static pthread_mutex_t elock = PTHREAD_MUTEX_INITIALIZER;
static double epot, ekin;   /* summed under elock */
static double e0, max_drift, max_mom;
static double vcut, dvcut;  /* V(rc), V'(rc) */
static wl_barrier_t bar;

static void lj(double r2, double *v, double *dv)
{
	double ir2 = 1.0 / r2, ir6 = ir2 * ir2 * ir2, r = sqrt(r2);

	*v = 4.0 * ir6 * (ir6 - 1.0);
	*dv = -24.0 * ir6 * (2.0 * ir6 - 1.0) / r;
}

static inline double wrap_d(double d)
{
	if (d > 0.5 * L)
		d -= L;
	else if (d < -0.5 * L)
		d += L;
	return d;
}

/* Forces of the pairs (i, i+1..i+n/2 mod n), i in [lo, hi), into the
 * private buffer f; returns their potential energy. */
static double pair_forces(long lo, long hi, double (*f)[3])
{
	double pe = 0, rc2 = RCUT * RCUT;
	long half = N / 2;

	for (long i = 0; i < N; i++)
		f[i][0] = f[i][1] = f[i][2] = 0;
	for (long i = lo; i < hi; i++) {
		/* With n even, the pair at distance n/2 is seen from both
		 * ends: only the lower index takes it. */
		long kmax = (N % 2 == 0 && i >= half) ? half - 1 : half;

		for (long k = 1; k <= kmax; k++) {
			long j = i + k < N ? i + k : i + k - N;
			double dx = wrap_d(pos[i][0] - pos[j][0]);
			double dy = wrap_d(pos[i][1] - pos[j][1]);
			double dz = wrap_d(pos[i][2] - pos[j][2]);
			double r2 = dx * dx + dy * dy + dz * dz, v, dv;

			if (r2 >= rc2)
				continue;
			lj(r2, &v, &dv);
			double r = sqrt(r2);
			pe += v - vcut - (r - RCUT) * dvcut;
			double s = -(dv - dvcut) / r; /* force / r */
			f[i][0] += s * dx;
			f[i][1] += s * dy;
			f[i][2] += s * dz;
			f[j][0] -= s * dx;
			f[j][1] -= s * dy;
			f[j][2] -= s * dz;
		}
	}
	return pe;
}

/* frc = sum of the threads' buffers, added block by block under the block
 * locks, each thread starting at a different block. */
static void compute_forces(int id)
{
	long lo, hi;
	double (*f)[3] = fbuf[id], pe;

	wl_split(N, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++)
		frc[i][0] = frc[i][1] = frc[i][2] = 0;
	pe = pair_forces(lo, hi, f);
	wl_barrier_wait(&bar); /* frc zeroed */
	for (long b = 0; b < NLOCK; b++) {
		long blk = (b + (long)id * NLOCK / P) % NLOCK;
		long e = (blk + 1) * LOCKBLK < N ? (blk + 1) * LOCKBLK : N;

		pthread_mutex_lock(&flock[blk]);
		for (long i = blk * LOCKBLK; i < e; i++) {
			frc[i][0] += f[i][0];
			frc[i][1] += f[i][1];
			frc[i][2] += f[i][2];
		}
		pthread_mutex_unlock(&flock[blk]);
	}
	pthread_mutex_lock(&elock);
	epot += pe;
	pthread_mutex_unlock(&elock);
	wl_barrier_wait(&bar);
}

/* v += h f for own atoms; adds their kinetic energy and momentum. */
static void kick(long lo, long hi, double h, double mom[3])
{
	double ke = 0;

	for (long i = lo; i < hi; i++)
		for (int d = 0; d < 3; d++) {
			vel[i][d] += h * frc[i][d];
			ke += 0.5 * vel[i][d] * vel[i][d];
			mom[d] += vel[i][d];
		}
	pthread_mutex_lock(&elock);
	ekin += ke;
	pthread_mutex_unlock(&elock);
}

static double t_mom[WL_MAXPROCS][3];

/* After the energies of a step are summed: thread 0 records the drift. */
static void record(int id, int step)
{
	wl_barrier_wait(&bar);
	if (id == 0) {
		double e = epot + ekin, m = 0, mt[3] = { 0, 0, 0 };

		if (step == 0)
			e0 = e;
		if (fabs(e - e0) / fabs(e0) > max_drift)
			max_drift = fabs(e - e0) / fabs(e0);
		for (int t = 0; t < P; t++)
			for (int d = 0; d < 3; d++)
				mt[d] += t_mom[t][d];
		m = sqrt(mt[0] * mt[0] + mt[1] * mt[1] + mt[2] * mt[2]) /
		    (double)N;
		if (m > max_mom)
			max_mom = m;
		epot = ekin = 0;
	}
	wl_barrier_wait(&bar);
}

static void init_atoms(int id)
{
	long lo, hi, k;
	static const double basis[4][3] = {
		{ 0, 0, 0 }, { 0.5, 0.5, 0 }, { 0.5, 0, 0.5 }, { 0, 0.5, 0.5 }
	};

	for (k = 1; 4 * k * k * k < N; k++)
		;
	wl_split(N, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		long c = i / 4, b = i % 4;
		long cx = c % k, cy = (c / k) % k, cz = c / (k * k);

		pos[i][0] = (cx + basis[b][0] + 0.25) * L / k;
		pos[i][1] = (cy + basis[b][1] + 0.25) * L / k;
		pos[i][2] = (cz + basis[b][2] + 0.25) * L / k;
		for (int d = 0; d < 3; d++)
			vel[i][d] = wl_unif(10 + d, (uint64_t)i) - 0.5;
	}
}

/* Removes the centre-of-mass velocity and scales to TEMP0 (serial, in
 * index order, at start only). */
static void thermalise(void)
{
	double vc[3] = { 0, 0, 0 }, ke = 0, s;

	for (long i = 0; i < N; i++)
		for (int d = 0; d < 3; d++)
			vc[d] += vel[i][d] / (double)N;
	for (long i = 0; i < N; i++)
		for (int d = 0; d < 3; d++) {
			vel[i][d] -= vc[d];
			ke += 0.5 * vel[i][d] * vel[i][d];
		}
	s = sqrt(1.5 * (double)N * TEMP0 / ke);
	for (long i = 0; i < N; i++)
		for (int d = 0; d < 3; d++)
			vel[i][d] *= s;
}

static void worker(int id)
{
	long lo, hi;
	double *mom = t_mom[id];

	fbuf[id] = wl_alloc(N * sizeof(double[3]));
	init_atoms(id);
	wl_barrier_wait(&bar);
	if (id == 0)
		thermalise();
	wl_barrier_wait(&bar);
	wl_split(N, P, id, &lo, &hi);
	compute_forces(id);
	mom[0] = mom[1] = mom[2] = 0;
	kick(lo, hi, 0.0, mom); /* no kick: just E(0) */
	record(id, 0);
	for (int step = 1; step <= STEPS; step++) {
		for (long i = lo; i < hi; i++)
			for (int d = 0; d < 3; d++) {
				vel[i][d] += 0.5 * DT * frc[i][d];
				pos[i][d] += DT * vel[i][d];
				pos[i][d] -= L * floor(pos[i][d] / L);
			}
		wl_barrier_wait(&bar); /* positions complete */
		compute_forces(id);
		mom[0] = mom[1] = mom[2] = 0;
		kick(lo, hi, 0.5 * DT, mom);
		record(id, step);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: water [-n N] [-s STEPS] [-p P] [-t]\n"
			"  -n N      atoms, >= 108 (default 4000)\n"
			"  -s STEPS  time steps (default 70)\n"
			"  -p P      threads (default 1)\n"
			"  -t        print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c;

	wl_prog = "water";
	while ((c = getopt(argc, argv, "n:s:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 108, 1L << 22); break;
		case 's': STEPS = (int)wl_arg_long(optarg, 's', 1, 1000000); break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (P > N)
		wl_die("-p %d is more than the %ld atoms", P, N);
	L = cbrt((double)N / DENSITY);
	{
		double v, dv;

		lj(RCUT * RCUT, &v, &dv);
		vcut = v;
		dvcut = dv;
	}
	pos = wl_alloc(N * sizeof(double[3]));
	vel = wl_alloc(N * sizeof(double[3]));
	frc = wl_alloc(N * sizeof(double[3]));
	fbuf = wl_alloc(P * sizeof(*fbuf));
	NLOCK = (N + LOCKBLK - 1) / LOCKBLK;
	flock = wl_alloc(NLOCK * sizeof(pthread_mutex_t));
	for (long b = 0; b < NLOCK; b++)
		pthread_mutex_init(&flock[b], NULL);
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	if (getenv("WL_DEBUG"))
		fprintf(stderr, "water: drift %.3e momentum %.3e\n", max_drift,
			max_mom);
	printf("water: %ld atoms, %d steps of %g, box %.4f, cutoff %g\n", N,
	       STEPS, DT, L, RCUT);
	if (max_drift < ETOL && max_mom < PTOL) {
		printf("water: PASS (energy drift < %.0e, momentum per atom "
		       "< %.0e)\n", ETOL, PTOL);
		return 0;
	}
	printf("water: FAIL (energy drift %.3e, limit %.0e; momentum per "
	       "atom %.3e, limit %.0e)\n", max_drift, ETOL, max_mom, PTOL);
	return 1;
}
