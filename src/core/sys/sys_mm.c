/* Guest memory layout calls: all decided by gmem (see gmem.h). */
#include <errno.h>
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

/* A file mapping is a private copy: anonymous memory filled by reading the
 * file through the I/O server (bytes past EOF stay zero). */
static long mmap_file(uint64_t addr, size_t len, int prot, int flags, int fd,
		      uint64_t off)
{
	long at, n;

	prot &= PROT_READ | PROT_WRITE | PROT_EXEC; /* mmap ignores the rest */
	if ((flags & MAP_TYPE) != MAP_PRIVATE && (prot & PROT_WRITE)) {
		log_warn("writable shared file mapping: not supported");
		return -ENODEV;
	}
	at = gmem_mmap(&cvmm_gmem, addr, len, PROT_READ | PROT_WRITE,
		       (flags & ~MAP_TYPE) | MAP_PRIVATE);
	if (at < 0)
		return at;
	n = iosrv_pread(&cvmm_iosrv, fd, gmem_agent((uint64_t)at), len,
			(int64_t)off);
	if (n < 0) {
		gmem_munmap(&cvmm_gmem, (uint64_t)at, len);
		return n == -ESPIPE ? -ENODEV : n;
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
