/* Unit tests of the ELF parser and symbolizer (core/loader.c) on bytes alone:
 * a minimal valid image generated here, a corpus of broken images mutated
 * from it, and the real static and static-pie guests when they were built
 * (build/guests/hello and hello.pie, or $CVMM_GUESTS/...). loader_load needs
 * the guest memory windows and is covered by the integration tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/loader.h"

/* Layout of the generated image (file offsets). */
#define T_BASE     0x400000UL
#define OFF_PH     0x40
#define OFF_CODE   0x100
#define OFF_INTERP 0x120
#define OFF_DATA   0x180
#define OFF_STR    0x190
#define OFF_SYM    0x1a8
#define OFF_SH     0x1f0
#define T_NSH      5
#define T_LEN      (OFF_SH + T_NSH * sizeof(Elf64_Shdr))
#define DATA_VADDR 0x1180 /* relative to the base, same page offset as 0x180 */

enum { PH_TEXT, PH_DATA, PH_STACK, T_NPH };

typedef struct timg {
	_Alignas(16) uint8_t b[0x1000];
	size_t len;
} timg_t;

static const char t_strtab[] = "\0_start\0data_obj"; /* 17 bytes with NUL */
static const char t_interp[] = "/lib64/ld-linux-x86-64.so.2";

static Elf64_Ehdr *t_eh(timg_t *t)
{
	return (Elf64_Ehdr *)t->b;
}

static Elf64_Phdr *t_ph(timg_t *t, int i)
{
	return (Elf64_Phdr *)(t->b + OFF_PH) + i;
}

static Elf64_Shdr *t_sh(timg_t *t, int i)
{
	return (Elf64_Shdr *)(t->b + OFF_SH) + i;
}

static Elf64_Sym *t_sym(timg_t *t, int i)
{
	return (Elf64_Sym *)(t->b + OFF_SYM) + i;
}

static void t_gen_ehdr(timg_t *t, uint16_t type, uint64_t base)
{
	Elf64_Ehdr *eh = t_eh(t);

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = type;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = base + OFF_CODE;
	eh->e_phoff = OFF_PH;
	eh->e_shoff = OFF_SH;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = T_NPH;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = T_NSH;
}

static void t_gen_phdrs(timg_t *t, uint64_t base)
{
	*t_ph(t, PH_TEXT) = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
		.p_vaddr = base, .p_paddr = base, .p_filesz = 0x110,
		.p_memsz = 0x110, .p_align = 0x1000,
	};
	*t_ph(t, PH_DATA) = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_W,
		.p_offset = OFF_DATA, .p_vaddr = base + DATA_VADDR,
		.p_paddr = base + DATA_VADDR, .p_filesz = 0x10,
		.p_memsz = 0x1000, .p_align = 0x1000,
	};
	*t_ph(t, PH_STACK) = (Elf64_Phdr){
		.p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W, .p_align = 16,
	};
}

static void t_gen_syms(timg_t *t, uint64_t base)
{
	memcpy(t->b + OFF_STR, t_strtab, sizeof(t_strtab));
	*t_sym(t, 1) = (Elf64_Sym){
		.st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
		.st_shndx = 1, .st_value = base + OFF_CODE, .st_size = 9,
	};
	*t_sym(t, 2) = (Elf64_Sym){
		.st_name = 8, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT),
		.st_shndx = 2, .st_value = base + DATA_VADDR, .st_size = 16,
	};
	*t_sh(t, 1) = (Elf64_Shdr){ .sh_type = SHT_PROGBITS,
		.sh_flags = SHF_ALLOC | SHF_EXECINSTR,
		.sh_addr = base + OFF_CODE, .sh_offset = OFF_CODE,
		.sh_size = 0x10 };
	*t_sh(t, 2) = (Elf64_Shdr){ .sh_type = SHT_PROGBITS,
		.sh_flags = SHF_ALLOC | SHF_WRITE, .sh_addr = base + DATA_VADDR,
		.sh_offset = OFF_DATA, .sh_size = 0x10 };
	*t_sh(t, 3) = (Elf64_Shdr){ .sh_type = SHT_SYMTAB,
		.sh_offset = OFF_SYM, .sh_size = 3 * sizeof(Elf64_Sym),
		.sh_link = 4, .sh_info = 1, .sh_entsize = sizeof(Elf64_Sym) };
	*t_sh(t, 4) = (Elf64_Shdr){ .sh_type = SHT_STRTAB,
		.sh_offset = OFF_STR, .sh_size = sizeof(t_strtab) };
}

