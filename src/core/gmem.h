/* Guest memory (docs/design.md decision 3): one sparse memfd, the "guest physical",
 * mapped twice at fixed addresses:
 *   guest view  [GMEM_LO, GMEM_HI)                 where guest code runs,
 *                                                  protections = the guest's
 *   agent view  [GMEM_LO, GMEM_HI) + GMEM_DELTA    always read-write; the agent
 *                                                  reads and writes guest data
 *                                                  only here
 * memfd offset == guest address. Every layout change (brk, mmap, munmap,
 * mprotect, madvise) goes through this module, under its lock.
 * The agent never hands guest addresses to real system calls: it translates
 * them with gmem_ptr() first. */
#ifndef CVMM_CORE_GMEM_H
#define CVMM_CORE_GMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/page.h"
#include "common/status.h"

#define GMEM_LO        0x10000UL
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer owns [0x7fff8000, 0x10007fff8000) for its shadow and
 * 0x600000000000 for its heap: the guest gets the low 2 GiB, the agent view
 * sits high. Enough for the test guests (make test SAN=address). */
#define GMEM_HI        0x7fff0000UL
#define GMEM_DELTA     0x300000000000UL
#define GMEM_PIE_BASE  0x10000000UL
#define GMEM_BRK_MAX   (256UL << 20)
#else
#define GMEM_HI        0x10000000000UL /* 1 TiB of guest address space */
#define GMEM_DELTA     0x10000000000UL /* agent view = guest view + 1 TiB */
#define GMEM_PIE_BASE  0x5555554000UL  /* where a static-pie guest is loaded */
#define GMEM_BRK_MAX   (64UL << 30)    /* brk heap may grow this far */
#endif
#define GMEM_STACK_SIZE (8UL << 20)    /* main thread stack (RLIMIT_STACK) */
/* The end of a native x86-64 process's address space (TASK_SIZE, 4-level
 * paging). Linux checks a call's ranges against it before anything else
 * (munmap and mremap: EINVAL past it, mmap and mprotect: ENOMEM, a private
 * futex word: EFAULT), so cvmm does too; a range below it but above GMEM_HI
 * is valid and simply cannot be mapped here. */
#define GMEM_TASK_SIZE 0x7ffffffff000UL
#define GMEM_STACK_TOP (GMEM_HI - CVMM_PAGE_SIZE)
#define GMEM_MMAP_TOP  (GMEM_STACK_TOP - GMEM_STACK_SIZE - (16UL << 20))

#define GMEM_MAX_VMAS  65536
/* Most fresh anonymous memory populated at once per mmap or brk on one
 * node by default (gmem_t.populate_max, --populate) */
#define GMEM_POPULATE_MAX (256UL << 20)
/* gmem_set_tls: a thread's descriptor (glibc 2.36: 2304 bytes), the TLS
 * surplus glibc reserves and alignment fit in GMEM_TLS_KEEP_MIN next to
 * the program's static TLS, of which at most GMEM_TLS_KEEP_MAX counts. */
#define GMEM_TLS_KEEP_MIN (16UL << 10)
#define GMEM_TLS_KEEP_MAX (1UL << 20)

/* A guest mapping: [start, end), page aligned, one protection. */
typedef struct gmem_vma {
	uint64_t start;
	uint64_t end;
	int prot;       /* PROT_READ | PROT_WRITE | PROT_EXEC, or PROT_NONE */
	int flags;      /* GMEM_VMA_* */
} gmem_vma_t;

#define GMEM_VMA_BRK   0x1  /* part of the brk heap */
#define GMEM_VMA_STACK 0x2  /* main thread stack */
#define GMEM_VMA_SHARED 0x4 /* MAP_SHARED (same as private on one node) */
#define GMEM_VMA_ELF   0x8  /* an ELF segment */
#define GMEM_VMA_FILE_RO 0x10 /* a shared file mapping, kept as a private
			       * copy: it may never become writable, or
			       * writes would silently miss the file */

/* gmem_mmap flag of cvmm's own (no Linux MAP_* bit): the mapping is a
 * GMEM_VMA_FILE_RO copy of a shared file mapping. */
#define GMEM_MAP_FILE_RO 0x40000000

/* A layout change as applied to the views, for the other nodes (multi-node
 * VMs: node 0 decides, every node applies the same changes in order). */
