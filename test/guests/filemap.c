/* filemap: file mappings fail as Linux's do (a directory ENODEV, a
 * write-only file EACCES, a bad fd EBADF, shared and writable from a
 * read-only file EACCES), and a shared file mapping can never become
 * writable under cvmm, where files are mapped as copies: mprotect says
 * EACCES rather than let writes silently miss the file (natively too, for
 * a file opened read-only). msync checks its arguments. Output compared
 * with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	printf("%s: %s\n", what, r == -1 ? strerrorname_np(errno) : "ok");
}

static long mapped(void *p)
{
	return p == MAP_FAILED ? -1 : 0;
}

int main(void)
{
	int dir, wo, ro, rw;
	char *p, *q, c = 0;

	if (mkdir("fm.d", 0755) != 0)
		return 1;
	dir = open("fm.d", O_RDONLY | O_DIRECTORY);
	wo = open("fm.f", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (dir < 0 || wo < 0 || write(wo, "abcd", 4) != 4)
		return 1;
	ro = open("fm.f", O_RDONLY);
	rw = open("fm.f", O_RDWR);
	show("mmap a directory",
	     mapped(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, dir, 0)));
	show("mmap a write-only file",
	     mapped(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0)));
	show("mmap a bad fd",
	     mapped(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 99, 0)));
	show("mmap shared writable from a read-only file",
	     mapped(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro,
			 0)));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
	show("mmap shared read-only", mapped(p));
	if (p == MAP_FAILED)
		return 1;
	printf("first byte %c\n", p[0]);
	show("mprotect it writable", mprotect(p, 4096, PROT_READ | PROT_WRITE));
	show("msync", msync(p, 4096, MS_SYNC));
	show("msync sync and async", msync(p, 4096, MS_SYNC | MS_ASYNC));
	show("msync unaligned", msync(p + 1, 4096, MS_SYNC));
	q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
	show("mmap private writable", mapped(q));
	if (q == MAP_FAILED)
		return 1;
	q[0] = 'X';
	show("msync private", msync(q, 4096, MS_SYNC));
	if (pread(ro, &c, 1, 0) != 1)
		return 1;
	printf("the file still starts with %c\n", c);
	unlink("fm.f");
	rmdir("fm.d");
	return 0;
}
