/* The registers a program starts with and a thread inherits, and EFLAGS.AC
 * across system calls. Output must match the native run line for line.
 *
 * (a) At entry every vector, mask and x87 register is zero (a new process
 *     gets the initial state from the kernel). The program cannot have an
 *     entry point of its own (glibc's crt1.o defines _start and the build
 *     is plain gcc -static), so the registers are saved by an IRELATIVE
 *     resolver: glibc runs those before TLS setup or any string function,
 *     and the start code before them writes only the low 128 bits of
 *     xmm0-xmm2 (legacy SSE, which leaves the upper bits alone), so those
 *     three are not checked.
 * (b) A thread made by a raw clone, with a pattern in every xmm/ymm/zmm,
 *     k and x87 register and in MXCSR, saves its registers first thing:
 *     they are the parent's, as natively (the kernel copies the FPU state).
 * (c) A syscall, a write and a page fault with EFLAGS.AC set: the program
 *     goes on and keeps AC.
 * AVX and AVX-512 parts print "no avx" / "no avx512" where the CPU lacks
 * them (the same natively). */
#include <cpuid.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IMG_SIZE 16384 /* more than any XSAVE of the components below */
#define EFLAGS_AC 0x40000UL

/* XSAVE images of components 0xe7 (x87, SSE, AVX, opmask, ZMM_Hi256,
 * Hi16_ZMM; FXSAVE images without XSAVE): at entry, the clone child's
 * first instructions, the parent's right after the clone. */
uint8_t entryregs_at_entry[IMG_SIZE] __attribute__((aligned(64)));
uint8_t entryregs_child[IMG_SIZE] __attribute__((aligned(64)));
uint8_t entryregs_parent[IMG_SIZE] __attribute__((aligned(64)));
/* The pattern: vector register i is entryregs_pat[64 i .. 64 i + 63]. */
uint8_t entryregs_pat[32 * 64] __attribute__((aligned(64)));
uint64_t entryregs_kpat[8];
static uint8_t child_stack[65536] __attribute__((aligned(64)));
static volatile uint32_t child_tid;
static const uint32_t mxcsr_default = 0x1f80;

/* The resolver saves the registers, then resolves entryregs_probe to a
 * function that does nothing. Only rax, rcx, rdx and the flags change. */
__asm__("	.text\n"
	"	.type	entryregs_resolver, @function\n"
	"entryregs_resolver:\n"
	"	push	%rbx\n"
	"	mov	$1, %eax\n"
	"	cpuid\n"
	"	bt	$27, %ecx\n" /* OSXSAVE */
	"	jnc	1f\n"
	"	mov	$0xe7, %eax\n"
	"	xor	%edx, %edx\n"
	"	xsave64	entryregs_at_entry(%rip)\n"
	"	jmp	2f\n"
	"1:	fxsave64 entryregs_at_entry(%rip)\n"
	"2:	lea	entryregs_nothing(%rip), %rax\n"
	"	pop	%rbx\n"
	"	ret\n"
	"	.size	entryregs_resolver, . - entryregs_resolver\n"
	"entryregs_nothing:\n"
	"	ret\n"
	"	.globl	entryregs_probe\n"
	"	.type	entryregs_probe, @gnu_indirect_function\n"
	"	.set	entryregs_probe, entryregs_resolver\n");
void entryregs_probe(void);

/* What this CPU has: 0 SSE only, 1 AVX, 2 AVX-512 (F and BW); where the
 * XSAVE standard format puts each component. */
static struct {
	int xsave, level;
	unsigned off[8];
} cpu;

static int failed; /* checks that did not hold */

static void cpu_probe(void)
{
	unsigned a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	cpu.xsave = 1;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if (!(c & bit_AVX) || (lo & 6) != 6)
		return;
	cpu.level = 1;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F) &&
	    (b & bit_AVX512BW) && (lo & 0xe0) == 0xe0)
		cpu.level = 2;
	for (unsigned i = 2; i < 8; i++) {
		__cpuid_count(0xd, i, a, b, c, d);
		cpu.off[i] = b;
	}
}

