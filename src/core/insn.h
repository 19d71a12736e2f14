/* Guest instructions, decoded as far as the coherence layer needs: whether
 * the instruction that took a write fault is an atomic read-modify-write of
 * memory (a LOCK-prefixed one, or XCHG with a memory operand, which the CPU
 * locks without a prefix). A page written by such an instruction holds a
 * synchronisation variable (a mutex word, a counter, a flag set with
 * compare-and-swap): the release memory model keeps such pages
 * sequentially consistent (docs/coherence.md).
 *
 * Only the instruction's bytes are read, from a buffer the caller filled
 * (guest memory is the caller's business); the decoder is pure. */
#ifndef CVMM_CORE_INSN_H
#define CVMM_CORE_INSN_H

#include <stddef.h>
#include <stdint.h>

/* The longest x86 instruction. */
#define INSN_MAX_LEN 15

typedef enum insn_atomic {
	INSN_PLAIN = 0,   /* decoded: not an atomic read-modify-write */
	INSN_LOCKED,      /* LOCK prefix on a lockable op with a memory
			     destination */
	INSN_XCHG_MEM,    /* XCHG with a memory operand (implicitly locked) */
	INSN_UNKNOWN,     /* cut short (len too small) or not decodable here */
} insn_atomic_t;

/* Decodes the instruction at code[0..len): what kind it is and, unless
 * INSN_UNKNOWN, its length in *ilen (may be NULL). 64-bit mode. A LOCK
 * prefix on an instruction that cannot take one (#UD on the CPU, so it
 * never writes) is INSN_UNKNOWN. */
insn_atomic_t insn_atomic(const uint8_t *code, size_t len, unsigned *ilen);

#endif
