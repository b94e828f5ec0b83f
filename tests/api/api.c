/* SPDX-License-Identifier: MIT */
/* API conformance: every exported function, glibc's semantics.
 * Built twice: linked with -ltidemalloc, and plain (run under LD_PRELOAD).
 * The tide_* extras are looked up with dlsym so that one source serves both. */
#include "common.h"

#include <fcntl.h>
#include <stdalign.h>
#include <sys/wait.h>

/* Deliberate: a failed realloc leaves the old block valid, and we check it;
 * mallinfo is deprecated but part of the API under test. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int tide; /* tidemalloc is the allocator here (not glibc) */

/* Not declared by glibc 2.36's headers. */
typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

static const size_t MiB = 1024 * 1024;

/* ---- allocation before main and after exit -------------------------------- */
static void *ctor_block;
static size_t ctor_size = 1000;
__attribute__((constructor)) static void early(void) {
  ctor_block = malloc(ctor_size);
  if (ctor_block) t_fill(ctor_block, ctor_size);
  void *q = calloc(10, 100);
  free(q);
}
__attribute__((destructor)) static void late(void) {
  void *q = malloc(300);
  if (q) memset(q, 1, 300);
  free(q);
}

static void check_aligned(void *p, size_t align, const char *what, size_t size) {
  CHECK(p != NULL, "%s(align %zu, size %zu) returned NULL", what, align, size);
  if (!p) return;
  CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(%zu, %zu) = %p not aligned", what, align, size, p);
  CHECK(((uintptr_t)p & 15) == 0, "%s(%zu, %zu) = %p not 16-aligned", what, align, size, p);
  size_t u = malloc_usable_size(p);
  CHECK(u >= size, "%s(%zu, %zu): usable size %zu < size", what, align, size, u);
  if (u >= size) {
    t_fill(p, u);
    CHECK(t_check(p, u) == (size_t)-1, "%s(%zu, %zu): usable memory not writable", what, align, size);
  }
}

