/* Guest memory layout calls: all decided by gmem (see gmem.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "common/log.h"
#include "core/gmem.h"
#include "core/sys/sys.h"
#include "iosrv/iosrv.h"

/* brk(addr) */
long sys_brk(vthread_t *vt, const uint64_t a[6])
{
	return gmem_brk(&cvmm_gmem, a[0]);
}

/* Fills [at, at + len) with the file from off, in as many reads as it
 * takes (one read stops at 2 GiB - 4 KiB); stops at end of file (the rest
 * stays zero). The pages are made this node's first (gmem_ptr: on several
 * nodes a fresh page may start at another node, or a reused address
 * belong to one), a chunk at a time. 0 or -errno. */
#define FILL_CHUNK ((size_t)1 << 20)
static long mmap_fill(int fd, uint64_t at, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done < FILL_CHUNK ? len - done : FILL_CHUNK;
		void *dst = gmem_ptr(&cvmm_gmem, at + done, want, PROT_WRITE);
		long n;

		if (!dst)
			return -EFAULT;
		n = iosrv_pread(&cvmm_iosrv, fd, dst, want,
				(int64_t)(off + done));

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return 0;
}

/* A file mapping is a private copy: anonymous memory filled by reading the
 * file through the I/O server (bytes past EOF stay zero). A shared one is
 * kept read-only for good (GMEM_VMA_FILE_RO): its writes could never
 * reach the file. Errors as Linux's: EBADF, EACCES for a file not open for
 * reading (or not for writing, shared and writable), ENODEV for what
 * cannot be mapped (directories, pipes), and ENODEV with a log line for a
 * writable shared mapping, which cvmm does not support. */
static long mmap_file(uint64_t addr, size_t len, int prot, int flags, int fd,
		      uint64_t off)
{
	long fl = iosrv_fcntl(&cvmm_iosrv, fd, F_GETFL, 0);
	bool shared = (flags & MAP_TYPE) != MAP_PRIVATE;
	long at, n;

	prot &= PROT_READ | PROT_WRITE | PROT_EXEC; /* mmap ignores the rest */
	if (fl < 0)
		return fl;
	if ((fl & O_ACCMODE) == O_WRONLY ||
	    (shared && (prot & PROT_WRITE) && (fl & O_ACCMODE) != O_RDWR))
		return -EACCES;
	if (shared && (prot & PROT_WRITE)) {
		log_warn("a writable shared file mapping is not supported "
			 "(cvmm maps files as copies; use MAP_PRIVATE, or "
			 "write(2)): ENODEV");
		return -ENODEV;
	}
	at = gmem_mmap(&cvmm_gmem, addr, len, PROT_READ | PROT_WRITE,
		       (flags & ~MAP_TYPE) | MAP_PRIVATE |
			       (shared ? GMEM_MAP_FILE_RO : 0));
	if (at < 0)
		return at;
	n = mmap_fill(fd, (uint64_t)at, len, off);
	if (n < 0) {
		gmem_munmap(&cvmm_gmem, (uint64_t)at, len);
		return n == -ESPIPE || n == -EISDIR ? -ENODEV : n;
	}
	if (prot != (PROT_READ | PROT_WRITE))
		gmem_mprotect(&cvmm_gmem, (uint64_t)at, len, prot);
	return at;
}

/* mmap(addr, len, prot, flags, fd, off) */
long sys_mmap(vthread_t *vt, const uint64_t a[6])
{
	int flags = (int)a[3];

	/* Linux checks the offset first, for anonymous mappings too */
	if (a[5] & (CVMM_PAGE_SIZE - 1))
		return -EINVAL;
	if (flags & MAP_ANONYMOUS)
		return gmem_mmap(&cvmm_gmem, a[0], a[1], (int)a[2], flags);
	return mmap_file(a[0], a[1], (int)a[2], flags, (int)a[4], a[5]);
}

/* munmap(addr, len) */
long sys_munmap(vthread_t *vt, const uint64_t a[6])
{
	return gmem_munmap(&cvmm_gmem, a[0], a[1]);
}

/* mprotect(addr, len, prot) */
long sys_mprotect(vthread_t *vt, const uint64_t a[6])
{
	return gmem_mprotect(&cvmm_gmem, a[0], a[1], (int)a[2]);
}

/* msync(addr, len, flags) */
long sys_msync(vthread_t *vt, const uint64_t a[6])
{
	return gmem_msync(&cvmm_gmem, a[0], a[1], (int)a[2]);
}

/* madvise(addr, len, advice) */
long sys_madvise(vthread_t *vt, const uint64_t a[6])
{
	return gmem_madvise(&cvmm_gmem, a[0], a[1], (int)a[2]);
}

/* mremap(old, oldlen, newlen, flags, newaddr) */
long sys_mremap(vthread_t *vt, const uint64_t a[6])
{
	return gmem_mremap(&cvmm_gmem, a[0], a[1], a[2], (int)a[3], a[4]);
}
