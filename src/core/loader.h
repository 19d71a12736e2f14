/* ELF loader: unmodified static x86-64 guests, ET_EXEC and static-pie
 * (ET_DYN without PT_INTERP). Parsing is separate from loading so the parser
 * can be unit tested and fuzzed on bytes alone. */
#ifndef CVMM_CORE_LOADER_H
#define CVMM_CORE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "core/gmem.h"
#include "core/vm.h"

#define LOADER_MAX_SEGS 32
#define LOADER_MAX_FILE (1UL << 32) /* refuse ELF files above 4 GiB */

typedef struct loader_seg {
	uint64_t vaddr;  /* after the load bias */
	uint64_t memsz;
	uint64_t offset; /* in the file */
	uint64_t filesz;
	int prot;        /* PROT_* from p_flags */
} loader_seg_t;

typedef struct loader_image {
	bool pie;            /* ET_DYN: loaded at GMEM_PIE_BASE */
	uint64_t bias;       /* added to every p_vaddr (0 for ET_EXEC) */
	uint64_t entry;      /* after the bias */
	uint64_t phdr;       /* guest address of the program headers (AT_PHDR) */
	uint16_t phent, phnum;
	uint64_t lo, hi;     /* page-aligned extent of all PT_LOADs */
	bool exec_stack;     /* PT_GNU_STACK with PF_X */
	uint64_t tls_memsz;  /* PT_TLS's p_memsz (0: none) */
	loader_seg_t segs[LOADER_MAX_SEGS];
	unsigned nsegs;
	/* The file, kept mapped read-only for symbol lookup (may be NULL). */
	const uint8_t *file;
	size_t file_len;
} loader_image_t;

/* Validates the ELF image buf[0..len) and fills *img (file/file_len are set
 * to buf/len). On failure returns CVMM_ERR_INVALID or CVMM_ERR_UNSUPPORTED
 * and writes one lowercase reason into err (e.g. "not an ELF file",
 * "dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2): not supported
 * yet", "truncated program headers", "segments overlap", "segment outside the
 * guest window"). Never reads outside buf. */
cvmm_status_t loader_parse(const uint8_t *buf, size_t len, loader_image_t *img,
			   char *err, size_t errlen);

/* Reads path, parses it, places the segments in guest memory (gmem_map_fixed,
 * bytes copied through the agent view), sets the brk start after the
 * highest segment, maps the main stack and builds argv, envp and auxv on it
 * (AT_SYSINFO_EHDR: cvmm's own vDSO, mapped by vdso_load unless
 * CVMM_VDSO=off (core/vdso/vdso.h); AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ,
 * AT_BASE 0, AT_FLAGS, AT_ENTRY, AT_RANDOM, AT_HWCAP, AT_HWCAP2, AT_CLKTCK,
 * AT_UID/EUID/GID/EGID, AT_SECURE 0, AT_EXECFN, AT_PLATFORM "x86_64").
 * Fills *regs for the first thread (rip = entry, rsp = &argc, rdx = 0,
 * rflags 0x202, everything else 0) and *img (file kept mapped).
 * Returns CVMM_ERR_NOT_FOUND (exit 127) when the file does not exist,
 * other errors (exit 126) otherwise, with the reason in err. */
cvmm_status_t loader_load(gmem_t *gm, const char *path, char *const argv[],
			  char *const envp[], guest_regs_t *regs,
			  loader_image_t *img, char *err, size_t errlen);

/* Names guest address addr as "symbol+0xoff" from the ELF .symtab (nearest
 * STT_FUNC/STT_OBJECT symbol at or below addr, within its size when the size
 * is known). Returns false when there is no symtab, addr is outside the
 * image's pages [lo, hi) (a size-0 symbol such as __TMC_END__ would
 * otherwise name the heap, mappings and stacks), or no symbol covers addr. */
bool loader_symbolize(const loader_image_t *img, uint64_t addr, char *buf,
		      size_t len);

#endif
