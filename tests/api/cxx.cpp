// SPDX-License-Identifier: MIT
// C++'s allocation functions are tidemalloc's (alloc.c, free.c): every
// form of operator new and delete reaches it (counted by tide_stats, blocks
// it knows), over-aligned new is aligned, a failed new throws std::bad_alloc
// after calling the new_handler, and the nothrow forms return nullptr.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>

#include "tidemalloc.h"

static int failures;
#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "CHECK FAILED %s:%d: ", __FILE__, __LINE__);      \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      failures++;                                                            \
    }                                                                        \
  } while (0)

typedef int (*stats_fn)(struct tide_stats *);
static stats_fn stats_of;
static size_t (*usable_of)(const void *);

static struct tide_stats now() {
  struct tide_stats s;
  std::memset(&s, 0, sizeof s);
  s.version = TIDE_STATS_VERSION;
  s.size = sizeof s;
  if (stats_of(&s) != 0) std::fprintf(stderr, "tide_stats failed\n");
  return s;
}

struct alignas(256) Wide {
  char bytes[256];
};

static int handler_calls;
static void handler() {
  handler_calls++;
  std::set_new_handler(nullptr); // give up the second time round: bad_alloc
}

int main() {
  stats_of = (stats_fn)dlsym(RTLD_DEFAULT, "tide_stats");
  usable_of = (size_t(*)(const void *))dlsym(RTLD_DEFAULT, "tide_malloc_usable_size");
  if (!stats_of || !usable_of) {
    std::printf("not running on tidemalloc\n");
    return 2;
  }
  // the program's operator new and delete are tidemalloc's own, not
  // libstdc++'s wrappers around malloc
  void *(*op_new)(size_t) = ::operator new;
  void (*op_delete)(void *, size_t) = ::operator delete;
  Dl_info in_new, in_delete;
  CHECK(dladdr((void *)op_new, &in_new) && std::strstr(in_new.dli_fname, "libtidemalloc"),
        "operator new comes from %s", in_new.dli_fname ? in_new.dli_fname : "?");
  CHECK(dladdr((void *)op_delete, &in_delete) && std::strstr(in_delete.dli_fname, "libtidemalloc"),
        "sized operator delete comes from %s", in_delete.dli_fname ? in_delete.dli_fname : "?");
  enum { N = 1000 };
  struct tide_stats a = now();
  int *ints[N];
  for (int i = 0; i < N; i++) {
    ints[i] = new int[1 + i % 37];
    ints[i][0] = i;
  }
  char *one = new char;
  CHECK(usable_of(one) >= 1, "new char: a block tidemalloc does not know");
  struct tide_stats b = now();
  CHECK(b.malloc_calls - a.malloc_calls >= N + 1, "new/new[]: malloc_calls grew by %llu for %d news",
        (unsigned long long)(b.malloc_calls - a.malloc_calls), N + 1);
  for (int i = 0; i < N; i++) {
    CHECK(ints[i][0] == i, "new int[] lost its contents");
    if (i % 2)
      delete[] ints[i];
    else
      ::operator delete[](ints[i], sizeof(int) * (1 + i % 37)); // sized
  }
  delete one;
  struct tide_stats c = now();
  CHECK(c.free_calls - b.free_calls >= N + 1, "delete/delete[]: free_calls grew by %llu for %d deletes",
        (unsigned long long)(c.free_calls - b.free_calls), N + 1);

  // over-aligned new (C++17), and its sized and plain deletes
  Wide *w = new Wide;
  CHECK((reinterpret_cast<uintptr_t>(w) & 255) == 0, "new of an alignas(256) type: %p", (void *)w);
  CHECK(usable_of(w) >= sizeof(Wide), "aligned new: a block tidemalloc does not know");
  delete w;
  Wide *wa = new Wide[3];
  CHECK((reinterpret_cast<uintptr_t>(wa) & 255) == 0, "new[] of an alignas(256) type: %p", (void *)wa);
  delete[] wa;
  void *big = ::operator new(100000, std::align_val_t(4096));
  CHECK((reinterpret_cast<uintptr_t>(big) & 4095) == 0, "operator new(100000, align 4096) = %p", big);
  ::operator delete(big, 100000, std::align_val_t(4096));

  // nothrow forms
  int *nt = new (std::nothrow) int(7);
  CHECK(nt && *nt == 7 && usable_of(nt) >= sizeof(int), "new (nothrow) int");
  delete nt;
  volatile size_t huge = SIZE_MAX / 2;
  char *none = new (std::nothrow) char[huge];
  CHECK(none == nullptr, "new (nothrow) char[SIZE_MAX / 2] = %p, want nullptr", (void *)none);

  // failure: the new_handler runs, then std::bad_alloc is thrown
  bool threw = false;
  std::set_new_handler(handler);
  try {
    char *p = new char[huge];
    CHECK(false, "new char[SIZE_MAX / 2] returned %p", (void *)p);
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  CHECK(threw, "new char[SIZE_MAX / 2] did not throw std::bad_alloc");
  CHECK(handler_calls == 1, "the new_handler ran %d times, want 1", handler_calls);
  threw = false;
  try {
    void *p = ::operator new(huge, std::align_val_t(64));
    CHECK(false, "aligned new of SIZE_MAX / 2 returned %p", p);
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  CHECK(threw, "aligned new of SIZE_MAX / 2 did not throw std::bad_alloc");

  if (failures) {
    std::printf("cxx: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("cxx: ok\n");
  return 0;
}