static uint64_t xstate_bv(const uint8_t *img)
{
	uint64_t bv;

	if (!cpu.xsave)
		return 3;
	memcpy(&bv, img + 512, 8);
	return bv;
}

/* The kinds of register an image holds; level: the CPU level they need. */
enum reg_kind { R_ST, R_XMM, R_YMMH, R_ZMMH, R_ZMM16, R_K };
static const struct {
	const char *name;
	int comp;   /* XSAVE component */
	size_t len; /* bytes per register */
	int level;
} kinds[] = {
	[R_ST] = { "st", 0, 10, 0 },    [R_XMM] = { "xmm", 1, 16, 0 },
	[R_YMMH] = { "ymm", 2, 16, 1 }, [R_ZMMH] = { "zmm", 6, 32, 2 },
	[R_ZMM16] = { "zmm", 7, 64, 2 }, [R_K] = { "k", 5, 8, 2 },
};

/* Register i of kind k in img (for ymm and zmm0-15: the bits above the
 * next smaller register); NULL when its component is in the initial
 * state, all zero. */
static const uint8_t *reg_bytes(const uint8_t *img, enum reg_kind k, int i)
{
	if (!(xstate_bv(img) >> kinds[k].comp & 1))
		return NULL;
	switch (k) {
	case R_ST: return img + 32 + 16 * i;
	case R_XMM: return img + 160 + 16 * i;
	case R_YMMH: return img + cpu.off[2] + 16 * i;
	case R_ZMMH: return img + cpu.off[6] + 32 * i;
	case R_ZMM16: return img + cpu.off[7] + 64 * (i - 16);
	case R_K: return img + cpu.off[5] + 8 * i;
	}
	return NULL;
}

/* One line "label: what: good" when registers lo..hi of kind k are the
 * same in img and ref (NULL: zero), else "label: what: bad" and the ones
 * that are not. "no avx" / "no avx512" when the CPU lacks them. */
static void check_regs(const char *label, const char *what, const char *good,
		       const char *bad, const uint8_t *img, const uint8_t *ref,
		       enum reg_kind k, int lo, int hi)
{
	static const uint8_t zero[64];
	char list[256] = "";
	size_t used = 0, n = kinds[k].len;

	if (cpu.level < kinds[k].level) {
		printf("%s: %s: %s\n", label, what,
		       kinds[k].level == 1 ? "no avx" : "no avx512");
		return;
	}
	for (int i = lo; i <= hi; i++) {
		const uint8_t *p = reg_bytes(img, k, i);
		const uint8_t *q = ref ? reg_bytes(ref, k, i) : NULL;

		if (memcmp(p ? p : zero, q ? q : zero, n) != 0)
			used += snprintf(list + used, sizeof(list) - used,
					 " %s%d", kinds[k].name, i);
	}
	printf("%s: %s: %s%s\n", label, what, used ? bad : good, list);
	failed += used != 0;
}

/* The x87 control, status and (abridged) tag words and MXCSR. */
static void fp_words(const uint8_t *img, unsigned w[4])
{
	uint16_t fcw, fsw;
	uint32_t mxcsr;

	memcpy(&fcw, img, 2);
	memcpy(&fsw, img + 2, 2);
	memcpy(&mxcsr, img + 24, 4);
	w[0] = fcw;
	w[1] = fsw;
	w[2] = img[4];
	w[3] = mxcsr;
	if (!(xstate_bv(img) & 1)) { /* x87 initial */
		w[0] = 0x37f;
		w[1] = w[2] = 0;
	}
}

/* ---- (a) entry -------------------------------------------------------- */

static const struct {
	const char *what;
	enum reg_kind k;
	int lo, hi;
} entry_regs[] = {
	{ "x87 st0-st7", R_ST, 0, 7 },
	{ "xmm3-xmm15 (xmm0-xmm2 are glibc's by now)", R_XMM, 3, 15 },
	{ "ymm0-ymm15 upper halves", R_YMMH, 0, 15 },
	{ "zmm0-zmm15 upper halves", R_ZMMH, 0, 15 },
	{ "zmm16-zmm31", R_ZMM16, 16, 31 },
	{ "k0-k7", R_K, 0, 7 },
};

