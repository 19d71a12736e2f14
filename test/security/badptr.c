/* badptr: the bad-pointer sweep (issue 12). Every system call cvmm's table
 * supports (full or partial) that takes a pointer gets, in each pointer
 * argument in turn, each kind of bad pointer below, with every other
 * argument valid; one line per case:
 *
 *     name arg kind -> result
 *
 * result is the return value when it is deterministic, "ok" for a success
 * whose value is not (a tid, a time, an fd), else the errno's name. The
 * output must be the same natively and under cvmm (test/security/badptr.sh
 * compares them, on one node and on two).
 *
 * Kinds:
 *   null       0
 *   unmapped   a page that was mapped, then unmapped
 *   kernel     0xffff800000000000 (no user address)
 *   agent      an address the agent maps outside the guest window. Under
 *              cvmm argv[1] names a "leak file" (test/security/leak.py,
 *              written from /proc/PID/maps of the agents while this runs):
 *              the guest waits for it and uses its agent_data line (the
 *              agent's own .data, read-write in the agent). Natively there
 *              is no agent: an unmapped high address stands in, and the
 *              expected result is the same (EFAULT where a user pointer is
 *              read or written).
 *   agentview  a good guest buffer's address in cvmm's agent view of guest
 *              memory (+ GMEM_DELTA, 1 TiB: read-write whatever the guest's
 *              protections): outside the guest window, so refused like
 *              any address there; natively nothing is mapped there.
 *              The memory calls get it too: none may touch the view.
 *   half       an object whose first half is mapped and the rest lies in an
 *              unmapped page (a path: no NUL before the unmapped page)
 *   readonly   a PROT_READ page (output arguments; for in/out arguments
 *              that the kernel only reads, it holds zeros)
 *   zero       the kernel pointer with a length of 0 where the call takes a
 *              length (read(fd, kernelptr, 0) is EFAULT natively)
 *   overlong   a good buffer with a length that ends past the end of user
 *              space (0x7ffffffff000), where Linux checks the whole range
 *              before it moves a byte (read, write: EFAULT, not a short
 *              count)
 *
 * The sweep runs in a second thread, so that on two nodes its calls come
 * from node 1 (the main thread's first worker goes there) and the I/O and
 * VM calls among them are forwarded to node 0.
 *
 * Not in the sweep, on purpose:
 *   - write, pwrite64, writev and pwritev to /dev/null: the kernel answers
 *     without touching the buffer (write(devnull, NULL, 10) is 10), which
 *     cvmm, checking the buffer first, does not imitate; the writes go to a
 *     regular file instead. Likewise reads use a regular file, a pipe and a
 *     directory, never /dev/null.
 *   - brk and mmap with MAP_FIXED: they take an address, not a pointer, and
 *     the "agent" stand-in is a free user address natively (mmap would
 *     succeed there).
 *   - the calls of the table that take no pointer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>

#define PAGE 4096UL
#define KERNEL_PTR 0xffff800000000000UL
#define NATIVE_AGENT 0x7ff000000000UL /* unmapped in any native process */
#define OVERLONG 0x7ffffffff000UL     /* from any buffer: past user space */
#define AGENT_VIEW 0x10000000000UL    /* cvmm's GMEM_DELTA (src/core/gmem.h) */

enum { K_NULL, K_UNMAPPED, K_KERNEL, K_AGENT, K_AVIEW, K_HALF, K_RO, K_ZERO,
       K_LONG, NK };
static const char *const kind_name[NK] = {
	"null", "unmapped", "kernel", "agent", "agentview", "half", "readonly",
	"zero", "overlong",
};

#define B(k) (1u << (k))
/* what a pointer the call only reads gets */
#define IN                                                                    \
	(B(K_NULL) | B(K_UNMAPPED) | B(K_KERNEL) | B(K_AGENT) | B(K_AVIEW) |  \
	 B(K_HALF))
/* what a pointer the call writes gets */
#define OUT (IN | B(K_RO))
/* address arguments of the memory calls */
#define ADDR                                                                  \
	(B(K_NULL) | B(K_UNMAPPED) | B(K_KERNEL) | B(K_AGENT) | B(K_AVIEW))
#define ZL B(K_ZERO)
/* a good buffer with a length that runs past the end of user space */
#define LONG B(K_LONG)
/* objsz value for a path argument: "half" is a string running into the
 * unmapped page */
#define STR 0

static uint64_t agent_addr = NATIVE_AGENT;
/* 16 KiB: an "overlong" single-segment readv reads all 8 KiB of a file or
 * pipe into it (Linux caps one segment at MAX_RW_COUNT before checking) */
