/* SPDX-License-Identifier: MIT */
/* The one door to the kernel: every brk, mmap, munmap, mremap and madvise
 * tidemalloc makes goes through here, is counted, and is traced.
 * Error policy: a failed call returns NULL/false with errno set and leaves
 * nothing half done; callers fall back or report ENOMEM.  Nothing aborts. */
#define _GNU_SOURCE
#include "internal/trace.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

tide_os_counts tide_os_stats;

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static const uintptr_t os_failed = ~(uintptr_t)0;

/* Fault injection for tests (fault_at, fault_kind): is this call the one
 * that must fail?  kind is 1 brk, 2 mmap, 3 mremap, 4 madvise. */
static bool os_inject_fault(int kind) {
  static _Atomic(long) calls;
  if (tide_likely(tide_opt.fault_at <= 0)) return false;
  if (tide_opt.fault_kind != 0 && tide_opt.fault_kind != kind) return false;
  return tide_add(&calls, 1) + 1 == tide_opt.fault_at;
}

/* Where the next aligned mapping is asked for (hint_take). */
static _Atomic(uintptr_t) next_hint;

static void os_count(tide_os_op op, size_t bytes, bool ok) {
  if (!ok) {
    tide_add(&tide_os_stats.failures, 1);
    return;
  }
  tide_add(&tide_os_stats.calls[op], 1);
  tide_add(&tide_os_stats.bytes[op], bytes);
}

static void os_raise(_Atomic(uint64_t) *now_at, _Atomic(uint64_t) *peak_at, size_t bytes) {
  uint64_t now = tide_add(now_at, bytes) + bytes;
  uint64_t peak = tide_load(peak_at);
  while (now > peak && !atomic_compare_exchange_weak(peak_at, &peak, now)) {
  }
}

static void os_returned(size_t bytes) {
  tide_add(&tide_os_stats.returned, bytes);
}

static void os_committed_sub(size_t bytes) {
  atomic_fetch_sub_explicit(&tide_os_stats.committed, bytes, memory_order_relaxed);
}

/* Mapped bytes count as committed too. */
static void os_mapped_add(size_t bytes) {
  os_raise(&tide_os_stats.mapped, &tide_os_stats.mapped_peak, bytes);
  os_raise(&tide_os_stats.committed, &tide_os_stats.committed_peak, bytes);
}

static void os_mapped_sub(size_t bytes) {
  atomic_fetch_sub_explicit(&tide_os_stats.mapped, bytes, memory_order_relaxed);
  os_committed_sub(bytes);
  os_returned(bytes);
}

void os_note_reused(size_t bytes) {
  atomic_fetch_sub_explicit(&tide_os_stats.purged, bytes, memory_order_relaxed);
}

/* Naming our mappings lets /proc/PID/maps tell them apart; kernels without
 * CONFIG_ANON_VMA_NAME refuse, and then we stop trying. */
void os_name(void *p, size_t size, const char *name) {
  static _Atomic(int) unsupported;
  if (tide_load(&unsupported)) return;
  int saved = errno;
  if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size,
            (unsigned long)name) != 0)
    tide_store(&unsupported, 1);
  errno = saved;
}

void *os_mmap(void *hint, size_t size) {
  int saved = errno;
  void *p = MAP_FAILED;
  int err = ENOMEM;
  if (!os_inject_fault(2)) {
    p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    err = errno;
  }
  bool ok = p != MAP_FAILED;
  if (ok) err = 0;
  os_count(TIDE_OS_MMAP, size, ok);
  trace_os(TIDE_OS_MMAP, (uintptr_t)hint, size, ok ? (uintptr_t)p : os_failed,
           err, 0);
  if (!ok) {
    errno = ENOMEM;
    return NULL;
  }
  os_mapped_add(size);
  errno = saved;
  return p;
}

