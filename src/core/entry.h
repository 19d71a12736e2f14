/* The trap path (docs/design.md decision 2): how a host thread enters guest
 * code and how the guest's system calls and faults come back to the agent.
 *
 * entry_init installs the SIGSYS and fault handlers (raw rt_sigaction,
 * SA_RESTORER = a stub inside the allowed region) and, in seccomp mode, the
 * filter; entry_thread_init gives the calling host thread its altstack (the
 * block its vthread sits at the base of) and turns Syscall User Dispatch on
 * with the selector at ALLOW; entry_enter starts guest code with vt->start.
 * The handlers call vt_trap_syscall and vt_trap_fault (vm.h) with the
 * agent's FS in place. */
#ifndef CVMM_CORE_ENTRY_H
#define CVMM_CORE_ENTRY_H

#include <stdbool.h>

#include "common/status.h"
#include "core/vm.h"

typedef enum entry_mode { ENTRY_SUD, ENTRY_SECCOMP } entry_mode_t;

/* Installs the process-wide handlers for mode. Logs and fails when the
 * kernel refuses them. */
cvmm_status_t entry_init(entry_mode_t mode);

/* True when this kernel and process allow Syscall User Dispatch. */
bool entry_sud_available(void);

/* Makes the calling host thread ready to run vt: altstack, dispatch on
 * (selector at ALLOW). entry_thread_fini undoes it. */
cvmm_status_t entry_thread_init(vthread_t *vt);
void entry_thread_fini(vthread_t *vt);

/* Starts guest code with vt->start; returns only through vt->exit_jmp. */
void entry_enter(vthread_t *vt) __attribute__((noreturn));

/* Allocates a zeroed, VT_ALT_SIZE-aligned block for a vthread and its
 * altstack; NULL when out of memory. */
vthread_t *entry_block_alloc(void);

#endif
