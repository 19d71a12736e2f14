/* cvmm status codes: CVMM_OK or a negative error. Syscall handlers never use
 * these; they return the guest's -errno. */
#ifndef CVMM_COMMON_STATUS_H
#define CVMM_COMMON_STATUS_H

typedef enum cvmm_status {
	CVMM_OK = 0,
	CVMM_ERR_INVALID = -1,   /* bad argument or malformed input */
	CVMM_ERR_NOMEM = -2,     /* allocation failed */
	CVMM_ERR_IO = -3,        /* a host system call failed */
	CVMM_ERR_UNSUPPORTED = -4, /* valid but not supported (yet) */
	CVMM_ERR_NOT_FOUND = -5,
	CVMM_ERR_EXISTS = -6,
	CVMM_ERR_TIMEOUT = -7,
	CVMM_ERR_RANGE = -8,     /* value or address out of range */
	CVMM_ERR_PEER = -9,      /* a peer misbehaved or was lost */
	CVMM_ERR_LAST = -10
} cvmm_status_t;

/* Returns a static lowercase description; never NULL. */
const char *cvmm_status_str(cvmm_status_t st);

#endif