static void test_malloc_basic(void) {
  /* malloc(0): unique, freeable pointers. */
  void *z[64];
  for (int i = 0; i < 64; i++) {
    z[i] = malloc(0);
    CHECK(z[i] != NULL, "malloc(0) returned NULL");
    CHECK(((uintptr_t)z[i] & 15) == 0, "malloc(0) = %p not 16-aligned", z[i]);
    for (int j = 0; j < i; j++) CHECK(z[i] != z[j], "malloc(0) returned %p twice", z[i]);
  }
  for (int i = 0; i < 64; i++) free(z[i]);
  free(NULL);

  /* Alignment and usable size for every small size and a spread of large ones. */
  static void *blocks[5000];
  size_t nb = 0;
  for (size_t s = 1; s <= 4096; s++) {
    void *p = malloc(s);
    CHECK(p != NULL, "malloc(%zu) NULL", s);
    if (!p) continue;
    CHECK(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p not 16-aligned", s, p);
    size_t u = malloc_usable_size(p);
    CHECK(u >= s, "malloc_usable_size(malloc(%zu)) = %zu", s, u);
    t_fill(p, u);
    blocks[nb++] = p;
  }
  for (size_t i = 0; i < nb; i++) {
    size_t u = malloc_usable_size(blocks[i]);
    CHECK(t_check(blocks[i], u) == (size_t)-1, "block %zu (%p) corrupted by its neighbours", i, blocks[i]);
    free(blocks[i]);
  }
  for (size_t s = 4096; s <= 64 * MiB; s = s * 3 / 2 + 7) {
    void *p = malloc(s);
    CHECK(p != NULL, "malloc(%zu) NULL", s);
    if (!p) continue;
    CHECK(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p not 16-aligned", s, p);
    size_t u = malloc_usable_size(p);
    CHECK(u >= s, "malloc_usable_size(malloc(%zu)) = %zu", s, u);
    memset(p, 0x5a, u); /* all of it writable */
    free(p);
  }
  CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");
}

static void test_enomem(void) {
  size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    size_t n = t_opaque(huge[i]);
    errno = 0;
    void *p = malloc(n);
    CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", n, p, errno);
    free(p);
    errno = 0;
    p = calloc(1, n);
    CHECK(p == NULL && errno == ENOMEM, "calloc(1, %zu) = %p errno %d", n, p, errno);
    free(p);
    errno = 0;
    p = aligned_alloc(64, n & ~(size_t)63);
    CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(64, huge) = %p errno %d", p, errno);
    free(p);
    void *out = (void *)1;
    int rc = posix_memalign(&out, 64, n);
    CHECK(rc == ENOMEM, "posix_memalign(64, %zu) = %d", n, rc);
    errno = 0;
    p = memalign(4096, n);
    CHECK(p == NULL && errno == ENOMEM, "memalign(4096, huge) = %p errno %d", p, errno);
    errno = 0;
    p = valloc(n);
    CHECK(p == NULL && errno == ENOMEM, "valloc(huge) = %p errno %d", p, errno);
    errno = 0;
    p = pvalloc(n);
    CHECK(p == NULL && errno == ENOMEM, "pvalloc(huge) = %p errno %d", p, errno);
  }
  /* calloc overflow of count * size. */
  struct { size_t a, b; } ov[] = {
      {SIZE_MAX, 2}, {2, SIZE_MAX}, {(size_t)1 << 32, (size_t)1 << 32},
      {(size_t)1 << 33, (size_t)1 << 31}, {SIZE_MAX / 3 + 1, 3}, {SIZE_MAX, SIZE_MAX}};
  for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
    size_t a = t_opaque(ov[i].a), b = t_opaque(ov[i].b);
    errno = 0;
    void *p = calloc(a, b);
    CHECK(p == NULL && errno == ENOMEM, "calloc(%zu, %zu) = %p errno %d", a, b, p, errno);
    errno = 0;
    p = reallocarray(NULL, a, b);
    CHECK(p == NULL && errno == ENOMEM, "reallocarray(NULL, %zu, %zu) = %p errno %d", a, b, p, errno);
    void *q = malloc(100);
    t_fill(q, 100);
    errno = 0;
    p = reallocarray(q, a, b);
    CHECK(p == NULL && errno == ENOMEM, "reallocarray(q, %zu, %zu) = %p errno %d", a, b, p, errno);
    CHECK(t_check(q, 100) == (size_t)-1, "reallocarray failure damaged the old block");
    free(q);
  }
  /* realloc to an impossible size leaves the block alone. */
  void *q = malloc(5000);
  t_fill(q, 5000);
  errno = 0;
  void *p = realloc(q, t_opaque(SIZE_MAX));
  CHECK(p == NULL && errno == ENOMEM, "realloc(q, SIZE_MAX) = %p errno %d", p, errno);
  CHECK(t_check(q, 5000) == (size_t)-1, "failed realloc damaged the old block");
  free(q);
  /* calloc(0, n), calloc(n, 0): a unique freeable pointer, as malloc(0). */
  p = calloc(0, 100);
  q = calloc(100, 0);
  CHECK(p && q && p != q, "calloc with a zero count/size: %p %p", p, q);
  free(p);
  free(q);
  /* reallocarray that fits. */
  p = reallocarray(NULL, 10, 10);
  CHECK(p != NULL, "reallocarray(NULL,10,10) NULL");
  t_fill_tag(p, 100, 99);
  p = reallocarray(p, 1000, 10);
  CHECK(p && t_check_tag(p, 100, 100, 99) == (size_t)-1, "reallocarray(p, 1000, 10) lost contents");
  free(p);
}

/* Small alignments up to 128 are served by malloc's fast path from the
 * class the size rounds up to: blocks of every size up to 128 at every
 * such alignment, many at once (several pages each), half freed and
 * allocated again (the page's local free list, then the slow path), mixed
 * with plain mallocs of the same classes, every one aligned, writable and
 * kept; and each accepted by free_aligned_sized with its own size. */
static void test_aligned_small(void) {
  free_aligned_sized_fn fas = (free_aligned_sized_fn)t_sym("free_aligned_sized");
  enum { N = 1500 };
  static void *blocks[N];
  static size_t sizes[N];
  for (size_t a = 32; a <= 128; a <<= 1) {
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < N; i++) {
        if (round > 0 && i % 2 == 0) continue; /* kept from the round before */
        size_t s = (size_t)(i * 7 + round) % 129;
        void *plain = malloc(s ? s : 1); /* the same classes, unaligned requests */
        void *p = i % 3 == 0 ? memalign(a, s) : i % 3 == 1 ? aligned_alloc(a, s) : NULL;
        if (i % 3 == 2) CHECK(posix_memalign(&p, a, s) == 0, "posix_memalign(%zu, %zu) failed", a, s);
        CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0, "small aligned (%zu, %zu) = %p", a, s, p);
        if (p != NULL) t_fill_tag(p, s, (unsigned)i);
        blocks[i] = p;
        sizes[i] = s;
        free(plain);
      }
      for (int i = 0; i < N; i++) {
        if (blocks[i] == NULL) continue;
        CHECK(t_check_tag(blocks[i], sizes[i], sizes[i], (unsigned)i) == (size_t)-1,
              "small aligned block %d (%zu, %zu) overwritten", i, a, sizes[i]);
        if (i % 2 == 1 || round == 2) {
          if (fas != NULL && i % 4 == 1)
            fas(blocks[i], a, sizes[i]);
          else
            free(blocks[i]);
          blocks[i] = NULL;
        }
      }
    }
  }
}