/* A minimal static program: exit(0), 16 data bytes, 4 KiB of bss, a symtab.
 * base is the link address (0 for the static-pie flavour). */
static void t_gen(timg_t *t, uint16_t type, uint64_t base)
{
	static const uint8_t code[] = { 0xb8, 0x3c, 0, 0, 0, /* mov $60,%eax */
					0x31, 0xff,          /* xor %edi,%edi */
					0x0f, 0x05 };        /* syscall */

	memset(t, 0, sizeof(*t));
	t_gen_ehdr(t, type, base);
	t_gen_phdrs(t, base);
	memcpy(t->b + OFF_CODE, code, sizeof(code));
	memcpy(t->b + OFF_INTERP, t_interp, sizeof(t_interp));
	memcpy(t->b + OFF_DATA, "cvmm test data!", 16);
	t_gen_syms(t, base);
	t->len = T_LEN;
}

static void t_exec(timg_t *t)
{
	t_gen(t, ET_EXEC, T_BASE);
}

static cvmm_status_t t_parse(const timg_t *t, loader_image_t *img, char *err,
			     size_t errlen)
{
	err[0] = '\0';
	return loader_parse(t->b, t->len, img, err, errlen);
}

/* Parses t and checks the status and that err contains sub. */
static void t_expect(const timg_t *t, cvmm_status_t want, const char *sub)
{
	loader_image_t img;
	char err[256];
	cvmm_status_t st = t_parse(t, &img, err, sizeof(err));

	if (st != want || !strstr(err, sub))
		print_message("len %zu: status %d \"%s\", wanted %d \"%s\"\n",
			      t->len, st, err, want, sub);
	assert_int_equal(st, want);
	assert_non_null(strstr(err, sub));
}

static void t_expect_ok(const timg_t *t, loader_image_t *img)
{
	char err[256];
	cvmm_status_t st = t_parse(t, img, err, sizeof(err));

	if (st != CVMM_OK)
		print_message("unexpected failure: %s\n", err);
	assert_int_equal(st, CVMM_OK);
}

/* ---- valid images ------------------------------------------------------- */

static void test_valid_exec(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_expect_ok(&t, &img);
	assert_false(img.pie);
	assert_int_equal(img.bias, 0);
	assert_int_equal(img.entry, T_BASE + OFF_CODE);
	assert_int_equal(img.phdr, T_BASE + OFF_PH);
	assert_int_equal(img.phent, sizeof(Elf64_Phdr));
	assert_int_equal(img.phnum, T_NPH);
	assert_int_equal(img.lo, T_BASE);
	assert_int_equal(img.hi, T_BASE + 0x3000);
	assert_false(img.exec_stack);
	assert_int_equal(img.nsegs, 2);
	assert_int_equal(img.segs[0].vaddr, T_BASE);
	assert_int_equal(img.segs[0].prot, PROT_READ | PROT_EXEC);
	assert_int_equal(img.segs[1].vaddr, T_BASE + DATA_VADDR);
	assert_int_equal(img.segs[1].offset, OFF_DATA);
	assert_int_equal(img.segs[1].filesz, 0x10);
	assert_int_equal(img.segs[1].memsz, 0x1000);
	assert_int_equal(img.segs[1].prot, PROT_READ | PROT_WRITE);
	assert_ptr_equal(img.file, t.b);
	assert_int_equal(img.file_len, T_LEN);
}

static void test_valid_pie(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_gen(&t, ET_DYN, 0);
	t_expect_ok(&t, &img);
	assert_true(img.pie);
	assert_int_equal(img.bias, GMEM_PIE_BASE);
	assert_int_equal(img.entry, GMEM_PIE_BASE + OFF_CODE);
	assert_int_equal(img.phdr, GMEM_PIE_BASE + OFF_PH);
	assert_int_equal(img.lo, GMEM_PIE_BASE);
	assert_int_equal(img.hi, GMEM_PIE_BASE + 0x3000);
	assert_int_equal(img.segs[1].vaddr, GMEM_PIE_BASE + DATA_VADDR);
}

/* A pie linked at a high address still lands at GMEM_PIE_BASE (the bias
 * wraps around modulo 2^64). */
static void test_valid_pie_high_link(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_gen(&t, ET_DYN, 0x100000000000UL);
	t_expect_ok(&t, &img);
	assert_int_equal(img.entry, GMEM_PIE_BASE + OFF_CODE);
	assert_int_equal(img.lo, GMEM_PIE_BASE);
	assert_int_equal(img.bias + 0x100000000000UL, GMEM_PIE_BASE);
}

