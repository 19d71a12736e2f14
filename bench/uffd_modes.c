/* uffd_modes: what serving a userfaultfd MINOR fault on shared memory
 * costs, per way of serving it; no cvmm code in it.
 *
 *   sigbus      uffd with UFFD_FEATURE_SIGBUS: the faulting thread gets
 *               SIGBUS, its handler does UFFDIO_CONTINUE and returns, the
 *               access retries
 *   thread same a handler thread polls the uffd, reads the uffd_msg and does
 *               UFFDIO_CONTINUE; pinned to the faulting thread's cpu
 *   thread other  the same, handler pinned to another cpu
 *   baseline    a plain minor fault on a fresh MAP_SHARED mapping of the
 *               memfd (page in the page cache), no uffd; the kernel's fault-
 *               around maps the neighbouring pages too, so each pass touches
 *               one page per fault-around window and the mapping is zapped
 *               (MADV_DONTNEED) between passes: every timed access faults
 *
 * One memfd of PAGES pages, written through a second mapping, so every
 * fault of the "guest view" is a MINOR fault. Per mode and round the guest
 * view is mapped afresh, registered (UFFDIO_REGISTER_MODE_MINOR) and each
 * page read once, timed with clock_gettime(CLOCK_MONOTONIC). The modes run
 * interleaved, ROUNDS rounds. The faulting thread is pinned to the first
 * cpu this process may run on.
 *
 * usage: uffd_modes [PAGES [ROUNDS]]   (default 4096 5)
 * stdout: one JSON line {"uffd_sigbus_us": .., "uffd_thread_same_cpu_us": ..,
 *         "uffd_thread_other_cpu_us": .., "minor_fault_baseline_us": ..}
 *         (medians; other_cpu is null with only one cpu)
 * stderr: a table with median, p10, p90 and the fault counts seen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_SIGBUS
#define UFFD_FEATURE_SIGBUS (1 << 7)
#endif
#ifndef UFFD_FEATURE_MINOR_SHMEM
#define UFFD_FEATURE_MINOR_SHMEM (1 << 10)
#endif
#ifndef UFFDIO_REGISTER_MODE_MINOR
#define UFFDIO_REGISTER_MODE_MINOR ((__u64)1 << 2)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_MINOR
#define UFFD_PAGEFAULT_FLAG_MINOR (1 << 2)
#endif
#ifndef UFFDIO_CONTINUE
#define _UFFDIO_CONTINUE (0x07)
struct uffdio_continue {
	struct uffdio_range range;
	__u64 mode;
	__s64 mapped;
};
#define UFFDIO_CONTINUE \
	_IOWR(UFFDIO, _UFFDIO_CONTINUE, struct uffdio_continue)
#endif

enum { M_SIGBUS, M_SAME, M_OTHER, M_BASE, NMODES };
static const char *const mode_key[NMODES] = {
	"uffd_sigbus_us", "uffd_thread_same_cpu_us",
	"uffd_thread_other_cpu_us", "minor_fault_baseline_us"};
static const char *const mode_name[NMODES] = {
	"sigbus handler", "thread, same cpu", "thread, other cpu",
	"plain minor fault"};

static long ps;
static size_t npages;
static int memfd;
static int cpu_a, cpu_b;

static double *samples[NMODES];
static size_t nsamples[NMODES];
static unsigned long faults_seen[NMODES];

static volatile int sig_uffd = -1;
static volatile unsigned long sig_count;

static int uffd_continue(int fd, uintptr_t addr)
{
	struct uffdio_continue c = {
		.range = {.start = addr & ~(uintptr_t)(ps - 1), .len = ps},
	};
	return ioctl(fd, UFFDIO_CONTINUE, &c);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	/* EEXIST: already mapped (cannot happen here, harmless anyway) */
	if (uffd_continue(sig_uffd, (uintptr_t)si->si_addr) != 0 &&
	    errno != EEXIST) {
		static const char msg[] = "uffd_modes: UFFDIO_CONTINUE failed "
					  "in the SIGBUS handler\n";
		write(2, msg, sizeof msg - 1);
		_exit(1);
	}
	sig_count++;
}

static int open_uffd(int sigbus)
{
	int fd = (int)syscall(SYS_userfaultfd,
			      O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		die("userfaultfd");
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_MINOR_SHMEM |
			    (sigbus ? UFFD_FEATURE_SIGBUS : 0),
	};
	if (ioctl(fd, UFFDIO_API, &api) != 0)
		die("UFFDIO_API (MINOR_SHMEM/SIGBUS)");
	return fd;
}

static char *map_view(void)
{
	char *p = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
		       memfd, 0);
	if (p == MAP_FAILED)
		die("mmap guest view");
	return p;
}

static void register_minor(int fd, char *view)
{
	struct uffdio_register r = {
		.range = {.start = (uintptr_t)view, .len = npages * ps},
		.mode = UFFDIO_REGISTER_MODE_MINOR,
	};
	if (ioctl(fd, UFFDIO_REGISTER, &r) != 0)
		die("UFFDIO_REGISTER MINOR");
	if (!(r.ioctls & ((__u64)1 << _UFFDIO_CONTINUE))) {
		fprintf(stderr, "uffd_modes: no UFFDIO_CONTINUE on the range\n");
		exit(1);
	}
}

/* Reads page i of view once, timed; records the sample. */
static inline void timed_read(int mode, char *view, size_t i)
{
	uint64_t t0 = cvmm_now_ns();
	(void)*(volatile char *)(view + i * ps);
	uint64_t t1 = cvmm_now_ns();
	samples[mode][nsamples[mode]++] = (double)(t1 - t0) / 1000.0;
}

