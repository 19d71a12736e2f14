/* The guest page: the unit of guest memory, of coherence and of the page
 * bytes that travel between agents. x86-64 base pages; the only definition
 * in cvmm. */
#ifndef CVMM_COMMON_PAGE_H
#define CVMM_COMMON_PAGE_H

#define CVMM_PAGE_SHIFT 12
#define CVMM_PAGE_SIZE  (1UL << CVMM_PAGE_SHIFT)

/* x rounded up / down to a page boundary (unsigned 64-bit arithmetic). */
#define CVMM_PAGE_UP(x)   (((x) + CVMM_PAGE_SIZE - 1) & ~(CVMM_PAGE_SIZE - 1))
#define CVMM_PAGE_DOWN(x) ((x) & ~(CVMM_PAGE_SIZE - 1))

#endif
