/* Landlock and no_new_privs for the threads that run guest code (confine.h).
 *
 * Rights handled are every file-system right the kernel's ABI knows, so
 * anything not granted below is refused: EXECUTE is granted nowhere (no
 * host program can be started, not even through the dynamic loader),
 * writes only inside --root and /dev/shm. */
#include "core/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* entry_asm.S: the SA_RESTORER stub, the region SUD lets through */
extern char cvmm_sigreturn_stub[], cvmm_sigreturn_stub_end[];

/* Rights newer than Debian 12's header. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* What a file (not a directory) rule may carry. */
#define FS_FILE_RIGHTS                                                      \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |       \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |       \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

static int ruleset = -1;
static uint64_t handled;
static __thread bool confined;

int confine_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

/* Every file-system right ABI abi knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

/* Grants rights beneath path (a directory, or a file: then only the file
 * rights apply). A path that does not exist is skipped (false); other
 * failures are logged. */
static bool rule_add(const char *path, uint64_t rights)
{
	struct landlock_path_beneath_attr pb = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		rights &= FS_FILE_RIGHTS;
	pb.allowed_access = rights & handled;
	pb.parent_fd = fd;
	ok = syscall(SYS_landlock_add_rule, ruleset,
		     LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == 0;
	if (!ok)
		log_warn("landlock rule for %s: %m", path);
	close(fd);
	return ok;
}

cvmm_status_t confine_init(const char *root, const char *exe)
{
	static const char *const libs[] = {
		"/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
		"/etc/ld.so.cache", "/etc/ucx", "/usr/share/ucx",
	};
	static const char *const devs[] = {
		"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom",
	};
	struct landlock_ruleset_attr attr = { 0 };
	int abi = confine_landlock_abi();

	if (abi < 1) {
		log_warn("this kernel has no landlock: guest threads run "
			 "unconfined (see cvmm info)");
		return CVMM_OK;
	}
	handled = fs_rights(abi);
	attr.handled_access_fs = handled;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
			       sizeof(attr), 0);
	if (ruleset < 0) {
		log_error("landlock: cannot create a rule set: %m");
		return CVMM_ERR_IO;
	}
	if (!rule_add(root, handled & ~(uint64_t)(LANDLOCK_ACCESS_FS_EXECUTE |
						   LANDLOCK_ACCESS_FS_MAKE_CHAR |
						   LANDLOCK_ACCESS_FS_MAKE_BLOCK))) {
		log_error("landlock: cannot grant the guest root %s", root);
		close(ruleset);
		ruleset = -1;
		return CVMM_ERR_IO;
	}
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		rule_add(libs[i], FS_READ);
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
		rule_add(devs[i], LANDLOCK_ACCESS_FS_READ_FILE |
					  LANDLOCK_ACCESS_FS_WRITE_FILE);
	rule_add("/proc/self", FS_READ);
	if (exe)
		rule_add(exe, LANDLOCK_ACCESS_FS_READ_FILE);
	rule_add("/dev/shm", handled & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE);
	log_debug("landlock abi %d: guest threads confined to %s", abi, root);
	return CVMM_OK;
}

cvmm_status_t confine_thread(bool inherited)
{
	if (ruleset < 0 || confined)
		return CVMM_OK;
	if (!inherited &&
	    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	     syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)) {
		log_error("landlock: cannot confine a guest thread: %m");
		return CVMM_ERR_IO;
	}
	confined = true;
	return CVMM_OK;
}

/* ---- every thread of the process ---- */

/* Landlock confines the calling thread only (this kernel has no flag to
 * apply a domain to every thread), so the threads that started before the
 * guest (the transport's progress thread, UCX's async thread) are asked,
 * by a signal, to confine themselves: a guest that took one of them over
 * through shared memory would otherwise hold an unconfined thread. */
#define SWEEP_MAX 256 /* threads an agent has before its guest: a few */

static pid_t sweep_acked[SWEEP_MAX]; /* tids whose handler ran */
/* sweep_nacked: handlers run (each wakes the sweep: a futex word) */
static int sweep_nacked, sweep_failed;

