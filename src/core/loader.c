/* ELF loader: validates a static x86-64 ELF (ET_EXEC or static-pie), places
 * its PT_LOAD segments in guest memory and builds the initial stack (argv,
 * envp, auxv) the way Linux's binfmt_elf does for a static program. The
 * vDSO the auxv names (AT_SYSINFO_EHDR) is cvmm's own, mapped by
 * core/vdso/vdso.c (docs/core.md, "The guest's vDSO").
 *
 * The parser never trusts the file: every header is copied out with memcpy
 * after a bounds check, and all address arithmetic is checked for overflow
 * before it is done. */
#include "core/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "core/vdso/vdso.h"

/* Weak: loader.c alone (the ELF fuzzer, test/fuzz/fuzz.mk) links without
 * the vDSO module and then gives the guest no vDSO. */
extern __typeof__(vdso_load) vdso_load __attribute__((weak));

#define LDR_MAX_PHNUM   64
#define LDR_MAX_MEMSZ   (64UL << 30)          /* per segment */
#define LDR_INTERP_SHOW 128                   /* PT_INTERP bytes we print */
#define LDR_STACK_POPULATE (64UL << 10) /* stack made present at start */
#define LDR_ARG_MAX     (GMEM_STACK_SIZE / 4) /* argv + envp, as Linux */
#define LDR_MAX_CHUNKS  (2 * LOADER_MAX_SEGS)
#define LDR_NAUX        20                    /* auxv pairs, AT_NULL incl. */

/* Parser state: the bytes, the copied ELF header and where reasons go. */
typedef struct ldr_ctx {
	const uint8_t *buf;
	size_t len;
	Elf64_Ehdr eh;
	char *err;
	size_t errlen;
} ldr_ctx_t;

/* A page-aligned range mapped with one protection. */
typedef struct ldr_chunk {
	uint64_t start, end;
	int prot;
} ldr_chunk_t;

/* What goes on the initial stack: the strings, and the vDSO for the auxv. */
typedef struct ldr_args {
	char *const *argv;
	char *const *envp;
	const char *execfn;
	size_t argc, envc;
	size_t strbytes; /* argv and envp strings with their NULs */
	uint64_t vdso;   /* AT_SYSINFO_EHDR, 0: none */
} ldr_args_t;

/* Where the symbol table of a file is, once found and bounds-checked. */
typedef struct ldr_symtab {
	const uint8_t *syms;
	uint64_t nsyms;
	const char *str;
	uint64_t strsz;
} ldr_symtab_t;

static uint64_t pg_down(uint64_t x)
{
	return x & ~(CVMM_PAGE_SIZE - 1);
}

/* Callers make sure x + CVMM_PAGE_SIZE - 1 cannot overflow. */
static uint64_t pg_up(uint64_t x)
{
	return (x + CVMM_PAGE_SIZE - 1) & ~(CVMM_PAGE_SIZE - 1);
}

static cvmm_status_t __attribute__((format(printf, 4, 5)))
ldr_fail(char *err, size_t errlen, cvmm_status_t st, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

#define ctx_fail(c, st, ...) ldr_fail((c)->err, (c)->errlen, (st), __VA_ARGS__)

/* Lowercase, unlocalized description of errno e, in buf. */
static const char *ldr_errstr(int e, char *buf, size_t len)
{
	const char *s = strerrordesc_np(e);

	if (!s) {
		snprintf(buf, len, "error %d", e);
		return buf;
	}
	snprintf(buf, len, "%s", s);
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static int ldr_prot(uint32_t pflags)
{
	return ((pflags & PF_R) ? PROT_READ : 0) |
	       ((pflags & PF_W) ? PROT_WRITE : 0) |
	       ((pflags & PF_X) ? PROT_EXEC : 0);
}

/* ---- parsing ------------------------------------------------------------ */

static const char *ldr_type_name(unsigned type)
{
	switch (type) {
	case ET_NONE: return "no file type";
	case ET_REL: return "relocatable object";
	case ET_CORE: return "core dump";
	default: return "unknown type";
	}
}

static cvmm_status_t ldr_check_ident(ldr_ctx_t *c)
{
	size_t n = c->len < SELFMAG ? c->len : SELFMAG;

	if (n == 0 || memcmp(c->buf, ELFMAG, n) != 0)
		return ctx_fail(c, CVMM_ERR_INVALID, "not an ELF file");
	if (c->len < EI_NIDENT)
		return ctx_fail(c, CVMM_ERR_INVALID, "truncated ELF header");
	if (c->buf[EI_CLASS] != ELFCLASS64)
		return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
				"not a 64-bit ELF file (class %u)",
				c->buf[EI_CLASS]);
	if (c->buf[EI_DATA] != ELFDATA2LSB)
		return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
				"not a little-endian ELF file (data %u)",
				c->buf[EI_DATA]);
	if (c->buf[EI_VERSION] != EV_CURRENT)
		return ctx_fail(c, CVMM_ERR_INVALID, "unknown ELF version %u",
				c->buf[EI_VERSION]);
	return CVMM_OK;
}

