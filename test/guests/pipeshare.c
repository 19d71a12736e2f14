/* pipeshare: a thread blocks on a pipe (read, readv, then poll) with its
 * buffer in the same 4 KiB page as a flag the writer thread sets before it
 * writes to the pipe. Across nodes the writer needs that page while the
 * reader waits: the call must not hold it (cvmm bounces such reads).
 * Natively and on one node it is an ordinary pipe exchange.
 *
 *   pipeshare          prints "pipeshare ok read readv poll" */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* One page: what the reader's calls write and what the writer sets. */
static struct {
	char buf[64];
	char tail[64];
	struct pollfd pfd;
	volatile int round;
} page __attribute__((aligned(4096)));

static int fds[2];

static void *writer(void *arg)
{
	(void)arg;
	for (int r = 1; r <= 3; r++) {
		usleep(50000); /* let the reader block first */
		page.round = r; /* a write to the reader's page */
		if (write(fds[1], "hello, pipe", 11) != 11)
			return "write";
	}
	return NULL;
}

static int expect(const char *what, long n, const char *got)
{
	if (n != 11 || memcmp(got, "hello, pipe", 11) != 0) {
		printf("pipeshare %s: got %ld bytes '%.*s'\n", what, n,
		       n > 0 ? (int)n : 0, got);
		return 1;
	}
	return 0;
}

int main(void)
{
	struct iovec iov[2] = { { page.buf, 5 }, { page.tail, 6 } };
	char joined[11];
	pthread_t t;
	void *res;
	int bad = 0;
	long n;

	if (pipe(fds) != 0 || pthread_create(&t, NULL, writer, NULL) != 0) {
		perror("pipeshare");
		return 1;
	}
	n = read(fds[0], page.buf, sizeof(page.buf));
	bad |= expect("read", n, page.buf) || page.round != 1;
	n = readv(fds[0], iov, 2);
	memcpy(joined, page.buf, 5);
	memcpy(joined + 5, page.tail, 6);
	bad |= expect("readv", n, joined) || page.round != 2;
	page.pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	n = poll(&page.pfd, 1, 10000);
	bad |= n != 1 || !(page.pfd.revents & POLLIN) || page.round != 3;
	n = read(fds[0], page.buf, sizeof(page.buf));
	bad |= expect("read after poll", n, page.buf);
	pthread_join(t, &res);
	if (res) {
		printf("pipeshare: writer failed: %s\n", (char *)res);
		return 1;
	}
	printf(bad ? "pipeshare FAILED\n" : "pipeshare ok read readv poll\n");
	return bad;
}
