/* The syscall table: what cvmm does for each x86-64 syscall number, and the
 * dispatcher. `cvmm syscalls` prints this array; test_systab checks it. */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "coherence/coh.h"
#include "common/log.h"
#include "core/stats.h"
#include "core/sys/sys.h"
#include "core/vm.h"

#define FULL(n, w)       [SYS_##n] = { #n, sys_##n, SYS_FULL, w, 0, NULL }
#define PART(n, w, note) [SYS_##n] = { #n, sys_##n, SYS_PARTIAL, w, 0, note }
#define ERR(n, e, note)  [SYS_##n] = { #n, NULL, SYS_ERROR, SYS_LOCAL, e, note }

const sys_entry_t sys_table[SYS_NR_MAX] = {
	/* file and console I/O: the I/O server */
	FULL(read, SYS_IOSRV), FULL(write, SYS_IOSRV),
	FULL(pread64, SYS_IOSRV), FULL(pwrite64, SYS_IOSRV),
	FULL(readv, SYS_IOSRV), FULL(writev, SYS_IOSRV),
	FULL(preadv, SYS_IOSRV), FULL(pwritev, SYS_IOSRV),
	FULL(open, SYS_IOSRV), FULL(openat, SYS_IOSRV), FULL(creat, SYS_IOSRV),
	FULL(close, SYS_IOSRV), FULL(lseek, SYS_IOSRV), FULL(fstat, SYS_IOSRV),
	FULL(stat, SYS_IOSRV), FULL(lstat, SYS_IOSRV),
	FULL(newfstatat, SYS_IOSRV), FULL(statx, SYS_IOSRV),
	FULL(getdents64, SYS_IOSRV),
	PART(fcntl, SYS_IOSRV, "file locks and signals-on-io unsupported"),
	FULL(dup, SYS_IOSRV), FULL(dup2, SYS_IOSRV), FULL(dup3, SYS_IOSRV),
	FULL(pipe, SYS_IOSRV), FULL(pipe2, SYS_IOSRV),
	FULL(unlink, SYS_IOSRV), FULL(unlinkat, SYS_IOSRV),
	FULL(mkdir, SYS_IOSRV), FULL(mkdirat, SYS_IOSRV),
	FULL(rmdir, SYS_IOSRV), FULL(rename, SYS_IOSRV),
	FULL(renameat, SYS_IOSRV),
	PART(renameat2, SYS_IOSRV, "flags must be 0"),
	PART(ioctl, SYS_IOSRV, "terminal get/set, window size, FIONREAD, FIONBIO, FIOCLEX"),
	FULL(access, SYS_IOSRV), FULL(faccessat, SYS_IOSRV),
	FULL(faccessat2, SYS_IOSRV), FULL(readlink, SYS_IOSRV),
	FULL(readlinkat, SYS_IOSRV), FULL(getcwd, SYS_IOSRV),
	FULL(chdir, SYS_IOSRV), FULL(fchdir, SYS_IOSRV),
	FULL(ftruncate, SYS_IOSRV), FULL(fsync, SYS_IOSRV),
	FULL(fdatasync, SYS_IOSRV), FULL(poll, SYS_IOSRV),
	FULL(ppoll, SYS_IOSRV), FULL(sendfile, SYS_IOSRV),

	/* memory layout: decided once for the VM */
	FULL(brk, SYS_VM),
	PART(mmap, SYS_VM, "file mappings are private copies"),
	FULL(munmap, SYS_VM), FULL(mprotect, SYS_VM), FULL(madvise, SYS_VM),
	FULL(mremap, SYS_VM),
	PART(msync, SYS_LOCAL, "nothing to write back: file mappings are "
	     "copies, shared ones read-only"),

	/* threads and ids */
	PART(clone, SYS_LOCAL, "threads only (glibc's pthread flag set); "
	     "the thread starts where --placement says"),
	PART(clone3, SYS_LOCAL, "threads only (glibc's pthread flag set); "
	     "the thread starts where --placement says"),
	FULL(exit, SYS_LOCAL), FULL(exit_group, SYS_VM),
	FULL(set_tid_address, SYS_LOCAL),
	PART(set_robust_list, SYS_LOCAL, "kept, not walked at thread exit"),
	FULL(get_robust_list, SYS_LOCAL),
	ERR(rseq, ENOSYS, "glibc falls back to getcpu"),
	PART(arch_prctl, SYS_LOCAL, "FS and GS bases only"),
	FULL(getpid, SYS_LOCAL), FULL(gettid, SYS_LOCAL),
	FULL(getppid, SYS_LOCAL), FULL(getuid, SYS_LOCAL),
	FULL(geteuid, SYS_LOCAL), FULL(getgid, SYS_LOCAL),
	FULL(getegid, SYS_LOCAL), FULL(getpgrp, SYS_LOCAL),
	FULL(getpgid, SYS_LOCAL), FULL(getsid, SYS_LOCAL),
	FULL(sched_yield, SYS_LOCAL), FULL(sched_getaffinity, SYS_LOCAL),
	PART(sched_setaffinity, SYS_LOCAL, "moves the thread to the first vCPU"),
	FULL(getcpu, SYS_LOCAL),
	PART(prctl, SYS_LOCAL, "names and a few queries only"),
	FULL(sched_getscheduler, SYS_LOCAL), FULL(sched_getparam, SYS_LOCAL),
	PART(sched_setscheduler, SYS_LOCAL, "accepted, no effect"),
	FULL(sched_get_priority_max, SYS_LOCAL),
	FULL(sched_get_priority_min, SYS_LOCAL),
	FULL(getpriority, SYS_LOCAL),
	PART(setpriority, SYS_LOCAL, "accepted, no effect"),

	/* synchronisation */
	PART(futex, SYS_FUTEX, "no PI, WAKE_OP or LOCK ops"),

	/* signals: virtual dispositions, no delivery to guest handlers */
	PART(rt_sigaction, SYS_VM, "recorded; guest handlers never run"),
	FULL(rt_sigprocmask, SYS_LOCAL),
	ERR(rt_sigreturn, ENOSYS, "no guest signal frames"),
	FULL(sigaltstack, SYS_LOCAL),
	PART(kill, SYS_VM, "to the guest itself: default action"),
	PART(tgkill, SYS_VM, "to the guest itself: default action"),
	PART(tkill, SYS_VM, "to the guest itself: default action"),
	FULL(rt_sigpending, SYS_LOCAL),
	ERR(rt_sigtimedwait, ENOSYS, "no guest signal delivery"),
	ERR(pause, ENOSYS, "no guest signal delivery"),

	/* time */
	FULL(clock_gettime, SYS_LOCAL), FULL(clock_getres, SYS_LOCAL),
	FULL(gettimeofday, SYS_LOCAL), FULL(time, SYS_LOCAL),
	FULL(nanosleep, SYS_LOCAL), FULL(clock_nanosleep, SYS_LOCAL),
	FULL(times, SYS_LOCAL), PART(getrusage, SYS_LOCAL, "whole agent"),

	/* system information */
	FULL(uname, SYS_LOCAL), FULL(sysinfo, SYS_LOCAL),
	PART(prlimit64, SYS_LOCAL, "own process only; limits kept, not enforced"),
	FULL(getrlimit, SYS_LOCAL),
	PART(setrlimit, SYS_LOCAL, "kept, not enforced"),
	FULL(getrandom, SYS_LOCAL), FULL(umask, SYS_IOSRV),

	/* deliberately refused */
	ERR(fork, ENOSYS, "one process per VM"),
	ERR(vfork, ENOSYS, "one process per VM"),
	ERR(execve, ENOSYS, "one program per VM"),
	ERR(execveat, ENOSYS, "one program per VM"),
	ERR(wait4, ECHILD, "no child processes"),
	ERR(ptrace, EPERM, "not inside a VM"),
	ERR(membarrier, ENOSYS, "not needed on an SC machine"),
	ERR(io_uring_setup, ENOSYS, "use read/write"),
	ERR(socket, EAFNOSUPPORT, "no guest networking"),
};