static cvmm_status_t ldr_check_ehdr(ldr_ctx_t *c)
{
	const Elf64_Ehdr *eh = &c->eh;
	cvmm_status_t st = ldr_check_ident(c);

	if (st)
		return st;
	if (c->len < sizeof(Elf64_Ehdr))
		return ctx_fail(c, CVMM_ERR_INVALID, "truncated ELF header");
	memcpy(&c->eh, c->buf, sizeof(c->eh));
	if (eh->e_machine != EM_X86_64)
		return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
				"not an x86-64 program (machine %u)",
				eh->e_machine);
	if (eh->e_version != EV_CURRENT)
		return ctx_fail(c, CVMM_ERR_INVALID, "unknown ELF version %u",
				eh->e_version);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
				"not an executable (ELF type %u, %s)",
				eh->e_type, ldr_type_name(eh->e_type));
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return ctx_fail(c, CVMM_ERR_INVALID,
				"bad program header size %u", eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > LDR_MAX_PHNUM)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"bad program header count %u", eh->e_phnum);
	if (eh->e_phoff > c->len ||
	    c->len - eh->e_phoff < (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))
		return ctx_fail(c, CVMM_ERR_INVALID,
				"truncated program headers");
	return CVMM_OK;
}

/* Copies program header i; ldr_check_ehdr() made sure the table fits. */
static void ldr_phdr(const ldr_ctx_t *c, unsigned i, Elf64_Phdr *ph)
{
	memcpy(ph, c->buf + c->eh.e_phoff + (uint64_t)i * sizeof(*ph),
	       sizeof(*ph));
}

/* Names the interpreter of a dynamic program, printable bytes only and only
 * what lies inside the file. */
static cvmm_status_t ldr_interp_fail(ldr_ctx_t *c, const Elf64_Phdr *ph)
{
	char path[LDR_INTERP_SHOW + 1];
	uint64_t lim = 0, n;
	uint8_t ch;

	if (ph->p_offset < c->len) {
		lim = c->len - ph->p_offset;
		lim = lim < ph->p_filesz ? lim : ph->p_filesz;
		lim = lim < LDR_INTERP_SHOW ? lim : LDR_INTERP_SHOW;
	}
	for (n = 0; n < lim; n++) {
		ch = c->buf[ph->p_offset + n];
		if (ch == 0)
			break;
		path[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	path[n] = '\0';
	if (n == 0)
		return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
				"dynamically linked (PT_INTERP): not supported yet");
	return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
			"dynamically linked (PT_INTERP %s): not supported yet",
			path);
}

static cvmm_status_t ldr_check_interp(ldr_ctx_t *c)
{
	Elf64_Phdr ph;

	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		ldr_phdr(c, i, &ph);
		if (ph.p_type == PT_INTERP)
			return ldr_interp_fail(c, &ph);
	}
	return CVMM_OK;
}

