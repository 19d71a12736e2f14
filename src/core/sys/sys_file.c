/* File and console I/O: the client side of the I/O server. Each handler
 * validates its flags, translates guest pointers into agent-view pointers
 * (never handing a guest address to a real system call), and makes one
 * request to iosrv. Handlers that may wait on another party (a pipe, the
 * terminal, poll) count that time as idle. SIGPIPE on -EPIPE is raised by
 * sys_dispatch for every I/O-server call.
 *
 * On a VM over several nodes, a guest buffer the agent writes is held here
 * (pinned) from gmem_ptr to the end of the call. A call that may wait for
 * another party must not hold one meanwhile: the party may be a guest
 * thread on another node that needs that very page before it can write to
 * the pipe (a read buffer sharing a page with its flag). Such calls read
 * into agent memory and copy into the guest once they return ("bounced"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "core/gmem.h"
#include "core/sys/sys.h"
#include "core/vm.h"
#include "iosrv/iosrv.h"

/* Linux caps one transfer at MAX_RW_COUNT bytes and returns a short count. */
#define MAX_RW_COUNT ((size_t)INT_MAX & ~(CVMM_PAGE_SIZE - 1))

#define STAT_FLAGS (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)

static iosrv_t *const ios = &cvmm_iosrv;

/* ---- argument translation ---- */

static size_t rw_count(uint64_t n)
{
	return n > MAX_RW_COUNT ? MAX_RW_COUNT : (size_t)n;
}

/* Linux's access_ok: [gaddr, gaddr + len) is a user range (it neither
 * wraps nor ends past the end of user space), mapped or not. */
static bool user_range(uint64_t gaddr, uint64_t len)
{
	return gaddr <= GMEM_TASK_SIZE && len <= GMEM_TASK_SIZE - gaddr;
}

/* Agent view of the guest buffer [gaddr, gaddr + *len) mapped with prot.
 * As on Linux a transfer stops at the first unmapped page, so *len is cut
 * to the mapped prefix; NULL (-EFAULT) when not even its first byte is. */
static void *buf_span(uint64_t gaddr, size_t *len, int prot)
{
	void *p = gmem_ptr(&cvmm_gmem, gaddr, *len, prot);
	size_t n, step;

	if (p)
		return p;
	for (n = 0; n < *len; n += step) {
		step = CVMM_PAGE_SIZE - ((gaddr + n) & (CVMM_PAGE_SIZE - 1));
		if (step > *len - n)
			step = *len - n;
		if (!gmem_ptr(&cvmm_gmem, gaddr + n, step, prot))
			break;
	}
	if (n == 0)
		return NULL;
	*len = n;
	return gmem_agent(gaddr);
}

/* Copies the guest path at gaddr into buf (IOSRV_PATH_MAX): 0 or -EFAULT,
 * -ENAMETOOLONG. */
static long path_in(uint64_t gaddr, char *buf)
{
	long r = gmem_strcpy(&cvmm_gmem, gaddr, buf, IOSRV_PATH_MAX);

	return r < 0 ? r : 0;
}

/* Linux's checks of an imported iovec array iov[0..cnt) (guest
 * addresses), before any byte moves: every length (EINVAL), then every
 * segment's range (EFAULT). A kernel address in a later segment fails the
 * whole call; a merely unmapped one only ends the transfer there. A single
 * segment is checked as Linux imports it, as one buffer of at most
 * MAX_RW_COUNT bytes. Returns 0 or -errno. */
static long iov_check(const struct iovec *iov, size_t cnt)
{
	size_t i;

	for (i = 0; i < cnt; i++)
		if (iov[i].iov_len > (size_t)SSIZE_MAX)
			return -EINVAL;
	for (i = 0; i < cnt; i++)
		if (!user_range((uint64_t)(uintptr_t)iov[i].iov_base,
				cnt == 1 ? rw_count(iov[i].iov_len)
					 : iov[i].iov_len))
			return -EFAULT;
	return 0;
}

/* Translates the guest iovec array at giov (cnt entries) into iov, agent
 * pointers mapped with prot, as Linux imports it: the total is capped at
 * MAX_RW_COUNT and the vector ends at the first segment not wholly mapped
 * (after its mapped prefix). Returns the number of entries or -errno. */
