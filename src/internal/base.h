/* SPDX-License-Identifier: MIT */
/* The base every layer stands on: checks and the one way out, valgrind's
 * client requests, relaxed atomics, small arithmetic, locks, the options,
 * and the process-wide state set at start-up (secrets, page size, clock).
 * Nothing here calls another layer. */
#ifndef TIDE_BASE_H
#define TIDE_BASE_H

#include "types.h"
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#define tide_hidden __attribute__((visibility("hidden")))
#define tide_likely(x) __builtin_expect(!!(x), 1)
#define tide_unlikely(x) __builtin_expect(!!(x), 0)
#define tide_noinline __attribute__((noinline))
/* The standard names of the hot entry points are the tide_ functions
 * themselves, not wrappers: a call to malloc() runs tide_malloc's code with
 * no jump in between.  Only in the libraries that override (TIDE_OVERRIDE,
 * set by the Makefile for them); the prefixed build exports tide_ alone. */
#ifndef TIDE_OVERRIDE
#define TIDE_OVERRIDE 0
#endif
#define tide_alias(impl) __attribute__((alias(#impl), visibility("default")))
/* The C++ operators' names, which no header of ours declares. */
#define TIDE_CXX __attribute__((visibility("default")))

/* ---- Checks ------------------------------------------------------------ */
/* tide_assert: invariants of our own code; on in the debug/test build
 * (TIDE_DEBUG=1), compiled away in release.  Safety checks on user input are
 * not asserts: they call tide_fatal and stay on in every build. */
#ifndef TIDE_DEBUG
#define TIDE_DEBUG 0
#endif
/* TIDE_CHECKS=0 exists only to measure what the default build's detection
 * costs (`make bench-checks`): it drops the checks on freed pointers and on
 * free lists (interior pointers, double frees, encoded and range-checked
 * links, and the segment map's bound: an address above the user address
 * space is an invalid pointer too).  Such a library is never installed or
 * tested.  The segment-map test stays: it is how free() tells our blocks,
 * huge ones included, from NULL, not only a check. */
#ifndef TIDE_CHECKS
#define TIDE_CHECKS 1
#endif
/* `make SECURE=1` builds a library whose hardened mode is on by default. */
#ifndef TIDE_SECURE_DEFAULT
#define TIDE_SECURE_DEFAULT 0
#endif
#if TIDE_DEBUG
#define tide_assert(cond) \
  ((cond) ? (void)0 : tide_assert_fail(#cond, __FILE__, __LINE__))
#else
#define tide_assert(cond) ((void)0)
#endif
tide_hidden _Noreturn void tide_assert_fail(const char *what, const char *file,
                                            int line);
/* One line "tidemalloc: FUNC(): WHAT 0xADDR" on stderr, then abort(). */
tide_hidden _Noreturn __attribute__((cold)) void tide_fatal(const char *func, const char *what,
                                      const void *addr);

/* ---- Valgrind -------------------------------------------------------------- */
/* Under valgrind (memcheck with --soname-synonyms=somalloc=NONE keeps
 * tidemalloc in charge) every call takes the slow paths, which tell memcheck
 * which bytes are a live block, so it can report the program's errors in
 * them.  Natively the requests are a few no-op instructions, on slow paths
 * only.  Without valgrind's headers at build time they compile to nothing. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define TIDE_HAVE_VALGRIND 1
#endif
#endif
#ifndef TIDE_HAVE_VALGRIND
#define TIDE_HAVE_VALGRIND 0
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, size, rz, zeroed) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, old, new, rz) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)0)
#endif
extern tide_hidden bool tide_valgrind; /* running under valgrind */
/* Secure mode and valgrind both want every call on the checked slow path. */
#define tide_slow_only() (tide_opt.secure || tide_valgrind)

/* ---- Relaxed atomics, for counters and flags read by other threads ------ */
#define tide_load(p) atomic_load_explicit((p), memory_order_relaxed)
#define tide_store(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define tide_add(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)

/* ---- Small arithmetic ---------------------------------------------------- */
static inline uintptr_t tide_align_up(uintptr_t x, uintptr_t a) {
  return (x + a - 1) & ~(a - 1);
}
static inline uintptr_t tide_align_down(uintptr_t x, uintptr_t a) {
  return x & ~(a - 1);
}
static inline bool tide_is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* ---- Locks: a mutex that never allocates and survives fork ------------- */
typedef struct tide_lock {
  pthread_mutex_t m;
} tide_lock;
#define TIDE_LOCK_INIT {PTHREAD_MUTEX_INITIALIZER}
static inline void tide_lock_take(tide_lock *l) { pthread_mutex_lock(&l->m); }
static inline void tide_lock_give(tide_lock *l) { pthread_mutex_unlock(&l->m); }
static inline void tide_lock_reset(tide_lock *l) {
  pthread_mutex_init(&l->m, NULL);
}

/* ---- Options (options.c) ------------------------------------------------ */
typedef struct tide_options {
  size_t mmap_threshold;
  bool mmap_threshold_fixed; /* set by the user: the dynamic rule stops */
  size_t trim_threshold;
  size_t top_pad;
  long mmap_max;
  long purge_delay_ms; /* -1: never purge on a timer */
  int stats;           /* 0 off, 1 text, 2 json */
  int verbose;
  int use_brk;
  int secure;          /* hardened mode: guards, canaries, quarantine... */
  int background_purge; /* a thread purges on the clock (heap.c) */
  long fault_brk;      /* test hook: brk call number N and later fail */
  long fault_at;       /* test hook: the Nth brk/mmap/mremap/madvise fails */
  int fault_kind;      /* 0: any of those; else a tide_os_op + 1 to count */
  char stats_file[256];
  char trace[256];
} tide_options;
extern tide_hidden tide_options tide_opt;
/* The options that change while threads run (the dynamic mmap threshold,
 * mallopt) are read and written through these. */
#define tide_opt_read(field) __atomic_load_n(&tide_opt.field, __ATOMIC_RELAXED)
#define tide_opt_write(field, v) __atomic_store_n(&tide_opt.field, (v), __ATOMIC_RELAXED)
tide_hidden void options_init(void);
tide_hidden int options_mallopt(int param, int value);

/* ---- Secrets and process state (init.c) ------------------------------------ */
extern tide_hidden uintptr_t tide_list_secret; /* free-list encoding */
extern tide_hidden uintptr_t tide_freed_key;   /* marks a freed block */
extern tide_hidden uintptr_t tide_canary_secret; /* secure: block canaries */
extern tide_hidden size_t tide_os_page;        /* OS page size */
extern tide_hidden _Atomic(int) tide_init_state; /* 0 no, 1 running, 2 done */
tide_hidden void init_process(void);
tide_hidden uint64_t init_clock_ns(void); /* monotonic, since process start */
tide_hidden uint64_t init_clock_start_ns(void); /* CLOCK_MONOTONIC at t_ns = 0 */
/* A copy of stderr made at start-up, for output that must outlive the
 * program's own close(2) of fd 2 (the report at exit); 2 if none. */
tide_hidden int init_stderr_fd(void);
tide_hidden void init_publish_heap(uintptr_t start, uintptr_t brk, uintptr_t peak);

/* The process's purge clock: the earliest time at which memory that no heap
 * owns (the brk pool, cached segments and mappings) is due to be given
 * back; 0 when nothing waits.  Any layer notes a deadline; heaps look at
 * it on their heartbeat (heap.c). */
tide_hidden void init_note_purge(uint64_t deadline_ns);
tide_hidden uint64_t init_purge_due(void);
tide_hidden void init_purge_taken(void);

#endif /* TIDE_BASE_H */
