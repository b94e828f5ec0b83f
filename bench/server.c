/* SPDX-License-Identifier: MIT */
/* server: the Larson benchmark pattern (Larson & Krishnan, "Memory
 * allocation for long-running server applications", 1998; larson in
 * mimalloc-bench).  Several threads each own an array of slots and
 * repeatedly replace a random slot with a block of random size 10-1000 B.
 * Arrays are handed between threads: half-way through an epoch every thread
 * moves on to its neighbour's array, and at the end of an epoch the threads
 * exit and a new generation of threads takes the arrays over.  So most blocks
 * are freed by a thread other than the one that allocated them, many of
 * them by a thread that allocated them has already exited. */
#include "common.h"

#include <pthread.h>

#define NTHREADS 4

struct slot {
	unsigned char *p;
	uint32_t n;
	uint64_t tag;
};

static size_t nslots, ops_per_half;
static struct slot *arrays[NTHREADS];
static pthread_barrier_t half_way;

struct worker {
	pthread_t tid;
	int index;
	int epoch;
	uint64_t ops;
};

static void replace_slots(struct slot *a, size_t ops, uint64_t *rng)
{
	for (size_t i = 0; i < ops; i++) {
		struct slot *s = &a[rng_range(rng, 0, nslots - 1)];
		CHECK(marked(s->p, s->n, s->tag), "block %p (%u B) overwritten", (void *)s->p,
		      s->n);
		free(s->p);
		size_t n = rng_range(rng, 10, 1000);
		s->p = xmalloc(n);
		s->n = (uint32_t)n;
		s->tag = rng_next(rng);
		mark(s->p, n, s->tag);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = rng_seed((uint64_t)w->epoch * 1000 + (uint64_t)w->index);
	replace_slots(arrays[(w->index + w->epoch) % NTHREADS], ops_per_half, &rng);
	pthread_barrier_wait(&half_way);
	replace_slots(arrays[(w->index + w->epoch + 1) % NTHREADS], ops_per_half, &rng);
	w->ops = 2 * ops_per_half;
	return NULL;
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("server", argc, argv);
	nslots = SCALE(m, 500, 2000, 2000);
	ops_per_half = SCALE(m, 20000, 200000, 400000);
	const int epochs = SCALE(m, 3, 6, 20);
	uint64_t rng = rng_seed(3);

	/* The main thread fills every array: the first generation frees
	 * blocks the main thread allocated. */
	for (int t = 0; t < NTHREADS; t++) {
		arrays[t] = xmalloc(nslots * sizeof(struct slot));
		for (size_t i = 0; i < nslots; i++) {
			size_t n = rng_range(&rng, 10, 1000);
			arrays[t][i] = (struct slot){ xmalloc(n), (uint32_t)n, rng_next(&rng) };
			mark(arrays[t][i].p, n, arrays[t][i].tag);
		}
	}

	uint64_t total = 0;
	CHECK(pthread_barrier_init(&half_way, NULL, NTHREADS) == 0, "barrier");
	for (int e = 0; e < epochs; e++) {
		struct worker w[NTHREADS];
		for (int t = 0; t < NTHREADS; t++) {
			w[t] = (struct worker){ .index = t, .epoch = e };
			CHECK(pthread_create(&w[t].tid, NULL, worker_main, &w[t]) == 0,
			      "pthread_create");
		}
		for (int t = 0; t < NTHREADS; t++) {
			pthread_join(w[t].tid, NULL);
			total += w[t].ops;
		}
	}
	pthread_barrier_destroy(&half_way);

	for (int t = 0; t < NTHREADS; t++) {
		for (size_t i = 0; i < nslots; i++) {
			struct slot *s = &arrays[t][i];
			CHECK(marked(s->p, s->n, s->tag), "block %p overwritten", (void *)s->p);
			free(s->p);
		}
		free(arrays[t]);
	}
	CHECK(total == (uint64_t)epochs * NTHREADS * 2 * ops_per_half, "lost operations");
	printf("server ok: %d threads, %d epochs, %llu replacements\n", NTHREADS, epochs,
	       (unsigned long long)total);
	return 0;
}
