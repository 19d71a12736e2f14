/* file: file I/O in the current directory, and escapes from it.
 *
 *   file            write a 100000-byte file in the cwd, fstat/stat its size,
 *                   read it back, lseek (SET, CUR, END), pread/pwrite,
 *                   O_APPEND, dup/dup2 sharing the offset, fcntl flags,
 *                   ftruncate, lowest-free-fd reuse, readdir and
 *                   getdents64 find it, rename, a subdirectory with openat
 *                   relative to a directory fd, unlink and rmdir, and
 *                   ENOENT afterwards. Prints one line per step and "ok".
 *   file escape [PATH...]
 *                   opens each PATH (default ../../../../etc/passwd and
 *                   /etc/passwd) for reading and prints "PATH: escape
 *                   OPEN" when the open succeeds and the content starts
 *                   with "root:", else "PATH: escape blocked". Exit 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FNAME "cvmm_guest_file.dat"
#define FNAME2 "cvmm_guest_file_renamed.dat"
#define SIZE 100000

static unsigned char data[SIZE], buf[SIZE];
static int failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("FAIL: " __VA_ARGS__);                         \
			printf(" (errno %d)\n", errno);                       \
			failures++;                                           \
			return;                                               \
		}                                                             \
	} while (0)

static int escape(int argc, char **argv)
{
	static const char *const defaults[] = {"../../../../etc/passwd",
					       "/etc/passwd"};
	const char *const *paths = defaults;
	int n = 2;

	if (argc > 2) {
		paths = (const char *const *)argv + 2;
		n = argc - 2;
	}
	for (int i = 0; i < n; i++) {
		char head[6] = {0};
		int fd = open(paths[i], O_RDONLY);
		int host = 0;

		if (fd >= 0) {
			host = read(fd, head, 5) == 5 &&
			       memcmp(head, "root:", 5) == 0;
			close(fd);
		}
		printf("%s: escape %s\n", paths[i], host ? "OPEN" : "blocked");
	}
	return 0;
}

static int dir_has(const char *name)
{
	DIR *d = opendir(".");
	struct dirent *e;
	int found = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		found += strcmp(e->d_name, name) == 0;
	closedir(d);
	return found;
}

/* The same through the raw getdents64 syscall. */
static int getdents_has(const char *name)
{
	char dbuf[8192];
	int fd = open(".", O_RDONLY | O_DIRECTORY), found = 0;
	long n;

	if (fd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, fd, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(dbuf + off);

			found += strcmp(e->d_name, name) == 0;
			off += e->d_reclen;
		}
	}
	close(fd);
	return n < 0 ? -1 : found;
}

