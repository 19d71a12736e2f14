/* The I/O server (docs/design.md decision 8): the guest's file descriptor table,
 * its current directory and all file and console I/O, confined to the guest
 * root directory.
 *
 * The API is request-shaped so that it can later be served on node 0 for the
 * other nodes through messages: every call takes plain values, paths as
 * agent-memory strings and data buffers in agent memory (the caller has
 * already translated guest addresses), and returns what the guest's system
 * call returns, a value >= 0 or -errno. Nothing here knows about vthreads or
 * guest memory; core/sys_file.c is the client.
 *
 * Confinement: every path is resolved by openat2(2) with RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS relative to an O_PATH descriptor of the root, so
 * "..", absolute paths and symbolic links (absolute or not) never leave it:
 * the guest sees the root as "/" (chroot semantics). Relative guest paths are
 * joined to the guest's current directory, or to the guest path a directory
 * descriptor was opened as, both kept as strings. Calls without an openat2
 * form (unlink, mkdir, rename) resolve the parent directory that way and act
 * on the last component relative to it; calls on an object (stat, access,
 * readlink) act on an O_PATH descriptor of it. A few paths are served
 * specially: /dev/{null,zero,random,urandom} pass through to the host, the
 * CPU lists under /sys/devices/system/cpu, /proc/cpuinfo and
 * /proc/sys/kernel/osrelease are virtual read-only files describing the VM,
 * and /proc/self/exe names the guest executable.
 *
 * Locking: one mutex per server guards the descriptor table and the current
 * directory; it is never held across a host call that can block. Open files
 * are reference counted, so a descriptor closed by one guest thread while
 * another is blocked reading it stays valid until that read returns (as on
 * Linux). Every function below is thread-safe. */
#ifndef CVMM_IOSRV_IOSRV_H
#define CVMM_IOSRV_IOSRV_H

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "common/status.h"

#define IOSRV_FD_MAX   1024    /* RLIMIT_NOFILE the guest gets */
#define IOSRV_PATH_MAX PATH_MAX /* guest paths, with the NUL */
#define IOSRV_POS_CUR  (-1)     /* readv/writev: at the file position */

struct iosrv_slot;
struct iosrv_vfile;
struct statx;

typedef struct iosrv {
	pthread_mutex_t lock;       /* slots, nslots, cwd */
	struct iosrv_slot *slots;   /* guest fd -> open file, grown on demand */
	int nslots;
	int rootfd;                 /* O_PATH descriptor of the root */
	char *root;                 /* canonical host path of the root */
	size_t rootlen;             /* 0 when the root is "/" */
	char cwd[IOSRV_PATH_MAX];   /* guest path, normalized, "/" at start */
	int cwdfd;                  /* O_PATH of the current directory; -1:
				     * the root (relative paths follow the
				     * directory itself when it is renamed) */
	int nvcpus;
	char *exe;                  /* absolute host path of the guest ELF */
	struct iosrv_vfile *vfiles; /* virtual files, built at init */
	int nvfiles;
} iosrv_t;

extern iosrv_t cvmm_iosrv;

/* ---- lifetime ---- */

/* Opens root (NULL means ".") as the guest's "/", makes guest fds 0, 1 and 2
 * copies of the agent's (a missing one stays closed), builds the virtual
 * files for nvcpus CPUs and records exe_host_path (may be NULL) for
 * /proc/self/exe. Raises the process's soft RLIMIT_NOFILE to the hard
 * limit (each guest fd is a host fd). The caller ignores SIGPIPE so that a
 * write to a broken pipe returns -EPIPE. Returns CVMM_ERR_IO (logged) if the root cannot be opened,
 * CVMM_ERR_UNSUPPORTED if the kernel lacks openat2, CVMM_ERR_NOMEM. */
cvmm_status_t iosrv_init(iosrv_t *s, const char *root, int nvcpus,
			 const char *exe_host_path);

/* Closes every guest descriptor and frees the server. Requests still in
 * flight keep their files until they return. Safe on a zeroed iosrv_t. */
void iosrv_fini(iosrv_t *s);

/* ---- descriptors (iosrv.c) ---- */

/* Closes guest fd. 0 or -EBADF. */
long iosrv_close(iosrv_t *s, int fd);

/* dup(2): lowest free fd, FD_CLOEXEC clear. The new fd or -EBADF/-EMFILE. */
long iosrv_dup(iosrv_t *s, int fd);

/* dup3(2) (and dup2 with flags 0 and oldfd != newfd): newfd closed first if
 * open, atomically. flags may hold O_CLOEXEC only. Returns newfd, -EBADF,
 * -EINVAL (oldfd == newfd or bad flags). */
long iosrv_dup3(iosrv_t *s, int oldfd, int newfd, int flags);

/* dup2(2): as dup3 with flags 0, but oldfd == newfd returns newfd when it is
 * open. */
long iosrv_dup2(iosrv_t *s, int oldfd, int newfd);

/* fcntl(2) for F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL and
 * F_SETFL; any other cmd is -EINVAL. */
long iosrv_fcntl(iosrv_t *s, int fd, int cmd, unsigned long arg);

/* pipe2(2): flags O_CLOEXEC, O_NONBLOCK, O_DIRECT. On success writes the
 * read and write ends to fds and returns 0; else -EINVAL/-EMFILE/-ENFILE. */
long iosrv_pipe2(iosrv_t *s, int fds[2], int flags);

/* True when an operation on fd may wait for another party (pipe, FIFO,
 * socket, terminal or other character device), so the caller can account it
 * as idle time. False for a bad fd. */