static void test_aligned(void) {
  /* Every power of two from 1 B to 1 MiB, several sizes each. */
  for (size_t a = 1; a <= MiB; a <<= 1) {
    size_t sizes[] = {1, a, 3 * a, a + 1, 100, 5000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t s = sizes[k];
      void *p = aligned_alloc(a, s);
      check_aligned(p, a, "aligned_alloc", s);
      void *q = memalign(a, s);
      check_aligned(q, a, "memalign", s);
      void *r = NULL;
      if (a >= sizeof(void *)) {
        int rc = posix_memalign(&r, a, s);
        CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", a, s, rc);
        if (rc == 0) check_aligned(r, a, "posix_memalign", s);
      }
      if (p && q) CHECK(t_check(p, malloc_usable_size(p)) == (size_t)-1, "aligned block overwritten");
      free(p);
      free(q);
      free(r);
    }
  }
  /* Many live aligned blocks at once, so that they share pages. */
  void *many[600];
  for (int i = 0; i < 600; i++) {
    size_t a = (size_t)1 << (i % 13);
    size_t s = 1 + (size_t)(i * 37 % 3000);
    many[i] = aligned_alloc(a, s);
    check_aligned(many[i], a, "aligned_alloc(many)", s);
    if (many[i]) t_fill(many[i], s);
  }
  for (int i = 0; i < 600; i++) {
    size_t s = 1 + (size_t)(i * 37 % 3000);
    if (many[i]) CHECK(t_check(many[i], s) == (size_t)-1, "aligned block %d corrupted", i);
    free(many[i]);
  }

  /* posix_memalign: EINVAL for non-power-of-two or not a multiple of
   * sizeof(void *); *out untouched. */
  size_t bad[] = {0, 1, 2, 4, 3, 24, 48, 96, 4097, 1000000, SIZE_MAX};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    void *out = (void *)0x1234;
    int rc = posix_memalign(&out, t_opaque(bad[k]), 64);
    CHECK(rc == EINVAL, "posix_memalign(align %zu) = %d, want EINVAL", bad[k], rc);
    CHECK(out == (void *)0x1234, "posix_memalign(align %zu) changed *out on failure", bad[k]);
  }
  /* posix_memalign(size 0) gives something freeable (or NULL). */
  void *out = NULL;
  CHECK(posix_memalign(&out, 64, 0) == 0, "posix_memalign(64, 0) failed");
  free(out);

  /* aligned_alloc with an alignment that is not a power of two: NULL, EINVAL
   * (glibc >= 2.38; older glibc rounds up, so only for tidemalloc). */
  if (tide) {
    size_t badal[] = {3, 24, 100, 4097, 0};
    for (size_t k = 0; k < sizeof badal / sizeof badal[0]; k++) {
      errno = 0;
      void *p = aligned_alloc(t_opaque(badal[k]), 64);
      CHECK(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p errno %d, want NULL/EINVAL",
            badal[k], p, errno);
      free(p);
    }
  }

  /* valloc/pvalloc: page aligned; pvalloc rounds the size up to pages. */
  size_t pg = (size_t)t_page();
  size_t vs[] = {0, 1, 100, 4095, 4096, 4097, 70000, 200000, 3 * MiB};
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
    void *p = valloc(vs[k]);
    CHECK(p && ((uintptr_t)p % pg) == 0, "valloc(%zu) = %p", vs[k], p);
    if (p) {
      CHECK(malloc_usable_size(p) >= vs[k], "valloc usable size");
      memset(p, 0x11, malloc_usable_size(p));
    }
    void *q = pvalloc(vs[k]);
    CHECK(q && ((uintptr_t)q % pg) == 0, "pvalloc(%zu) = %p", vs[k], q);
    if (q) {
      size_t want = (vs[k] + pg - 1) / pg * pg;
      size_t u = malloc_usable_size(q);
      CHECK(u >= want, "pvalloc(%zu): usable %zu < %zu (rounded to pages)", vs[k], u, want);
      memset(q, 0x22, u);
    }
    free(p);
    free(q);
  }
}