static void confine_on_signal(int sig)
{
	int e = errno, i;

	(void)sig;
	if (!confined) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
			__atomic_fetch_add(&sweep_failed, 1, __ATOMIC_SEQ_CST);
		else
			confined = true;
	}
	i = __atomic_fetch_add(&sweep_nacked, 1, __ATOMIC_SEQ_CST);
	if (i < SWEEP_MAX)
		__atomic_store_n(&sweep_acked[i], (pid_t)syscall(SYS_gettid),
				 __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &sweep_nacked, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
		0);
	errno = e;
}

static bool tid_in(const pid_t *v, int n, pid_t tid)
{
	for (int i = 0; i < n && i < SWEEP_MAX; i++)
		if (__atomic_load_n(&v[i], __ATOMIC_SEQ_CST) == tid)
			return true;
	return false;
}

/* True when thread tid confined itself or is gone. */
static bool tid_settled(pid_t tid)
{
	char path[64];

	if (tid_in(sweep_acked, __atomic_load_n(&sweep_nacked,
						__ATOMIC_SEQ_CST), tid))
		return true;
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	return access(path, F_OK) != 0;
}

/* Signals every thread of the process not yet in sent[0..*n) (nor self),
 * adding it there. Returns how many were signalled, -1 on error. */
static int sweep_signal(pid_t pid, pid_t self, pid_t *sent, int *n)
{
	struct dirent *d;
	int fresh = 0;
	DIR *dir = opendir("/proc/self/task");

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);

		if (tid <= 0 || tid == self || tid_in(sent, *n, tid))
			continue;
		if (*n == SWEEP_MAX) {
			closedir(dir);
			errno = E2BIG;
			return -1;
		}
		if (syscall(SYS_tgkill, pid, tid, SIGRTMAX) == 0) {
			sent[(*n)++] = tid;
			fresh++;
		}
	}
	closedir(dir);
	return fresh;
}

cvmm_status_t confine_process(void)
{
	struct sigaction sa = { .sa_handler = confine_on_signal,
				.sa_flags = SA_RESTART };
	static pid_t sent[SWEEP_MAX];
	pid_t pid = getpid(), self = (pid_t)syscall(SYS_gettid);
	int n = 0, fresh, late;

	if (ruleset < 0)
		return CVMM_OK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMAX, &sa, NULL) != 0) {
		log_error("landlock: cannot reach the agent's threads: %m");
		return CVMM_ERR_IO;
	}
	/* again until no thread is new: one started meanwhile by a thread
	 * not yet confined would not inherit the confinement */
	while ((fresh = sweep_signal(pid, self, sent, &n)) > 0) {
		struct timespec t0, now;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			/* a handler's ack wakes this at once (a 1 ms wait
			 * each round was most of the confinement's ~1.3 ms);
			 * a thread that ended without one is seen within
			 * the next millisecond */
			int acks = __atomic_load_n(&sweep_nacked,
						   __ATOMIC_SEQ_CST);
			struct timespec ms = { 0, 1000000 };

			late = 0;
			for (int i = 0; i < n; i++)
				late += !tid_settled(sent[i]);
			if (!late)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= 5) {
				log_error("landlock: %d of the agent's %d other "
					  "threads did not confine themselves",
					  late, n);
				return CVMM_ERR_IO;
			}
			syscall(SYS_futex, &sweep_nacked, FUTEX_WAIT_PRIVATE,
				acks, &ms, NULL, 0);
		}
	}
	if (fresh < 0) {
		log_error("landlock: cannot reach the agent's threads: %m");
		return CVMM_ERR_IO;
	}
	if (sweep_failed) {
		log_error("landlock: %d of the agent's threads could not be "
			  "confined", sweep_failed);
		return CVMM_ERR_IO;
	}
	log_debug("landlock: %d threads started before the guest confined",
		  n);
	return confine_thread(false);
}

bool confine_thread_confined(void)
{
	return ruleset < 0 || confined;
}

/* ---- the seccomp filter ---- */

/* What agent threads call after start-up, hottest first (the filter is a
 * linear scan): the fault path and the transport (futex, epoll, uffd
 * ioctls, sockets, shared memory), the calls the syscall families make for
 * the guest (src/core/sys/, src/iosrv/), and what glibc, UCX, hwloc and
 * jansson use on their way (collected with strace -f over the guests on
 * one, two and four nodes, then completed by family: a call whose sibling
 * is here is here too). Anything else is ENOSYS: libraries treat it as an
 * old kernel and fall back. */
