/* SPDX-License-Identifier: MIT */
/* ipp: instructions per malloc+free pair, for callgrind.
 *   ipp N   warms up (allocations of several sizes, then 10000 pairs of 64 B),
 *           then does N pairs malloc(64)/free.
 * The runner runs it under `valgrind --tool=callgrind` with N = 0 and with
 * N = 1e6 and reports (Ir(N) - Ir(0)) / N: the instructions of one warm
 * malloc(64) + free(p), plus about 4 of loop and call overhead.  Callgrind
 * does not replace malloc, so the preloaded allocator is the one counted. */
#include "common.h"

static __attribute__((noinline)) void pairs(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *p = malloc(64);
		escape(p);
		free(p);
	}
}

int main(int argc, char **argv)
{
	bench_name = "ipp";
	size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
	void *keep[64];
	for (int i = 0; i < 64; i++)
		keep[i] = xmalloc((size_t)16 << (i % 8));
	pairs(10000);
	pairs(n);
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	return 0;
}
