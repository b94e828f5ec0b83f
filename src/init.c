/* SPDX-License-Identifier: MIT */
/* Process start-up, secrets, the clock, fork, and the one way out when the
 * heap is corrupt.  Start-up runs on the first allocation of any thread and
 * never allocates: it may be reached from ld.so, constructors or dlsym. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h> /* glibc 2.32 */
#define TIDE_HAVE_SINGLE_THREADED 1
#endif
#endif
#ifndef TIDE_HAVE_SINGLE_THREADED
#define TIDE_HAVE_SINGLE_THREADED 0
#endif

uintptr_t tide_list_secret;
uintptr_t tide_freed_key = 0x7469646566726565ULL; /* replaced at start-up */
uintptr_t tide_canary_secret;
bool tide_valgrind;
size_t tide_os_page = 4096;
_Atomic(int) tide_init_state;
static uint64_t clock_start_ns;

__attribute__((visibility("default"))) struct tide_introspect tide_introspect;

static uint64_t clock_raw_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t init_clock_ns(void) { return clock_raw_ns() - clock_start_ns; }

uint64_t init_clock_start_ns(void) { return clock_start_ns; }

/* ---- stderr kept for the report at exit ---------------------------------- */
/* ls, sort and the rest of coreutils close stderr in an atexit handler, so
 * the report our destructor writes later would meet EBADF.  A copy made at
 * start-up survives that.  It sits high (out of the way of programs that
 * count on small descriptors) and close-on-exec (the next program makes its
 * own).  A program may still close it (closefrom) and the number be reused
 * by another file: the device and inode taken now tell at exit. */
#define STDERR_KEEP_MIN 500
static int kept_stderr = -1;
static dev_t kept_dev;
static ino_t kept_ino;

static void init_keep_stderr(void) {
  if (kept_stderr >= 0) return;
  struct stat st;
  if (fstat(2, &st) != 0) return; /* no stderr: nothing to keep */
  int fd = fcntl(2, F_DUPFD_CLOEXEC, STDERR_KEEP_MIN);
  if (fd < 0) fd = fcntl(2, F_DUPFD_CLOEXEC, 3); /* RLIMIT_NOFILE below it */
  if (fd < 0) return;
  kept_stderr = fd;
  kept_dev = st.st_dev;
  kept_ino = st.st_ino;
}

int init_stderr_fd(void) {
  struct stat st;
  if (kept_stderr >= 0 && fstat(kept_stderr, &st) == 0 && st.st_dev == kept_dev &&
      st.st_ino == kept_ino)
    return kept_stderr;
  return 2;
}

static uintptr_t init_random_word(void) {
  uintptr_t r = 0;
  if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r) && r != 0)
    return r;
  /* No entropy yet (early boot): the kernel's AT_RANDOM bytes, mixed. */
  const uintptr_t *at = (const uintptr_t *)getauxval(AT_RANDOM);
  r = at ? at[0] ^ at[1] : 0;
  return r ^ clock_raw_ns() ^ ((uintptr_t)&r << 17) ^ 0x9e3779b97f4a7c15ULL;
}

/* ---- The purge clock ---------------------------------------------------- */
static _Atomic(uint64_t) purge_deadline_ns;

void init_note_purge(uint64_t deadline_ns) {
  uint64_t old = tide_load(&purge_deadline_ns);
  while ((old == 0 || deadline_ns < old) &&
         !atomic_compare_exchange_weak(&purge_deadline_ns, &old, deadline_ns)) {
  }
}

uint64_t init_purge_due(void) { return tide_load(&purge_deadline_ns); }

/* Whoever runs the process-wide purge clears the clock first; what is still
 * waiting afterwards notes itself again. */
void init_purge_taken(void) { tide_store(&purge_deadline_ns, 0); }

void init_publish_heap(uintptr_t start, uintptr_t brk, uintptr_t peak) {
  tide_introspect.heap_start = start;
  tide_introspect.heap_break = brk;
  tide_introspect.heap_peak_break = peak;
}

/* ---- fork --------------------------------------------------------------- */
/* The child must find every allocator lock free and the state it guards
 * whole, so the forking thread holds them all across fork().  Two rules keep
 * that from deadlocking:
 *
 * 1. Our locks come after libc's.  glibc runs the atfork prepare handlers
 *    first and takes its stdio list lock afterwards; a thread can hold the
 *    list lock while it waits for a FILE's lock (fflush(NULL)), and hold a
 *    FILE's lock while it waits for ours (getline reallocs its line).  Had
 *    we held our locks while fork waited for the list lock, the three
 *    threads would wait for each other forever.  So the prepare handler
 *    takes the list lock first (it is recursive: fork's own take nests
 *    inside ours), the order glibc's own malloc keeps.  Paths that hold an
 *    allocator lock never wait for anything but another allocator lock
 *    taken in the order below (bg, heaps, huge, segment, brk), and make
 *    system calls only: no stdio, no pthread_create, no dlsym.
 * 2. A single-threaded process takes nothing: no other thread can hold a
 *    lock, and the only way to fork while one of ours is held is from a
 *    signal handler that interrupted the allocator, where taking it would
 *    wait for ourselves.  glibc's malloc skips its locks there too.
 *
 * glibc exports the list lock's functions (GLIBC_2.2.5) without declaring
 * them; weak, so that a libc without them links and skips the step. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

/* Whether this thread's prepare handler took the locks: the parent and
 * child handlers undo exactly that, even if the thread count changed. */
