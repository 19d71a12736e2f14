/* migrate: threads that compute while cvmm moves them between nodes
 * (test/integration/run_migrate.sh). Output must match the native run line
 * for line, so any register, FPU or memory state lost or changed by a move
 * shows.
 *
 *   migrate [THREADS [ROUNDS]]   (default 4 40) THREADS workers, ROUNDS
 *        rounds each, meeting at a barrier between rounds. In a round a
 *        worker (a) calls migrate_regcheck four times: every general
 *        register, rflags (CF and DF set), x87 stack, MXCSR and xmm (ymm
 *        with AVX) register loaded with a pattern, then a write to a page
 *        other threads write too (a coherence fault on several nodes) and
 *        a sched_yield (a syscall that returns), each a point where the
 *        thread may move; the registers are saved after each and checked
 *        (rax the call's result, rcx and r11 what the syscall instruction
 *        leaves); (b) updates its slice of a 1 MiB array (the slices rotate
 *        every round, so its pages come from other threads) in its own
 *        rounding mode, double and long double sums held in registers
 *        across the page faults; (c) adds an integer digest under a mutex;
 *        (d) takes its turn in a condvar token ring. gettid() must never
 *        change. Prints the per-thread sums, the array checksum and the
 *        counts of checks; exits 1 when any check failed.
 *   migrate follow [MIB [PASSES]]   (default 2 3) main fills MIB MiB, then
 *        one worker (on another node under cvmm's spread placement) reads
 *        it PASSES times: its faults all come from main's node, so
 *        --placement auto moves it there. Prints the sums.
 *   migrate nest   main starts one thread and leaves with pthread_exit
 *        (no exit_group: the process ends when its last thread does);
 *        that thread starts three that work a while and exit, joins them
 *        and prints. The run must end, with status 0, after that line and
 *        not before (under cvmm: node 0's count of live threads, whichever
 *        nodes the threads were created, started or moved on).
 *
 * MIGRATE_TIDS=1 in the environment: each worker prints "tid T start T2
 * end" to stderr (T2 = gettid() at its end; not compared with native). */
#include <cpuid.h>
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXT 16
#define BIG_PAGES 256
#define PER_PAGE (4096 / sizeof(double))
#define CALLS 4 /* regchecks per round */

/* ---- the register check ----------------------------------------------- */

/* Slots of rc_pat and of each rc_got block: the general registers, then
 * rsp and rflags (got only). */
enum { G_RAX, G_RBX, G_RCX, G_RDX, G_RSI, G_RDI, G_RBP, G_R8, G_R9, G_R10,
       G_R11, G_R12, G_R13, G_R14, G_R15, G_RSP, G_FLAGS, G_NR };

__thread uint64_t rc_pat[G_NR];
__thread uint64_t rc_got[2][G_NR]; /* after the fault, after the syscall */
__thread uint64_t rc_nr, rc_rsp, rc_sysret;
__thread uint8_t rc_vpat[16][32] __attribute__((aligned(32)));
__thread uint8_t rc_x87[8][16] __attribute__((aligned(16)));
__thread uint8_t rc_img[2][1024] __attribute__((aligned(64)));
__thread uint8_t rc_avx, rc_xsave;

#define TLS(s) "%fs:" #s "@tpoff"
#define GPR_STORE(b)                                                         \
	"	mov	%rax, " TLS(rc_got) "+" #b "+0\n"                      \
	"	mov	%rbx, " TLS(rc_got) "+" #b "+8\n"                      \
	"	mov	%rcx, " TLS(rc_got) "+" #b "+16\n"                     \
	"	mov	%rdx, " TLS(rc_got) "+" #b "+24\n"                     \
	"	mov	%rsi, " TLS(rc_got) "+" #b "+32\n"                     \
	"	mov	%rdi, " TLS(rc_got) "+" #b "+40\n"                     \
	"	mov	%rbp, " TLS(rc_got) "+" #b "+48\n"                     \
	"	mov	%r8, " TLS(rc_got) "+" #b "+56\n"                      \
	"	mov	%r9, " TLS(rc_got) "+" #b "+64\n"                      \
	"	mov	%r10, " TLS(rc_got) "+" #b "+72\n"                     \
	"	mov	%r11, " TLS(rc_got) "+" #b "+80\n"                     \
	"	mov	%r12, " TLS(rc_got) "+" #b "+88\n"                     \
	"	mov	%r13, " TLS(rc_got) "+" #b "+96\n"                     \
	"	mov	%r14, " TLS(rc_got) "+" #b "+104\n"                    \
	"	mov	%r15, " TLS(rc_got) "+" #b "+112\n"                    \
	"	mov	%rsp, " TLS(rc_got) "+" #b "+120\n"                    \
	"	pushfq\n"                                                      \
	"	popq	" TLS(rc_got) "+" #b "+128\n"
