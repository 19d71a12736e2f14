/* The syscall layer (docs/design.md "the syscall table is data"): one array indexed
 * by x86-64 syscall number. Handlers live in core/sys_<family>.c, take the
 * calling guest thread and the six raw arguments, validate flags first and
 * return what the guest's syscall returns (a value or -errno). */
#ifndef CVMM_CORE_SYS_SYS_H
#define CVMM_CORE_SYS_SYS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vthread vthread_t;

typedef long (*sys_fn_t)(vthread_t *vt, const uint64_t a[6]);

typedef enum sys_level {
	SYS_MISSING = 0, /* not in the table: -ENOSYS, logged once */
	SYS_FULL,        /* behaves as on Linux */
	SYS_PARTIAL,     /* works for what programs use; note says what not */
	SYS_ERROR,       /* always fails with .err (deliberately) */
} sys_level_t;

/* Where a call runs on a VM that spans nodes. This column is the routing:
 * sys_dispatch forwards exactly the SYS_IOSRV and SYS_VM calls of threads
 * on other nodes to node 0, node 0 refuses any other forwarded call, and
 * `cvmm syscalls` prints it. On one node everything runs locally. */
typedef enum sys_where {
	SYS_LOCAL = 0, /* on the calling node, on its own state */
	SYS_FUTEX,     /* at the home node of the futex word */
	SYS_IOSRV,     /* by the I/O server on node 0 */
	SYS_VM,        /* on node 0, for the whole VM (memory layout, signal
			* dispositions, exit_group, signals to the VM) */
} sys_where_t;

typedef struct sys_entry {
	const char *name;
	sys_fn_t fn;        /* NULL for SYS_ERROR and SYS_MISSING */
	sys_level_t level;
	sys_where_t where;
	int err;            /* SYS_ERROR: the errno returned */
	const char *note;   /* SYS_PARTIAL / SYS_ERROR: what is missing, why */
} sys_entry_t;

#define SYS_NR_MAX 512

extern const sys_entry_t sys_table[SYS_NR_MAX];
extern const char *const sys_names[SYS_NR_MAX]; /* sysnames.c */

/* Name of syscall nr, or NULL when the number is unknown. */
const char *sys_name(unsigned long nr);

/* Runs syscall nr for vt: table lookup, unsupported-call policy (log once or
 * stop the VM under --strict), stats. Returns the guest's result. */
long sys_dispatch(vthread_t *vt, unsigned long nr, const uint64_t a[6]);

/* True when syscall nr of a thread on a node other than 0 runs on node 0:
 * a call the table has a handler for whose where is SYS_IOSRV or SYS_VM. */
bool sys_runs_on_node0(unsigned long nr);

/* Runs syscall nr here, whatever node this is (no stats, no forwarding):
 * sys_dispatch and node 0's proxies for other nodes' threads. */
long sys_execute(vthread_t *vt, unsigned long nr, const uint64_t a[6]);

/* Sends sig to the VM itself by its virtual disposition: ignored, or the
 * default action (the VM ends with 128 + sig). Returns 0 or -EINVAL. */
long sys_signal_self(vthread_t *vt, int sig);

/* Prints the compatibility table ("table" or "csv"); false on a bad format. */
int sys_table_print(const char *format);

/* ---- handlers, by family ---- */
#define SYS_DECL(n) long sys_##n(vthread_t *vt, const uint64_t a[6])

/* sys_file.c: file and console I/O through the I/O server */
SYS_DECL(read); SYS_DECL(write); SYS_DECL(pread64); SYS_DECL(pwrite64);
SYS_DECL(readv); SYS_DECL(writev); SYS_DECL(preadv); SYS_DECL(pwritev);
SYS_DECL(open); SYS_DECL(openat); SYS_DECL(creat); SYS_DECL(close);
SYS_DECL(lseek); SYS_DECL(fstat); SYS_DECL(stat); SYS_DECL(lstat);
SYS_DECL(newfstatat); SYS_DECL(statx); SYS_DECL(getdents64);
SYS_DECL(fcntl); SYS_DECL(dup); SYS_DECL(dup2); SYS_DECL(dup3);
SYS_DECL(pipe); SYS_DECL(pipe2); SYS_DECL(unlink); SYS_DECL(unlinkat);
SYS_DECL(mkdir); SYS_DECL(mkdirat); SYS_DECL(rmdir); SYS_DECL(rename);
SYS_DECL(renameat); SYS_DECL(renameat2); SYS_DECL(ioctl);
SYS_DECL(access); SYS_DECL(faccessat); SYS_DECL(faccessat2);
SYS_DECL(readlink); SYS_DECL(readlinkat); SYS_DECL(getcwd);
SYS_DECL(chdir); SYS_DECL(fchdir); SYS_DECL(ftruncate);
SYS_DECL(fsync); SYS_DECL(fdatasync); SYS_DECL(poll); SYS_DECL(ppoll);
SYS_DECL(sendfile);

/* sys_mm.c: guest memory layout */
SYS_DECL(brk); SYS_DECL(mmap); SYS_DECL(munmap); SYS_DECL(mprotect);
SYS_DECL(madvise); SYS_DECL(mremap); SYS_DECL(msync);

/* sys_thread.c: threads and ids */
SYS_DECL(clone); SYS_DECL(clone3); SYS_DECL(exit); SYS_DECL(exit_group);
SYS_DECL(set_tid_address); SYS_DECL(set_robust_list);
SYS_DECL(get_robust_list); SYS_DECL(arch_prctl);
SYS_DECL(getpid); SYS_DECL(gettid); SYS_DECL(getppid); SYS_DECL(getuid);
SYS_DECL(geteuid); SYS_DECL(getgid); SYS_DECL(getegid);
SYS_DECL(getpgrp); SYS_DECL(getpgid); SYS_DECL(getsid);
SYS_DECL(sched_yield); SYS_DECL(sched_getaffinity);
SYS_DECL(sched_setaffinity); SYS_DECL(getcpu); SYS_DECL(prctl);
SYS_DECL(sched_getscheduler); SYS_DECL(sched_getparam);
SYS_DECL(sched_setscheduler); SYS_DECL(sched_get_priority_max);
SYS_DECL(sched_get_priority_min); SYS_DECL(getpriority);
SYS_DECL(setpriority);

/* sys_futex.c */
SYS_DECL(futex);

/* sys_signal.c: virtual signal state */
SYS_DECL(rt_sigaction); SYS_DECL(rt_sigprocmask);
SYS_DECL(sigaltstack); SYS_DECL(kill); SYS_DECL(tgkill); SYS_DECL(tkill);
SYS_DECL(rt_sigpending);

/* sys_time.c */
SYS_DECL(clock_gettime); SYS_DECL(clock_getres); SYS_DECL(gettimeofday);
SYS_DECL(time); SYS_DECL(nanosleep); SYS_DECL(clock_nanosleep);
SYS_DECL(times); SYS_DECL(getrusage);

/* sys_info.c */
SYS_DECL(uname); SYS_DECL(sysinfo); SYS_DECL(prlimit64);
SYS_DECL(getrlimit); SYS_DECL(setrlimit); SYS_DECL(getrandom);
SYS_DECL(umask);

#endif