static char good[16384] __attribute__((aligned(64)));
static char *ro_page, *unmapped_page, *half_page, *str_page;

/* The bad pointer of kind k for an object of objsz bytes. */
static uint64_t badptr(int k, size_t objsz)
{
	switch (k) {
	case K_NULL:
		return 0;
	case K_UNMAPPED:
		return (uint64_t)unmapped_page;
	case K_KERNEL:
	case K_ZERO:
		return KERNEL_PTR;
	case K_AGENT:
		return agent_addr;
	case K_AVIEW:
		return (uint64_t)good + AGENT_VIEW;
	case K_LONG:
		return (uint64_t)good;
	case K_HALF:
		if (objsz == STR) {
			memset(str_page + PAGE - 64, 'a', 64);
			return (uint64_t)(str_page + PAGE - 8);
		}
		return (uint64_t)(half_page + PAGE - objsz / 2);
	default:
		return (uint64_t)ro_page;
	}
}

/* Each kind of kinds in turn: P is the pointer, N the length (n, 0 for the
 * zero kind, past the end of user space for overlong), k_ the kind. */
#define FOR_KINDS(kinds, objsz, n)                                            \
	for (int k_ = 0; k_ < NK; k_++)                                       \
		if ((kinds) & B(k_))                                          \
			for (uint64_t P = badptr(k_, (objsz)),                \
				      N __attribute__((unused)) =                  \
					  k_ == K_ZERO   ? 0                   \
					  : k_ == K_LONG ? OVERLONG            \
							 : (n),                \
				      once_ = 1;                               \
			     once_; once_ = 0)

static long R;
static int E;
#define CALL(...) (errno = 0, R = syscall(__VA_ARGS__), E = errno)

enum { VAL, OK };

static void report_as(const char *name, const char *arg, const char *kind,
		      int how)
{
	char res[64];

	if (R == -1 && E)
		snprintf(res, sizeof(res), "%s", strerrorname_np(E));
	else if (how == VAL)
		snprintf(res, sizeof(res), "%ld", R);
	else
		snprintf(res, sizeof(res), "ok");
	printf("%s %s %s -> %s\n", name, arg, kind, res);
}

static void report(const char *name, const char *arg, int k, int how)
{
	report_as(name, arg, kind_name[k], how);
}

/* CASE(name, arg, kinds, objsz, n, how, syscall args...): the sweep of one
 * argument with the plain reset between cases. */
#define CASE(name, arg, kinds, objsz, n, how, ...)                            \
	FOR_KINDS(kinds, objsz, n)                                            \
	{                                                                     \
		reset();                                                      \
		CALL(__VA_ARGS__);                                            \
		report(name, arg, k_, how);                                   \
	}

/* ---- the guest's files ---- */

static int fd_data, fd_out, fd_dir, fd_file2;
static struct stat st;
static struct timespec ts0; /* zero: poll timeouts, sleeps of nothing */

