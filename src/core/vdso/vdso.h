/* cvmm's vDSO for the guest (docs/core.md, "The guest's vDSO"): a tiny
 * shared object of cvmm's own (vdso_guest.c), embedded in the agent, that
 * the loader maps into the guest window and names in AT_SYSINFO_EHDR, so
 * static glibc calls it for clock_gettime, gettimeofday, time and
 * clock_getres instead of making the syscall. On a single-node VM with the
 * Syscall User Dispatch entry its functions jump to the host's vDSO and
 * the guest reads time without a trap; anywhere else they make the syscall
 * themselves, which traps as before. CVMM_VDSO=off gives the guest no vDSO
 * at all. */
#ifndef CVMM_CORE_VDSO_VDSO_H
#define CVMM_CORE_VDSO_VDSO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"

/* Where the vDSO goes: the data page, then the ELF image, in the gap
 * between the top-down mmap area and the main stack (no guest mmap without
 * MAP_FIXED lands there, so the guest's own layout is unchanged). */
#define VDSO_GUEST_BASE GMEM_MMAP_TOP

/* Maps the vDSO (data page read-only, image read+exec) at VDSO_GUEST_BASE
 * and fills its data page: the host vDSO's entry points when
 * vdso_host_clocks_ok(), else zeros. Returns the guest address of the ELF
 * header, for AT_SYSINFO_EHDR, or 0 when CVMM_VDSO=off or the range cannot
 * be mapped (logged; the guest then runs without a vDSO, every time call
 * trapping). Node 0's loader calls it once, before the guest starts. */
uint64_t vdso_load(gmem_t *gm);

/* True when the guest may call the host's vDSO: a VM of one node (each
 * host has its own clock and its own vDSO address) whose syscalls are
 * caught by Syscall User Dispatch (the seccomp entry traps only syscalls
 * made inside the guest window, and the host vDSO's fallback syscall lies
 * outside it). Cannot fail. */
bool vdso_host_clocks_ok(void);

/* The address of the function name (e.g. "__vdso_clock_gettime") in the
 * host vDSO at ehdr, from its dynamic symbol table; 0 when ehdr is 0 or
 * the name is missing. */
uint64_t vdso_host_sym(uint64_t ehdr, const char *name);

#endif
