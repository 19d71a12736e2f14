/* Unit tests of the I/O server: path confinement to the guest root, the
 * guest descriptor table, pipes and poll, and the virtual files.
 *
 * Layout built once in a temporary directory:
 *   base/x                "outside"   must never change
 *   base/prog             stands for the guest executable
 *   base/root/            the guest root
 *     x                   "inside-x"
 *     file.txt            "inside"
 *     etc/passwd          "fake"
 *     sub/inner.txt       "inner"
 *     pw  -> /etc/passwd            absolute symlink
 *     up  -> ../../..               escapes upwards
 *     rel -> sub/inner.txt          relative symlink inside
 *     escx -> <base>/x              absolute host path outside
 *     escd -> <base>                absolute host directory outside
 *     mk  -> <base>/created         dangling, outside */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iosrv/iosrv.h"

static char base[PATH_MAX];
static char root[PATH_MAX + 8];
static char prog[PATH_MAX + 8];

/* ---- fixture ---- */

static void put_file(const char *dir, const char *name, const char *text)
{
	char p[2 * PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void put_link(const char *target, const char *name)
{
	char p[2 * PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, name);
	assert_int_equal(symlink(target, p), 0);
}

static bool host_exists(const char *name)
{
	char p[2 * PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", base, name);
	return lstat(p, &st) == 0;
}

static int group_setup(void **state)
{
	char p[2 * PATH_MAX];

	(void)state;
	snprintf(base, sizeof(base), "/tmp/cvmm_iosrv_XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(prog, sizeof(prog), "%s/prog", base);
	put_file(base, "x", "outside");
	put_file(base, "prog", "\177ELF");
	assert_int_equal(mkdir(root, 0755), 0);
	put_file(root, "x", "inside-x");
	put_file(root, "file.txt", "inside");
	snprintf(p, sizeof(p), "%s/etc", root);
	assert_int_equal(mkdir(p, 0755), 0);
	put_file(p, "passwd", "fake");
	snprintf(p, sizeof(p), "%s/sub", root);
	assert_int_equal(mkdir(p, 0755), 0);
	put_file(p, "inner.txt", "inner");
	put_link("/etc/passwd", "pw");
	put_link("../../..", "up");
	put_link("sub/inner.txt", "rel");
	snprintf(p, sizeof(p), "%s/x", base);
	put_link(p, "escx");
	put_link(base, "escd");
	snprintf(p, sizeof(p), "%s/created", base);
	put_link(p, "mk");
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static iosrv_t srv;

static int srv_setup(void **state)
{
	assert_int_equal(iosrv_init(&srv, root, 2, prog), CVMM_OK);
	*state = &srv;
	return 0;
}

static int srv_teardown(void **state)
{
	(void)state;
	iosrv_fini(&srv);
	return 0;
}

/* Reads the whole guest file path (at most 255 bytes) into buf; returns the
 * open/read result (<0 when it failed). */
static long guest_read(iosrv_t *s, int dirfd, const char *path, char *buf)
{
	long fd = iosrv_open(s, dirfd, path, O_RDONLY, 0);
	long n;

	buf[0] = '\0';
	if (fd < 0)
		return fd;
	n = iosrv_read(s, (int)fd, buf, 255);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_int_equal(iosrv_close(s, (int)fd), 0);
	return n;
}

/* What must hold after any test: nothing outside the root changed. */
static void assert_outside_intact(void)
{
	char p[2 * PATH_MAX], buf[64] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s/x", base);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "outside");
	assert_false(host_exists("created"));
	assert_false(host_exists("newdir"));
	assert_false(host_exists("evil"));
	assert_false(host_exists("moved"));
	assert_true(host_exists("prog"));
	assert_true(host_exists("root"));
}

/* ---- confinement ---- */

static void test_open_escapes(void **state)
{
	iosrv_t *s = *state;
	char buf[256];

	assert_true(guest_read(s, AT_FDCWD, "file.txt", buf) > 0);
	assert_string_equal(buf, "inside");
	/* every way up lands on the root */
	assert_true(guest_read(s, AT_FDCWD, "../x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_true(guest_read(s, AT_FDCWD, "sub/../../x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_true(guest_read(s, AT_FDCWD, "/../../../x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_true(guest_read(s, AT_FDCWD, "up/x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	/* absolute paths and absolute symlinks are relative to the root */
	assert_true(guest_read(s, AT_FDCWD, "/etc/passwd", buf) > 0);
	assert_string_equal(buf, "fake");
	assert_true(guest_read(s, AT_FDCWD, "pw", buf) > 0);
	assert_string_equal(buf, "fake");
	assert_int_equal(guest_read(s, AT_FDCWD, "escx", buf), -ENOENT);
	assert_int_equal(guest_read(s, AT_FDCWD, "escd/x", buf), -ENOENT);
	/* a relative symlink inside the root works */
	assert_true(guest_read(s, AT_FDCWD, "rel", buf) > 0);
	assert_string_equal(buf, "inner");
	assert_outside_intact();
}

/* A procfs or sysfs mounted inside the root (a container image's /proc)
 * is refused: through it the guest would reach the agent's own memory
 * (/proc/self/mem), maps and environment. The virtual files cvmm serves
 * itself still open. Needs root (mount); skipped otherwise. */
static void test_host_fs_refused(void **state)
{
	iosrv_t *s = *state;
	char proc[2 * PATH_MAX], sys[2 * PATH_MAX], buf[256];
	struct stat st;
	bool mounted;

	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	assert_int_equal(mkdir(proc, 0755), 0);
	assert_int_equal(mkdir(sys, 0755), 0);
	mounted = mount("proc", proc, "proc", 0, NULL) == 0;
	if (mounted && mount("sysfs", sys, "sysfs", 0, NULL) != 0) {
		umount2(proc, MNT_DETACH);
		mounted = false;
	}
	if (!mounted) {
		rmdir(proc);
		rmdir(sys);
		print_message("skipped: cannot mount procfs and sysfs inside "
			      "the test root (not root?)\n");
		skip();
	}
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/proc/self/mem", O_RDWR, 0),
			 -EACCES);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "proc/self/environ",
				    O_RDONLY, 0), -EACCES);
	assert_int_equal(guest_read(s, AT_FDCWD, "/proc/self/maps", buf),
			 -EACCES);
	assert_int_equal(iosrv_stat(s, AT_FDCWD, "/proc/self", 0, &st),
			 -EACCES);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/sys/kernel/mm", O_RDONLY,
				    0), -EACCES);
	assert_int_equal(iosrv_chdir(s, "/proc"), -EACCES);
	/* what cvmm emulates is still there */
	assert_true(guest_read(s, AT_FDCWD, "/proc/cpuinfo", buf) > 0);
	assert_non_null(strstr(buf, "processor"));
	assert_true(guest_read(s, AT_FDCWD,
			       "/sys/devices/system/cpu/online", buf) > 0);
	umount2(proc, MNT_DETACH);
	umount2(sys, MNT_DETACH);
	assert_int_equal(rmdir(proc), 0);
	assert_int_equal(rmdir(sys), 0);
}

/* A directory renamed under the guest stays the directory its fd and the
 * current directory name, as on Linux (the old path is not looked up
 * again); a removed current directory is ENOENT. */
static void test_renamed_dirs(void **state)
{
	iosrv_t *s = *state;
	char a[2 * PATH_MAX], b[2 * PATH_MAX], buf[IOSRV_PATH_MAX];
	long dfd, fd;

	assert_int_equal(iosrv_mkdir(s, AT_FDCWD, "/mv1", 0755), 0);
	assert_int_equal(iosrv_mkdir(s, AT_FDCWD, "/mv2", 0755), 0);
	dfd = iosrv_open(s, AT_FDCWD, "/mv1", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	assert_int_equal(iosrv_chdir(s, "/mv2"), 0);
	/* the host renames both behind the guest's back */
	snprintf(a, sizeof(a), "%s/mv1", root);
	snprintf(b, sizeof(b), "%s/mv1b", root);
	assert_int_equal(rename(a, b), 0);
	snprintf(a, sizeof(a), "%s/mv2", root);
	snprintf(b, sizeof(b), "%s/mv2b", root);
	assert_int_equal(rename(a, b), 0);
	fd = iosrv_open(s, (int)dfd, "f", O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	iosrv_close(s, (int)fd);
	fd = iosrv_open(s, AT_FDCWD, "g", O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	iosrv_close(s, (int)fd);
	snprintf(a, sizeof(a), "%s/mv1b/f", root);
	assert_int_equal(access(a, F_OK), 0);
	snprintf(a, sizeof(a), "%s/mv2b/g", root);
	assert_int_equal(access(a, F_OK), 0);
	assert_true(iosrv_getcwd(s, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "/mv2b");
	/* the current directory removed */
	assert_int_equal(unlink(a), 0);
	assert_int_equal(rmdir(b), 0);
	assert_int_equal(iosrv_getcwd(s, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "h", O_WRONLY | O_CREAT,
				    0644), -ENOENT);
	assert_int_equal(iosrv_chdir(s, "/"), 0);
	iosrv_close(s, (int)dfd);
	snprintf(a, sizeof(a), "%s/mv1b/f", root);
	assert_int_equal(unlink(a), 0);
	snprintf(a, sizeof(a), "%s/mv1b", root);
	assert_int_equal(rmdir(a), 0);
}

static void test_create_through_symlink(void **state)
{
	iosrv_t *s = *state;
	long fd;

	/* the dangling link points outside: create inside the root or fail */
	fd = iosrv_open(s, AT_FDCWD, "mk", O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		iosrv_close(s, (int)fd);
	fd = iosrv_open(s, AT_FDCWD, "escd/created", O_WRONLY | O_CREAT, 0644);
	assert_true(fd < 0);
	fd = iosrv_open(s, AT_FDCWD, "../created", O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	iosrv_close(s, (int)fd);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "/created", 0), 0);
	assert_outside_intact();
}

static void test_chdir_confined(void **state)
{
	iosrv_t *s = *state;
	char cwd[IOSRV_PATH_MAX], buf[256];

	assert_int_equal(iosrv_getcwd(s, cwd, sizeof(cwd)), 2);
	assert_string_equal(cwd, "/");
	assert_int_equal(iosrv_chdir(s, ".."), 0);
	iosrv_getcwd(s, cwd, sizeof(cwd));
	assert_string_equal(cwd, "/");
	assert_true(guest_read(s, AT_FDCWD, "x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_int_equal(iosrv_chdir(s, "sub"), 0);
	iosrv_getcwd(s, cwd, sizeof(cwd));
	assert_string_equal(cwd, "/sub");
	assert_true(guest_read(s, AT_FDCWD, "inner.txt", buf) > 0);
	assert_true(guest_read(s, AT_FDCWD, "../../../x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_int_equal(iosrv_getcwd(s, cwd, 3), -ERANGE);
	assert_int_equal(iosrv_chdir(s, "/up"), 0);
	iosrv_getcwd(s, cwd, sizeof(cwd));
	assert_string_equal(cwd, "/");
	assert_int_equal(iosrv_chdir(s, "escd"), -ENOENT);
	assert_int_equal(iosrv_chdir(s, "file.txt"), -ENOTDIR);
	assert_outside_intact();
}

static void test_modify_confined(void **state)
{
	iosrv_t *s = *state;
	char buf[256];
	struct stat st;

	assert_int_equal(iosrv_mkdir(s, AT_FDCWD, "../newdir", 0755), 0);
	assert_int_equal(iosrv_stat(s, AT_FDCWD, "/newdir", 0, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(iosrv_mkdir(s, AT_FDCWD, "escd/evil", 0755), -ENOENT);
	assert_int_equal(iosrv_mkdir(s, AT_FDCWD, "up/../newdir", 0755),
			 -EEXIST);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "newdir", AT_REMOVEDIR), 0);
	/* rename out of the root lands inside it */
	put_file(root, "victim", "v");
	assert_int_equal(iosrv_rename(s, AT_FDCWD, "victim", AT_FDCWD,
				      "../../moved"), 0);
	assert_true(guest_read(s, AT_FDCWD, "/moved", buf) > 0);
	assert_int_equal(iosrv_rename(s, AT_FDCWD, "escx", AT_FDCWD, "escx2"),
			 0);
	assert_int_equal(iosrv_rename(s, AT_FDCWD, "escx2", AT_FDCWD, "escx"),
			 0);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "../moved", 0), 0);
	/* unlinking a link removes the link, never its outside target */
	put_link("/x", "lnk");
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "lnk", 0), 0);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "escd/x", 0), -ENOENT);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "..", 0), -EISDIR);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "/", AT_REMOVEDIR), -EBUSY);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "..", AT_REMOVEDIR),
			 -ENOTEMPTY);
	assert_int_equal(iosrv_unlink(s, AT_FDCWD, "file.txt/", 0), -ENOTDIR);
	assert_int_equal(iosrv_rename(s, AT_FDCWD, "..", AT_FDCWD, "y"),
			 -EBUSY);
	assert_outside_intact();
}

