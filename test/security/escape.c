/* escape: a guest that found agent code tries to reach the host with it.
 *
 *   escape LEAKFILE ATTACK MARKER CANARY [thread]
 *
 * LEAKFILE is written from the outside once the guest runs (leak.py: the
 * addresses a guest holding one agent pointer could compute); the guest
 * waits for it. ATTACK is one of
 *   gadget-execve  execve("/bin/sh", "-c", "echo spawned > MARKER") through
 *                  a `syscall; ret` in the agent's libc
 *   gadget-open    open(CANARY, O_WRONLY|O_TRUNC) through the same gadget
 *   gadget-read    open(CANARY, O_RDONLY) through the same gadget
 *   stub-execve    the execve through cvmm's sigreturn stub (the one
 *                  address Syscall User Dispatch lets through)
 *   stub-open      the open for writing through the stub
 * MARKER and CANARY are host paths outside the guest's root. With
 * "thread", the attack runs in a second thread (another node's agent on
 * several nodes). Prints "ATTACK: result" (the errno's name, or "fd" /
 * "returned" when the call succeeded) and exits 0 if it returns at all.
 * The harness (run_security.sh) checks that nothing happened on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *attack, *marker, *canary;
static uint64_t gadget, stub;

/* Calls the code at target with rax = nr and the arguments in rdi, rsi,
 * rdx, as a syscall instruction there sees them; a `syscall; ret` gadget
 * returns here. The red zone is stepped over: `call` pushes onto it. */
static long hostcall(uint64_t target, long nr, long a1, long a2, long a3)
{
	long ret;

	__asm__ volatile("sub $128, %%rsp\n\t"
			 "call *%[t]\n\t"
			 "add $128, %%rsp"
			 : "=a"(ret)
			 : [t] "r"(target), "a"(nr), "D"(a1), "S"(a2), "d"(a3)
			 : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
	return ret;
}

static uint64_t leaked(const char *path, const char *name)
{
	char key[64];
	unsigned long long v;
	uint64_t found = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		printf("cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fscanf(f, "%63s %llx", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	if (!found) {
		printf("%s: no %s\n", path, name);
		exit(2);
	}
	return found;
}

static void report(long r)
{
	if (r < 0 && r > -4096)
		printf("%s: %s\n", attack, strerror((int)-r));
	else
		printf("%s: %s\n", attack,
		       strstr(attack, "open") ? "fd" : "returned");
	fflush(stdout);
}

static void *run(void *arg)
{
	char cmd[512];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	uint64_t via = !strncmp(attack, "stub-", 5) ? stub : gadget;

	(void)arg;
	snprintf(cmd, sizeof(cmd), "echo spawned > %s; sleep 2", marker);
	if (strstr(attack, "execve"))
		report(hostcall(via, SYS_execve, (long)"/bin/sh", (long)argv,
				(long)envp));
	else if (!strcmp(attack + strlen(attack) - 4, "open"))
		report(hostcall(via, SYS_open, (long)canary,
				O_WRONLY | O_TRUNC, 0));
	else if (strstr(attack, "-read"))
		report(hostcall(via, SYS_open, (long)canary, O_RDONLY, 0));
	else
		printf("unknown attack %s\n", attack);
	return NULL;
}

int main(int argc, char **argv)
{
	struct stat st;
	pthread_t th;

	if (argc < 5) {
		fprintf(stderr, "usage: escape LEAKFILE ATTACK MARKER CANARY "
				"[thread]\n");
		return 2;
	}
	attack = argv[2];
	marker = argv[3];
	canary = argv[4];
	printf("waiting\n");
	fflush(stdout);
	for (int i = 0; i < 2000 && stat(argv[1], &st) != 0; i++)
		usleep(10000);
	gadget = leaked(argv[1], "syscall_ret");
	stub = leaked(argv[1], "stub");
	if (argc > 5 && !strcmp(argv[5], "thread")) {
		pthread_create(&th, NULL, run, NULL);
		pthread_join(th, NULL);
	} else {
		run(NULL);
	}
	return 0;
}
