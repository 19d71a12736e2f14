/* The trap path: Syscall User Dispatch (or a seccomp RET_TRAP filter) turns
 * every guest syscall into SIGSYS on the guest thread's alternate stack.
 *
 * This file runs with the guest's FS base loaded, so it is built without the
 * stack protector (it reads %fs:0x28) and calls no glibc function until
 * fs_set(agent_fs). Order in the handler (docs/design.md, measured):
 *   selector = ALLOW; FS = agent's; handle; FS = guest's; selector = BLOCK;
 *   return to the SA_RESTORER stub, whose rt_sigreturn is allowed.
 * The vthread is found from the stack pointer: it sits at the base of the
 * VT_ALT_SIZE-aligned block holding the altstack.
 *
 * The handlers are entered through entry_asm.S, which clears EFLAGS.AC
 * first: the kernel delivers SIGSYS and fault signals with the guest's AC
 * still set, and any unaligned access in agent code would then raise SIGBUS.
 * The guest's own RFLAGS, AC included, come back from the ucontext at
 * sigreturn.
 *
 * Guest threads start with a full register set (entry_enter): the general
 * registers of guest_regs_t, and extended state restored with XRSTOR from
 * an image whose XSTATE_BV names only what the guest defined, the requested
 * mask being every component cvmm carries (entry_xstate_t.mask), so all the
 * rest is loaded in its initial, zeroed state. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <asm/prctl.h>

#include "coherence/dfutex.h"
#include "common/log.h"
#include "core/confine.h"
#include "core/entry.h"
#include "core/futex.h"
#include "core/gmem.h"
#include "core/stats.h"
#include "core/sud.h"
#include "core/vdso/vdso.h"
#include "core/vm.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

extern char cvmm_sigreturn_stub[], cvmm_sigreturn_stub_end[];
/* entry_asm.S: rfbm is the XRSTOR requested-feature mask, 0 for FXRSTOR. */
void cvmm_guest_enter(const guest_regs_t *r, uint64_t rfbm)
	__attribute__((noreturn));
/* entry_asm.S: clear EFLAGS.AC, then jump to entry_sigsys / entry_fault. */
void cvmm_sigsys_entry(int sig, siginfo_t *si, void *ucv);
void cvmm_fault_entry(int sig, siginfo_t *si, void *ucv);
/* Called only from those two; not static so the assembly can reach them. */
void entry_sigsys(int sig, siginfo_t *si, void *ucv)
	__attribute__((visibility("hidden")));
void entry_fault(int sig, siginfo_t *si, void *ucv)
	__attribute__((visibility("hidden")));

_Static_assert(offsetof(guest_regs_t, rax) == 112, "entry_asm.S R_RAX");
_Static_assert(offsetof(guest_regs_t, rip) == 120, "entry_asm.S R_RIP");
_Static_assert(offsetof(guest_regs_t, rflags) == 128, "entry_asm.S R_RFLAGS");
_Static_assert(offsetof(guest_regs_t, rsp) == 136, "entry_asm.S R_RSP");
_Static_assert(offsetof(guest_regs_t, xsave) == 192, "entry_asm.S R_XSAVE");
_Static_assert(offsetof(guest_regs_t, xsave) % 64 == 0 &&
		       _Alignof(guest_regs_t) >= 64,
	       "XRSTOR needs a 64-byte aligned image");
_Static_assert(GUEST_XSAVE_MAX >= XSAVE_MIN_LEN, "room for the header");

static entry_mode_t entry_mode;
static entry_xstate_t entry_xs; /* this CPU, from entry_init */

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