static cvmm_status_t ldr_check_load(ldr_ctx_t *c, const Elf64_Phdr *ph)
{
	if (ph->p_filesz > ph->p_memsz)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"segment at 0x%" PRIx64 " has file size above its memory size",
				ph->p_vaddr);
	if (ph->p_memsz > LDR_MAX_MEMSZ)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"segment at 0x%" PRIx64 " too large (0x%" PRIx64 " bytes)",
				ph->p_vaddr, ph->p_memsz);
	if (ph->p_vaddr > UINT64_MAX - ph->p_memsz)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"segment at 0x%" PRIx64 " wraps around the address space",
				ph->p_vaddr);
	if (ph->p_offset > c->len || c->len - ph->p_offset < ph->p_filesz)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"truncated segment data (segment at 0x%" PRIx64 ")",
				ph->p_vaddr);
	if (ph->p_vaddr % CVMM_PAGE_SIZE != ph->p_offset % CVMM_PAGE_SIZE)
		return ctx_fail(c, CVMM_ERR_INVALID,
				"misaligned segment (vaddr 0x%" PRIx64 " offset 0x%" PRIx64 ")",
				ph->p_vaddr, ph->p_offset);
	return CVMM_OK;
}

/* Checks every PT_LOAD and records the non-empty ones, addresses as linked. */
static cvmm_status_t ldr_collect(ldr_ctx_t *c, loader_image_t *img)
{
	loader_seg_t *s;
	Elf64_Phdr ph;
	cvmm_status_t st;

	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		ldr_phdr(c, i, &ph);
		if (ph.p_type == PT_GNU_STACK)
			img->exec_stack = (ph.p_flags & PF_X) != 0;
		if (ph.p_type == PT_TLS)
			img->tls_memsz = ph.p_memsz;
		if (ph.p_type != PT_LOAD)
			continue;
		st = ldr_check_load(c, &ph);
		if (st)
			return st;
		if (ph.p_memsz == 0)
			continue;
		if (img->nsegs == LOADER_MAX_SEGS)
			return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
					"more than %d loadable segments",
					LOADER_MAX_SEGS);
		s = &img->segs[img->nsegs++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->prot = ldr_prot(ph.p_flags);
	}
	if (img->nsegs == 0)
		return ctx_fail(c, CVMM_ERR_INVALID, "no loadable segment");
	return CVMM_OK;
}

/* Segments may share a page (the loader gives it both protections) but no
 * byte may belong to two segments. */
static cvmm_status_t ldr_check_overlap(ldr_ctx_t *c, const loader_image_t *img)
{
	const loader_seg_t *a, *b;

	for (unsigned i = 0; i < img->nsegs; i++) {
		for (unsigned j = i + 1; j < img->nsegs; j++) {
			a = &img->segs[i];
			b = &img->segs[j];
			if (a->vaddr < b->vaddr + b->memsz &&
			    b->vaddr < a->vaddr + a->memsz)
				return ctx_fail(c, CVMM_ERR_INVALID,
						"segments overlap (0x%" PRIx64 " and 0x%" PRIx64 ")",
						a->vaddr, b->vaddr);
		}
	}
	return CVMM_OK;
}

static uint64_t ldr_lowest_page(const loader_image_t *img)
{
	uint64_t lo = UINT64_MAX;

	for (unsigned i = 0; i < img->nsegs; i++)
		if (pg_down(img->segs[i].vaddr) < lo)
			lo = pg_down(img->segs[i].vaddr);
	return lo;
}

/* Applies the load bias (static-pie: lowest page at GMEM_PIE_BASE) and checks
 * that every segment lands in [GMEM_LO, GMEM_MMAP_TOP). */
static cvmm_status_t ldr_place(ldr_ctx_t *c, loader_image_t *img)
{
	uint64_t base = 0, rel = 0, off, room;
	loader_seg_t *s;

	if (img->pie) {
		base = GMEM_PIE_BASE;
		rel = ldr_lowest_page(img);
	}
	img->bias = base - rel; /* modulo 2^64, like the kernel's */
	img->lo = UINT64_MAX;
	img->hi = 0;
	for (unsigned i = 0; i < img->nsegs; i++) {
		s = &img->segs[i];
		off = s->vaddr - rel;
		room = GMEM_MMAP_TOP - base;
		if (off > room || room - off < s->memsz)
			return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
					"segment outside the guest window (would overlap the agent): 0x%" PRIx64,
					s->vaddr);
		if (base + pg_down(off) < GMEM_LO)
			return ctx_fail(c, CVMM_ERR_UNSUPPORTED,
					"segment outside the guest window (below 0x%lx): 0x%" PRIx64,
					GMEM_LO, s->vaddr);
		s->vaddr = base + off;
		if (pg_down(s->vaddr) < img->lo)
			img->lo = pg_down(s->vaddr);
		if (pg_up(s->vaddr + s->memsz) > img->hi)
			img->hi = pg_up(s->vaddr + s->memsz);
	}
	return CVMM_OK;
}