typedef enum gmem_change_op {
	GMEM_CH_SET = 1, /* [start, end) becomes one VMA with prot, flags */
	GMEM_CH_CLEAR,   /* [start, end) unmapped, content dropped */
	GMEM_CH_ZERO,    /* content of [start, end) dropped (reads zeros) */
	GMEM_CH_IMAGE,   /* node 0 wrote [start, end) before the guest ran
			    (coh_rt_image); the layout is unchanged */
	GMEM_CH_TLS,     /* [start, end) holds a thread's descriptor and TLS
			    (coh_rt_keep_sc); the layout is unchanged */
} gmem_change_op_t;

typedef struct gmem_change {
	uint32_t op;
	int32_t prot;
	int32_t flags;
	uint32_t pad;
	uint64_t start, end;
} gmem_change_t;

typedef cvmm_status_t (*gmem_publish_fn)(const gmem_change_t *c, unsigned n);

typedef struct gmem {
	int memfd;
	bool views;          /* host views exist (false in allocator tests) */
	pthread_rwlock_t lock;
	gmem_vma_t *vmas;    /* sorted, non-overlapping, merged when equal */
	unsigned nvmas;
	uint64_t brk_start;  /* first byte of the heap (page aligned) */
	uint64_t brk_cur;    /* current break as the guest sees it */
	uint64_t mmap_lo;    /* lowest address mmap may hand out */
	uint64_t mmap_hi;    /* highest end address mmap may hand out */
	/* Set on node 0 of a multi-node VM: every call that changed the
	 * layout publishes its changes (under the lock, before returning),
	 * and returns only when every node applied them. */
	gmem_publish_fn publish;
	gmem_change_t *log;
	unsigned nlog, logcap;
	bool coherent;       /* agent accesses go through coh_rt_acquire */
	uint64_t populate_max; /* bytes of fresh anonymous memory made
				* present per mmap/brk on one node (0: none;
				* GMEM_POPULATE_MAX after gmem_init) */
	bool populate_auto;  /* --populate auto: only where this host makes
			      * pages present in one call much cheaper than
			      * by faults (gmem.c, populate_pays) */
	int populate_pays;   /* -1 not measured yet, else 0 or 1 */
	uint64_t tls_keep;   /* bytes at the top of each MAP_STACK mapping
				* (and at the start of the heap) that hold a
				* thread's descriptor and TLS (gmem_set_tls) */
} gmem_t;

extern gmem_t cvmm_gmem;

/* Creates the memfd and reserves both views with MAP_FIXED_NOREPLACE.
 * When views is false only the bookkeeping is set up (unit tests of the
 * allocator). Logs and returns CVMM_ERR_IO if the windows are taken. */
cvmm_status_t gmem_init(gmem_t *gm, bool views);
void gmem_fini(gmem_t *gm);

/* Agent-view address of a guest address (no checks). */
static inline void *gmem_agent(uint64_t gaddr)
{
	return (void *)(uintptr_t)(gaddr + GMEM_DELTA);
}

/* Returns the agent-view pointer for [gaddr, gaddr+len) if the whole range is
 * mapped in the guest with at least prot (PROT_READ and/or PROT_WRITE; 0 just
 * requires a mapping), else NULL (a range that wraps past 2^64 included).
 * len 0 succeeds for any user address (at most 0x7ffffffff000, as the
 * kernel's access_ok; the pointer must not be used), NULL for others. In a multi-node VM
 * the pages are first made current here (PROT_WRITE: exclusive and pinned
 * until coh_rt_release, which the syscall dispatcher calls). */
void *gmem_ptr(gmem_t *gm, uint64_t gaddr, size_t len, int prot);

/* How many bytes from gaddr (at most len) are mapped with at least prot,
 * without bringing any page in: for a call that must not hold pages while
 * it waits (sys_file.c's bounced reads). 0 when gaddr + len wraps past
 * 2^64 (Linux's access_ok fails such a range whole). Takes the layout lock
 * (read). */
size_t gmem_mapped(gmem_t *gm, uint64_t gaddr, size_t len, int prot);

/* Makes the guest view's pages of [start, end) present (write: writable)
 * in one call, on a one-node VM only (on several nodes pages are the
 * coherence protocol's): for memory the guest is about to touch, which
 * otherwise costs a fault per page. Best effort: a failure (a range not
 * mapped so, no memory) only leaves the faults to happen. */
