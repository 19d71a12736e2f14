/* robust: hostile arguments to the memory, futex and time calls, made with
 * raw syscall() so libc checks nothing. Each case prints one line, its
 * result or errno name, so the output under cvmm must equal the native run:
 *  - mremap, mmap, munmap, mprotect, madvise and brk with lengths and
 *    addresses whose sum or page rounding wraps past 2^64;
 *  - pointers that wrap (write, clock_gettime, a futex timeout);
 *  - futex errnos: WAKE on address 0 (shared: EFAULT, private: 0),
 *    REQUEUE and CMP_REQUEUE with negative counts (EINVAL), bad timeouts,
 *    WAKE with a count of 0 (wakes one), REQUEUE's count (woken + moved);
 *  - FUTEX_WAIT with a timeout near LONG_MAX (relative, and absolute on
 *    both clocks) that another thread wakes after 100 ms: the waiter must
 *    sleep, not spin ("cpu ok": under 50 ms of its own CPU time);
 *  - ppoll with a timeout near LONG_MAX, woken by a pipe write; nanosleep
 *    and clock_nanosleep until LONG_MAX sleep (little CPU for 100 ms).
 *
 *   robust */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define TOP 0xfffffffffffff000UL /* the last page of the 64-bit space */

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
	fflush(stdout);
}

/* A call that returns an address: "ok" instead of the address. */
static void show_addr(const char *what, long r)
{
	if (r < 0 && r > -4096)
		show(what, r);
	else
		printf("%s: ok\n", what);
	fflush(stdout);
}