#define VEC(op, r, k) "	" op "	" TLS(rc_vpat) "+" #k "*32, %" r #k "\n"
#define VEC16(op, r)                                                         \
	VEC(op, r, 0) VEC(op, r, 1) VEC(op, r, 2) VEC(op, r, 3)              \
	VEC(op, r, 4) VEC(op, r, 5) VEC(op, r, 6) VEC(op, r, 7)              \
	VEC(op, r, 8) VEC(op, r, 9) VEC(op, r, 10) VEC(op, r, 11)            \
	VEC(op, r, 12) VEC(op, r, 13) VEC(op, r, 14) VEC(op, r, 15)
/* The extended state into image b: x87, SSE and AVX (XSAVE), or FXSAVE. */
#define IMG(b, l)                                                            \
	"	mov	$7, %eax\n"                                            \
	"	xor	%edx, %edx\n"                                          \
	"	cmpb	$0, " TLS(rc_xsave) "\n"                              \
	"	je	" #l "f\n"                                             \
	"	xsave64	" TLS(rc_img) "+" #b "\n"                             \
	"	jmp	" #l "1f\n"                                            \
	#l ":	fxsave64 " TLS(rc_img) "+" #b "\n"                            \
	#l "1:\n"

/* migrate_regcheck(page, nr): see the top of the file. Saves what it
 * finds after the write to *page into rc_got[0], after syscall nr into
 * rc_got[1], and the extended state before and after into rc_img. */
__asm__("	.text\n"
	"	.globl	migrate_regcheck\n"
	"	.type	migrate_regcheck, @function\n"
	"migrate_regcheck:\n"
	"	push	%rbx\n"
	"	push	%rbp\n"
	"	push	%r12\n"
	"	push	%r13\n"
	"	push	%r14\n"
	"	push	%r15\n"
	"	mov	%rsi, " TLS(rc_nr) "\n"
	"	mov	%rdi, " TLS(rc_pat) "+40\n"
	"	mov	%rsp, " TLS(rc_rsp) "\n"
	"	lea	7f(%rip), %rax\n"
	"	mov	%rax, " TLS(rc_sysret) "\n"
	"	fldt	" TLS(rc_x87) "+0\n"
	"	fldt	" TLS(rc_x87) "+16\n"
	"	fldt	" TLS(rc_x87) "+32\n"
	"	fldt	" TLS(rc_x87) "+48\n"
	"	fldt	" TLS(rc_x87) "+64\n"
	"	fldt	" TLS(rc_x87) "+80\n"
	"	fldt	" TLS(rc_x87) "+96\n"
	"	fldt	" TLS(rc_x87) "+112\n"
	"	cmpb	$0, " TLS(rc_avx) "\n"
	"	je	1f\n"
	VEC16("vmovdqu", "ymm")
	"	jmp	2f\n"
	"1:\n"
	VEC16("movdqu", "xmm")
	"2:\n"
	IMG(0, 3)
	"	mov	" TLS(rc_pat) "+0, %rax\n"
	"	mov	" TLS(rc_pat) "+8, %rbx\n"
	"	mov	" TLS(rc_pat) "+16, %rcx\n"
	"	mov	" TLS(rc_pat) "+24, %rdx\n"
	"	mov	" TLS(rc_pat) "+32, %rsi\n"
	"	mov	" TLS(rc_pat) "+48, %rbp\n"
	"	mov	" TLS(rc_pat) "+56, %r8\n"
	"	mov	" TLS(rc_pat) "+64, %r9\n"
	"	mov	" TLS(rc_pat) "+72, %r10\n"
	"	mov	" TLS(rc_pat) "+80, %r11\n"
	"	mov	" TLS(rc_pat) "+88, %r12\n"
	"	mov	" TLS(rc_pat) "+96, %r13\n"
	"	mov	" TLS(rc_pat) "+104, %r14\n"
	"	mov	" TLS(rc_pat) "+112, %r15\n"
	"	stc\n"
	"	std\n"
	"	mov	%r8, (%rdi)\n"
	GPR_STORE(0)
	"	mov	" TLS(rc_nr) ", %rax\n"
	"	syscall\n"
	"7:\n"
	GPR_STORE(136)
	"	cld\n"
	IMG(1024, 4)
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	fstp	%st(0)\n"
	"	cmpb	$0, " TLS(rc_avx) "\n"
	"	je	5f\n"
	"	vzeroupper\n"
	"5:\n"
	"	pop	%r15\n"
	"	pop	%r14\n"
	"	pop	%r13\n"
	"	pop	%r12\n"
	"	pop	%rbp\n"
	"	pop	%rbx\n"
	"	ret\n"
	"	.size	migrate_regcheck, . - migrate_regcheck\n");
