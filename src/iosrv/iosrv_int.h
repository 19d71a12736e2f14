/* Internals shared by the iosrv files; not part of the API. */
#ifndef CVMM_IOSRV_IOSRV_INT_H
#define CVMM_IOSRV_IOSRV_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "iosrv/iosrv.h"

#define IOSRV_FILE_DIR   0x1 /* a directory: path is set */
#define IOSRV_FILE_BLOCK 0x2 /* pipe, socket or character device */

/* An open file (Linux's struct file): shared by the slots dup'ed from one
 * open and by requests in flight, freed with its host fd at the last put. */
typedef struct iosrv_file {
	int hostfd;
	int refs;      /* atomic */
	unsigned kind; /* IOSRV_FILE_* */
	char *path;    /* directories: the guest path it was opened as */
} iosrv_file_t;

typedef struct iosrv_slot {
	iosrv_file_t *file; /* NULL: fd free */
	bool cloexec;
} iosrv_slot_t;

/* A virtual read-only file, its content built at init. */
typedef struct iosrv_vfile {
	const char *path;
	char *text;
	size_t len;
} iosrv_vfile_t;

/* ---- iosrv.c: files and the descriptor table ---- */

/* Wraps hostfd (owned from now on, closed on failure) in a file with one
 * reference; dir_path is the guest path to keep if it is a directory.
 * Returns NULL with errno set. */
iosrv_file_t *iosrv_file_new(int hostfd, const char *dir_path);
iosrv_file_t *iosrv_file_get(iosrv_file_t *f);
void iosrv_file_put(iosrv_file_t *f);

/* Takes a reference to the file behind guest fd: 0 or -EBADF. */
long iosrv_fd_get(iosrv_t *s, int fd, iosrv_file_t **out);

/* Installs f at the lowest free fd >= minfd. Consumes the caller's reference
 * either way. Returns the fd or -EMFILE. */
long iosrv_fd_install(iosrv_t *s, iosrv_file_t *f, bool cloexec, int minfd);

/* ---- iosrv_path.c ---- */

/* Lexically normalizes the absolute path in into out (size IOSRV_PATH_MAX):
 * no ".", "..", empty components or trailing slash; "/" at the top. */
void iosrv_path_normalize(const char *in, char *out);

/* The guest path of host descriptor hostfd (which lies inside the root) into
 * out (IOSRV_PATH_MAX), from the kernel's name for it; fallback (already
 * normalized) when the kernel's name is not under the root. */
void iosrv_path_guest(const iosrv_t *s, int hostfd, const char *fallback,
		      char *out);

/* ---- iosrv_vfile.c: special paths ---- */

typedef enum iosrv_special {
	IOSRV_SP_NONE = 0, /* an ordinary path: resolve inside the root */
	IOSRV_SP_VFILE,    /* virtual file */
	IOSRV_SP_DEV,      /* host device passed through */
	IOSRV_SP_EXE,      /* /proc/self/exe */
} iosrv_special_t;

/* Builds the virtual files for s->nvcpus. CVMM_OK or CVMM_ERR_NOMEM. */
cvmm_status_t iosrv_vfile_init(iosrv_t *s);
void iosrv_vfile_fini(iosrv_t *s);

/* What the normalized guest path norm is; *vf is set for IOSRV_SP_VFILE. */
iosrv_special_t iosrv_special_find(const iosrv_t *s, const char *norm,
				   const iosrv_vfile_t **vf);

/* Opens special path norm of kind sp with open(2) flags: a host fd
 * (O_CLOEXEC) or -errno. */
long iosrv_special_open(const iosrv_t *s, iosrv_special_t sp,
			const iosrv_vfile_t *vf, const char *norm, int flags);

#endif
