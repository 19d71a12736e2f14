/* Guest entry and the SA_RESTORER stub.
 *
 * cvmm_sigreturn_stub is the only code Syscall User Dispatch lets through
 * while the selector is BLOCK: rt_sigreturn at the end of every handler. SUD
 * checks the address after the syscall instruction, so the region includes
 * the ud2 that follows.
 *
 * cvmm_guest_enter(const guest_regs_t *r, uint64_t rfbm) loads a full guest
 * register set and jumps to it with iretq: the extended state with XRSTOR
 * of r->xsave, requested-feature mask rfbm (components rfbm names and the
 * image's XSTATE_BV does not are loaded in their initial state), or with
 * FXRSTOR when rfbm is 0 (no XSAVE); then the general registers and
 * RFLAGS. The caller has already checked the image, set FS to the guest's
 * and the selector to BLOCK; nothing here makes a system call.
 *
 * cvmm_sigsys_entry and cvmm_fault_entry are the signal handlers the
 * kernel calls: they clear EFLAGS.AC, which the kernel leaves as the guest
 * had it, before any agent code can make an unaligned access (SIGBUS with
 * AC set), then jump to entry_sigsys / entry_fault in entry.c with the
 * arguments untouched. The guest's RFLAGS return with the ucontext. */

#define R_R15    0
#define R_R14    8
#define R_R13    16
#define R_R12    24
#define R_R11    32
#define R_R10    40
#define R_R9     48
#define R_R8     56
#define R_RDI    64
#define R_RSI    72
#define R_RBP    80
#define R_RBX    88
#define R_RDX    96
#define R_RCX    104
#define R_RAX    112
#define R_RIP    120
#define R_RFLAGS 128
#define R_RSP    136
#define R_XSAVE  192

#define EFLAGS_AC 0x40000

	.text
	.globl	cvmm_sigreturn_stub
	.globl	cvmm_sigreturn_stub_end
	.type	cvmm_sigreturn_stub, @function
	.balign	16	/* never across a 4 GiB boundary: confine.c's filter */
cvmm_sigreturn_stub:
	mov	$15, %eax
	syscall
	ud2
cvmm_sigreturn_stub_end:
	.size	cvmm_sigreturn_stub, . - cvmm_sigreturn_stub

	.globl	cvmm_sigsys_entry
	.type	cvmm_sigsys_entry, @function
cvmm_sigsys_entry:
	pushfq
	andl	$~EFLAGS_AC, (%rsp)
	popfq
	jmp	entry_sigsys
	.size	cvmm_sigsys_entry, . - cvmm_sigsys_entry

	.globl	cvmm_fault_entry
	.type	cvmm_fault_entry, @function
cvmm_fault_entry:
	pushfq
	andl	$~EFLAGS_AC, (%rsp)
	popfq
	jmp	entry_fault
	.size	cvmm_fault_entry, . - cvmm_fault_entry

	.globl	cvmm_guest_enter
	.type	cvmm_guest_enter, @function
cvmm_guest_enter:
	test	%rsi, %rsi
	jz	1f
	mov	%esi, %eax
	mov	%rsi, %rdx
	shr	$32, %rdx
	xrstor64 R_XSAVE(%rdi)
	jmp	2f
1:	fxrstor64 R_XSAVE(%rdi)
2:	pushq	$0x2b			/* ss: __USER_DS */
	pushq	R_RSP(%rdi)
	pushq	R_RFLAGS(%rdi)
	pushq	$0x33			/* cs: __USER_CS */
	pushq	R_RIP(%rdi)
	mov	R_R15(%rdi), %r15
	mov	R_R14(%rdi), %r14
	mov	R_R13(%rdi), %r13
	mov	R_R12(%rdi), %r12
	mov	R_R11(%rdi), %r11
	mov	R_R10(%rdi), %r10
	mov	R_R9(%rdi), %r9
	mov	R_R8(%rdi), %r8
	mov	R_RSI(%rdi), %rsi
	mov	R_RBP(%rdi), %rbp
	mov	R_RBX(%rdi), %rbx
	mov	R_RDX(%rdi), %rdx
	mov	R_RCX(%rdi), %rcx
	mov	R_RAX(%rdi), %rax
	mov	R_RDI(%rdi), %rdi
	iretq
	.size	cvmm_guest_enter, . - cvmm_guest_enter

	.section .note.GNU-stack, "", @progbits
