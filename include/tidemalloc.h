/* SPDX-License-Identifier: MIT */
/* tidemalloc — a memory allocator that gets small objects from the brk heap,
 * large ones from mmap, gives memory back, and shows where it came from.
 *
 * This is the only public header.  Every function exists under the tide_
 * prefix; the shared and static libraries also export the standard names
 * (malloc, free, ...), which forward to these.  The prefixed-only build
 * (libtidemalloc-prefixed.a) exports only the tide_ names.
 */
#ifndef TIDEMALLOC_H
#define TIDEMALLOC_H

#include <malloc.h> /* struct mallinfo, struct mallinfo2 (glibc 2.33 and later) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported, whatever the build's default. */
#define TIDE_API __attribute__((visibility("default")))

/* The version of this header; tide_version() gives the library's.  The
 * shared library's soname is libtidemalloc.so.MAJOR (docs/abi.md). */
#define TIDEMALLOC_VERSION_MAJOR 0
#define TIDEMALLOC_VERSION_MINOR 1
#define TIDEMALLOC_VERSION_PATCH 0
#define TIDEMALLOC_VERSION_STR_(a, b, c) #a "." #b "." #c
#define TIDEMALLOC_VERSION_XSTR_(a, b, c) TIDEMALLOC_VERSION_STR_(a, b, c)
/* "0.1.0" */
#define TIDEMALLOC_VERSION_STRING                                                \
  TIDEMALLOC_VERSION_XSTR_(TIDEMALLOC_VERSION_MAJOR, TIDEMALLOC_VERSION_MINOR,   \
                           TIDEMALLOC_VERSION_PATCH)

/* The running library's version, "MAJOR.MINOR.PATCH" (a static string). */
TIDE_API const char *tide_version(void);

/* ---- The standard API, prefixed ---------------------------------------- */
TIDE_API void *tide_malloc(size_t size);
TIDE_API void tide_free(void *ptr);
TIDE_API void *tide_calloc(size_t count, size_t size);
TIDE_API void *tide_realloc(void *ptr, size_t size);
TIDE_API void *tide_reallocarray(void *ptr, size_t count, size_t size);
TIDE_API void *tide_aligned_alloc(size_t alignment, size_t size);
TIDE_API int tide_posix_memalign(void **out, size_t alignment, size_t size);
TIDE_API void *tide_memalign(size_t alignment, size_t size);
TIDE_API void *tide_valloc(size_t size);
TIDE_API void *tide_pvalloc(size_t size);
TIDE_API size_t tide_malloc_usable_size(const void *ptr);
TIDE_API void tide_free_sized(void *ptr, size_t size);
TIDE_API void tide_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* glibc's extensions, same semantics as glibc's. */
TIDE_API int tide_malloc_trim(size_t pad);
TIDE_API int tide_mallopt(int param, int value);
TIDE_API struct mallinfo tide_mallinfo(void);
TIDE_API struct mallinfo2 tide_mallinfo2(void);
TIDE_API void tide_malloc_stats(void);
TIDE_API int tide_malloc_info(int options, FILE *stream);

/* ---- Statistics ---------------------------------------------------------- */
/* Set .version = TIDE_STATS_VERSION and .size = sizeof(struct tide_stats)
 * before calling tide_stats(); fields a newer library adds are appended. */
#define TIDE_STATS_VERSION 1
#define TIDE_SIZE_CLASS_MAX 96 /* upper bound on the number of size classes */

/* One counter of OS calls: how many, and how many bytes they covered. */
struct tide_os_counter {
  uint64_t calls;
  uint64_t bytes;
};

struct tide_class_stats {
  uint64_t block_size;   /* bytes per block in this class */
  uint64_t blocks_used;  /* blocks handed out and not yet freed */
  uint64_t blocks_free;  /* blocks carved out of pages but free */
  uint64_t pages;        /* pages of this class */
};

struct tide_stats {
  uint32_t version; /* in: TIDE_STATS_VERSION */
  uint32_t size;    /* in: sizeof(struct tide_stats) */

