/* SPDX-License-Identifier: MIT */
/* batch: free-list reuse.  Allocate N objects of mixed small sizes, write
 * every byte of each, free them all in a random order, repeat.  The random
 * free order scrambles the free lists, so the next round shows how well the
 * allocator reuses freed memory and keeps locality (the pattern of the
 * "alloc-test"/"malloc-large batch" style tests and of Wilson's studies of
 * random-order frees). */
#include "common.h"

struct obj {
	unsigned char *p;
	size_t n;
	uint64_t tag;
};

/* Half of the objects 8-64 B, a quarter 64-256 B, a quarter 256-1024 B. */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) & 3;
	if (r < 2)
		return rng_range(rng, 8, 64);
	if (r == 2)
		return rng_range(rng, 65, 256);
	return rng_range(rng, 257, 1024);
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("batch", argc, argv);
	const size_t n = SCALE(m, 5000, 100000, 100000);
	const size_t rounds = SCALE(m, 4, 10, 80);
	uint64_t rng = rng_seed(2);
	struct obj *objs = xmalloc(n * sizeof *objs);
	uint32_t *order = xmalloc(n * sizeof *order);
	uint64_t bytes = 0;

	for (size_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < n; i++) {
			size_t sz = pick_size(&rng);
			unsigned char *p = xmalloc(sz);
			uint64_t tag = mix64(r * n + i, sz);
			memset(p, (int)(tag >> 8) & 0xff, sz);
			mark(p, sz, tag);
			objs[i] = (struct obj){ p, sz, tag };
			order[i] = (uint32_t)i;
			bytes += sz;
		}
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = rng_range(&rng, 0, i);
			uint32_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < n; i++) {
			struct obj *o = &objs[order[i]];
			CHECK(marked(o->p, o->n, o->tag), "object %p (%zu B) overwritten",
			      (void *)o->p, o->n);
			if (o->n > 16)
				CHECK(o->p[o->n / 2] == ((o->tag >> 8) & 0xff),
				      "object %p (%zu B) middle overwritten", (void *)o->p, o->n);
			free(o->p);
		}
	}
	free(order);
	free(objs);
	printf("batch ok: %zu rounds of %zu objects, %llu bytes\n", rounds, n,
	       (unsigned long long)bytes);
	return 0;
}
