/* pipe: a writer thread sends 1 MiB through a pipe in uneven chunks, a
 * reader thread receives it with short reads and checks every byte; then the
 * reader sees EOF after the writer closes its end, a write to a pipe with no
 * reader fails with EPIPE (SIGPIPE ignored), and pipe2(O_NONBLOCK) reads
 * fail with EAGAIN when empty.
 *
 *   pipe */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOTAL (1024 * 1024)

static int fds[2];

static unsigned char byte_at(long i)
{
	return (unsigned char)(i * 31 + (i >> 12));
}

static void *writer(void *arg)
{
	static unsigned char buf[70000];
	long sent = 0, bad = 0;

	(void)arg;
	while (sent < TOTAL) {
		long chunk = 1 + (sent * 7 + 333) % 69999, n;

		if (chunk > TOTAL - sent)
			chunk = TOTAL - sent;
		for (long i = 0; i < chunk; i++)
			buf[i] = byte_at(sent + i);
		for (long off = 0; off < chunk; off += n) {
			n = write(fds[1], buf + off, (size_t)(chunk - off));
			if (n <= 0) {
				bad++;
				break;
			}
		}
		sent += chunk;
	}
	close(fds[1]);
	return (void *)bad;
}

static void *reader(void *arg)
{
	static unsigned char buf[4000];
	long got = 0, bad = 0, n;

	(void)arg;
	while ((n = read(fds[0], buf, 1 + (size_t)(got % 3999))) > 0) {
		for (long i = 0; i < n; i++)
			bad += buf[i] != byte_at(got + i);
		got += n;
	}
	if (n < 0 || got != TOTAL)
		bad++;
	close(fds[0]);
	return (void *)bad;
}

int main(void)
{
	pthread_t w, r;
	void *bw, *br;
	int p[2];
	char c;

	if (pipe(fds) != 0) {
		printf("FAIL: pipe: %m\n");
		return 1;
	}
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&w, NULL, writer, NULL);
	pthread_join(w, &bw);
	pthread_join(r, &br);
	if (bw || br) {
		printf("FAIL: %ld write errors, %ld read errors\n", (long)bw,
		       (long)br);
		return 1;
	}
	printf("1 MiB through a pipe between threads ok\n");

	signal(SIGPIPE, SIG_IGN);
	if (pipe(p) != 0) {
		printf("FAIL: pipe: %m\n");
		return 1;
	}
	close(p[0]);
	if (write(p[1], "x", 1) != -1 || errno != EPIPE) {
		printf("FAIL: write with no reader did not fail with EPIPE\n");
		return 1;
	}
	close(p[1]);
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		printf("FAIL: pipe2: %m\n");
		return 1;
	}
	if (read(p[0], &c, 1) != -1 || errno != EAGAIN) {
		printf("FAIL: empty non-blocking read did not fail with "
		       "EAGAIN\n");
		return 1;
	}
	if (write(p[1], "y", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'y') {
		printf("FAIL: non-blocking pipe round trip\n");
		return 1;
	}
	close(p[0]);
	close(p[1]);
	printf("EPIPE and EAGAIN ok\n");
	printf("ok\n");
	return 0;
}