static void run_sigbus(void)
{
	int fd = open_uffd(1);
	char *view = map_view();
	register_minor(fd, view);
	sig_uffd = fd;
	sig_count = 0;
	for (size_t i = 0; i < npages; i++)
		timed_read(M_SIGBUS, view, i);
	faults_seen[M_SIGBUS] += sig_count;
	sig_uffd = -1;
	munmap(view, npages * ps);
	close(fd);
}

struct handler {
	int uffd, stopfd;
	unsigned long served;
};

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct pollfd pfd[2] = {{.fd = h->uffd, .events = POLLIN},
				{.fd = h->stopfd, .events = POLLIN}};
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll uffd");
		}
		if (pfd[1].revents)
			return NULL;
		struct uffd_msg msg;
		ssize_t n = read(h->uffd, &msg, sizeof msg);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("read uffd");
		}
		if (n != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR)) {
			fprintf(stderr, "uffd_modes: unexpected uffd message\n");
			exit(1);
		}
		if (uffd_continue(h->uffd, msg.arg.pagefault.address) != 0 &&
		    errno != EEXIST)
			die("UFFDIO_CONTINUE");
		h->served++;
	}
}

static void run_thread(int mode, int cpu)
{
	struct handler h = {.uffd = open_uffd(0),
			    .stopfd = eventfd(0, EFD_CLOEXEC)};
	if (h.stopfd < 0)
		die("eventfd");
	char *view = map_view();
	register_minor(h.uffd, view);

	pthread_attr_t attr;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	pthread_t t;
	if ((errno = pthread_create(&t, &attr, handler_main, &h)) != 0)
		die("pthread_create");
	pthread_attr_destroy(&attr);

	for (size_t i = 0; i < npages; i++)
		timed_read(mode, view, i);

	uint64_t one = 1;
	if (write(h.stopfd, &one, sizeof one) != sizeof one)
		die("write eventfd");
	pthread_join(t, NULL);
	faults_seen[mode] += h.served;
	munmap(view, npages * ps);
	close(h.stopfd);
	close(h.uffd);
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* Fault-around maps the whole aligned window around a fault; a stride of
 * 16 pages (64 KiB, the default fault_around_bytes) and a zap between
 * passes make every timed read a fault. */
#define WINDOW 16

static void run_baseline(void)
{
	char *view = map_view();
	long f0 = minflt();
	for (size_t off = 0; off < WINDOW; off++) {
		for (size_t i = off; i < npages; i += WINDOW)
			timed_read(M_BASE, view, i);
		if (madvise(view, npages * ps, MADV_DONTNEED) != 0)
			die("madvise DONTNEED");
	}
	faults_seen[M_BASE] += (unsigned long)(minflt() - f0);
	munmap(view, npages * ps);
}

int main(int argc, char **argv)
{
	npages = argc > 1 ? strtoul(argv[1], NULL, 0) : 4096;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (npages < WINDOW || rounds < 1) {
		fprintf(stderr, "usage: uffd_modes [PAGES>=%d [ROUNDS>=1]]\n",
			WINDOW);
		return 2;
	}
	ps = sysconf(_SC_PAGESIZE);

	bench_name = "uffd_modes";
	first_two_cpus(&cpu_a, &cpu_b);
	pin_self(cpu_a);

	memfd = memfd_create("uffd_modes", MFD_CLOEXEC);
	if (memfd < 0)
		die("memfd_create");
	if (ftruncate(memfd, (off_t)(npages * ps)) != 0)
		die("ftruncate");
	char *fill = map_view();
	for (size_t i = 0; i < npages; i++)
		memset(fill + i * ps, (int)(i & 0xff) | 1, ps);
	munmap(fill, npages * ps);

	for (int m = 0; m < NMODES; m++) {
		samples[m] = malloc(sizeof(double) * npages * rounds);
		if (!samples[m])
			die("malloc");
	}

	struct sigaction sa = {.sa_sigaction = on_sigbus,
			       .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) != 0)
		die("sigaction");

	for (int r = 0; r < rounds; r++) {
		run_sigbus();
		run_thread(M_SAME, cpu_a);
		if (cpu_b >= 0)
			run_thread(M_OTHER, cpu_b);
		run_baseline();
	}

	double med[NMODES] = { 0 };
	bool have[NMODES];
	fprintf(stderr,
		"uffd_modes: %zu pages x %d rounds, faulting thread on cpu %d, "
		"other cpu %d\n%-20s %9s %9s %9s %8s %8s\n",
		npages, rounds, cpu_a, cpu_b, "mode (us)", "median", "p10",
		"p90", "samples", "faults");
	for (int m = 0; m < NMODES; m++) {
		size_t n = nsamples[m];
		if (!n) {
			fprintf(stderr, "%-20s %9s\n", mode_name[m], "n/a");
			continue;
		}
		qsort(samples[m], n, sizeof(double), cmp_double);
		med[m] = pct(samples[m], n, 0.5);
		fprintf(stderr, "%-20s %9.3f %9.3f %9.3f %8zu %8lu\n",
			mode_name[m], med[m], pct(samples[m], n, 0.1),
			pct(samples[m], n, 0.9), n, faults_seen[m]);
	}
	for (int m = 0; m < NMODES; m++) {
		if (nsamples[m] && faults_seen[m] < nsamples[m]) {
			fprintf(stderr, "uffd_modes: %s: only %lu faults for %zu "
				"timed reads\n", mode_name[m], faults_seen[m],
				nsamples[m]);
			return 1;
		}
	}

	for (int m = 0; m < NMODES; m++)
		have[m] = nsamples[m] != 0;
	bench_print_json(mode_key, med, have, NMODES);
	return 0;
}