static const unsigned short agent_calls[] = {
	SYS_futex, SYS_epoll_wait, SYS_epoll_pwait, SYS_ioctl, SYS_read,
	SYS_write, SYS_sendmsg, SYS_recvmsg, SYS_sendto, SYS_recvfrom,
	SYS_sched_yield, SYS_poll, SYS_ppoll, SYS_mprotect, SYS_madvise,
	SYS_fallocate, SYS_pread64, SYS_pwrite64, SYS_clock_gettime,
	SYS_clock_nanosleep, SYS_nanosleep, SYS_gettid, SYS_getpid,
	SYS_rt_sigprocmask, SYS_rt_sigreturn,
	/* memory */
	SYS_mmap, SYS_munmap, SYS_mremap, SYS_brk, SYS_msync, SYS_mincore,
	SYS_mlock, SYS_munlock, SYS_mbind, SYS_set_mempolicy,
	SYS_get_mempolicy, SYS_membarrier, SYS_memfd_create, SYS_shmget,
	SYS_shmat, SYS_shmdt, SYS_shmctl,
	/* files */
	SYS_open, SYS_openat, SYS_openat2, SYS_creat, SYS_close,
	SYS_close_range, SYS_readv, SYS_writev, SYS_preadv, SYS_pwritev,
	SYS_preadv2, SYS_pwritev2, SYS_lseek, SYS_stat, SYS_fstat, SYS_lstat,
	SYS_newfstatat, SYS_statx, SYS_statfs, SYS_fstatfs, SYS_access,
	SYS_faccessat, SYS_faccessat2, SYS_readlink, SYS_readlinkat,
	SYS_getdents64, SYS_getcwd, SYS_chdir, SYS_fchdir, SYS_mkdir,
	SYS_mkdirat, SYS_rmdir, SYS_unlink, SYS_unlinkat, SYS_rename,
	SYS_renameat, SYS_renameat2, SYS_link, SYS_linkat, SYS_symlink,
	SYS_symlinkat, SYS_ftruncate, SYS_truncate, SYS_fsync,
	SYS_fdatasync, SYS_fcntl, SYS_flock, SYS_dup, SYS_dup2, SYS_dup3,
	SYS_pipe, SYS_pipe2, SYS_sendfile, SYS_copy_file_range, SYS_splice,
	SYS_tee, SYS_umask, SYS_chmod, SYS_fchmod, SYS_fchmodat,
	SYS_utimensat, SYS_fadvise64,
	/* waiting and events */
	SYS_epoll_create, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait2,
	SYS_eventfd, SYS_eventfd2, SYS_timerfd_create, SYS_timerfd_settime,
	SYS_timerfd_gettime, SYS_signalfd4, SYS_select, SYS_pselect6,
	SYS_alarm, SYS_setitimer, SYS_getitimer, SYS_timer_create,
	SYS_timer_settime, SYS_timer_gettime, SYS_timer_getoverrun,
	SYS_timer_delete,
	/* sockets (the bootstrap and UCX's TCP transport) */
	SYS_socket, SYS_socketpair, SYS_connect, SYS_accept, SYS_accept4,
	SYS_bind, SYS_listen, SYS_getsockname, SYS_getpeername,
	SYS_setsockopt, SYS_getsockopt, SYS_shutdown, SYS_sendmmsg,
	SYS_recvmmsg,
	/* signals to itself (kill and friends: below) */
	SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigtimedwait,
	SYS_rt_sigsuspend, SYS_sigaltstack, SYS_pause, SYS_restart_syscall,
	/* threads and the process */
	SYS_exit, SYS_exit_group, SYS_wait4, SYS_waitid, SYS_set_robust_list,
	SYS_get_robust_list, SYS_set_tid_address, SYS_arch_prctl, SYS_prctl,
	SYS_rseq, SYS_sched_getaffinity, SYS_sched_setaffinity,
	SYS_sched_getparam, SYS_sched_getscheduler, SYS_sched_setscheduler,
	SYS_sched_get_priority_max, SYS_sched_get_priority_min,
	SYS_getpriority, SYS_setpriority, SYS_getcpu, SYS_getrusage,
	SYS_times, SYS_getrlimit, SYS_setrlimit, SYS_prlimit64, SYS_uname,
	SYS_sysinfo, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_getgroups, SYS_getresuid, SYS_getresgid, SYS_getppid,
	SYS_getpgrp, SYS_getpgid, SYS_getsid, SYS_gettimeofday, SYS_time,
	SYS_clock_getres, SYS_getrandom,
	/* confining itself further is always allowed */
	SYS_seccomp, SYS_landlock_create_ruleset, SYS_landlock_add_rule,
	SYS_landlock_restrict_self,
};

