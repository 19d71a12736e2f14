/* sendfileshare: sendfile into a pipe with its offset on the same page as
 * a flag the reader writes before it reads. Across nodes a sendfile that
 * held the offset's page while it blocked on the full pipe kept the reader
 * (another node) from writing the flag, so nobody moved. Natively, and
 * under cvmm on any number of nodes: "sendfileshare ok". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define LEN (1 << 20)

static struct {
	off_t off;           /* sendfile's offset */
	volatile int flag;   /* the reader's, same page */
} page __attribute__((aligned(4096)));

static int pfd[2];

static void *reader(void *arg)
{
	static char buf[65536];
	long got = 0, n;

	page.flag = 1; /* needs the page sendfile's offset lives on */
	while (got < LEN && (n = read(pfd[0], buf, sizeof(buf))) > 0)
		got += n;
	return (void *)got;
}

int main(void)
{
	char *data = malloc(LEN);
	pthread_t th;
	void *got;
	int fd;

	if (!data || pipe(pfd) != 0)
		return 1;
	memset(data, 'x', LEN);
	fd = open("sendfileshare.tmp", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, LEN) != LEN)
		return 1;
	if (pthread_create(&th, NULL, reader, NULL) != 0)
		return 1;
	while (page.off < LEN)
		if (sendfile(pfd[1], fd, &page.off, LEN - page.off) <= 0)
			return 1;
	pthread_join(th, &got);
	unlink("sendfileshare.tmp");
	printf("sendfileshare %s\n",
	       (long)got == LEN && page.flag == 1 ? "ok" : "FAILED");
	return 0;
}
