/* Threads, ids, scheduling and arch_prctl. */
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "coherence/coh.h"
#include "common/log.h"
#include "core/entry.h"
#include "core/gmem.h"
#include "core/stats_coh.h"
#include "core/sys/sys.h"
#include "core/vm.h"

/* The flag set glibc's pthread_create uses; CLONE_DETACHED is ignored by
 * the kernel and accepted here too. */
#define THREAD_FLAGS_REQUIRED                                                 \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD)
#define THREAD_FLAGS_OPTIONAL                                                 \
	(CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |                 \
	 CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED)

typedef struct clone_req {
	uint64_t flags, stack, tls, parent_tid, child_tid;
} clone_req_t;

/* The child's registers: the parent's at the syscall, RAX = 0, the new
 * stack and TLS, RCX = RIP and R11 = RFLAGS as the syscall leaves them;
 * its GS base the parent's (as a native clone child's); its vector, mask
 * and x87 registers exactly the parent's (the XSAVE image of the trap
 * frame, entry_xsave_from_frame), never the agent's. */
static void clone_regs(const vthread_t *vt, const clone_req_t *req,
		       guest_regs_t *r)
{
	uint64_t gs = 0;

	memset(r, 0, sizeof(*r));
	entry_regs_from_frame(vt->uc, r);
	r->rflags = (r->rflags & ENTRY_RFLAGS_GUEST) | ENTRY_RFLAGS_FIXED;
	r->rcx = r->rip;
	r->r11 = r->rflags;
	r->rax = 0;
	if (req->stack)
		r->rsp = req->stack;
	r->fs = (req->flags & CLONE_SETTLS) ? req->tls : vt->guest_fs;
	/* the agent never sets GS: this thread's is the guest's (one only a
	 * 5-level-paging host takes would not start on another node: left
	 * to the host thread's inheritance, as 0) */
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
	r->gs = gs < GMEM_TASK_SIZE ? gs : 0;
}

static void tid_store(uint64_t addr, int tid)
{
	int *p = gmem_ptr(&cvmm_gmem, addr, sizeof(int), PROT_WRITE);

	if (p)
		__atomic_store_n(p, tid, __ATOMIC_SEQ_CST);
}

/* The new thread runs on another node: its tid is allocated here (tids are
 * unique per node range), written before it can run, and the registers
 * travel with the start message. */
static long clone_remote(const clone_req_t *req, const guest_regs_t *regs,
			 int target)
{
	uint64_t clear = 0;
	long ret;
	int tid;

	pthread_mutex_lock(&cvmm_vm.lock);
	tid = cvmm_vm.next_tid++;
	pthread_mutex_unlock(&cvmm_vm.lock);
	if (req->flags & CLONE_PARENT_SETTID)
		tid_store(req->parent_tid, tid);
	if (req->flags & CLONE_CHILD_SETTID)
		tid_store(req->child_tid, tid);
	if (req->flags & CLONE_CHILD_CLEARTID)
		clear = req->child_tid;
	coh_rt_release(); /* the child may touch those words at once */
	ret = cvmm_vm.nodes->thread_start(target, tid, regs, clear, 0);
	return ret ? ret : tid;
}