bool os_munmap(void *p, size_t size) {
  int saved = errno;
  bool ok = munmap(p, size) == 0;
  int err = ok ? 0 : errno;
  os_count(TIDE_OS_MUNMAP, size, ok);
  trace_os(TIDE_OS_MUNMAP, (uintptr_t)p, size, ok ? 0 : os_failed, err, 0);
  if (ok) {
    os_mapped_sub(size);
  }
  errno = saved;
  return ok;
}

/* Aligned mappings are asked for in an area of their own, far above the
 * brk heap and below the libraries (16 TiB up, at a random 4 MiB unit of the
 * next TiB), each leaving room above it to grow in place with mremap.  The
 * kernel honours a free hint, so one call usually suffices; if not (a
 * smaller address space, the area taken), map size + alignment and cut. */
#define HINT_AREA_BASE ((uintptr_t)1 << 44)
#define HINT_AREA_SIZE ((uintptr_t)1 << 40)

static uintptr_t hint_take(size_t size, size_t alignment) {
  uintptr_t room = tide_align_up(size, TIDE_SEGMENT_SIZE) * 4;
  if (room < 8 * TIDE_SEGMENT_SIZE) room = 8 * TIDE_SEGMENT_SIZE;
  uintptr_t seen = tide_load(&next_hint);
  for (;;) {
    uintptr_t hint = seen;
    if (hint == 0)
      hint = HINT_AREA_BASE + ((tide_list_secret >> 16) % (HINT_AREA_SIZE >> 22) << 22);
    uintptr_t want = tide_align_up(hint, alignment);
    uintptr_t next = want + room;
    if (next > HINT_AREA_BASE + 2 * HINT_AREA_SIZE) next = 0; /* wrap */
    if (atomic_compare_exchange_weak(&next_hint, &seen, next)) return want;
  }
}

void *os_mmap_aligned(size_t size, size_t alignment) {
  if (size + alignment < size) {
    errno = ENOMEM;
    return NULL;
  }
  uintptr_t want = hint_take(size, alignment);
  if (want + size > want) {
    void *p = os_mmap((void *)want, size);
    if (p == NULL) return NULL;
    if ((uintptr_t)p == want) return p;
    os_munmap(p, size);
  }
  uint8_t *raw = os_mmap(NULL, size + alignment);
  if (raw == NULL) return NULL;
  uint8_t *p = (uint8_t *)tide_align_up((uintptr_t)raw, alignment);
  size_t head = (size_t)(p - raw);
  size_t tail = alignment - head;
  /* The cut-off ends were never ours to hand out: not "returned" memory. */
  if (head) os_munmap(raw, head);
  if (tail) os_munmap(p + size, tail);
  atomic_fetch_sub_explicit(&tide_os_stats.returned, head + tail,
                            memory_order_relaxed);
  return p;
}

void *os_mremap(void *p, size_t old_size, size_t new_size, int flags,
                void *new_addr) {
  int saved = errno;
  void *q = MAP_FAILED;
  int err = ENOMEM;
  if (!os_inject_fault(3)) {
    q = mremap(p, old_size, new_size, flags, new_addr);
    err = errno;
  }
  bool ok = q != MAP_FAILED;
  if (ok) err = 0;
  os_count(TIDE_OS_MREMAP, new_size, ok);
  trace_os(TIDE_OS_MREMAP, (uintptr_t)p, new_size,
           ok ? (uintptr_t)q : os_failed, err, old_size);
  if (!ok) {
    errno = saved;
    return NULL;
  }
  if (new_size > old_size) {
    os_mapped_add(new_size - old_size);
  } else {
    os_mapped_sub(old_size - new_size);
  }
  errno = saved;
  return q;
}

/* Give pages back but keep the range: the next touch faults in zero pages. */
/* One mincore per chunk of up to sizeof vec pages; a chunk with an
 * unmapped page in it (ENOMEM: a gap, or memory given back meanwhile by
 * another thread) is asked again one slice at a time, so the rest of it
 * still counts. */
static uint64_t os_resident_chunk(uintptr_t from, size_t size, unsigned char *vec) {
  if (mincore((void *)from, size, vec) != 0) return UINT64_MAX;
  uint64_t pages = 0;
  for (size_t i = 0; i < size / tide_os_page; i++) pages += vec[i] & 1;
  return pages * tide_os_page;
}

