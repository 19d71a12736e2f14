/* Fuzz-only link stubs. The fuzz target calls loader_parse() and
 * loader_symbolize() alone, but loader.c also holds loader_load(), which
 * refers to these guest-memory calls; they are never reached and abort if
 * they ever are. Not part of the agent or of any other test. */
#include <stdlib.h>

#include "core/gmem.h"

long gmem_map_fixed(gmem_t *gm, uint64_t addr, size_t len, int prot,
		    int vflags)
{
	(void)gm;
	(void)addr;
	(void)len;
	(void)prot;
	(void)vflags;
	abort();
}

void gmem_set_brk(gmem_t *gm, uint64_t start)
{
	(void)gm;
	(void)start;
	abort();
}

void gmem_set_tls(gmem_t *gm, uint64_t tls_memsz)
{
	(void)gm;
	(void)tls_memsz;
	abort();
}

void gmem_populate(gmem_t *gm, uint64_t start, uint64_t end, bool write)
{
	(void)gm;
	(void)start;
	(void)end;
	(void)write;
	abort();
}