static void check_entry(void)
{
	unsigned w[4];

	for (size_t i = 0; i < sizeof(entry_regs) / sizeof(entry_regs[0]); i++)
		check_regs("entry", entry_regs[i].what, "zero", "NOT zero:",
			   entryregs_at_entry, NULL, entry_regs[i].k,
			   entry_regs[i].lo, entry_regs[i].hi);
	fp_words(entryregs_at_entry, w);
	printf("entry: fcw 0x%x fsw 0x%x ftw 0x%x mxcsr 0x%x\n", w[0], w[1],
	       w[2], w[3]);
	failed += w[0] != 0x37f || w[1] || w[2] || w[3] != 0x1f80;
}

/* ---- (b) clone ------------------------------------------------------- */

/* Registers from the pattern, x87 and MXCSR set, then clone. The child
 * saves its registers before anything else and exits; the parent saves
 * its own right after the syscall, then restores a sane FPU state. */
#define LOAD_X87                                                              \
	"fninit\n\t"                                                          \
	"fldcw	%[fcw]\n\t"                                                   \
	"fld1\n\t fldpi\n\t fldl2t\n\t fldl2e\n\t"                            \
	"fldlg2\n\t fldln2\n\t fldz\n\t fldpi\n\t"                            \
	"ldmxcsr %[mxp]\n\t"
#define SAVE(img)                                                             \
	"test	%%r12, %%r12\n\t"                                             \
	"jz	7f\n\t"                                                       \
	"mov	$0xe7, %%eax\n\t"                                             \
	"xor	%%edx, %%edx\n\t"                                             \
	"xsave64 " img "(%%rip)\n\t"                                          \
	"jmp	8f\n"                                                         \
	"7:	fxsave64 " img "(%%rip)\n"                                    \
	"8:\n\t"
#define CLONE_AND_SAVE                                                        \
	"mov	$56, %%eax\n\t"                                               \
	"syscall\n\t"                                                         \
	"test	%%rax, %%rax\n\t"                                             \
	"jnz	1f\n\t"                                                       \
	SAVE("entryregs_child")                                               \
	"mov	$60, %%eax\n\t"                                               \
	"xor	%%edi, %%edi\n\t"                                             \
	"syscall\n\t"                                                         \
	"ud2\n"                                                               \
	"1:	mov	%%rax, %%r9\n\t"                                      \
	SAVE("entryregs_parent")                                              \
	"mov	%%r9, %%rax\n\t"                                              \
	"fninit\n\t"                                                          \
	"ldmxcsr %[mxd]\n\t"

#define X(i) "movdqu entryregs_pat+64*" #i "(%%rip), %%xmm" #i "\n\t"
#define Y(i) "vmovdqu entryregs_pat+64*" #i "(%%rip), %%ymm" #i "\n\t"
#define Z(i) "vmovdqu64 entryregs_pat+64*" #i "(%%rip), %%zmm" #i "\n\t"
#define K(i) "kmovq entryregs_kpat+8*" #i "(%%rip), %%k" #i "\n\t"
#define EACH8(M, a) M(a##0) M(a##1) M(a##2) M(a##3) M(a##4) M(a##5) \
	M(a##6) M(a##7)
#define EACH16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) \
	M(10) M(11) M(12) M(13) M(14) M(15)
#define EACH32(M) EACH16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) \
	M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)

#define CLONE_ASM(loads)                                                      \
	__asm__ volatile(loads LOAD_X87 CLONE_AND_SAVE                        \
			 : "=a"(ret), "+d"(ptid)                              \
			 : "D"(flags), "S"(stack), "r"(r10), "r"(r8),         \
			   "r"(r12), [fcw] "m"(fcw), [mxp] "m"(mxcsr),        \
			   [mxd] "m"(mxcsr_default)                           \
			 : "rcx", "r9", "r11", "memory", "cc", "xmm0", "xmm1", \
			   "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",    \
			   "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
			   "xmm14", "xmm15")