/* Grow a block through every size boundary and back, checking contents. */
static void test_realloc_walk(void) {
  size_t sizes[2000];
  size_t n = 0;
  for (size_t s = 1; s <= 64 * 1024; s += 1 + s / 12) sizes[n++] = s;
  for (size_t b = 16; b <= 64 * 1024; b <<= 1) { /* each side of powers of two */
    sizes[n++] = b - 1;
    sizes[n++] = b;
    sizes[n++] = b + 1;
  }
  /* sort the small part */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
      size_t t = sizes[j];
      sizes[j] = sizes[j - 1];
      sizes[j - 1] = t;
    }
  size_t big[] = {100000, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 200000, MiB, 4 * MiB, 10 * MiB};
  for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) sizes[n++] = big[k];

  static size_t path[4000];
  size_t np = 0;
  for (size_t i = 0; i < n; i++) path[np++] = sizes[i];
  for (size_t i = n; i-- > 0;) path[np++] = sizes[i];

  uint64_t tag = 12345;
  void *p = realloc(NULL, path[0]); /* realloc(NULL, n) is malloc */
  REQUIRE(p != NULL, "realloc(NULL, %zu) NULL", path[0]);
  t_fill_tag(p, path[0], tag);
  size_t cur = path[0];
  for (size_t i = 1; i < np; i++) {
    size_t want = path[i];
    void *q = realloc(p, want);
    CHECK(q != NULL, "realloc(%p, %zu -> %zu) NULL", p, cur, want);
    if (!q) break;
    CHECK(((uintptr_t)q & 15) == 0, "realloc to %zu: %p not 16-aligned", want, q);
    size_t keep = cur < want ? cur : want;
    size_t bad = t_check_tag(q, cur, keep, tag);
    CHECK(bad == (size_t)-1, "realloc %zu -> %zu lost contents at offset %zu", cur, want, bad);
    CHECK(malloc_usable_size(q) >= want, "realloc %zu -> %zu: usable %zu", cur, want, malloc_usable_size(q));
    tag++;
    t_fill_tag(q, want, tag);
    p = q;
    cur = want;
  }
  free(p);

  /* Grow in place-ish: many small increments of one block next to others. */
  void *a = malloc(10), *b = malloc(10);
  t_fill_tag(b, 10, 7);
  for (size_t s = 10; s < 300000; s += 997) {
    a = realloc(a, s);
    REQUIRE(a, "realloc NULL");
    memset(a, 0x33, s);
  }
  CHECK(t_check_tag(b, 10, 10, 7) == (size_t)-1, "neighbour damaged by realloc growth");
  free(a);
  free(b);

  /* realloc(p, 0): frees and returns NULL (glibc 2.36). */
  struct tide_stats s0, s1;
  void *z = malloc(100000);
  memset(z, 1, 100000);
  int have = t_stats(&s0) == 0;
  errno = 0;
  void *r = realloc(z, 0);
  CHECK(r == NULL, "realloc(p, 0) = %p, want NULL (glibc frees and returns NULL)", r);
  if (r) free(r);
  if (have && t_stats(&s1) == 0) {
    CHECK(s1.allocated_bytes + 90000 <= s0.allocated_bytes,
          "realloc(p, 0) did not free: allocated_bytes %llu -> %llu",
          (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
  }
  /* realloc(NULL, 0) is malloc(0). */
  r = realloc(NULL, 0);
  CHECK(r != NULL, "realloc(NULL, 0) returned NULL");
  free(r);
}

static void test_calloc(void) {
  /* Dirty memory, freed, then calloc'd again: must read as zero. */
  size_t sizes[] = {1, 8, 16, 24, 100, 512, 1000, 4096, 8000, 30000, 100000, 130000, 300000, 2 * MiB};
  enum { N = sizeof sizes / sizeof sizes[0], R = 40 };
  for (int round = 0; round < 3; round++) {
    void *p[N][R];
    for (size_t i = 0; i < N; i++)
      for (int j = 0; j < R; j++) {
        if (sizes[i] > 256 * 1024 && j >= 4) { /* fewer of the big ones */
          p[i][j] = NULL;
          continue;
        }
        p[i][j] = malloc(sizes[i]);
        REQUIRE(p[i][j], "malloc failed");
        memset(p[i][j], 0xa5, malloc_usable_size(p[i][j]));
      }
    for (size_t i = 0; i < N; i++)
      for (int j = 0; j < R; j++) free(p[i][j]);
    for (size_t i = 0; i < N; i++)
      for (int j = 0; j < R; j++) {
        if (sizes[i] > 256 * 1024 && j >= 4) continue;
        size_t cnt = sizes[i] >= 8 && j % 2 ? sizes[i] / 8 : sizes[i];
        size_t el = sizes[i] >= 8 && j % 2 ? 8 : 1;
        unsigned char *c = calloc(cnt, el);
        REQUIRE(c, "calloc failed");
        size_t bad = (size_t)-1;
        for (size_t k = 0; k < cnt * el; k++)
          if (c[k]) {
            bad = k;
            break;
          }
        CHECK(bad == (size_t)-1, "calloc(%zu, %zu) round %d: byte %zu is 0x%02x", cnt, el, round, bad,
              bad == (size_t)-1 ? 0 : c[bad]);
        p[i][j] = c;
      }
    for (size_t i = 0; i < N; i++)
      for (int j = 0; j < R; j++) {
        if (!p[i][j]) continue;
        memset(p[i][j], 0x5a, sizes[i]);
        free(p[i][j]);
      }
  }
}

static void test_free_sized(void) {
  free_sized_fn fs = (free_sized_fn)t_sym("free_sized");
  free_aligned_sized_fn fas = (free_aligned_sized_fn)t_sym("free_aligned_sized");
  if (!tide && (!fs || !fas)) return; /* glibc 2.36 has neither */
  CHECK(fs != NULL, "free_sized is not exported");
  CHECK(fas != NULL, "free_aligned_sized is not exported");
  if (!fs || !fas) return;
  for (size_t s = 1; s < 3 * MiB; s = s * 2 + 3) {
    void *p = malloc(s);
    memset(p, 1, s);
    fs(p, s);
    p = calloc(1, s);
    fs(p, s);
    for (size_t a = 16; a <= 65536; a <<= 4) {
      void *q = aligned_alloc(a, s);
      memset(q, 2, s);
      fas(q, a, s);
    }
  }
  fs(NULL, 0);
  fas(NULL, 64, 0);
  /* Memory freed with free_sized is reused, not leaked. */
  struct tide_stats s0, s1;
  if (t_stats(&s0) == 0) {
    for (int i = 0; i < 20000; i++) {
      void *p = malloc(1000);
      fs(p, 1000);
    }
    t_stats(&s1);
    CHECK(s1.allocated_bytes < s0.allocated_bytes + 100000, "free_sized leaks: allocated %llu -> %llu",
          (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
  }
}

static void test_mallinfo(void) {
  struct mallinfo2 m0 = mallinfo2();
  struct mallinfo o0 = mallinfo();
  enum { N = 10 * 1024 * 1024 / 64 };
  void **v = malloc(N * sizeof *v);
  REQUIRE(v, "malloc");
  for (size_t i = 0; i < N; i++) {
    v[i] = malloc(64);
    REQUIRE(v[i], "malloc(64) failed at %zu", i);
    *(volatile char *)v[i] = 1;
  }
  struct mallinfo2 m1 = mallinfo2();
  struct mallinfo o1 = mallinfo();
  CHECK(m1.uordblks >= m0.uordblks + 9 * MiB, "mallinfo2.uordblks %zu -> %zu after 10 MiB of 64-byte blocks",
        m0.uordblks, m1.uordblks);
  CHECK(m1.uordblks < m0.uordblks + 40 * MiB, "mallinfo2.uordblks grew implausibly: %zu -> %zu", m0.uordblks,
        m1.uordblks);
  CHECK(m1.arena >= m1.uordblks, "mallinfo2.arena %zu < uordblks %zu (arena counts the non-mmapped space)",
        m1.arena, m1.uordblks);
  CHECK((size_t)o1.uordblks >= (size_t)o0.uordblks + 9 * MiB, "mallinfo.uordblks %d -> %d", o0.uordblks,
        o1.uordblks);
  /* A mapped block shows in hblks/hblkhd. */
  void *big = malloc(4 * MiB);
  memset(big, 1, 4096);
  struct mallinfo2 m2 = mallinfo2();
  /* (glibc serves it from the top chunk when that is big enough; tidemalloc
   * maps every block at or above the threshold.) */
  if (tide)
    CHECK(m2.hblks >= m1.hblks + 1 && m2.hblkhd >= m1.hblkhd + 4 * MiB,
        "4 MiB block not counted as mmapped: hblks %zu -> %zu, hblkhd %zu -> %zu", m1.hblks, m2.hblks, m1.hblkhd,
        m2.hblkhd);
  free(big);
  for (size_t i = 0; i < N; i++) free(v[i]);
  free(v);
  struct mallinfo2 m3 = mallinfo2();
  CHECK(m3.uordblks < m0.uordblks + 2 * MiB, "mallinfo2.uordblks did not come back: %zu -> %zu -> %zu",
        m0.uordblks, m1.uordblks, m3.uordblks);
  CHECK(m3.fordblks <= m3.arena, "mallinfo2.fordblks %zu > arena %zu", m3.fordblks, m3.arena);
}

/* Run fn in a child with stderr (and stdout) captured; return the text. */
static char *capture_child(void (*fn)(void), int want_fd, size_t *len) {
  char path[] = "/tmp/tide-api-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0, "mkstemp");
  unlink(path);
  fflush(NULL);
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    dup2(fd, want_fd);
    fn();
    fflush(NULL);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child for capture died (status 0x%x)", st);
  off_t end = lseek(fd, 0, SEEK_END);
  char *buf = malloc((size_t)end + 1);
  if (pread(fd, buf, (size_t)end, 0) != end) end = 0;
  buf[end] = 0;
  *len = (size_t)end;
  close(fd);
  return buf;
}

static void do_malloc_stats(void) {
  void *p = malloc(1000);
  malloc_stats();
  free(p);
}

static void test_stats_output(void) {
  size_t n;
  char *s = capture_child(do_malloc_stats, 2, &n);
  CHECK(n > 20, "malloc_stats wrote %zu bytes to stderr", n);
  free(s);
  s = capture_child(do_malloc_stats, 1, &n);
  CHECK(n == 0, "malloc_stats wrote %zu bytes to stdout (it writes to stderr)", n);
  free(s);

  FILE *f = tmpfile();
  REQUIRE(f, "tmpfile");
  int rc = malloc_info(0, f);
  CHECK(rc == 0, "malloc_info(0, f) = %d", rc);
  long len = ftell(f);
  CHECK(len > 10, "malloc_info wrote %ld bytes", len);
  rewind(f);
  char head[64] = {0};
  CHECK(fread(head, 1, sizeof head - 1, f) > 0 && strncmp(head, "<malloc", 7) == 0,
        "malloc_info output does not start with <malloc: '%.20s'", head);
  fclose(f);
  f = tmpfile();
  rc = malloc_info(1, f);
  CHECK(rc != 0, "malloc_info(1, f) = 0; glibc rejects options != 0");
  fclose(f);

  rc = malloc_trim(0);
  CHECK(rc == 0 || rc == 1, "malloc_trim(0) = %d", rc);
  rc = malloc_trim(1 << 20);
  CHECK(rc == 0 || rc == 1, "malloc_trim(1M) = %d", rc);
}

static void test_mallopt(void) {
  CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1, "mallopt(M_TRIM_THRESHOLD) != 1");
  CHECK(mallopt(M_TOP_PAD, 64 * 1024) == 1, "mallopt(M_TOP_PAD) != 1");
  CHECK(mallopt(M_MMAP_MAX, 65536) == 1, "mallopt(M_MMAP_MAX) != 1");
  CHECK(mallopt(M_MMAP_THRESHOLD, 1024 * 1024) == 1, "mallopt(M_MMAP_THRESHOLD, 1M) != 1");
  if (tide) {
    CHECK(mallopt(12345, 1) == 0, "mallopt(unknown param 12345) != 0");
    CHECK(mallopt(-1000, 1) == 0, "mallopt(unknown param -1000) != 0");
    /* The threshold took effect: 512 KiB now comes from the heap, 2 MiB is mapped. */
    struct tide_stats s0, s1, s2;
    int have = t_stats(&s0) == 0;
    CHECK(have, "tide_stats is not available (not exported?)");
    void *volatile a = malloc(512 * 1024);
    t_stats(&s1);
    void *volatile b = malloc(2 * MiB);
    t_stats(&s2);
    if (have) CHECK(s1.huge_blocks == s0.huge_blocks, "512 KiB block mapped although M_MMAP_THRESHOLD = 1 MiB");
    if (have) CHECK(s2.huge_blocks == s1.huge_blocks + 1, "2 MiB block not mapped with M_MMAP_THRESHOLD = 1 MiB");
    free(a);
    free(b);
    long long v = 0;
    int (*get)(const char *, long long *) = (int (*)(const char *, long long *))t_sym("tide_option_get");
    CHECK(get != NULL, "tide_option_get is not exported");
    if (get)
      CHECK(get("mmap_threshold", &v) == 0 && v == 1024 * 1024, "tide_option_get(mmap_threshold) = %lld after mallopt",
          v);
  }
  /* Back to the defaults (the threshold stays fixed: no longer dynamic). */
  CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1, "mallopt(M_MMAP_THRESHOLD, 128K) != 1");
  CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "mallopt(M_TRIM_THRESHOLD) != 1");
  CHECK(mallopt(M_TOP_PAD, 128 * 1024) == 1, "mallopt(M_TOP_PAD) != 1");
}

