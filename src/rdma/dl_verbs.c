/* libibverbs' table (dl_verbs.h). */
#include "rdma/dl_verbs.h"

struct verbs_api verbs;

#define DL_VERBS_SYM(f) DL_SYM(struct verbs_api, f)
static const dl_sym_t verbs_syms[] = { DL_VERBS_FUNCS(DL_VERBS_SYM) };

static dl_lib_t verbs_lib = DL_LIB_INIT(
	DL_VERBS_SONAME, "rdma devices are listed through libibverbs",
	verbs_syms, verbs);

cvmm_status_t verbs_load(log_level_t level)
{
	return dl_load(&verbs_lib, level);
}

const char *verbs_load_error(void)
{
	return dl_error(&verbs_lib);
}