void migrate_regcheck(volatile void *page, long nr);

/* What this CPU has (each thread copies it into its rc_avx, rc_xsave). */
static uint8_t cpu_avx, cpu_xsave;
static unsigned avx_hi_off; /* where ymm's upper halves are in an image */

static void cpu_probe(void)
{
	unsigned a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	cpu_xsave = 1;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if (!(c & bit_AVX) || (lo & 6) != 6)
		return;
	cpu_avx = 1;
	__cpuid_count(0xd, 2, a, b, c, d);
	avx_hi_off = b;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* New patterns for one check, from seed. Built on the stack and copied:
 * gcc's loop optimisations once turned the TLS addresses into offsets the
 * static link cannot relocate. */
static void __attribute__((noinline)) rc_fill(uint64_t seed)
{
	uint64_t pat[G_NR] = { 0 }, vpat[16 * 4];
	uint8_t x87[8][16];

	for (int k = 0; k < G_RSP; k++)
		pat[k] = mix(seed * 64 + (uint64_t)k);
	for (int k = 0; k < 16 * 4; k++)
		vpat[k] = mix(seed * 1024 + (uint64_t)k);
	memset(x87, 0, sizeof(x87));
	for (int k = 0; k < 8; k++) {
		long double v = (long double)mix(seed + (uint64_t)k) / 3.0L + k;

		memcpy(x87[k], &v, 10);
	}
	memcpy(rc_pat, pat, sizeof(rc_pat));
	memcpy(rc_vpat, vpat, sizeof(rc_vpat));
	memcpy(rc_x87, x87, sizeof(rc_x87));
}

/* What rc_got and rc_img must hold; the number of mismatches. */
static int rc_verify(void)
{
	const uint8_t *b = rc_img[0], *a = rc_img[1];
	int bad = 0;

	for (int s = 0; s < 2; s++) {
		for (int k = 0; k < G_RSP; k++) {
			uint64_t want = rc_pat[k];

			if (s == 1 && k == G_RAX)
				want = 0; /* sched_yield's result */
			if (s == 1 && k == G_RCX)
				want = rc_sysret;
			if (s == 1 && k == G_R11)
				want = rc_got[0][G_FLAGS];
			bad += rc_got[s][k] != want;
		}
		bad += rc_got[s][G_RSP] != rc_rsp;
	}
	bad += (rc_got[0][G_FLAGS] & 0x401) != 0x401; /* CF, DF */
	bad += rc_got[1][G_FLAGS] != rc_got[0][G_FLAGS];
	/* FCW, FSW, FTW; MXCSR; st0-7 (10 bytes each); xmm0-15 */
	bad += memcmp(a, b, 5) != 0;
	bad += memcmp(a + 24, b + 24, 4) != 0;
	for (int k = 0; k < 8; k++)
		bad += memcmp(a + 32 + 16 * k, b + 32 + 16 * k, 10) != 0;
	bad += memcmp(a + 160, b + 160, 256) != 0;
	if (rc_avx)
		bad += memcmp(a + avx_hi_off, b + avx_hi_off, 256) != 0;
	return bad;
}

/* ---- the computation --------------------------------------------------- */

static int nthreads = 4, rounds = 40;
static double big[BIG_PAGES * PER_PAGE] __attribute__((aligned(4096)));
static volatile uint64_t ping[MAXT][512] __attribute__((aligned(4096)));
static pthread_barrier_t bar;
static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t digest;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static int turn;
static uint64_t ring_log;
static const int modes[4] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD,
			      FE_TOWARDZERO };