static cvmm_status_t ldr_check_entry(ldr_ctx_t *c, loader_image_t *img)
{
	const loader_seg_t *s;

	img->entry = c->eh.e_entry + img->bias;
	for (unsigned i = 0; i < img->nsegs; i++) {
		s = &img->segs[i];
		if ((s->prot & PROT_EXEC) && img->entry - s->vaddr < s->memsz)
			return CVMM_OK;
	}
	return ctx_fail(c, CVMM_ERR_INVALID,
			"entry point 0x%" PRIx64 " not in an executable segment",
			c->eh.e_entry);
}

/* AT_PHDR: where the program headers land in memory, from the PT_LOAD whose
 * file bytes contain them, else PT_PHDR, else 0. */
static uint64_t ldr_find_phdr(const ldr_ctx_t *c, const loader_image_t *img)
{
	uint64_t phoff = c->eh.e_phoff;
	uint64_t size = (uint64_t)c->eh.e_phnum * sizeof(Elf64_Phdr);
	Elf64_Phdr ph;

	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		ldr_phdr(c, i, &ph);
		if (ph.p_type == PT_LOAD && ph.p_offset <= phoff &&
		    phoff - ph.p_offset <= ph.p_filesz &&
		    ph.p_filesz - (phoff - ph.p_offset) >= size)
			return ph.p_vaddr + (phoff - ph.p_offset) + img->bias;
	}
	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		ldr_phdr(c, i, &ph);
		if (ph.p_type == PT_PHDR)
			return ph.p_vaddr + img->bias;
	}
	return 0;
}

cvmm_status_t loader_parse(const uint8_t *buf, size_t len, loader_image_t *img,
			   char *err, size_t errlen)
{
	ldr_ctx_t c = { .buf = buf, .len = buf ? len : 0, .err = err,
			.errlen = errlen };
	loader_image_t im;
	cvmm_status_t st;

	memset(&im, 0, sizeof(im));
	st = ldr_check_ehdr(&c);
	if (!st)
		st = ldr_check_interp(&c);
	if (st)
		return st;
	im.pie = c.eh.e_type == ET_DYN;
	st = ldr_collect(&c, &im);
	if (!st)
		st = ldr_check_overlap(&c, &im);
	if (!st)
		st = ldr_place(&c, &im);
	if (!st)
		st = ldr_check_entry(&c, &im);
	if (st)
		return st;
	im.phdr = ldr_find_phdr(&c, &im);
	im.phent = sizeof(Elf64_Phdr);
	im.phnum = c.eh.e_phnum;
	im.file = buf;
	im.file_len = len;
	*img = im;
	return CVMM_OK;
}

/* ---- symbols ------------------------------------------------------------ */

static bool ldr_shdr(const loader_image_t *img, const Elf64_Ehdr *eh,
		     unsigned i, Elf64_Shdr *sh)
{
	if (i >= eh->e_shnum || eh->e_shoff > img->file_len ||
	    (img->file_len - eh->e_shoff) / sizeof(*sh) <= i)
		return false;
	memcpy(sh, img->file + eh->e_shoff + (uint64_t)i * sizeof(*sh),
	       sizeof(*sh));
	return true;
}

static const uint8_t *ldr_section(const loader_image_t *img,
				  const Elf64_Shdr *sh)
{
	if (sh->sh_type == SHT_NOBITS || sh->sh_offset > img->file_len ||
	    img->file_len - sh->sh_offset < sh->sh_size)
		return NULL;
	return img->file + sh->sh_offset;
}

/* Finds the first SHT_SYMTAB and its string table, both inside the file. */
static bool ldr_find_symtab(const loader_image_t *img, ldr_symtab_t *tab)
{
	Elf64_Shdr sh, strsh;
	Elf64_Ehdr eh;

	if (!img->file || img->file_len < sizeof(eh))
		return false;
	memcpy(&eh, img->file, sizeof(eh));
	if (eh.e_shentsize != sizeof(Elf64_Shdr))
		return false;
	for (unsigned i = 0; ldr_shdr(img, &eh, i, &sh); i++) {
		if (sh.sh_type != SHT_SYMTAB)
			continue;
		if (!ldr_shdr(img, &eh, sh.sh_link, &strsh) ||
		    strsh.sh_type != SHT_STRTAB)
			return false;
		tab->syms = ldr_section(img, &sh);
		tab->str = (const char *)ldr_section(img, &strsh);
		if (!tab->syms || !tab->str)
			return false;
		tab->nsyms = sh.sh_size / sizeof(Elf64_Sym);
		tab->strsz = strsh.sh_size;
		return true;
	}
	return false;
}