bool iosrv_fd_may_block(iosrv_t *s, int fd);

/* ---- data (iosrv_io.c); buffers are agent memory ---- */

/* read/write/pread64/pwrite64(2): bytes transferred or -errno. */
long iosrv_read(iosrv_t *s, int fd, void *buf, size_t len);
long iosrv_write(iosrv_t *s, int fd, const void *buf, size_t len);
long iosrv_pread(iosrv_t *s, int fd, void *buf, size_t len, int64_t off);
long iosrv_pwrite(iosrv_t *s, int fd, const void *buf, size_t len,
		  int64_t off);

/* readv/writev (off == IOSRV_POS_CUR) and preadv/pwritev (off >= 0): iov is
 * an array of cnt agent-memory iovecs, 0 <= cnt <= IOV_MAX. */
long iosrv_readv(iosrv_t *s, int fd, const struct iovec *iov, int cnt,
		 int64_t off);
long iosrv_writev(iosrv_t *s, int fd, const struct iovec *iov, int cnt,
		  int64_t off);

/* sendfile(2) between two guest fds; off NULL means in_fd's position, else
 * the offset to read at, updated. Bytes copied or -errno. */
long iosrv_sendfile(iosrv_t *s, int out_fd, int in_fd, int64_t *off,
		    size_t count);

/* lseek(2): the new offset or -errno. */
long iosrv_lseek(iosrv_t *s, int fd, int64_t off, int whence);

/* fstat(2) into *st (guest and host layouts are the same). 0 or -errno. */
long iosrv_fstat(iosrv_t *s, int fd, struct stat *st);

/* getdents64(2) into buf: bytes filled, 0 at the end, or -errno. */
long iosrv_getdents64(iosrv_t *s, int fd, void *buf, size_t len);

/* ftruncate, fsync, fdatasync(2): 0 or -errno. */
long iosrv_ftruncate(iosrv_t *s, int fd, int64_t len);
long iosrv_fsync(iosrv_t *s, int fd, bool data_only);

/* How the argument of ioctl request req is passed: returns the number of
 * bytes arg points to (0: arg unused) and sets *prot to PROT_READ (the host
 * reads them) or PROT_WRITE (the host writes them); -ENOTTY when req is not
 * supported. Cannot fail otherwise. */
long iosrv_ioctl_arg(unsigned long req, int *prot);

/* ioctl(2) for the requests iosrv_ioctl_arg() knows: TCGETS, TCSETS,
 * TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX. arg
 * is an agent buffer of the size iosrv_ioctl_arg() gives. -EBADF for a bad
 * fd, -ENOTTY for another request, else the host's result. */
long iosrv_ioctl(iosrv_t *s, int fd, unsigned long req, void *arg);

/* ppoll(2) on guest fds: fds (agent memory) carry guest fds in, revents out;
 * a negative fd is skipped, a closed one reports POLLNVAL. timeout NULL waits
 * forever, else it is updated with the time left. nfds <= IOSRV_FD_MAX.
 * Returns the number of ready entries or -errno (-EINTR on a host signal). */
long iosrv_poll(iosrv_t *s, struct pollfd *fds, size_t nfds,
		struct timespec *timeout);

/* ---- paths (iosrv_path.c) ----
 * dirfd is a guest directory fd or AT_FDCWD; it is ignored for absolute
 * paths. path is an agent-memory string shorter than IOSRV_PATH_MAX. */

/* openat(2): the new guest fd or -errno. Unknown flag bits are ignored as
 * open(2) does. */
long iosrv_open(iosrv_t *s, int dirfd, const char *path, int flags,
		mode_t mode);

/* newfstatat(2): flags AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (with "" stats
 * dirfd itself), AT_NO_AUTOMOUNT. 0 or -errno. */
long iosrv_stat(iosrv_t *s, int dirfd, const char *path, int flags,
		struct stat *st);

/* statx(2): as iosrv_stat, plus AT_STATX_* in flags and the mask. */
long iosrv_statx(iosrv_t *s, int dirfd, const char *path, int flags,
		 unsigned mask, struct statx *stx);

/* unlinkat(2): flags 0 or AT_REMOVEDIR. 0 or -errno. */
long iosrv_unlink(iosrv_t *s, int dirfd, const char *path, int flags);

/* mkdirat(2). 0 or -errno. */
long iosrv_mkdir(iosrv_t *s, int dirfd, const char *path, mode_t mode);

/* renameat(2). 0 or -errno. */
long iosrv_rename(iosrv_t *s, int olddirfd, const char *oldpath,
		  int newdirfd, const char *newpath);

/* readlinkat(2) into buf (no NUL added): the length or -errno. "" reads the
 * link dirfd refers to. /proc/self/exe gives the executable's host path. */
long iosrv_readlink(iosrv_t *s, int dirfd, const char *path, char *buf,
		    size_t size);

/* faccessat2(2): mode F_OK or R_OK|W_OK|X_OK; flags AT_EACCESS,
 * AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. 0 or -errno. */
long iosrv_access(iosrv_t *s, int dirfd, const char *path, int mode,
		  int flags);

/* getcwd(2): copies the guest's current directory with its NUL into buf and
 * returns that length, or -ERANGE when size is too small. */
long iosrv_getcwd(iosrv_t *s, char *buf, size_t size);

/* chdir(2) and fchdir(2): 0 or -errno. */
long iosrv_chdir(iosrv_t *s, const char *path);
long iosrv_fchdir(iosrv_t *s, int fd);

#endif
