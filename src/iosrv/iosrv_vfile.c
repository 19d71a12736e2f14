/* Special guest paths: host devices passed through by exact path, virtual
 * read-only files describing the VM (served from a sealed memfd filled at
 * open), and /proc/self/exe. Everything else under /proc, /sys and /dev is
 * an ordinary path inside the root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/log.h"
#include "iosrv/iosrv.h"
#include "iosrv/iosrv_int.h"

#define CPU_DIR "/sys/devices/system/cpu/"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum { VF_ONLINE, VF_POSSIBLE, VF_PRESENT, VF_CPUINFO, VF_OSRELEASE, VF_N };

static const char *const vfile_paths[VF_N] = {
	[VF_ONLINE] = CPU_DIR "online",
	[VF_POSSIBLE] = CPU_DIR "possible",
	[VF_PRESENT] = CPU_DIR "present",
	[VF_CPUINFO] = "/proc/cpuinfo",
	[VF_OSRELEASE] = "/proc/sys/kernel/osrelease",
};

static const char *const dev_paths[] = {
	"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom",
};

/* The whole of a (proc) file whose size stat cannot tell; NULL on error. */
static char *file_slurp(const char *path)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !buf)
		goto err;
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len > 1)
			continue;
		p = realloc(buf, cap * 2);
		if (!p)
			goto err;
		buf = p;
		cap *= 2;
	}
	if (n < 0)
		goto err;
	buf[len] = '\0';
	close(fd);
	return buf;

err:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Host cpuinfo block idx (blocks end at a blank line) and its length,
 * including its last newline; NULL when there are fewer blocks. */
static const char *cpuinfo_block(const char *text, int idx, size_t *len)
{
	const char *p = text, *end;

	for (int i = 0;; i++) {
		while (*p == '\n')
			p++;
		if (!*p)
			return NULL;
		end = strstr(p, "\n\n");
		end = end ? end + 1 : p + strlen(p);
		if (i == idx) {
			*len = (size_t)(end - p);
			return p;
		}
		p = end;
	}
}

/* One block for vCPU cpu: its "processor" line renumbered. */
static void cpuinfo_emit(FILE *out, const char *blk, size_t len, int cpu)
{
	const char *nl = memchr(blk, '\n', len);

	if (nl && strncmp(blk, "processor", 9) == 0) {
		fprintf(out, "processor\t: %d\n", cpu);
		len -= (size_t)(nl + 1 - blk);
		blk = nl + 1;
	}
	fwrite(blk, 1, len, out);
	fputc('\n', out);
}

/* /proc/cpuinfo with exactly n processors: host block i for vCPU i, the
 * first host block again when the host has fewer. */
static char *cpuinfo_build(int n, size_t *len)
{
	static const char fallback[] = "processor\t: 0\n";
	char *host = file_slurp("/proc/cpuinfo"), *text = NULL;
	const char *blk;
	size_t blen;
	FILE *out = open_memstream(&text, len);

	if (!out)
		goto out_host;
	for (int i = 0; i < n; i++) {
		blk = host ? cpuinfo_block(host, i, &blen) : NULL;
		if (!blk && host)
			blk = cpuinfo_block(host, 0, &blen);
		if (!blk) {
			blk = fallback;
			blen = sizeof(fallback) - 1;
		}
		cpuinfo_emit(out, blk, blen, i);
	}
	if (fclose(out) != 0) {
		free(text);
		text = NULL;
	}
out_host:
	free(host);
	return text;
}

static char *vfile_text(const iosrv_t *s, int which, size_t *len)
{
	struct utsname u;
	char *t = NULL;
	int n;

	switch (which) {
	case VF_CPUINFO:
		return cpuinfo_build(s->nvcpus, len);
	case VF_OSRELEASE:
		n = uname(&u) == 0 ? asprintf(&t, "%s\n", u.release) : -1;
		break;
	default:
		n = s->nvcpus == 1 ? asprintf(&t, "0\n")
				   : asprintf(&t, "0-%d\n", s->nvcpus - 1);
		break;
	}
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return t;
}