static long iov_in(uint64_t giov, size_t cnt, int prot, struct iovec *iov)
{
	const struct iovec *g;
	size_t total = 0, want;
	size_t i;
	long r;

	if (cnt == 0)
		return 0; /* Linux reads no array for zero segments */
	g = gmem_ptr(&cvmm_gmem, giov, cnt * sizeof(*g), PROT_READ);
	if (!g)
		return -EFAULT;
	memcpy(iov, g, cnt * sizeof(*g)); /* read the guest's array once */
	r = iov_check(iov, cnt);
	if (r < 0)
		return r;
	for (i = 0; i < cnt; i++) {
		want = iov[i].iov_len;
		if (want > MAX_RW_COUNT - total)
			want = MAX_RW_COUNT - total;
		iov[i].iov_len = want;
		iov[i].iov_base = buf_span((uint64_t)(uintptr_t)iov[i].iov_base,
					   &iov[i].iov_len, prot);
		if (!iov[i].iov_base)
			return i ? (long)i : -EFAULT;
		total += iov[i].iov_len;
		if (iov[i].iov_len < want)
			return (long)i + 1;
	}
	return (long)cnt;
}

/* ---- calls that may wait ---- */

/* Bounced reads: at most this much per call (a pipe, socket or terminal
 * returns what it has, so a shorter read is a valid answer). */
#define BOUNCE_MAX ((size_t)1 << 20)

/* A read that may wait never writes into the guest directly: another
 * guest thread may unmap the buffer meanwhile (the bytes would then land
 * in whatever is mapped there next), and on several nodes it must not pin
 * pages while it waits. It reads into agent memory and copies out. */
static bool must_bounce(int fd)
{
	return iosrv_fd_may_block(ios, fd);
}

/* Copies n bytes from src to guest gaddr (pinned only now), under a
 * layout hold so that an unmap cannot slip between the check and the
 * copy; -EFAULT if the guest unmapped the buffer meanwhile (the bytes are
 * lost; Linux would leave them in a pipe). */
static long copy_out(uint64_t gaddr, const void *src, size_t n)
{
	void *dst = gmem_ptr(&cvmm_gmem, gaddr, n, PROT_WRITE);
	long r = 0;

	if (!dst)
		return -EFAULT;
	gmem_hold(&cvmm_gmem);
	if (gmem_mapped(&cvmm_gmem, gaddr, n, PROT_WRITE) == n)
		memcpy(dst, src, n);
	else
		r = -EFAULT;
	gmem_unhold(&cvmm_gmem);
	return r;
}

/* Takes a layout hold for a read straight into [gaddr, gaddr + *len)
 * (already checked and brought in by buf_span): the range is checked once
 * more under the hold and *len cut to what is still mapped. Returns false
 * (no hold kept) when nothing is. Only for reads that do not wait. */
static bool hold_span(uint64_t gaddr, size_t *len)
{
	gmem_hold(&cvmm_gmem);
	if (*len && !(*len = gmem_mapped(&cvmm_gmem, gaddr, *len, PROT_WRITE))) {
		gmem_unhold(&cvmm_gmem);
		return false;
	}
	return true;
}

static bool idle_begin(vthread_t *vt, int fd)
{
	if (!iosrv_fd_may_block(ios, fd))
		return false;
	vt_idle_begin(vt);
	return true;
}

static void idle_end(vthread_t *vt, bool idle)
{
	if (idle)
		vt_idle_end(vt);
}

/* ---- data ---- */

/* read(fd, buf, count) that may wait: into agent memory, then copied. */
static long read_bounced(vthread_t *vt, int fd, uint64_t gbuf, size_t len)
{
	char *tmp;
	long r, c;

	if (len > BOUNCE_MAX)
		len = BOUNCE_MAX;
	if (len && !(len = gmem_mapped(&cvmm_gmem, gbuf, len, PROT_WRITE)))
		return -EFAULT;
	tmp = malloc(len ? len : 1);
	if (!tmp)
		return -ENOMEM;
	vt_idle_begin(vt);
	r = iosrv_read(ios, fd, tmp, len);
	vt_idle_end(vt);
	if (r > 0 && (c = copy_out(gbuf, tmp, (size_t)r)) < 0)
		r = c;
	free(tmp);
	return r;
}

/* read(fd, buf, count) */
long sys_read(vthread_t *vt, const uint64_t a[6])
{
	size_t len = rw_count(a[2]);
	void *buf;
	long r;

	/* access_ok: the whole range, count uncapped, even for count 0 */
	if (!user_range(a[1], a[2]))
		return -EFAULT;
	if (must_bounce((int)a[0]))
		return read_bounced(vt, (int)a[0], a[1], len);
	buf = buf_span(a[1], &len, PROT_WRITE);
	if (!buf || !hold_span(a[1], &len))
		return -EFAULT;
	r = iosrv_read(ios, (int)a[0], buf, len);
	gmem_unhold(&cvmm_gmem);
	return r;
}