static long clone_start(vthread_t *vt, const clone_req_t *req)
{
	uint64_t bad = req->flags & ~(uint64_t)(THREAD_FLAGS_REQUIRED |
						THREAD_FLAGS_OPTIONAL | 0xff);
	guest_regs_t regs;
	vthread_t *child;
	long ret;
	int tid;

	if ((req->flags & THREAD_FLAGS_REQUIRED) != THREAD_FLAGS_REQUIRED ||
	    bad) {
		log_warn("clone flags 0x%lx: only threads are supported",
			 req->flags);
		return -EINVAL;
	}
	/* as ARCH_SET_FS: no thread starts with an FS base past user space
	 * (the agent could not even load a non-canonical one) */
	if ((req->flags & CLONE_SETTLS) && req->tls >= GMEM_TASK_SIZE)
		return -EPERM;
	clone_regs(vt, req, &regs);
	if (cvmm_vm.nodes) {
		int target = cvmm_vm.nodes->place();

		if (target != cvmm_vm.node)
			return clone_remote(req, &regs, target);
	}
	child = vm_thread_new(&cvmm_vm, &regs);
	if (!child)
		return -ENOMEM;
	tid = child->tid; /* child may exit before we return */
	/* The tids are written before the child can run; like Linux, a bad
	 * address there is not an error. */
	if (req->flags & CLONE_PARENT_SETTID)
		tid_store(req->parent_tid, child->tid);
	if (req->flags & CLONE_CHILD_SETTID)
		tid_store(req->child_tid, child->tid);
	if (req->flags & CLONE_CHILD_CLEARTID)
		child->clear_tid = req->child_tid;
	ret = vm_thread_run(&cvmm_vm, child);
	return ret ? ret : tid;
}

/* clone(flags, stack, parent_tid, child_tid, tls) */
long sys_clone(vthread_t *vt, const uint64_t a[6])
{
	clone_req_t req = { .flags = a[0], .stack = a[1], .parent_tid = a[2],
			    .child_tid = a[3], .tls = a[4] };

	return clone_start(vt, &req);
}

/* clone3(struct clone_args *, size) */
long sys_clone3(vthread_t *vt, const uint64_t a[6])
{
	const struct clone_args *ca;
	clone_req_t req;
	uint64_t lo;
	long ret;

	if (a[1] > 4096)
		return -E2BIG;
	if (a[1] < 64)
		return -EINVAL;
	/* Linux reads all of the size given (what lies past its own struct
	 * must be zeros): all of it must be readable */
	ca = gmem_ptr(&cvmm_gmem, a[0], a[1], PROT_READ);
	if (!ca)
		return -EFAULT;
	/* glibc fills pidfd even without CLONE_PIDFD; the flag check refuses it. */
	if (ca->exit_signal || (ca->stack && !ca->stack_size))
		return -EINVAL;
	req = (clone_req_t){ .flags = ca->flags,
			     .stack = ca->stack ? ca->stack + ca->stack_size : 0,
			     .tls = ca->tls, .parent_tid = ca->parent_tid,
			     .child_tid = ca->child_tid };
	lo = ca->stack;
	ret = clone_start(vt, &req);
	if (ret > 0 && lo)
		stats_thread_stack((int)ret, lo, req.stack);
	return ret;
}

/* exit(status): ends the calling thread only */
long sys_exit(vthread_t *vt, const uint64_t a[6])
{
	vm_thread_exit(vt);
}

/* exit_group(status) */
long sys_exit_group(vthread_t *vt, const uint64_t a[6])
{
	vm_exit(&cvmm_vm, (int)(a[0] & 0xff), NULL);
}

/* set_tid_address(tidptr) */
long sys_set_tid_address(vthread_t *vt, const uint64_t a[6])
{
	vt->clear_tid = a[0];
	return vt->tid;
}

/* set_robust_list(head, len) */
long sys_set_robust_list(vthread_t *vt, const uint64_t a[6])
{
	if (a[1] != 24)
		return -EINVAL;
	vt->robust_list = a[0];
	vt->robust_len = a[1];
	return 0;
}

/* get_robust_list(pid, head_ptr, len_ptr) */
long sys_get_robust_list(vthread_t *vt, const uint64_t a[6])
{
	uint64_t *head = gmem_ptr(&cvmm_gmem, a[1], 8, PROT_WRITE);
	uint64_t *len = gmem_ptr(&cvmm_gmem, a[2], 8, PROT_WRITE);

	if (a[0] && (int)a[0] != vt->tid)
		return -ESRCH;
	if (!head || !len)
		return -EFAULT;
	*head = vt->robust_list;
	*len = vt->robust_len;
	return 0;
}