static void test_exec_stack(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_STACK)->p_flags |= PF_X;
	t_expect_ok(&t, &img);
	assert_true(img.exec_stack);
}

/* Segments may share a page as long as no byte is in both. */
static void test_shared_page(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_vaddr = T_BASE + OFF_DATA;
	t_expect_ok(&t, &img);
	assert_int_equal(img.lo, T_BASE);
	assert_int_equal(img.hi, T_BASE + 0x2000);
}

/* Empty PT_LOADs are ignored; the window edges are inclusive. */
static void test_edges(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_STACK)->p_type = PT_LOAD;
	t_expect_ok(&t, &img);
	assert_int_equal(img.nsegs, 2);
	t_gen(&t, ET_EXEC, GMEM_LO);
	t_expect_ok(&t, &img);
	t_gen(&t, ET_EXEC, GMEM_MMAP_TOP - 0x3000);
	t_ph(&t, PH_DATA)->p_memsz = 0x1e80; /* ends exactly at the top */
	t_expect_ok(&t, &img);
	assert_int_equal(img.hi, GMEM_MMAP_TOP);
	t_ph(&t, PH_DATA)->p_memsz = 0x1e81; /* one byte over */
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "outside the guest window");
}

/* No PT_LOAD maps the headers: AT_PHDR from PT_PHDR, else 0. */
static void test_phdr_fallback(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_TEXT)->p_offset = OFF_CODE;
	t_ph(&t, PH_TEXT)->p_vaddr = T_BASE + OFF_CODE;
	t_ph(&t, PH_TEXT)->p_filesz = 0x10;
	t_ph(&t, PH_TEXT)->p_memsz = 0x10;
	t_expect_ok(&t, &img);
	assert_int_equal(img.phdr, 0);
	t_ph(&t, PH_STACK)->p_type = PT_PHDR;
	t_ph(&t, PH_STACK)->p_vaddr = T_BASE + 0x5040;
	t_expect_ok(&t, &img);
	assert_int_equal(img.phdr, T_BASE + 0x5040);
}

static void test_max_segments(void **state)
{
	Elf64_Phdr *ph;
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_eh(&t)->e_shnum = 0;
	t_eh(&t)->e_phnum = LOADER_MAX_SEGS;
	t_eh(&t)->e_entry = T_BASE;
	for (int i = 0; i <= LOADER_MAX_SEGS; i++) {
		ph = t_ph(&t, i);
		*ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R,
			.p_vaddr = T_BASE + (uint64_t)i * 0x1000,
			.p_memsz = 0x1000, .p_align = 0x1000 };
	}
	t_ph(&t, 0)->p_flags = PF_R | PF_X;
	t.len = OFF_PH + (LOADER_MAX_SEGS + 1) * sizeof(Elf64_Phdr);
	t_expect_ok(&t, &img);
	assert_int_equal(img.nsegs, LOADER_MAX_SEGS);
	t_eh(&t)->e_phnum = LOADER_MAX_SEGS + 1;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "more than 32 loadable segments");
}

/* ---- broken images ------------------------------------------------------ */

static void test_bad_ident(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t.b[1] = 'X';
	t_expect(&t, CVMM_ERR_INVALID, "not an ELF file");
	t_exec(&t);
	t.b[EI_CLASS] = ELFCLASS32;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "not a 64-bit ELF file");
	t_exec(&t);
	t.b[EI_DATA] = ELFDATA2MSB;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "not a little-endian ELF file");
	t_exec(&t);
	t.b[EI_VERSION] = 2;
	t_expect(&t, CVMM_ERR_INVALID, "unknown ELF version");
	t_exec(&t);
	t_eh(&t)->e_version = 0;
	t_expect(&t, CVMM_ERR_INVALID, "unknown ELF version");
}

static void test_bad_machine_type(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_eh(&t)->e_machine = EM_AARCH64;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "not an x86-64 program");
	t_exec(&t);
	t_eh(&t)->e_machine = EM_386;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "not an x86-64 program");
	t_exec(&t);
	t_eh(&t)->e_type = ET_REL;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "relocatable object");
	t_exec(&t);
	t_eh(&t)->e_type = ET_CORE;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "core dump");
}