/* The symbol's name if it is a non-empty string inside the string table. */
static const char *ldr_sym_name(const ldr_symtab_t *tab, uint32_t off)
{
	const char *name;

	if (off >= tab->strsz)
		return NULL;
	name = tab->str + off;
	if (!memchr(name, '\0', tab->strsz - off) || name[0] == '\0')
		return NULL;
	return name;
}

/* Whether sym covers addr and beats the current best (a nearer start, or
 * the same start with a known size). */
static bool ldr_sym_better(const Elf64_Sym *sym, uint64_t v, uint64_t addr,
			   const Elf64_Sym *best, uint64_t best_v)
{
	unsigned type = ELF64_ST_TYPE(sym->st_info);

	if ((type != STT_FUNC && type != STT_OBJECT) ||
	    sym->st_shndx == SHN_UNDEF || v > addr)
		return false;
	if (sym->st_size && addr - v >= sym->st_size)
		return false;
	if (!best)
		return true;
	return v > best_v || (v == best_v && sym->st_size && !best->st_size);
}

bool loader_symbolize(const loader_image_t *img, uint64_t addr, char *buf,
		      size_t len)
{
	Elf64_Sym sym, best_sym;
	const Elf64_Sym *best = NULL;
	const char *name, *best_name = NULL;
	uint64_t v, best_v = 0;
	ldr_symtab_t tab;

	if (!img || !buf || len == 0 || addr < img->lo || addr >= img->hi ||
	    !ldr_find_symtab(img, &tab))
		return false;
	for (uint64_t i = 0; i < tab.nsyms; i++) {
		memcpy(&sym, tab.syms + i * sizeof(sym), sizeof(sym));
		v = sym.st_value + img->bias;
		if (!ldr_sym_better(&sym, v, addr, best, best_v))
			continue;
		name = ldr_sym_name(&tab, sym.st_name);
		if (!name)
			continue;
		best_sym = sym;
		best = &best_sym;
		best_v = v;
		best_name = name;
	}
	if (!best)
		return false;
	if (addr == best_v)
		snprintf(buf, len, "%s", best_name);
	else
		snprintf(buf, len, "%s+0x%" PRIx64, best_name, addr - best_v);
	return true;
}

/* ---- loading ------------------------------------------------------------ */

/* Maps path read-only. An empty file gives *file NULL and *len 0. */
static cvmm_status_t ldr_open(const char *path, const uint8_t **file,
			      size_t *len, char *err, size_t errlen)
{
	char ebuf[128];
	struct stat sb;
	cvmm_status_t st;
	void *map = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	/* Like a shell: a missing file is 127, an unreadable one 126. */
	if (fd < 0)
		return ldr_fail(err, errlen,
				errno == ENOENT || errno == ENOTDIR
					? CVMM_ERR_NOT_FOUND
					: CVMM_ERR_INVALID,
				"%s", ldr_errstr(errno, ebuf, sizeof(ebuf)));
	if (fstat(fd, &sb) < 0) {
		st = ldr_fail(err, errlen, CVMM_ERR_IO, "cannot stat: %s",
			      ldr_errstr(errno, ebuf, sizeof(ebuf)));
		goto err_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = ldr_fail(err, errlen, CVMM_ERR_INVALID, "%s",
			      S_ISDIR(sb.st_mode) ? "is a directory" :
						    "not a regular file");
		goto err_close;
	}
	if ((uint64_t)sb.st_size > LOADER_MAX_FILE) {
		st = ldr_fail(err, errlen, CVMM_ERR_UNSUPPORTED,
			      "file too large (%lld bytes)",
			      (long long)sb.st_size);
		goto err_close;
	}
	if (sb.st_size > 0) {
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE,
			   fd, 0);
		if (map == MAP_FAILED) {
			st = ldr_fail(err, errlen, CVMM_ERR_IO,
				      "cannot map the file: %s",
				      ldr_errstr(errno, ebuf, sizeof(ebuf)));
			goto err_close;
		}
	}
	close(fd);
	*file = map;
	*len = (size_t)sb.st_size;
	return CVMM_OK;