static inline long raw6(long nr, const greg_t *g)
{
	long ret;
	register long r10 __asm__("r10") = g[REG_R10];
	register long r8 __asm__("r8") = g[REG_R8];
	register long r9 __asm__("r9") = g[REG_R9];

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(g[REG_RDI]), "S"(g[REG_RSI]),
			   "d"(g[REG_RDX]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The host vDSO's clock_gettime (no TLS, no errno), from entry_init; 0:
 * the syscall. */
static int (*entry_vdso_clock)(clockid_t, struct timespec *);

/* CLOCK_MONOTONIC in ns, with the guest's FS. */
static uint64_t entry_now(void)
{
	struct timespec ts;

	if (entry_vdso_clock)
		entry_vdso_clock(CLOCK_MONOTONIC, &ts);
	else
		raw2(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/* The CPU has FSGSBASE and the kernel lets user code use it (Linux 5.9+):
 * the FS switches of every trap are one instruction each, not a system
 * call (docs/performance.md, "The FS base without a system call");
 * CVMM_NO_FSGSBASE=1 switches with arch_prctl still (to compare), and the
 * guest's own base is read at each trap either way. */
static bool entry_fsgsbase, entry_wrfs;

static inline void fs_set(uint64_t base)
{
	if (entry_wrfs)
		__asm__ volatile("wrfsbase %0" : : "r"(base) : "memory");
	else
		raw2(SYS_arch_prctl, ARCH_SET_FS, (long)base);
}

/* The guest's FS base as it is now: with FSGSBASE the guest may have set
 * it itself (wrfsbase), so it is read, not only tracked from arch_prctl. */
static inline void fs_note_guest(vthread_t *vt)
{
	uint64_t base;

	if (!entry_fsgsbase)
		return;
	__asm__ volatile("rdfsbase %0" : "=r"(base));
	vt->guest_fs = base;
}

static inline vthread_t *vt_current(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	return (vthread_t *)(sp & ~(VT_ALT_SIZE - 1));
}

/* One node: a futex call the kernel takes as it is (futex_host_ok: guest
 * words, no memory written), made here with the guest's FS; its time
 * counted as vt_trap_syscall counts it (a wait's as idle). */
static void entry_futex(vthread_t *vt, greg_t *g)
{
	int cmd = (int)g[REG_RSI] & FUTEX_CMD_MASK;
	uint64_t t0 = entry_now(), t1;
	vcpu_stats_t *st = &cvmm_vm.vcpus[vt->vcpu].st;

	g[REG_RAX] = raw6(SYS_futex, g);
	t1 = entry_now();
	__atomic_fetch_add(&st->guest_ns, t0 - vt->t_mark, __ATOMIC_RELAXED);
	__atomic_fetch_add(cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET
				   ? &st->idle_ns
				   : &st->sys_ns,
			   t1 - t0, __ATOMIC_RELAXED);
	vt->t_mark = t1;
}

/* Calls that need neither glibc nor guest memory, answered without the two
 * FS switches (~7 us of the ~12 us round trip here). */
static bool entry_fast(vthread_t *vt, unsigned long nr, greg_t *g)
{
	long ret;

	switch (nr) {
	case SYS_futex: {
		uint64_t a[6] = { (uint64_t)g[REG_RDI], (uint64_t)g[REG_RSI],
				  (uint64_t)g[REG_RDX], (uint64_t)g[REG_R10],
				  (uint64_t)g[REG_R8], (uint64_t)g[REG_R9] };

		if (cvmm_dfx || !futex_host_ok(a))
			return false;
		entry_futex(vt, g);
		goto counted;
	}
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
counted:
	__atomic_fetch_add(&stats_sys_count[nr], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&cvmm_vm.vcpus[vt->vcpu].st.syscalls, 1,
			   __ATOMIC_RELAXED);
	return true;
}

void entry_sigsys(int sig, siginfo_t *si, void *ucv)
{
	vthread_t *vt = vt_current();
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;

	vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	/* an i386 call (int 0x80, where the kernel has IA-32 emulation)
	 * numbers its calls otherwise (20 is getpid there, writev here):
	 * cvmm runs x86-64 programs only */
	if (si->si_arch != AUDIT_ARCH_X86_64) {
		g[REG_RAX] = -ENOSYS;
		vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
		return;
	}
	if (vt->magic == VT_MAGIC_GUEST &&
	    entry_fast(vt, (unsigned long)g[REG_RAX], g)) {
		vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
		return;
	}
	fs_note_guest(vt);
	fs_set(vt->agent_fs);
	vt_trap_syscall(vt, uc);
	fs_set(vt->guest_fs);
	vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
}

void entry_fault(int sig, siginfo_t *si, void *ucv)
{
	vthread_t *vt = vt_current();
	/* BLOCK: the thread was running guest code, wherever its rip is now
	 * (a guest may jump anywhere, agent code included) */
	bool in_guest = vt->magic == VT_MAGIC_GUEST &&
			vt->selector == SYSCALL_DISPATCH_FILTER_BLOCK;

	/* a kick (vm_thread_kick) in agent code: nothing to do, and its FS
	 * may be either (entry code switching): touch nothing */
	if (sig == VM_SIG_KICK && !in_guest)
		return;
	if (vt->magic == VT_MAGIC_GUEST) {
		vt->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
		if (in_guest)
			fs_note_guest(vt);
		fs_set(vt->agent_fs);
	}
	vt_trap_fault(vt, sig, si, ucv, in_guest);
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

static cvmm_status_t entry_sigaction(int sig, void *handler, uint64_t mask,
				     unsigned long more)
{
	struct ksigaction ka = {
		.handler = handler,
		.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER | more,
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

	return confine_seccomp_install(prog, sizeof(prog) / sizeof(prog[0]),
				       "the guest's trap filter");
}

entry_mode_t entry_mode_get(void)
{
	return entry_mode;
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
	entry_fsgsbase = getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE;
	entry_wrfs = entry_fsgsbase && !getenv("CVMM_NO_FSGSBASE");
	log_debug("FS base switched by %s",
		  entry_wrfs ? "wrfsbase" : "arch_prctl");
	entry_vdso_clock = (int (*)(clockid_t, struct timespec *))(uintptr_t)
		vdso_host_sym(getauxval(AT_SYSINFO_EHDR),
			      "__vdso_clock_gettime");
	entry_xstate_probe(&entry_xs);
	log_debug("extended state: components 0x%lx, image %u bytes",
		  entry_xs.mask, entry_xs.size);
	if (entry_sigaction(SIGSYS, cvmm_sigsys_entry, 0, 0) != CVMM_OK)
		return CVMM_ERR_IO;
	for (unsigned i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		if (entry_sigaction(faults[i], cvmm_fault_entry, sysbit, 0) !=
		    CVMM_OK)
			return CVMM_ERR_IO;
	/* a kick (vm_thread_kick) that lands in agent code interrupts no
	 * call for good: SA_RESTART */
	if (entry_sigaction(VM_SIG_KICK, cvmm_fault_entry, sysbit,
			    SA_RESTART) != CVMM_OK)
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

/* The extended state of a new process: XSTATE_BV 0 (every component in its
 * initial state: registers zero, x87 control word 0x37f), MXCSR 0x1f80,
 * which XRSTOR loads whatever XSTATE_BV says. Without XSAVE the same as an
 * FXSAVE image: FXRSTOR then loads all eight x87 and sixteen XMM registers
 * with zeros (fninit alone would leave the x87 registers' contents). */
static void entry_xsave_clean(guest_regs_t *r)
{
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;

	memset(r->xsave, 0, XSAVE_MIN_LEN);
	memcpy(r->xsave + XSAVE_FCW, &fcw, sizeof(fcw));
	memcpy(r->xsave + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr));
}

void entry_enter(vthread_t *vt)
{
	guest_regs_t *r = &vt->start;
	uint64_t rfbm = entry_xs.mask;

	r->rflags = (r->rflags & ENTRY_RFLAGS_GUEST) | ENTRY_RFLAGS_FIXED;
	if (!r->xsave_len) {
		entry_xsave_clean(r);
		/* PKRU is no data register: a new thread keeps the kernel's
		 * default (the agent never changes its own) */
		rfbm &= ~(1ULL << XFEATURE_PKRU);
	} else if (!entry_xsave_valid(r->xsave, r->xsave_len, &entry_xs)) {
		vm_exit(&cvmm_vm, 125, "internal error: bad register image");
	}
	/* a GS base the guest set travels with it (arch_prctl refuses a
	 * non-canonical one: decoders check first) */
	if (r->gs)
		raw2(SYS_arch_prctl, ARCH_SET_GS, (long)r->gs);
	vt->guest_fs = r->fs;
	fs_set(vt->guest_fs);
	vt->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	cvmm_guest_enter(r, rfbm);
}

/* The kernel's XSAVE frame at fp: its xstate_size when the software bytes
 * (the legacy area's last 48) and both magics hold and the frame ends inside
 * the altstack block it sits on, else 0. */
static uint32_t entry_frame_xstate_size(const uint8_t *fp)
{
	uintptr_t block_end = ((uintptr_t)fp & ~(VT_ALT_SIZE - 1)) +
			      VT_ALT_SIZE;
	struct _fpx_sw_bytes sw;
	uint32_t magic2;

	memcpy(&sw, fp + 464, sizeof(sw));
	if (sw.magic1 != FP_XSTATE_MAGIC1 || sw.xstate_size < XSAVE_MIN_LEN ||
	    (uint64_t)sw.xstate_size + FP_XSTATE_MAGIC2_SIZE >
		    sw.extended_size ||
	    sw.extended_size > block_end - (uintptr_t)fp)
		return 0;
	memcpy(&magic2, fp + sw.xstate_size, sizeof(magic2));
	return magic2 == FP_XSTATE_MAGIC2 ? sw.xstate_size : 0;
}

void entry_xsave_from_frame(const ucontext_t *uc, guest_regs_t *r)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t len = XSAVE_LEGACY_LEN, size;
	uint64_t bv = 3; /* x87 and SSE: a frame's legacy area */

	r->xsave_len = 0;
	if (!fp)
		return;
	if (entry_xs.mask) {
		size = entry_frame_xstate_size(fp);
		len = size ? size : XSAVE_MIN_LEN;
		if (len > entry_xs.size)
			len = entry_xs.size;
		if (size)
			memcpy(&bv, fp + XSAVE_XSTATE_BV, sizeof(bv));
		memcpy(r->xsave, fp, size ? len : XSAVE_LEGACY_LEN);
		/* components not carried, or cut off by len, start clean */
		bv &= entry_xs.mask;
		for (unsigned i = 0; i < 64; i++)
			if ((bv >> i & 1) && entry_xs.end[i] > len)
				bv &= ~(1ULL << i);
		memset(r->xsave + XSAVE_XSTATE_BV, 0, XSAVE_HDR_LEN);
		memcpy(r->xsave + XSAVE_XSTATE_BV, &bv, sizeof(bv));
	} else {
		memcpy(r->xsave, fp, XSAVE_LEGACY_LEN);
	}
	if (!entry_xsave_valid(r->xsave, len, &entry_xs)) {
		log_warn("unusable register image in a signal frame: the new "
			 "thread starts with clean vector registers");
		return;
	}
	r->xsave_len = len;
}

void entry_regs_from_frame(const ucontext_t *uc, guest_regs_t *r)
{
	const greg_t *g = uc->uc_mcontext.gregs;

	r->r15 = (uint64_t)g[REG_R15]; r->r14 = (uint64_t)g[REG_R14];
	r->r13 = (uint64_t)g[REG_R13]; r->r12 = (uint64_t)g[REG_R12];
	r->r11 = (uint64_t)g[REG_R11]; r->r10 = (uint64_t)g[REG_R10];
	r->r9 = (uint64_t)g[REG_R9];   r->r8 = (uint64_t)g[REG_R8];
	r->rdi = (uint64_t)g[REG_RDI]; r->rsi = (uint64_t)g[REG_RSI];
	r->rbp = (uint64_t)g[REG_RBP]; r->rbx = (uint64_t)g[REG_RBX];
	r->rdx = (uint64_t)g[REG_RDX]; r->rcx = (uint64_t)g[REG_RCX];
	r->rax = (uint64_t)g[REG_RAX]; r->rip = (uint64_t)g[REG_RIP];
	r->rflags = (uint64_t)g[REG_EFL];
	r->rsp = (uint64_t)g[REG_RSP];
	r->fs = r->gs = 0;
	entry_xsave_from_frame(uc, r);
}