static void test_tide_api(void) {
  if (!tide) return;
  struct tide_stats s0, s1, s2;
  if (t_stats(&s0) != 0) {
    CHECK(0, "tide_stats is not available (not exported?) or failed: errno %d", errno);
    return;
  }
  CHECK(s0.malloc_calls > 0, "tide_stats.malloc_calls = 0 after many mallocs");
  CHECK(s0.class_count > 0 && s0.class_count <= TIDE_SIZE_CLASS_MAX, "class_count %u", s0.class_count);
  enum { N = 1000 };
  void *p[N];
  for (int i = 0; i < N; i++) p[i] = malloc(1000);
  REQUIRE(t_stats(&s1) == 0, "tide_stats");
  uint64_t grew = s1.allocated_bytes - s0.allocated_bytes;
  CHECK(s1.allocated_bytes >= s0.allocated_bytes && grew >= 1000 * N && grew <= 2000 * N,
        "allocated_bytes grew by %lld after allocating %d x 1000 bytes", (long long)grew, N);
  CHECK(s1.requested_bytes - s0.requested_bytes >= 1000 * N, "requested_bytes grew by %llu",
        (unsigned long long)(s1.requested_bytes - s0.requested_bytes));
  CHECK(s1.malloc_calls - s0.malloc_calls >= N, "malloc_calls grew by %llu",
        (unsigned long long)(s1.malloc_calls - s0.malloc_calls));
  CHECK(s1.allocated_peak >= s1.allocated_bytes, "allocated_peak %llu < allocated %llu",
        (unsigned long long)s1.allocated_peak, (unsigned long long)s1.allocated_bytes);
  CHECK(s1.committed_bytes >= s1.allocated_bytes, "committed %llu < allocated %llu",
        (unsigned long long)s1.committed_bytes, (unsigned long long)s1.allocated_bytes);
  CHECK(s1.heap_break >= s1.heap_start && s1.heap_bytes == s1.heap_break - s1.heap_start,
        "heap_start/heap_break/heap_bytes inconsistent: %llx %llx %llu", (unsigned long long)s1.heap_start,
        (unsigned long long)s1.heap_break, (unsigned long long)s1.heap_bytes);
  if (s1.heap_start)
    CHECK(s1.heap_break <= t_brk_now(), "tide's heap_break %llx above the real break %lx",
          (unsigned long long)s1.heap_break, (unsigned long)t_brk_now());
  uint64_t used_in_classes = 0;
  for (uint32_t c = 0; c < s1.class_count && c < TIDE_SIZE_CLASS_MAX; c++)
    used_in_classes += s1.classes[c].blocks_used * s1.classes[c].block_size;
  CHECK(used_in_classes <= s1.allocated_bytes + 1024 * 1024,
        "per-class used bytes %llu exceed allocated_bytes %llu", (unsigned long long)used_in_classes,
        (unsigned long long)s1.allocated_bytes);
  for (int i = 0; i < N; i++) free(p[i]);
  REQUIRE(t_stats(&s2) == 0, "tide_stats");
  CHECK(s2.allocated_bytes <= s0.allocated_bytes + 64 * 1024, "allocated_bytes %llu -> %llu -> %llu after free",
        (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes,
        (unsigned long long)s2.allocated_bytes);
  CHECK(s2.free_calls - s1.free_calls >= N, "free_calls grew by %llu",
        (unsigned long long)(s2.free_calls - s1.free_calls));

  /* A mapped block counts in huge_blocks/mapped_bytes. */
  void *volatile big = malloc(8 * MiB);
  struct tide_stats s3;
  t_stats(&s3);
  CHECK(s3.huge_blocks == s2.huge_blocks + 1, "huge_blocks %llu -> %llu after malloc(8 MiB)",
        (unsigned long long)s2.huge_blocks, (unsigned long long)s3.huge_blocks);
  CHECK(s3.mapped_bytes >= s2.mapped_bytes + 8 * MiB, "mapped_bytes %llu -> %llu after malloc(8 MiB)",
        (unsigned long long)s2.mapped_bytes, (unsigned long long)s3.mapped_bytes);
  CHECK(s3.mmap.calls > s2.mmap.calls, "mmap.calls did not grow for an 8 MiB block");
  free(big);

  /* Bad version/size are refused. */
  struct tide_stats bad;
  memset(&bad, 0, sizeof bad);
  bad.version = 999;
  bad.size = sizeof bad;
  int (*st)(struct tide_stats *) = (int (*)(struct tide_stats *))t_sym("tide_stats");
  errno = 0;
  CHECK(st(&bad) == -1 && errno == EINVAL, "tide_stats(version 999) did not fail with EINVAL");
  bad.version = TIDE_STATS_VERSION;
  bad.size = 8;
  errno = 0;
  CHECK(st(&bad) == -1 && errno == EINVAL, "tide_stats(size 8) did not fail with EINVAL");

  /* Options. */
  int (*get)(const char *, long long *) = (int (*)(const char *, long long *))t_sym("tide_option_get");
  int (*set)(const char *, long long) = (int (*)(const char *, long long))t_sym("tide_option_set");
  size_t (*trim)(void) = (size_t(*)(void))t_sym("tide_trim");
  void (*sprint)(int, int) = (void (*)(int, int))t_sym("tide_stats_print");
  REQUIRE(get && set && trim && sprint, "tide_option_get/set, tide_trim or tide_stats_print missing");
  long long v = -1;
  CHECK(get("trim_threshold", &v) == 0 && v == 128 * 1024, "trim_threshold default = %lld", v);
  CHECK(get("purge_delay_ms", &v) == 0 && v == 50, "purge_delay_ms default = %lld", v);
  errno = 0;
  CHECK(get("no_such_option", &v) == -1 && errno == EINVAL, "tide_option_get(no_such_option) did not fail");
  errno = 0;
  CHECK(set("no_such_option", 1) == -1 && errno == EINVAL, "tide_option_set(no_such_option) did not fail");
  CHECK(set("top_pad", 256 * 1024) == 0 && get("top_pad", &v) == 0 && v == 256 * 1024, "set/get top_pad: %lld", v);
  CHECK(set("top_pad", 128 * 1024) == 0, "restore top_pad");
  (void)trim();

  /* tide_stats_print JSON: one object. */
  char path[] = "/tmp/tide-json-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0, "mkstemp");
  unlink(path);
  sprint(fd, TIDE_STATS_JSON);
  off_t n = lseek(fd, 0, SEEK_END);
  char buf[256] = {0};
  if (pread(fd, buf, sizeof buf - 1, 0) < 0) buf[0] = 0;
  CHECK(n > 2 && buf[0] == '{', "tide_stats_print(JSON) wrote %lld bytes starting '%.10s'", (long long)n, buf);
  close(fd);
}

/* The tide_ names and the standard names share one heap. */
static void test_prefixed_names(void) {
  if (!tide) return;
  void *(*tm)(size_t) = (void *(*)(size_t))t_sym("tide_malloc");
  void (*tf)(void *) = (void (*)(void *))t_sym("tide_free");
  void *(*tr)(void *, size_t) = (void *(*)(void *, size_t))t_sym("tide_realloc");
  size_t (*tu)(const void *) = (size_t(*)(const void *))t_sym("tide_malloc_usable_size");
  const char *names[] = {"tide_malloc", "tide_free", "tide_calloc", "tide_realloc", "tide_reallocarray",
                         "tide_aligned_alloc", "tide_posix_memalign", "tide_memalign", "tide_valloc",
                         "tide_pvalloc", "tide_malloc_usable_size", "tide_free_sized", "tide_free_aligned_sized",
                         "tide_malloc_trim", "tide_mallopt", "tide_mallinfo", "tide_mallinfo2",
                         "tide_malloc_stats", "tide_malloc_info", "tide_stats", "tide_stats_print",
                         "tide_option_get", "tide_option_set", "tide_trim", "malloc", "free", "calloc", "realloc",
                         "reallocarray", "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc",
                         "malloc_usable_size", "free_sized", "free_aligned_sized", "malloc_trim", "mallopt",
                         "mallinfo", "mallinfo2", "malloc_stats", "malloc_info"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    CHECK(t_sym(names[i]) != NULL, "%s is not exported", names[i]);
  if (!tm || !tf || !tr || !tu) return;
  void *p = tm(100);
  t_fill_tag(p, 100, 5);
  p = realloc(p, 5000);
  CHECK(t_check_tag(p, 100, 100, 5) == (size_t)-1, "realloc of a tide_malloc block lost contents");
  CHECK(tu(p) == malloc_usable_size(p), "tide_malloc_usable_size != malloc_usable_size");
  free(p);
  p = malloc(300);
  p = tr(p, 30);
  tf(p);
  /* malloc and friends must resolve to the library's (not glibc's) */
  Dl_info di;
  if (dladdr((void *)malloc, &di) && di.dli_fname)
    CHECK(strstr(di.dli_fname, "libtidemalloc") || !strstr(di.dli_fname, "libc.so"),
          "malloc resolves to %s", di.dli_fname);
}

int main(void) {
  tide = t_expect_tide();
  REQUIRE(ctor_block != NULL, "malloc in a constructor failed");
  CHECK(t_check(ctor_block, ctor_size) == (size_t)-1, "block from a constructor corrupted");
  free(ctor_block);

  test_malloc_basic();
  test_enomem();
  test_aligned();
  test_aligned_small();
  test_realloc_walk();
  test_calloc();
  test_free_sized();
  test_mallopt(); /* leaves a fixed 128 KiB mmap threshold: the tests below rely on it */
  test_mallinfo();
  test_stats_output();
  test_tide_api();
  test_prefixed_names();
  return t_finish(tide ? "api (tidemalloc)" : "api (glibc)");
}
