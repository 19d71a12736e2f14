/* The virtual futex table (futex.h): waiters queued by guest address in
 * hashed buckets; on a VM spanning nodes every call goes to the word's home
 * (coherence/dfutex.h). */
#include "core/futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coherence/dfutex.h"
#include "common/log.h"
#include "core/gmem.h"

#define FUTEX_BUCKETS 256

typedef struct futex_waiter {
	uint64_t addr;
	uint32_t bitset;
	uint32_t woken;    /* host futex word the waiter sleeps on */
	struct futex_waiter *next;
	struct futex_waiter **pprev;
} futex_waiter_t;

typedef struct futex_bucket {
	pthread_mutex_t lock;
	futex_waiter_t *head;
} futex_bucket_t;

static futex_bucket_t buckets[FUTEX_BUCKETS] = {
	[0 ... FUTEX_BUCKETS - 1] = { PTHREAD_MUTEX_INITIALIZER, NULL }
};

static futex_bucket_t *bucket_of(uint64_t addr)
{
	uint64_t h = (addr >> 2) * 0x9e3779b97f4a7c15UL;

	return &buckets[h >> 56];
}

static void waiter_link(futex_bucket_t *b, futex_waiter_t *w)
{
	w->next = b->head;
	w->pprev = &b->head;
	if (b->head)
		b->head->pprev = &w->next;
	b->head = w;
}

static void waiter_unlink(futex_waiter_t *w)
{
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	w->pprev = NULL;
}