static void test_interp(void **state)
{
	Elf64_Phdr *ph;
	timg_t t;

	(void)state;
	t_gen(&t, ET_DYN, 0);
	ph = t_ph(&t, PH_STACK);
	ph->p_type = PT_INTERP;
	ph->p_offset = OFF_INTERP;
	ph->p_filesz = sizeof(t_interp);
	t_expect(&t, CVMM_ERR_UNSUPPORTED,
		 "dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2): "
		 "not supported yet");
	/* the path lies outside the file: no path printed */
	ph->p_offset = t.len;
	t_expect(&t, CVMM_ERR_UNSUPPORTED,
		 "dynamically linked (PT_INTERP): not supported yet");
	/* unterminated, unprintable and running past the end: bounded */
	memcpy(t.b + t.len - 4, "ab\001c", 4);
	ph->p_offset = t.len - 4;
	ph->p_filesz = 1UL << 40;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "(PT_INTERP ab?c): not");
}

/* Every prefix of a valid image that cuts its headers or segment data is
 * rejected with a reason; the missing section table only loses symbols. */
static void test_truncated(void **state)
{
	loader_image_t img;
	char err[256];
	timg_t t;

	(void)state;
	t_exec(&t);
	for (size_t len = 0; len < OFF_DATA + 0x10; len++) {
		err[0] = '\0';
		assert_int_not_equal(loader_parse(t.b, len, &img, err,
						  sizeof(err)), CVMM_OK);
		assert_true(err[0] >= 'a' && err[0] <= 'z');
	}
	assert_int_not_equal(loader_parse(NULL, 0, &img, err, sizeof(err)),
			     CVMM_OK);
	t.len = 40;
	t_expect(&t, CVMM_ERR_INVALID, "truncated ELF header");
	t.len = 100;
	t_expect(&t, CVMM_ERR_INVALID, "truncated program headers");
	t.len = OFF_DATA + 0xf;
	t_expect(&t, CVMM_ERR_INVALID, "truncated segment data");
	t.len = OFF_DATA + 0x10;
	t_expect_ok(&t, &img);
	assert_false(loader_symbolize(&img, T_BASE + OFF_CODE, err, 8));
}

static void test_bad_phdr_table(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_eh(&t)->e_phnum = 0;
	t_expect(&t, CVMM_ERR_INVALID, "bad program header count");
	t_eh(&t)->e_phnum = 65;
	t_expect(&t, CVMM_ERR_INVALID, "bad program header count");
	t_eh(&t)->e_phnum = 0xffff;
	t_expect(&t, CVMM_ERR_INVALID, "bad program header count");
	t_exec(&t);
	t_eh(&t)->e_phentsize = 32;
	t_expect(&t, CVMM_ERR_INVALID, "bad program header size");
	t_exec(&t);
	t_eh(&t)->e_phoff = UINT64_MAX - 8;
	t_expect(&t, CVMM_ERR_INVALID, "truncated program headers");
	t_exec(&t);
	t_eh(&t)->e_phoff = t.len - sizeof(Elf64_Phdr);
	t_expect(&t, CVMM_ERR_INVALID, "truncated program headers");
}

static void test_bad_sizes(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_filesz = 0x1001;
	t_expect(&t, CVMM_ERR_INVALID, "file size above its memory size");
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_offset = 0x10180;
	t_expect(&t, CVMM_ERR_INVALID, "truncated segment data");
	t_exec(&t);
	/* page offset 0x180, so only the size check can catch it */
	t_ph(&t, PH_DATA)->p_offset = UINT64_MAX - 0xe7f;
	t_expect(&t, CVMM_ERR_INVALID, "truncated segment data");
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_memsz = (64UL << 30) + 1;
	t_expect(&t, CVMM_ERR_INVALID, "too large");
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_vaddr = 0xfffffffffffff180UL;
	t_expect(&t, CVMM_ERR_INVALID, "wraps around the address space");
	t_exec(&t);
	t_ph(&t, PH_DATA)->p_vaddr = T_BASE + 0x1100;
	t_expect(&t, CVMM_ERR_INVALID, "misaligned segment");
}

static void test_overlap(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_TEXT)->p_memsz = 0x1181;
	t_expect(&t, CVMM_ERR_INVALID, "segments overlap");
	t_exec(&t);
	*t_ph(&t, PH_STACK) = *t_ph(&t, PH_DATA); /* the same segment twice */
	t_expect(&t, CVMM_ERR_INVALID, "segments overlap");
}

