/* Path confinement (see iosrv.h): guest paths become strings relative to the
 * root, resolved only by openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
 * Calls that change a directory (unlink, mkdir, rename) resolve the parent
 * that way and act on one last component, which holds no '/', relative to
 * it; calls on an object (stat, access, readlink) act on an O_PATH fd of it
 * with AT_EMPTY_PATH. No host call here ever sees a path with more than one
 * component except openat2 confined to the root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/log.h"
#include "iosrv/iosrv.h"
#include "iosrv/iosrv_int.h"

#define OPENAT2_TRIES 16 /* EAGAIN: a rename or mount raced the lookup */

/* What the last component of a path is, as the kernel's LAST_* kinds. */
typedef enum last_kind {
	LAST_NORM = 0,
	LAST_ROOT,   /* the path was "/" */
	LAST_DOT,
	LAST_DOTDOT,
} last_kind_t;

static long host_ret(long r)
{
	return r < 0 ? -errno : r;
}

static last_kind_t last_kind(const char *last)
{
	if (last[0] == '\0')
		return LAST_ROOT;
	if (strcmp(last, ".") == 0)
		return LAST_DOT;
	if (strcmp(last, "..") == 0)
		return LAST_DOTDOT;
	return LAST_NORM;
}

void iosrv_path_normalize(const char *in, char *out)
{
	const char *p = in, *e;
	size_t o = 0, n;

	while (*p) {
		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[--o] != '/')
				;
		} else if (n > 0 && !(n == 1 && p[0] == '.') &&
			   o + 1 + n < IOSRV_PATH_MAX) {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
}

void iosrv_path_guest(const iosrv_t *s, int hostfd, const char *fallback,
		      char *out)
{
	char proc[32], host[IOSRV_PATH_MAX];
	const char *rest;
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", hostfd);
	n = readlink(proc, host, sizeof(host) - 1);
	if (n <= 0 || (size_t)n < s->rootlen ||
	    memcmp(host, s->root, s->rootlen) != 0)
		goto use_fallback;
	host[n] = '\0';
	rest = host + s->rootlen;
	if (*rest != '/' && *rest != '\0')
		goto use_fallback;
	strcpy(out, *rest ? rest : "/");
	return;

use_fallback:
	if (out != fallback)
		strcpy(out, fallback);
}

/* base + "/" + rel into out (IOSRV_PATH_MAX). */
static long path_concat(const char *base, const char *rel, char *out)
{
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] == '/' ? "" : "/";
	int n = snprintf(out, IOSRV_PATH_MAX, "%s%s%s", base, sep, rel);

	return n < 0 || n >= IOSRV_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Where directory hostfd is now, as a guest path (it may have been renamed
 * since it was opened): the kernel's name for it, or fallback when the
 * kernel cannot say; -ENOENT when it was removed. */
static long path_dir_now(const iosrv_t *s, int hostfd, const char *fallback,
			 char *out)
{
	static const char gone[] = " (deleted)";
	size_t n;

	if (hostfd < 0) {
		if (out != fallback)
			strcpy(out, fallback);
		return 0;
	}
	iosrv_path_guest(s, hostfd, fallback, out);
	n = strlen(out);
	if (n > sizeof(gone) - 1 &&
	    strcmp(out + n - (sizeof(gone) - 1), gone) == 0)
		return -ENOENT;
	return 0;
}

/* The absolute guest path (not normalized) that dirfd/path names, in out
 * (IOSRV_PATH_MAX). -ENOENT for "" or a removed directory, -EBADF/-ENOTDIR
 * for a bad dirfd. A relative path starts at the directory as it is now:
 * renaming the current directory or dirfd's does not send the guest back
 * to the old name. */
static long path_join(iosrv_t *s, int dirfd, const char *path, char *out)
{
	char base[IOSRV_PATH_MAX];
	size_t n = strnlen(path, IOSRV_PATH_MAX);
	iosrv_file_t *f;
	long r;

	if (n == 0)
		return -ENOENT;
	if (n >= IOSRV_PATH_MAX)
		return -ENAMETOOLONG;
	if (path[0] == '/') {
		memcpy(out, path, n + 1);
		return 0;
	}
	if (dirfd == AT_FDCWD) {
		pthread_mutex_lock(&s->lock);
		r = path_dir_now(s, s->cwdfd, s->cwd, base);
		pthread_mutex_unlock(&s->lock);
		return r < 0 ? r : path_concat(base, path, out);
	}
	r = iosrv_fd_get(s, dirfd, &f);
	if (r < 0)
		return r;
	r = (f->kind & IOSRV_FILE_DIR) ? path_dir_now(s, f->hostfd, f->path, base)
				       : -ENOTDIR;
	iosrv_file_put(f);
	return r < 0 ? r : path_concat(base, path, out);
}