/* write(fd, buf, count): as Linux, the whole range must be user memory
 * (count uncapped) before the mapped prefix is written */
long sys_write(vthread_t *vt, const uint64_t a[6])
{
	size_t len = rw_count(a[2]);
	const void *buf;
	bool idle;
	long r;

	if (!user_range(a[1], a[2]) ||
	    !(buf = buf_span(a[1], &len, PROT_READ)))
		return -EFAULT;
	idle = idle_begin(vt, (int)a[0]);
	r = iosrv_write(ios, (int)a[0], buf, len);
	idle_end(vt, idle);
	return r;
}

/* pread64(fd, buf, count, pos) */
long sys_pread64(vthread_t *vt, const uint64_t a[6])
{
	size_t len = rw_count(a[2]);
	void *buf;
	long r;

	if ((int64_t)a[3] < 0)
		return -EINVAL;
	if (!user_range(a[1], a[2]))
		return -EFAULT;
	buf = buf_span(a[1], &len, PROT_WRITE);
	if (!buf || !hold_span(a[1], &len))
		return -EFAULT;
	r = iosrv_pread(ios, (int)a[0], buf, len, (int64_t)a[3]);
	gmem_unhold(&cvmm_gmem);
	return r;
}

/* pwrite64(fd, buf, count, pos) */
long sys_pwrite64(vthread_t *vt, const uint64_t a[6])
{
	size_t len = rw_count(a[2]);
	const void *buf;

	if ((int64_t)a[3] < 0)
		return -EINVAL;
	if (!user_range(a[1], a[2]))
		return -EFAULT;
	buf = buf_span(a[1], &len, PROT_READ);
	if (!buf)
		return -EFAULT;
	return iosrv_pwrite(ios, (int)a[0], buf, len, (int64_t)a[3]);
}

/* Cuts the guest iovec array iov[0..cnt) (guest addresses) to what a
 * bounced read takes: at most BOUNCE_MAX in all, ending at the first
 * segment not wholly mapped writable. Returns the segments kept (their
 * total in *total) or -errno. */
static long iov_bounce_plan(struct iovec *iov, size_t cnt, size_t *total)
{
	size_t asked, want, got, i;
	long r = iov_check(iov, cnt);

	*total = 0;
	if (r < 0)
		return r;
	for (i = 0; i < cnt; i++) {
		want = asked = iov[i].iov_len;
		if (want > BOUNCE_MAX - *total)
			want = BOUNCE_MAX - *total;
		got = want ? gmem_mapped(&cvmm_gmem,
					 (uint64_t)(uintptr_t)iov[i].iov_base,
					 want, PROT_WRITE)
			   : 0;
		if (want && !got)
			return i ? (long)i : -EFAULT;
		iov[i].iov_len = got;
		*total += got;
		if (got < asked)
			return (long)i + 1;
	}
	return (long)cnt;
}

/* readv from a file that may wait: one read into agent memory (pipes,
 * sockets and terminals are streams: the bytes fill the segments in
 * order), then scattered into the guest. */