const char *sys_name(unsigned long nr)
{
	if (nr >= SYS_NR_MAX)
		return NULL;
	return sys_table[nr].name ? sys_table[nr].name : sys_names[nr];
}

/* Logs an unsupported call once per number; under --strict stops the VM as
 * a kernel with a seccomp kill filter would (128 + SIGSYS). */
static void sys_unsupported(vthread_t *vt, unsigned long nr)
{
	static uint8_t seen[SYS_NR_MAX + 1];
	const char *name = sys_name(nr);
	uint64_t rip = vt->uc ? (uint64_t)vt->uc->uc_mcontext.gregs[REG_RIP]
			      : 0;
	char msg[160];

	if (cvmm_vm.strict) {
		snprintf(msg, sizeof(msg),
			 "guest thread %d: unsupported syscall %s (%lu) at rip "
			 "0x%lx: stopping (--strict)",
			 vt->tid, name ? name : "unknown", nr, rip);
		vm_exit(&cvmm_vm, 128 + SIGSYS, msg);
	}
	if (__atomic_exchange_n(&seen[nr < SYS_NR_MAX ? nr : SYS_NR_MAX], 1,
				__ATOMIC_RELAXED))
		return;
	log_warn("unsupported syscall %s (%lu) at rip 0x%lx: returning ENOSYS",
		 name ? name : "unknown", nr, rip);
}