/* Kernel file systems that describe the host or this very process rather
 * than store files: a procfs, sysfs or debugfs mounted inside the root (a
 * container image's /proc) would give the guest the agent's own memory
 * (/proc/self/mem), maps and environment. cvmm serves the few virtual
 * files programs need itself (iosrv_vfile.c). */
static bool path_host_fs(int fd)
{
	static const unsigned long magic[] = {
		0x9fa0,     /* PROC_SUPER_MAGIC */
		0x62656572, /* SYSFS_MAGIC */
		0x64626720, /* DEBUGFS_MAGIC */
		0x74726163, /* TRACEFS_MAGIC */
		0x73636673, /* SECURITYFS_MAGIC */
		0xcafe4a11, /* BPF_FS_MAGIC */
		0x27e0eb,   /* CGROUP_SUPER_MAGIC */
		0x63677270, /* CGROUP2_SUPER_MAGIC */
		0x62656570, /* CONFIGFS_MAGIC */
		0xde5e81e4, /* EFIVARFS_MAGIC */
		0x6165676c, /* PSTOREFS_MAGIC */
		0xf97cff8c, /* SELINUX_MAGIC */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) != 0)
		return true; /* cannot tell: refuse */
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((unsigned long)sf.f_type == magic[i])
			return true;
	return false;
}

/* openat2 of guest path full inside the root: a host fd (O_CLOEXEC) or
 * -errno; -EACCES for anything on a kernel file system of the host
 * (path_host_fs). flags are already cleaned (open_flags_clean). */