static long clone_with_pattern(void)
{
	long ret, flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			  CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			  CLONE_CHILD_CLEARTID;
	void *stack = child_stack + sizeof(child_stack);
	volatile uint32_t *ptid = &child_tid;
	register volatile uint32_t *r10 __asm__("r10") = &child_tid;
	register long r8 __asm__("r8") = 0;
	register long r12 __asm__("r12") = cpu.xsave;
	const uint16_t fcw = 0x27f; /* double precision */
	const uint32_t mxcsr = 0x5f80; /* round up */

	if (cpu.level == 2)
		CLONE_ASM(EACH32(Z) EACH8(K, ));
	else if (cpu.level == 1)
		CLONE_ASM(EACH16(Y));
	else
		CLONE_ASM(EACH16(X));
	if (cpu.level >= 1)
		__asm__ volatile("vzeroupper" ::: "memory");
	return ret;
}

/* The pattern as an image: what child and parent must hold. */
static void pattern_image(uint8_t *want, const uint8_t *x87)
{
	uint64_t bv = cpu.level == 2 ? 0xe7 : cpu.level == 1 ? 7 : 3;
	const uint8_t *pat = entryregs_pat;

	memset(want, 0, IMG_SIZE);
	memcpy(want, x87, 160);
	if (cpu.xsave)
		memcpy(want + 512, &bv, 8);
	for (int i = 0; i < 16; i++) {
		memcpy(want + 160 + 16 * i, pat + 64 * i, 16);
		if (cpu.level >= 1)
			memcpy(want + cpu.off[2] + 16 * i, pat + 64 * i + 16,
			       16);
		if (cpu.level == 2)
			memcpy(want + cpu.off[6] + 32 * i, pat + 64 * i + 32,
			       32);
	}
	for (int i = 16; cpu.level == 2 && i < 32; i++)
		memcpy(want + cpu.off[7] + 64 * (i - 16), pat + 64 * i, 64);
	for (int i = 0; cpu.level == 2 && i < 8; i++)
		memcpy(want + cpu.off[5] + 8 * i, &entryregs_kpat[i], 8);
}

static const struct {
	const char *what;
	enum reg_kind k;
	int lo, hi;
} clone_regs[] = {
	{ "xmm0-xmm15", R_XMM, 0, 15 },
	{ "ymm0-ymm15 upper halves", R_YMMH, 0, 15 },
	{ "zmm0-zmm15 upper halves", R_ZMMH, 0, 15 },
	{ "zmm16-zmm31", R_ZMM16, 16, 31 },
	{ "k0-k7", R_K, 0, 7 },
};

static void check_clone(void)
{
	static uint8_t want[IMG_SIZE] __attribute__((aligned(64)));
	const uint8_t *c = entryregs_child, *p = entryregs_parent;
	char what[64];
	unsigned wc[4], wp[4];
	uint32_t t;
	long tid;

	for (unsigned i = 0; i < sizeof(entryregs_pat); i++)
		entryregs_pat[i] = (uint8_t)(i * 37 + 11) | 1;
	for (unsigned i = 0; i < 8; i++)
		entryregs_kpat[i] = 0x0123456789abcdefULL * (i + 3);
	tid = clone_with_pattern();
	if (tid <= 0) {
		printf("clone: failed (%ld)\n", tid);
		failed++;
		return;
	}
	while ((t = child_tid) != 0)
		syscall(SYS_futex, &child_tid, FUTEX_WAIT, t, NULL, NULL, 0);

	fp_words(c, wc);
	fp_words(p, wp);
	printf("clone: parent fcw 0x%x mxcsr 0x%x, child %s\n", wp[0], wp[3],
	       memcmp(wc, wp, sizeof(wc)) ? "DIFFERENT" : "the same");
	failed += memcmp(wc, wp, sizeof(wc)) != 0;
	check_regs("clone", "child x87 st0-st7", "the parent's", "DIFFERENT:",
		   c, p, R_ST, 0, 7);
	pattern_image(want, p);
	for (size_t i = 0; i < sizeof(clone_regs) / sizeof(clone_regs[0]);
	     i++) {
		snprintf(what, sizeof(what), "child %s", clone_regs[i].what);
		check_regs("clone", what, "the parent's", "DIFFERENT:", c,
			   want, clone_regs[i].k, clone_regs[i].lo,
			   clone_regs[i].hi);
		snprintf(what, sizeof(what), "parent %s", clone_regs[i].what);
		check_regs("clone", what, "kept", "CHANGED:", p, want,
			   clone_regs[i].k, clone_regs[i].lo,
			   clone_regs[i].hi);
	}
}

