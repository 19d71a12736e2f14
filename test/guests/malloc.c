/* malloc: NTHREADS threads (more than 8, so glibc sizes its arenas from the
 * cpu count) each run OPS random malloc/calloc/realloc/free operations on 64
 * slots with sizes from 1 byte to 600 KiB (above 128 KiB glibc uses mmap,
 * and realloc of those uses mremap). Every block is filled with a pattern
 * derived from its owner, slot and generation and checked before it is
 * freed or resized; calloc memory must be zero. After a barrier every thread
 * frees its neighbour's remaining blocks (cross-thread, cross-arena free).
 * The random streams are per thread, so the output does not depend on the
 * interleaving.
 *
 *   malloc [NTHREADS [OPS]]      (default 12 2000) */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 64
#define SLOTS 64

struct block {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

struct tstate {
	struct block b[SLOTS];
	uint64_t rng;
	long allocs, frees, reallocs, big, errors;
};

static struct tstate ts[MAXT];
static int nt = 12;
static long ops = 2000;
static pthread_barrier_t bar;

static uint64_t rnd(struct tstate *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static size_t pick_size(struct tstate *s)
{
	uint64_t r = rnd(s);

	switch (r % 16) {
	case 0:
		return 128 * 1024 + (size_t)(r >> 8) % (472 * 1024);
	case 1:
	case 2:
		return 4096 + (size_t)(r >> 8) % 60000;
	default:
		return 1 + (size_t)(r >> 8) % 1024;
	}
}

static void fill(struct block *b, size_t from)
{
	for (size_t i = from; i < b->size; i++)
		b->p[i] = (unsigned char)(b->tag + i * 7);
}

static long check(const struct block *b, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (b->p[i] != (unsigned char)(b->tag + i * 7))
			return 1;
	return 0;
}

static void release(struct tstate *s, struct block *b)
{
	s->errors += check(b, b->size);
	free(b->p);
	b->p = NULL;
	s->frees++;
}

static void one_op(struct tstate *s, long id, long op)
{
	struct block *b = &s->b[rnd(s) % SLOTS];
	uint64_t kind = rnd(s) % 8;

	if (b->p && kind < 3) {
		release(s, b);
	} else if (b->p && kind < 5) {
		size_t nsize = pick_size(s), keep;
		unsigned char *np;

		keep = nsize < b->size ? nsize : b->size;
		s->errors += check(b, keep);
		np = realloc(b->p, nsize);
		if (!np) {
			s->errors++;
			return;
		}
		b->p = np;
		s->errors += check(b, keep);
		b->size = nsize;
		fill(b, keep);
		s->reallocs++;
	} else if (!b->p) {
		b->size = pick_size(s);
		b->tag = (unsigned char)(id * 37 + op);
		if (kind == 7) {
			b->p = calloc(1, b->size);
			for (size_t i = 0; b->p && i < b->size; i++)
				s->errors += b->p[i] != 0;
		} else {
			b->p = malloc(b->size);
		}
		if (!b->p) {
			s->errors++;
			return;
		}
		fill(b, 0);
		s->allocs++;
		s->big += b->size >= 128 * 1024;
	}
}

static void *worker(void *arg)
{
	long id = (long)arg;
	struct tstate *s = &ts[id], *next = &ts[(id + 1) % nt];

	s->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);
	for (long op = 0; op < ops; op++)
		one_op(s, id, op);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < SLOTS; i++)
		if (next->b[i].p)
			release(next, &next->b[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[MAXT];
	long allocs = 0, frees = 0, reallocs = 0, big = 0, errors = 0;

	if (argc > 1)
		nt = atoi(argv[1]);
	if (argc > 2)
		ops = atol(argv[2]);
	if (nt < 1 || nt > MAXT || ops < 0) {
		fprintf(stderr, "usage: malloc [NTHREADS<=64 [OPS]]\n");
		return 2;
	}
	/* A fixed threshold: every block from 128 KiB up is an mmap. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	pthread_barrier_init(&bar, NULL, (unsigned)nt);
	for (long i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < nt; i++) {
		allocs += ts[i].allocs;
		frees += ts[i].frees;
		reallocs += ts[i].reallocs;
		big += ts[i].big;
		errors += ts[i].errors;
	}
	printf("threads %d allocs %ld reallocs %ld frees %ld big %ld "
	       "errors %ld\n", nt, allocs, reallocs, frees, big, errors);
	if (errors || allocs != frees) {
		printf("FAIL\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
