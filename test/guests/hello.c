/* hello: argv, envp and exit status.
 *
 *   hello [STATUS] [ARGS...]
 *
 * Prints argc, every argv[i] in brackets (so spaces and empty strings show),
 * the value of CVMM_TEST_VAR and the length and checksum of CVMM_TEST_BIG,
 * a line on stderr, and exits with STATUS when argv[1] is a number (0..255).
 * Checks that main's envp is environ and that argv/envp are NULL-terminated. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;

static int is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Value of NAME in envp, or NULL. */
static const char *env_find(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (char **e = envp; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

int main(int argc, char **argv, char **envp)
{
	const char *var = env_find(envp, "CVMM_TEST_VAR");
	const char *big = env_find(envp, "CVMM_TEST_BIG");
	int status = 0;

	if (envp != environ || var != getenv("CVMM_TEST_VAR")) {
		printf("FAIL: envp and environ disagree\n");
		return 1;
	}
	if (argv[argc] != NULL) {
		printf("FAIL: argv not NULL-terminated\n");
		return 1;
	}
	if (getauxval(AT_PAGESZ) != 4096 || getauxval(AT_RANDOM) == 0) {
		printf("FAIL: aux vector (pagesz %lu)\n", getauxval(AT_PAGESZ));
		return 1;
	}
	printf("hello, world\n");
	printf("argc %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] [%s]\n", i, argv[i]);
	if (var)
		printf("CVMM_TEST_VAR [%s]\n", var);
	else
		printf("CVMM_TEST_VAR (unset)\n");
	if (big) {
		unsigned long sum = 0;
		size_t len = strlen(big);

		for (size_t i = 0; i < len; i++)
			sum = sum * 31 + (unsigned char)big[i];
		printf("CVMM_TEST_BIG length %zu sum %lx\n", len, sum);
	}
	fprintf(stderr, "hello on stderr\n");
	if (argc > 1 && is_number(argv[1]))
		status = atoi(argv[1]) & 255;
	printf("exit %d\n", status);
	return status;
}
