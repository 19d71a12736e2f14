/* downgrade: what an owner's downgrade and a sharer's invalidation cost,
 * the TLB flush inside a remote fault; no cvmm code in it.
 *
 * One memfd mapped MAP_SHARED and registered with userfaultfd (MINOR + WP,
 * as cvmm's guest view). Per page: write it (a writable PTE), then time
 *   wp        UFFDIO_WRITEPROTECT of the page   (an owner's downgrade)
 *   dontneed  MADV_DONTNEED of the page         (a sharer's invalidation)
 * each with the other cpu idle, and with the other cpu busy running another
 * process (a spinning child pinned there: in cvmm the requester's vCPU, which
 * polls for its grant). The calling thread is pinned to the first cpu this
 * process may run on, so its own mm is on no other cpu; what the busy case
 * adds is the hypervisor's or the kernel's price for a TLB flush while
 * another cpu runs.
 *
 * usage: downgrade [PAGES [ROUNDS]]   (default 2048 3)
 * stdout: one JSON line {"wp_idle_us": .., "wp_busy_us": ..,
 *         "dontneed_idle_us": .., "dontneed_busy_us": ..} (medians; the
 *         busy keys are null with only one cpu)
 * stderr: a table with median, p10 and p90. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

enum { K_WP_IDLE, K_WP_BUSY, K_DN_IDLE, K_DN_BUSY, NKEYS };
static const char *const key[NKEYS] = { "wp_idle_us", "wp_busy_us",
					"dontneed_idle_us",
					"dontneed_busy_us" };

static long ps;
static size_t npages;
static char *view;
static int uffd;
static double *samples[NKEYS];
static size_t nsamples[NKEYS];

static void setup(void)
{
	int fd = memfd_create("downgrade", MFD_CLOEXEC);
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_MISSING_SHMEM |
			    UFFD_FEATURE_MINOR_SHMEM |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP,
	};

	if (fd < 0 || ftruncate(fd, (off_t)(npages * ps)) != 0)
		die("memfd");
	view = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	if (view == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < npages; i++) /* in the page cache */
		view[i * ps] = 1;
	uffd = (int)syscall(SYS_userfaultfd,
			    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0)
		die("userfaultfd");
	reg.range.start = (uintptr_t)view;
	reg.range.len = npages * ps;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
		die("UFFDIO_REGISTER");
}

static void set_wp(char *p, int on)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uintptr_t)p, .len = (uint64_t)ps },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) != 0)
		die("UFFDIO_WRITEPROTECT");
}

/* Every page: write (writable PTE), time the write protection, lift it. */
static void run_wp(int k)
{
	for (size_t i = 0; i < npages; i++) {
		char *p = view + i * ps;
		uint64_t t0;

		*(volatile char *)p = 2;
		t0 = cvmm_now_ns();
		set_wp(p, 1);
		samples[k][nsamples[k]++] = (double)(cvmm_now_ns() - t0) / 1e3;
		set_wp(p, 0);
	}
}

/* Every page: time dropping it, then map it again writable. A MINOR
 * fault would need a handler: lift it with UFFDIO_CONTINUE instead. */
static void run_dontneed(int k)
{
	for (size_t i = 0; i < npages; i++) {
		char *p = view + i * ps;
		struct uffdio_continue c = {
			.range = { .start = (uintptr_t)p,
				   .len = (uint64_t)ps },
		};
		uint64_t t0 = cvmm_now_ns();

		if (madvise(p, (size_t)ps, MADV_DONTNEED) != 0)
			die("madvise");
		samples[k][nsamples[k]++] = (double)(cvmm_now_ns() - t0) / 1e3;
		if (ioctl(uffd, UFFDIO_CONTINUE, &c) != 0)
			die("UFFDIO_CONTINUE");
		*(volatile char *)p = 3;
	}
}

static pid_t spin_on(int cpu)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin_self(cpu);
		for (;;)
			__asm__ volatile("" ::: "memory");
	}
	usleep(20000); /* let it start spinning */
	return pid;
}

int main(int argc, char **argv)
{
	int rounds, cpu_a, cpu_b;
	double med[NKEYS] = { 0 };
	bool have[NKEYS];

	npages = argc > 1 ? strtoul(argv[1], NULL, 0) : 2048;
	rounds = argc > 2 ? atoi(argv[2]) : 3;
	if (npages < 1 || rounds < 1) {
		fprintf(stderr, "usage: downgrade [PAGES [ROUNDS]]\n");
		return 2;
	}
	bench_name = "downgrade";
	ps = sysconf(_SC_PAGESIZE);
	first_two_cpus(&cpu_a, &cpu_b);
	pin_self(cpu_a);
	setup();
	for (int k = 0; k < NKEYS; k++)
		if (!(samples[k] = malloc(sizeof(double) * npages * rounds)))
			die("malloc");
	for (int r = 0; r < rounds; r++) {
		run_wp(K_WP_IDLE);
		run_dontneed(K_DN_IDLE);
		if (cpu_b >= 0) {
			pid_t busy = spin_on(cpu_b);

			run_wp(K_WP_BUSY);
			run_dontneed(K_DN_BUSY);
			kill(busy, SIGKILL);
			waitpid(busy, NULL, 0);
		}
	}
	fprintf(stderr, "downgrade: %zu pages x %d rounds on cpu %d, other cpu "
		"%d\n%-18s %9s %9s %9s\n", npages, rounds, cpu_a, cpu_b,
		"(us)", "median", "p10", "p90");
	for (int k = 0; k < NKEYS; k++) {
		size_t n = nsamples[k];

		have[k] = n != 0;
		if (!n)
			continue;
		qsort(samples[k], n, sizeof(double), cmp_double);
		med[k] = pct(samples[k], n, 0.5);
		fprintf(stderr, "%-18s %9.2f %9.2f %9.2f\n", key[k], med[k],
			pct(samples[k], n, 0.1), pct(samples[k], n, 0.9));
	}
	bench_print_json(key, med, have, NKEYS);
	return 0;
}
