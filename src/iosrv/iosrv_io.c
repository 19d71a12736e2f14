/* Data calls on guest descriptors: each takes a reference to the open file,
 * runs the host call on its host fd outside the table lock, and drops the
 * reference. Buffers are agent memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iosrv/iosrv.h"
#include "iosrv/iosrv_int.h"

/* struct termios of <asm/termbits.h> (what TCGETS fills), not glibc's. */
#define KTERMIOS_SIZE 36

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A host call's result as the guest sees it; read errno right away. */
static long host_ret(long r)
{
	return r < 0 ? -errno : r;
}

long iosrv_read(iosrv_t *s, int fd, void *buf, size_t len)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = host_ret(read(f->hostfd, buf, len));
	iosrv_file_put(f);
	return r;
}

long iosrv_write(iosrv_t *s, int fd, const void *buf, size_t len)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = host_ret(write(f->hostfd, buf, len));
	iosrv_file_put(f);
	return r;
}

long iosrv_pread(iosrv_t *s, int fd, void *buf, size_t len, int64_t off)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = off < 0 ? -EINVAL : host_ret(pread(f->hostfd, buf, len, off));
	iosrv_file_put(f);
	return r;
}

long iosrv_pwrite(iosrv_t *s, int fd, const void *buf, size_t len,
		  int64_t off)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = off < 0 ? -EINVAL : host_ret(pwrite(f->hostfd, buf, len, off));
	iosrv_file_put(f);
	return r;
}

/* readv/writev/preadv/pwritev on the host fd. */
static long io_vec(iosrv_t *s, int fd, const struct iovec *iov, int cnt,
		   int64_t off, bool wr)
{
	iosrv_file_t *f;
	long r;

	if (cnt < 0 || cnt > IOV_MAX || (off < 0 && off != IOSRV_POS_CUR))
		return -EINVAL;
	r = iosrv_fd_get(s, fd, &f);
	if (r < 0)
		return r;
	if (off == IOSRV_POS_CUR && wr)
		r = writev(f->hostfd, iov, cnt);
	else if (off == IOSRV_POS_CUR)
		r = readv(f->hostfd, iov, cnt);
	else if (wr)
		r = pwritev(f->hostfd, iov, cnt, off);
	else
		r = preadv(f->hostfd, iov, cnt, off);
	r = host_ret(r);
	iosrv_file_put(f);
	return r;
}

long iosrv_readv(iosrv_t *s, int fd, const struct iovec *iov, int cnt,
		 int64_t off)
{
	return io_vec(s, fd, iov, cnt, off, false);
}

long iosrv_writev(iosrv_t *s, int fd, const struct iovec *iov, int cnt,
		  int64_t off)
{
	return io_vec(s, fd, iov, cnt, off, true);
}

long iosrv_sendfile(iosrv_t *s, int out_fd, int in_fd, int64_t *off,
		    size_t count)
{
	iosrv_file_t *in, *out;
	off_t pos = off ? *off : 0;
	long r;

	r = iosrv_fd_get(s, in_fd, &in);
	if (r < 0)
		return r;
	r = iosrv_fd_get(s, out_fd, &out);
	if (r < 0)
		goto out_in;
	if (off && pos < 0)
		r = -EINVAL;
	else
		r = host_ret(sendfile(out->hostfd, in->hostfd,
				      off ? &pos : NULL, count));
	if (off && r >= 0)
		*off = pos;
	iosrv_file_put(out);
out_in:
	iosrv_file_put(in);
	return r;
}

long iosrv_lseek(iosrv_t *s, int fd, int64_t off, int whence)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = host_ret(lseek(f->hostfd, off, whence));
	iosrv_file_put(f);
	return r;
}

long iosrv_fstat(iosrv_t *s, int fd, struct stat *st)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = host_ret(fstat(f->hostfd, st));
	iosrv_file_put(f);
	return r;
}

long iosrv_getdents64(iosrv_t *s, int fd, void *buf, size_t len)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	if (len > UINT_MAX)
		len = UINT_MAX;
	r = host_ret(syscall(SYS_getdents64, f->hostfd, buf, len));
	iosrv_file_put(f);
	return r;
}

long iosrv_ftruncate(iosrv_t *s, int fd, int64_t len)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = len < 0 ? -EINVAL : host_ret(ftruncate(f->hostfd, len));
	iosrv_file_put(f);
	return r;
}