static void test_outside_window(void **state)
{
	timg_t t;

	(void)state;
	t_gen(&t, ET_EXEC, 0x1000);
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "outside the guest window");
	t_gen(&t, ET_EXEC, GMEM_LO - 0x1000);
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "outside the guest window");
	t_gen(&t, ET_EXEC, 0x7f0000000000UL);
	t_expect(&t, CVMM_ERR_UNSUPPORTED,
		 "outside the guest window (would overlap the agent)");
	t_gen(&t, ET_EXEC, GMEM_MMAP_TOP - 0x2000);
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "outside the guest window");
	/* a pie whose extent does not fit above GMEM_PIE_BASE */
	t_gen(&t, ET_DYN, 0);
	t_ph(&t, PH_DATA)->p_vaddr = GMEM_HI + DATA_VADDR;
	t_expect(&t, CVMM_ERR_UNSUPPORTED, "outside the guest window");
}

static void test_bad_entry(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_eh(&t)->e_entry = T_BASE + DATA_VADDR; /* in the RW segment */
	t_expect(&t, CVMM_ERR_INVALID, "not in an executable segment");
	t_eh(&t)->e_entry = 0x300000;
	t_expect(&t, CVMM_ERR_INVALID, "not in an executable segment");
	t_eh(&t)->e_entry = T_BASE + 0x110; /* one past the end */
	t_expect(&t, CVMM_ERR_INVALID, "not in an executable segment");
}

static void test_no_load(void **state)
{
	timg_t t;

	(void)state;
	t_exec(&t);
	t_ph(&t, PH_TEXT)->p_type = PT_NOTE;
	t_ph(&t, PH_DATA)->p_type = PT_NOTE;
	t_expect(&t, CVMM_ERR_INVALID, "no loadable segment");
}

/* A NULL or zero-length err buffer is allowed. */
static void test_no_err_buffer(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t.b[0] = 0;
	assert_int_equal(loader_parse(t.b, t.len, &img, NULL, 0),
			 CVMM_ERR_INVALID);
}

/* ---- symbols ------------------------------------------------------------ */

static void t_sym_is(const loader_image_t *img, uint64_t addr,
		     const char *want)
{
	char buf[64] = "";
	bool ok = loader_symbolize(img, addr, buf, sizeof(buf));

	if (!want) {
		assert_false(ok);
		return;
	}
	assert_true(ok);
	assert_string_equal(buf, want);
}

static void test_symbolize(void **state)
{
	loader_image_t img;
	char small[4];
	timg_t t;

	(void)state;
	t_exec(&t);
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, "_start");
	t_sym_is(&img, T_BASE + OFF_CODE + 4, "_start+0x4");
	t_sym_is(&img, T_BASE + OFF_CODE + 9, NULL); /* past its size */
	t_sym_is(&img, T_BASE + DATA_VADDR + 15, "data_obj+0xf");
	t_sym_is(&img, T_BASE, NULL);
	assert_true(loader_symbolize(&img, T_BASE + OFF_CODE, small,
				     sizeof(small)));
	assert_string_equal(small, "_st");
	t_gen(&t, ET_DYN, 0);
	t_expect_ok(&t, &img);
	t_sym_is(&img, GMEM_PIE_BASE + OFF_CODE + 1, "_start+0x1");
	t_sym_is(&img, OFF_CODE + 1, NULL);
}

/* A size-0 symbol covers everything above it; a sized one wins inside. */
static void test_symbolize_unsized(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_sym(&t, 1)->st_size = 0;
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE + 0x20, "_start+0x20");
	t_sym_is(&img, T_BASE + DATA_VADDR + 1, "data_obj+0x1");
	t_sym_is(&img, T_BASE + DATA_VADDR + 0x20, "_start+0x10a0");
	t_sym_is(&img, img.hi - 1, "_start+0x2eff"); /* last byte */
	t_sym_is(&img, img.hi, NULL); /* past the image: heap, mappings */
	t_sym_is(&img, 0xfffe7cd000, NULL);
}

static void test_symbolize_broken(void **state)
{
	loader_image_t img;
	timg_t t;

	(void)state;
	t_exec(&t);
	t_sym(&t, 1)->st_name = 0x1000; /* name outside the string table */
	t_sym(&t, 2)->st_shndx = SHN_UNDEF;
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);
	t_sym_is(&img, T_BASE + DATA_VADDR, NULL);

	t_exec(&t);
	t_sh(&t, 4)->sh_size = 5; /* "_start" loses its NUL */
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);

	t_exec(&t);
	t_sh(&t, 3)->sh_size = 1UL << 40; /* symtab past the end */
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);

	t_exec(&t);
	t_sh(&t, 3)->sh_link = 99;
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);

	t_exec(&t);
	t_eh(&t)->e_shoff = UINT64_MAX - 10;
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);

	t_exec(&t);
	t_eh(&t)->e_shentsize = 40;
	t_expect_ok(&t, &img);
	t_sym_is(&img, T_BASE + OFF_CODE, NULL);
}

