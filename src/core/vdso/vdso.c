/* cvmm's vDSO for the guest, the agent's side (vdso.h): the embedded
 * object (vdso_blob.S) copied into the guest window, its data page filled
 * with the host vDSO's entry points when that is safe.
 *
 * The host vDSO is the kernel's, mapped in this process: its dynamic
 * symbols are read in place (no dlvsym, no libdl). Its functions run in
 * the guest thread, on the guest's stack and FS, which the kernel's vDSO
 * code never touches beyond its own stack frame. */
#include "core/vdso/vdso.h"

#include <elf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "common/log.h"
#include "core/entry.h"
#include "core/vdso/vdso_data.h"
#include "core/vm.h"

/* vdso_blob.S: the shared object built from vdso_guest.c. */
extern const uint8_t cvmm_vdso_blob[], cvmm_vdso_blob_end[];

#define VDSO_MAX_IMAGE (64UL << 10)

/* The host vDSO's dynamic tables, at their addresses in this process. */
typedef struct vdso_dyn {
	uint64_t bias; /* load address minus link address */
	const Elf64_Sym *sym;
	const char *str;
	const uint32_t *hash;     /* DT_HASH, or NULL */
	const uint32_t *gnu_hash; /* DT_GNU_HASH, or NULL */
} vdso_dyn_t;

/* Symbols in a DT_GNU_HASH table: one past the end of the highest chain. */
static uint32_t vdso_gnu_nsyms(const uint32_t *gh)
{
	uint32_t nbuckets = gh[0], symoffset = gh[1], bloom = gh[2];
	const uint32_t *buckets = gh + 4 + 2 * bloom; /* 64-bit bloom words */
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;

	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

/* Finds the dynamic tables of the ELF image at ehdr, mapped as the kernel
 * maps its vDSO: in place, never relocated (every address in it is its
 * link address plus the bias of its first PT_LOAD). */
static bool vdso_dyn_find(uint64_t ehdr, vdso_dyn_t *d)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(uintptr_t)ehdr;
	const Elf64_Phdr *ph =
		(const Elf64_Phdr *)(uintptr_t)(ehdr + eh->e_phoff);
	const Elf64_Dyn *dyn;
	uint64_t dyn_vaddr = 0;
	bool load = false;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		return false;
	memset(d, 0, sizeof(*d));
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load) {
			d->bias = ehdr + ph[i].p_offset - ph[i].p_vaddr;
			load = true;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn_vaddr = ph[i].p_vaddr;
		}
	}
	if (!load || !dyn_vaddr)
		return false;
	for (dyn = (const Elf64_Dyn *)(uintptr_t)(dyn_vaddr + d->bias);
	     dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = (uintptr_t)(dyn->d_un.d_ptr + d->bias);

		switch (dyn->d_tag) {
		case DT_SYMTAB:
			d->sym = (const Elf64_Sym *)p;
			break;
		case DT_STRTAB:
			d->str = (const char *)p;
			break;
		case DT_HASH:
			d->hash = (const uint32_t *)p;
			break;
		case DT_GNU_HASH:
			d->gnu_hash = (const uint32_t *)p;
			break;
		}
	}
	return d->sym && d->str && (d->hash || d->gnu_hash);
}

uint64_t vdso_host_sym(uint64_t ehdr, const char *name)
{
	const Elf64_Sym *s;
	vdso_dyn_t d;
	uint32_t n;

	if (!ehdr || !vdso_dyn_find(ehdr, &d))
		return 0;
	n = d.hash ? d.hash[1] : vdso_gnu_nsyms(d.gnu_hash);
	/* the kernel exports each name once (version LINUX_2.6): the name
	 * alone decides */
	for (uint32_t i = 1; i < n; i++) {
		s = &d.sym[i];
		if (ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
		    s->st_shndx != SHN_UNDEF && s->st_value &&
		    strcmp(d.str + s->st_name, name) == 0)
			return s->st_value + d.bias;
	}
	return 0;
}

bool vdso_host_clocks_ok(void)
{
	/* With the seccomp entry a host vDSO address would hand the guest a
	 * syscall instruction outside its window, which that entry lets
	 * through to the host (docs/security.md); with Syscall User
	 * Dispatch it traps like any guest syscall. */
	return cvmm_vm.nnodes < 2 && !cvmm_vm.nodes &&
	       entry_mode_get() == ENTRY_SUD;
}

/* The data page: the host's entry points, or zeros (every call traps). */
static void vdso_data_fill(vdso_data_t *d, bool host)
{
	uint64_t ehdr = host ? getauxval(AT_SYSINFO_EHDR) : 0;

	memset(d, 0, sizeof(*d));
	d->magic = VDSO_DATA_MAGIC;
	d->clock_gettime = vdso_host_sym(ehdr, "__vdso_clock_gettime");
	d->gettimeofday = vdso_host_sym(ehdr, "__vdso_gettimeofday");
	d->time = vdso_host_sym(ehdr, "__vdso_time");
	d->clock_getres = vdso_host_sym(ehdr, "__vdso_clock_getres");
}

/* CVMM_VDSO: unset or "auto" gives the guest the vDSO, "off" does not. */
static bool vdso_wanted(void)
{
	const char *v = getenv("CVMM_VDSO");

	if (!v || !*v || strcmp(v, "auto") == 0)
		return true;
	if (strcmp(v, "off") == 0)
		return false;
	log_warn("CVMM_VDSO: unknown value '%s' (auto or off): auto", v);
	return true;
}

uint64_t vdso_load(gmem_t *gm)
{
	size_t len = (size_t)(cvmm_vdso_blob_end - cvmm_vdso_blob);
	uint64_t base = VDSO_GUEST_BASE, ehdr = base + VDSO_DATA_SIZE;
	bool host = vdso_host_clocks_ok();
	vdso_data_t d;
	long r;

	if (!vdso_wanted())
		return 0;
	if (len > VDSO_MAX_IMAGE)
		return 0; /* cannot happen: the build made it */
	r = gmem_map_fixed(gm, base, VDSO_DATA_SIZE, PROT_READ, 0);
	if (r < 0)
		goto err_log;
	r = gmem_map_fixed(gm, ehdr, CVMM_PAGE_UP(len), PROT_READ | PROT_EXEC,
			   0);
	if (r < 0)
		goto err_unmap;
	memcpy(gmem_agent(ehdr), cvmm_vdso_blob, len);
	vdso_data_fill(&d, host);
	memcpy(gmem_agent(base), &d, sizeof(d));
	log_info("guest vdso at 0x%" PRIx64 ": %s", ehdr,
		 !host             ? "time calls trap (several nodes or "
				     "seccomp entry)"
		 : d.clock_gettime ? "host clocks without a trap"
				   : "time calls trap (no host vdso)");
	return ehdr;

err_unmap:
	gmem_munmap(gm, base, VDSO_DATA_SIZE);
err_log:
	log_warn("no vdso for the guest: cannot map it at 0x%" PRIx64 ": %s",
		 base, strerror((int)-r));
	return 0;
}
