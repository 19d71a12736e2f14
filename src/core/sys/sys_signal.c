/* Signals are virtual (docs/design.md): dispositions are process-wide and the
 * agent's own SIGSYS and fault handlers must stay installed, so the guest's
 * rt_sigaction and rt_sigprocmask only update the VM's records. A signal
 * the guest sends itself takes its default action. Guest handlers are not
 * run (yet). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "core/gmem.h"
#include "core/sys/sys.h"
#include "core/vm.h"

#define NSIG_GUEST 64

struct guest_sigaction {
	uint64_t handler, flags, restorer, mask;
};

static struct guest_sigaction actions[NSIG_GUEST + 1];
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;

/* rt_sigaction(sig, act, oldact, sigsetsize) */
long sys_rt_sigaction(vthread_t *vt, const uint64_t a[6])
{
	int sig = (int)a[0];
	const struct guest_sigaction *act = NULL;
	struct guest_sigaction *old = NULL;

	if (a[3] != 8 || sig < 1 || sig > NSIG_GUEST)
		return -EINVAL;
	if (a[1] && !(act = gmem_ptr(&cvmm_gmem, a[1], sizeof(*act),
				     PROT_READ)))
		return -EFAULT;
	if (a[2] && !(old = gmem_ptr(&cvmm_gmem, a[2], sizeof(*old),
				     PROT_WRITE)))
		return -EFAULT;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	pthread_mutex_lock(&actions_lock);
	if (old)
		*old = actions[sig];
	if (act) {
		actions[sig] = *act;
		if (act->handler > 1)
			log_debug("guest handler for signal %d recorded; it "
				  "will not run", sig);
	}
	pthread_mutex_unlock(&actions_lock);
	return 0;
}

/* rt_sigprocmask(how, set, oldset, sigsetsize) */
long sys_rt_sigprocmask(vthread_t *vt, const uint64_t a[6])
{
	const uint64_t *set = NULL;
	uint64_t *old = NULL;
	uint64_t never = (1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1));

	if (a[3] != 8)
		return -EINVAL;
	if (a[1] && !(set = gmem_ptr(&cvmm_gmem, a[1], 8, PROT_READ)))
		return -EFAULT;
	if (a[2] && !(old = gmem_ptr(&cvmm_gmem, a[2], 8, PROT_WRITE)))
		return -EFAULT;
	if (set && a[0] > SIG_SETMASK)
		return -EINVAL;
	if (old)
		*old = vt->sigmask;
	if (!set)
		return 0;
	if (a[0] == SIG_BLOCK)
		vt->sigmask |= *set;
	else if (a[0] == SIG_UNBLOCK)
		vt->sigmask &= ~*set;
	else
		vt->sigmask = *set;
	vt->sigmask &= ~never;
	return 0;
}

/* sigaltstack(ss, old_ss): recorded per thread, never used */
long sys_sigaltstack(vthread_t *vt, const uint64_t a[6])
{
	stack_t *old = NULL;

	if (a[0] && !gmem_ptr(&cvmm_gmem, a[0], sizeof(stack_t), PROT_READ))
		return -EFAULT;
	if (a[1] && !(old = gmem_ptr(&cvmm_gmem, a[1], sizeof(stack_t),
				     PROT_WRITE)))
		return -EFAULT;
	if (old)
		*old = (stack_t){ .ss_flags = SS_DISABLE };
	return 0;
}

static bool sig_default_ignored(int sig)
{
	return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	       sig == SIGCONT;
}

/* Sends sig to the VM itself: SIG_IGN or a default-ignore signal does
 * nothing, anything else ends the VM as the default action would. */
long sys_signal_self(vthread_t *vt, int sig)
{
	char msg[96];
	uint64_t handler;

	if (sig == 0)
		return 0;
	if (sig < 0 || sig > NSIG_GUEST)
		return -EINVAL;
	pthread_mutex_lock(&actions_lock);
	handler = actions[sig].handler;
	pthread_mutex_unlock(&actions_lock);
	if (handler == (uint64_t)SIG_IGN || (handler == (uint64_t)SIG_DFL &&
					     sig_default_ignored(sig)))
		return 0;
	if (handler > 1)
		log_warn("guest handler for signal %d not run: taking the "
			 "default action", sig);
	snprintf(msg, sizeof(msg), "guest thread %d: killed by signal %d (%s)",
		 vt->tid, sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	vm_exit(&cvmm_vm, 128 + sig, msg);
}

/* kill(pid, sig) */
long sys_kill(vthread_t *vt, const uint64_t a[6])
{
	int pid = (int)a[0];

	if (pid != cvmm_vm.pid && pid != 0 && pid != -1)
		return -ESRCH;
	return sys_signal_self(vt, (int)a[1]);
}

/* tgkill(tgid, tid, sig) */
long sys_tgkill(vthread_t *vt, const uint64_t a[6])
{
	if ((int)a[0] != cvmm_vm.pid)
		return -ESRCH;
	return sys_signal_self(vt, (int)a[2]);
}

/* tkill(tid, sig) */
long sys_tkill(vthread_t *vt, const uint64_t a[6])
{
	return sys_signal_self(vt, (int)a[1]);
}

/* rt_sigpending(set, sigsetsize): nothing is ever pending */
long sys_rt_sigpending(vthread_t *vt, const uint64_t a[6])
{
	uint64_t *set = gmem_ptr(&cvmm_gmem, a[0], 8, PROT_WRITE);

	if (a[1] != 8)
		return -EINVAL;
	if (!set)
		return -EFAULT;
	*set = 0;
	return 0;
}
