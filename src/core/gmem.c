/* Guest memory: the VMA list of the guest address space and its effect on the
 * two host views of the memfd (see gmem.h).
 *
 * Invariant: a guest page that is in no VMA has no content in the memfd
 * (every unmap punches a hole), so a new anonymous mapping reads as zeros
 * without touching it. */
#include "core/gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/log.h"

gmem_t cvmm_gmem;

#define PROT_MASK    (PROT_READ | PROT_WRITE | PROT_EXEC)
#ifndef PROT_SEM
#define PROT_SEM     0x8 /* Linux accepts it in mprotect; nothing on x86 */
#endif

/* ---- change log (multi-node) --------------------------------------------- */

static void log_change(gmem_t *gm, uint32_t op, uint64_t start, uint64_t end,
		       int prot, int flags)
{
	if (!gm->publish)
		return;
	if (gm->nlog == gm->logcap) {
		unsigned cap = gm->logcap ? 2 * gm->logcap : 16;
		gmem_change_t *l = realloc(gm->log, cap * sizeof(*l));

		if (!l)
			die("out of memory logging a guest layout change");
		gm->log = l;
		gm->logcap = cap;
	}
	gm->log[gm->nlog++] = (gmem_change_t){ .op = op, .prot = prot,
					       .flags = flags, .start = start,
					       .end = end };
}

/* Releases the write lock after publishing what changed under it. */
static void unlock_publish(gmem_t *gm)
{
	if (gm->nlog > 0 && gm->publish &&
	    gm->publish(gm->log, gm->nlog) != CVMM_OK)
		die("guest layout change could not reach every node");
	gm->nlog = 0;
	if (gm->coherent) /* every node has applied it */
		coh_rt_layout_done();
	pthread_rwlock_unlock(&gm->lock);
}

/* ---- host views ---------------------------------------------------------- */

static void view_protect(gmem_t *gm, uint64_t start, uint64_t end, int prot)
{
	if (!gm->views)
		return;
	if (mprotect((void *)(uintptr_t)start, end - start, prot) != 0)
		log_error("mprotect guest 0x%lx-0x%lx: %m", start, end);
}

/* Drops the content of [start, end): later reads see zeros. */
static void view_zero(gmem_t *gm, uint64_t start, uint64_t end)
{
	if (!gm->views || end <= start)
		return;
	if (gm->coherent) /* read-aheads in flight land as zeros */
		coh_rt_layout_drop(start, end, true);
	if (fallocate(gm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)start, (off_t)(end - start)) != 0)
		log_error("punch guest 0x%lx-0x%lx: %m", start, end);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22 /* Linux 5.14 */
#define MADV_POPULATE_WRITE 23
#endif

/* Whether populating pays on this host (--populate auto), measured once,
 * at the first mapping of GMEM_PROBE_FROM or more: GMEM_PROBE_PAGES fresh
 * pages of a scratch memory file touched one by one (a write fault each,
 * as the guest's first touches would take), then as many made present by
 * one MADV_POPULATE_WRITE. A populate runs in the mapping thread alone,
 * while the guest's threads take their faults in parallel, so it pays
 * only when a fault costs much more than the page itself: twice a
 * populated page's cost. On the 2-core VM where populating was first
 * measured a fault cost ~10 us and a populated page ~1 (fft 17% faster
 * populated); on the one of 2026-12-07 ~3 us both ways, and populating
 * made fft, radix and ocean 3-5% slower on one node (docs/performance.md,
 * "Populate where it pays"). A failed probe keeps populating. */
#define GMEM_PROBE_FROM (1UL << 20)
#define GMEM_PROBE_PAGES 32

static bool populate_pays(gmem_t *gm)
{
	size_t half = GMEM_PROBE_PAGES * CVMM_PAGE_SIZE;
	uint64_t t0, t1, t2;
	int fd;
	char *p;

	if (gm->populate_pays >= 0)
		return gm->populate_pays;
	gm->populate_pays = 1;
	fd = memfd_create("cvmm-probe", MFD_CLOEXEC);
	if (fd < 0)
		return true;
	p = ftruncate(fd, (off_t)(2 * half)) == 0
		    ? mmap(NULL, 2 * half, PROT_READ | PROT_WRITE, MAP_SHARED,
			   fd, 0)
		    : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED)
		return true;
	t0 = cvmm_now_ns();
	for (size_t off = 0; off < half; off += CVMM_PAGE_SIZE)
		*(volatile char *)(p + off) = 1;
	t1 = cvmm_now_ns();
	if (madvise(p + half, half, MADV_POPULATE_WRITE) == 0) {
		t2 = cvmm_now_ns();
		gm->populate_pays = t1 - t0 > 2 * (t2 - t1);
		log_debug("populate auto: a first-touch fault %.2f us, a "
			  "populated page %.2f us: %s",
			  (double)(t1 - t0) / GMEM_PROBE_PAGES / 1e3,
			  (double)(t2 - t1) / GMEM_PROBE_PAGES / 1e3,
			  gm->populate_pays ? "populating" : "faulting");
	}
	munmap(p, 2 * half);
	return gm->populate_pays;
}

