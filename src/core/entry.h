/* The trap path (docs/design.md decision 2): how a host thread enters guest
 * code and how the guest's system calls and faults come back to the agent.
 *
 * entry_init installs the SIGSYS and fault handlers (raw rt_sigaction,
 * SA_RESTORER = a stub inside the allowed region) and, in seccomp mode, the
 * filter; entry_thread_init gives the calling host thread its altstack (the
 * block its vthread sits at the base of) and turns Syscall User Dispatch on
 * with the selector at ALLOW; entry_enter starts guest code with vt->start.
 * The handlers call vt_trap_syscall and vt_trap_fault (vm.h) with the
 * agent's FS in place. */
#ifndef CVMM_CORE_ENTRY_H
#define CVMM_CORE_ENTRY_H

#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/status.h"
#include "core/vm.h"

typedef enum entry_mode { ENTRY_SUD, ENTRY_SECCOMP } entry_mode_t;

/* The RFLAGS bits a guest thread starts with from its saved registers: the
 * arithmetic flags, DF, AC and ID (what user code can set and a clone child
 * inherits). TF, NT, IOPL, RF and the rest are dropped; IF and the fixed
 * bit 1 are always set. */
#define ENTRY_RFLAGS_GUEST 0x240cd5UL
#define ENTRY_RFLAGS_FIXED 0x202UL

/* Extended register state: offsets and components of the XSAVE standard
 * format (Intel SDM vol. 1 ch. 13). */
#define XSAVE_LEGACY_LEN 512 /* the FXSAVE area */
#define XSAVE_HDR_LEN 64     /* XSTATE_BV, XCOMP_BV, reserved */
#define XSAVE_MIN_LEN (XSAVE_LEGACY_LEN + XSAVE_HDR_LEN)
#define XSAVE_FCW 0         /* u16 x87 control word */
#define XSAVE_MXCSR 24      /* u32 */
#define XSAVE_MXCSR_MASK 28 /* u32, as FXSAVE writes it */
#define XSAVE_XSTATE_BV XSAVE_LEGACY_LEN
#define XFEATURE_PKRU 9

/* This CPU's extended register state as cvmm carries it between threads
 * and nodes (entry_xstate_probe). */
typedef struct entry_xstate {
	uint64_t mask;       /* components an image may hold and a restore
			      * loads: XCR0 less the components Linux makes a
			      * process ask for (XFD, AMX tile data) and any
			      * past GUEST_XSAVE_MAX; 0 without XSAVE */
	uint32_t size;       /* longest image: the end of the last component
			      * of mask; 512 (FXSAVE) without XSAVE */
	uint32_t mxcsr_mask; /* MXCSR bits a restore accepts */
	uint16_t end[64];    /* where component i of mask ends in an image */
} entry_xstate_t;

/* Fills *x for this CPU (CPUID, XGETBV, one FXSAVE). The same on every call;
 * cheap enough for start-up, not for a trap (CPUID exits a hypervisor).
 * Cannot fail. */
