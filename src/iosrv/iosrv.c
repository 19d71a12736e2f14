/* The I/O server's lifetime and the guest descriptor table: open files are
 * reference counted (iosrv_file_t), slots map guest fds to them. */
#include "iosrv/iosrv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "iosrv/iosrv_int.h"

#define FD_TABLE_MIN 64

iosrv_t cvmm_iosrv;

/* ---- files ---- */

iosrv_file_t *iosrv_file_new(int hostfd, const char *dir_path)
{
	iosrv_file_t *f = calloc(1, sizeof(*f));
	struct stat st;

	if (!f)
		goto err_close;
	f->hostfd = hostfd;
	f->refs = 1;
	if (fstat(hostfd, &st) == 0) {
		if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
		    S_ISCHR(st.st_mode))
			f->kind |= IOSRV_FILE_BLOCK;
		if (S_ISDIR(st.st_mode) && dir_path) {
			f->path = strdup(dir_path);
			if (!f->path)
				goto err_free;
			f->kind |= IOSRV_FILE_DIR;
		}
	}
	return f;

err_free:
	free(f);
err_close:
	close(hostfd);
	errno = ENOMEM;
	return NULL;
}

iosrv_file_t *iosrv_file_get(iosrv_file_t *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	return f;
}

void iosrv_file_put(iosrv_file_t *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	close(f->hostfd);
	free(f->path);
	free(f);
}

/* ---- the table; callers hold s->lock ---- */

static bool fd_is_open(const iosrv_t *s, int fd)
{
	return fd >= 0 && fd < s->nslots && s->slots[fd].file;
}

/* Makes room for fds below need (<= IOSRV_FD_MAX). 0 or -ENOMEM. */
static long fd_table_grow(iosrv_t *s, int need)
{
	int n = s->nslots ? s->nslots : FD_TABLE_MIN;
	iosrv_slot_t *p;

	if (need <= s->nslots)
		return 0;
	while (n < need)
		n *= 2;
	if (n > IOSRV_FD_MAX)
		n = IOSRV_FD_MAX;
	p = realloc(s->slots, (size_t)n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + s->nslots, 0, (size_t)(n - s->nslots) * sizeof(*p));
	s->slots = p;
	s->nslots = n;
	return 0;
}

/* Lowest free fd >= minfd, growing the table: the fd or -EMFILE/-ENOMEM. */
static long fd_slot_find(iosrv_t *s, int minfd)
{
	long r;
	int fd;

	for (fd = minfd; fd < s->nslots; fd++)
		if (!s->slots[fd].file)
			return fd;
	if (fd >= IOSRV_FD_MAX)
		return -EMFILE;
	r = fd_table_grow(s, fd + 1);
	return r < 0 ? r : fd;
}

long iosrv_fd_install(iosrv_t *s, iosrv_file_t *f, bool cloexec, int minfd)
{
	long fd;

	pthread_mutex_lock(&s->lock);
	fd = fd_slot_find(s, minfd);
	if (fd >= 0) {
		s->slots[fd].file = f;
		s->slots[fd].cloexec = cloexec;
	}
	pthread_mutex_unlock(&s->lock);
	if (fd < 0)
		iosrv_file_put(f);
	return fd;
}

