/* Atomic read-modify-write instructions (insn.h). 64-bit mode only; the
 * lockable instructions are those of the Intel SDM's LOCK prefix entry:
 * ADD, ADC, AND, BTC, BTR, BTS, CMPXCHG, CMPXCHG8B/16B, DEC, INC, NEG,
 * NOT, OR, SBB, SUB, XOR, XADD and XCHG, each only with a memory
 * destination (a LOCK prefix anywhere else raises #UD). */
#include "core/insn.h"

#include <stdbool.h>

/* What the opcode is, for the LOCK question. */
typedef enum op_kind {
	OP_OTHER,  /* not lockable */
	OP_LOCK,   /* lockable with a memory ModRM operand */
	OP_GROUP,  /* lockable for some ModRM.reg values only (reg_ok) */
	OP_XCHG,   /* XCHG r/m, r */
} op_kind_t;

typedef struct op_info {
	op_kind_t kind;
	uint8_t reg_ok; /* OP_GROUP: bit r set = ModRM.reg r is lockable */
	uint8_t imm;    /* immediate bytes: 1, or 4 (2 with 0x66, no REX.W) */
} op_info_t;

static op_info_t one_byte(uint8_t op)
{
	switch (op) {
	case 0x00: case 0x01: /* ADD r/m, r */
	case 0x08: case 0x09: /* OR */
	case 0x10: case 0x11: /* ADC */
	case 0x18: case 0x19: /* SBB */
	case 0x20: case 0x21: /* AND */
	case 0x28: case 0x29: /* SUB */
	case 0x30: case 0x31: /* XOR */
		return (op_info_t){ OP_LOCK, 0, 0 };
	case 0x80: case 0x83: /* group 1, imm8: /0-/6 (not /7 CMP) */
		return (op_info_t){ OP_GROUP, 0x7f, 1 };
	case 0x81: /* group 1, imm16/32 */
		return (op_info_t){ OP_GROUP, 0x7f, 4 };
	case 0x86: case 0x87:
		return (op_info_t){ OP_XCHG, 0, 0 };
	case 0xf6: case 0xf7: /* group 3: /2 NOT, /3 NEG */
		return (op_info_t){ OP_GROUP, 0x0c, 0 };
	case 0xfe: case 0xff: /* groups 4 and 5: /0 INC, /1 DEC */
		return (op_info_t){ OP_GROUP, 0x03, 0 };
	default:
		return (op_info_t){ OP_OTHER, 0, 0 };
	}
}

static op_info_t two_byte(uint8_t op)
{
	switch (op) {
	case 0xab: /* BTS r/m, r */
	case 0xb3: /* BTR */
	case 0xbb: /* BTC */
	case 0xb0: case 0xb1: /* CMPXCHG */
	case 0xc0: case 0xc1: /* XADD */
		return (op_info_t){ OP_LOCK, 0, 0 };
	case 0xba: /* group 8, imm8: /5 BTS, /6 BTR, /7 BTC (not /4 BT) */
		return (op_info_t){ OP_GROUP, 0xe0, 1 };
	case 0xc7: /* group 9: /1 CMPXCHG8B, CMPXCHG16B */
		return (op_info_t){ OP_GROUP, 0x02, 0 };
	default:
		return (op_info_t){ OP_OTHER, 0, 0 };
	}
}

static bool legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0xf0: case 0xf2: case 0xf3: /* LOCK, REPNE, REP */
	case 0x2e: case 0x36: case 0x3e: case 0x26: /* segments */
	case 0x64: case 0x65:
	case 0x66: case 0x67: /* operand and address size */
		return true;
	default:
		return false;
	}
}

/* Bytes of ModRM, SIB and displacement from the ModRM byte at code[i]
 * (memory operand: mod != 3); 0 when cut short. */
static unsigned modrm_len(const uint8_t *code, size_t len, size_t i)
{
	uint8_t m = code[i];
	unsigned mod = m >> 6, rm = m & 7, n = 1;

	if (rm == 4) { /* SIB */
		if (i + 1 >= len)
			return 0;
		if (mod == 0 && (code[i + 1] & 7) == 5)
			n += 4; /* no base: disp32 */
		n++;
	} else if (mod == 0 && rm == 5) {
		n += 4; /* RIP-relative disp32 */
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return i + n <= len ? n : 0;
}

insn_atomic_t insn_atomic(const uint8_t *code, size_t len, unsigned *ilen)
{
	bool lock = false, opsize = false, rex_w = false;
	size_t i = 0;
	op_info_t info;
	unsigned mr, imm, reg;

	if (len > INSN_MAX_LEN)
		len = INSN_MAX_LEN;
	for (;; i++) { /* legacy prefixes and REX, REX last to count */
		if (i >= len)
			return INSN_UNKNOWN;
		if (legacy_prefix(code[i])) {
			lock |= code[i] == 0xf0;
			opsize |= code[i] == 0x66;
			rex_w = false; /* a REX before a prefix is ignored */
		} else if ((code[i] & 0xf0) == 0x40) {
			rex_w = code[i] & 0x08;
		} else {
			break;
		}
	}
	if (code[i] == 0x0f) {
		if (++i >= len)
			return INSN_UNKNOWN;
		info = two_byte(code[i]);
	} else {
		info = one_byte(code[i]);
	}
	if (info.kind == OP_OTHER)
		return lock ? INSN_UNKNOWN : INSN_PLAIN;
	if (++i >= len)
		return INSN_UNKNOWN; /* no ModRM */
	reg = (code[i] >> 3) & 7;
	if ((code[i] >> 6) == 3 ||
	    (info.kind == OP_GROUP && !(info.reg_ok >> reg & 1)))
		/* a register operand, or the group's unlockable members */
		return lock ? INSN_UNKNOWN : INSN_PLAIN;
	if (!lock && info.kind != OP_XCHG)
		return INSN_PLAIN;
	mr = modrm_len(code, len, i);
	if (!mr)
		return INSN_UNKNOWN;
	imm = info.imm == 4 && opsize && !rex_w ? 2 : info.imm;
	if (i + mr + imm > len)
		return INSN_UNKNOWN;
	if (ilen)
		*ilen = (unsigned)(i + mr + imm);
	return lock ? INSN_LOCKED : INSN_XCHG_MEM;
}