/* ---- real guests -------------------------------------------------------- */

typedef struct rfile {
	uint8_t *buf;
	size_t len;
} rfile_t;

static void r_open(const char *name, rfile_t *f)
{
	const char *dir = getenv("CVMM_GUESTS");
	char path[512];
	struct stat sb;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "build/guests",
		 name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size == 0) {
		print_message("skipped: %s not built (make guests; "
			      "CVMM_GUESTS names the directory)\n", path);
		if (fd >= 0)
			close(fd);
		skip();
	}
	f->len = (size_t)sb.st_size;
	f->buf = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(f->buf != MAP_FAILED);
}

/* The link-time value of the symbol called name, read independently of the
 * loader (the test trusts a real gcc output here). */
static uint64_t r_sym_value(const rfile_t *f, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->buf;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(f->buf + eh->e_shoff);
	const Elf64_Sym *sym;
	const char *str;

	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		sym = (const Elf64_Sym *)(f->buf + sh[i].sh_offset);
		str = (const char *)f->buf + sh[sh[i].sh_link].sh_offset;
		for (size_t j = 0; j < sh[i].sh_size / sizeof(*sym); j++)
			if (strcmp(str + sym[j].st_name, name) == 0)
				return sym[j].st_value;
	}
	fail_msg("no symbol %s", name);
	return 0;
}

/* Highest end of a PT_LOAD's file bytes: every shorter prefix must fail. */
static size_t r_min_len(const loader_image_t *img)
{
	size_t need = 0;

	for (unsigned i = 0; i < img->nsegs; i++)
		if (img->segs[i].offset + img->segs[i].filesz > need)
			need = img->segs[i].offset + img->segs[i].filesz;
	return need;
}

static void r_check(const char *name, bool pie)
{
	loader_image_t img, tmp;
	char err[256], sym[128];
	uint64_t main_at;
	rfile_t f;

	r_open(name, &f); /* skips the test when the guest is not built */
	if (loader_parse(f.buf, f.len, &img, err, sizeof(err)) != CVMM_OK)
		fail_msg("%s: %s", name, err);
	assert_int_equal(img.pie, pie);
	assert_int_equal(img.lo, pie ? GMEM_PIE_BASE : 0x400000);
	assert_int_not_equal(img.phdr, 0);
	assert_true(img.nsegs >= 2);
	t_sym_is(&img, img.entry, "_start");
	main_at = r_sym_value(&f, "main") + img.bias;
	t_sym_is(&img, main_at, "main");
	assert_true(loader_symbolize(&img, main_at + 1, sym, sizeof(sym)));
	assert_string_equal(sym, "main+0x1");
	for (size_t len = 0; len < f.len; len += 61)
		assert_int_equal(loader_parse(f.buf, len, &tmp, err,
					      sizeof(err)) == CVMM_OK,
				 len >= r_min_len(&img));
	munmap(f.buf, f.len);
}

static void test_real_static(void **state)
{
	(void)state;
	r_check("hello", false);
}

static void test_real_static_pie(void **state)
{
	(void)state;
	r_check("hello.pie", true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_exec),
		cmocka_unit_test(test_valid_pie),
		cmocka_unit_test(test_valid_pie_high_link),
		cmocka_unit_test(test_exec_stack),
		cmocka_unit_test(test_shared_page),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_phdr_fallback),
		cmocka_unit_test(test_max_segments),
		cmocka_unit_test(test_bad_ident),
		cmocka_unit_test(test_bad_machine_type),
		cmocka_unit_test(test_interp),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_phdr_table),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_outside_window),
		cmocka_unit_test(test_bad_entry),
		cmocka_unit_test(test_no_load),
		cmocka_unit_test(test_no_err_buffer),
		cmocka_unit_test(test_symbolize),
		cmocka_unit_test(test_symbolize_unsized),
		cmocka_unit_test(test_symbolize_broken),
		cmocka_unit_test(test_real_static),
		cmocka_unit_test(test_real_static_pie),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