static long path_openat2(const iosrv_t *s, const char *full, int flags,
			 mode_t mode)
{
	bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
	struct open_how how = {
		.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
		.mode = creates ? (mode & 07777) : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;

	for (int i = 0; i < OPENAT2_TRIES; i++) {
		fd = syscall(SYS_openat2, s->rootfd, full, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd >= 0 && path_host_fs((int)fd)) {
		static int told;

		if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
			log_warn("%s is on a kernel file system of the host "
				 "(procfs, sysfs, ...) inside --root: refused "
				 "(EACCES)", full);
		close((int)fd);
		return -EACCES;
	}
	return host_ret(fd);
}

/* The directories cvmm's special files live in: they answer even when the
 * root has no such directory. */
static bool path_virtual_dir(const char *norm)
{
	static const char *const dirs[] = { "/", "/dev", "/proc",
					    "/proc/self", "/sys" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (strcmp(norm, dirs[i]) == 0)
			return true;
	return strncmp(norm, "/sys/", 5) == 0;
}

/* A special file is found by its lexically normalized path, but the
 * kernel walks ".." after the directory before it: "/nonexistent/../dev/
 * null" is ENOENT natively. 0 when every directory a ".." leaves exists
 * in the root (or is one of cvmm's virtual ones), else the error of the
 * first that does not. */
static long path_dotdot_check(const iosrv_t *s, const char *full)
{
	char prefix[IOSRV_PATH_MAX], norm[IOSRV_PATH_MAX];
	const char *p = full;
	long fd;

	while ((p = strstr(p, "..")) != NULL) {
		size_t at = (size_t)(p - full);

		p += 2;
		if ((at > 0 && full[at - 1] != '/') || (*p && *p != '/'))
			continue; /* "..x" or "x.." is a name */
		if (at >= sizeof(prefix))
			return -ENAMETOOLONG;
		memcpy(prefix, full, at);
		prefix[at] = '\0';
		iosrv_path_normalize(prefix[0] ? prefix : "/", norm);
		if (path_virtual_dir(norm))
			continue;
		fd = path_openat2(s, prefix[0] ? prefix : "/",
				  O_PATH | O_DIRECTORY, 0);
		if (fd < 0)
			return fd;
		close((int)fd);
	}
	return 0;
}

/* open(2) ignores flag bits it does not know, openat2 refuses them; O_PATH
 * keeps only what goes with it. O_ASYNC is dropped (the agent would get
 * the SIGIO). */
static int open_flags_clean(int flags)
{
	const int known = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC |
			  O_APPEND | O_NONBLOCK | O_SYNC | O_DIRECT |
			  O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME |
			  O_CLOEXEC | O_PATH | O_TMPFILE;

	if (flags & O_PATH)
		return flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return flags & known;
}

/* A directory keeps the path the kernel knows it by (symlinks resolved). */
static void path_dir_canon(const iosrv_t *s, iosrv_file_t *f)
{
	char guest[IOSRV_PATH_MAX];
	char *p;

	iosrv_path_guest(s, f->hostfd, f->path, guest);
	if (strcmp(guest, f->path) == 0)
		return;
	p = strdup(guest);
	if (!p)
		return; /* keep the lexical path */
	free(f->path);
	f->path = p;
}

long iosrv_open(iosrv_t *s, int dirfd, const char *path, int flags,
		mode_t mode)
{
	char full[IOSRV_PATH_MAX], norm[IOSRV_PATH_MAX];
	const iosrv_vfile_t *vf;
	iosrv_special_t sp;
	iosrv_file_t *f;
	long r = path_join(s, dirfd, path, full);

	if (r < 0)
		return r;
	flags = open_flags_clean(flags);
	iosrv_path_normalize(full, norm);
	sp = iosrv_special_find(s, norm, &vf);
	if (sp != IOSRV_SP_NONE && (r = path_dotdot_check(s, full)) < 0)
		return r;
	if (sp != IOSRV_SP_NONE)
		r = iosrv_special_open(s, sp, vf, norm, flags);
	else
		r = path_openat2(s, full, flags, mode);
	if (r < 0)
		return r;
	f = iosrv_file_new((int)r, norm);
	if (!f)
		return -ENOMEM;
	if (f->kind & IOSRV_FILE_DIR)
		path_dir_canon(s, f);
	return iosrv_fd_install(s, f, flags & O_CLOEXEC, 0);
}

/* A host fd of the object dirfd itself: a copy of its host fd, or the
 * current directory for AT_FDCWD. */
static long path_target_self(iosrv_t *s, int dirfd)
{
	char cwd[IOSRV_PATH_MAX];
	iosrv_file_t *f;
	long r;

	if (dirfd == AT_FDCWD) {
		pthread_mutex_lock(&s->lock);
		strcpy(cwd, s->cwd);
		r = s->cwdfd >= 0 ? host_ret(fcntl(s->cwdfd, F_DUPFD_CLOEXEC, 0))
				  : -1;
		pthread_mutex_unlock(&s->lock);
		return r >= 0 ? r : path_openat2(s, cwd, O_PATH, 0);
	}
	r = iosrv_fd_get(s, dirfd, &f);
	if (r < 0)
		return r;
	r = host_ret(fcntl(f->hostfd, F_DUPFD_CLOEXEC, 0));
	iosrv_file_put(f);
	return r;
}

/* A host fd (O_PATH for ordinary paths; the caller closes it) for the
 * object dirfd/path names, not following a final symlink under
 * AT_SYMLINK_NOFOLLOW, dirfd itself for "" under AT_EMPTY_PATH. *sp tells
 * whether it is a special file. */
static long path_target(iosrv_t *s, int dirfd, const char *path, int atflags,
			iosrv_special_t *sp)
{
	char full[IOSRV_PATH_MAX], norm[IOSRV_PATH_MAX];
	const iosrv_vfile_t *vf;
	long r;

	*sp = IOSRV_SP_NONE;
	if (path[0] == '\0' && (atflags & AT_EMPTY_PATH))
		return path_target_self(s, dirfd);
	r = path_join(s, dirfd, path, full);
	if (r < 0)
		return r;
	iosrv_path_normalize(full, norm);
	*sp = iosrv_special_find(s, norm, &vf);
	if (*sp != IOSRV_SP_NONE && (r = path_dotdot_check(s, full)) < 0)
		return r;
	if (*sp != IOSRV_SP_NONE)
		return iosrv_special_open(s, *sp, vf, norm, O_PATH);
	if (atflags & AT_SYMLINK_NOFOLLOW)
		return path_openat2(s, full, O_PATH | O_NOFOLLOW, 0);
	return path_openat2(s, full, O_PATH, 0);
}

/* Opens (O_PATH) the directory holding the last component of dirfd/path
 * and copies that component, without trailing slashes, to last
 * (IOSRV_PATH_MAX); *slash tells whether there were any. */
static long path_parent(iosrv_t *s, int dirfd, const char *path, char *last,
			bool *slash)
{
	char full[IOSRV_PATH_MAX];
	char *cut;
	size_t n;
	long r = path_join(s, dirfd, path, full);

	if (r < 0)
		return r;
	n = strlen(full);
	*slash = false;
	while (n > 1 && full[n - 1] == '/') {
		full[--n] = '\0';
		*slash = true;
	}
	cut = strrchr(full, '/'); /* full is absolute */
	strcpy(last, cut + 1);
	cut[cut == full ? 1 : 0] = '\0';
	return path_openat2(s, full, O_PATH | O_DIRECTORY, 0);
}

long iosrv_stat(iosrv_t *s, int dirfd, const char *path, int flags,
		struct stat *st)
{
	iosrv_special_t sp;
	long fd, r;

	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT))
		return -EINVAL;
	fd = path_target(s, dirfd, path, flags, &sp);
	if (fd < 0)
		return fd;
	r = host_ret(fstat((int)fd, st));
	close((int)fd);
	return r;
}

long iosrv_statx(iosrv_t *s, int dirfd, const char *path, int flags,
		 unsigned mask, struct statx *stx)
{
	const int ok = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT |
		       AT_STATX_SYNC_TYPE;
	iosrv_special_t sp;
	long fd, r;

	if ((flags & ~ok) || (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE)
		return -EINVAL;
	fd = path_target(s, dirfd, path, flags, &sp);
	if (fd < 0)
		return fd;
	r = host_ret(statx((int)fd, "", AT_EMPTY_PATH |
			   (flags & AT_STATX_SYNC_TYPE), mask, stx));
	close((int)fd);
	return r;
}

/* unlinkat of one component in parent directory pfd. */
static long unlink_last(int pfd, const char *last, int flags, bool slash)
{
	last_kind_t k = last_kind(last);
	struct stat st;

	if (k != LAST_NORM && !(flags & AT_REMOVEDIR))
		return -EISDIR;
	if (k != LAST_NORM)
		return k == LAST_DOT ? -EINVAL :
		       k == LAST_ROOT ? -EBUSY : -ENOTEMPTY;
	if (slash && !(flags & AT_REMOVEDIR)) {
		if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENOTDIR;
	}
	return host_ret(unlinkat(pfd, last, flags));
}

long iosrv_unlink(iosrv_t *s, int dirfd, const char *path, int flags)
{
	char last[IOSRV_PATH_MAX];
	bool slash;
	long pfd, r;

	if (flags & ~AT_REMOVEDIR)
		return -EINVAL;
	pfd = path_parent(s, dirfd, path, last, &slash);
	if (pfd < 0)
		return pfd;
	r = unlink_last((int)pfd, last, flags, slash);
	close((int)pfd);
	return r;
}

long iosrv_mkdir(iosrv_t *s, int dirfd, const char *path, mode_t mode)
{
	char last[IOSRV_PATH_MAX];
	bool slash;
	long pfd, r;

	pfd = path_parent(s, dirfd, path, last, &slash);
	if (pfd < 0)
		return pfd;
	if (last_kind(last) != LAST_NORM)
		r = -EEXIST;
	else
		r = host_ret(mkdirat((int)pfd, last, mode & 07777));
	close((int)pfd);
	return r;
}

/* renameat of one component to another; a trailing slash on either name
 * needs the source to be a directory, as on Linux. */
static long rename_last(int ofd, const char *olast, int nfd,
			const char *nlast, bool slash)
{
	struct stat st;

	if (last_kind(olast) != LAST_NORM || last_kind(nlast) != LAST_NORM)
		return -EBUSY;
	if (slash) {
		if (fstatat(ofd, olast, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return host_ret(renameat(ofd, olast, nfd, nlast));
}

long iosrv_rename(iosrv_t *s, int olddirfd, const char *oldpath,
		  int newdirfd, const char *newpath)
{
	char olast[IOSRV_PATH_MAX], nlast[IOSRV_PATH_MAX];
	bool oslash, nslash;
	long ofd, nfd, r;

	ofd = path_parent(s, olddirfd, oldpath, olast, &oslash);
	if (ofd < 0)
		return ofd;
	nfd = path_parent(s, newdirfd, newpath, nlast, &nslash);
	if (nfd < 0) {
		r = nfd;
		goto out_close_old;
	}
	r = rename_last((int)ofd, olast, (int)nfd, nlast, oslash || nslash);
	close((int)nfd);
out_close_old:
	close((int)ofd);
	return r;
}

/* readlink of the O_PATH fd of a symlink; -EINVAL for anything else. */
static long readlink_fd(int fd, char *buf, size_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	return host_ret(readlinkat(fd, "", buf, size));
}

long iosrv_readlink(iosrv_t *s, int dirfd, const char *path, char *buf,
		    size_t size)
{
	iosrv_special_t sp;
	size_t n;
	long fd, r;

	if (size == 0 || size > INT_MAX)
		return -EINVAL;
	fd = path_target(s, dirfd, path, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH,
			 &sp);
	if (fd < 0)
		return fd;
	if (sp == IOSRV_SP_EXE) {
		n = strlen(s->exe);
		r = (long)(n < size ? n : size);
		memcpy(buf, s->exe, (size_t)r);
	} else {
		r = readlink_fd((int)fd, buf, size);
	}
	close((int)fd);
	return r;
}

long iosrv_access(iosrv_t *s, int dirfd, const char *path, int mode,
		  int flags)
{
	iosrv_special_t sp;
	long fd, r;

	if (mode & ~(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	fd = path_target(s, dirfd, path, flags, &sp);
	if (fd < 0)
		return fd;
	if (sp == IOSRV_SP_VFILE)
		r = (mode & (W_OK | X_OK)) ? -EACCES : 0;
	else
		r = host_ret(syscall(SYS_faccessat2, fd, "", mode,
				     AT_EMPTY_PATH | (flags & AT_EACCESS)));
	close((int)fd);
	return r;
}

long iosrv_getcwd(iosrv_t *s, char *buf, size_t size)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	if (path_dir_now(s, s->cwdfd, s->cwd, s->cwd) < 0) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT; /* as Linux, for a removed directory */
	}
	n = strlen(s->cwd) + 1;
	if (n <= size)
		memcpy(buf, s->cwd, n);
	pthread_mutex_unlock(&s->lock);
	return n <= size ? (long)n : -ERANGE;
}

/* The current directory becomes guest, open as fd (owned from here). */
static void cwd_set(iosrv_t *s, const char *guest, int fd)
{
	int old;

	pthread_mutex_lock(&s->lock);
	strcpy(s->cwd, guest);
	old = s->cwdfd;
	s->cwdfd = fd;
	pthread_mutex_unlock(&s->lock);
	if (old >= 0)
		close(old);
}

/* Search permission on directory fd, as chdir(2) requires. */
static long dir_searchable(int fd)
{
	return host_ret(syscall(SYS_faccessat2, fd, "", X_OK, AT_EMPTY_PATH));
}

long iosrv_chdir(iosrv_t *s, const char *path)
{
	char full[IOSRV_PATH_MAX], norm[IOSRV_PATH_MAX];
	long fd, r = path_join(s, AT_FDCWD, path, full);

	if (r < 0)
		return r;
	fd = path_openat2(s, full, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	r = dir_searchable((int)fd);
	if (r != 0) {
		close((int)fd);
		return r;
	}
	iosrv_path_normalize(full, norm);
	iosrv_path_guest(s, (int)fd, norm, norm);
	cwd_set(s, norm, (int)fd);
	return 0;
}

long iosrv_fchdir(iosrv_t *s, int fd)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	if (!(f->kind & IOSRV_FILE_DIR))
		r = -ENOTDIR;
	else
		r = dir_searchable(f->hostfd);
	if (r == 0)
		r = host_ret(fcntl(f->hostfd, F_DUPFD_CLOEXEC, 0));
	if (r >= 0) {
		cwd_set(s, f->path, (int)r);
		r = 0;
	}
	iosrv_file_put(f);
	return r;
}
