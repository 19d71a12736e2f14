/* The environment the agent keeps to itself. The guest sees the environment
 * cvmm was started with, as a native run would, minus what the agent uses
 * or added for itself: the job cookie, the bootstrap variables, and any
 * variable cvmm set for its own agents (recorded in CVMM_AGENT_ENV as it
 * sets them). A guest must never learn the job cookie: with it a process
 * could join or disturb the job (docs/security.md). */
#ifndef CVMM_COMMON_ENV_H
#define CVMM_COMMON_ENV_H

#include <stdbool.h>

/* The variable listing, comma-separated, the names cvmm added. */
#define CVMM_ENV_ADDED "CVMM_AGENT_ENV"

/* Sets name=value for this process and the agents it starts, unless name
 * is already set (the user's value wins); when it sets it, records name
 * as added by cvmm. 0 or -1 (out of memory, errno set). */
int cvmm_env_add(const char *name, const char *value);

/* True when the "NAME=value" entry is the agent's own: CVMM_JOB_COOKIE,
 * CVMM_BOOT_*, CVMM_AGENT_ENV or a name that variable lists (added, the
 * list read from added; NULL: nothing added). */
bool cvmm_env_agent_only(const char *entry, const char *added);

/* A copy of envp without the agent's own entries (the strings are
 * shared, the array is malloc'ed and NULL-terminated); NULL when out of
 * memory. */
char **cvmm_env_guest(char *const envp[]);

#endif