static void die(const char *what)
{
	printf("setup: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void setup_files(void)
{
	char buf[8192];
	int fd;

	memset(buf, 'x', sizeof(buf));
	fd = open("data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
		die("data");
	close(fd);
	fd = open("victim", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("victim");
	close(fd);
	/* "link" -> "data" comes from badptr.sh (cvmm has no symlink) */
	if (lstat("link", &st) != 0 || !S_ISLNK(st.st_mode))
		die("link (made by badptr.sh)");
	if (mkdir("d", 0755) != 0)
		die("d");
	fd = open("d/a", O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		die("d/a");
	close(fd);
	fd_data = open("data", O_RDONLY);
	fd_out = open("out", O_RDWR | O_CREAT | O_TRUNC, 0644);
	fd_dir = open("d", O_RDONLY | O_DIRECTORY);
	fd_file2 = open("data", O_RDONLY);
	if (fd_data < 0 || fd_out < 0 || fd_dir < 0 || fd_file2 < 0)
		die("open");
}

/* Before each case: file positions back at 0, the output file empty. */
static void reset(void)
{
	lseek(fd_data, 0, SEEK_SET);
	lseek(fd_dir, 0, SEEK_SET);
	lseek(fd_out, 0, SEEK_SET);
	if (ftruncate(fd_out, 0) != 0)
		die("ftruncate");
}

/* The special pages, all made before anything else maps memory, so that
 * no later mapping lands in the holes: one region of 6 pages,
 *   [ro][hole][half][hole][str][hole] */
static void setup_pages(void)
{
	char *r = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (r == MAP_FAILED)
		die("mmap");
	ro_page = r;
	unmapped_page = r + PAGE;
	half_page = r + 2 * PAGE;
	str_page = r + 4 * PAGE;
	if (mprotect(ro_page, PAGE, PROT_READ) != 0 ||
	    munmap(unmapped_page, PAGE) != 0 ||
	    munmap(half_page + PAGE, PAGE) != 0 ||
	    munmap(str_page + PAGE, PAGE) != 0)
		die("pages");
}

/* Under cvmm: create "ready", wait for the leak file (stat every 10 ms,
 * up to 20 s) and take its agent_data address. */
static void read_leak(const char *path)
{
	struct stat s;
	char line[256], name[64];
	unsigned long long v;
	FILE *f;
	int fd = open("ready", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int i;

	if (fd < 0)
		die("ready");
	close(fd);
	for (i = 0; i < 2000 && stat(path, &s) != 0; i++)
		usleep(10000);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %llx", name, &v) == 2 &&
		    strcmp(name, "agent_data") == 0)
			agent_addr = v;
	fclose(f);
	if (agent_addr == NATIVE_AGENT) {
		printf("setup: no agent_data line in %s\n", path);
		exit(1);
	}
}

/* ---- data calls ---- */

/* A pipe holding 8 KiB, written 4 KiB at a time (two pipe buffers). A
 * Linux pipe read that faults inside a pipe buffer fails with EFAULT when
 * that is the first buffer (the bytes stay in the pipe) and returns the
 * bytes of the buffers before it otherwise; cvmm reads a pipe into agent
 * memory (sys_file.c, read_bounced) and delivers the writable prefix, so
 * it cannot know where the host's pipe buffers end. The pipe cases put the
 * end of the writable part exactly at a pipe-buffer boundary, where both
 * answer the same: a "half" read of 8 KiB from the start of the half page
 * returns the first buffer's 4096 bytes, and so does a readv whose first
 * segment is one whole buffer and whose second is bad. */
static void pipe_full(int p[2])
{
	if (pipe(p) != 0 || write(p[1], good, PAGE) != PAGE ||
	    write(p[1], good, PAGE) != PAGE)
		die("pipe");
}

static void sweep_rw(void)
{
	struct iovec iov[2];
	int p[2];

	CASE("read", "buf", OUT | ZL | LONG, 64, 64, VAL, SYS_read, fd_data, P,
	     N);
	CASE("pread64", "buf", OUT | ZL | LONG, 64, 64, VAL, SYS_pread64,
	     fd_data, P, N, 0);
	CASE("write", "buf", IN | ZL | LONG, 64, 64, VAL, SYS_write, fd_out, P,
	     N);
	CASE("pwrite64", "buf", IN | ZL | LONG, 64, 64, VAL, SYS_pwrite64,
	     fd_out, P, N, 0);
	FOR_KINDS(OUT | ZL | LONG, 2 * PAGE, 2 * PAGE)
	{
		pipe_full(p);
		CALL(SYS_read, p[0], P, N);
		report("read", "pipebuf", k_, VAL);
		close(p[0]);
		close(p[1]);
	}

	/* the iovec array: two segments of 64 bytes */
	iov[0] = (struct iovec){ good, 64 };
	iov[1] = (struct iovec){ good + 64, 64 };
	memcpy(half_page + PAGE - 16, iov, 16); /* "half": first one mapped */
	CASE("readv", "iov", IN | ZL, 32, 2, VAL, SYS_readv, fd_data, P, N);
	CASE("writev", "iov", IN | ZL, 32, 2, VAL, SYS_writev, fd_out, P, N);
	CASE("preadv", "iov", IN | ZL, 32, 2, VAL, SYS_preadv, fd_data, P, N,
	     0, 0);
	CASE("pwritev", "iov", IN | ZL, 32, 2, VAL, SYS_pwritev, fd_out, P, N,
	     0, 0);
	FOR_KINDS(IN | ZL, 16, 1)
	{
		pipe_full(p);
		CALL(SYS_readv, p[0], P, N);
		report("readv", "pipeiov", k_, VAL);
		close(p[0]);
		close(p[1]);
	}

	/* the first segment's base (64 bytes), then the second's after a
	 * good first one; "zero": a kernel base with length 0 */
	static const char *const rw_name[4] = { "readv", "writev", "preadv",
						 "pwritev" };
	static const int rw_nr[4] = { SYS_readv, SYS_writev, SYS_preadv,
				      SYS_pwritev };
	for (int c = 0; c < 4; c++) {
		int wr = c & 1;
		int fd = wr ? fd_out : fd_data;

		FOR_KINDS((wr ? IN : OUT) | ZL | LONG, 64, 64)
		{
			reset();
			iov[0] = (struct iovec){ (void *)P, N };
			iov[1] = (struct iovec){ good + 64, 64 };
			CALL(rw_nr[c], fd, iov, 2, 0, 0);
			report(rw_name[c], "iov_base0", k_, VAL);
		}
		FOR_KINDS((wr ? IN : OUT) | ZL | LONG, 64, 64)
		{
			reset();
			iov[0] = (struct iovec){ good, 64 };
			iov[1] = (struct iovec){ (void *)P, N };
			CALL(rw_nr[c], fd, iov, 2, 0, 0);
			report(rw_name[c], "iov_base1", k_, VAL);
		}
	}
	/* one segment: Linux caps its length at MAX_RW_COUNT before it
	 * checks the range (overlong reads all there is), two are checked
	 * uncapped */
	FOR_KINDS(LONG, 0, 0)
	{
		reset();
		iov[0] = (struct iovec){ (void *)P, N };
		CALL(SYS_readv, fd_data, iov, 1);
		report("readv", "iov_single", k_, VAL);
	}
	FOR_KINDS(OUT | ZL | LONG, 2 * PAGE, 2 * PAGE)
	{
		pipe_full(p);
		iov[0] = (struct iovec){ (void *)P, N };
		CALL(SYS_readv, p[0], iov, 1);
		report("readv", "pipe_iov_base0", k_, VAL);
		close(p[0]);
		close(p[1]);
	}
	FOR_KINDS(OUT | ZL | LONG, 2 * PAGE, 2 * PAGE)
	{
		pipe_full(p);
		iov[0] = (struct iovec){ good, PAGE }; /* one pipe buffer */
		iov[1] = (struct iovec){ (void *)P, N };
		CALL(SYS_readv, p[0], iov, 2);
		report("readv", "pipe_iov_base1", k_, VAL);
		close(p[0]);
		close(p[1]);
	}

	/* sendfile's offset is read, then written back */
	CASE("sendfile", "offset", OUT, 8, 8, VAL, SYS_sendfile, fd_out,
	     fd_data, P, 16);
	/* getdents64 of d (".", "..", "a"): "half" holds the first entry
	 * only (24 bytes of 32 mapped) */
	CASE("getdents64", "dirp", OUT | ZL, 64, PAGE, VAL, SYS_getdents64,
	     fd_dir, P, N);
	/* ... and 16 mapped: not even the first one */
	FOR_KINDS(B(K_HALF), 32, PAGE)
	{
		reset();
		CALL(SYS_getdents64, fd_dir, P, N);
		report("getdents64", "dirp16", k_, VAL);
	}
	CASE("fstat", "buf", OUT, sizeof(struct stat), 0, VAL, SYS_fstat,
	     fd_data, P);
}

/* ---- paths ---- */

static void sweep_paths(void)
{
	struct statx stx;

	CASE("open", "path", IN, STR, 0, OK, SYS_open, P, O_RDONLY);
	CASE("openat", "path", IN, STR, 0, OK, SYS_openat, AT_FDCWD, P,
	     O_RDONLY);
	CASE("creat", "path", IN, STR, 0, OK, SYS_creat, P, 0644);
	CASE("stat", "path", IN, STR, 0, VAL, SYS_stat, P, &st);
	CASE("stat", "buf", OUT, sizeof(st), 0, VAL, SYS_stat, "data", P);
	CASE("lstat", "path", IN, STR, 0, VAL, SYS_lstat, P, &st);
	CASE("lstat", "buf", OUT, sizeof(st), 0, VAL, SYS_lstat, "link", P);
	CASE("newfstatat", "path", IN, STR, 0, VAL, SYS_newfstatat, AT_FDCWD,
	     P, &st, 0);
	CASE("newfstatat", "buf", OUT, sizeof(st), 0, VAL, SYS_newfstatat,
	     AT_FDCWD, "data", P, 0);
	CASE("statx", "path", IN, STR, 0, VAL, SYS_statx, AT_FDCWD, P, 0,
	     STATX_BASIC_STATS, &stx);
	CASE("statx", "buf", OUT, sizeof(stx), 0, VAL, SYS_statx, AT_FDCWD,
	     "data", 0, STATX_BASIC_STATS, P);
	CASE("access", "path", IN, STR, 0, VAL, SYS_access, P, R_OK);
	CASE("faccessat", "path", IN, STR, 0, VAL, SYS_faccessat, AT_FDCWD, P,
	     R_OK);
	CASE("faccessat2", "path", IN, STR, 0, VAL, SYS_faccessat2, AT_FDCWD,
	     P, R_OK, 0);
	CASE("readlink", "path", IN, STR, 0, VAL, SYS_readlink, P, good, 64);
	/* the link's 4 bytes straddle the end of the half page */
	CASE("readlink", "buf", OUT, 4, 0, VAL, SYS_readlink, "link", P, 64);
	CASE("readlinkat", "path", IN, STR, 0, VAL, SYS_readlinkat, AT_FDCWD,
	     P, good, 64);
	CASE("readlinkat", "buf", OUT, 4, 0, VAL, SYS_readlinkat, AT_FDCWD,
	     "link", P, 64);
	CASE("mkdir", "path", IN, STR, 0, VAL, SYS_mkdir, P, 0755);
	CASE("mkdirat", "path", IN, STR, 0, VAL, SYS_mkdirat, AT_FDCWD, P,
	     0755);
	CASE("unlink", "path", IN, STR, 0, VAL, SYS_unlink, P);
	CASE("unlinkat", "path", IN, STR, 0, VAL, SYS_unlinkat, AT_FDCWD, P,
	     0);
	CASE("rmdir", "path", IN, STR, 0, VAL, SYS_rmdir, P);
	CASE("rename", "old", IN, STR, 0, VAL, SYS_rename, P, "new");
	CASE("rename", "new", IN, STR, 0, VAL, SYS_rename, "victim", P);
	CASE("renameat", "old", IN, STR, 0, VAL, SYS_renameat, AT_FDCWD, P,
	     AT_FDCWD, "new");
	CASE("renameat", "new", IN, STR, 0, VAL, SYS_renameat, AT_FDCWD,
	     "victim", AT_FDCWD, P);
	CASE("renameat2", "old", IN, STR, 0, VAL, SYS_renameat2, AT_FDCWD, P,
	     AT_FDCWD, "new", 0);
	CASE("renameat2", "new", IN, STR, 0, VAL, SYS_renameat2, AT_FDCWD,
	     "victim", AT_FDCWD, P, 0);
	CASE("chdir", "path", IN, STR, 0, VAL, SYS_chdir, P);
	/* the cwd differs (native scratch path, "/" under cvmm): "half"
	 * leaves one byte mapped, less than either needs */
	CASE("getcwd", "buf", OUT | ZL, 2, PAGE, OK, SYS_getcwd, P, N);
}

/* ---- descriptors, poll, ioctl, fcntl ---- */

static void sweep_fds(void)
{
	struct pollfd pf[2] = { { fd_data, POLLIN, 0 }, { fd_out, POLLOUT, 0 } };
	int p[2];

	CASE("pipe", "fds", OUT, 8, 0, VAL, SYS_pipe, P);
	CASE("pipe2", "fds", OUT, 8, 0, VAL, SYS_pipe2, P, O_CLOEXEC);
	memcpy(half_page + PAGE - 8, pf, 8); /* "half": the first one mapped */
	CASE("poll", "fds", OUT | ZL, 16, 2, VAL, SYS_poll, P, N, 0);
	CASE("ppoll", "fds", OUT | ZL, 16, 2, VAL, SYS_ppoll, P, N, &ts0,
	     NULL, 8);
	/* NULL: no timeout, but the file is ready; read-only: zeros, the
	 * time left is not written back (not an error) */
	CASE("ppoll", "tsp", OUT, sizeof(ts0), 0, VAL, SYS_ppoll, pf, 1, P,
	     NULL, 8);
	CASE("ppoll", "sigmask", IN, 8, 0, VAL, SYS_ppoll, pf, 1, &ts0, P, 8);

	if (pipe(p) != 0)
		die("pipe");
	CASE("ioctl", "FIONREAD", OUT, 4, 0, VAL, SYS_ioctl, p[0], FIONREAD,
	     P);
	CASE("ioctl", "FIONBIO", IN, 4, 0, VAL, SYS_ioctl, p[0], FIONBIO, P);
	CASE("ioctl", "TIOCGWINSZ", OUT, 8, 0, VAL, SYS_ioctl, fd_data,
	     TIOCGWINSZ, P);
	CASE("ioctl", "FIONREAD-file", OUT, 4, 0, VAL, SYS_ioctl, fd_data,
	     FIONREAD, P);
	close(p[0]);
	close(p[1]);
	CASE("fcntl", "F_GETLK", OUT, sizeof(struct flock), 0, VAL, SYS_fcntl,
	     fd_out, F_GETLK, P);
	CASE("fcntl", "F_SETLK", IN, sizeof(struct flock), 0, VAL, SYS_fcntl,
	     fd_out, F_SETLK, P);
	CASE("fcntl", "F_OFD_GETLK", OUT, sizeof(struct flock), 0, VAL,
	     SYS_fcntl, fd_out, F_OFD_GETLK, P);
	CASE("fcntl", "F_GETOWN_EX", OUT, 8, 0, VAL, SYS_fcntl, fd_out,
	     F_GETOWN_EX, P);
}

/* ---- time, information, limits ---- */

static void sweep_info(void)
{
	struct timespec tiny = { 0, 1 };

	CASE("clock_gettime", "tp", OUT, sizeof(ts0), 0, VAL,
	     SYS_clock_gettime, CLOCK_MONOTONIC, P);
	CASE("clock_getres", "res", OUT, sizeof(ts0), 0, VAL, SYS_clock_getres,
	     CLOCK_MONOTONIC, P);
	CASE("gettimeofday", "tv", OUT, sizeof(struct timeval), 0, VAL,
	     SYS_gettimeofday, P, NULL);
	CASE("gettimeofday", "tz", OUT, sizeof(struct timezone), 0, VAL,
	     SYS_gettimeofday, NULL, P);
	CASE("time", "tloc", OUT, 8, 0, OK, SYS_time, P);
	CASE("nanosleep", "req", IN, sizeof(ts0), 0, VAL, SYS_nanosleep, P,
	     NULL);
	CASE("nanosleep", "rem", OUT, sizeof(ts0), 0, VAL, SYS_nanosleep,
	     &tiny, P);
	CASE("clock_nanosleep", "req", IN, sizeof(ts0), 0, VAL,
	     SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, P, NULL);
	CASE("clock_nanosleep", "rem", OUT, sizeof(ts0), 0, VAL,
	     SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &tiny, P);
	CASE("times", "buf", OUT, sizeof(struct tms), 0, OK, SYS_times, P);
	CASE("getrusage", "usage", OUT, sizeof(struct rusage), 0, VAL,
	     SYS_getrusage, RUSAGE_SELF, P);
	CASE("getrandom", "buf", OUT | ZL, 64, 64, VAL, SYS_getrandom, P, N,
	     0);
	CASE("uname", "buf", OUT, sizeof(struct utsname), 0, VAL, SYS_uname,
	     P);
	CASE("sysinfo", "info", OUT, sizeof(struct sysinfo), 0, VAL,
	     SYS_sysinfo, P);
	CASE("getrlimit", "rlim", OUT, 16, 0, VAL, SYS_getrlimit, RLIMIT_CORE,
	     P);
	CASE("setrlimit", "rlim", IN, 16, 0, VAL, SYS_setrlimit, RLIMIT_CORE,
	     P);
	CASE("prlimit64", "new", IN, 16, 0, VAL, SYS_prlimit64, 0, RLIMIT_CORE,
	     P, NULL);
	CASE("prlimit64", "old", OUT, 16, 0, VAL, SYS_prlimit64, 0,
	     RLIMIT_CORE, NULL, P);
	/* the size of the mask differs (host cpus, vCPUs): not printed */
	CASE("sched_getaffinity", "mask", OUT | ZL, 8, 128, OK,
	     SYS_sched_getaffinity, 0, N, P);
	CASE("sched_setaffinity", "mask", IN | ZL, 8, 8, VAL,
	     SYS_sched_setaffinity, 0, N, P);
	CASE("sched_getparam", "param", OUT, 4, 0, VAL, SYS_sched_getparam, 0,
	     P);
	CASE("sched_setscheduler", "param", IN, 4, 0, VAL,
	     SYS_sched_setscheduler, 0, SCHED_OTHER, P);
	CASE("getcpu", "cpu", OUT, 4, 0, VAL, SYS_getcpu, P, NULL, NULL);
	CASE("getcpu", "node", OUT, 4, 0, VAL, SYS_getcpu, NULL, P, NULL);
	CASE("wait4", "status", OUT, 4, 0, VAL, SYS_wait4, -1, P, WNOHANG,
	     NULL);
	CASE("wait4", "rusage", OUT, sizeof(struct rusage), 0, VAL, SYS_wait4,
	     -1, NULL, WNOHANG, P);
}

/* ---- threads, signals, futexes ---- */

static uint32_t fword; /* 0 */

static void sweep_sync(void)
{
	CASE("futex", "WAKE_PRIVATE.uaddr", IN, 4, 0, VAL, SYS_futex, P,
	     FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	CASE("futex", "WAKE.uaddr", IN, 4, 0, VAL, SYS_futex, P, FUTEX_WAKE, 1,
	     NULL, NULL, 0);
	CASE("futex", "WAIT_PRIVATE.uaddr", IN, 4, 0, VAL, SYS_futex, P,
	     FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	/* the word is 0, the expected value 1: EAGAIN once the timeout is
	 * read */
	CASE("futex", "WAIT_PRIVATE.timeout", IN, sizeof(ts0), 0, VAL,
	     SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 1, P, NULL, 0);
	CASE("futex", "WAIT_BITSET.timeout", IN, sizeof(ts0), 0, VAL,
	     SYS_futex, &fword, FUTEX_WAIT_BITSET_PRIVATE, 1, P, NULL,
	     FUTEX_BITSET_MATCH_ANY);
	CASE("futex", "REQUEUE_PRIVATE.uaddr2", IN, 4, 0, VAL, SYS_futex,
	     &fword, FUTEX_REQUEUE_PRIVATE, 0, 0, P, 0);
	CASE("futex", "CMP_REQUEUE_PRIVATE.uaddr", IN, 4, 0, VAL, SYS_futex,
	     P, FUTEX_CMP_REQUEUE_PRIVATE, 0, 0, &fword, 0);
	CASE("futex", "CMP_REQUEUE_PRIVATE.uaddr2", IN, 4, 0, VAL, SYS_futex,
	     &fword, FUTEX_CMP_REQUEUE_PRIVATE, 0, 0, P, 0);

	CASE("rt_sigaction", "act", IN, 32, 0, VAL, SYS_rt_sigaction, SIGUSR1,
	     P, NULL, 8);
	CASE("rt_sigaction", "oldact", OUT, 32, 0, VAL, SYS_rt_sigaction,
	     SIGUSR1, NULL, P, 8);
	CASE("rt_sigprocmask", "set", IN, 8, 0, VAL, SYS_rt_sigprocmask,
	     SIG_BLOCK, P, NULL, 8);
	CASE("rt_sigprocmask", "oldset", OUT, 8, 0, VAL, SYS_rt_sigprocmask,
	     SIG_BLOCK, NULL, P, 8);
	CASE("sigaltstack", "ss", IN, sizeof(stack_t), 0, VAL, SYS_sigaltstack,
	     P, NULL);
	CASE("sigaltstack", "old_ss", OUT, sizeof(stack_t), 0, VAL,
	     SYS_sigaltstack, NULL, P);
	CASE("rt_sigpending", "set", OUT, 8, 0, VAL, SYS_rt_sigpending, P, 8);

	CASE("arch_prctl", "ARCH_GET_FS", OUT, 8, 0, VAL, SYS_arch_prctl,
	     ARCH_GET_FS, P);
	CASE("arch_prctl", "ARCH_GET_GS", OUT, 8, 0, VAL, SYS_arch_prctl,
	     ARCH_GET_GS, P);
	CASE("prctl", "PR_SET_NAME", IN, STR, 0, VAL, SYS_prctl, PR_SET_NAME,
	     P, 0, 0, 0);
	CASE("prctl", "PR_GET_NAME", OUT, 16, 0, VAL, SYS_prctl, PR_GET_NAME,
	     P, 0, 0, 0);
	CASE("get_robust_list", "head_ptr", OUT, 8, 0, VAL,
	     SYS_get_robust_list, 0, P, good);
	CASE("get_robust_list", "len_ptr", OUT, 8, 0, VAL, SYS_get_robust_list,
	     0, good, P);
	/* clone3 reads all of its size (88 bytes) */
	CASE("clone3", "args", IN, 88, 0, VAL, SYS_clone3, P, 88);
}

/* Threads that leave a bad pointer behind for their exit: the kernel's
 * clear of the tid word and its robust-list walk fail silently; cvmm must
 * neither crash nor write anywhere. */
static int sync_pipe[2];
static uint64_t thr_ptr;
static long thr_r[2];
static int thr_e[2];

static void *tid_thread(void *arg)
{
	char c = 1;

	(void)arg;
	errno = 0;
	thr_r[0] = syscall(SYS_set_tid_address, thr_ptr);
	thr_e[0] = errno;
	errno = 0;
	thr_r[1] = syscall(SYS_set_robust_list, thr_ptr, 24);
	thr_e[1] = errno;
	if (write(sync_pipe[1], &c, 1) != 1)
		die("sync");
	return NULL; /* exits with the bad tid and robust pointers */
}

/* A raw clone child: says it ran, then exits (clearing its tid word). */
static int clone_child(void *arg)
{
	char c = 1;

	(void)arg;
	syscall(SYS_write, sync_pipe[1], &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

static void wait_sync(void)
{
	char c;
	struct timespec t = { 0, 20 * 1000 * 1000 };

	if (read(sync_pipe[0], &c, 1) != 1)
		die("sync");
	nanosleep(&t, NULL); /* let the thread finish exiting */
}

static void sweep_threads(void)
{
	const int tflags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			   CLONE_THREAD | CLONE_SYSVSEM;
	pthread_attr_t attr;
	pthread_t th;

	if (pipe(sync_pipe) != 0)
		die("pipe");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	FOR_KINDS(OUT, 4, 0)
	{
		thr_ptr = P;
		if (pthread_create(&th, &attr, tid_thread, NULL) != 0)
			die("pthread_create");
		wait_sync();
		R = thr_r[0], E = thr_e[0];
		report("set_tid_address", "tidptr", k_, OK);
		R = thr_r[1], E = thr_e[1];
		report("set_robust_list", "head", k_, VAL);
	}
	/* FS bases no user thread may have (EPERM): a child with one must
	 * not start, nor the agent trip over loading it */
	static const uint64_t bad_fs[] = { KERNEL_PTR, 0x7ffffffff000UL,
					   0x8000000000000000UL };
	static const char *const bad_fs_name[] = { "kernel", "task_size",
						   "noncanonical" };
	for (int i = 0; i < 3; i++) {
		char *stack = malloc(65536);

		errno = 0;
		R = clone(clone_child, stack + 65536, tflags | CLONE_SETTLS,
			  NULL, NULL, (void *)bad_fs[i], NULL);
		E = errno;
		if (R > 0)
			wait_sync();
		report_as("clone", "tls", bad_fs_name[i], OK);
		errno = 0;
		R = syscall(SYS_arch_prctl, ARCH_SET_FS, bad_fs[i]);
		E = errno;
		report_as("arch_prctl", "ARCH_SET_FS", bad_fs_name[i], VAL);
	}
	for (int c = 0; c < 2; c++) {
		FOR_KINDS(OUT, 4, 0)
		{
			char *stack = malloc(65536);
			int fl = tflags | (c == 0 ? CLONE_PARENT_SETTID
						  : CLONE_CHILD_SETTID |
							    CLONE_CHILD_CLEARTID);

			errno = 0;
			R = clone(clone_child, stack + 65536, fl, NULL,
				  (pid_t *)P, NULL, (pid_t *)P);
			E = errno;
			if (R > 0)
				wait_sync();
			report("clone", c == 0 ? "parent_tid" : "child_tid",
			       k_, OK);
			/* the stack is not freed: the child may still be on
			 * it */
		}
	}
}

/* ---- memory calls: address arguments ---- */

static void sweep_mm(void)
{
	CASE("munmap", "addr", ADDR, 0, 0, VAL, SYS_munmap, P, PAGE);
	CASE("mprotect", "addr", ADDR, 0, 0, VAL, SYS_mprotect, P, PAGE,
	     PROT_READ);
	CASE("madvise", "addr", ADDR, 0, 0, VAL, SYS_madvise, P, PAGE,
	     MADV_DONTNEED);
	CASE("msync", "addr", ADDR, 0, 0, VAL, SYS_msync, P, PAGE, MS_ASYNC);
	CASE("mremap", "addr", ADDR, 0, 0, VAL, SYS_mremap, P, PAGE, PAGE, 0,
	     0);
	/* a hint only: placed elsewhere when taken (the unmapped page may be
	 * handed out: unmapped again at once) */
	FOR_KINDS(ADDR, 0, 0)
	{
		CALL(SYS_mmap, P, PAGE, PROT_READ,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		report("mmap", "hint", k_, OK);
		if (R != -1)
			munmap((void *)R, PAGE);
	}
}

static void *sweep(void *arg)
{
	(void)arg;
	sweep_rw();
	sweep_paths();
	sweep_fds();
	sweep_info();
	sweep_sync();
	sweep_threads();
	sweep_mm();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_pages();
	memset(good, 'g', sizeof(good));
	setup_files();
	if (argc > 1)
		read_leak(argv[1]);
	if (pthread_create(&th, NULL, sweep, NULL) != 0 ||
	    pthread_join(th, NULL) != 0)
		die("sweep thread");
	printf("done\n");
	return 0;
}
