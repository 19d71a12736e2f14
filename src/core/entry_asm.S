/* Guest entry and the SA_RESTORER stub.
 *
 * cvmm_sigreturn_stub is the only code Syscall User Dispatch lets through
 * while the selector is BLOCK: rt_sigreturn at the end of every handler. SUD
 * checks the address after the syscall instruction, so the region includes
 * the ud2 that follows.
 *
 * cvmm_guest_enter(const guest_regs_t *r) loads a full guest register set
 * and jumps to it with iretq. The caller has already set FS to the guest's
 * and the selector to BLOCK; nothing here makes a system call. */

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
#define R_FPU    160
#define R_FPUOK  672

	.text
	.globl	cvmm_sigreturn_stub
	.globl	cvmm_sigreturn_stub_end
	.type	cvmm_sigreturn_stub, @function
cvmm_sigreturn_stub:
	mov	$15, %eax
	syscall
	ud2
cvmm_sigreturn_stub_end:
	.size	cvmm_sigreturn_stub, . - cvmm_sigreturn_stub

	.globl	cvmm_guest_enter
	.type	cvmm_guest_enter, @function
cvmm_guest_enter:
	cmpb	$0, R_FPUOK(%rdi)
	je	1f
	fxrstor64 R_FPU(%rdi)
	jmp	2f
1:	fninit
	ldmxcsr	mxcsr_default(%rip)
	pxor	%xmm0, %xmm0
	pxor	%xmm1, %xmm1
	pxor	%xmm2, %xmm2
	pxor	%xmm3, %xmm3
	pxor	%xmm4, %xmm4
	pxor	%xmm5, %xmm5
	pxor	%xmm6, %xmm6
	pxor	%xmm7, %xmm7
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

	.section .rodata
	.align	4
mxcsr_default:
	.long	0x1f80

	.section .note.GNU-stack, "", @progbits
