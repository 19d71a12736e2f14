/* getpid: system call round trip.
 *
 *   getpid ITERS     times ITERS syscall(SYS_getpid) calls (after a warm-up)
 *                    with CLOCK_MONOTONIC and prints "getpid_ns X", the
 *                    mean time per call in ns, then the same for a
 *                    FUTEX_WAKE_PRIVATE nobody waits for ("futex_wake_ns
 *                    X") and a FUTEX_WAIT_PRIVATE whose value differs
 *                    ("futex_wait_eagain_ns X") (for bench/, not compared)
 *   getpid           untimed: 10000 calls from each of 4 threads, every
 *                    result equal to getpid() of main; prints "ok" */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long pid;
static uint32_t word; /* 0: nobody waits on it, a wait for 1 fails */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *checker(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 10000; i++)
		bad += syscall(SYS_getpid) != pid;
	return (void *)bad;
}

int main(int argc, char **argv)
{
	pthread_t t[4];
	long bad = 0;

	pid = getpid();
	if (argc > 1) {
		long iters = atol(argv[1]);
		double t0, t1;

		if (iters < 1) {
			fprintf(stderr, "usage: getpid [ITERS]\n");
			return 2;
		}
		for (long i = 0; i < iters / 10 + 1; i++)
			syscall(SYS_getpid);
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			bad += syscall(SYS_getpid) != pid;
		t1 = now_ns();
		printf("getpid_ns %.1f\n", (t1 - t0) / (double)iters);
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			bad += syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1,
				       NULL, NULL, 0) != 0;
		t1 = now_ns();
		printf("futex_wake_ns %.1f\n", (t1 - t0) / (double)iters);
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			bad += syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 1,
				       NULL, NULL, 0) != -1 ||
			       errno != EAGAIN;
		t1 = now_ns();
		printf("futex_wait_eagain_ns %.1f\n",
		       (t1 - t0) / (double)iters);
		return bad != 0;
	}
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, checker, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	if (bad || pid <= 0) {
		printf("FAIL: %ld getpid results differ from %ld\n", bad, pid);
		return 1;
	}
	printf("getpid from 4 threads consistent\nok\n");
	return 0;
}
