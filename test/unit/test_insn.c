/* insn_atomic (core/insn.h) on instructions the assembler encoded: every
 * lockable operation with a memory destination under LOCK, XCHG with
 * memory, their look-alikes that are not atomic, LOCK where the CPU
 * refuses it, and cut-short bytes. The bytes of each case come from GNU as
 * (a data section between two labels), so prefixes, REX, ModRM, SIB,
 * displacements and immediates are the real encodings; the length must be
 * the assembler's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/insn.h"

#define INSN(name, text)                                                   \
	__asm__(".pushsection .rodata.test_insn,\"a\"\n" #name "_s:\n" text \
		"\n" #name "_e:\n.popsection\n");                           \
	extern const uint8_t name##_s[] __asm__(#name "_s");               \
	extern const uint8_t name##_e[] __asm__(#name "_e");

#define CASE(name, kind) { #name, name##_s, name##_e, kind }

INSN(l_add, "lock addl $1, (%rax)")
INSN(l_add_sib, "lock addq $0x12345678, 0x10(%rsp)")
INSN(l_or16, "lock orw $0x1234, (%rdi)")
INSN(l_adc, "lock adcl %eax, -8(%rbp)")
INSN(l_sbb, "lock sbbq %rcx, 0x400(%rbx)")
INSN(l_and8, "lock andb $1, (%rax)")
INSN(l_sub_r12, "lock subl %eax, (%r12)")
INSN(l_xor, "lock xorq %rdx, (%rax,%rcx,8)")
INSN(l_xadd, "lock xaddl %eax, (%rdx)")
INSN(l_xadd_rip, "lock xaddq %rax, 0x1000(%rip)")
INSN(l_cmpxchg, "lock cmpxchgl %ecx, (%rbx,%rsi,4)")
INSN(l_cmpxchg8, "lock cmpxchgb %cl, 3(%rdi)")
INSN(l_cmpxchg16b, "lock cmpxchg16b (%r8)")
INSN(l_cmpxchg8b, "lock cmpxchg8b 0x12345678(%r9)")
INSN(l_bts_imm, "lock btsl $3, (%rax)")
INSN(l_btr, "lock btrq %rcx, (%rax)")
INSN(l_btc_imm, "lock btcw $15, 2(%rax)")
INSN(l_inc, "lock incl (%rax)")
INSN(l_dec, "lock decq 8(%rax)")
INSN(l_not, "lock notb (%rax)")
INSN(l_neg16, "lock negw (%rax)")
INSN(l_xchg, "lock xchgl %eax, (%rax)")
INSN(l_fs, "lock addl $1, %fs:(%rax)")
INSN(l_addr32, "lock addl $1, (%eax)")
INSN(l_nobase, "lock incl 0x100(,%rcx,4)")
INSN(x_xchg32, "xchgl %eax, (%rdi)")
INSN(x_xchg64, "xchgq %rax, 8(%rsp)")
INSN(x_xchg8, "xchgb %al, (%rdx)")
INSN(x_xchg_r15, "xchgq (%r15), %r9")
INSN(p_add, "addl $1, (%rax)")
INSN(p_mov, "movl %eax, (%rdi)")
INSN(p_xchg_reg, "xchgl %eax, %ecx")
INSN(p_cmpxchg, "cmpxchgl %ecx, (%rbx)")
INSN(p_xadd, "xaddl %eax, (%rdx)")
INSN(p_rep, "rep movsb")
INSN(p_fs, "movq %rax, %fs:0x28")
INSN(p_vex, "vmovdqu %ymm0, (%rax)")
INSN(p_bt, "btl $3, (%rax)")
INSN(p_cmp, "cmpl $1, (%rax)")
INSN(p_inc_reg, "incl %eax")
INSN(p_test, "testb $1, (%rax)")
INSN(u_reg, ".byte 0xf0, 0x01, 0xc8")       /* lock add %ecx, %eax */
INSN(u_mov, ".byte 0xf0, 0x89, 0x07")       /* lock mov %eax, (%rdi) */
INSN(u_cmp, ".byte 0xf0, 0x83, 0x38, 0x01") /* lock cmpl $1, (%rax) */
INSN(u_bt, ".byte 0xf0, 0x0f, 0xba, 0x20, 0x03") /* lock btl $3 */
INSN(u_cmpxchg_reg, ".byte 0xf0, 0x0f, 0xb1, 0xc8")
INSN(u_prefixes, ".byte 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, "
		 "0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66")