  uint64_t requested_bytes;  /* sum of sizes asked for, ever */
  uint64_t allocated_bytes;  /* bytes in live blocks now (block sizes) */
  uint64_t allocated_peak;   /* highest allocated_bytes (docs/stats-format.md) */
  uint64_t committed_bytes;  /* bytes obtained from the OS and not given back */
  uint64_t committed_peak;
  uint64_t resident_bytes;   /* resident in the heap and our mappings (mincore) */
  uint64_t returned_bytes;   /* bytes given back: break lowered, munmap, madvise */

  uint64_t heap_start;       /* first address of the brk heap (0 if none) */
  uint64_t heap_break;       /* the break as tidemalloc last set it */
  uint64_t heap_peak_break;  /* highest break tidemalloc set */
  uint64_t heap_bytes;       /* heap_break - heap_start */
  uint64_t mapped_bytes;     /* bytes in tidemalloc's own mappings now */
  uint64_t mapped_peak;
  uint64_t huge_blocks;      /* live blocks with a mapping of their own */
  uint64_t huge_bytes;       /* bytes in those blocks */

  struct tide_os_counter brk_grow;
  struct tide_os_counter brk_shrink;
  struct tide_os_counter mmap;
  struct tide_os_counter munmap;
  struct tide_os_counter mremap;
  struct tide_os_counter madvise;
  uint64_t os_failures;      /* OS calls that failed (brk refused, ENOMEM) */

  uint64_t malloc_calls;     /* every allocating call (malloc, calloc, realloc...) */
  uint64_t free_calls;
  uint64_t threads_alive;
  uint64_t threads_created;  /* thread heaps ever set up */
  uint64_t segments;         /* live segments (brk and mmap) */
  uint64_t brk_segments;

  uint32_t class_count;
  uint32_t reserved;
  struct tide_class_stats classes[TIDE_SIZE_CLASS_MAX];
};

/* Fill *out.  Returns 0, or -1 with errno = EINVAL if version/size do not
 * match a layout this library knows. */
TIDE_API int tide_stats(struct tide_stats *out);

/* Print statistics to fd: TIDE_STATS_TEXT (as malloc_stats) or
 * TIDE_STATS_JSON (one JSON object, see docs/stats-format.md). */
#define TIDE_STATS_TEXT 0
#define TIDE_STATS_JSON 1
TIDE_API void tide_stats_print(int fd, int format);

/* ---- Options ------------------------------------------------------------- */
/* Names as in TIDEMALLOC_OPTIONS (see tidemalloc(3)).  Return 0, or -1 with
 * errno = EINVAL for an unknown name or a value out of range. */
TIDE_API int tide_option_get(const char *name, long long *value);
TIDE_API int tide_option_set(const char *name, long long value);

/* Give back to the OS every free page now (as malloc_trim(0)); returns the
 * number of bytes given back. */
TIDE_API size_t tide_trim(void);


/* ---- Introspection for tools -------------------------------------------- */
/* A process running tidemalloc exports this object under its symbol name so
 * that `tide map PID` can read it through /proc/PID/mem and mark which parts
 * of the address space tidemalloc owns.  Layout is stable per version. */
#define TIDE_INTROSPECT_MAGIC 0x6c6c616d65646974ULL /* "tidemall" little-endian */
#define TIDE_INTROSPECT_VERSION 1
struct tide_introspect {
  uint64_t magic;         /* TIDE_INTROSPECT_MAGIC once initialised */
  uint32_t version;       /* TIDE_INTROSPECT_VERSION */
  uint32_t segment_shift; /* log2 of the segment size (22: 4 MiB) */
  uint64_t segment_map;   /* address of a uint64_t bitmap: bit n set when the
                             unit at n << segment_shift starts a segment */
  uint64_t segment_cont_map; /* same shape: units inside a segment larger than
                                one unit (a big mapped block), head excluded */
  uint64_t map_bits;      /* number of bits in each bitmap */
  uint64_t heap_start;    /* first address of tidemalloc's brk heap, 0 if none */
  uint64_t heap_break;    /* the break as tidemalloc last set it */
  uint64_t heap_peak_break;
};
TIDE_API extern struct tide_introspect tide_introspect;

#ifdef __cplusplus
}
#endif
#endif /* TIDEMALLOC_H */
