/* System information: uname, sysinfo, resource limits, randomness. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include "core/gmem.h"
#include "core/sys/sys.h"
#include "core/vm.h"
#include "iosrv/iosrv.h"

#define NLIMITS RLIM_NLIMITS

static struct rlimit limits[NLIMITS];
static bool limits_init;
static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;

/* uname(buf) */
long sys_uname(vthread_t *vt, const uint64_t a[6])
{
	struct utsname *u = gmem_ptr(&cvmm_gmem, a[0], sizeof(*u), PROT_WRITE);

	if (!u)
		return -EFAULT;
	return uname(u) ? -errno : 0;
}

/* sysinfo(info): the host's, with the guest's thread count as procs */
long sys_sysinfo(vthread_t *vt, const uint64_t a[6])
{
	struct sysinfo *si = gmem_ptr(&cvmm_gmem, a[0], sizeof(*si),
				      PROT_WRITE);

	if (!si)
		return -EFAULT;
	if (sysinfo(si))
		return -errno;
	si->procs = (unsigned short)cvmm_vm.live;
	return 0;
}

/* The guest's limits start as the host's, with RLIMIT_STACK the size of the
 * main stack cvmm gives it and RLIMIT_NOFILE the size of the I/O server's
 * descriptor table (what poll, dup and open actually allow). */
static void limits_load(void)
{
	if (limits_init)
		return;
	for (int i = 0; i < NLIMITS; i++)
		getrlimit(i, &limits[i]);
	limits[RLIMIT_STACK].rlim_cur = GMEM_STACK_SIZE;
	limits[RLIMIT_NOFILE].rlim_cur = IOSRV_FD_MAX;
	limits[RLIMIT_NOFILE].rlim_max = IOSRV_FD_MAX;
	limits_init = true;
}

static long limit_rw(int res, const struct rlimit *nw, struct rlimit *old)
{
	if (res < 0 || res >= NLIMITS)
		return -EINVAL;
	if (nw && nw->rlim_cur > nw->rlim_max)
		return -EINVAL;
	pthread_mutex_lock(&limits_lock);
	limits_load();
	/* raising a hard limit takes a privilege the guest does not have;
	 * the descriptor table cannot grow past its size */
	if (nw && res == RLIMIT_NOFILE && nw->rlim_max > IOSRV_FD_MAX) {
		pthread_mutex_unlock(&limits_lock);
		return -EPERM;
	}
	if (old)
		*old = limits[res];
	if (nw)
		limits[res] = *nw;
	pthread_mutex_unlock(&limits_lock);
	return 0;
}

/* prlimit64(pid, resource, new, old) */
long sys_prlimit64(vthread_t *vt, const uint64_t a[6])
{
	const struct rlimit *nw = NULL;
	struct rlimit *old = NULL;

	if (a[0] && (int)a[0] != cvmm_vm.pid && (int)a[0] != vt->tid)
		return -ESRCH;
	if (a[2] && !(nw = gmem_ptr(&cvmm_gmem, a[2], sizeof(*nw), PROT_READ)))
		return -EFAULT;
	if (a[3] && !(old = gmem_ptr(&cvmm_gmem, a[3], sizeof(*old),
				     PROT_WRITE)))
		return -EFAULT;
	return limit_rw((int)a[1], nw, old);
}

/* getrlimit(resource, rlim) */
long sys_getrlimit(vthread_t *vt, const uint64_t a[6])
{
	struct rlimit *old = gmem_ptr(&cvmm_gmem, a[1], sizeof(*old),
				      PROT_WRITE);

	return old ? limit_rw((int)a[0], NULL, old) : -EFAULT;
}

/* setrlimit(resource, rlim) */
long sys_setrlimit(vthread_t *vt, const uint64_t a[6])
{
	const struct rlimit *nw = gmem_ptr(&cvmm_gmem, a[1], sizeof(*nw),
					   PROT_READ);

	return nw ? limit_rw((int)a[0], nw, NULL) : -EFAULT;
}

/* getrandom(buf, len, flags) */
/* The longest writable prefix of [addr, addr + len), page by page, as the
 * kernel fills a buffer until the first page it cannot write. */
static size_t writable_prefix(uint64_t addr, size_t len)
{
	size_t ok = 0;

	while (ok < len) {
		uint64_t at = addr + ok;
		size_t step = CVMM_PAGE_SIZE - (at & (CVMM_PAGE_SIZE - 1));

		if (step > len - ok)
			step = len - ok;
		if (!gmem_ptr(&cvmm_gmem, at, step, PROT_WRITE))
			break;
		ok += step;
	}
	return ok;
}

/* getrandom(buf, len, flags): a buffer that stops being writable partway
 * gets the bytes before that page, as on Linux. The whole range (at most
 * MAX_RW_COUNT) must be user memory first, even for len 0 (access_ok):
 * getrandom(kernelptr, 0) is EFAULT. */
long sys_getrandom(vthread_t *vt, const uint64_t a[6])
{
	const uint64_t max_rw = (uint64_t)INT_MAX & ~(CVMM_PAGE_SIZE - 1);
	uint64_t chk = a[1] > max_rw ? max_rw : a[1];
	size_t len = a[1] > (1UL << 25) ? (1UL << 25) : a[1];
	void *buf;
	ssize_t n;

	if (a[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	if ((a[2] & (GRND_RANDOM | GRND_INSECURE)) ==
	    (GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	if (a[0] > GMEM_TASK_SIZE || chk > GMEM_TASK_SIZE - a[0])
		return -EFAULT;
	if (len == 0)
		return 0;
	len = writable_prefix(a[0], len);
	buf = len ? gmem_ptr(&cvmm_gmem, a[0], len, PROT_WRITE) : NULL;
	if (!buf)
		return -EFAULT;
	n = getrandom(buf, len, (unsigned)a[2]);
	return n < 0 ? -errno : n;
}

/* umask(mask): the agent's own umask is the guest's (files are created by
 * this process on its behalf). */
long sys_umask(vthread_t *vt, const uint64_t a[6])
{
	return umask((mode_t)a[0] & 0777);
}
