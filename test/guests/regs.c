/* regs: a syscall must preserve every register but rax, rcx and r11, as on
 * Linux. Loads known values into rbx, rbp, rdx, rsi, rdi, r8-r10, r12-r15 and
 * xmm0-xmm15, runs getpid with the syscall instruction, and checks them all
 * and the result, in NTHREADS threads at once, ROUNDS times each.
 *
 *   regs [NTHREADS [ROUNDS]]      (default 4 2000) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXT 32
#define NGPR 12 /* rbx rbp rdx rsi rdi r8 r9 r10 r12 r13 r14 r15 */

struct probe {
	uint64_t gpr_in[NGPR];   /* offset 0 */
	uint64_t gpr_out[NGPR];  /* offset 96 */
	uint64_t xmm_in[32];     /* offset 192 */
	uint64_t xmm_out[32];    /* offset 448 */
	uint64_t rax_out;        /* offset 704 */
};

static long rounds = 2000;
static long failures[MAXT];
static pid_t pid;

/* Loads p->gpr_in and p->xmm_in into the registers, runs getpid with the
 * syscall instruction and stores the registers back into p->gpr_out,
 * p->xmm_out and p->rax_out. */
static __attribute__((noinline)) void probe_run(struct probe *p)
{
	register struct probe *pr asm("r12") = p;

	asm volatile(
		"sub $128, %%rsp\n\t" /* keep off the red zone */
		"push %%rbx\n\t"
		"push %%rbp\n\t"
		"push %%r12\n\t"
		"push %%r13\n\t"
		"push %%r14\n\t"
		"push %%r15\n\t"
		"push %%r12\n\t" /* the probe pointer, for after the call */
		"movdqu 192(%%r12), %%xmm0\n\t"
		"movdqu 208(%%r12), %%xmm1\n\t"
		"movdqu 224(%%r12), %%xmm2\n\t"
		"movdqu 240(%%r12), %%xmm3\n\t"
		"movdqu 256(%%r12), %%xmm4\n\t"
		"movdqu 272(%%r12), %%xmm5\n\t"
		"movdqu 288(%%r12), %%xmm6\n\t"
		"movdqu 304(%%r12), %%xmm7\n\t"
		"movdqu 320(%%r12), %%xmm8\n\t"
		"movdqu 336(%%r12), %%xmm9\n\t"
		"movdqu 352(%%r12), %%xmm10\n\t"
		"movdqu 368(%%r12), %%xmm11\n\t"
		"movdqu 384(%%r12), %%xmm12\n\t"
		"movdqu 400(%%r12), %%xmm13\n\t"
		"movdqu 416(%%r12), %%xmm14\n\t"
		"movdqu 432(%%r12), %%xmm15\n\t"
		"mov 0(%%r12), %%rbx\n\t"
		"mov 8(%%r12), %%rbp\n\t"
		"mov 16(%%r12), %%rdx\n\t"
		"mov 24(%%r12), %%rsi\n\t"
		"mov 32(%%r12), %%rdi\n\t"
		"mov 40(%%r12), %%r8\n\t"
		"mov 48(%%r12), %%r9\n\t"
		"mov 56(%%r12), %%r10\n\t"
		"mov 72(%%r12), %%r13\n\t"
		"mov 80(%%r12), %%r14\n\t"
		"mov 88(%%r12), %%r15\n\t"
		"mov 64(%%r12), %%r12\n\t"
		"mov $39, %%eax\n\t" /* getpid */
		"syscall\n\t"
		"mov (%%rsp), %%rcx\n\t" /* rcx is the kernel's anyway */
		"mov %%rax, 704(%%rcx)\n\t"
		"mov %%rbx, 96(%%rcx)\n\t"
		"mov %%rbp, 104(%%rcx)\n\t"
		"mov %%rdx, 112(%%rcx)\n\t"
		"mov %%rsi, 120(%%rcx)\n\t"
		"mov %%rdi, 128(%%rcx)\n\t"
		"mov %%r8, 136(%%rcx)\n\t"
		"mov %%r9, 144(%%rcx)\n\t"
		"mov %%r10, 152(%%rcx)\n\t"
		"mov %%r12, 160(%%rcx)\n\t"
		"mov %%r13, 168(%%rcx)\n\t"
		"mov %%r14, 176(%%rcx)\n\t"
		"mov %%r15, 184(%%rcx)\n\t"
		"movdqu %%xmm0, 448(%%rcx)\n\t"
		"movdqu %%xmm1, 464(%%rcx)\n\t"
		"movdqu %%xmm2, 480(%%rcx)\n\t"
		"movdqu %%xmm3, 496(%%rcx)\n\t"
		"movdqu %%xmm4, 512(%%rcx)\n\t"
		"movdqu %%xmm5, 528(%%rcx)\n\t"
		"movdqu %%xmm6, 544(%%rcx)\n\t"
		"movdqu %%xmm7, 560(%%rcx)\n\t"
		"movdqu %%xmm8, 576(%%rcx)\n\t"
		"movdqu %%xmm9, 592(%%rcx)\n\t"
		"movdqu %%xmm10, 608(%%rcx)\n\t"
		"movdqu %%xmm11, 624(%%rcx)\n\t"
		"movdqu %%xmm12, 640(%%rcx)\n\t"
		"movdqu %%xmm13, 656(%%rcx)\n\t"
		"movdqu %%xmm14, 672(%%rcx)\n\t"
		"movdqu %%xmm15, 688(%%rcx)\n\t"
		"add $8, %%rsp\n\t"
		"pop %%r15\n\t"
		"pop %%r14\n\t"
		"pop %%r13\n\t"
		"pop %%r12\n\t"
		"pop %%rbp\n\t"
		"pop %%rbx\n\t"
		"add $128, %%rsp\n\t"
		:
		: "r"(pr)
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		  "xmm15", "memory", "cc");
}

_Static_assert(__builtin_offsetof(struct probe, gpr_out) == 96, "layout");
_Static_assert(__builtin_offsetof(struct probe, xmm_in) == 192, "layout");
_Static_assert(__builtin_offsetof(struct probe, xmm_out) == 448, "layout");
_Static_assert(__builtin_offsetof(struct probe, rax_out) == 704, "layout");

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void *worker(void *arg)
{
	long id = (long)arg;
	struct probe p;

	for (long r = 0; r < rounds; r++) {
		uint64_t seed = ((uint64_t)id << 40) + (uint64_t)r;

		for (int i = 0; i < NGPR; i++)
			p.gpr_in[i] = mix(seed * 64 + i);
		for (int i = 0; i < 32; i++)
			p.xmm_in[i] = mix(seed * 64 + 16 + i);
		memset(p.gpr_out, 0, sizeof(p.gpr_out));
		memset(p.xmm_out, 0, sizeof(p.xmm_out));
		probe_run(&p);
		if (memcmp(p.gpr_in, p.gpr_out, sizeof(p.gpr_in)) != 0 ||
		    memcmp(p.xmm_in, p.xmm_out, sizeof(p.xmm_in)) != 0 ||
		    p.rax_out != (uint64_t)pid)
			failures[id]++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	long bad = 0;
	pthread_t t[MAXT];

	if (argc > 2)
		rounds = atol(argv[2]);
	if (n < 1 || n > MAXT || rounds < 1) {
		fprintf(stderr, "usage: regs [NTHREADS<=32 [ROUNDS]]\n");
		return 2;
	}
	pid = getpid();
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < n; i++)
		bad += failures[i];
	printf("threads %d rounds %ld clobbered %ld\n", n, rounds, bad);
	if (bad) {
		printf("FAIL: registers changed across a syscall\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
