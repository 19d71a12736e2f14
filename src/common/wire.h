/* Fixed-width little-endian fields for every wire format between agents
 * (transport header, bootstrap, coherence, futex, node services).
 *
 * A message is encoded field by field into a byte buffer through a writer
 * and decoded through a reader, never by copying a host struct: the wire
 * layout is then independent of the compiler's padding and of the host's
 * byte order. A reader checks every read against the bytes received: a read
 * past the end sets r->bad and yields zeros, so a decoder reads all its
 * fields and checks once at the end (wire_r_done), and a short or long
 * message from a confused peer is refused, never read out of bounds.
 *
 * Each format keeps its message layout in its own *_wire.h with the encoded
 * size as a constant and a _Static_assert that its fields add up to it. */
#ifndef CVMM_COMMON_WIRE_H
#define CVMM_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes of field f of struct type t, for the _Static_assert that a format's
 * fields add up to its encoded size:
 *   _Static_assert(WIRE_SIZEOF(x_t, a) + WIRE_SIZEOF(x_t, b) == X_LEN, "");
 * With the encoder writing each field at its own width, a field widened in
 * the struct but not on the wire then fails to compile. */
#define WIRE_SIZEOF(t, f) sizeof(((t *)0)->f)

/* ---- single fields at a byte pointer ---- */

static inline void wire_put_u8(uint8_t *p, uint8_t v)
{
	p[0] = v;
}

static inline void wire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wire_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wire_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint8_t wire_get_u8(const uint8_t *p)
{
	return p[0];
}

static inline uint16_t wire_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t wire_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t wire_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- a writer: appends fields to a buffer of known size ---- */

typedef struct wire_w {
	uint8_t *p;
	size_t len;  /* bytes written so far */
	size_t cap;
	bool bad;    /* a write did not fit: nothing past it was written */
} wire_w_t;

static inline wire_w_t wire_w_init(void *buf, size_t cap)
{
	wire_w_t w = { .p = (uint8_t *)buf, .len = 0, .cap = cap, .bad = false };
	return w;
}

/* Reserves n bytes; NULL (and w->bad) when they do not fit. */
static inline uint8_t *wire_w_take(wire_w_t *w, size_t n)
{
	uint8_t *at;

	if (w->bad || n > w->cap - w->len) {
		w->bad = true;
		return NULL;
	}
	at = w->p + w->len;
	w->len += n;
	return at;
}

#define WIRE_W_FN(bits)                                                      \
	static inline void wire_w_u##bits(wire_w_t *w, uint##bits##_t v)     \
	{                                                                    \
		uint8_t *at = wire_w_take(w, bits / 8);                      \
		if (at)                                                      \
			wire_put_u##bits(at, v);                             \
	}
WIRE_W_FN(8)
WIRE_W_FN(16)
WIRE_W_FN(32)
WIRE_W_FN(64)
#undef WIRE_W_FN

static inline void wire_w_i32(wire_w_t *w, int32_t v)
{
	wire_w_u32(w, (uint32_t)v);
}

static inline void wire_w_i64(wire_w_t *w, int64_t v)
{
	wire_w_u64(w, (uint64_t)v);
}

static inline void wire_w_bytes(wire_w_t *w, const void *src, size_t n)
{
	uint8_t *at = wire_w_take(w, n);

	if (at && n)
		memcpy(at, src, n);
}

/* True when every write fit and the buffer is exactly full: the check a
 * fixed-size encoder ends with. */
static inline bool wire_w_done(const wire_w_t *w)
{
	return !w->bad && w->len == w->cap;
}

/* ---- a reader: consumes fields from a received buffer ---- */

typedef struct wire_r {
	const uint8_t *p;
	size_t len;  /* bytes received */
	size_t off;  /* bytes consumed */
	bool bad;    /* a read ran past the end */
} wire_r_t;

static inline wire_r_t wire_r_init(const void *buf, size_t len)
{
	wire_r_t r = { .p = (const uint8_t *)buf, .len = len, .off = 0,
		       .bad = false };
	return r;
}

/* Consumes n bytes; NULL (and r->bad) when fewer are left. */
static inline const uint8_t *wire_r_take(wire_r_t *r, size_t n)
{
	const uint8_t *at;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	at = r->p + r->off;
	r->off += n;
	return at;
}

#define WIRE_R_FN(bits)                                                      \
	static inline uint##bits##_t wire_r_u##bits(wire_r_t *r)             \
	{                                                                    \
		const uint8_t *at = wire_r_take(r, bits / 8);                \
		return at ? wire_get_u##bits(at) : 0;                        \
	}
WIRE_R_FN(8)
WIRE_R_FN(16)
WIRE_R_FN(32)
WIRE_R_FN(64)
#undef WIRE_R_FN

static inline int32_t wire_r_i32(wire_r_t *r)
{
	return (int32_t)wire_r_u32(r);
}

static inline int64_t wire_r_i64(wire_r_t *r)
{
	return (int64_t)wire_r_u64(r);
}

/* Copies n bytes to dst (zeros when they are not there). */
static inline void wire_r_bytes(wire_r_t *r, void *dst, size_t n)
{
	const uint8_t *at = wire_r_take(r, n);

	if (at)
		memcpy(dst, at, n);
	else if (n)
		memset(dst, 0, n);
}

/* Bytes not yet consumed (0 after a bad read). */
static inline size_t wire_r_left(const wire_r_t *r)
{
	return r->bad ? 0 : r->len - r->off;
}

/* True when every read fit and exactly all bytes were consumed: the check
 * a fixed-size message ends with. */
static inline bool wire_r_done(const wire_r_t *r)
{
	return !r->bad && r->off == r->len;
}

#endif