/* Wakes w; caller holds its bucket lock and has unlinked it. */
static void waiter_wake(futex_waiter_t *w)
{
	__atomic_store_n(&w->woken, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &w->woken, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static uint32_t *futex_word(uint64_t addr)
{
	return gmem_ptr(&cvmm_gmem, addr, 4, PROT_READ);
}

/* A deadline that is never reached is no deadline: the host futex would
 * take it, but 64-bit nanosecond arithmetic on it (dfutex) would not. */
static const struct timespec *deadline_or_null(const struct timespec *dl)
{
	return dl && dl->tv_sec >= FUTEX_SEC_FOREVER ? NULL : dl;
}

/* Sleeps until w is woken (0), the deadline passes (-ETIMEDOUT) or the
 * host futex fails in a way a retry would repeat (-errno, logged): an
 * error must end the wait, never turn it into a spin. */
static long waiter_sleep(futex_waiter_t *w, int op,
			 const struct timespec *deadline)
{
	while (!__atomic_load_n(&w->woken, __ATOMIC_ACQUIRE)) {
		if (syscall(SYS_futex, &w->woken, op, 0, deadline, NULL,
			    FUTEX_BITSET_MATCH_ANY) == 0)
			continue;
		if (errno == EAGAIN || errno == EINTR)
			continue;
		if (errno == ETIMEDOUT)
			return -ETIMEDOUT;
		log_warn("futex wait on guest 0x%lx: host futex: %m",
			 (unsigned long)w->addr);
		return -errno;
	}
	return 0;
}

/* futex_wait on a VM spanning nodes: the word's home keeps the queue. */
static long futex_wait_dfx(vthread_t *vt, uint64_t addr, uint32_t val,
			   uint32_t bitset, clockid_t clock,
			   const struct timespec *deadline)
{
	long ret;

	if ((addr & 3) || bitset == 0)
		return -EINVAL;
	if (!futex_word(addr))
		return -EFAULT;
	vt_idle_begin(vt);
	ret = dfx_wait(cvmm_dfx, addr, val, bitset, clock, deadline);
	vt_idle_end(vt);
	return ret;
}

long futex_wait(vthread_t *vt, uint64_t addr, uint32_t val, uint32_t bitset,
		clockid_t clock, const struct timespec *deadline)
{
	futex_bucket_t *b = bucket_of(addr);
	futex_waiter_t w = { .addr = addr, .bitset = bitset };
	int op = FUTEX_WAIT_BITSET_PRIVATE;
	uint32_t *word;
	long ret;

	deadline = deadline_or_null(deadline);
	if (cvmm_dfx)
		return futex_wait_dfx(vt, addr, val, bitset, clock, deadline);
	if ((addr & 3) || bitset == 0)
		return -EINVAL;
	word = futex_word(addr);
	if (!word)
		return -EFAULT;
	if (clock == CLOCK_REALTIME)
		op |= FUTEX_CLOCK_REALTIME;
	pthread_mutex_lock(&b->lock);
	if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != val) {
		pthread_mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	waiter_link(b, &w);
	pthread_mutex_unlock(&b->lock);

	vt_idle_begin(vt);
	ret = waiter_sleep(&w, op, deadline);
	vt_idle_end(vt);
	if (ret) {
		pthread_mutex_lock(&b->lock);
		if (w.pprev)
			waiter_unlink(&w);
		else
			ret = 0; /* woken as the wait ended */
		pthread_mutex_unlock(&b->lock);
	}
	return ret;
}

long futex_wake(uint64_t addr, int n, uint32_t bitset)
{
	futex_bucket_t *b = bucket_of(addr);
	futex_waiter_t *w, *next;
	long woken = 0;

	if (cvmm_dfx)
		return dfx_wake(cvmm_dfx, addr, n, bitset);
	pthread_mutex_lock(&b->lock);
	for (w = b->head; w && woken < n; w = next) {
		next = w->next;
		if (w->addr != addr || !(w->bitset & bitset))
			continue;
		waiter_unlink(w);
		waiter_wake(w);
		woken++;
	}
	pthread_mutex_unlock(&b->lock);
	return woken;
}

static void bucket_lock2(futex_bucket_t *a, futex_bucket_t *b)
{
	if (a == b) {
		pthread_mutex_lock(&a->lock);
	} else if (a < b) {
		pthread_mutex_lock(&a->lock);
		pthread_mutex_lock(&b->lock);
	} else {
		pthread_mutex_lock(&b->lock);
		pthread_mutex_lock(&a->lock);
	}
}

static void bucket_unlock2(futex_bucket_t *a, futex_bucket_t *b)
{
	pthread_mutex_unlock(&a->lock);
	if (a != b)
		pthread_mutex_unlock(&b->lock);
}

/* futex_requeue on a VM spanning nodes: wakes the waiters it would move
 * (futex callers must tolerate spurious wake-ups), so no queue ever moves
 * between homes. Returns the number woken. */
static long futex_requeue_dfx(uint64_t addr, int nwake, int nmove,
			      uint64_t addr2, bool check, uint32_t val)
{
	const uint32_t *word;

	if (check) {
		word = futex_word(addr);
		if (!word)
			return -EFAULT;
		if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != val)
			return -EAGAIN;
	}
	return dfx_wake(cvmm_dfx, addr,
			(long)nwake + nmove > INT_MAX ? INT_MAX : nwake + nmove,
			FUTEX_BITSET_MATCH_ANY);
}

long futex_requeue(uint64_t addr, int nwake, int nmove, uint64_t addr2,
		   bool check, uint32_t val)
{
	futex_bucket_t *b1 = bucket_of(addr), *b2 = bucket_of(addr2);
	uint32_t *word = NULL;
	futex_waiter_t *w, *next;
	int done = 0, moved = 0;

	if (((addr | addr2) & 3) || nwake < 0 || nmove < 0)
		return -EINVAL;
	if (cvmm_dfx)
		return futex_requeue_dfx(addr, nwake, nmove, addr2, check, val);
	if (check && !(word = futex_word(addr)))
		return -EFAULT;
	bucket_lock2(b1, b2);
	if (check && __atomic_load_n(word, __ATOMIC_SEQ_CST) != val) {
		bucket_unlock2(b1, b2);
		return -EAGAIN;
	}
	for (w = b1->head; w && (done < nwake || moved < nmove); w = next) {
		next = w->next;
		if (w->addr != addr)
			continue;
		waiter_unlink(w);
		if (done < nwake) {
			waiter_wake(w);
			done++;
		} else {
			w->addr = addr2;
			waiter_link(b2, w);
			moved++;
		}
	}
	bucket_unlock2(b1, b2);
	return done + moved;
}