long iosrv_fd_get(iosrv_t *s, int fd, iosrv_file_t **out)
{
	long r = -EBADF;

	pthread_mutex_lock(&s->lock);
	if (fd_is_open(s, fd)) {
		*out = iosrv_file_get(s->slots[fd].file);
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

bool iosrv_fd_may_block(iosrv_t *s, int fd)
{
	bool r = false;

	pthread_mutex_lock(&s->lock);
	if (fd_is_open(s, fd))
		r = s->slots[fd].file->kind & IOSRV_FILE_BLOCK;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- descriptor calls ---- */

long iosrv_close(iosrv_t *s, int fd)
{
	iosrv_file_t *f = NULL;

	pthread_mutex_lock(&s->lock);
	if (fd_is_open(s, fd)) {
		f = s->slots[fd].file;
		s->slots[fd].file = NULL;
		s->slots[fd].cloexec = false;
	}
	pthread_mutex_unlock(&s->lock);
	if (!f)
		return -EBADF;
	iosrv_file_put(f);
	return 0;
}

/* Lowest free fd >= minfd sharing oldfd's file. */
static long fd_dup_from(iosrv_t *s, int oldfd, int minfd, bool cloexec)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, oldfd, &f);

	if (r < 0)
		return r;
	return iosrv_fd_install(s, f, cloexec, minfd);
}

long iosrv_dup(iosrv_t *s, int fd)
{
	return fd_dup_from(s, fd, 0, false);
}

/* Points newfd at oldfd's file, closing what newfd had, in one step. */
static long fd_dup_to(iosrv_t *s, int oldfd, int newfd, bool cloexec)
{
	iosrv_file_t *old = NULL;
	long r;

	if (newfd < 0 || newfd >= IOSRV_FD_MAX)
		return -EBADF;
	pthread_mutex_lock(&s->lock);
	r = fd_is_open(s, oldfd) ? fd_table_grow(s, newfd + 1) : -EBADF;
	if (r == 0) {
		old = s->slots[newfd].file;
		s->slots[newfd].file = iosrv_file_get(s->slots[oldfd].file);
		s->slots[newfd].cloexec = cloexec;
		r = newfd;
	}
	pthread_mutex_unlock(&s->lock);
	iosrv_file_put(old);
	return r;
}

long iosrv_dup3(iosrv_t *s, int oldfd, int newfd, int flags)
{
	if ((flags & ~O_CLOEXEC) || oldfd == newfd)
		return -EINVAL;
	return fd_dup_to(s, oldfd, newfd, flags & O_CLOEXEC);
}

long iosrv_dup2(iosrv_t *s, int oldfd, int newfd)
{
	bool open;

	if (oldfd != newfd)
		return fd_dup_to(s, oldfd, newfd, false);
	pthread_mutex_lock(&s->lock);
	open = fd_is_open(s, oldfd);
	pthread_mutex_unlock(&s->lock);
	return open ? newfd : -EBADF;
}

/* F_GETFD and F_SETFD: the close-on-exec bit lives in the slot. */
static long fd_flags(iosrv_t *s, int fd, int cmd, unsigned long arg)
{
	long r = -EBADF;

	pthread_mutex_lock(&s->lock);
	if (fd_is_open(s, fd)) {
		if (cmd == F_SETFD) {
			s->slots[fd].cloexec = arg & FD_CLOEXEC;
			r = 0;
		} else {
			r = s->slots[fd].cloexec ? FD_CLOEXEC : 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* F_GETFL and F_SETFL act on the host file; O_ASYNC is not offered (the
 * agent would get the SIGIO). */
static long fd_status(iosrv_t *s, int fd, int cmd, unsigned long arg)
{
	const int settable = O_APPEND | O_DIRECT | O_NOATIME | O_NONBLOCK;
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	if (cmd == F_GETFL)
		r = fcntl(f->hostfd, F_GETFL);
	else
		r = fcntl(f->hostfd, F_SETFL, (int)arg & settable);
	if (r < 0)
		r = -errno;
	iosrv_file_put(f);
	return r;
}

long iosrv_fcntl(iosrv_t *s, int fd, int cmd, unsigned long arg)
{
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg >= IOSRV_FD_MAX)
			return -EINVAL;
		return fd_dup_from(s, fd, (int)arg, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
	case F_SETFD:
		return fd_flags(s, fd, cmd, arg);
	case F_GETFL:
	case F_SETFL:
		return fd_status(s, fd, cmd, arg);
	default:
		return -EINVAL;
	}
}

long iosrv_pipe2(iosrv_t *s, int fds[2], int flags)
{
	iosrv_file_t *rd, *wr;
	int h[2];
	long r0, r1;

	if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
		return -EINVAL;
	if (pipe2(h, O_CLOEXEC | (flags & (O_NONBLOCK | O_DIRECT))) < 0)
		return -errno;
	rd = iosrv_file_new(h[0], NULL);
	wr = iosrv_file_new(h[1], NULL);
	if (!rd || !wr) {
		iosrv_file_put(rd);
		iosrv_file_put(wr);
		return -ENOMEM;
	}
	r0 = iosrv_fd_install(s, rd, flags & O_CLOEXEC, 0);
	if (r0 < 0) {
		iosrv_file_put(wr);
		return r0;
	}
	r1 = iosrv_fd_install(s, wr, flags & O_CLOEXEC, 0);
	if (r1 < 0) {
		iosrv_close(s, (int)r0);
		return r1;
	}
	fds[0] = (int)r0;
	fds[1] = (int)r1;
	return 0;
}

/* ---- lifetime ---- */

/* Opens the root and checks that openat2 confinement works here. */
static cvmm_status_t root_open(iosrv_t *s, const char *root)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	s->root = realpath(root, NULL);
	if (!s->root) {
		log_error("guest root %s: %m", root);
		return CVMM_ERR_IO;
	}
	s->rootlen = strcmp(s->root, "/") == 0 ? 0 : strlen(s->root);
	s->rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		log_error("guest root %s: %m", s->root);
		return CVMM_ERR_IO;
	}
	fd = syscall(SYS_openat2, s->rootfd, ".", &how, sizeof(how));
	if (fd < 0) {
		log_error("openat2 on the guest root: %m (linux 5.6 or later "
			  "is needed)");
		return errno == ENOSYS ? CVMM_ERR_UNSUPPORTED : CVMM_ERR_IO;
	}
	close((int)fd);
	return CVMM_OK;
}

/* Guest fds 0-2 are copies of the agent's, so the guest closing its stdout
 * leaves the agent's open. */
static void stdio_dup(iosrv_t *s)
{
	iosrv_file_t *f;
	int fd, h;

	for (fd = 0; fd < 3; fd++) {
		h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (h < 0) {
			log_debug("agent fd %d: %m; guest fd %d stays closed",
				  fd, fd);
			continue;
		}
		f = iosrv_file_new(h, NULL);
		if (f)
			iosrv_fd_install(s, f, false, fd);
	}
}

/* Each guest fd holds a host fd next to the agent's own: raise the soft
 * RLIMIT_NOFILE to the hard one so the guest's IOSRV_FD_MAX fit. */
static void nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("raising the open file limit: %m");
}

