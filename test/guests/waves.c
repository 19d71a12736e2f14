/* waves: TOTAL threads created and joined in waves of WAVE (default 64 in
 * waves of 16), so thread slots, stacks and ids are reused. Each thread
 * sums a short series into its own slot and checks its argument; half of
 * every wave is detached instead of joined (they report through a
 * semaphore). Results are checked against a serial computation.
 *
 *   waves [TOTAL [WAVE]] */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

#define MAXT 1024

static long result[MAXT];
static sem_t detached_done;

static long work(long id)
{
	long s = 0;

	for (long i = 0; i < 20000; i++)
		s += (i * (id + 1)) % 1009;
	return s;
}

static void *worker(void *arg)
{
	long id = (long)arg;

	result[id] = work(id);
	return (void *)(id * 3);
}

static void *detached_worker(void *arg)
{
	long id = (long)arg;

	result[id] = work(id);
	sem_post(&detached_done);
	return NULL;
}

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 64;
	long wave = argc > 2 ? atol(argv[2]) : 16;
	pthread_t t[MAXT];
	long bad = 0, sum = 0;

	if (total < 1 || total > MAXT || wave < 1 || wave > total) {
		fprintf(stderr, "usage: waves [TOTAL<=1024 [WAVE]]\n");
		return 2;
	}
	sem_init(&detached_done, 0, 0);
	for (long base = 0; base < total; base += wave) {
		long end = base + wave < total ? base + wave : total;
		long ndetached = 0;

		for (long i = base; i < end; i++) {
			int detach = (i % 2) == 1;

			if (pthread_create(&t[i], NULL,
					   detach ? detached_worker : worker,
					   (void *)i) != 0) {
				printf("FAIL: pthread_create %ld\n", i);
				return 1;
			}
			if (detach) {
				pthread_detach(t[i]);
				ndetached++;
			}
		}
		for (long i = base; i < end; i++) {
			void *ret;

			if (i % 2 == 1)
				continue;
			pthread_join(t[i], &ret);
			bad += (long)ret != i * 3;
		}
		while (ndetached-- > 0)
			sem_wait(&detached_done);
		printf("wave %ld: threads %ld..%ld done\n", base / wave, base,
		       end - 1);
	}
	for (long i = 0; i < total; i++) {
		bad += result[i] != work(i);
		sum += result[i];
	}
	printf("threads %ld checksum %ld\n", total, sum);
	if (bad) {
		printf("FAIL: %ld wrong results\n", bad);
		return 1;
	}
	printf("ok\n");
	return 0;
}
