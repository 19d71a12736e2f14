/* The agent's own environment, kept from the guest (env.h). */
#include "common/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cvmm_env_add(const char *name, const char *value)
{
	const char *added = getenv(CVMM_ENV_ADDED);
	char *list;
	int rc;

	if (getenv(name))
		return 0;
	if (setenv(name, value, 1) != 0)
		return -1;
	if (asprintf(&list, "%s%s%s", added ? added : "", added ? "," : "",
		     name) < 0)
		return -1;
	rc = setenv(CVMM_ENV_ADDED, list, 1);
	free(list);
	return rc;
}

/* True when the n-byte name is one of the comma-separated names in list. */
static bool list_has(const char *list, const char *name, size_t n)
{
	while (list && *list) {
		size_t len = strcspn(list, ",");

		if (len == n && strncmp(list, name, n) == 0)
			return true;
		list += len + (list[len] == ',');
	}
	return false;
}

bool cvmm_env_agent_only(const char *entry, const char *added)
{
	size_t n = strcspn(entry, "=");

	if (n == strlen("CVMM_JOB_COOKIE") &&
	    !strncmp(entry, "CVMM_JOB_COOKIE", n))
		return true;
	if (!strncmp(entry, "CVMM_BOOT_", strlen("CVMM_BOOT_")))
		return true;
	if (n == strlen(CVMM_ENV_ADDED) && !strncmp(entry, CVMM_ENV_ADDED, n))
		return true;
	return list_has(added, entry, n);
}

char **cvmm_env_guest(char *const envp[])
{
	const char *added = NULL;
	size_t n = 0, k = 0;
	char **out;

	for (; envp[n]; n++)
		if (!strncmp(envp[n], CVMM_ENV_ADDED "=",
			     strlen(CVMM_ENV_ADDED) + 1))
			added = envp[n] + strlen(CVMM_ENV_ADDED) + 1;
	out = malloc((n + 1) * sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!cvmm_env_agent_only(envp[i], added))
			out[k++] = envp[i];
	out[k] = NULL;
	return out;
}
