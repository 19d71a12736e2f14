/* Bootstrap internals shared by boot.c (API, rank detection, clients),
 * boot_sock.c (sockets, deadlines, framing), boot_launcher.c (the
 * coordinator server and the launcher) and boot_pmix.c (PMIx). Not for use
 * outside src/rdma/boot*.c. */
#ifndef CVMM_RDMA_BOOT_INT_H
#define CVMM_RDMA_BOOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/wire.h"
#include "rdma/boot.h"
#include "rdma/boot_wire.h"

#define BOOT_TIMEOUT_DEFAULT_MS 30000

/* One exchange method. allgather receives checked arguments and writes its
 * outputs only on success; fini releases priv (the boot_t is freed by the
 * caller). */
typedef struct boot_ops {
	const char *name;
	cvmm_status_t (*allgather)(boot_t *b, const void *mine, size_t len,
				   void ***all, size_t **lens);
	cvmm_status_t (*barrier)(boot_t *b);
	void (*fini)(boot_t *b);
} boot_ops_t;

struct boot {
	int rank;
	int size;
	uint64_t cookie;
	int timeout_ms;
	uint32_t seq; /* allgathers and barriers done so far */
	const boot_ops_t *ops;
	void *priv;
};

/* boot.c */
/* Fills *out from getrandom(); logs and returns CVMM_ERR_IO on failure. */
cvmm_status_t boot_cookie_random(uint64_t *out);
/* Allocates all[size] / lens[size]; every all[r] is a separate allocation
 * of at least one byte. Returns CVMM_ERR_NOMEM (logged). */
cvmm_status_t boot_table_alloc(int size, void ***all, size_t **lens);
/* Copies len bytes into a fresh table slot; false when out of memory. */
bool boot_table_set(void **all, size_t *lens, int r, const void *p,
		    size_t len);
void boot_table_free(int size, void **all, size_t *lens);

/* boot_sock.c: none of these log; the caller knows who the peer is. */
/* Milliseconds left until deadline, 0 once it passed; fits poll(). */
int boot_left_ms(uint64_t deadline);
/* "HOST:PORT" or "unix:/path" -> a listening socket (non-blocking,
 * close-on-exec). Port 0 and a missing host are refused. Logs. */
cvmm_status_t boot_sock_listen(const char *addr, int *out);
/* As boot_sock_listen; any_port: port 0 takes any free one. */
cvmm_status_t boot_sock_listen_port(const char *addr, bool any_port,
				    int *out);
/* Connects to addr, retrying while nobody listens yet, until timeout_ms
 * passed. The socket is non-blocking and close-on-exec. Logs. */
cvmm_status_t boot_sock_connect(const char *addr, int timeout_ms, int *out);
/* As boot_sock_connect; what names the other side in its lines. */
cvmm_status_t boot_sock_connect_to(const char *addr, const char *what,
				   int timeout_ms, int *out);
/* Whole-buffer I/O on a non-blocking socket until deadline. Return
 * CVMM_ERR_PEER when the peer closed, CVMM_ERR_TIMEOUT, or CVMM_ERR_IO
 * (errno set). */
cvmm_status_t boot_sock_read(int fd, void *buf, size_t len, uint64_t deadline);
cvmm_status_t boot_sock_write(int fd, const void *buf, size_t len,
			      uint64_t deadline);
/* A header and its payload (len bytes, may be NULL when len is 0). */
cvmm_status_t boot_sock_send(int fd, boot_wire_type_t type, uint32_t seq,
			     const void *payload, uint32_t len,
			     uint64_t deadline);
/* An IPv4 or IPv6 socket address as "1.2.3.4:5678" or "[::1]:5678";
 * false (buf untouched) for another family. */
struct sockaddr_storage;
bool boot_sock_ip_str(const struct sockaddr_storage *ss, char *buf,
		      size_t n);
/* "1.2.3.4:5678", "[::1]:5678" or "pid 123" (UNIX); cannot fail. */
void boot_sock_peer(int fd, char *buf, size_t n);
/* The path of a "unix:/path" address, or NULL. */
const char *boot_sock_unix_path(const char *addr);

/* boot_sock.c: the wire encoding of boot_wire.h. The encoders cannot fail;
 * each decoder takes the bytes received and refuses any other length than
 * its message's with CVMM_ERR_INVALID. None of them log. */
void boot_wire_hdr_pack(uint8_t raw[BOOT_WIRE_HDR_LEN], boot_wire_type_t type,
			uint32_t seq, uint32_t len);
/* CVMM_ERR_INVALID when len is not BOOT_WIRE_HDR_LEN (*h untouched) or the
 * magic or version is wrong (*h written, so the caller can log what came). */
cvmm_status_t boot_wire_hdr_decode(const void *buf, size_t len,
				   boot_wire_hdr_t *h);
void boot_wire_hello_pack(uint8_t raw[BOOT_WIRE_HELLO_LEN],
			  const boot_wire_hello_t *h);
/* CVMM_ERR_INVALID (*h untouched) when len is not BOOT_WIRE_HELLO_LEN. */
cvmm_status_t boot_wire_hello_decode(const void *buf, size_t len,
				     boot_wire_hello_t *h);
void boot_wire_abort_pack(uint8_t raw[BOOT_WIRE_ABORT_LEN], uint32_t reason,
			  uint32_t rank);
/* CVMM_ERR_INVALID (*a untouched) when len is not BOOT_WIRE_ABORT_LEN. */
cvmm_status_t boot_wire_abort_decode(const void *buf, size_t len,
				     boot_wire_abort_t *a);
/* Appends one TABLE entry (the length, then len bytes of blob) to w; w->bad
 * when it does not fit. */
void boot_wire_entry_put(wire_w_t *w, const void *blob, uint32_t len);
/* Consumes one TABLE entry from r: *blob points at its bytes inside r's
 * buffer, *len is at most BOOT_WIRE_BLOB_MAX. False, with r->bad set and
 * the outputs untouched, when the entry is cut short or its length is over
 * the limit (or r was bad already). */
bool boot_wire_entry_get(wire_r_t *r, const uint8_t **blob, uint32_t *len);

/* "was lost", "timed out", ...; never NULL. */
const char *boot_wire_reason_str(uint32_t reason);

/* boot_launcher.c: the coordinator server, one thread. It serves `size`
 * ranks at addr for any number of rounds until boot_srv_stop. With
 * local_fd, it also hands back one end of a socketpair that is rank 0's
 * connection, joined already (rank 0 of this process sends no HELLO).
 * Logs. */
typedef struct boot_srv boot_srv_t;
cvmm_status_t boot_srv_start(const char *addr, int size, uint64_t cookie,
			     int timeout_ms, int *local_fd, boot_srv_t **out);
/* Stops the thread, closes every connection, unlinks a UNIX socket. */
void boot_srv_stop(boot_srv_t *s);

/* boot_pmix.c */
/* True when the environment names a PMIx server. */
bool boot_pmix_present(void);
/* PMIx_Init and agreement with b->rank / b->size (size -1: from PMIx);
 * shares rank 0's cookie, generating it when !have_cookie. Returns
 * CVMM_ERR_UNSUPPORTED (logged as a warning) when no PMIx server answers,
 * so that the caller can fall back to the coordinator. */
cvmm_status_t boot_pmix_open(boot_t *b, bool have_cookie);

#endif
