/* limits: RLIMIT_NOFILE is the limit the descriptor calls enforce, as on
 * Linux: dup below it works, at it EINVAL/EBADF, poll with more entries
 * than it EINVAL. The output is the same whatever the limit is, so a run
 * under cvmm compares with the native one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *res(long r)
{
	static char buf[64];

	if (r >= 0)
		return "ok";
	snprintf(buf, sizeof(buf), "%s", strerrorname_np(errno));
	return buf;
}

int main(void)
{
	struct rlimit rl;
	struct pollfd *p;
	long r;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > rl.rlim_max ||
	    rl.rlim_cur < 64) {
		printf("getrlimit: bad\n");
		return 1;
	}
	printf("getrlimit: ok\n");
	r = fcntl(0, F_DUPFD, (int)rl.rlim_cur - 1);
	printf("F_DUPFD limit-1: %s\n", res(r));
	if (r >= 0)
		close((int)r);
	printf("F_DUPFD limit: %s\n", res(fcntl(0, F_DUPFD, (int)rl.rlim_cur)));
	printf("dup2 limit: %s\n", res(dup2(0, (int)rl.rlim_cur)));
	p = calloc(rl.rlim_cur + 1, sizeof(*p));
	if (!p)
		return 1;
	for (rlim_t i = 0; i <= rl.rlim_cur; i++)
		p[i].fd = -1;
	printf("poll limit: %s\n", res(poll(p, rl.rlim_cur, 0)));
	printf("poll limit+1: %s\n", res(poll(p, rl.rlim_cur + 1, 0)));
	/* lowering the soft limit is allowed */
	rl.rlim_cur = 64;
	printf("setrlimit lower: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
	free(p);
	return 0;
}
