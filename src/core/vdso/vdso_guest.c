/* cvmm's vDSO for the guest: built as a shared object of its own
 * (vdso.mk: -shared -nostdlib -fPIC, vdso_guest.lds, vdso_guest.ver),
 * embedded in the agent by vdso_blob.S and mapped into the guest window by
 * vdso.c, which hands its address to the guest as AT_SYSINFO_EHDR. Static
 * glibc finds the four calls below by name and version (LINUX_2.6), as it
 * finds the kernel's.
 *
 * Each call tail-calls the host vDSO's function the agent wrote into the
 * data page (vdso_data.h), so the guest reads the host clock without a
 * trap; where that pointer is 0 (no host vDSO, several nodes, the seccomp
 * entry, CVMM_VDSO=off) it makes the plain syscall, which lies inside the
 * guest window and traps like any guest syscall. The host vDSO's own
 * fallback (CPU-time and invalid clocks) is a syscall outside the allowed
 * region of Syscall User Dispatch and traps too.
 *
 * Runs on the guest's stack with the guest's FS: no stack protector, no
 * libc, no relocations (the build checks). No getcpu: a guest learns its
 * vCPU only from the trapped getcpu. */
#include <asm/unistd.h>
#include <sys/time.h>
#include <time.h>

#include "core/vdso/vdso_data.h"

/* One page below the ELF header (vdso_guest.lds); hidden, so every access
 * is rip-relative and the object needs no relocation. */
extern const volatile vdso_data_t cvmm_vdso_data
	__attribute__((visibility("hidden")));

typedef int (*vdso_clock_fn)(clockid_t, struct timespec *);
typedef int (*vdso_tod_fn)(struct timeval *, struct timezone *);
typedef time_t (*vdso_time_fn)(time_t *);

int __vdso_clock_gettime(clockid_t clk, struct timespec *ts);
int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz);
time_t __vdso_time(time_t *t);
int __vdso_clock_getres(clockid_t clk, struct timespec *res);

static inline long vdso_syscall2(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

int __vdso_clock_gettime(clockid_t clk, struct timespec *ts)
{
	vdso_clock_fn f = (vdso_clock_fn)cvmm_vdso_data.clock_gettime;

	if (f)
		return f(clk, ts);
	return (int)vdso_syscall2(__NR_clock_gettime, clk, (long)ts);
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
	vdso_tod_fn f = (vdso_tod_fn)cvmm_vdso_data.gettimeofday;

	if (f)
		return f(tv, tz);
	return (int)vdso_syscall2(__NR_gettimeofday, (long)tv, (long)tz);
}

time_t __vdso_time(time_t *t)
{
	vdso_time_fn f = (vdso_time_fn)cvmm_vdso_data.time;

	if (f)
		return f(t);
	return (time_t)vdso_syscall2(__NR_time, (long)t, 0);
}

int __vdso_clock_getres(clockid_t clk, struct timespec *res)
{
	vdso_clock_fn f = (vdso_clock_fn)cvmm_vdso_data.clock_getres;

	if (f)
		return f(clk, res);
	return (int)vdso_syscall2(__NR_clock_getres, clk, (long)res);
}