err_close:
	close(fd);
	return st;
}

/* Segment indices in ascending address order (insertion sort, n <= 32). */
static void ldr_sort_segs(const loader_image_t *img, unsigned *order)
{
	unsigned k, j, t;

	for (k = 0; k < img->nsegs; k++)
		order[k] = k;
	for (k = 1; k < img->nsegs; k++) {
		t = order[k];
		for (j = k; j > 0 &&
			    img->segs[order[j - 1]].vaddr > img->segs[t].vaddr;
		     j--)
			order[j] = order[j - 1];
		order[j] = t;
	}
}

/* Splits the segments into page ranges to map. Segments never share a byte
 * (parse checked), but the last page of one may be the first of the next:
 * that page is mapped once with both protections. Returns the count. */
static unsigned ldr_plan_chunks(const loader_image_t *img, ldr_chunk_t *ch)
{
	unsigned order[LOADER_MAX_SEGS], n = 0;
	const loader_seg_t *s;
	uint64_t start, end;

	ldr_sort_segs(img, order);
	for (unsigned k = 0; k < img->nsegs; k++) {
		s = &img->segs[order[k]];
		start = pg_down(s->vaddr);
		end = pg_up(s->vaddr + s->memsz);
		if (n && ch[n - 1].end > start) {
			/* start == ch[n - 1].end - CVMM_PAGE_SIZE: one shared page */
			if (ch[n - 1].end - ch[n - 1].start > CVMM_PAGE_SIZE) {
				ch[n - 1].end = start;
				ch[n] = (ldr_chunk_t){ start, start + CVMM_PAGE_SIZE,
						       ch[n - 1].prot };
				n++;
			}
			ch[n - 1].prot |= s->prot;
			start = ch[n - 1].end;
		}
		if (start < end)
			ch[n++] = (ldr_chunk_t){ start, end, s->prot };
	}
	return n;
}

/* Writes n bytes at guest address at into the memory file (pwrite: no
 * page of either view is faulted in). False when there is no memory file
 * (unit tests) or a write fell short: the caller copies instead. */
static bool ldr_write_file(gmem_t *gm, uint64_t at, const void *src,
			   size_t n)
{
	ssize_t w;

	while (gm->memfd >= 0 && n > 0) {
		w = pwrite(gm->memfd, src, n, (off_t)at);
		if (w <= 0)
			return false;
		at += (uint64_t)w;
		src = (const char *)src + w;
		n -= (size_t)w;
	}
	return n == 0;
}

static cvmm_status_t ldr_map_segments(gmem_t *gm, const loader_image_t *img,
				      char *err, size_t errlen)
{
	ldr_chunk_t ch[LDR_MAX_CHUNKS];
	const loader_seg_t *s;
	unsigned n = ldr_plan_chunks(img, ch);
	char ebuf[128];
	long r;

	for (unsigned i = 0; i < n; i++) {
		r = gmem_map_fixed(gm, ch[i].start, ch[i].end - ch[i].start,
				   ch[i].prot, GMEM_VMA_ELF);
		if (r < 0)
			return ldr_fail(err, errlen, CVMM_ERR_IO,
					"cannot map segment 0x%" PRIx64 "-0x%" PRIx64 ": %s",
					ch[i].start, ch[i].end,
					ldr_errstr((int)-r, ebuf,
						   sizeof(ebuf)));
	}
	/* Fresh guest memory reads as zeros: bss needs no clearing. The
	 * bytes go into the memory file directly (memfd offset = guest
	 * address): copied through the agent view they cost a fault per
	 * page there, then another in the guest view (docs/performance.md,
	 * "First touch"); the guest view is then populated in one call. */
	for (unsigned i = 0; i < img->nsegs; i++) {
		s = &img->segs[i];
		if (s->filesz && !ldr_write_file(gm, s->vaddr,
						 img->file + s->offset,
						 s->filesz))
			memcpy(gmem_agent(s->vaddr), img->file + s->offset,
			       s->filesz);
	}
	for (unsigned i = 0; i < n; i++)
		gmem_populate(gm, ch[i].start, ch[i].end,
			      (ch[i].prot & PROT_WRITE) != 0);
	return CVMM_OK;
}