static __thread bool fork_locked __attribute__((tls_model("initial-exec")));

static bool init_single_threaded(void) {
#if TIDE_HAVE_SINGLE_THREADED
  return __libc_single_threaded;
#else
  return false; /* unknown: take the locks */
#endif
}

static void fork_prepare(void) {
  fork_locked = !init_single_threaded();
  if (!fork_locked) return;
  if (_IO_list_lock) _IO_list_lock();
  heap_fork_prepare();
  huge_fork_prepare();
  segment_fork_prepare();
  brk_fork_prepare();
}

static void fork_parent(void) {
  if (!fork_locked) return;
  brk_fork_parent();
  segment_fork_parent();
  huge_fork_parent();
  heap_fork_parent();
  if (_IO_list_unlock) _IO_list_unlock();
}

static void fork_child(void) {
  if (fork_locked) {
    brk_fork_child();
    segment_fork_child();
    huge_fork_child();
    heap_fork_child();
    /* glibc resets the list lock in a threaded parent's child before the
     * child handlers run; resetting it again is harmless, and releases it
     * where a libc did not (one unlock would leave its count wrong where
     * it did). */
    if (_IO_list_resetlock) _IO_list_resetlock();
    fork_locked = false;
  }
  trace_fork_child();
}

/* Only memcheck has a use for our client requests, and only it answers
 * MAKE_MEM_DEFINED with -1 (other tools give the default, 0).  Under
 * callgrind or cachegrind the fast paths must run, or a profile of a
 * program on tidemalloc would show paths it never takes natively. */
static bool init_under_memcheck(void) {
#if TIDE_HAVE_VALGRIND
  static uint64_t probe;
  if (!RUNNING_ON_VALGRIND) return false;
  return (long)VALGRIND_MAKE_MEM_DEFINED(&probe, sizeof(probe)) == -1;
#else
  return false;
#endif
}

void init_process(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&tide_init_state, &expected, 1)) {
    while (atomic_load(&tide_init_state) != 2) sched_yield();
    return;
  }
  clock_start_ns = clock_raw_ns();
  long page = (long)getauxval(AT_PAGESZ);
  if (page > 0) tide_os_page = (size_t)page;
  tide_list_secret = init_random_word();
  tide_freed_key = init_random_word() | 1; /* odd: see block_freed_key */
  tide_canary_secret = init_random_word();
  tide_valgrind = init_under_memcheck();
  options_init();
  /* valgrind (any tool) emulates brk by growing the mapping below the
   * break, and gives the new pages its protection: above a PROT_NONE guard
   * slice they would be unusable.  Under valgrind the hardened mode takes
   * its segments from mmap. */
  if (RUNNING_ON_VALGRIND && tide_opt.secure) tide_opt.use_brk = 0;
  if (tide_opt.stats != 0 || strcmp(tide_opt.trace, "stderr") == 0) init_keep_stderr();
  stats_open();
  trace_open();
  heap_process_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  tide_introspect.version = TIDE_INTROSPECT_VERSION;
  tide_introspect.segment_shift = TIDE_SEGMENT_SHIFT;
  tide_introspect.segment_map = (uint64_t)(uintptr_t)tide_segmap_head;
  tide_introspect.segment_cont_map = (uint64_t)(uintptr_t)tide_segmap_cont;
  tide_introspect.map_bits = TIDE_MAP_BITS;
  atomic_thread_fence(memory_order_release);
  tide_introspect.magic = TIDE_INTROSPECT_MAGIC;
  atomic_store(&tide_init_state, 2);
}

__attribute__((destructor)) static void init_at_exit(void) {
  if (atomic_load(&tide_init_state) == 2) stats_at_exit();
}

/* ---- The way out --------------------------------------------------------- */
_Noreturn void tide_fatal(const char *func, const char *what, const void *addr) {
  char line[256];
  tide_buf b = {line, 0, sizeof(line), -1, NULL};
  fmt_str(&b, "tidemalloc: ");
  fmt_str(&b, func);
  fmt_str(&b, "(): ");
  fmt_str(&b, what);
  fmt_str(&b, " ");
  fmt_hex(&b, (uintptr_t)addr);
  fmt_str(&b, "\n");
  fmt_write_all(2, line, b.len);
  abort();
}

_Noreturn void tide_assert_fail(const char *what, const char *file, int line) {
  char text[256];
  tide_buf b = {text, 0, sizeof(text), -1, NULL};
  fmt_str(&b, "tidemalloc: internal check failed: ");
  fmt_str(&b, what);
  fmt_str(&b, " at ");
  fmt_str(&b, file);
  fmt_str(&b, ":");
  fmt_u64(&b, (uint64_t)line);
  fmt_str(&b, "\n");
  fmt_write_all(2, text, b.len);
  abort();
}
