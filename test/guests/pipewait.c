/* pipewait: a reader thread blocks in read() on an empty pipe while the
 * main thread sleeps argv[1] tenths of a second (default 10), then writes
 * a line; the reader prints what it read, the main thread joins it. For a
 * node leaving while one of its threads is blocked in a call that node 0
 * runs for it (run_ctl.sh remove): the call must be given up and made
 * again where the thread goes, losing nothing.
 *
 *   pipewait [TENTHS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2];

static void *reader(void *arg)
{
	char buf[64];
	ssize_t n;

	(void)arg;
	printf("reader waits\n");
	fflush(stdout);
	n = read(fds[0], buf, sizeof(buf) - 1);
	if (n < 0) {
		perror("read");
		exit(1);
	}
	buf[n] = '\0';
	printf("reader read %zd bytes: %s", n, buf);
	return NULL;
}

int main(int argc, char **argv)
{
	int tenths = argc > 1 ? atoi(argv[1]) : 10;
	struct timespec ts = { tenths / 10, (tenths % 10) * 100000000L };
	const char *msg = "the writer's line\n";
	pthread_t t;

	if (pipe(fds) != 0 || pthread_create(&t, NULL, reader, NULL) != 0) {
		perror("pipewait");
		return 1;
	}
	nanosleep(&ts, NULL);
	if (write(fds[1], msg, strlen(msg)) != (ssize_t)strlen(msg)) {
		perror("write");
		return 1;
	}
	pthread_join(t, NULL);
	printf("ok\n");
	return 0;
}
