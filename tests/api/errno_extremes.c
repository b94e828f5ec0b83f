/* SPDX-License-Identifier: MIT */
/* errno for impossible requests, as glibc sets it (tests/api: api/errno-extremes).
 *
 * An alignment that is a power of two is a valid request, however big:
 * when it (or the size, or both) cannot be served, the answer is NULL and
 * ENOMEM (posix_memalign returns ENOMEM).  EINVAL is only for an alignment
 * that is not a power of two, and memalign has none of those: glibc rounds
 * its alignment up to the next power of two, and only one past 2^63 cannot
 * be rounded (EINVAL).  Run it on glibc with TIDE_TEST_GLIBC=1 to see that
 * the expectations are glibc's. */
#include "common.h"

#include <stdint.h>

#define P62 ((size_t)1 << 62)
#define P63 ((size_t)1 << 63)

static int tide;

/* fn returned p with errno e (set to 0 before the call). */
static void want_null(const char *what, void *p, int e, int want) {
  CHECK(p == NULL && e == want, "%s = %p errno %d (%s), want NULL errno %d (%s)", what, p, e,
        strerror(e), want, strerror(want));
  free(p);
}

#define NULL_ERRNO(want, call)        \
  do {                                \
    errno = 0;                        \
    void *p_ = (call);                \
    int e_ = errno;                   \
    want_null(#call, p_, e_, (want)); \
  } while (0)

#define PM_RC(want, a, s)                                                               \
  do {                                                                                  \
    void *out_ = (void *)0x1234;                                                        \
    int rc_ = posix_memalign(&out_, t_opaque(a), t_opaque(s));                          \
    CHECK(rc_ == (want), "posix_memalign(%s, %s) = %d (%s), want %d (%s)", #a, #s, rc_, \
          strerror(rc_), (want), strerror(want));                                       \
    CHECK(out_ == (void *)0x1234, "posix_memalign(%s, %s) changed *out", #a, #s);        \
  } while (0)

int main(void) {
  tide = t_expect_tide();
  size_t page = (size_t)t_page();
  size_t huge[] = {SIZE_MAX, SIZE_MAX - page, SIZE_MAX / 2 + 1, P62, PTRDIFF_MAX, 1};

  /* memalign: every power of two up to 2^63 is a valid alignment. */
  for (unsigned i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
    size_t s = huge[i];
    char what[96];
    size_t aligns[] = {P63, P62, P62 + 1 /* rounded up to 2^63 */, P63 - 1, 4096, 3, 0};
    for (unsigned k = 0; k < sizeof(aligns) / sizeof(aligns[0]); k++) {
      size_t a = aligns[k];
      if (s == 1 && a <= 4096) continue; /* servable */
      snprintf(what, sizeof(what), "memalign(%#zx, %#zx)", a, s);
      errno = 0;
      void *p = memalign(t_opaque(a), t_opaque(s));
      want_null(what, p, errno, ENOMEM);
    }
    /* aligned_alloc: powers of two only (C17), ENOMEM when too big. */
    size_t pow2[] = {P63, P62, 4096, 64};
    for (unsigned k = 0; k < sizeof(pow2) / sizeof(pow2[0]); k++) {
      size_t a = pow2[k];
      if (s == 1 && a <= 4096) continue;
      snprintf(what, sizeof(what), "aligned_alloc(%#zx, %#zx)", a, s);
      errno = 0;
      void *p = aligned_alloc(t_opaque(a), t_opaque(s));
      want_null(what, p, errno, ENOMEM);
      void *out = (void *)0x1234;
      int rc = posix_memalign(&out, t_opaque(a), t_opaque(s));
      CHECK(rc == ENOMEM && out == (void *)0x1234,
            "posix_memalign(%#zx, %#zx) = %d (%s), *out %p; want ENOMEM, *out unchanged", a, s, rc,
            strerror(rc), out);
    }
    if (s != 1) {
      NULL_ERRNO(ENOMEM, valloc(t_opaque(s)));
      NULL_ERRNO(ENOMEM, pvalloc(t_opaque(s)));
      NULL_ERRNO(ENOMEM, malloc(t_opaque(s)));
    }
  }

  /* Alignments past 2^63 are not powers of two and cannot be rounded up. */
  NULL_ERRNO(EINVAL, memalign(t_opaque(P63 + 1), 1));
  NULL_ERRNO(EINVAL, memalign(t_opaque(SIZE_MAX), 1));
  NULL_ERRNO(EINVAL, memalign(t_opaque(SIZE_MAX), t_opaque(SIZE_MAX)));
  /* posix_memalign: EINVAL for what is not a power of two times sizeof(void *). */
  PM_RC(EINVAL, P63 + 8, 1);
  PM_RC(EINVAL, SIZE_MAX, SIZE_MAX);
  PM_RC(EINVAL, P62 + P63, 1);
  PM_RC(ENOMEM, P63, 0);
  /* glibc before 2.38 takes aligned_alloc for memalign (it rounds up); C17
   * and tidemalloc say EINVAL.  Only checked on tidemalloc. */
  if (tide) {
    NULL_ERRNO(EINVAL, aligned_alloc(t_opaque(P63 + 1), 1));
    NULL_ERRNO(EINVAL, aligned_alloc(t_opaque(SIZE_MAX), t_opaque(SIZE_MAX)));
    NULL_ERRNO(EINVAL, aligned_alloc(t_opaque(P62 + 1), t_opaque(SIZE_MAX)));
  }

  /* pvalloc rounds up to a page: a size within a page of SIZE_MAX overflows. */
  NULL_ERRNO(ENOMEM, pvalloc(t_opaque(SIZE_MAX - page + 2)));
  NULL_ERRNO(ENOMEM, valloc(t_opaque(SIZE_MAX - page + 2)));
  /* The others at the edge. */
  NULL_ERRNO(ENOMEM, calloc(t_opaque(SIZE_MAX / 2 + 1), 2));
  NULL_ERRNO(ENOMEM, calloc(t_opaque(P62), t_opaque(P62)));
  NULL_ERRNO(ENOMEM, reallocarray(NULL, t_opaque(P62), 8));
  return t_finish("errno_extremes");
}