#define NR_LOAD BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
			 offsetof(struct seccomp_data, nr))
#define ARG0_LOAD BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
			   offsetof(struct seccomp_data, args[0]))
#define RET(a) BPF_STMT(BPF_RET | BPF_K, (a))
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		 RET(SECCOMP_RET_ERRNO | EPERM)
/* nr: allowed when its first argument (a pid: 32 bits) is this process */
#define SELF_ONLY(nr, pid) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), \
	ARG0_LOAD, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (pid), 0, 1),        \
	RET(SECCOMP_RET_ALLOW), RET(SECCOMP_RET_ERRNO | EPERM)

#define NCALLS (sizeof(agent_calls) / sizeof(agent_calls[0]))

cvmm_status_t confine_syscalls(void)
{
	/* the stub is 16-byte aligned and 9 bytes long: it never straddles
	 * a 4 GiB boundary, so one high word covers it */
	uint64_t lo = (uint64_t)cvmm_sigreturn_stub;
	uint64_t hi = (uint64_t)cvmm_sigreturn_stub_end + 2; /* the ud2 */
	uint32_t pid = (uint32_t)getpid(); /* no fork from here on */
	const struct sock_filter head[] = {
		/* x86-64 only: an i386 or x32 call is ENOSYS (not a kill: for
		 * a guest's such call, --entry seccomp's TRAP must win) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		/* the sigreturn stub: rt_sigreturn or death */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer) +
				 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32), 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 0, 4),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 3, 0),
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		NR_LOAD,
		/* clone: threads only; clone3's flags cannot be read here */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
		ARG0_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0),
		RET(SECCOMP_RET_ERRNO | EPERM),
		RET(SECCOMP_RET_ALLOW),
		/* signals: to this process only (not its process group, the
		 * launcher or other agents); tkill cannot be told apart */
		SELF_ONLY(SYS_kill, pid), SELF_ONLY(SYS_tgkill, pid),
		SELF_ONLY(SYS_rt_sigqueueinfo, pid),
		SELF_ONLY(SYS_rt_tgsigqueueinfo, pid),
		/* refused by name (EPERM, as before the allow-list): what an
		 * attacker wants first */
		DENY(SYS_execve), DENY(SYS_execveat), DENY(SYS_fork),
		DENY(SYS_vfork), DENY(SYS_ptrace), DENY(SYS_process_vm_readv),
		DENY(SYS_process_vm_writev), DENY(SYS_mount),
		DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot),
		DENY(SYS_setns), DENY(SYS_unshare), DENY(SYS_bpf),
		DENY(SYS_userfaultfd), DENY(SYS_tkill),
	};
	enum { NHEAD = sizeof(head) / sizeof(head[0]) };
	struct sock_filter prog[NHEAD + 2 * NCALLS + 1];
	unsigned n = NHEAD;

	memcpy(prog, head, sizeof(head));
	for (size_t i = 0; i < NCALLS; i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(
			BPF_JMP | BPF_JEQ | BPF_K, agent_calls[i], 0, 1);
		prog[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
	}
	prog[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | ENOSYS);
	return confine_seccomp_install(prog, (unsigned short)n,
				       "the agent's filter");
}

cvmm_status_t confine_seccomp_install(const struct sock_filter *prog,
				      unsigned short n, const char *what)
{
	struct sock_fprog fp = { .len = n,
				 .filter = (struct sock_filter *)prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &fp) != 0) {
		log_error("seccomp: cannot install %s: %m", what);
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}