uint64_t os_resident(const void *p, size_t size) {
  unsigned char vec[1024];
  const size_t chunk_max = sizeof vec * tide_os_page, fine = (size_t)64 << 10;
  uintptr_t from = tide_align_down((uintptr_t)p, tide_os_page);
  uintptr_t end = tide_align_up((uintptr_t)p + size, tide_os_page);
  uint64_t resident = 0;
  int saved = errno;
  while (from < end) {
    size_t len = end - from < chunk_max ? end - from : chunk_max;
    uint64_t got = os_resident_chunk(from, len, vec);
    if (got == UINT64_MAX) {
      got = 0;
      for (uintptr_t f = from; f < from + len; f += fine) {
        size_t flen = from + len - f < fine ? from + len - f : fine;
        uint64_t part = os_resident_chunk(f, flen, vec);
        if (part != UINT64_MAX) got += part;
      }
    }
    resident += got;
    from += len;
  }
  errno = saved;
  return resident;
}

/* MADV_DONTNEED: the kernel takes the pages and gives zeros on the next
 * touch.  purged: the range leaves the committed figure until reused. */
static bool os_dontneed(void *p, size_t size, bool purged) {
  int saved = errno;
  bool ok = false;
  int err = ENOMEM;
  if (!os_inject_fault(4)) {
    ok = madvise(p, size, MADV_DONTNEED) == 0;
    if (!ok) err = errno;
  }
  if (ok) err = 0;
  os_count(TIDE_OS_MADVISE, size, ok);
  trace_os(TIDE_OS_MADVISE, (uintptr_t)p, size, ok ? 0 : os_failed, err,
           MADV_DONTNEED);
  if (ok) {
    if (purged) tide_add(&tide_os_stats.purged, size);
    os_returned(size);
  }
  errno = saved;
  return ok;
}

bool os_purge(void *p, size_t size) { return os_dontneed(p, size, true); }
bool os_discard(void *p, size_t size) { return os_dontneed(p, size, false); }

/* Secure mode's guard pages.  Not one of the traced calls: it moves no
 * memory between the process and the kernel. */
static bool os_mprotect(void *p, size_t size, int prot) {
  int saved = errno;
  bool ok = mprotect(p, size, prot) == 0;
  errno = saved;
  return ok;
}

bool os_protect(void *p, size_t size) { return os_mprotect(p, size, PROT_NONE); }
bool os_unprotect(void *p, size_t size) { return os_mprotect(p, size, PROT_READ | PROT_WRITE); }

/* glibc's sbrk/brk keep their cached break (__curbrk) in step with ours, so
 * that other code calling sbrk sees the real break. */
uintptr_t os_brk_current(void) { return (uintptr_t)sbrk(0); }

bool os_brk_set(uintptr_t new_break) {
  static _Atomic(long) brk_calls;
  int saved = errno;
  uintptr_t old = os_brk_current();
  bool grow = new_break > old;
  size_t delta = grow ? new_break - old : old - new_break;
  long n = tide_add(&brk_calls, 1) + 1;
  bool ok;
  int err = 0;
  if ((tide_opt.fault_brk > 0 && n >= tide_opt.fault_brk) || os_inject_fault(1)) {
    ok = false;
    err = ENOMEM;
  } else {
    ok = brk((void *)new_break) == 0;
    if (!ok) err = errno;
  }
  tide_os_op op = grow ? TIDE_OS_BRK_GROW : TIDE_OS_BRK_SHRINK;
  os_count(op, delta, ok);
  trace_os(op, new_break, delta, ok ? new_break : old, err, 0);
  if (ok && !grow) os_returned(delta);
  if (ok && grow) os_raise(&tide_os_stats.committed, &tide_os_stats.committed_peak, delta);
  if (ok && !grow) os_committed_sub(delta);
  errno = saved;
  return ok;
}
