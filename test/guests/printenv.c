/* printenv: the whole environment, one NAME=value a line, sorted, so a run
 * under cvmm can be compared with the native one: the guest must see the
 * user's environment and nothing of the agent's (job cookie, bootstrap
 * variables, what cvmm set for its agents). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv, char **envp)
{
	size_t n = 0;

	while (envp[n])
		n++;
	qsort(envp, n, sizeof(*envp), cmp);
	for (size_t i = 0; i < n; i++)
		puts(envp[i]);
	return 0;
}