/* Counts the strings of a NULL-terminated vector (v may be NULL) and adds
 * their sizes to *bytes; false once *bytes passes LDR_ARG_MAX. */
static bool ldr_count_strv(char *const *v, size_t *count, size_t *bytes)
{
	size_t n;

	for (n = 0; v && v[n]; n++) {
		*bytes += strlen(v[n]) + 1;
		if (*bytes > LDR_ARG_MAX)
			return false;
	}
	*count = n;
	return true;
}

/* Writes one word at the guest address *cur and advances it. */
static void ldr_put(uint64_t *cur, uint64_t val)
{
	memcpy(gmem_agent(*cur), &val, sizeof(val));
	*cur += sizeof(val);
}

/* Copies the n strings of v to *str (ascending) and their addresses to *cur,
 * then a NULL pointer. */
static void ldr_put_strv(uint64_t *cur, uint64_t *str, char *const *v,
			 size_t n)
{
	size_t l;

	for (size_t i = 0; i < n; i++) {
		l = strlen(v[i]) + 1;
		memcpy(gmem_agent(*str), v[i], l);
		ldr_put(cur, *str);
		*str += l;
	}
	ldr_put(cur, 0);
}

static uint64_t ldr_put_bytes(uint64_t at, const void *src, size_t n)
{
	memcpy(gmem_agent(at), src, n);
	return at;
}

/* Fills the auxiliary vector in Linux's order: AT_SYSINFO_EHDR first when
 * there is a vDSO, AT_NULL last. Returns the number of pairs, at most
 * LDR_NAUX. */
static unsigned ldr_fill_auxv(uint64_t *aux, const loader_image_t *img,
			      uint64_t vdso, uint64_t at_random,
			      uint64_t execfn, uint64_t platform)
{
	const uint64_t v[(LDR_NAUX - 1) * 2] = {
		AT_PHDR, img->phdr,	 AT_PHENT, img->phent,
		AT_PHNUM, img->phnum,	 AT_PAGESZ, CVMM_PAGE_SIZE,
		AT_BASE, 0,		 AT_FLAGS, 0,
		AT_ENTRY, img->entry,	 AT_RANDOM, at_random,
		AT_HWCAP, getauxval(AT_HWCAP),
		AT_HWCAP2, getauxval(AT_HWCAP2),
		AT_CLKTCK, (uint64_t)sysconf(_SC_CLK_TCK),
		AT_UID, getuid(),	 AT_EUID, geteuid(),
		AT_GID, getgid(),	 AT_EGID, getegid(),
		AT_SECURE, 0,		 AT_EXECFN, execfn,
		AT_PLATFORM, platform,	 AT_NULL, 0,
	};
	unsigned n = 0;

	if (vdso) {
		aux[n++] = AT_SYSINFO_EHDR;
		aux[n++] = vdso;
	}
	memcpy(aux + n, v, sizeof(v));
	return n / 2 + LDR_NAUX - 1;
}

/* Writes the initial stack below GMEM_STACK_TOP (8 zero bytes at the top,
 * then execfn, argv and envp strings, "x86_64", 16 random bytes, then argc,
 * argv[], envp[] and auxv from a 16-byte aligned *rsp). */
