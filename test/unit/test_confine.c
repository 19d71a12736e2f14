/* core/confine.c: what a confined thread can still do. Each case runs in a
 * forked child (confinement cannot be undone): inside the root it may do
 * anything but execute; outside it may only read the libraries and use
 * cvmm's device files; it can execute nothing, not even through the
 * dynamic loader. Skipped, saying so, where the kernel has no Landlock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/confine.h"

static char base[64];
static char root[128];

static int group_setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/cvmm_confine_XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(root, sizeof(root), "%s/root", base);
	return mkdir(root, 0755);
}

static int group_teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* The checks, in the confined child: the number of the first that fails,
 * 0 when all hold. */
static int child_checks(void)
{
	char path[256];
	char *const argv[] = { "true", NULL };
	int fd;

	if (confine_init(root, "/usr/bin/true") != CVMM_OK ||
	    confine_thread(false) != CVMM_OK)
		return 1;
	if (!confine_thread_confined())
		return 2;
	/* inside the root: create, write, rename, remove */
	snprintf(path, sizeof(path), "%s/f", root);
	fd = open(path, O_WRONLY | O_CREAT, 0755);
	if (fd < 0 || write(fd, "#!/bin/sh\n", 10) != 10)
		return 3;
	close(fd);
	snprintf(path, sizeof(path), "%s/d", root);
	if (mkdir(path, 0755) != 0)
		return 4;
	/* outside: nothing but the libraries (read) and the devices */
	snprintf(path, sizeof(path), "%s/outside", base);
	if (open(path, O_WRONLY | O_CREAT, 0644) >= 0 || errno != EACCES)
		return 5;
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
		return 6;
	if (open("/usr/bin/env", O_RDONLY) >= 0 || errno != EACCES)
		return 7;
	fd = open("/usr/bin/true", O_RDONLY); /* the program: readable */
	if (fd < 0)
		return 14;
	close(fd);
	fd = open("/etc/ld.so.cache", O_RDONLY);
	if (fd < 0)
		return 8;
	close(fd);
	fd = open("/dev/null", O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return 9;
	close(fd);
	/* nothing executes: not a host program, not one written into the
	 * root, not through the dynamic loader */
	execv("/bin/true", argv);
	if (errno != EACCES)
		return 10;
	snprintf(path, sizeof(path), "%s/f", root);
	execv(path, argv);
	if (errno != EACCES)
		return 11;
	execv("/lib64/ld-linux-x86-64.so.2",
	      (char *const[]){ "ld.so", "/bin/true", NULL });
	if (errno != EACCES)
		return 12;
	/* a second call in the same thread is harmless */
	if (confine_thread(false) != CVMM_OK)
		return 13;
	return 0;
}

/* A thread started before the confinement, waiting in a pipe read (as
 * the transport's threads wait in epoll): once confine_process returns it
 * opens nothing outside the root either, and its read was not lost. */
static int early_pipe[2];

static void *early_thread(void *arg)
{
	char c;
	long r = 0;

	(void)arg;
	while (read(early_pipe[0], &c, 1) < 0 && errno == EINTR)
		r++; /* a wait interrupted by the signal, restarted */
	if (c != 'g')
		return (void *)1;
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
		return (void *)2;
	return (void *)0;
}

static int child_process(void)
{
	pthread_t th;
	void *ret = (void *)9;

	if (pipe(early_pipe) != 0 ||
	    pthread_create(&th, NULL, early_thread, NULL) != 0)
		return 1;
	usleep(50 * 1000); /* it waits in read() */
	if (confine_init(root, NULL) != CVMM_OK ||
	    confine_process() != CVMM_OK)
		return 2;
	if (!confine_thread_confined())
		return 3;
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
		return 4;
	if (write(early_pipe[1], "g", 1) != 1 || pthread_join(th, &ret) != 0)
		return 5;
	return ret ? 10 + (int)(intptr_t)ret : 0;
}

static void test_process_confined(void **state)
{
	pid_t pid;
	int status;

	if (confine_landlock_abi() < 1) {
		printf("SKIP: this kernel has no landlock\n");
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_process());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("child failed check %d", WEXITSTATUS(status));
}

extern char cvmm_sigreturn_stub[];

static void *thread_ok(void *arg)
{
	return arg;
}

/* The seccomp filter, in a child: the agent's own calls work, threads
 * start, processes and programs do not, calls off the allow-list are
 * ENOSYS, and signals reach this process only. */
static int child_syscalls(void)
{
	pthread_t th;
	void *ret = NULL;

	if (confine_syscalls() != CVMM_OK)
		return 1;
	if (getpid() <= 0 || open("/dev/null", O_RDONLY) < 0)
		return 2;
	if (pthread_create(&th, NULL, thread_ok, (void *)7) != 0 ||
	    pthread_join(th, &ret) != 0 || ret != (void *)7)
		return 3;
	if (syscall(SYS_fork) != -1 || errno != EPERM)
		return 4;
	if (syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM)
		return 5;
	execv("/bin/true", (char *const[]){ "true", NULL });
	if (errno != EPERM)
		return 6;
	if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) != -1 ||
	    errno != EPERM)
		return 7;
	if (syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL) != -1 ||
	    errno != EPERM)
		return 8;
	if (syscall(SYS_unshare, CLONE_NEWUSER) != -1 || errno != EPERM)
		return 9;
	if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
		return 10;
	/* not on the allow-list: ENOSYS, as on a kernel without them */
	if (syscall(SYS_io_uring_setup, 1, NULL) != -1 || errno != ENOSYS)
		return 11;
	if (syscall(SYS_kexec_load, 0, 0, NULL, 0) != -1 || errno != ENOSYS)
		return 12;
	if (syscall(SYS_add_key, "user", "k", "v", 1, 0) != -1 ||
	    errno != ENOSYS)
		return 13;
	if (syscall(SYS_pidfd_open, getppid(), 0) != -1 || errno != ENOSYS)
		return 14;
	/* signals: to this process only */
	if (kill(getpid(), 0) != 0 ||
	    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) != 0)
		return 15;
	if (kill(getppid(), 0) != -1 || errno != EPERM)
		return 16;
	if (kill(0, 0) != -1 || errno != EPERM) /* the process group */
		return 17;
	if (kill(-1, 0) != -1 || errno != EPERM) /* everyone */
		return 18;
	if (syscall(SYS_tgkill, getppid(), getppid(), 0) != -1 ||
	    errno != EPERM)
		return 19;
	return 0;
}