static void write_and_read(void)
{
	struct stat st;
	int fd;
	long done;

	for (int i = 0; i < SIZE; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	fd = open(FNAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "create " FNAME);
	for (done = 0; done < SIZE;) {
		long chunk = 1 + (done * 13 + 4000) % 9000;

		if (chunk > SIZE - done)
			chunk = SIZE - done;
		CHECK(write(fd, data + done, (size_t)chunk) == chunk, "write");
		done += chunk;
	}
	CHECK(fstat(fd, &st) == 0 && st.st_size == SIZE && S_ISREG(st.st_mode),
	      "fstat size %lld", (long long)st.st_size);
	CHECK(close(fd) == 0, "close");
	CHECK(stat(FNAME, &st) == 0 && st.st_size == SIZE, "stat size");
	CHECK(access(FNAME, R_OK | W_OK) == 0, "access");
	printf("wrote %d bytes, fstat and stat agree\n", SIZE);

	fd = open(FNAME, O_RDONLY);
	CHECK(fd >= 0, "open for reading");
	for (done = 0;;) {
		long n = read(fd, buf + done, 4096);

		CHECK(n >= 0, "read");
		if (n == 0)
			break;
		done += n;
	}
	CHECK(done == SIZE && memcmp(buf, data, SIZE) == 0, "read back");
	printf("read back %ld bytes ok\n", done);

	CHECK(lseek(fd, 12345, SEEK_SET) == 12345, "lseek SET");
	CHECK(read(fd, buf, 100) == 100 && memcmp(buf, data + 12345, 100) == 0,
	      "read after lseek SET");
	CHECK(lseek(fd, 0, SEEK_CUR) == 12445, "lseek CUR");
	CHECK(lseek(fd, -10, SEEK_END) == SIZE - 10, "lseek END");
	CHECK(read(fd, buf, 100) == 10 && memcmp(buf, data + SIZE - 10, 10) == 0,
	      "short read at the end");
	CHECK(read(fd, buf, 100) == 0, "read at EOF");
	CHECK(pread(fd, buf, 50, 500) == 50 && memcmp(buf, data + 500, 50) == 0,
	      "pread");
	CHECK(lseek(fd, 0, SEEK_CUR) == SIZE, "pread moved the offset");
	CHECK(close(fd) == 0, "close");
	printf("lseek and pread ok\n");
}

static void modify(void)
{
	struct stat st;
	int fd, fd2, a, b, c;

	fd = open(FNAME, O_WRONLY | O_APPEND);
	CHECK(fd >= 0, "open O_APPEND");
	CHECK((fcntl(fd, F_GETFL) & O_APPEND) != 0, "F_GETFL lacks O_APPEND");
	CHECK(write(fd, "tail", 4) == 4, "append");
	CHECK(fstat(fd, &st) == 0 && st.st_size == SIZE + 4, "appended size");
	CHECK(close(fd) == 0, "close");

	fd = open(FNAME, O_RDWR);
	CHECK(fd >= 0, "open O_RDWR");
	CHECK(pwrite(fd, "XYZ", 3, 10) == 3, "pwrite");
	fd2 = dup(fd);
	CHECK(fd2 > fd, "dup");
	CHECK(lseek(fd, 1000, SEEK_SET) == 1000, "lseek");
	CHECK(lseek(fd2, 0, SEEK_CUR) == 1000, "dup does not share the offset");
	CHECK(dup2(fd, fd2) == fd2, "dup2");
	CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 &&
	      fcntl(fd, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC");
	CHECK(ftruncate(fd, 5000) == 0, "ftruncate");
	CHECK(fstat(fd2, &st) == 0 && st.st_size == 5000, "size after truncate");
	CHECK(pread(fd2, buf, 20, 0) == 20 && memcmp(buf + 10, "XYZ", 3) == 0 &&
	      memcmp(buf, data, 10) == 0, "pwrite content");
	close(fd2);
	close(fd);

	/* Lowest free descriptor is reused. */
	a = open(FNAME, O_RDONLY);
	b = open(FNAME, O_RDONLY);
	CHECK(a >= 0 && b == a + 1, "two opens");
	close(a);
	c = open(FNAME, O_RDONLY);
	CHECK(c == a, "lowest free fd not reused");
	close(b);
	close(c);
	CHECK(close(c) == -1 && errno == EBADF, "close of a closed fd");
	printf("append, pwrite, dup, fcntl, ftruncate, fd reuse ok\n");
}

static void directories(void)
{
	struct stat st;
	int dfd, fd;

	CHECK(dir_has(FNAME) == 1, "readdir does not find " FNAME);
	CHECK(getdents_has(FNAME) == 1, "getdents64 does not find " FNAME);
	printf("readdir and getdents64 find the file\n");

	CHECK(rename(FNAME, FNAME2) == 0, "rename");
	CHECK(stat(FNAME, &st) == -1 && errno == ENOENT, "old name remains");
	CHECK(stat(FNAME2, &st) == 0 && st.st_size == 5000, "new name");

	CHECK(mkdir("subdir", 0755) == 0, "mkdir");
	CHECK(mkdir("subdir", 0755) == -1 && errno == EEXIST, "mkdir twice");
	dfd = open("subdir", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0, "open directory");
	fd = openat(dfd, "inner", O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "openat in directory");
	CHECK(write(fd, "inner\n", 6) == 6, "write inner");
	close(fd);
	CHECK(stat("subdir/inner", &st) == 0 && st.st_size == 6, "stat inner");
	CHECK(rmdir("subdir") == -1 && errno == ENOTEMPTY, "rmdir non-empty");
	CHECK(unlinkat(dfd, "inner", 0) == 0, "unlinkat");
	close(dfd);
	CHECK(rmdir("subdir") == 0, "rmdir");
	printf("rename, mkdir, openat, unlinkat, rmdir ok\n");

	CHECK(unlink(FNAME2) == 0, "unlink");
	CHECK(open(FNAME2, O_RDONLY) == -1 && errno == ENOENT,
	      "open after unlink");
	CHECK(dir_has(FNAME2) == 0, "readdir still finds the file");
	CHECK(unlink(FNAME2) == -1 && errno == ENOENT, "unlink twice");
	printf("unlink ok\n");
}

int main(int argc, char **argv)
{
	char cwd[4096];

	if (argc > 1 && strcmp(argv[1], "escape") == 0)
		return escape(argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: file [escape [PATH...]]\n");
		return 2;
	}
	if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/') {
		printf("FAIL: getcwd\n");
		return 1;
	}
	write_and_read();
	if (!failures)
		modify();
	if (!failures)
		directories();
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
