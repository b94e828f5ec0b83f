/* SPDX-License-Identifier: MIT */
/* Shared helpers for the benchmark workloads.
 *
 * Every workload takes one argument, the size: "smoke" (a fraction of a
 * second, for the test suite), "quick" (a few tenths of a second, for
 * `make bench QUICK=1`) or "full" (1-5 s under glibc on 2 cores).
 *
 * Every workload checks its own result: blocks carry a tag derived from their
 * size and a per-block random value, written when the block is allocated and
 * verified before it is freed (and after realloc).  A mismatch prints one line
 * naming the workload and exits with status 2, so an allocator that hands out
 * overlapping or undersized blocks cannot look fast.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { MODE_SMOKE, MODE_QUICK, MODE_FULL } bench_mode;

/* Pick a parameter by mode. */
#define SCALE(m, smoke, quick, full) \
	((m) == MODE_SMOKE ? (smoke) : (m) == MODE_QUICK ? (quick) : (full))

static const char *bench_name = "bench";

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s: check failed (%s:%d): ",       \
				bench_name, __FILE__, __LINE__);            \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			_exit(2);                                           \
		}                                                           \
	} while (0)

static inline bench_mode bench_init(const char *name, int argc, char **argv)
{
	bench_name = name;
	if (argc < 2 || strcmp(argv[1], "full") == 0)
		return MODE_FULL;
	if (strcmp(argv[1], "quick") == 0)
		return MODE_QUICK;
	if (strcmp(argv[1], "smoke") == 0)
		return MODE_SMOKE;
	fprintf(stderr, "usage: %s [smoke|quick|full]\n", name);
	exit(64);
}

/* xorshift64*: small, fast, good enough for picking sizes and slots. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rng_seed(uint64_t v)
{
	/* splitmix64 finaliser, never returns 0 for the state */
	v += 0x9E3779B97F4A7C15ULL;
	v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ULL;
	v = (v ^ (v >> 27)) * 0x94D049BB133111EBULL;
	v ^= v >> 31;
	return v ? v : 1;
}

/* Uniform in [lo, hi], inclusive (multiply-high, no division). */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
	uint64_t span = (uint64_t)(hi - lo) + 1;
	return lo + (size_t)(((unsigned __int128)rng_next(s) * span) >> 64);
}

/* Keep the compiler from removing a malloc/free pair or caching the
 * contents of p across this point. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
	uint64_t v = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
	v ^= v >> 29;
	return v * 0xBF58476D1CE4E5B9ULL;
}

/* Tag a block: 8 bytes at the head (fewer if the block is smaller) and one
 * byte at the tail.  Cheap enough for the fast-path workloads. */
static inline void mark(void *p, size_t n, uint64_t tag)
{
	unsigned char *b = p;
	memcpy(b, &tag, n < 8 ? n : 8);
	if (n > 8)
		b[n - 1] = (unsigned char)(tag >> 56) ^ 0xA5;
}

static inline int marked(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;
	if (memcmp(b, &tag, n < 8 ? n : 8) != 0)
		return 0;
	if (n > 8 && b[n - 1] != ((unsigned char)(tag >> 56) ^ 0xA5))
		return 0;
	return 1;
}

/* The alignment C requires for a block of n bytes: fundamental alignment
 * (16 on x86-64) for any object that fits, so 8 is enough below 16 bytes
 * (jemalloc, tcmalloc and mimalloc use that; tidemalloc promises 16). */
static inline uintptr_t required_alignment(size_t n)
{
	return n >= 16 ? 16 : n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

static inline void *xmalloc(size_t n)
{
	void *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) returned NULL", n);
	CHECK(((uintptr_t)p & (required_alignment(n) - 1)) == 0, "malloc(%zu) = %p misaligned",
	      n, p);
	return p;
}

static inline void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n);
	CHECK(p != NULL, "realloc(%zu) returned NULL", n);
	CHECK(((uintptr_t)p & (required_alignment(n) - 1)) == 0, "realloc(%zu) = %p misaligned",
	      n, p);
	return p;
}

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size in KiB from /proc/self/statm, read without allocating. */
static inline long rss_kb(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *sp = strchr(buf, ' ');
	if (!sp)
		return -1;
	long pages = strtol(sp + 1, NULL, 10);
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static inline int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}

#endif