static cvmm_status_t ldr_write_stack(const loader_image_t *img,
				     const ldr_args_t *a, uint64_t *rsp,
				     char *err, size_t errlen)
{
	static const char platform[] = "x86_64";
	size_t fnlen = strlen(a->execfn) + 1;
	uint64_t aux[LDR_NAUX * 2], rnd[2], top, str, cur, at_rnd, at_fn, at_pl;
	unsigned naux = LDR_NAUX - (a->vdso ? 0 : 1);
	size_t words = 3 + a->argc + a->envc + naux * 2;
	char ebuf[128];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return ldr_fail(err, errlen, CVMM_ERR_IO,
				"cannot get random bytes: %s",
				ldr_errstr(errno, ebuf, sizeof(ebuf)));
	top = GMEM_STACK_TOP - sizeof(uint64_t);
	at_fn = ldr_put_bytes(top - fnlen, a->execfn, fnlen);
	str = at_fn - a->strbytes;
	at_pl = ldr_put_bytes(str - sizeof(platform), platform,
			      sizeof(platform));
	at_rnd = ldr_put_bytes(at_pl - sizeof(rnd), rnd, sizeof(rnd));
	cur = (at_rnd - words * sizeof(uint64_t)) & ~15UL;
	*rsp = cur;
	ldr_put(&cur, a->argc);
	ldr_put_strv(&cur, &str, a->argv, a->argc);
	ldr_put_strv(&cur, &str, a->envp, a->envc);
	naux = ldr_fill_auxv(aux, img, a->vdso, at_rnd, at_fn, at_pl);
	for (unsigned i = 0; i < naux * 2; i++)
		ldr_put(&cur, aux[i]);
	return CVMM_OK;
}

/* Counts argv and envp; Linux's limit: the strings and their pointers fit
 * in a quarter of the stack. */
static cvmm_status_t ldr_count_args(ldr_args_t *a, char *err, size_t errlen)
{
	size_t fnlen = strlen(a->execfn) + 1;

	if (fnlen > LDR_ARG_MAX ||
	    !ldr_count_strv(a->argv, &a->argc, &a->strbytes) ||
	    !ldr_count_strv(a->envp, &a->envc, &a->strbytes) ||
	    a->strbytes + fnlen + (a->argc + a->envc) * sizeof(uint64_t) >
		    LDR_ARG_MAX)
		return ldr_fail(err, errlen, CVMM_ERR_RANGE,
				"argument list too long");
	return CVMM_OK;
}

/* Maps the main stack and builds argc, argv, envp and auxv on it. */
static cvmm_status_t ldr_build_stack(gmem_t *gm, const loader_image_t *img,
				     const ldr_args_t *a, uint64_t *rsp,
				     char *err, size_t errlen)
{
	int prot = PROT_READ | PROT_WRITE | (img->exec_stack ? PROT_EXEC : 0);
	char ebuf[128];
	long r;

	r = gmem_map_fixed(gm, GMEM_STACK_TOP - GMEM_STACK_SIZE,
			   GMEM_STACK_SIZE, prot, GMEM_VMA_STACK);
	if (r < 0)
		return ldr_fail(err, errlen, CVMM_ERR_IO,
				"cannot map the stack: %s",
				ldr_errstr((int)-r, ebuf, sizeof(ebuf)));
	/* the top of the stack, which every program uses at once */
	gmem_populate(gm, GMEM_STACK_TOP - LDR_STACK_POPULATE, GMEM_STACK_TOP,
		      true);
	return ldr_write_stack(img, a, rsp, err, errlen);
}

cvmm_status_t loader_load(gmem_t *gm, const char *path, char *const argv[],
			  char *const envp[], guest_regs_t *regs,
			  loader_image_t *img, char *err, size_t errlen)
{
	ldr_args_t args = { .argv = argv, .envp = envp, .execfn = path };
	const uint8_t *file = NULL;
	loader_image_t im;
	cvmm_status_t st;
	size_t len = 0;
	uint64_t rsp = 0;

	st = ldr_open(path, &file, &len, err, errlen);
	if (st)
		return st;
	st = loader_parse(file, len, &im, err, errlen);
	if (!st)
		st = ldr_count_args(&args, err, errlen);
	if (st)
		goto err_unmap;
	st = ldr_map_segments(gm, &im, err, errlen);
	if (st)
		goto err_unmap;
	gmem_set_brk(gm, im.hi);
	gmem_set_tls(gm, im.tls_memsz);
	args.vdso = vdso_load ? vdso_load(gm) : 0;
	st = ldr_build_stack(gm, &im, &args, &rsp, err, errlen);
	if (st)
		goto err_unmap;
	memset(regs, 0, sizeof(*regs));
	regs->rip = im.entry;
	regs->rsp = rsp;
	regs->rflags = 0x202;
	*img = im;
	log_debug("loaded %s at 0x%" PRIx64 "-0x%" PRIx64 " entry 0x%" PRIx64,
		  path, im.lo, im.hi, im.entry);
	return CVMM_OK;

err_unmap:
	if (file)
		munmap((void *)file, len);
	return st;
}