static long readv_bounced(vthread_t *vt, int fd, uint64_t giov, size_t cnt)
{
	const struct iovec *g;
	struct iovec *iov;
	size_t total, off = 0, k;
	char *tmp = NULL;
	long n, r;

	if (cnt == 0) /* Linux reads no array for zero segments */
		return iosrv_readv(ios, fd, NULL, 0, IOSRV_POS_CUR);
	g = gmem_ptr(&cvmm_gmem, giov, cnt * sizeof(*g), PROT_READ);
	if (!g)
		return -EFAULT;
	iov = malloc((cnt ? cnt : 1) * sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	memcpy(iov, g, cnt * sizeof(*g)); /* read the guest's array once */
	n = r = iov_bounce_plan(iov, cnt, &total);
	if (n >= 0 && !(tmp = malloc(total ? total : 1)))
		r = -ENOMEM;
	if (r >= 0) {
		vt_idle_begin(vt);
		r = iosrv_read(ios, fd, tmp, total);
		vt_idle_end(vt);
	}
	for (long i = 0; r > 0 && i < n && off < (size_t)r; i++) {
		k = iov[i].iov_len < (size_t)r - off ? iov[i].iov_len
						     : (size_t)r - off;
		if (copy_out((uint64_t)(uintptr_t)iov[i].iov_base, tmp + off,
			     k) < 0)
			r = -EFAULT;
		off += k;
	}
	free(tmp);
	free(iov);
	return r;
}

/* hold_span for the n segments of a read straight into the guest (agent
 * pointers, as iov_in made them): under the hold, the segments still
 * mapped are kept, the first one cut short ends the list. Returns how many
 * are kept, with the hold, or -EFAULT without it. */
static long hold_iov(struct iovec *iov, long n)
{
	gmem_hold(&cvmm_gmem);
	for (long i = 0; i < n; i++) {
		uint64_t g = (uint64_t)(uintptr_t)iov[i].iov_base - GMEM_DELTA;
		size_t want = iov[i].iov_len, got;

		if (!want)
			continue;
		got = gmem_mapped(&cvmm_gmem, g, want, PROT_WRITE);
		if (got == want)
			continue;
		if (!got && i == 0) {
			gmem_unhold(&cvmm_gmem);
			return -EFAULT;
		}
		iov[i].iov_len = got;
		return got ? i + 1 : i;
	}
	return n;
}

/* readv, writev, preadv, pwritev: a[0] fd, a[1] iov, a[2] iovcnt; off is
 * IOSRV_POS_CUR for the file position. */
static long rw_vec(vthread_t *vt, const uint64_t a[6], int64_t off, bool wr)
{
	int fd = (int)a[0];
	struct iovec *iov;
	bool idle;
	long n, r;

	if (a[2] > IOV_MAX)
		return -EINVAL;
	if (!wr && off == IOSRV_POS_CUR && must_bounce(fd))
		return readv_bounced(vt, fd, a[1], a[2]);
	iov = calloc(a[2] ? a[2] : 1, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	n = iov_in(a[1], a[2], wr ? PROT_READ : PROT_WRITE, iov);
	if (n < 0) {
		r = n;
		goto out_free;
	}
	idle = idle_begin(vt, fd);
	if (wr) {
		r = iosrv_writev(ios, fd, iov, (int)n, off);
	} else if ((n = hold_iov(iov, n)) < 0) {
		r = n;
	} else {
		r = iosrv_readv(ios, fd, iov, (int)n, off);
		gmem_unhold(&cvmm_gmem);
	}
	idle_end(vt, idle);
out_free:
	free(iov);
	return r;
}

/* readv(fd, iov, iovcnt) */
long sys_readv(vthread_t *vt, const uint64_t a[6])
{
	return rw_vec(vt, a, IOSRV_POS_CUR, false);
}

/* writev(fd, iov, iovcnt) */
long sys_writev(vthread_t *vt, const uint64_t a[6])
{
	return rw_vec(vt, a, IOSRV_POS_CUR, true);
}

/* preadv(fd, iov, iovcnt, pos_l, pos_h): on x86-64 the offset is pos_l */
long sys_preadv(vthread_t *vt, const uint64_t a[6])
{
	if ((int64_t)a[3] < 0)
		return -EINVAL;
	return rw_vec(vt, a, (int64_t)a[3], false);
}

/* pwritev(fd, iov, iovcnt, pos_l, pos_h) */
long sys_pwritev(vthread_t *vt, const uint64_t a[6])
{
	if ((int64_t)a[3] < 0)
		return -EINVAL;
	return rw_vec(vt, a, (int64_t)a[3], true);
}

/* sendfile(out_fd, in_fd, offset, count) */
long sys_sendfile(vthread_t *vt, const uint64_t a[6])
{
	int out = (int)a[0], in = (int)a[1];
	int64_t off = 0, *g;
	bool idle;
	long r;

	/* *off is copied in and out, never held across the call: it may
	 * block, and on several nodes a pinned page would keep a writer on
	 * another node waiting for it. Writable, but only read now: a read
	 * brings the page in unpinned. */
	if (a[2]) {
		if (gmem_mapped(&cvmm_gmem, a[2], sizeof(*g),
				PROT_READ | PROT_WRITE) != sizeof(*g) ||
		    !(g = gmem_ptr(&cvmm_gmem, a[2], sizeof(*g), PROT_READ)))
			return -EFAULT;
		off = *g;
	}
	idle = idle_begin(vt, out);
	if (!idle)
		idle = idle_begin(vt, in);
	r = iosrv_sendfile(ios, out, in, a[2] ? &off : NULL, rw_count(a[3]));
	idle_end(vt, idle);
	if (a[2]) {
		g = gmem_ptr(&cvmm_gmem, a[2], sizeof(*g), PROT_WRITE);
		if (!g)
			return -EFAULT;
		*g = off;
	}
	return r;
}

/* lseek(fd, offset, whence) */
long sys_lseek(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_lseek(ios, (int)a[0], (int64_t)a[1], (int)a[2]);
}

/* getdents64(fd, dirp, count): Linux checks the buffer only as it writes
 * each entry. With count 0 nothing fits and the pointer is never looked
 * at; a buffer that stops being writable gets the entries that fit before
 * that point, and EFAULT when not even the first one does (the host call,
 * given only the writable part, says EINVAL then). */
long sys_getdents64(vthread_t *vt, const uint64_t a[6])
{
	size_t want = (unsigned int)a[2], len = want;
	char none[1];
	void *buf;
	long r;

	if (want == 0)
		return iosrv_getdents64(ios, (int)a[0], none, 0);
	buf = buf_span(a[1], &len, PROT_WRITE);
	if (!buf)
		return -EFAULT;
	r = iosrv_getdents64(ios, (int)a[0], buf, len);
	return r == -EINVAL && len < want ? -EFAULT : r;
}

/* ftruncate(fd, length) */
long sys_ftruncate(vthread_t *vt, const uint64_t a[6])
{
	if ((int64_t)a[1] < 0)
		return -EINVAL;
	return iosrv_ftruncate(ios, (int)a[0], (int64_t)a[1]);
}

/* fsync(fd) */
long sys_fsync(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_fsync(ios, (int)a[0], false);
}

/* fdatasync(fd) */
long sys_fdatasync(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_fsync(ios, (int)a[0], true);
}

/* ioctl(fd, request, arg): the requests iosrv knows, else -ENOTTY */
long sys_ioctl(vthread_t *vt, const uint64_t a[6])
{
	unsigned long req = (unsigned int)a[1]; /* the kernel's cmd is 32-bit */
	int prot = 0;
	long size = iosrv_ioctl_arg(req, &prot);
	void *arg = NULL;

	/* A bad argument goes to the host as NULL, which the kernel can
	 * neither read nor write: it answers as it would the guest (EBADF,
	 * ENOTTY for a file that is no terminal, else EFAULT), no agent
	 * memory involved. */
	if (size > 0)
		arg = gmem_ptr(&cvmm_gmem, a[2], (size_t)size, prot);
	return iosrv_ioctl(ios, (int)a[0], req, arg);
}

/* ---- descriptors ---- */

/* close(fd) */
long sys_close(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_close(ios, (int)a[0]);
}

/* dup(oldfd) */
long sys_dup(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_dup(ios, (int)a[0]);
}

/* dup2(oldfd, newfd) */
long sys_dup2(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_dup2(ios, (int)a[0], (int)a[1]);
}

/* dup3(oldfd, newfd, flags) */
long sys_dup3(vthread_t *vt, const uint64_t a[6])
{
	if ((int)a[2] & ~O_CLOEXEC)
		return -EINVAL;
	return iosrv_dup3(ios, (int)a[0], (int)a[1], (int)a[2]);
}

/* The guest memory a fcntl command reads (and, prot, writes back): 0 for
 * commands whose argument is no pointer. */
static size_t fcntl_arg(int cmd, int *prot)
{
	switch (cmd) {
	case F_GETLK:
	case F_OFD_GETLK:
		*prot = PROT_READ | PROT_WRITE;
		return sizeof(struct flock);
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		*prot = PROT_READ;
		return sizeof(struct flock);
	case F_GETOWN_EX:
		*prot = PROT_WRITE;
		return sizeof(struct f_owner_ex);
	case F_SETOWN_EX:
		*prot = PROT_READ;
		return sizeof(struct f_owner_ex);
	default:
		return 0;
	}
}

/* fcntl(fd, cmd, arg): descriptor and status flags and F_DUPFD* only. The
 * commands cvmm refuses (locks, owners) still check their descriptor and
 * argument first, as Linux does before it looks at the lock: a bad one
 * is EBADF or EFAULT, not EINVAL. */
long sys_fcntl(vthread_t *vt, const uint64_t a[6])
{
	int prot = 0;
	size_t size = fcntl_arg((int)a[1], &prot);
	long r;

	if (size) {
		r = iosrv_fcntl(ios, (int)a[0], F_GETFD, 0);
		if (r < 0)
			return r;
		if (gmem_mapped(&cvmm_gmem, a[2], size, prot) != size)
			return -EFAULT;
	}
	return iosrv_fcntl(ios, (int)a[0], (int)a[1], a[2]);
}

/* pipe2(fds, flags) */
long sys_pipe2(vthread_t *vt, const uint64_t a[6])
{
	int flags = (int)a[1];
	int *gfds, fds[2];
	long r;

	if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
		return -EINVAL;
	gfds = gmem_ptr(&cvmm_gmem, a[0], sizeof(fds), PROT_WRITE);
	if (!gfds)
		return -EFAULT;
	r = iosrv_pipe2(ios, fds, flags);
	if (r == 0)
		memcpy(gfds, fds, sizeof(fds));
	return r;
}

/* pipe(fds) */
long sys_pipe(vthread_t *vt, const uint64_t a[6])
{
	const uint64_t b[6] = { a[0], 0 };

	return sys_pipe2(vt, b);
}

/* ---- paths ---- */

/* openat(dirfd, path, flags, mode) for open, openat and creat; a 64-bit
 * caller always gets O_LARGEFILE. */
static long open_at(int dirfd, uint64_t gpath, int flags, mode_t mode)
{
	char path[IOSRV_PATH_MAX];
	long r = path_in(gpath, path);

	if (r < 0)
		return r;
	return iosrv_open(ios, dirfd, path, flags | O_LARGEFILE, mode);
}

/* open(path, flags, mode) */
long sys_open(vthread_t *vt, const uint64_t a[6])
{
	return open_at(AT_FDCWD, a[0], (int)a[1], (mode_t)a[2]);
}

/* openat(dirfd, path, flags, mode) */
long sys_openat(vthread_t *vt, const uint64_t a[6])
{
	return open_at((int)a[0], a[1], (int)a[2], (mode_t)a[3]);
}

/* creat(path, mode) */
long sys_creat(vthread_t *vt, const uint64_t a[6])
{
	return open_at(AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC,
		       (mode_t)a[1]);
}

/* The path argument of an *at call that accepts AT_EMPTY_PATH, where Linux
 * (6.11 on) also accepts NULL for "". */
static long path_in_empty(uint64_t gaddr, int flags, char *buf)
{
	if (gaddr == 0 && (flags & AT_EMPTY_PATH)) {
		buf[0] = '\0';
		return 0;
	}
	return path_in(gaddr, buf);
}

/* newfstatat(dirfd, path, buf, flags) for stat, lstat and newfstatat. */
static long stat_at(int dirfd, uint64_t gpath, uint64_t gbuf, int flags)
{
	char path[IOSRV_PATH_MAX];
	struct stat *st;
	long r;

	if (flags & ~STAT_FLAGS)
		return -EINVAL;
	st = gmem_ptr(&cvmm_gmem, gbuf, sizeof(*st), PROT_WRITE);
	if (!st)
		return -EFAULT;
	r = path_in_empty(gpath, flags, path);
	if (r < 0)
		return r;
	return iosrv_stat(ios, dirfd, path, flags, st);
}

/* fstat(fd, buf) */
long sys_fstat(vthread_t *vt, const uint64_t a[6])
{
	struct stat *st = gmem_ptr(&cvmm_gmem, a[1], sizeof(*st), PROT_WRITE);

	if (!st)
		return -EFAULT;
	return iosrv_fstat(ios, (int)a[0], st);
}

/* stat(path, buf) */
long sys_stat(vthread_t *vt, const uint64_t a[6])
{
	return stat_at(AT_FDCWD, a[0], a[1], 0);
}

/* lstat(path, buf) */
long sys_lstat(vthread_t *vt, const uint64_t a[6])
{
	return stat_at(AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
}

/* newfstatat(dirfd, path, buf, flags); "" with AT_EMPTY_PATH is fstat */
long sys_newfstatat(vthread_t *vt, const uint64_t a[6])
{
	return stat_at((int)a[0], a[1], a[2], (int)a[3]);
}

/* statx(dirfd, path, flags, mask, buf) */
long sys_statx(vthread_t *vt, const uint64_t a[6])
{
	const int ok = STAT_FLAGS | AT_STATX_SYNC_TYPE;
	int flags = (int)a[2];
	char path[IOSRV_PATH_MAX];
	struct statx *stx;
	long r;

	if ((flags & ~ok) ||
	    (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
	    ((unsigned)a[3] & STATX__RESERVED))
		return -EINVAL;
	stx = gmem_ptr(&cvmm_gmem, a[4], sizeof(*stx), PROT_WRITE);
	if (!stx)
		return -EFAULT;
	r = path_in_empty(a[1], flags, path);
	if (r < 0)
		return r;
	return iosrv_statx(ios, (int)a[0], path, flags, (unsigned)a[3], stx);
}

/* unlinkat(dirfd, path, flags) for unlink, rmdir and unlinkat. */
static long unlink_at(int dirfd, uint64_t gpath, int flags)
{
	char path[IOSRV_PATH_MAX];
	long r;

	if (flags & ~AT_REMOVEDIR)
		return -EINVAL;
	r = path_in(gpath, path);
	if (r < 0)
		return r;
	return iosrv_unlink(ios, dirfd, path, flags);
}

/* unlink(path) */
long sys_unlink(vthread_t *vt, const uint64_t a[6])
{
	return unlink_at(AT_FDCWD, a[0], 0);
}

/* unlinkat(dirfd, path, flags) */
long sys_unlinkat(vthread_t *vt, const uint64_t a[6])
{
	return unlink_at((int)a[0], a[1], (int)a[2]);
}

/* rmdir(path) */
long sys_rmdir(vthread_t *vt, const uint64_t a[6])
{
	return unlink_at(AT_FDCWD, a[0], AT_REMOVEDIR);
}

static long mkdir_at(int dirfd, uint64_t gpath, mode_t mode)
{
	char path[IOSRV_PATH_MAX];
	long r = path_in(gpath, path);

	if (r < 0)
		return r;
	return iosrv_mkdir(ios, dirfd, path, mode);
}

/* mkdir(path, mode) */
long sys_mkdir(vthread_t *vt, const uint64_t a[6])
{
	return mkdir_at(AT_FDCWD, a[0], (mode_t)a[1]);
}

/* mkdirat(dirfd, path, mode) */
long sys_mkdirat(vthread_t *vt, const uint64_t a[6])
{
	return mkdir_at((int)a[0], a[1], (mode_t)a[2]);
}

static long rename_at(int olddirfd, uint64_t gold, int newdirfd,
		      uint64_t gnew)
{
	char oldpath[IOSRV_PATH_MAX], newpath[IOSRV_PATH_MAX];
	long r = path_in(gold, oldpath);

	if (r == 0)
		r = path_in(gnew, newpath);
	if (r < 0)
		return r;
	return iosrv_rename(ios, olddirfd, oldpath, newdirfd, newpath);
}

/* rename(oldpath, newpath) */
long sys_rename(vthread_t *vt, const uint64_t a[6])
{
	return rename_at(AT_FDCWD, a[0], AT_FDCWD, a[1]);
}

/* renameat(olddirfd, oldpath, newdirfd, newpath) */
long sys_renameat(vthread_t *vt, const uint64_t a[6])
{
	return rename_at((int)a[0], a[1], (int)a[2], a[3]);
}

/* renameat2(olddirfd, oldpath, newdirfd, newpath, flags): flags 0 only */
long sys_renameat2(vthread_t *vt, const uint64_t a[6])
{
	if ((unsigned)a[4] != 0)
		return -EINVAL;
	return rename_at((int)a[0], a[1], (int)a[2], a[3]);
}

/* faccessat2(dirfd, path, mode, flags) for access and the faccessat pair. */
static long access_at(int dirfd, uint64_t gpath, int mode, int flags)
{
	char path[IOSRV_PATH_MAX];
	long r;

	if (mode & ~(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	r = path_in(gpath, path);
	if (r < 0)
		return r;
	return iosrv_access(ios, dirfd, path, mode, flags);
}

/* access(path, mode) */
long sys_access(vthread_t *vt, const uint64_t a[6])
{
	return access_at(AT_FDCWD, a[0], (int)a[1], 0);
}

/* faccessat(dirfd, path, mode): the system call has no flags */
long sys_faccessat(vthread_t *vt, const uint64_t a[6])
{
	return access_at((int)a[0], a[1], (int)a[2], 0);
}

/* faccessat2(dirfd, path, mode, flags) */
long sys_faccessat2(vthread_t *vt, const uint64_t a[6])
{
	return access_at((int)a[0], a[1], (int)a[2], (int)a[3]);
}

/* The link is read into agent memory, then copied out whole: as on Linux,
 * a buffer that cannot take all of it is EFAULT (not a shorter link), and
 * the link is looked up before the buffer is (ENOENT first). */
static long readlink_at(int dirfd, uint64_t gpath, uint64_t gbuf,
			int bufsiz)
{
	char path[IOSRV_PATH_MAX], link[IOSRV_PATH_MAX];
	size_t len = (size_t)bufsiz;
	char *buf;
	long r;

	if (bufsiz <= 0)
		return -EINVAL;
	r = path_in(gpath, path);
	if (r < 0)
		return r;
	if (len > sizeof(link))
		len = sizeof(link);
	r = iosrv_readlink(ios, dirfd, path, link, len);
	if (r < 0)
		return r;
	buf = gmem_ptr(&cvmm_gmem, gbuf, (size_t)r, PROT_WRITE);
	if (!buf)
		return -EFAULT;
	memcpy(buf, link, (size_t)r);
	return r;
}

/* readlink(path, buf, bufsiz) */
long sys_readlink(vthread_t *vt, const uint64_t a[6])
{
	return readlink_at(AT_FDCWD, a[0], a[1], (int)a[2]);
}

/* readlinkat(dirfd, path, buf, bufsiz) */
long sys_readlinkat(vthread_t *vt, const uint64_t a[6])
{
	return readlink_at((int)a[0], a[1], a[2], (int)a[3]);
}

/* getcwd(buf, size): the length with the NUL, as the system call returns */
long sys_getcwd(vthread_t *vt, const uint64_t a[6])
{
	char cwd[IOSRV_PATH_MAX];
	long n = iosrv_getcwd(ios, cwd, sizeof(cwd));
	char *dst;

	if (n < 0)
		return n;
	if ((uint64_t)n > a[1])
		return -ERANGE;
	dst = gmem_ptr(&cvmm_gmem, a[0], (size_t)n, PROT_WRITE);
	if (!dst)
		return -EFAULT;
	memcpy(dst, cwd, (size_t)n);
	return n;
}

/* chdir(path) */
long sys_chdir(vthread_t *vt, const uint64_t a[6])
{
	char path[IOSRV_PATH_MAX];
	long r = path_in(a[0], path);

	return r < 0 ? r : iosrv_chdir(ios, path);
}

/* fchdir(fd) */
long sys_fchdir(vthread_t *vt, const uint64_t a[6])
{
	return iosrv_fchdir(ios, (int)a[0]);
}

/* ---- poll ---- */

/* Polls a copy of the guest's pollfd array and writes the revents back
 * when it returns (nothing of the guest's is held while it waits); ts NULL
 * waits forever. Signal masks are virtual and not applied. */
static long poll_do(vthread_t *vt, uint64_t gfds, uint64_t nfds,
		    struct timespec *ts)
{
	struct pollfd *fds, *g;
	bool idle;
	long r;

	if (nfds > IOSRV_FD_MAX)
		return -EINVAL;
	/* writable, but only read now: a read brings pages in unpinned */
	if (gmem_mapped(&cvmm_gmem, gfds, nfds * sizeof(*fds),
			PROT_READ | PROT_WRITE) != nfds * sizeof(*fds) ||
	    !(g = gmem_ptr(&cvmm_gmem, gfds, nfds * sizeof(*fds), PROT_READ)))
		return -EFAULT;
	fds = malloc((nfds ? nfds : 1) * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memcpy(fds, g, nfds * sizeof(*fds));
	idle = !ts || ts->tv_sec != 0 || ts->tv_nsec != 0;
	if (idle)
		vt_idle_begin(vt);
	r = iosrv_poll(ios, fds, nfds, ts);
	if (idle)
		vt_idle_end(vt);
	g = gmem_ptr(&cvmm_gmem, gfds, nfds * sizeof(*fds), PROT_WRITE);
	if (!g)
		r = -EFAULT;
	for (uint64_t i = 0; g && i < nfds; i++)
		g[i].revents = fds[i].revents;
	free(fds);
	return r;
}

/* poll(fds, nfds, timeout_ms) */
long sys_poll(vthread_t *vt, const uint64_t a[6])
{
	int ms = (int)a[2];
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	return poll_do(vt, a[0], a[1], ms < 0 ? NULL : &ts);
}

/* ppoll(fds, nfds, tsp, sigmask, sigsetsize): the remaining time is written
 * back to *tsp; the signal mask is accepted but not applied (signals are
 * virtual) */
long sys_ppoll(vthread_t *vt, const uint64_t a[6])
{
	struct timespec t, *g;
	long r;

	/* Linux's order: the timeout, then the signal mask (read, so a bad
	 * pointer is EFAULT, though cvmm does not apply it), then the fds */
	if (a[2]) {
		if (!(g = gmem_ptr(&cvmm_gmem, a[2], sizeof(t), PROT_READ)))
			return -EFAULT;
		t = *g;
		if (t.tv_sec < 0 || t.tv_nsec < 0 ||
		    t.tv_nsec >= 1000000000L)
			return -EINVAL;
	}
	if (a[3] && a[4] != sizeof(uint64_t))
		return -EINVAL;
	if (a[3] && gmem_mapped(&cvmm_gmem, a[3], sizeof(uint64_t),
				PROT_READ) != sizeof(uint64_t))
		return -EFAULT;
	if (!a[2])
		return poll_do(vt, a[0], a[1], NULL);
	r = poll_do(vt, a[0], a[1], &t);
	/* the time left, where the guest lets it be written: as Linux, a
	 * read-only timeout is not an error */
	if ((g = gmem_ptr(&cvmm_gmem, a[2], sizeof(t), PROT_WRITE)))
		*g = t;
	return r;
}
