/* UCX (libucp.so.0, with libuct, libucs and libucm), loaded on first use
 * (rdma/dl.h). Call sites go through the table: ucx.ucp_worker_progress(w).
 * Only exported functions are here: UCX's inline functions and macros
 * (UCS_PTR_IS_ERR, ucp_dt_make_contig, the request parameters) are used as
 * they are, and ucp_init, an inline wrapper, is
 * ucx.ucp_init_version(UCP_API_MAJOR, UCP_API_MINOR, ...). */
#ifndef CVMM_RDMA_DL_UCX_H
#define CVMM_RDMA_DL_UCX_H

#include <ucp/api/ucp.h>
#include <uct/api/uct.h>

#include "rdma/dl.h"

#define DL_UCX_SONAME "libucp.so.0"

#define DL_UCX_FUNCS(X)                                                        \
	X(ucp_am_recv_data_nbx)                                                \
	X(ucp_am_send_nbx)                                                     \
	X(ucp_atomic_op_nbx)                                                   \
	X(ucp_cleanup)                                                         \
	X(ucp_config_modify)                                                   \
	X(ucp_config_read)                                                     \
	X(ucp_config_release)                                                  \
	X(ucp_context_print_info)                                              \
	X(ucp_ep_close_nbx)                                                    \
	X(ucp_ep_create)                                                       \
	X(ucp_ep_flush_nbx)                                                    \
	X(ucp_ep_print_info)                                                   \
	X(ucp_ep_rkey_unpack)                                                  \
	X(ucp_get_nbx)                                                         \
	X(ucp_get_version_string)                                              \
	X(ucp_init_version)                                                    \
	X(ucp_mem_map)                                                         \
	X(ucp_mem_unmap)                                                       \
	X(ucp_put_nbx)                                                         \
	X(ucp_request_check_status)                                            \
	X(ucp_request_free)                                                    \
	X(ucp_rkey_buffer_release)                                             \
	X(ucp_rkey_destroy)                                                    \
	X(ucp_rkey_pack)                                                       \
	X(ucp_worker_arm)                                                      \
	X(ucp_worker_create)                                                   \
	X(ucp_worker_destroy)                                                  \
	X(ucp_worker_get_address)                                              \
	X(ucp_worker_get_efd)                                                  \
	X(ucp_worker_progress)                                                 \
	X(ucp_worker_query)                                                    \
	X(ucp_worker_release_address)                                          \
	X(ucp_worker_set_am_recv_handler)                                      \
	X(ucp_worker_signal)                                                   \
	X(ucs_status_string)                                                   \
	X(uct_component_query)                                                 \
	X(uct_config_release)                                                  \
	X(uct_md_close)                                                        \
	X(uct_md_config_read)                                                  \
	X(uct_md_open)                                                         \
	X(uct_md_query_tl_resources)                                           \
	X(uct_query_components)                                                \
	X(uct_release_component_list)                                          \
	X(uct_release_tl_resource_list)

struct ucx_api {
	DL_UCX_FUNCS(DL_FIELD)
};

/* Filled by ucx_load; empty before. */
extern struct ucx_api ucx;

/* Loads UCX once (dl_load): CVMM_OK, or CVMM_ERR_UNSUPPORTED after the
 * line "cannot load libucp.so.0: WHY; multi-node runs need UCX" at level. */
cvmm_status_t ucx_load(log_level_t level);
/* "cannot load libucp.so.0: WHY" after a failed ucx_load, else "". */
const char *ucx_load_error(void);

#endif