cvmm_status_t iosrv_vfile_init(iosrv_t *s)
{
	iosrv_vfile_t *vf = calloc(VF_N, sizeof(*vf));

	if (!vf)
		return CVMM_ERR_NOMEM;
	s->vfiles = vf;
	s->nvfiles = VF_N;
	for (int i = 0; i < VF_N; i++) {
		vf[i].path = vfile_paths[i];
		vf[i].text = vfile_text(s, i, &vf[i].len);
		if (!vf[i].text)
			return CVMM_ERR_NOMEM; /* iosrv_vfile_fini frees */
	}
	return CVMM_OK;
}

void iosrv_vfile_fini(iosrv_t *s)
{
	for (int i = 0; i < s->nvfiles; i++)
		free(s->vfiles[i].text);
	free(s->vfiles);
	s->vfiles = NULL;
	s->nvfiles = 0;
}

iosrv_special_t iosrv_special_find(const iosrv_t *s, const char *norm,
				   const iosrv_vfile_t **vf)
{
	if (strncmp(norm, "/dev/", 5) == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(dev_paths); i++)
			if (strcmp(norm, dev_paths[i]) == 0)
				return IOSRV_SP_DEV;
		return IOSRV_SP_NONE;
	}
	if (strncmp(norm, "/proc/", 6) != 0 && strncmp(norm, "/sys/", 5) != 0)
		return IOSRV_SP_NONE;
	if (s->exe && strcmp(norm, "/proc/self/exe") == 0)
		return IOSRV_SP_EXE;
	for (int i = 0; i < s->nvfiles; i++) {
		if (strcmp(norm, s->vfiles[i].path) == 0) {
			*vf = &s->vfiles[i];
			return IOSRV_SP_VFILE;
		}
	}
	return IOSRV_SP_NONE;
}

/* The memfd fd reopened read-only, so that writes fail with EBADF as on a
 * real /proc file; fd itself when /proc is not there (the seals still
 * refuse writes). */
static int vfile_reopen_ro(int fd)
{
	char proc[32];
	int ro;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return fd;
	close(fd);
	return ro;
}

/* A sealed, read-only memfd holding vf's text, at offset 0. */
static long vfile_open(const iosrv_vfile_t *vf, int flags)
{
	const int seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
			  F_SEAL_SEAL;
	size_t done = 0;
	ssize_t n;
	int fd;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return -EEXIST;
	fd = memfd_create(strrchr(vf->path, '/') + 1,
			  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	for (; done < vf->len; done += (size_t)n) {
		n = write(fd, vf->text + done, vf->len - done);
		if (n <= 0)
			goto err_close;
	}
	if (fchmod(fd, 0444) < 0 || fcntl(fd, F_ADD_SEALS, seals) < 0)
		goto err_close;
	fd = vfile_reopen_ro(fd);
	if (lseek(fd, 0, SEEK_SET) < 0)
		goto err_close;
	return fd;

err_close:
	log_warn("virtual file %s: %m", vf->path);
	close(fd);
	return -EIO;
}

long iosrv_special_open(const iosrv_t *s, iosrv_special_t sp,
			const iosrv_vfile_t *vf, const char *norm, int flags)
{
	long fd;

	switch (sp) {
	case IOSRV_SP_VFILE:
		return vfile_open(vf, flags);
	case IOSRV_SP_DEV:
		fd = openat(AT_FDCWD, norm, flags | O_CLOEXEC, 0);
		break;
	case IOSRV_SP_EXE:
		/* the program is running: as Linux, no writer */
		if (!(flags & O_PATH) && (flags & O_ACCMODE) != O_RDONLY)
			return -ETXTBSY;
		fd = open(s->exe, (flags & O_PATH) | O_RDONLY | O_CLOEXEC);
		break;
	default:
		return -ENOENT;
	}
	return fd < 0 ? -errno : fd;
}