static const struct {
	const char *name;
	const uint8_t *s, *e;
	insn_atomic_t kind;
} cases[] = {
	CASE(l_add, INSN_LOCKED), CASE(l_add_sib, INSN_LOCKED),
	CASE(l_or16, INSN_LOCKED), CASE(l_adc, INSN_LOCKED),
	CASE(l_sbb, INSN_LOCKED), CASE(l_and8, INSN_LOCKED),
	CASE(l_sub_r12, INSN_LOCKED), CASE(l_xor, INSN_LOCKED),
	CASE(l_xadd, INSN_LOCKED), CASE(l_xadd_rip, INSN_LOCKED),
	CASE(l_cmpxchg, INSN_LOCKED), CASE(l_cmpxchg8, INSN_LOCKED),
	CASE(l_cmpxchg16b, INSN_LOCKED), CASE(l_cmpxchg8b, INSN_LOCKED),
	CASE(l_bts_imm, INSN_LOCKED), CASE(l_btr, INSN_LOCKED),
	CASE(l_btc_imm, INSN_LOCKED), CASE(l_inc, INSN_LOCKED),
	CASE(l_dec, INSN_LOCKED), CASE(l_not, INSN_LOCKED),
	CASE(l_neg16, INSN_LOCKED), CASE(l_xchg, INSN_LOCKED),
	CASE(l_fs, INSN_LOCKED), CASE(l_addr32, INSN_LOCKED),
	CASE(l_nobase, INSN_LOCKED),
	CASE(x_xchg32, INSN_XCHG_MEM), CASE(x_xchg64, INSN_XCHG_MEM),
	CASE(x_xchg8, INSN_XCHG_MEM), CASE(x_xchg_r15, INSN_XCHG_MEM),
	CASE(p_add, INSN_PLAIN), CASE(p_mov, INSN_PLAIN),
	CASE(p_xchg_reg, INSN_PLAIN), CASE(p_cmpxchg, INSN_PLAIN),
	CASE(p_xadd, INSN_PLAIN), CASE(p_rep, INSN_PLAIN),
	CASE(p_fs, INSN_PLAIN), CASE(p_vex, INSN_PLAIN),
	CASE(p_bt, INSN_PLAIN), CASE(p_cmp, INSN_PLAIN),
	CASE(p_inc_reg, INSN_PLAIN), CASE(p_test, INSN_PLAIN),
	CASE(u_reg, INSN_UNKNOWN), CASE(u_mov, INSN_UNKNOWN),
	CASE(u_cmp, INSN_UNKNOWN), CASE(u_bt, INSN_UNKNOWN),
	CASE(u_cmpxchg_reg, INSN_UNKNOWN), CASE(u_prefixes, INSN_UNKNOWN),
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Each case, with the assembler's length for the atomic ones; bytes after
 * the instruction (the next case's) change nothing. */
static void test_kinds(void **state)
{
	for (size_t i = 0; i < NCASES; i++) {
		size_t n = (size_t)(cases[i].e - cases[i].s);
		uint8_t buf[INSN_MAX_LEN + 8];
		unsigned len = 0;
		insn_atomic_t k;

		memset(buf, 0x90, sizeof(buf));
		memcpy(buf, cases[i].s, n < sizeof(buf) ? n : sizeof(buf));
		k = insn_atomic(buf, sizeof(buf), &len);
		print_message("%-16s %zu bytes: kind %d length %u\n",
			      cases[i].name, n, k, len);
		assert_int_equal(k, cases[i].kind);
		if (k == INSN_LOCKED || k == INSN_XCHG_MEM)
			assert_int_equal(len, n);
	}
}

/* An atomic instruction cut short anywhere is INSN_UNKNOWN, never a wrong
 * answer or a read past len. */
static void test_cut_short(void **state)
{
	for (size_t i = 0; i < NCASES; i++) {
		size_t n = (size_t)(cases[i].e - cases[i].s);

		if (cases[i].kind != INSN_LOCKED &&
		    cases[i].kind != INSN_XCHG_MEM)
			continue;
		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *buf = test_malloc(cut ? cut : 1);
			unsigned len = 0;

			memcpy(buf, cases[i].s, cut);
			assert_int_equal(insn_atomic(buf, cut, &len),
					 INSN_UNKNOWN);
			test_free(buf);
		}
	}
}

/* Any byte string: an answer, a length within the bytes, no crash. */
static void test_random_bytes(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned atomics = 0;

	for (int r = 0; r < 200000; r++) {
		uint8_t buf[INSN_MAX_LEN];
		size_t n = (size_t)(r % (INSN_MAX_LEN + 1));
		unsigned len = 0;
		insn_atomic_t k;

		for (size_t j = 0; j < sizeof(buf); j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[j] = (uint8_t)x;
			if (j == 0 && (x >> 20 & 3) == 0)
				buf[j] = 0xf0; /* often a LOCK */
		}
		k = insn_atomic(buf, n, &len);
		assert_true(k >= INSN_PLAIN && k <= INSN_UNKNOWN);
		if (k == INSN_LOCKED || k == INSN_XCHG_MEM) {
			assert_true(len >= 2 && len <= n);
			atomics++;
		}
	}
	assert_true(atomics > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