static int tids_print;

struct worker {
	pthread_t th;
	int t;
	double acc;
	long double lacc;
	int reg_bad, mode_bad, tid_bad, checks;
};
static struct worker w[MAXT];

/* Updates slice s of big in round r; returns the double sum, *l the long
 * double one. Both stay in registers across the page faults. */
static double slice(int s, int r, long double *l)
{
	size_t per = BIG_PAGES * PER_PAGE / (size_t)nthreads;
	double acc = 0.0;
	long double lacc = 0.0L;

	for (size_t i = per * (size_t)s; i < per * (size_t)(s + 1); i++) {
		double x = big[i] * 0.75 + sqrt((double)(i % 977) + r) / 7.0;

		big[i] = x;
		acc += x * 1.0000001;
		lacc += (long double)x / 3.0L;
	}
	*l = lacc;
	return acc;
}

static void ring_turn(int t)
{
	pthread_mutex_lock(&ring_lock);
	while (turn != t)
		pthread_cond_wait(&ring_cond, &ring_lock);
	ring_log = ring_log * 31 + (uint64_t)t + 1;
	turn = (t + 1) % nthreads;
	pthread_cond_broadcast(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
}

static void *work(void *arg)
{
	struct worker *me = arg;
	int t = me->t, tid0 = (int)syscall(SYS_gettid);
	uint64_t bits;

	rc_avx = cpu_avx;
	rc_xsave = cpu_xsave;
	fesetround(modes[t % 4]);
	for (int r = 0; r < rounds; r++) {
		long double l;
		double d;

		for (int k = 0; k < CALLS; k++) {
			rc_fill((uint64_t)(t * 100000 + r * CALLS + k));
			migrate_regcheck(&ping[(t + r + k) % nthreads][0],
					 SYS_sched_yield);
			me->reg_bad += rc_verify();
			me->checks++;
		}
		d = slice((t + r) % nthreads, r, &l);
		me->acc += d;
		me->lacc += l;
		me->mode_bad += fegetround() != modes[t % 4];
		memcpy(&bits, &d, sizeof(bits));
		pthread_mutex_lock(&sum_lock);
		digest += mix(bits);
		pthread_mutex_unlock(&sum_lock);
		ring_turn(t);
		pthread_barrier_wait(&bar);
		me->tid_bad += syscall(SYS_gettid) != tid0;
	}
	if (tids_print)
		fprintf(stderr, "tid %d start %d end\n", tid0,
			(int)syscall(SYS_gettid));
	return NULL;
}

static uint64_t big_sum(void)
{
	uint64_t h = 1469598103934665603ULL, v;

	for (size_t i = 0; i < BIG_PAGES * PER_PAGE; i++) {
		memcpy(&v, &big[i], 8);
		h = (h ^ v) * 1099511628211ULL;
	}
	return h;
}

static int run_work(void)
{
	int reg_bad = 0, mode_bad = 0, tid_bad = 0, checks = 0;

	for (size_t i = 0; i < BIG_PAGES * PER_PAGE; i++)
		big[i] = (double)(i % 1000) * 0.001;
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
	for (int t = 0; t < nthreads; t++) {
		w[t].t = t;
		if (pthread_create(&w[t].th, NULL, work, &w[t])) {
			perror("pthread_create");
			return 2;
		}
	}
	for (int t = 0; t < nthreads; t++) {
		pthread_join(w[t].th, NULL);
		printf("thread %d: sum %.17g long %.21Lg\n", t, w[t].acc,
		       w[t].lacc);
		reg_bad += w[t].reg_bad;
		mode_bad += w[t].mode_bad;
		tid_bad += w[t].tid_bad;
		checks += w[t].checks;
	}
	printf("array checksum %016llx\n", (unsigned long long)big_sum());
	printf("digest %016llx ring %016llx\n", (unsigned long long)digest,
	       (unsigned long long)ring_log);
	printf("register checks %d, bad %d; rounding modes bad %d; tids "
	       "changed %d\n", checks, reg_bad, mode_bad, tid_bad);
	return reg_bad || mode_bad || tid_bad;
}

/* ---- follow: a worker whose data lives on main's node ------------------ */

static uint64_t *data;
static size_t ndata;
static int passes = 3;

static void *follow(void *arg)
{
	uint64_t *sum = arg, s = 0;
	int tid0 = (int)syscall(SYS_gettid);

	for (int p = 0; p < passes; p++)
		for (size_t i = 0; i < ndata; i++)
			s += data[i] * (uint64_t)(p + 1);
	*sum = s;
	if (tids_print)
		fprintf(stderr, "tid %d start %d end\n", tid0,
			(int)syscall(SYS_gettid));
	return NULL;
}

static int run_follow(long mib)
{
	pthread_t th;
	uint64_t sum = 0;

	ndata = (size_t)mib << 17;
	data = malloc(ndata * sizeof(*data));
	if (!data) {
		perror("malloc");
		return 2;
	}
	for (size_t i = 0; i < ndata; i++)
		data[i] = mix(i) >> 20;
	if (pthread_create(&th, NULL, follow, &sum)) {
		perror("pthread_create");
		return 2;
	}
	pthread_join(th, NULL);
	printf("follow: %ld MiB, %d passes, sum %016llx\n", mib, passes,
	       (unsigned long long)sum);
	return 0;
}

/* ---- nest: threads made by a thread, main gone first ------------------- */

static void *nest_child(void *arg)
{
	volatile uint64_t *p = arg, s = 0;

	for (int r = 0; r < 30; r++) {
		for (int i = 0; i < 512; i++)
			s += p[i * 8] += (uint64_t)(r + i);
		sched_yield();
	}
	return (void *)(uintptr_t)(s & 0xffff);
}

static void *nest_parent(void *arg)
{
	static uint64_t pages[3][4096] __attribute__((aligned(4096)));
	pthread_t th[3];
	uintptr_t sum = 0;
	void *ret;

	for (int i = 0; i < 3; i++)
		if (pthread_create(&th[i], NULL, nest_child, pages[i])) {
			perror("pthread_create");
			exit(2);
		}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], &ret);
		sum += (uintptr_t)ret;
	}
	printf("nest: 3 children done, sum %lu\n", (unsigned long)sum);
	return NULL;
}

static int run_nest(void)
{
	pthread_t th;

	printf("nest: main leaves\n");
	if (pthread_create(&th, NULL, nest_parent, NULL)) {
		perror("pthread_create");
		return 2;
	}
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	const char *e = getenv("MIGRATE_TIDS");

	tids_print = e && e[0] == '1';
	cpu_probe();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "nest") == 0)
		return run_nest();
	if (argc > 1 && strcmp(argv[1], "follow") == 0) {
		if (argc > 3)
			passes = atoi(argv[3]);
		return run_follow(argc > 2 ? atol(argv[2]) : 2);
	}
	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (nthreads < 1 || nthreads > MAXT || rounds < 1 || passes < 1) {
		fprintf(stderr, "usage: migrate [THREADS [ROUNDS]] | migrate "
				"follow [MIB [PASSES]] | migrate nest\n");
		return 2;
	}
	return run_work();
}