cvmm_status_t iosrv_init(iosrv_t *s, const char *root, int nvcpus,
			 const char *exe_host_path)
{
	cvmm_status_t st;

	memset(s, 0, sizeof(*s));
	s->rootfd = -1;
	s->cwdfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	strcpy(s->cwd, "/");
	s->nvcpus = nvcpus < 1 ? 1 : nvcpus;
	st = root_open(s, root ? root : ".");
	if (st != CVMM_OK)
		goto err_fini;
	if (exe_host_path) {
		s->exe = realpath(exe_host_path, NULL);
		if (!s->exe)
			s->exe = strdup(exe_host_path);
		if (!s->exe)
			goto err_nomem;
	}
	if (iosrv_vfile_init(s) != CVMM_OK || fd_table_grow(s, FD_TABLE_MIN))
		goto err_nomem;
	nofile_raise();
	stdio_dup(s);
	log_debug("iosrv root %s, %d vcpus", s->root, s->nvcpus);
	return CVMM_OK;

err_nomem:
	log_error("iosrv init: out of memory");
	st = CVMM_ERR_NOMEM;
err_fini:
	iosrv_fini(s);
	return st;
}

void iosrv_fini(iosrv_t *s)
{
	int fd;

	for (fd = 0; fd < s->nslots; fd++)
		iosrv_file_put(s->slots[fd].file);
	free(s->slots);
	iosrv_vfile_fini(s);
	if (s->root && s->rootfd >= 0)
		close(s->rootfd);
	if (s->cwdfd >= 0)
		close(s->cwdfd);
	free(s->root);
	free(s->exe);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
	s->rootfd = -1;
	s->cwdfd = -1;
}
