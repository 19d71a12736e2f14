/* unmaprace: a read into a buffer that another thread unmaps meanwhile.
 *
 * A thread blocks in read() on an empty pipe into a fresh anonymous
 * mapping; the main thread unmaps that mapping, then fills the pipe. On
 * Linux the read fails with EFAULT (the buffer is gone when the bytes
 * arrive) and a new anonymous mapping at the same address reads as zeros:
 * the bytes land nowhere. Prints what it saw; the output is the same
 * natively and under cvmm. (A regular file read racing munmap has no
 * deterministic outcome to compare; cvmm holds the layout across such a
 * read, so the unmap comes after it.) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (64 * 1024)

static int pfd[2];
static char *buf;
static long got;
static int got_errno;

static void *reader(void *arg)
{
	(void)arg;
	got = read(pfd[0], buf, LEN);
	got_errno = errno;
	return NULL;
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A mapping at exactly addr (fails if the address was taken). */
static char *map_at(void *addr)
{
	char *p = mmap(addr, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);

	if (p == MAP_FAILED || p != addr) {
		printf("remap at %p failed: %s\n", addr, strerror(errno));
		exit(1);
	}
	return p;
}

static void pipe_case(void)
{
	static char fill[LEN];
	pthread_t th;
	char *p;

	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || pipe(pfd) != 0)
		exit(1);
	pthread_create(&th, NULL, reader, NULL);
	usleep(200 * 1000); /* the reader waits in read() (or will fail) */
	munmap(buf, LEN);
	memset(fill, 'x', sizeof(fill));
	if (write(pfd[1], fill, 4096) != 4096)
		exit(1);
	pthread_join(th, NULL);
	printf("pipe read into an unmapped buffer: %s\n",
	       got < 0 ? strerror(got_errno) : "bytes read");
	p = map_at(buf);
	printf("fresh mapping after the pipe read: %s\n",
	       all_zero(p, LEN) ? "zeros" : "NOT ZERO");
	munmap(p, LEN);
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pipe_case();
	return 0;
}
