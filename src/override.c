/* SPDX-License-Identifier: MIT */
/* The standard names.  malloc, free, calloc and realloc (and their
 * __libc_ names) are aliases of their tide_ twins, defined beside them
 * (alloc.c, free.c); the others forward to theirs here (a tail jump: the
 * library binds its own calls with -Bsymbolic-functions).  The __libc_
 * names keep a statically linked program from pulling glibc's malloc.o
 * in beside ours.  Not built into the prefixed library. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <malloc.h>
#include <stdlib.h>

#define tide_public __attribute__((visibility("default")))

/* C23's, not yet declared by glibc 2.36's headers; and glibc's internals. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __libc_mallopt(int param, int value);
int __posix_memalign(void **out, size_t alignment, size_t size);

tide_public void *reallocarray(void *p, size_t n, size_t size) {
  return tide_reallocarray(p, n, size);
}
tide_public void *aligned_alloc(size_t alignment, size_t size) {
  return tide_aligned_alloc(alignment, size);
}
tide_public int posix_memalign(void **out, size_t alignment, size_t size) {
  return tide_posix_memalign(out, alignment, size);
}
tide_public void *memalign(size_t alignment, size_t size) {
  return tide_memalign(alignment, size);
}
tide_public void *valloc(size_t size) { return tide_valloc(size); }
tide_public void *pvalloc(size_t size) { return tide_pvalloc(size); }
tide_public size_t malloc_usable_size(void *p) { return tide_malloc_usable_size(p); }
tide_public void free_sized(void *p, size_t size) { tide_free_sized(p, size); }
tide_public void free_aligned_sized(void *p, size_t alignment, size_t size) {
  tide_free_aligned_sized(p, alignment, size);
}
tide_public int malloc_trim(size_t pad) { return tide_malloc_trim(pad); }
tide_public int mallopt(int param, int value) { return tide_mallopt(param, value); }
tide_public struct mallinfo mallinfo(void) { return tide_mallinfo(); }
tide_public struct mallinfo2 mallinfo2(void) { return tide_mallinfo2(); }
tide_public void malloc_stats(void) { tide_malloc_stats(); }
tide_public int malloc_info(int options, FILE *stream) {
  return tide_malloc_info(options, stream);
}

tide_public void *__libc_memalign(size_t alignment, size_t size) {
  return tide_memalign(alignment, size);
}
tide_public void *__libc_valloc(size_t size) { return tide_valloc(size); }
tide_public void *__libc_pvalloc(size_t size) { return tide_pvalloc(size); }
tide_public int __libc_mallopt(int param, int value) { return tide_mallopt(param, value); }
tide_public int __posix_memalign(void **out, size_t alignment, size_t size) {
  return tide_posix_memalign(out, alignment, size);
}