/* ---- (c) EFLAGS.AC ---------------------------------------------------- */

/* Sets AC, runs the syscall nr(a, b, c) and, when touch is not NULL,
 * first stores to *touch; returns the syscall's result, *ac whether AC
 * was still set after it. AC is clear again on return. */
static long with_ac(long nr, long a, long b, long c, uint64_t *touch, int *ac)
{
	unsigned long fl;
	long ret;

	__asm__ volatile("pushfq\n\t"
			 "orl	%[acb], (%%rsp)\n\t"
			 "popfq\n\t"
			 "test	%[touch], %[touch]\n\t"
			 "jz	1f\n\t"
			 "movq	$1, (%[touch])\n"
			 "1:	syscall\n\t"
			 "pushfq\n\t"
			 "mov	(%%rsp), %[fl]\n\t"
			 "andl	%[nacb], (%%rsp)\n\t"
			 "popfq\n\t"
			 : "=a"(ret), [fl] "=&r"(fl)
			 : "a"(nr), "D"(a), "S"(b), "d"(c),
			   [touch] "r"(touch), [acb] "i"(EFLAGS_AC),
			   [nacb] "i"(~EFLAGS_AC)
			 : "rcx", "r11", "memory", "cc");
	*ac = !!(fl & EFLAGS_AC);
	return ret;
}

/* One line: what, whether the call did its job, whether AC survived. */
static void ac_line(const char *what, int ok, int ac)
{
	printf("ac: %s: %s, AC %s\n", what, ok ? "ok" : "WRONG",
	       ac ? "kept" : "LOST");
	failed += !ok || !ac;
}

/* Each call with AC set; natively the kernel does not care. Buffers at
 * odd addresses are fine for a syscall and make the agent's copies
 * unaligned. */
static void check_ac(void)
{
	static const char msg[] = "ac: write with AC set\n";
	static char odd[64] __attribute__((aligned(16)));
	uint64_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long pid = getpid(), ret, fd;
	int ac, ac2;

	ret = with_ac(SYS_getpid, 0, 0, 0, NULL, &ac);
	ac_line("getpid", ret == pid, ac);
	ret = with_ac(SYS_clock_gettime, CLOCK_MONOTONIC, (long)(odd + 3), 0,
		      NULL, &ac);
	ac_line("clock_gettime into an odd address", ret == 0, ac);
	fd = with_ac(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY, NULL,
		     &ac);
	ret = with_ac(SYS_close, fd, 0, 0, NULL, &ac2);
	ac_line("openat and close of /dev/null", fd >= 0 && ret == 0,
		ac && ac2);
	fflush(stdout);
	ret = with_ac(SYS_write, 1, (long)msg, sizeof(msg) - 1, NULL, &ac);
	ac_line("write", ret == (long)sizeof(msg) - 1, ac);
	if (page == MAP_FAILED) {
		ac_line("mmap", 0, 1);
		return;
	}
	/* a page fault (on several nodes a coherence fault) with AC set */
	ret = with_ac(SYS_getppid, 0, 0, 0, page, &ac);
	ac_line("first touch of a page", *page == 1, ac);
	munmap(page, 4096);
}

int main(void)
{
	entryregs_probe();
	cpu_probe();
	check_entry();
	fflush(stdout); /* the lines so far even if a later check kills it */
	check_clone();
	fflush(stdout);
	check_ac();
	if (failed) {
		printf("FAILED %d\n", failed);
		return 1;
	}
	printf("ok\n");
	return 0;
}