void gmem_populate(gmem_t *gm, uint64_t start, uint64_t end, bool write);

/* Hold the guest layout: until gmem_unhold, no unmap, remap or protection
 * change completes (a guest thread making one waits, as if it came after).
 * For agent writes into guest memory that must not land after the guest
 * unmapped the range (the bytes would reappear in the next mapping there):
 * check the range with gmem_mapped under the hold, write, unhold. Holds
 * nest. Never wait for another node or for I/O that may block forever
 * while holding (a bounced read copies out under a hold instead). */
void gmem_hold(gmem_t *gm);
void gmem_unhold(gmem_t *gm);

/* The layout lock taken for writing, publishing nothing: no layout change
 * is in progress (none is waiting for another node's answer) until
 * gmem_thaw. For a node leaving (node/svc_leave.c). */
void gmem_freeze(gmem_t *gm);
void gmem_thaw(gmem_t *gm);
/* Between gmem_freeze and gmem_thaw (by the freezing thread): every
 * mapping as a GMEM_CH_SET change into a malloc'ed array (*n of them; a
 * node that joins applies them; NULL and 0 when out of memory or
 * nothing is mapped). */
gmem_change_t *gmem_snapshot_frozen(const gmem_t *gm, unsigned *n);

/* Copies the NUL-terminated guest string at gaddr into buf (cap bytes).
 * Returns its length, -EFAULT or -ENAMETOOLONG. */
long gmem_strcpy(gmem_t *gm, uint64_t gaddr, char *buf, size_t cap);

/* Maps [addr, addr+len) (page aligned) with prot, replacing nothing: the
 * range must be free. For the loader and stacks. Returns 0 or -errno. */
long gmem_map_fixed(gmem_t *gm, uint64_t addr, size_t len, int prot,
		    int vflags);

/* Sets the start of the brk heap (after the loader placed the ELF). */
void gmem_set_brk(gmem_t *gm, uint64_t start);

/* The program's static TLS is tls_memsz bytes (PT_TLS; 0: none): glibc
 * puts each thread's TLS block and its descriptor (struct pthread) at the
 * top of the thread's stack mapping (MAP_STACK), the main thread's at the
 * start of the heap (static binaries: sbrk). Those pages hold words that
 * other threads take with atomics (libgomp's per-thread semaphores,
 * pthread_join's word) next to the thread's own plain stores: in a
 * multi-node VM they are kept sequentially consistent (GMEM_CH_TLS). */
void gmem_set_tls(gmem_t *gm, uint64_t tls_memsz);

/* The guest's memory calls. All return what the syscall would (an address or
 * -errno, with Linux's errno in Linux's order of checks) and keep guest view,
 * agent view and memfd consistent: freed or DONTNEED'd ranges read back as
 * zeros. Every length and address is the guest's, unchecked: a sum or a page
 * rounding that wraps past 2^64 is the native error, never a range with its
 * end below its start. Each takes the layout lock (write) and, on node 0 of
 * a multi-node VM, returns after every node applied the change. */
long gmem_brk(gmem_t *gm, uint64_t addr);
long gmem_mmap(gmem_t *gm, uint64_t addr, size_t len, int prot, int flags);
long gmem_munmap(gmem_t *gm, uint64_t addr, size_t len);
long gmem_mprotect(gmem_t *gm, uint64_t addr, size_t len, int prot);
/* msync: checks flags and the range as Linux does; there is nothing to
 * write back, since no mapping here writes through to a file. */
long gmem_msync(gmem_t *gm, uint64_t addr, size_t len, int flags);
long gmem_madvise(gmem_t *gm, uint64_t addr, size_t len, int advice);
long gmem_mremap(gmem_t *gm, uint64_t old, size_t oldlen, size_t newlen,
		 int flags, uint64_t newaddr);

/* Applies changes node 0 published (the other nodes). */
void gmem_apply(gmem_t *gm, const gmem_change_t *c, unsigned n);

/* Node 0, after loading and before the guest runs: every range mapped now
 * holds what the loader wrote; each node learns it (GMEM_CH_IMAGE), so
 * that node 0 owns those pages at first and every other page starts at
 * its manager. Nothing to do on one node. */
void gmem_image_done(gmem_t *gm);

#endif
