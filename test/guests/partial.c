/* partial: a call that fills a buffer whose tail is not writable returns
 * the bytes before the first bad page, as Linux does, and EFAULT only when
 * nothing was writable; an ioctl with a bad argument fails as Linux's
 * does (EBADF, then ENOTTY for a file that is no terminal, then EFAULT).
 * Printed per case so cvmm's run compares with the native one. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, long n)
{
	printf("%s: %ld %s\n", what, n, n < 0 ? strerrorname_np(errno) : "");
}

int main(void)
{
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	munmap(p + 8192, 4096);
	show("getrandom into a hole", getrandom(p + 100, 3 * 4096 - 200, 0));
	show("getrandom unmapped", getrandom(p + 8192, 10, 0));
	show("getrandom empty", getrandom(p, 0, 0));
	mprotect(p + 4096, 4096, PROT_READ);
	show("getrandom read-only tail", getrandom(p + 4000, 4000, 0));
	int fd = open("partial.tmp", O_RDWR | O_CREAT, 0644), pp[2];

	show("ioctl TIOCGWINSZ NULL on a file", ioctl(fd, TIOCGWINSZ, NULL));
	show("ioctl TCGETS bad pointer on a file", ioctl(fd, TCGETS, p + 8192));
	show("ioctl TIOCGWINSZ NULL on a bad fd", ioctl(99, TIOCGWINSZ, NULL));
	show("ioctl FIONREAD NULL on a file", ioctl(fd, FIONREAD, NULL));
	if (pipe(pp) == 0)
		show("ioctl FIONREAD NULL on a pipe",
		     ioctl(pp[0], FIONREAD, NULL));
	unlink("partial.tmp");
	return 0;
}
