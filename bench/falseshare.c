/* SPDX-License-Identifier: MIT */
/* falseshare: allocator-induced false sharing, the cache-thrash and
 * cache-scratch tests of the Hoard paper (Berger et al., ASPLOS 2000), also
 * in mimalloc-bench.
 *   thrash  (active):  each thread repeatedly allocates a small object, writes
 *                      it many times, frees it.  An allocator that gives two
 *                      threads objects on one cache line makes the writes
 *                      crawl.
 *   scratch (passive): the main thread allocates one small object per thread,
 *                      back to back, and hands them out; each thread frees
 *                      its object and then runs the thrash loop.  An
 *                      allocator that lets a thread reuse the block it freed
 *                      gives every thread a piece of the same cache line.
 * Each object is a counter; the thread checks it holds exactly the number of
 * writes made, so objects shared by mistake fail the run. */
#include "common.h"

#include <pthread.h>

#define OBJ_SIZE 8

static size_t iterations, writes;
static int nthreads;

struct worker {
	pthread_t tid;
	int index;
	void *handed; /* scratch: the object the main thread gave us */
	uint64_t sum;
};

static void thrash_loop(struct worker *w)
{
	for (size_t i = 0; i < iterations; i++) {
		volatile uint64_t *c = xmalloc(OBJ_SIZE);
		*c = (uint64_t)w->index << 40;
		for (size_t k = 0; k < writes; k++)
			*c += 1;
		CHECK(*c == ((uint64_t)w->index << 40) + writes,
		      "object %p shared with another thread", (void *)c);
		w->sum += *c & 0xffffffffff;
		free((void *)c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (w->handed) {
		CHECK(*(uint64_t *)w->handed == (uint64_t)w->index, "handed object overwritten");
		free(w->handed);
	}
	thrash_loop(w);
	return NULL;
}

static uint64_t run_phase(int scratch)
{
	struct worker w[64];
	void *objs[64];
	if (scratch)
		for (int t = 0; t < nthreads; t++) {
			objs[t] = xmalloc(OBJ_SIZE);
			*(uint64_t *)objs[t] = (uint64_t)t;
		}
	for (int t = 0; t < nthreads; t++) {
		w[t] = (struct worker){ .index = t, .handed = scratch ? objs[t] : NULL };
		CHECK(pthread_create(&w[t].tid, NULL, worker_main, &w[t]) == 0, "pthread_create");
	}
	uint64_t sum = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(w[t].tid, NULL);
		sum += w[t].sum;
	}
	return sum;
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("falseshare", argc, argv);
	nthreads = ncpus() < 2 ? 2 : ncpus() > 64 ? 64 : ncpus();
	iterations = SCALE(m, 10000, 100000, 1000000);
	writes = SCALE(m, 100, 1000, 1000);
	uint64_t expect = (uint64_t)nthreads * iterations * writes;
	CHECK(run_phase(0) == expect, "thrash: lost writes");
	CHECK(run_phase(1) == expect, "scratch: lost writes");
	printf("falseshare ok: %d threads x %zu objects x %zu writes, thrash and scratch\n",
	       nthreads, iterations, writes);
	return 0;
}