static void run_child(int (*fn)(void), int *status)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, status, 0), pid);
}

static void test_agent_syscalls(void **state)
{
	int status;

	run_child(child_syscalls, &status);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("filtered child failed check %d", WEXITSTATUS(status));
}

/* A guest that jumps to the syscall instruction of the sigreturn stub (the
 * one place Syscall User Dispatch lets through) with another number is
 * killed, not served. */
static int child_stub_abuse(void)
{
	long ret;

	if (confine_syscalls() != CVMM_OK)
		return 1;
	/* the stub is "mov $15, %eax; syscall; ud2": enter at the syscall
	 * (5 bytes in) with getpid's number */
	__asm__ volatile("lea 1f(%%rip), %%rcx\n\t"
			 "push %%rcx\n\t"
			 "mov $39, %%eax\n\t"
			 "jmp *%1\n"
			 "1:"
			 : "=&a"(ret)
			 : "r"(cvmm_sigreturn_stub + 5)
			 : "rcx", "r11", "memory");
	return 2; /* not reached: killed, or the ud2 */
}

static void test_stub_only_sigreturn(void **state)
{
	int status;

	run_child(child_stub_abuse, &status);
	if (!WIFSIGNALED(status))
		fail_msg("the child exited with %d", WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_confined_thread(void **state)
{
	int status;
	pid_t pid;

	if (confine_landlock_abi() < 1) {
		print_message("skipped: this kernel has no landlock\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("confined child failed check %d", WEXITSTATUS(status));
	/* the parent was not confined by its child */
	assert_true(confine_thread_confined()); /* no rule set here: true */
	assert_int_equal(access("/etc/passwd", R_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confined_thread),
		cmocka_unit_test(test_process_confined),
		cmocka_unit_test(test_agent_syscalls),
		cmocka_unit_test(test_stub_only_sigreturn),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("confine", tests, group_setup,
					   group_teardown);
}