/* Whether this node populates at all: one node, with views, the cap not
 * 0 (several nodes: the pages are the coherence protocol's). */
static bool populate_on(const gmem_t *gm)
{
	return gm->views && !gm->coherent && gm->populate_max;
}

/* Fresh anonymous guest memory on one node: the guest view's pages are
 * made present in one call instead of one fault each. Where a first-touch
 * fault costs ~10 us (a VM whose traps are slow; anonymous or memfd alike:
 * the trap is the cost) and MADV_POPULATE_WRITE ~1 us per page
 * (docs/performance.md, "First touch"), that is much cheaper; with
 * --populate auto only there (populate_pays). A program touches what it
 * maps, and the cap bounds what one that does not pays in time and
 * memory. Not for thread stacks (MAP_STACK: 8 MiB each, mostly untouched)
 * nor MAP_NORESERVE. */
static void view_populate(gmem_t *gm, uint64_t start, uint64_t end)
{
	if (!populate_on(gm))
		return; /* nothing to populate: no probe either */
	if (end - start > gm->populate_max)
		end = start + gm->populate_max;
	if (gm->populate_auto && end - start >= GMEM_PROBE_FROM &&
	    !populate_pays(gm))
		return;
	gmem_populate(gm, start, end, true);
}

void gmem_populate(gmem_t *gm, uint64_t start, uint64_t end, bool write)
{
	if (!populate_on(gm) || end <= start)
		return;
	(void)madvise((void *)(uintptr_t)start, end - start,
		      write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

static cvmm_status_t view_reserve(uint64_t addr, int fd, int prot)
{
	void *p = mmap((void *)(uintptr_t)addr, GMEM_HI - GMEM_LO, prot,
		       MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_NORESERVE, fd,
		       (off_t)GMEM_LO);

	if (p == MAP_FAILED) {
		log_error("cannot reserve guest window at 0x%lx: %m", addr);
		return CVMM_ERR_IO;
	}
	if (p != (void *)(uintptr_t)addr) {
		log_error("guest window at 0x%lx is taken", addr);
		munmap(p, GMEM_HI - GMEM_LO);
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

static size_t mapped_locked(const gmem_t *gm, uint64_t gaddr, size_t len,
			    int prot);

/* cvmm_gmem's layout, for the coherence runtime's read-ahead. */
/* Called in a fault handler: it never waits for the lock (a layout
 * change in progress, perhaps on this very thread): then nothing is
 * readable and the fault reads no page ahead. */
static size_t layout_readable(uint64_t addr, size_t len)
{
	size_t n;

	if (pthread_rwlock_tryrdlock(&cvmm_gmem.lock) != 0)
		return 0;
	n = mapped_locked(&cvmm_gmem, addr, len, PROT_READ);
	pthread_rwlock_unlock(&cvmm_gmem.lock);
	return n;
}

static const coh_layout_t layout = {
	.readable = layout_readable,
};

cvmm_status_t gmem_init(gmem_t *gm, bool views)
{
	if (gm == &cvmm_gmem)
		coh_rt_set_layout(&layout);
	pthread_rwlockattr_t la;

	memset(gm, 0, sizeof(*gm));
	gm->memfd = -1;
	gm->views = views;
	/* readers first: a gmem_hold holder may take it again while a
	 * layout change waits */
	pthread_rwlockattr_init(&la);
	pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_READER_NP);
	pthread_rwlock_init(&gm->lock, &la);
	pthread_rwlockattr_destroy(&la);
	gm->vmas = calloc(GMEM_MAX_VMAS, sizeof(gmem_vma_t));
	if (!gm->vmas)
		return CVMM_ERR_NOMEM;
	gm->mmap_lo = GMEM_LO;
	gm->mmap_hi = GMEM_MMAP_TOP;
	gm->populate_max = GMEM_POPULATE_MAX;
	gm->populate_pays = -1;
	gm->tls_keep = GMEM_TLS_KEEP_MIN;
	if (!views)
		return CVMM_OK;

	gm->memfd = memfd_create("cvmm-guest", MFD_CLOEXEC);
	if (gm->memfd < 0) {
		log_error("memfd_create: %m");
		goto err_free;
	}
	if (ftruncate(gm->memfd, (off_t)GMEM_HI) != 0) {
		log_error("sizing guest memory: %m");
		goto err_close;
	}
	if (view_reserve(GMEM_LO, gm->memfd, PROT_NONE) != CVMM_OK)
		goto err_close;
	if (view_reserve(GMEM_LO + GMEM_DELTA, gm->memfd,
			 PROT_READ | PROT_WRITE) != CVMM_OK)
		goto err_unmap_guest;
	return CVMM_OK;

err_unmap_guest:
	munmap((void *)GMEM_LO, GMEM_HI - GMEM_LO);
err_close:
	close(gm->memfd);
err_free:
	free(gm->vmas);
	gm->vmas = NULL;
	return CVMM_ERR_IO;
}

void gmem_fini(gmem_t *gm)
{
	if (gm->views) {
		munmap((void *)GMEM_LO, GMEM_HI - GMEM_LO);
		munmap((void *)(GMEM_LO + GMEM_DELTA), GMEM_HI - GMEM_LO);
		close(gm->memfd);
	}
	free(gm->vmas);
	gm->vmas = NULL;
	free(gm->log);
	gm->log = NULL;
	pthread_rwlock_destroy(&gm->lock);
}

/* ---- the VMA list (caller holds the lock) -------------------------------- */

/* Index of the first VMA whose end is above addr (nvmas if none). */
static unsigned vma_search(const gmem_t *gm, uint64_t addr)
{
	unsigned lo = 0, hi = gm->nvmas;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (gm->vmas[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool vma_insert_at(gmem_t *gm, unsigned i, const gmem_vma_t *v)
{
	if (gm->nvmas >= GMEM_MAX_VMAS)
		return false;
	memmove(&gm->vmas[i + 1], &gm->vmas[i],
		(gm->nvmas - i) * sizeof(gmem_vma_t));
	gm->vmas[i] = *v;
	gm->nvmas++;
	return true;
}

static void vma_remove_at(gmem_t *gm, unsigned i)
{
	memmove(&gm->vmas[i], &gm->vmas[i + 1],
		(gm->nvmas - i - 1) * sizeof(gmem_vma_t));
	gm->nvmas--;
}

static bool vma_same(const gmem_vma_t *a, const gmem_vma_t *b)
{
	return a->end == b->start && a->prot == b->prot &&
	       a->flags == b->flags;
}

/* Merges VMA i with its neighbours when they are adjacent and equal. */
static void vma_merge(gmem_t *gm, unsigned i)
{
	if (i + 1 < gm->nvmas && vma_same(&gm->vmas[i], &gm->vmas[i + 1])) {
		gm->vmas[i].end = gm->vmas[i + 1].end;
		vma_remove_at(gm, i + 1);
	}
	if (i > 0 && vma_same(&gm->vmas[i - 1], &gm->vmas[i])) {
		gm->vmas[i - 1].end = gm->vmas[i].end;
		vma_remove_at(gm, i);
	}
}

/* Removes [start, end) from the list, splitting VMAs at the edges. Returns
 * false only when a split needs a slot and the list is full. */
static bool vma_cut(gmem_t *gm, uint64_t start, uint64_t end)
{
	unsigned i = vma_search(gm, start);

	while (i < gm->nvmas && gm->vmas[i].start < end) {
		gmem_vma_t *v = &gm->vmas[i];

		if (v->start < start && v->end > end) {
			gmem_vma_t tail = *v;

			tail.start = end;
			if (!vma_insert_at(gm, i + 1, &tail))
				return false;
			gm->vmas[i].end = start;
			return true;
		}
		if (v->start < start) {
			v->end = start;
			i++;
		} else if (v->end > end) {
			v->start = end;
			return true;
		} else {
			vma_remove_at(gm, i);
		}
	}
	return true;
}

static bool range_free(const gmem_t *gm, uint64_t start, uint64_t end)
{
	unsigned i = vma_search(gm, start);

	return i == gm->nvmas || gm->vmas[i].start >= end;
}

static bool range_mapped(const gmem_t *gm, uint64_t start, uint64_t end)
{
	unsigned i = vma_search(gm, start);
	uint64_t at = start;

	for (; i < gm->nvmas && at < end; i++) {
		if (gm->vmas[i].start > at)
			return false;
		at = gm->vmas[i].end;
	}
	return at >= end;
}

/* Makes [start, end) one VMA with prot and flags, replacing what was there.
 * Returns 0 or -ENOMEM when the VMA list is full. */
static long range_set(gmem_t *gm, uint64_t start, uint64_t end, int prot,
		      int flags)
{
	gmem_vma_t v = { .start = start, .end = end, .prot = prot,
			 .flags = flags };
	unsigned i;

	if (!vma_cut(gm, start, end))
		return -ENOMEM;
	i = vma_search(gm, start);
	if (!vma_insert_at(gm, i, &v))
		return -ENOMEM;
	vma_merge(gm, i);
	view_protect(gm, start, end, prot);
	log_change(gm, GMEM_CH_SET, start, end, prot, flags);
	return 0;
}

/* [start, end) holds a thread's descriptor and TLS: every node keeps it
 * sequentially consistent (gmem_set_tls) until it is unmapped. */
static void range_tls(gmem_t *gm, uint64_t start, uint64_t end)
{
	coh_rt_keep_sc(start, end);
	log_change(gm, GMEM_CH_TLS, start, end, 0, 0);
}

/* Unmaps [start, end): guest view inaccessible, content dropped. */
static long range_clear(gmem_t *gm, uint64_t start, uint64_t end)
{
	if (!vma_cut(gm, start, end))
		return -ENOMEM;
	coh_rt_keep_sc_drop(start, end);
	view_protect(gm, start, end, PROT_NONE);
	view_zero(gm, start, end);
	log_change(gm, GMEM_CH_CLEAR, start, end, 0, 0);
	return 0;
}

/* Unmaps what of [start, end) lies in the guest window: a valid native range
 * may reach below GMEM_LO or above GMEM_HI, where nothing is mapped. */
static long range_clear_window(gmem_t *gm, uint64_t start, uint64_t end)
{
	if (start < GMEM_LO)
		start = GMEM_LO;
	if (end > GMEM_HI)
		end = GMEM_HI;
	return start < end ? range_clear(gm, start, end) : 0;
}

/* Whether [addr, addr + len) is a user range as Linux checks one (munmap's
 * test): it neither wraps past 2^64 nor ends above GMEM_TASK_SIZE. */
static bool range_user(uint64_t addr, uint64_t len)
{
	return addr <= GMEM_TASK_SIZE && len <= GMEM_TASK_SIZE - addr;
}

/* Highest free gap of len bytes inside [lo, hi), top-down; 0 if none. */
static uint64_t gap_find(const gmem_t *gm, uint64_t len, uint64_t lo,
			 uint64_t hi)
{
	unsigned i = vma_search(gm, hi);
	uint64_t top = i < gm->nvmas && gm->vmas[i].start < hi
			       ? gm->vmas[i].start
			       : hi; /* a VMA may straddle hi */

	while (true) {
		uint64_t below = i > 0 ? gm->vmas[i - 1].end : lo;

		if (below < lo)
			below = lo;
		if (top >= below && top - below >= len)
			return top - len;
		if (i == 0 || gm->vmas[i - 1].end <= lo)
			return 0;
		i--;
		top = gm->vmas[i].start;
		if (top <= lo)
			return 0;
	}
}

/* ---- pointer translation ------------------------------------------------- */

/* gmem_mapped with the layout lock held. */
static size_t mapped_locked(const gmem_t *gm, uint64_t gaddr, size_t len,
			    int prot)
{
	uint64_t end = gaddr + len;
	unsigned i;
	uint64_t at = gaddr;

	if (end < gaddr || gaddr < GMEM_LO || gaddr >= GMEM_HI)
		return 0;
	if (end > GMEM_HI)
		end = GMEM_HI;
	for (i = vma_search(gm, gaddr); i < gm->nvmas && at < end; i++) {
		const gmem_vma_t *v = &gm->vmas[i];

		if (v->start > at || (v->prot & prot) != prot || !v->prot)
			break;
		at = v->end;
	}
	return (at < end ? at : end) - gaddr;
}

size_t gmem_mapped(gmem_t *gm, uint64_t gaddr, size_t len, int prot)
{
	size_t n;

	pthread_rwlock_rdlock(&gm->lock);
	n = mapped_locked(gm, gaddr, len, prot);
	pthread_rwlock_unlock(&gm->lock);
	return n;
}

/* A range of length 0 maps nothing, but Linux still checks its address
 * (access_ok, before a transfer of 0 bytes): a pointer past the end of
 * user space is EFAULT even then (read(fd, kernelptr, 0)). Any user
 * address passes, mapped or not, as natively. */
void *gmem_ptr(gmem_t *gm, uint64_t gaddr, size_t len, int prot)
{
	if (len == 0)
		return range_user(gaddr, 0) ? gmem_agent(gaddr) : NULL;
	if (gmem_mapped(gm, gaddr, len, prot) != len)
		return NULL;
	/* Outside the lock: bringing pages in may wait for other nodes. */
	if (gm->coherent &&
	    coh_rt_acquire(gaddr, len, (prot & PROT_WRITE) != 0) != CVMM_OK)
		return NULL;
	return gmem_agent(gaddr);
}

/* The layout lock taken for reading: writers (every layout change) wait.
 * glibc's default rwlock prefers readers, so a holder may take it again
 * (gmem_mapped inside a hold) even while a writer waits. */
void gmem_hold(gmem_t *gm)
{
	pthread_rwlock_rdlock(&gm->lock);
}

void gmem_unhold(gmem_t *gm)
{
	pthread_rwlock_unlock(&gm->lock);
}

void gmem_freeze(gmem_t *gm)
{
	pthread_rwlock_wrlock(&gm->lock);
}

void gmem_thaw(gmem_t *gm)
{
	pthread_rwlock_unlock(&gm->lock);
}

gmem_change_t *gmem_snapshot_frozen(const gmem_t *gm, unsigned *n)
{
	gmem_change_t *c = gm->nvmas ? calloc(gm->nvmas, sizeof(*c)) : NULL;

	*n = c ? gm->nvmas : 0;
	for (unsigned i = 0; c && i < gm->nvmas; i++)
		c[i] = (gmem_change_t){ .op = GMEM_CH_SET,
					.prot = gm->vmas[i].prot,
					.flags = gm->vmas[i].flags,
					.start = gm->vmas[i].start,
					.end = gm->vmas[i].end };
	return c;
}

long gmem_strcpy(gmem_t *gm, uint64_t gaddr, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		uint64_t at = gaddr + n;
		size_t chunk = CVMM_PAGE_SIZE - (at & (CVMM_PAGE_SIZE - 1));
		const char *src = gmem_ptr(gm, at, chunk, PROT_READ);
		const char *nul;

		if (!src)
			return -EFAULT;
		if (chunk > cap - n)
			chunk = cap - n;
		nul = memchr(src, 0, chunk);
		if (nul) {
			memcpy(buf + n, src, (size_t)(nul - src) + 1);
			return (long)(n + (size_t)(nul - src));
		}
		memcpy(buf + n, src, chunk);
		n += chunk;
	}
	return -ENAMETOOLONG;
}

/* ---- layout changes ------------------------------------------------------ */

long gmem_map_fixed(gmem_t *gm, uint64_t addr, size_t len, int prot,
		    int vflags)
{
	uint64_t end = addr + len;
	long ret;

	if ((addr | len) & (CVMM_PAGE_SIZE - 1) || len == 0 || end < addr ||
	    addr < GMEM_LO || end > GMEM_HI)
		return -EINVAL;
	pthread_rwlock_wrlock(&gm->lock);
	ret = range_free(gm, addr, end) ? range_set(gm, addr, end, prot, vflags)
					: -EEXIST;
	unlock_publish(gm);
	return ret;
}

void gmem_set_brk(gmem_t *gm, uint64_t start)
{
	pthread_rwlock_wrlock(&gm->lock);
	gm->brk_start = CVMM_PAGE_UP(start);
	gm->brk_cur = gm->brk_start;
	gm->mmap_lo = gm->brk_start + GMEM_BRK_MAX;
	if (gm->mmap_lo >= gm->mmap_hi)
		gm->mmap_lo = gm->brk_start;
	unlock_publish(gm);
}

void gmem_set_tls(gmem_t *gm, uint64_t tls_memsz)
{
	if (tls_memsz > GMEM_TLS_KEEP_MAX)
		tls_memsz = GMEM_TLS_KEEP_MAX;
	pthread_rwlock_wrlock(&gm->lock);
	gm->tls_keep = GMEM_TLS_KEEP_MIN + CVMM_PAGE_UP(tls_memsz);
	pthread_rwlock_unlock(&gm->lock);
}

long gmem_brk(gmem_t *gm, uint64_t addr)
{
	uint64_t old_top, new_top;
	long ret;

	pthread_rwlock_wrlock(&gm->lock);
	old_top = CVMM_PAGE_UP(gm->brk_cur);
	new_top = CVMM_PAGE_UP(addr);
	/* new_top wraps to 0 near 2^64: the limit is checked on addr first */
	if (addr < gm->brk_start || addr > gm->brk_start + GMEM_BRK_MAX ||
	    new_top > GMEM_HI)
		goto out;
	if (new_top > old_top) {
		if (!range_free(gm, old_top, new_top))
			goto out;
		ret = range_set(gm, old_top, new_top, PROT_READ | PROT_WRITE,
				GMEM_VMA_BRK);
		if (ret < 0)
			goto out;
		view_populate(gm, old_top, new_top);
	} else if (new_top < old_top) {
		range_clear(gm, new_top, old_top);
	}
	gm->brk_cur = addr;
out:
	ret = (long)gm->brk_cur;
	unlock_publish(gm);
	return ret;
}

static bool mmap_flags_ok(int flags)
{
	int type = flags & MAP_TYPE;

	if (type != MAP_PRIVATE && type != MAP_SHARED &&
	    type != MAP_SHARED_VALIDATE)
		return false;
	return !(flags & MAP_HUGETLB);
}

/* Chooses where a non-fixed mapping goes: the hint if free, else top-down. */
static uint64_t mmap_place(gmem_t *gm, uint64_t hint, uint64_t len, int flags)
{
	uint64_t lo = gm->mmap_lo, hi = gm->mmap_hi;

	if (hint && !(hint & (CVMM_PAGE_SIZE - 1)) && hint >= GMEM_LO &&
	    hint + len > hint && hint + len <= GMEM_MMAP_TOP &&
	    range_free(gm, hint, hint + len))
		return hint;
	if (flags & MAP_32BIT) {
		lo = GMEM_LO;
		hi = 1UL << 31;
	}
	return gap_find(gm, len, lo, hi);
}

long gmem_mmap(gmem_t *gm, uint64_t addr, size_t len, int prot, int flags)
{
	uint64_t plen = CVMM_PAGE_UP((uint64_t)len);
	int vflags = ((flags & MAP_TYPE) == MAP_PRIVATE ? 0 : GMEM_VMA_SHARED) |
		     (flags & GMEM_MAP_FILE_RO ? GMEM_VMA_FILE_RO : 0);
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	long ret;

	flags &= ~GMEM_MAP_FILE_RO;
	/* Linux's order: length, its rounding (0 when it wraps), the range,
	 * the alignment of a fixed address, then the flags. Unknown prot bits
	 * are ignored, as mmap(2) ignores them. */
	if (len == 0)
		return -EINVAL;
	if (plen == 0 || plen > GMEM_TASK_SIZE ||
	    (fixed && addr > GMEM_TASK_SIZE - plen))
		return -ENOMEM;
	if (fixed && (addr & (CVMM_PAGE_SIZE - 1)))
		return -EINVAL;
	if (!mmap_flags_ok(flags))
		return -EINVAL;
	prot &= PROT_MASK;
	pthread_rwlock_wrlock(&gm->lock);
	if (fixed) {
		ret = -ENOMEM;
		if (addr < GMEM_LO || addr + plen > GMEM_HI)
			goto out;
		ret = -EEXIST;
		if (!range_free(gm, addr, addr + plen)) {
			if (flags & MAP_FIXED_NOREPLACE)
				goto out;
			range_clear(gm, addr, addr + plen);
		}
	} else {
		addr = mmap_place(gm, addr, plen, flags);
		ret = -ENOMEM;
		if (!addr)
			goto out;
	}
	ret = range_set(gm, addr, addr + plen, prot, vflags);
	if (ret == 0 && (flags & MAP_STACK))
		range_tls(gm, addr + plen - (plen < gm->tls_keep ? plen
								 : gm->tls_keep),
			  addr + plen);
	if (ret == 0 && (flags & MAP_ANONYMOUS) &&
	    !(flags & (MAP_STACK | MAP_NORESERVE)) &&
	    (prot & PROT_WRITE))
		view_populate(gm, addr, addr + plen);
	if (ret == 0)
		ret = (long)addr;
out:
	unlock_publish(gm);
	return ret;
}

long gmem_munmap(gmem_t *gm, uint64_t addr, size_t len)
{
	long ret;

	/* Linux: EINVAL for a range that is no user range or is empty; a
	 * range with nothing mapped in it (address 0 included) is fine. */
	if ((addr & (CVMM_PAGE_SIZE - 1)) || len == 0 || !range_user(addr, len))
		return -EINVAL;
	pthread_rwlock_wrlock(&gm->lock);
	ret = range_clear_window(gm, addr, addr + CVMM_PAGE_UP((uint64_t)len));
	unlock_publish(gm);
	return ret;
}

/* True when a VMA overlapping [start, end) has flag. Caller holds the
 * lock. */
static bool range_has_flag(const gmem_t *gm, uint64_t start, uint64_t end,
			   int flag)
{
	for (unsigned i = vma_search(gm, start);
	     i < gm->nvmas && gm->vmas[i].start < end; i++)
		if (gm->vmas[i].flags & flag)
			return true;
	return false;
}

long gmem_msync(gmem_t *gm, uint64_t addr, size_t len, int flags)
{
	uint64_t end = addr + CVMM_PAGE_UP((uint64_t)len);
	long ret = 0;

	if ((flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
	    (flags & (MS_ASYNC | MS_SYNC)) == (MS_ASYNC | MS_SYNC) ||
	    (addr & (CVMM_PAGE_SIZE - 1)))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (end <= addr)
		return -ENOMEM;
	pthread_rwlock_rdlock(&gm->lock);
	if (addr < GMEM_LO || end > GMEM_HI || !range_mapped(gm, addr, end))
		ret = -ENOMEM;
	pthread_rwlock_unlock(&gm->lock);
	return ret;
}

long gmem_mprotect(gmem_t *gm, uint64_t addr, size_t len, int prot)
{
	const int grows = PROT_GROWSDOWN | PROT_GROWSUP;
	uint64_t end = addr + CVMM_PAGE_UP((uint64_t)len);
	long ret = 0;
	unsigned i;

	/* Linux's order: both grows bits, alignment, length 0 (success with
	 * any prot), a range that wraps (ENOMEM), then prot (PROT_SEM is
	 * accepted and means nothing on x86). */
	if ((prot & grows) == grows || (addr & (CVMM_PAGE_SIZE - 1)))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (end <= addr) /* the rounding or the sum wrapped */
		return -ENOMEM;
	if (prot & ~(PROT_MASK | PROT_SEM | grows))
		return -EINVAL;
	prot &= PROT_MASK;
	pthread_rwlock_wrlock(&gm->lock);
	if (addr < GMEM_LO || end > GMEM_HI || !range_mapped(gm, addr, end)) {
		ret = -ENOMEM;
		goto out;
	}
	/* a shared file mapping cvmm keeps as a copy cannot become writable:
	 * the writes would never reach the file (EACCES, as for a file opened
	 * read-only) */
	if ((prot & PROT_WRITE) && range_has_flag(gm, addr, end,
						  GMEM_VMA_FILE_RO)) {
		static int told;

		if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
			log_warn("mprotect: a shared file mapping cannot be "
				 "made writable here (cvmm maps files as "
				 "copies; use MAP_PRIVATE or write(2)): "
				 "EACCES");
		ret = -EACCES;
		goto out;
	}
	/* Re-set each overlapped piece, keeping its flags. */
	for (i = vma_search(gm, addr); i < gm->nvmas && gm->vmas[i].start < end;
	     i = vma_search(gm, addr)) {
		gmem_vma_t v = gm->vmas[i];
		uint64_t s = v.start > addr ? v.start : addr;
		uint64_t e = v.end < end ? v.end : end;

		ret = range_set(gm, s, e, prot, v.flags);
		if (ret < 0)
			break;
		addr = e;
		if (addr >= end)
			break;
	}
out:
	unlock_publish(gm);
	return ret;
}

/* The advice values Linux knows (madvise_behavior_valid; the ones its build
 * options may leave out are accepted too): anything else is EINVAL. */
static bool madvise_advice_ok(int advice)
{
	return (advice >= MADV_NORMAL && advice <= MADV_DONTNEED) ||
	       (advice >= MADV_FREE && advice <= 25 /* MADV_COLLAPSE */) ||
	       (advice >= MADV_HWPOISON && advice <= 103 /* GUARD_REMOVE */);
}

long gmem_madvise(gmem_t *gm, uint64_t addr, size_t len, int advice)
{
	uint64_t plen = CVMM_PAGE_UP((uint64_t)len), end = addr + plen;
	bool drop = advice == MADV_DONTNEED || advice == MADV_FREE ||
		    advice == MADV_REMOVE;
	long ret = 0;
	unsigned i;

	/* Linux's order: advice, alignment, a length whose rounding wraps,
	 * a range that wraps, then length 0. */
	if (!madvise_advice_ok(advice) || (addr & (CVMM_PAGE_SIZE - 1)) ||
	    (len && !plen) || end < addr)
		return -EINVAL;
	if (end == addr)
		return 0;
	pthread_rwlock_wrlock(&gm->lock);
	/* A hole is ENOMEM, after the mapped parts got the advice. */
	if (addr < GMEM_LO || end > GMEM_HI || !range_mapped(gm, addr, end))
		ret = -ENOMEM;
	/* Private memory reads back as zeros; shared memory keeps its bytes;
	 * the other advice values are hints with nothing to do. */
	for (i = vma_search(gm, addr);
	     drop && i < gm->nvmas && gm->vmas[i].start < end; i++) {
		const gmem_vma_t *v = &gm->vmas[i];
		uint64_t s = v->start > addr ? v->start : addr;
		uint64_t e = v->end < end ? v->end : end;

		if (!(v->flags & GMEM_VMA_SHARED) || advice == MADV_REMOVE) {
			view_zero(gm, s, e);
			log_change(gm, GMEM_CH_ZERO, s, e, 0, 0);
		}
	}
	unlock_publish(gm);
	return ret;
}

/* The VMA containing addr, copied out; false if none. Caller holds lock. */
static bool vma_at(const gmem_t *gm, uint64_t addr, gmem_vma_t *out)
{
	unsigned i = vma_search(gm, addr);

	if (i == gm->nvmas || gm->vmas[i].start > addr)
		return false;
	*out = gm->vmas[i];
	return true;
}

static long mremap_move(gmem_t *gm, const gmem_vma_t *v, uint64_t old,
			uint64_t oldlen, uint64_t newlen, uint64_t to)
{
	long ret = range_set(gm, to, to + newlen, v->prot, v->flags);

	if (ret < 0)
		return ret;
	if (gm->coherent &&
	    (coh_rt_acquire(old, oldlen, false) != CVMM_OK ||
	     coh_rt_acquire(to, oldlen, true) != CVMM_OK))
		return -EFAULT;
	if (gm->views)
		memmove(gmem_agent(to), gmem_agent(old), oldlen);
	range_clear(gm, old, old + oldlen);
	return (long)to;
}

/* mremap's argument checks that need no VMA, in Linux's order (flags, old
 * alignment, the new length: 0 after rounding, or past GMEM_TASK_SIZE; then
 * for MREMAP_FIXED the new range, its alignment, MAYMOVE and an overlap of
 * the two ranges, computed as Linux does, wrapping included). DONTUNMAP is
 * not supported: EINVAL, as for an unknown flag. */
static long mremap_check(uint64_t old, uint64_t olen, uint64_t nlen, int flags,
			 uint64_t newaddr)
{
	if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) ||
	    (old & (CVMM_PAGE_SIZE - 1)) || nlen == 0 || nlen > GMEM_TASK_SIZE)
		return -EINVAL;
	if (!(flags & MREMAP_FIXED))
		return 0;
	if (newaddr > GMEM_TASK_SIZE - nlen ||
	    (newaddr & (CVMM_PAGE_SIZE - 1)) || !(flags & MREMAP_MAYMOVE) ||
	    (old + olen > newaddr && newaddr + nlen > old))
		return -EINVAL;
	return 0;
}

/* mremap's checks against the VMA v at old (lock held): an old length of 0
 * (Linux refuses it for private memory; duplicating a shared mapping is not
 * supported here) is EINVAL; the part that stays mapped must lie inside v
 * (EFAULT); the tail a shrink unmaps must be a user range (EINVAL). */
static long mremap_check_vma(const gmem_vma_t *v, uint64_t old, uint64_t olen,
			     uint64_t nlen)
{
	uint64_t keep = olen < nlen ? olen : nlen;

	if (olen == 0)
		return -EINVAL;
	if (keep > v->end - old)
		return -EFAULT;
	if (olen > nlen && !range_user(old + nlen, olen - nlen))
		return -EINVAL;
	return 0;
}

/* Applies an mremap that passed its checks (lock held): the tail a shrink
 * drops goes first (it may span VMAs and holes), then the move to newaddr
 * (MREMAP_FIXED), the growth in place, or a move to a free gap (MAYMOVE).
 * Returns the new address or -ENOMEM. */
static long mremap_apply(gmem_t *gm, const gmem_vma_t *v, uint64_t old,
			 uint64_t olen, uint64_t nlen, int flags,
			 uint64_t newaddr)
{
	long ret;

	if (olen > nlen)
		range_clear_window(gm, old + nlen, old + olen);
	if (flags & MREMAP_FIXED) {
		range_clear(gm, newaddr, newaddr + nlen);
		return mremap_move(gm, v, old, olen < nlen ? olen : nlen, nlen,
				   newaddr);
	}
	if (nlen < olen)
		return (long)old;
	if (old + nlen <= GMEM_HI && range_free(gm, old + olen, old + nlen)) {
		ret = range_set(gm, old + olen, old + nlen, v->prot, v->flags);
		return ret ? ret : (long)old;
	}
	if (flags & MREMAP_MAYMOVE) {
		uint64_t to = gap_find(gm, nlen, gm->mmap_lo, gm->mmap_hi);

		return to ? mremap_move(gm, v, old, olen, nlen, to) : -ENOMEM;
	}
	return -ENOMEM;
}

long gmem_mremap(gmem_t *gm, uint64_t old, size_t oldlen, size_t newlen,
		 int flags, uint64_t newaddr)
{
	uint64_t olen = CVMM_PAGE_UP((uint64_t)oldlen); /* 0 if it wraps */
	uint64_t nlen = CVMM_PAGE_UP((uint64_t)newlen);
	gmem_vma_t v;
	long ret = mremap_check(old, olen, nlen, flags, newaddr);

	if (ret)
		return ret;
	pthread_rwlock_wrlock(&gm->lock);
	ret = -EFAULT;
	if (!vma_at(gm, old, &v))
		goto out;
	if (!(flags & MREMAP_FIXED) && olen == nlen) {
		ret = (long)old; /* Linux checks nothing more */
		goto out;
	}
	ret = mremap_check_vma(&v, old, olen, nlen);
	if (ret)
		goto out;
	/* a valid target this window cannot hold (nothing is changed yet) */
	if ((flags & MREMAP_FIXED) &&
	    (newaddr < GMEM_LO || newaddr + nlen > GMEM_HI))
		ret = -ENOMEM;
	else
		ret = mremap_apply(gm, &v, old, olen, nlen, flags, newaddr);
out:
	unlock_publish(gm);
	return ret;
}

void gmem_apply(gmem_t *gm, const gmem_change_t *c, unsigned n)
{
	pthread_rwlock_wrlock(&gm->lock);
	/* node 0 publishes a change when every node has applied the last */
	if (gm->coherent)
		coh_rt_layout_done();
	for (unsigned i = 0; i < n; i++) {
		switch (c[i].op) {
		case GMEM_CH_SET:
			if (range_set(gm, c[i].start, c[i].end, c[i].prot,
				      c[i].flags) < 0)
				die("guest layout: too many mappings");
			break;
		case GMEM_CH_CLEAR:
			range_clear(gm, c[i].start, c[i].end);
			break;
		case GMEM_CH_ZERO:
			view_zero(gm, c[i].start, c[i].end);
			break;
		case GMEM_CH_IMAGE:
			coh_rt_image(c[i].start, c[i].end);
			break;
		case GMEM_CH_TLS:
			coh_rt_keep_sc(c[i].start, c[i].end);
			break;
		}
	}
	pthread_rwlock_unlock(&gm->lock);
}

void gmem_image_done(gmem_t *gm)
{
	if (!gm->coherent)
		return;
	pthread_rwlock_wrlock(&gm->lock);
	for (unsigned i = 0; i < gm->nvmas; i++) {
		log_change(gm, GMEM_CH_IMAGE, gm->vmas[i].start,
			   gm->vmas[i].end, 0, 0);
		coh_rt_image(gm->vmas[i].start, gm->vmas[i].end);
	}
	/* the main thread's TLS and descriptor: the first sbrk (glibc's
	 * static start-up, __libc_setup_tls) */
	range_tls(gm, gm->brk_start, gm->brk_start + gm->tls_keep);
	unlock_publish(gm);
}
