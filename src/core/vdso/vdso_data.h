/* The data page of cvmm's guest vDSO: the one thing the agent and the
 * vDSO's code (vdso_guest.c, built as a shared object of its own) share.
 * It lies one page below the vDSO's ELF header in the guest (as the kernel's
 * vvar page lies below its vDSO), read-only there; the agent writes it
 * through the agent view once, before the guest starts.
 *
 * Each field is the host vDSO's entry point for that call, or 0: the guest's
 * vDSO then makes the plain syscall, which traps like any guest syscall
 * (docs/core.md, "The guest's vDSO"). Included by freestanding code: no
 * cvmm header, no libc types beyond stdint.h. */
#ifndef CVMM_CORE_VDSO_DATA_H
#define CVMM_CORE_VDSO_DATA_H

#include <stdint.h>

#define VDSO_DATA_SIZE 4096UL /* one page, below the ELF image */
#define VDSO_DATA_MAGIC 0x6f7364766d6d7663ULL /* "cvmmvdso" little-endian */

typedef struct vdso_data {
	uint64_t magic;         /* VDSO_DATA_MAGIC once the agent wrote it */
	uint64_t clock_gettime; /* int (clockid_t, struct timespec *) */
	uint64_t gettimeofday;  /* int (struct timeval *, struct timezone *) */
	uint64_t time;          /* time_t (time_t *) */
	uint64_t clock_getres;  /* int (clockid_t, struct timespec *) */
} vdso_data_t;

_Static_assert(sizeof(vdso_data_t) <= VDSO_DATA_SIZE, "one page");

#endif