/* arch_prctl(code, addr) */
long sys_arch_prctl(vthread_t *vt, const uint64_t a[6])
{
	uint64_t *out;

	switch (a[0]) {
	case ARCH_SET_FS:
		if (a[1] >= GMEM_TASK_SIZE) /* Linux: TASK_SIZE_MAX */
			return -EPERM;
		vt->guest_fs = a[1]; /* loaded when the handler returns */
		return 0;
	case ARCH_GET_FS:
		out = gmem_ptr(&cvmm_gmem, a[1], 8, PROT_WRITE);
		if (!out)
			return -EFAULT;
		*out = vt->guest_fs;
		return 0;
	case ARCH_SET_GS:
		return syscall(SYS_arch_prctl, ARCH_SET_GS, a[1]) ? -errno : 0;
	case ARCH_GET_GS: {
		uint64_t gs = 0;

		out = gmem_ptr(&cvmm_gmem, a[1], 8, PROT_WRITE);
		if (!out)
			return -EFAULT;
		syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
		*out = gs;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* getpid() */
long sys_getpid(vthread_t *vt, const uint64_t a[6]) { return cvmm_vm.pid; }
/* gettid() */
long sys_gettid(vthread_t *vt, const uint64_t a[6]) { return vt->tid; }
/* getppid() */
long sys_getppid(vthread_t *vt, const uint64_t a[6]) { return getppid(); }
/* getuid() */
long sys_getuid(vthread_t *vt, const uint64_t a[6]) { return getuid(); }
/* geteuid() */
long sys_geteuid(vthread_t *vt, const uint64_t a[6]) { return geteuid(); }
/* getgid() */
long sys_getgid(vthread_t *vt, const uint64_t a[6]) { return getgid(); }
/* getegid() */
long sys_getegid(vthread_t *vt, const uint64_t a[6]) { return getegid(); }
/* getpgrp() */
long sys_getpgrp(vthread_t *vt, const uint64_t a[6]) { return getpgrp(); }

/* getpgid(pid) */
long sys_getpgid(vthread_t *vt, const uint64_t a[6])
{
	return a[0] && (int)a[0] != cvmm_vm.pid ? -ESRCH : getpgrp();
}

/* getsid(pid) */
long sys_getsid(vthread_t *vt, const uint64_t a[6])
{
	return a[0] && (int)a[0] != cvmm_vm.pid ? -ESRCH : getsid(0);
}

/* sched_yield() */
long sys_sched_yield(vthread_t *vt, const uint64_t a[6])
{
	sched_yield();
	return 0;
}

/* sched_getaffinity(pid, len, mask): exactly the VM's vCPUs */
long sys_sched_getaffinity(vthread_t *vt, const uint64_t a[6])
{
	size_t need = (((size_t)cvmm_vm.nvcpus + 63) / 64) * 8;
	uint8_t *mask;

	if (a[1] < need || (a[1] & 7))
		return -EINVAL;
	mask = gmem_ptr(&cvmm_gmem, a[2], need, PROT_WRITE);
	if (!mask)
		return -EFAULT;
	memset(mask, 0, need);
	for (int i = 0; i < cvmm_vm.nvcpus; i++)
		mask[i / 8] |= (uint8_t)(1u << (i % 8));
	return (long)need;
}

/* sched_setaffinity(pid, len, mask): as Linux, only the bytes of a mask
 * of the VM's size are read (len 0: none, an empty mask) */
long sys_sched_setaffinity(vthread_t *vt, const uint64_t a[6])
{
	size_t need = (((size_t)cvmm_vm.nvcpus + 63) / 64) * 8;
	size_t n = a[1] < need ? (size_t)a[1] : need;
	const uint8_t *mask = NULL;

	if (n && !(mask = gmem_ptr(&cvmm_gmem, a[2], n, PROT_READ)))
		return -EFAULT;
	if (a[0] && (int)a[0] != vt->tid)
		return n ? 0 : -EINVAL; /* other threads: accepted, not moved */
	for (int i = 0; i < cvmm_vm.nvcpus && (size_t)i / 8 < n; i++) {
		if (mask[i / 8] & (1u << (i % 8))) {
			vm_thread_move(&cvmm_vm, vt, i);
			return 0;
		}
	}
	return -EINVAL;
}

/* getcpu(cpu, node, cache) */
long sys_getcpu(vthread_t *vt, const uint64_t a[6])
{
	unsigned *cpu = a[0] ? gmem_ptr(&cvmm_gmem, a[0], 4, PROT_WRITE) : NULL;
	unsigned *node = a[1] ? gmem_ptr(&cvmm_gmem, a[1], 4, PROT_WRITE)
			      : NULL;

	if ((a[0] && !cpu) || (a[1] && !node))
		return -EFAULT;
	if (cpu)
		*cpu = (unsigned)vt->vcpu;
	if (node)
		*node = 0;
	return 0;
}

/* prctl(option, ...) */
long sys_prctl(vthread_t *vt, const uint64_t a[6])
{
	char *name;

	switch (a[0]) {
	case PR_SET_NAME: {
		/* Linux copies up to 15 bytes, to the NUL: a fault before
		 * either is EFAULT, a longer name is cut */
		char comm[16];

		return gmem_strcpy(&cvmm_gmem, a[1], comm, 15) == -EFAULT
			       ? -EFAULT
			       : 0;
	}
	case PR_GET_NAME:
		name = gmem_ptr(&cvmm_gmem, a[1], 16, PROT_WRITE);
		if (!name)
			return -EFAULT;
		snprintf(name, 16, "cvmm-%d", vt->tid);
		return 0;
	case PR_GET_DUMPABLE:
		return 1;
	case PR_SET_DUMPABLE:
	case PR_SET_PDEATHSIG:
		return 0;
	default:
		return -EINVAL;
	}
}

/* sched_getscheduler(pid) */
long sys_sched_getscheduler(vthread_t *vt, const uint64_t a[6])
{
	return SCHED_OTHER;
}

/* sched_getparam(pid, param) */
long sys_sched_getparam(vthread_t *vt, const uint64_t a[6])
{
	int *prio;

	if (!a[1] || (int)a[0] < 0)
		return -EINVAL;
	prio = gmem_ptr(&cvmm_gmem, a[1], sizeof(int), PROT_WRITE);
	if (!prio)
		return -EFAULT;
	*prio = 0;
	return 0;
}

/* sched_setscheduler(pid, policy, param): the parameter is read and
 * checked in Linux's order (EINVAL for NULL, EFAULT, then the priority
 * the policy allows), then accepted without effect */
long sys_sched_setscheduler(vthread_t *vt, const uint64_t a[6])
{
	int policy = (int)a[1];
	const int *prio;

	if (policy < 0 || !a[2] || (int)a[0] < 0)
		return -EINVAL;
	prio = gmem_ptr(&cvmm_gmem, a[2], sizeof(int), PROT_READ);
	if (!prio)
		return -EFAULT;
	if (policy == SCHED_OTHER || policy == SCHED_BATCH ||
	    policy == SCHED_IDLE)
		return *prio == 0 ? 0 : -EINVAL;
	return -EPERM;
}

/* sched_get_priority_max(policy) */
long sys_sched_get_priority_max(vthread_t *vt, const uint64_t a[6])
{
	return (int)a[0] == SCHED_FIFO || (int)a[0] == SCHED_RR ? 99 : 0;
}

/* sched_get_priority_min(policy) */
long sys_sched_get_priority_min(vthread_t *vt, const uint64_t a[6])
{
	return (int)a[0] == SCHED_FIFO || (int)a[0] == SCHED_RR ? 1 : 0;
}

/* getpriority(which, who): the kernel's 20 - nice form */
long sys_getpriority(vthread_t *vt, const uint64_t a[6])
{
	return 20;
}

/* setpriority(which, who, prio) */
long sys_setpriority(vthread_t *vt, const uint64_t a[6])
{
	return 0;
}