static void test_stat_readlink_access(void **state)
{
	iosrv_t *s = *state;
	char buf[IOSRV_PATH_MAX];
	struct stat st;
	long fd, n;

	assert_int_equal(iosrv_stat(s, AT_FDCWD, "pw", 0, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4); /* root/etc/passwd, "fake" */
	assert_int_equal(iosrv_stat(s, AT_FDCWD, "pw", AT_SYMLINK_NOFOLLOW,
				    &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(iosrv_stat(s, AT_FDCWD, "escx", 0, &st), -ENOENT);
	n = iosrv_readlink(s, AT_FDCWD, "pw", buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "/etc/passwd", 11);
	assert_int_equal(iosrv_readlink(s, AT_FDCWD, "file.txt", buf, 10),
			 -EINVAL);
	n = iosrv_readlink(s, AT_FDCWD, "/proc/self/exe", buf, sizeof(buf));
	assert_int_equal(n, strlen(prog));
	assert_memory_equal(buf, prog, (size_t)n);
	assert_int_equal(iosrv_access(s, AT_FDCWD, "../x", R_OK, 0), 0);
	assert_int_equal(iosrv_access(s, AT_FDCWD, "escx", F_OK, 0), -ENOENT);
	assert_int_equal(iosrv_access(s, AT_FDCWD, "x", 8, 0), -EINVAL);
	/* AT_EMPTY_PATH on an open fd is fstat */
	fd = iosrv_open(s, AT_FDCWD, "file.txt", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(iosrv_stat(s, (int)fd, "", AT_EMPTY_PATH, &st), 0);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(iosrv_stat(s, (int)fd, "", 0, &st), -ENOENT);
	assert_int_equal(iosrv_stat(s, (int)fd, "x", 0, &st), -ENOTDIR);
	iosrv_close(s, (int)fd);
	assert_outside_intact();
}

static void test_dirfd(void **state)
{
	iosrv_t *s = *state;
	char buf[256], cwd[IOSRV_PATH_MAX];
	long d, n;

	d = iosrv_open(s, AT_FDCWD, "sub", O_RDONLY | O_DIRECTORY, 0);
	assert_true(d >= 0);
	assert_true(guest_read(s, (int)d, "inner.txt", buf) > 0);
	assert_string_equal(buf, "inner");
	assert_true(guest_read(s, (int)d, "../../../x", buf) > 0);
	assert_string_equal(buf, "inside-x");
	assert_true(guest_read(s, 999, "/x", buf) > 0); /* dirfd ignored */
	assert_int_equal(guest_read(s, 999, "x", buf), -EBADF);
	n = iosrv_getdents64(s, (int)d, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(iosrv_fchdir(s, (int)d), 0);
	iosrv_getcwd(s, cwd, sizeof(cwd));
	assert_string_equal(cwd, "/sub");
	iosrv_close(s, (int)d);
	/* a directory opened through a symlink keeps its real path */
	d = iosrv_open(s, AT_FDCWD, "/up", O_PATH | O_DIRECTORY, 0);
	assert_true(d >= 0);
	assert_int_equal(iosrv_fchdir(s, (int)d), 0);
	iosrv_getcwd(s, cwd, sizeof(cwd));
	assert_string_equal(cwd, "/");
	iosrv_close(s, (int)d);
}

/* ---- descriptor table ---- */

static void test_fd_lowest_free(void **state)
{
	iosrv_t *s = *state;
	long a, b, c;

	a = iosrv_open(s, AT_FDCWD, "file.txt", O_RDONLY, 0);
	b = iosrv_open(s, AT_FDCWD, "x", O_RDONLY, 0);
	assert_int_equal(a, 3);
	assert_int_equal(b, 4);
	assert_int_equal(iosrv_close(s, 3), 0);
	assert_int_equal(iosrv_close(s, 3), -EBADF);
	c = iosrv_open(s, AT_FDCWD, "x", O_RDONLY | O_CLOEXEC, 0);
	assert_int_equal(c, 3);
	assert_int_equal(iosrv_fcntl(s, 3, F_GETFD, 0), FD_CLOEXEC);
	assert_int_equal(iosrv_dup(s, 4), 5);
	assert_int_equal(iosrv_fcntl(s, 5, F_GETFD, 0), 0);
	assert_int_equal(iosrv_fcntl(s, 4, F_DUPFD_CLOEXEC, 10), 10);
	assert_int_equal(iosrv_fcntl(s, 10, F_GETFD, 0), FD_CLOEXEC);
	assert_int_equal(iosrv_fcntl(s, 4, F_DUPFD, 5000), -EINVAL);
	assert_int_equal(iosrv_fcntl(s, 4, F_GETLK, 0), -EINVAL);
	assert_int_equal(iosrv_fcntl(s, 4, F_GETFL, 0) & O_ACCMODE, O_RDONLY);
	assert_int_equal(iosrv_dup3(s, 4, 4, 0), -EINVAL);
	assert_int_equal(iosrv_dup3(s, 4, 7, O_NONBLOCK), -EINVAL);
	assert_int_equal(iosrv_dup2(s, 4, 4), 4);
	assert_int_equal(iosrv_dup2(s, 6, 6), -EBADF);
	assert_int_equal(iosrv_dup2(s, 4, IOSRV_FD_MAX), -EBADF);
	assert_int_equal(iosrv_dup2(s, 4, 600), 600); /* grows the table */
	assert_int_equal(iosrv_fd_may_block(s, 600), false);
	assert_int_equal(iosrv_close(s, 600), 0);
	assert_int_equal(iosrv_dup(s, 99), -EBADF);
}

static void test_dup2_onto_open(void **state)
{
	iosrv_t *s = *state;
	char buf[16] = "";
	long a, b;

	a = iosrv_open(s, AT_FDCWD, "file.txt", O_RDONLY, 0);
	b = iosrv_open(s, AT_FDCWD, "x", O_RDONLY, 0);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(iosrv_dup3(s, (int)a, (int)b, O_CLOEXEC), b);
	assert_int_equal(iosrv_fcntl(s, (int)b, F_GETFD, 0), FD_CLOEXEC);
	/* b now reads file.txt, sharing a's offset */
	assert_int_equal(iosrv_read(s, (int)b, buf, 3), 3);
	assert_int_equal(iosrv_read(s, (int)a, buf + 3, 10), 3);
	assert_string_equal(buf, "inside");
	assert_int_equal(iosrv_lseek(s, (int)b, 0, SEEK_CUR), 6);
	iosrv_close(s, (int)a);
	assert_int_equal(iosrv_pread(s, (int)b, buf, 2, 0), 2);
	iosrv_close(s, (int)b);
}

static void test_close_stdout_keeps_host(void **state)
{
	iosrv_t *s = *state;

	assert_true(fcntl(1, F_GETFD) >= 0);
	assert_int_equal(iosrv_close(s, 1), 0);
	assert_true(fcntl(1, F_GETFD) >= 0); /* the agent's stdout */
	assert_int_equal(iosrv_write(s, 1, "x", 1), -EBADF);
	assert_int_equal(iosrv_close(s, 2), 0);
	assert_true(fcntl(2, F_GETFD) >= 0);
	/* the lowest free fd is now 1 */
	assert_int_equal(iosrv_open(s, AT_FDCWD, "x", O_RDONLY, 0), 1);
}

static void test_emfile(void **state)
{
	iosrv_t *s = *state;
	long fd, last = -1;
	int n = 0;

	/* dups share one host fd: the host's own limit does not interfere */
	assert_int_equal(iosrv_open(s, AT_FDCWD, "x", O_RDONLY, 0), 3);
	while ((fd = iosrv_dup(s, 3)) >= 0) {
		last = fd;
		n++;
	}
	assert_int_equal(fd, -EMFILE);
	assert_int_equal(last, IOSRV_FD_MAX - 1);
	assert_int_equal(iosrv_close(s, 500), 0);
	assert_int_equal(iosrv_dup(s, 0), 500);
	assert_true(n > 1000);
}

static void test_pipe_poll(void **state)
{
	iosrv_t *s = *state;
	struct timespec zero = { 0, 0 };
	struct pollfd pf[3];
	struct iovec iov[2];
	char buf[16] = "", tio[64];
	int fds[2];
	int avail = 0;

	assert_int_equal(iosrv_pipe2(s, fds, O_NONBLOCK), 0);
	assert_int_equal(fds[0], 3);
	assert_int_equal(fds[1], 4);
	assert_true(iosrv_fd_may_block(s, fds[0]));
	assert_int_equal(iosrv_pipe2(s, fds, O_SYNC), -EINVAL);
	assert_int_equal(iosrv_read(s, 3, buf, 4), -EAGAIN);
	pf[0] = (struct pollfd){ .fd = 3, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = 77, .events = POLLIN };
	pf[2] = (struct pollfd){ .fd = -1, .events = POLLIN };
	assert_int_equal(iosrv_poll(s, pf, 3, &zero), 1);
	assert_int_equal(pf[0].revents, 0);
	assert_int_equal(pf[1].revents, POLLNVAL);
	assert_int_equal(pf[2].revents, 0);
	iov[0] = (struct iovec){ "ab", 2 };
	iov[1] = (struct iovec){ "cd", 2 };
	assert_int_equal(iosrv_writev(s, 4, iov, 2, IOSRV_POS_CUR), 4);
	assert_int_equal(iosrv_poll(s, pf, 1, NULL), 1);
	assert_true(pf[0].revents & POLLIN);
	assert_int_equal(iosrv_ioctl(s, 3, FIONREAD, &avail), 0);
	assert_int_equal(avail, 4);
	assert_int_equal(iosrv_ioctl(s, 3, TIOCSTI, NULL), -ENOTTY);
	assert_int_equal(iosrv_ioctl(s, 3, TCGETS, tio), -ENOTTY);
	assert_int_equal(iosrv_read(s, 3, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(iosrv_lseek(s, 3, 0, SEEK_SET), -ESPIPE);
	iosrv_close(s, 4);
	assert_int_equal(iosrv_read(s, 3, buf, sizeof(buf)), 0);
}

struct reader {
	iosrv_t *s;
	int fd;
	long n;
	char buf[8];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->n = iosrv_read(r->s, r->fd, r->buf, sizeof(r->buf));
	return NULL;
}

/* A read blocked on a pipe keeps its file when another thread closes the
 * fd, as on Linux; the fd number is free again at once. */
static void test_close_while_reading(void **state)
{
	iosrv_t *s = *state;
	struct reader r = { .s = s };
	pthread_t t;
	int fds[2];

	assert_int_equal(iosrv_pipe2(s, fds, 0), 0);
	r.fd = fds[0];
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	usleep(50000);
	assert_int_equal(iosrv_close(s, fds[0]), 0);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "x", O_RDONLY, 0), fds[0]);
	assert_int_equal(iosrv_write(s, fds[1], "hi", 2), 2);
	pthread_join(t, NULL);
	assert_int_equal(r.n, 2);
	assert_memory_equal(r.buf, "hi", 2);
}

/* ---- special files ---- */

static void check_cpu_online(int nvcpus, const char *want)
{
	iosrv_t s;
	char buf[256];
	struct stat st;

	assert_int_equal(iosrv_init(&s, root, nvcpus, NULL), CVMM_OK);
	assert_true(guest_read(&s, AT_FDCWD, "/sys/devices/system/cpu/online",
			       buf) > 0);
	assert_string_equal(buf, want);
	assert_true(guest_read(&s, AT_FDCWD,
			       "/sys/devices/../devices/system/cpu/possible",
			       buf) > 0);
	assert_string_equal(buf, want);
	assert_int_equal(iosrv_open(&s, AT_FDCWD,
				    "/sys/devices/system/cpu/online",
				    O_WRONLY, 0), -EACCES);
	assert_int_equal(iosrv_stat(&s, AT_FDCWD,
				    "/sys/devices/system/cpu/online", 0, &st),
			 0);
	assert_int_equal(st.st_size, strlen(want));
	assert_int_equal(iosrv_access(&s, AT_FDCWD, "/proc/cpuinfo", W_OK, 0),
			 -EACCES);
	/* without an executable, /proc/self/exe is an ordinary missing path */
	assert_int_equal(iosrv_readlink(&s, AT_FDCWD, "/proc/self/exe", buf,
					sizeof(buf)), -ENOENT);
	/* other /sys paths resolve inside the root */
	assert_int_equal(guest_read(&s, AT_FDCWD, "/sys/kernel/mm", buf),
			 -ENOENT);
	iosrv_fini(&s);
}

static void test_cpu_online(void **state)
{
	(void)state;
	check_cpu_online(1, "0\n");
	check_cpu_online(4, "0-3\n");
}

/* Reads the guest's /proc/cpuinfo and checks its processor lines. */
static void check_cpuinfo(int nvcpus)
{
	iosrv_t s;
	char *text = malloc(1 << 20), *line;
	long fd, n, got = 0;
	int expect = 0, v;

	assert_non_null(text);
	assert_int_equal(iosrv_init(&s, root, nvcpus, NULL), CVMM_OK);
	fd = iosrv_open(&s, AT_FDCWD, "/proc/cpuinfo", O_RDONLY, 0);
	assert_true(fd >= 0);
	while ((n = iosrv_read(&s, (int)fd, text + got, 4096)) > 0)
		got += n;
	text[got] = '\0';
	assert_int_equal(iosrv_write(&s, (int)fd, "x", 1), -EBADF);
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "processor", 9) != 0)
			continue;
		assert_int_equal(sscanf(line, "processor : %d", &v), 1);
		assert_int_equal(v, expect);
		expect++;
	}
	assert_int_equal(expect, nvcpus);
	iosrv_fini(&s);
	free(text);
}

static void test_cpuinfo(void **state)
{
	(void)state;
	check_cpuinfo(1);
	check_cpuinfo(4);
	check_cpuinfo(64); /* more than the host has */
}

static void test_devices(void **state)
{
	iosrv_t *s = *state;
	char buf[8] = "abc";
	long fd;

	fd = iosrv_open(s, AT_FDCWD, "/dev/null", O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(iosrv_write(s, (int)fd, "hello", 5), 5);
	assert_int_equal(iosrv_read(s, (int)fd, buf, sizeof(buf)), 0);
	assert_true(iosrv_fd_may_block(s, (int)fd));
	iosrv_close(s, (int)fd);
	fd = iosrv_open(s, AT_FDCWD, "/dev/../dev/zero", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(iosrv_read(s, (int)fd, buf, sizeof(buf)), 8);
	assert_int_equal(buf[0] | buf[7], 0);
	iosrv_close(s, (int)fd);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/dev/tty", O_RDWR, 0),
			 -ENOENT);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/dev/sda", O_RDONLY, 0),
			 -ENOENT);
	/* ".." leaves a directory that must exist, as the kernel walks it */
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/nonexistent/../dev/null",
				    O_RDONLY, 0), -ENOENT);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "file.txt/../dev/null",
				    O_RDONLY, 0), -ENOTDIR);
	fd = iosrv_open(s, AT_FDCWD, "/sub/../dev/null", O_RDONLY, 0);
	assert_true(fd >= 0);
	iosrv_close(s, (int)fd);
	fd = iosrv_open(s, AT_FDCWD, "/proc/self/../self/exe", O_RDONLY, 0);
	assert_true(fd >= 0);
	iosrv_close(s, (int)fd);
	/* the running program cannot be opened for writing */
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/proc/self/exe", O_RDWR, 0),
			 -ETXTBSY);
	assert_int_equal(iosrv_open(s, AT_FDCWD, "/proc/self/exe", O_WRONLY,
				    0), -ETXTBSY);
}

static void test_init_bad_root(void **state)
{
	iosrv_t s;

	(void)state;
	assert_int_equal(iosrv_init(&s, "/nonexistent/cvmm/root", 1, NULL),
			 CVMM_ERR_IO);
	iosrv_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_escapes, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_host_fs_refused, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_renamed_dirs, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_create_through_symlink,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_chdir_confined, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_modify_confined, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_stat_readlink_access,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_dirfd, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_fd_lowest_free, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_dup2_onto_open, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_close_stdout_keeps_host,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_emfile, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_pipe_poll, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_close_while_reading,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_devices, srv_setup,
						srv_teardown),
		cmocka_unit_test(test_cpu_online),
		cmocka_unit_test(test_cpuinfo),
		cmocka_unit_test(test_init_bad_root),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