static inline void entry_xstate_probe(entry_xstate_t *x)
{
	uint8_t fx[XSAVE_LEGACY_LEN] __attribute__((aligned(16))) = { 0 };
	unsigned a, b, c, d, lo, hi;
	uint64_t xcr0;

	memset(x, 0, sizeof(*x));
	__asm__ volatile("fxsave64 %0" : "=m"(fx));
	memcpy(&x->mxcsr_mask, fx + XSAVE_MXCSR_MASK, 4);
	if (!x->mxcsr_mask)
		x->mxcsr_mask = 0xffbf; /* SDM: a zero mask field means this */
	x->size = XSAVE_LEGACY_LEN;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	x->mask = xcr0 & 3; /* x87 and SSE: the legacy area */
	x->end[0] = x->end[1] = XSAVE_LEGACY_LEN;
	x->size = XSAVE_MIN_LEN;
	for (unsigned i = 2; i < 63; i++) {
		if (!(xcr0 >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		/* c bit 0: supervisor (XSS) state; bit 2: XFD, granted on
		 * request only (XRSTOR of it would raise #NM) */
		if ((c & 5) || !a || (uint64_t)a + b > GUEST_XSAVE_MAX)
			continue;
		x->mask |= 1ULL << i;
		x->end[i] = (uint16_t)(a + b);
		if (a + b > x->size)
			x->size = a + b;
	}
}

/* True when img[0..len) is an image entry_enter may restore on the CPU x
 * describes. With XSAVE: XSAVE_MIN_LEN to x->size bytes; XSTATE_BV within
 * x->mask and each component it names inside len; XCOMP_BV zero (the
 * standard format) and the rest of the header zero. Without XSAVE: an
 * FXSAVE image of 512 bytes. Both: MXCSR within x->mxcsr_mask. XRSTOR and
 * FXRSTOR fault on anything else, so no image is restored unchecked. Reads
 * img only within len. Cannot fail. */
static inline bool entry_xsave_valid(const uint8_t *img, size_t len,
				     const entry_xstate_t *x)
{
	uint64_t bv, rest[7];
	uint32_t mxcsr;

	if (len < XSAVE_LEGACY_LEN)
		return false;
	memcpy(&mxcsr, img + XSAVE_MXCSR, 4);
	if (mxcsr & ~x->mxcsr_mask)
		return false;
	if (!x->mask)
		return len == XSAVE_LEGACY_LEN;
	if (len < XSAVE_MIN_LEN || len > x->size)
		return false;
	memcpy(&bv, img + XSAVE_XSTATE_BV, 8);
	memcpy(rest, img + XSAVE_XSTATE_BV + 8, sizeof(rest));
	for (unsigned i = 0; i < 7; i++)
		if (rest[i])
			return false;
	if (bv & ~x->mask)
		return false;
	for (unsigned i = 0; i < 64; i++)
		if ((bv >> i & 1) && x->end[i] > len)
			return false;
	return true;
}

/* Installs the process-wide handlers for mode. Logs and fails when the
 * kernel refuses them. */
cvmm_status_t entry_init(entry_mode_t mode);

/* True when this kernel and process allow Syscall User Dispatch. */
bool entry_sud_available(void);

/* The mode entry_init installed (what the process runs with). */
entry_mode_t entry_mode_get(void);

/* Makes the calling host thread ready to run vt: altstack, dispatch on
 * (selector at ALLOW). entry_thread_fini undoes it. */
cvmm_status_t entry_thread_init(vthread_t *vt);
void entry_thread_fini(vthread_t *vt);

/* Starts guest code with vt->start; returns only through vt->exit_jmp.
 * FS is vt->start.fs; GS is vt->start.gs unless that is 0 (the host
 * thread's own, inherited from its creator). RFLAGS keep only
 * ENTRY_RFLAGS_GUEST. The extended state is restored with
 * XRSTOR (FXRSTOR without XSAVE) from vt->start.xsave, or, when xsave_len
 * is 0, is the initial state of a new process: every x87, vector and mask
 * register zero, x87 control word 0x37f, MXCSR 0x1f80; nothing the agent
 * left in a register reaches the guest. An image entry_xsave_valid refuses
 * ends the VM (an internal error: decoders and entry_xsave_from_frame check
 * first). Needs entry_init. */
void entry_enter(vthread_t *vt) __attribute__((noreturn));

/* Writes into r->xsave and r->xsave_len the extended state of the guest
 * thread trapped in uc (the kernel's XSAVE signal frame at
 * uc_mcontext.fpregs): a new thread gets exactly its creator's vector,
 * mask and x87 registers, as clone gives natively. The frame is checked
 * (FP_XSTATE_MAGIC1/2, its sizes) and at most this CPU's image size is
 * copied; components cvmm does not carry (entry_xstate_t.mask) are dropped.
 * A frame without extended state gives its legacy area; one that fails the
 * checks gives xsave_len 0 (a clean start) and a warning. Called inside a
 * handler, with the agent's FS; needs entry_init. Cannot fail. */
void entry_xsave_from_frame(const ucontext_t *uc, guest_regs_t *r);

/* Writes into *r the registers of the guest thread trapped in uc, exactly
 * as the frame has them: the general registers, rip, rsp and the RFLAGS
 * word (entry_enter keeps only ENTRY_RFLAGS_GUEST of it), and the XSAVE
 * image (entry_xsave_from_frame: xsave_len 0 when the frame's is
 * unusable). fs and gs are 0: the frame has neither, the caller knows
 * them. For a thread that moves to another node. Called inside a handler,
 * with the agent's FS; needs entry_init. Cannot fail. */
void entry_regs_from_frame(const ucontext_t *uc, guest_regs_t *r);

/* Allocates a zeroed, VT_ALT_SIZE-aligned block for a vthread and its
 * altstack; NULL when out of memory. */
vthread_t *entry_block_alloc(void);

#endif