static long futex(void *uaddr, int op, long val, const void *ts, void *uaddr2,
		  long val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static int64_t ns_of(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* ---- memory ---------------------------------------------------------- */

static void mm_cases(void)
{
	long p = syscall(SYS_mmap, 0, 4 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long q = syscall(SYS_mmap, 0, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long b0;

	show_addr("mmap p", p);
	show_addr("mmap q", q);
	/* mremap: the new range wraps, or the new length is absurd */
	show("mremap fixed to the top page, 2 pages",
	     syscall(SYS_mremap, p, PAGE, 2 * PAGE,
		     MREMAP_MAYMOVE | MREMAP_FIXED, TOP));
	show("mremap fixed, newlen 2^64-4096",
	     syscall(SYS_mremap, p, PAGE, TOP, MREMAP_MAYMOVE | MREMAP_FIXED,
		     q));
	show("mremap fixed, newlen rounds to 0",
	     syscall(SYS_mremap, p, PAGE, -1L, MREMAP_MAYMOVE | MREMAP_FIXED,
		     q));
	show("mremap grow in place, newlen 2^64-4096",
	     syscall(SYS_mremap, p, PAGE, TOP, 0, 0));
	show("mremap grow maymove, newlen 2^64-4096",
	     syscall(SYS_mremap, p, PAGE, TOP, MREMAP_MAYMOVE, 0));
	show("mremap grow, newlen 2^64-p",
	     syscall(SYS_mremap, p, PAGE, -p, MREMAP_MAYMOVE, 0));
	show("mremap newlen -1", syscall(SYS_mremap, p, PAGE, -1L, 0, 0));
	show("mremap shrink, oldlen 2^64-4096",
	     syscall(SYS_mremap, p, TOP, PAGE, 0, 0));
	show("mremap grow, oldlen rounds to 0",
	     syscall(SYS_mremap, p, -1L, 2 * PAGE, MREMAP_MAYMOVE, 0));
	show("mremap fixed, oldlen past the mapping",
	     syscall(SYS_mremap, p, TOP, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		     q));
	show("mremap unmapped old",
	     syscall(SYS_mremap, PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0));
	/* mmap */
	show_addr("mmap len -1", syscall(SYS_mmap, 0, -1L, PROT_READ,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	show_addr("mmap len 2^64-4096",
		  syscall(SYS_mmap, 0, TOP, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	show_addr("mmap fixed, end wraps",
		  syscall(SYS_mmap, TOP, 2 * PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	show_addr("mmap noreplace, end wraps",
		  syscall(SYS_mmap, TOP, 2 * PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			  0));
	show_addr("mmap hint, end wraps",
		  syscall(SYS_mmap, TOP, 2 * PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	show_addr("mmap len 0", syscall(SYS_mmap, 0, 0, PROT_READ,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	/* munmap */
	show("munmap NULL 4096", syscall(SYS_munmap, 0, PAGE));
	show("munmap 0x1000 4096", syscall(SYS_munmap, PAGE, PAGE));
	show("munmap len 0", syscall(SYS_munmap, q, 0));
	show("munmap len -1", syscall(SYS_munmap, q, -1L));
	show("munmap len 2^64-q", syscall(SYS_munmap, q, -q));
	show("munmap top page, 2 pages", syscall(SYS_munmap, TOP, 2 * PAGE));
	show("munmap 2^63", syscall(SYS_munmap, 1UL << 63, PAGE));
	show("munmap unaligned", syscall(SYS_munmap, q + 1, PAGE));
	/* mprotect */
	show("mprotect len -1", syscall(SYS_mprotect, p, -1L, PROT_READ));
	show("mprotect len 2^64-p", syscall(SYS_mprotect, p, -p, PROT_READ));
	show("mprotect top page, 2 pages",
	     syscall(SYS_mprotect, TOP, 2 * PAGE, PROT_READ));
	show("mprotect len 0, bad prot", syscall(SYS_mprotect, p, 0, 0x1000));
	show("mprotect bad prot", syscall(SYS_mprotect, p, PAGE, 0x1000));
	show("mprotect unmapped", syscall(SYS_mprotect, PAGE, PAGE, PROT_READ));
	/* madvise */
	show("madvise len -1", syscall(SYS_madvise, p, -1L, MADV_DONTNEED));
	show("madvise len 2^64-p", syscall(SYS_madvise, p, -p, MADV_DONTNEED));
	show("madvise len 2^64-4096",
	     syscall(SYS_madvise, p, TOP, MADV_DONTNEED));
	show("madvise len 0", syscall(SYS_madvise, p, 0, MADV_DONTNEED));
	show("madvise bad advice", syscall(SYS_madvise, p, PAGE, 12345));
	show("madvise dontneed", syscall(SYS_madvise, p, PAGE, MADV_DONTNEED));
	/* brk: a break that wraps when rounded leaves the break alone */
	b0 = syscall(SYS_brk, 0);
	printf("brk -1: %s\n", syscall(SYS_brk, -1L) == b0 ? "same" : "moved");
	printf("brk 2^64-4095: %s\n",
	       syscall(SYS_brk, TOP + 1) == b0 ? "same" : "moved");
	printf("brk 2^63: %s\n",
	       syscall(SYS_brk, 1UL << 63) == b0 ? "same" : "moved");
	/* mremap itself works afterwards */
	show_addr("mremap grow maymove", syscall(SYS_mremap, p, 4 * PAGE,
						 8 * PAGE, MREMAP_MAYMOVE, 0));
}

/* ---- pointers ------------------------------------------------------------ */

static void ptr_cases(void)
{
	int fds[2];

	if (pipe(fds) != 0) {
		printf("FAIL: pipe\n");
		return;
	}
	show("write from a pointer that wraps",
	     syscall(SYS_write, fds[1], -16L, 32));
	show("clock_gettime into a pointer that wraps",
	     syscall(SYS_clock_gettime, CLOCK_MONOTONIC, -8L));
	close(fds[0]);
	close(fds[1]);
}

/* ---- futex errnos -------------------------------------------------------- */

static uint32_t fw, fw2;

static void futex_errno_cases(void)
{
	struct timespec huge = { LONG_MAX, 999999999 };
	struct timespec badns = { 0, 1000000000 };
	struct timespec neg = { -1, 0 };

	show("futex wake shared on 0", futex(NULL, FUTEX_WAKE, 1, 0, 0, 0));
	show("futex wake private on 0",
	     futex(NULL, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0));
	show("futex wake shared on 2^64-4",
	     futex((void *)-4L, FUTEX_WAKE, 1, 0, 0, 0));
	show("futex wake private on 2^64-4",
	     futex((void *)-4L, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0));
	show("futex wake unaligned",
	     futex((char *)&fw + 1, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0));
	show("futex wake_bitset 0 on 0",
	     futex(NULL, FUTEX_WAKE_BITSET, 1, 0, 0, 0));
	show("futex wake, no waiter", futex(&fw, FUTEX_WAKE, 1, 0, 0, 0));
	show("futex requeue nwake -1",
	     futex(&fw, FUTEX_REQUEUE_PRIVATE, -1, (void *)1, &fw2, 0));
	show("futex requeue nmove -1",
	     futex(&fw, FUTEX_REQUEUE_PRIVATE, 1, (void *)-1L, &fw2, 0));
	show("futex cmp_requeue nwake -1",
	     futex(&fw, FUTEX_CMP_REQUEUE_PRIVATE, -1, (void *)1, &fw2, 0));
	show("futex cmp_requeue nmove -1, value differs",
	     futex(&fw, FUTEX_CMP_REQUEUE, 1, (void *)-1L, &fw2, 7));
	show("futex requeue shared to 0",
	     futex(&fw, FUTEX_REQUEUE, 1, (void *)1, NULL, 0));
	show("futex requeue private to 0",
	     futex(&fw, FUTEX_REQUEUE_PRIVATE, 1, (void *)1, NULL, 0));
	show("futex cmp_requeue private from 0",
	     futex(NULL, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &fw2, 0));
	show("futex cmp_requeue value differs",
	     futex(&fw, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &fw2, 7));
	show("futex wait huge timeout, value differs",
	     futex(&fw, FUTEX_WAIT_PRIVATE, 1, &huge, 0, 0));
	show("futex wait tv_nsec 1e9",
	     futex(&fw, FUTEX_WAIT_PRIVATE, 0, &badns, 0, 0));
	show("futex wait tv_sec -1",
	     futex(&fw, FUTEX_WAIT_PRIVATE, 0, &neg, 0, 0));
	show("futex wait timeout pointer wraps",
	     futex(&fw, FUTEX_WAIT_PRIVATE, 0, (void *)-8L, 0, 0));
	show("futex wait on 0", futex(NULL, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0));
	show("futex wait_bitset 0 on 0",
	     futex(NULL, FUTEX_WAIT_BITSET, 0, 0, 0, 0));
	show("futex wait realtime",
	     futex(&fw, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 1, 0, 0, 0));
	show("futex wake realtime",
	     futex(&fw, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, 0, 0, 0));
	show("futex wait 10 ms",
	     futex(&fw, FUTEX_WAIT_PRIVATE, 0,
		   &(struct timespec){ 0, 10000000 }, 0, 0));
	show("nanosleep tv_nsec 1e9", syscall(SYS_nanosleep, &badns, NULL));
	show("nanosleep tv_sec -1", syscall(SYS_nanosleep, &neg, NULL));
}

/* ---- private and shared queues -------------------------------------------- */

/* A private waiter is not woken by a shared wake on its word (the kernel
 * keys them apart), only by a private one. The waiter waits again after
 * each wake-up while the word is 0; once a private wake has found it, ten
 * more rounds of a shared then a private wake, all while it waits: the
 * shared ones wake nobody. */
static uint32_t pw;

static void *private_waiter(void *arg)
{
	while (__atomic_load_n(&pw, __ATOMIC_ACQUIRE) == 0)
		futex(&pw, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static void queue_cases(void)
{
	long shared = 0, found = 0;
	pthread_t t;

	pthread_create(&t, NULL, private_waiter, NULL);
	for (int i = 0, more = 10; i < 5000 && more > 0; i++) {
		sleep_ms(1);
		shared += futex(&pw, FUTEX_WAKE, 1, 0, 0, 0);
		if (futex(&pw, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0) > 0)
			found = 1;
		more -= (int)found;
	}
	__atomic_store_n(&pw, 1, __ATOMIC_RELEASE);
	futex(&pw, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
	pthread_join(t, NULL);
	show("futex shared wakes of a private waiter", shared);
	show("futex private wake found it", found);
}

/* ---- waits with a huge timeout ------------------------------------------- */

struct hwait {
	uint32_t word;
	int op;
	struct timespec ts;
	long err;    /* first errno other than EAGAIN/EINTR, or 0 */
	int64_t cpu; /* the waiter's CPU time over the wait, ns */
};

static void *hwaiter(void *arg)
{
	struct hwait *h = arg;
	int64_t c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);

	while (!__atomic_load_n(&h->word, __ATOMIC_ACQUIRE)) {
		long r = futex(&h->word, h->op, 0, &h->ts, 0,
			       FUTEX_BITSET_MATCH_ANY);

		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			h->err = errno;
			break;
		}
	}
	h->cpu = ns_of(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static void huge_wait(const char *what, int op, struct timespec ts)
{
	struct hwait h = { .op = op, .ts = ts };
	pthread_t t;

	pthread_create(&t, NULL, hwaiter, &h);
	sleep_ms(100);
	__atomic_store_n(&h.word, 1, __ATOMIC_RELEASE);
	futex(&h.word, FUTEX_WAKE | (op & FUTEX_PRIVATE_FLAG), 1, 0, 0, 0);
	pthread_join(t, NULL);
	printf("%s: %s, %s\n", what, h.err ? strerrorname_np(h.err) : "woken",
	       h.cpu < 50000000 ? "cpu ok" : "cpu high");
	fflush(stdout);
}

/* ---- sleeps with a huge timeout -------------------------------------------
 * They never end: the threads stay asleep until exit_group. What is checked
 * is that they sleep: the whole process uses little CPU meanwhile. */

static void *long_sleep(void *arg)
{
	struct timespec t = { LONG_MAX, 999999999 };

	if (arg)
		syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &t,
			NULL);
	else
		syscall(SYS_nanosleep, &t, NULL);
	printf("FAIL: a sleep of 292 years ended\n");
	return NULL;
}

static void sleep_cases(void)
{
	pthread_t t[2];
	int64_t c0, c1;

	pthread_create(&t[0], NULL, long_sleep, NULL);
	pthread_create(&t[1], NULL, long_sleep, (void *)1);
	sleep_ms(20);
	c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	sleep_ms(100);
	c1 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	printf("nanosleep and clock_nanosleep LONG_MAX: %s\n",
	       c1 - c0 < 50000000 ? "cpu ok" : "cpu high");
	fflush(stdout);
}

/* ---- counts -------------------------------------------------------------- */

static uint32_t qa, qb;

static void *one_wait(void *arg)
{
	futex(arg, FUTEX_WAIT_PRIVATE, 0, NULL, 0, 0);
	return NULL;
}

/* Repeats call until it has counted want waiters (at most 5 s). */
static long count_until(long want, int requeue)
{
	int64_t end = ns_of(CLOCK_MONOTONIC) + 5000000000LL;
	long total = 0;

	while (total < want && ns_of(CLOCK_MONOTONIC) < end) {
		long r = requeue ? futex(&qa, FUTEX_REQUEUE_PRIVATE, 0,
					 (void *)(want - total), &qb, 0)
				 : futex(&qa, FUTEX_WAKE_PRIVATE, 0, 0, 0, 0);

		if (r > 0)
			total += r;
		else
			sleep_ms(1);
	}
	return total;
}

static void count_cases(void)
{
	pthread_t t[2];

	/* FUTEX_WAKE with a count of 0 still wakes one waiter */
	pthread_create(&t[0], NULL, one_wait, &qa);
	printf("futex wake count 0 with a waiter: %ld\n", count_until(1, 0));
	futex(&qa, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
	pthread_join(t[0], NULL);
	/* FUTEX_REQUEUE returns woken + moved */
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, one_wait, &qa);
	printf("futex requeue 0 wake, 2 waiters: %ld\n", count_until(2, 1));
	futex(&qb, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
	futex(&qa, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	fflush(stdout);
}

/* ---- ppoll --------------------------------------------------------------- */

static void *late_write(void *arg)
{
	sleep_ms(100);
	if (write(*(int *)arg, "x", 1) != 1)
		printf("FAIL: late write\n");
	return NULL;
}

static void ppoll_case(void)
{
	struct timespec huge = { LONG_MAX, 999999999 };
	int fds[2];
	struct pollfd p;
	pthread_t t;

	if (pipe(fds) != 0) {
		printf("FAIL: pipe\n");
		return;
	}
	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	pthread_create(&t, NULL, late_write, &fds[1]);
	show("ppoll huge timeout, late write",
	     syscall(SYS_ppoll, &p, 1, &huge, NULL, 8));
	pthread_join(t, NULL);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	mm_cases();
	ptr_cases();
	futex_errno_cases();
	queue_cases();
	huge_wait("futex wait relative LONG_MAX", FUTEX_WAIT_PRIVATE,
		  (struct timespec){ LONG_MAX, 999999999 });
	huge_wait("futex wait shared relative LONG_MAX", FUTEX_WAIT,
		  (struct timespec){ LONG_MAX, 0 });
	huge_wait("futex wait_bitset absolute LONG_MAX monotonic",
		  FUTEX_WAIT_BITSET_PRIVATE,
		  (struct timespec){ LONG_MAX, 999999999 });
	huge_wait("futex wait_bitset absolute LONG_MAX realtime",
		  FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME,
		  (struct timespec){ LONG_MAX, 999999999 });
	huge_wait("futex wait relative 2^40 s", FUTEX_WAIT_PRIVATE,
		  (struct timespec){ 1L << 40, 0 });
	count_cases();
	ppoll_case();
	sleep_cases();
	printf("done\n");
	return 0;
}
