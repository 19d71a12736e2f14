/* The trap path: Syscall User Dispatch (or a seccomp RET_TRAP filter) turns
 * every guest syscall into SIGSYS on the guest thread's alternate stack.
 *
 * This file runs with the guest's FS base loaded, so it is built without the
 * stack protector (it reads %fs:0x28) and calls no glibc function until
 * fs_set(agent_fs). Order in the handler (docs/design.md, measured):
 *   selector = ALLOW; FS = agent's; handle; FS = guest's; selector = BLOCK;
 *   return to the SA_RESTORER stub, whose rt_sigreturn is allowed.
 * The vthread is found from the stack pointer: it sits at the base of the
 * VT_ALT_SIZE-aligned block holding the altstack. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <asm/prctl.h>

#include "common/log.h"
#include "core/entry.h"
#include "core/gmem.h"
#include "core/stats.h"
#include "core/sud.h"
#include "core/vm.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

extern char cvmm_sigreturn_stub[], cvmm_sigreturn_stub_end[];
void cvmm_guest_enter(const guest_regs_t *r) __attribute__((noreturn));

_Static_assert(offsetof(guest_regs_t, rax) == 112, "entry_asm.S R_RAX");
_Static_assert(offsetof(guest_regs_t, rsp) == 136, "entry_asm.S R_RSP");
_Static_assert(offsetof(guest_regs_t, fpu) == 160, "entry_asm.S R_FPU");
_Static_assert(offsetof(guest_regs_t, fpu_valid) == 672, "entry_asm.S R_FPUOK");

static entry_mode_t entry_mode;

static inline long raw2(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long raw4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline void fs_set(uint64_t base)
{
	raw2(SYS_arch_prctl, ARCH_SET_FS, (long)base);
}

static inline vthread_t *vt_current(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	return (vthread_t *)(sp & ~(VT_ALT_SIZE - 1));
}

/* Calls that need neither glibc nor guest memory, answered without the two
 * FS switches (~7 us of the ~12 us round trip here). */
static bool entry_fast(vthread_t *vt, unsigned long nr, greg_t *g)
{
	long ret;

	switch (nr) {
	case SYS_getpid:
		ret = cvmm_vm.pid;
		break;
	case SYS_gettid:
		ret = vt->tid;
		break;
	case SYS_getppid:
		ret = raw2(SYS_getppid, 0, 0);
		break;
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid:
		ret = raw2((long)nr, 0, 0);
		break;
	default:
		return false;
	}
	g[REG_RAX] = ret;
	__atomic_fetch_add(&stats_sys_count[nr], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&cvmm_vm.vcpus[vt->vcpu].st.syscalls, 1,
			   __ATOMIC_RELAXED);
	return true;
}

static void entry_sigsys(int sig, siginfo_t *si, void *ucv)
{
	vthread_t *vt = vt_current();
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;

	vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	if (vt->magic == VT_MAGIC_GUEST &&
	    entry_fast(vt, (unsigned long)g[REG_RAX], g)) {
		vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
		return;
	}
	fs_set(vt->agent_fs);
	vt_trap_syscall(vt, uc);
	fs_set(vt->guest_fs);
	vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
}

static void entry_fault(int sig, siginfo_t *si, void *ucv)
{
	vthread_t *vt = vt_current();

	if (vt->magic == VT_MAGIC_GUEST) {
		vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
		fs_set(vt->agent_fs);
	}
	vt_trap_fault(vt, sig, si, ucv);
	if (vt->magic == VT_MAGIC_GUEST) {
		fs_set(vt->guest_fs);
		vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	}
}

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static cvmm_status_t entry_sigaction(int sig, void *handler, uint64_t mask)
{
	struct ksigaction ka = {
		.handler = handler,
		.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
		.restorer = cvmm_sigreturn_stub,
		.mask = mask,
	};
	long ret = raw4(SYS_rt_sigaction, sig, (long)&ka, 0, 8);

	if (ret < 0) {
		log_error("rt_sigaction %d: %s", sig, strerror((int)-ret));
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

/* seccomp fallback: trap syscalls whose instruction pointer is in the guest
 * window, allow the rest. */
static cvmm_status_t entry_seccomp_install(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer) + 4),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)(GMEM_HI >> 32),
			 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog fp = { .len = sizeof(prog) / sizeof(prog[0]),
				 .filter = prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &fp) != 0) {
		log_error("installing the seccomp filter: %m");
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

bool entry_sud_available(void)
{
	static volatile uint8_t sel = SYSCALL_DISPATCH_FILTER_ALLOW;

	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		  (unsigned long)cvmm_sigreturn_stub, 1UL, &sel) != 0)
		return false;
	prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
	return true;
}

cvmm_status_t entry_init(entry_mode_t mode)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				      SIGTRAP };
	uint64_t sysbit = 1UL << (SIGSYS - 1);

	entry_mode = mode;
	if (entry_sigaction(SIGSYS, entry_sigsys, 0) != CVMM_OK)
		return CVMM_ERR_IO;
	for (unsigned i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		if (entry_sigaction(faults[i], entry_fault, sysbit) != CVMM_OK)
			return CVMM_ERR_IO;
	return mode == ENTRY_SECCOMP ? entry_seccomp_install() : CVMM_OK;
}

vthread_t *entry_block_alloc(void)
{
	size_t len = 2 * VT_ALT_SIZE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t base;

	if (p == MAP_FAILED)
		return NULL;
	base = ((uintptr_t)p + VT_ALT_SIZE - 1) & ~(VT_ALT_SIZE - 1);
	if (base > (uintptr_t)p)
		munmap(p, base - (uintptr_t)p);
	munmap((void *)(base + VT_ALT_SIZE),
	       (uintptr_t)p + len - (base + VT_ALT_SIZE));
	return (vthread_t *)base;
}

cvmm_status_t entry_thread_init(vthread_t *vt)
{
	size_t hdr = (sizeof(*vt) + 63) & ~63UL;
	stack_t ss = { .ss_sp = (uint8_t *)vt + hdr,
		       .ss_size = VT_ALT_SIZE - hdr };

	if (sigaltstack(&ss, NULL) != 0) {
		log_error("sigaltstack: %m");
		return CVMM_ERR_IO;
	}
	vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	if (vt->magic != VT_MAGIC_GUEST || entry_mode != ENTRY_SUD)
		return CVMM_OK;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		  (unsigned long)cvmm_sigreturn_stub,
		  (unsigned long)(cvmm_sigreturn_stub_end - cvmm_sigreturn_stub),
		  &vt->selector) != 0) {
		log_error("syscall user dispatch: %m");
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

void entry_thread_fini(vthread_t *vt)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	if (vt->magic == VT_MAGIC_GUEST && entry_mode == ENTRY_SUD)
		prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0,
		      0);
	sigaltstack(&ss, NULL);
}

void entry_enter(vthread_t *vt)
{
	vt->guest_fs = vt->start.fs;
	fs_set(vt->guest_fs);
	vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	cvmm_guest_enter(&vt->start);
}