long iosrv_fsync(iosrv_t *s, int fd, bool data_only)
{
	iosrv_file_t *f;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	r = host_ret(data_only ? fdatasync(f->hostfd) : fsync(f->hostfd));
	iosrv_file_put(f);
	return r;
}

/* ---- ioctl ---- */

static const struct {
	unsigned long req;
	unsigned size;
	int prot;
} ioctl_args[] = {
	{ TCGETS, KTERMIOS_SIZE, PROT_WRITE },
	{ TCSETS, KTERMIOS_SIZE, PROT_READ },
	{ TCSETSW, KTERMIOS_SIZE, PROT_READ },
	{ TCSETSF, KTERMIOS_SIZE, PROT_READ },
	{ TIOCGWINSZ, sizeof(struct winsize), PROT_WRITE },
	{ FIONREAD, sizeof(int), PROT_WRITE },
	{ FIONBIO, sizeof(int), PROT_READ },
	{ FIOCLEX, 0, 0 },
	{ FIONCLEX, 0, 0 },
};

long iosrv_ioctl_arg(unsigned long req, int *prot)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctl_args); i++) {
		if (ioctl_args[i].req == req) {
			*prot = ioctl_args[i].prot;
			return ioctl_args[i].size;
		}
	}
	return -ENOTTY;
}

long iosrv_ioctl(iosrv_t *s, int fd, unsigned long req, void *arg)
{
	iosrv_file_t *f;
	int prot;
	long r = iosrv_fd_get(s, fd, &f);

	if (r < 0)
		return r;
	if (req == FIOCLEX || req == FIONCLEX)
		r = iosrv_fcntl(s, fd, F_SETFD,
				req == FIOCLEX ? FD_CLOEXEC : 0);
	else if (iosrv_ioctl_arg(req, &prot) < 0)
		r = -ENOTTY;
	else
		r = host_ret(ioctl(f->hostfd, req, arg));
	iosrv_file_put(f);
	return r;
}

/* ---- poll ---- */

/* Fills the host entry for guest entry g; holds a file reference in *f.
 * Returns 1 when g names a closed fd (POLLNVAL), else 0. */
static int poll_entry_get(iosrv_t *s, const struct pollfd *g,
			  struct pollfd *h, iosrv_file_t **f)
{
	h->fd = -1;
	h->events = g->events;
	h->revents = 0;
	*f = NULL;
	if (g->fd < 0)
		return 0;
	if (iosrv_fd_get(s, g->fd, f) < 0)
		return 1;
	h->fd = (*f)->hostfd;
	return 0;
}

/* Copies revents back, POLLNVAL for closed fds; returns the ready count. */
static long poll_revents(struct pollfd *fds, const struct pollfd *h,
			 iosrv_file_t *const *files, size_t nfds)
{
	long n = 0;

	for (size_t i = 0; i < nfds; i++) {
		if (fds[i].fd >= 0 && !files[i])
			fds[i].revents = POLLNVAL;
		else
			fds[i].revents = h[i].revents;
		n += fds[i].revents != 0;
	}
	return n;
}

long iosrv_poll(iosrv_t *s, struct pollfd *fds, size_t nfds,
		struct timespec *timeout)
{
	struct timespec zero = { 0, 0 };
	struct pollfd *h;
	iosrv_file_t **files;
	size_t i;
	int nval = 0;
	long r = -ENOMEM;

	if (nfds > IOSRV_FD_MAX)
		return -EINVAL;
	h = calloc(nfds + 1, sizeof(*h));
	files = calloc(nfds + 1, sizeof(*files));
	if (!h || !files)
		goto out_free;
	for (i = 0; i < nfds; i++)
		nval += poll_entry_get(s, &fds[i], &h[i], &files[i]);
	/* the raw call, so the kernel updates *timeout as ppoll(2) does */
	r = host_ret(syscall(SYS_ppoll, h, nfds, nval ? &zero : timeout,
			     NULL, 8));
	if (r >= 0)
		r = poll_revents(fds, h, files, nfds);
	for (i = 0; i < nfds; i++)
		iosrv_file_put(files[i]);
out_free:
	free(files);
	free(h);
	return r;
}
