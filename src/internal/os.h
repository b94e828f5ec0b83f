/* SPDX-License-Identifier: MIT */
/* The OS layer (os.c): the one door to the kernel for memory. */
#ifndef TIDE_OS_H
#define TIDE_OS_H

#include "base.h"

/* Each call is counted and traced; failures set errno and return
 * NULL / false; nothing here aborts. */
tide_hidden void *os_mmap(void *hint, size_t size);
tide_hidden void *os_mmap_aligned(size_t size, size_t alignment);
tide_hidden bool os_munmap(void *p, size_t size);
tide_hidden void *os_mremap(void *p, size_t old_size, size_t new_size,
                            int flags, void *new_addr);
tide_hidden bool os_purge(void *p, size_t size);
/* As os_purge, for memory that stays the allocator's (an unused part of a
 * live page): it leaves the committed figure as it is. */
tide_hidden bool os_discard(void *p, size_t size);
tide_hidden bool os_protect(void *p, size_t size); /* PROT_NONE: a guard */
tide_hidden bool os_unprotect(void *p, size_t size); /* a guard usable again */
tide_hidden uintptr_t os_brk_current(void);
tide_hidden bool os_brk_set(uintptr_t new_break);
tide_hidden void os_name(void *p, size_t size, const char *name);
/* Bytes of [p, p + size) the kernel has resident (mincore), a gap in the
 * range counting as not resident.  Not counted or traced: it changes
 * nothing, and statistics call it. */
tide_hidden uint64_t os_resident(const void *p, size_t size);

typedef enum tide_os_op {
  TIDE_OS_BRK_GROW,
  TIDE_OS_BRK_SHRINK,
  TIDE_OS_MMAP,
  TIDE_OS_MUNMAP,
  TIDE_OS_MREMAP,
  TIDE_OS_MADVISE,
  TIDE_OS_OPS
} tide_os_op;
typedef struct tide_os_counts {
  _Atomic(uint64_t) calls[TIDE_OS_OPS];
  _Atomic(uint64_t) bytes[TIDE_OS_OPS];
  _Atomic(uint64_t) failures;
  _Atomic(uint64_t) mapped, mapped_peak;       /* bytes mapped now / at most */
  /* The break's net rise by our own brk calls plus mapped: exact at every
   * call, so its peak is the true one (a foreign sbrk is not ours). */
  _Atomic(uint64_t) committed, committed_peak;
  _Atomic(uint64_t) purged;                    /* bytes madvised, not reused */
  _Atomic(uint64_t) returned;                  /* ever given back */
} tide_os_counts;
extern tide_hidden tide_os_counts tide_os_stats;
tide_hidden void os_note_reused(size_t bytes); /* purged memory in use again */

#endif /* TIDE_OS_H */
