/* The agent confines the threads that run guest code or guest system calls
 * (docs/security.md). Guest and agent share one address space, so a guest
 * that reaches agent code can issue host system calls as the agent; the
 * confinement makes that worth little: with Landlock, the file system such
 * a thread can open is --root (no execution), the libraries (read only),
 * /proc/self, /dev/shm and cvmm's device files; nothing anywhere may be
 * executed; and no_new_privs is set, so no set-uid program gains rights.
 *
 * confine_init builds the Landlock rule set once, before the guest starts;
 * confine_thread applies it to the calling thread (threads it creates
 * inherit it). Where the kernel lacks Landlock, confine_init says so once
 * and cvmm runs unconfined (cvmm info shows it). */
#ifndef CVMM_CORE_CONFINE_H
#define CVMM_CORE_CONFINE_H

#include <linux/filter.h>
#include <stdbool.h>

#include "common/status.h"

/* Builds the rule set for a guest rooted at root (a host directory) whose
 * program is the host file exe (readable, for /proc/self/exe; NULL: none).
 * Logs one line and returns CVMM_OK without confinement when the kernel
 * has no Landlock; fails (logged) only when a rule cannot be made. */
cvmm_status_t confine_init(const char *root, const char *exe);

/* Confines the calling thread if confine_init made a rule set. inherited:
 * the thread was created by a confined thread (confine_thread_confined()
 * in the creator), so it already is, and only learns it. Landlock domains
 * stack to a small depth, so a thread must not confine itself twice.
 * Returns CVMM_OK, or CVMM_ERR_IO (logged) when the kernel refused. Call
 * at the start of a thread, before it runs guest code or guest calls. */
cvmm_status_t confine_thread(bool inherited);

/* Confines every thread of the process: the caller with confine_thread,
 * the others (started before the guest: the transport's progress thread,
 * UCX's async thread) each by itself, asked with a real-time signal
 * (SIGRTMAX, kept for this) whose handler restricts the thread it
 * interrupts; waits until all did (5 s at most). Threads created later
 * inherit. Returns CVMM_OK, or CVMM_ERR_IO (logged) when a thread could not
 * be confined. Call once, with no thread running guest code yet. */
cvmm_status_t confine_process(void);

/* True when the calling thread is confined (or nothing is to be). */
bool confine_thread_confined(void);

/* Installs, on every thread of the process (TSYNC), a seccomp filter that
 * allows only the system calls agent threads make after start-up (an
 * allow-list: anything else is ENOSYS, as on a kernel without it), and
 * of those, with EPERM: new programs and processes (execve, execveat,
 * fork, vfork, clone without CLONE_THREAD; clone3 is ENOSYS, so threads
 * come from clone), other processes' memory (ptrace, process_vm_*),
 * mounts and namespaces, bpf, userfaultfd; signals (kill, tgkill,
 * rt_*sigqueueinfo) to any process but this one (tkill: always); i386
 * and x32 calls are ENOSYS. It kills the process when the sigreturn stub
 * (the only code Syscall User Dispatch lets through) is used for anything
 * but rt_sigreturn. Guest syscalls never reach it (they are dispatched
 * before seccomp runs). Call after start-up, once no more processes are
 * to be started. */
cvmm_status_t confine_syscalls(void);

/* Sets no_new_privs and installs the n-instruction filter prog on every
 * thread of the process (TSYNC). what names it in the one error line
 * logged on failure (CVMM_ERR_IO). */
cvmm_status_t confine_seccomp_install(const struct sock_filter *prog,
				      unsigned short n, const char *what);

/* The Landlock ABI of this kernel: 0 when it has none (or it is off). */
int confine_landlock_abi(void);

#endif