long sys_execute(vthread_t *vt, unsigned long nr, const uint64_t a[6])
{
	const sys_entry_t *e;

	if (nr >= SYS_NR_MAX) {
		sys_unsupported(vt, nr);
		return -ENOSYS;
	}
	e = &sys_table[nr];
	if (e->fn) {
		long ret = e->fn(vt, a);

		/* As the kernel does: writing to a pipe with no reader also
		 * raises SIGPIPE (the agent itself ignores it). */
		if (ret == -EPIPE && e->where == SYS_IOSRV)
			sys_signal_self(vt, SIGPIPE);
		return ret;
	}
	if (e->level == SYS_ERROR)
		return -e->err;
	sys_unsupported(vt, nr);
	return -ENOSYS;
}

bool sys_runs_on_node0(unsigned long nr)
{
	const sys_entry_t *e;

	if (nr >= SYS_NR_MAX)
		return false;
	e = &sys_table[nr];
	return e->fn && (e->where == SYS_IOSRV || e->where == SYS_VM);
}

long sys_dispatch(vthread_t *vt, unsigned long nr, const uint64_t a[6])
{
	const vm_node_ops_t *nodes = cvmm_vm.nodes;
	long ret;

	if (nr < SYS_NR_MAX)
		__atomic_fetch_add(&stats_sys_count[nr], 1, __ATOMIC_RELAXED);
	if (!nodes)
		return sys_execute(vt, nr, a);
	/* --memory-model=release: every call is a release and an acquire
	 * (docs/coherence.md): what the thread wrote reaches the homes
	 * before the call can make it visible (a futex wake, a write to a
	 * pipe, a thread started), and what others released before the call
	 * returned is seen after it */
	coh_rt_sync_release();
	if (cvmm_vm.node != 0 && sys_runs_on_node0(nr))
		ret = nodes->syscall(vt, nr, a);
	else
		ret = sys_execute(vt, nr, a);
	coh_rt_release(); /* pages the call wrote may move again */
	coh_rt_sync_acquire();
	return ret;
}

static const char *const level_names[] = {
	[SYS_MISSING] = "missing", [SYS_FULL] = "full",
	[SYS_PARTIAL] = "partial", [SYS_ERROR] = "error",
};
static const char *const where_names[] = {
	[SYS_LOCAL] = "local", [SYS_FUTEX] = "futex-home",
	[SYS_IOSRV] = "io-server", [SYS_VM] = "vm",
};

int sys_table_print(const char *format)
{
	bool csv = strcmp(format, "csv") == 0;
	unsigned counts[4] = { 0 };

	if (!csv && strcmp(format, "table") != 0)
		return 0;
	printf(csv ? "nr,name,support,where,errno,note\n"
		   : "%4s  %-24s %-8s %-10s %s\n",
	       "nr", "name", "support", "where", "note");
	for (unsigned nr = 0; nr < SYS_NR_MAX; nr++) {
		const sys_entry_t *e = &sys_table[nr];
		const char *name = sys_name(nr);
		char note[160];

		if (!name)
			continue;
		counts[e->level]++;
		snprintf(note, sizeof(note), "%s%s%s",
			 e->level == SYS_ERROR ? strerrorname_np(e->err) : "",
			 e->level == SYS_ERROR && e->note ? ": " : "",
			 e->note ? e->note : "");
		if (csv)
			printf("%u,%s,%s,%s,%d,\"%s\"\n", nr, name,
			       level_names[e->level], where_names[e->where],
			       e->err, note);
		else
			printf("%4u  %-24s %-8s %-10s %s\n", nr, name,
			       level_names[e->level],
			       e->level == SYS_MISSING ? "-"
						       : where_names[e->where],
			       note);
	}
	if (!csv)
		printf("\n%u full, %u partial, %u refused with an error, "
		       "%u missing (ENOSYS)\n",
		       counts[SYS_FULL], counts[SYS_PARTIAL],
		       counts[SYS_ERROR], counts[SYS_MISSING]);
	if (!csv)
		printf("where, on a VM of several nodes: local = the calling "
		       "node; futex-home = the node\nthat is home of the futex "
		       "word; io-server = the I/O server on node 0; vm = node "
		       "0,\nfor the whole VM. On one node everything runs "
		       "locally.\n");
	return 1;
}
