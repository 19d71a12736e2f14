/* partial: a call that fills a buffer whose tail is not writable returns
 * the bytes before the first bad page, as Linux does, and EFAULT only when
 * nothing was writable. Printed per case so cvmm's run compares with the
 * native one. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

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
	return 0;
}
