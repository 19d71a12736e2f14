/* libFuzzer target: the ELF parser and symbolizer on arbitrary bytes. Besides
 * the sanitizers' checks, a parse that fails must give one of the two
 * documented statuses with a reason, and a parse that succeeds must describe
 * an image the loader could place: segments inside the guest window, entry
 * in an executable segment. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(cvmm_status_t st, const char *err, size_t errlen)
{
	if (st != CVMM_ERR_INVALID && st != CVMM_ERR_UNSUPPORTED)
		__builtin_trap();
	if (err[0] == '\0' || !memchr(err, '\0', errlen))
		__builtin_trap();
}

static void check_image(const loader_image_t *img)
{
	const loader_seg_t *s;
	bool entry_ok = false;

	if (img->nsegs == 0 || img->nsegs > LOADER_MAX_SEGS ||
	    img->lo % CVMM_PAGE_SIZE || img->hi % CVMM_PAGE_SIZE ||
	    img->lo < GMEM_LO || img->hi > GMEM_MMAP_TOP || img->lo >= img->hi)
		__builtin_trap();
	for (unsigned i = 0; i < img->nsegs; i++) {
		s = &img->segs[i];
		if (s->vaddr < img->lo || s->memsz > img->hi - s->vaddr ||
		    s->filesz > s->memsz || s->offset > img->file_len ||
		    s->filesz > img->file_len - s->offset)
			__builtin_trap();
		if ((s->prot & PROT_EXEC) && img->entry >= s->vaddr &&
		    img->entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok)
		__builtin_trap();
}

static void symbolize_some(const loader_image_t *img, const uint8_t *data,
			   size_t size)
{
	uint64_t addrs[4 + LOADER_MAX_SEGS] = { img->entry, img->lo,
						img->hi - 1, 0 };
	char small[5], buf[128];
	unsigned n = 4;

	if (size >= 8)
		memcpy(&addrs[3], data + size - 8, 8);
	for (unsigned i = 0; i < img->nsegs; i++)
		addrs[n++] = img->segs[i].vaddr + img->segs[i].memsz / 2;
	for (unsigned i = 0; i < n; i++) {
		if (loader_symbolize(img, addrs[i], buf, sizeof(buf)) &&
		    !memchr(buf, '\0', sizeof(buf)))
			__builtin_trap();
		if (loader_symbolize(img, addrs[i], small, sizeof(small)) &&
		    !memchr(small, '\0', sizeof(small)))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	loader_image_t img;
	char err[160];
	cvmm_status_t st;

	err[0] = '\0';
	st = loader_parse(data, size, &img, err, sizeof(err));
	if (st != CVMM_OK) {
		check_failure(st, err, sizeof(err));
		return 0;
	}
	check_image(&img);
	symbolize_some(&img, data, size);
	return 0;
}
