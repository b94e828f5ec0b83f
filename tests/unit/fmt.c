/* SPDX-License-Identifier: MIT */
/* fmt.c: formatting into a fixed buffer without allocating. */
#include "unit.h"

#include <limits.h>

typedef void (*fmt_fn)(tide_buf *, uint64_t);

static void expect(const char *what, fmt_fn fn, uint64_t v, const char *want) {
  char buf[64];
  memset(buf, '#', sizeof buf);
  tide_buf b = {buf, 0, sizeof buf - 1, -1, NULL};
  fn(&b, v);
  buf[b.len] = 0;
  CHECK(strcmp(buf, want) == 0, "%s(%llu) = \"%s\", want \"%s\"", what, (unsigned long long)v, buf, want);
  CHECK(b.len == strlen(want), "%s(%llu): len %zu, want %zu", what, (unsigned long long)v, b.len, strlen(want));
}

static void fmt_i64_u(tide_buf *b, uint64_t v) { fmt_i64(b, (int64_t)v); }

int main(void) {
  expect("fmt_u64", fmt_u64, 0, "0");
  expect("fmt_u64", fmt_u64, 7, "7");
  expect("fmt_u64", fmt_u64, 10, "10");
  expect("fmt_u64", fmt_u64, 1023, "1023");
  expect("fmt_u64", fmt_u64, 4294967296ULL, "4294967296");
  expect("fmt_u64", fmt_u64, UINT64_MAX, "18446744073709551615");
  expect("fmt_i64", fmt_i64_u, (uint64_t)-1, "-1");
  expect("fmt_i64", fmt_i64_u, (uint64_t)INT64_MIN, "-9223372036854775808");
  expect("fmt_i64", fmt_i64_u, (uint64_t)INT64_MAX, "9223372036854775807");
  expect("fmt_hex", fmt_hex, 0, "0x0");
  expect("fmt_hex", fmt_hex, 255, "0xff");
  expect("fmt_hex", fmt_hex, 0xdeadbeef, "0xdeadbeef");
  expect("fmt_hex", fmt_hex, 0x7f0000001000ULL, "0x7f0000001000");
  expect("fmt_hex", fmt_hex, UINT64_MAX, "0xffffffffffffffff");
  expect("fmt_size", fmt_size, 0, "0 B");
  expect("fmt_size", fmt_size, 1, "1 B");
  expect("fmt_size", fmt_size, 1023, "1023 B");
  expect("fmt_size", fmt_size, 1024, "1.0 KiB");
  expect("fmt_size", fmt_size, 1536, "1.5 KiB");
  expect("fmt_size", fmt_size, 10 * 1024 + 512, "10.5 KiB");
  expect("fmt_size", fmt_size, 1048576, "1.0 MiB");
  expect("fmt_size", fmt_size, 12 * 1048576 + 524288, "12.5 MiB");
  expect("fmt_size", fmt_size, 1073741824ULL, "1.0 GiB");
  expect("fmt_size", fmt_size, 1099511627776ULL * 3, "3.0 TiB");
  /* above TiB there is no unit: the number of TiB grows */
  expect("fmt_size", fmt_size, 1099511627776ULL * 2048, "2048.0 TiB");
  expect("fmt_size", fmt_size, UINT64_MAX, "16777215.9 TiB");

  /* fmt_str and a mix */
  {
    char buf[128];
    tide_buf b = {buf, 0, sizeof buf, -1, NULL};
    fmt_str(&b, "brk ");
    fmt_hex(&b, 0x1000);
    fmt_str(&b, " ");
    fmt_size(&b, 3 << 20);
    fmt_str(&b, "");
    buf[b.len] = 0;
    CHECK(strcmp(buf, "brk 0x1000 3.0 MiB") == 0, "mixed: \"%s\"", buf);
  }
  /* A full buffer with no fd truncates, never writes past cap. */
  {
    char buf[16];
    memset(buf, '#', sizeof buf);
    tide_buf b = {buf, 0, 4, -1, NULL};
    fmt_u64(&b, 123456789);
    CHECK(b.len == 4 && memcmp(buf, "1234", 4) == 0, "truncated: len %zu \"%.4s\"", b.len, buf);
    CHECK(buf[4] == '#' && buf[15] == '#', "wrote past cap");
    fmt_str(&b, "more");
    fmt_hex(&b, UINT64_MAX);
    fmt_size(&b, 1536);
    CHECK(b.len == 4 && buf[4] == '#', "wrote past cap after it was full (len %zu)", b.len);
    fmt_flush(&b); /* no fd: keeps its text */
    CHECK(b.len == 4, "fmt_flush without an fd dropped the text");
  }
  /* With an fd, a small buffer flushes as it fills: all the text arrives,
   * in order, and errno is kept. */
  {
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe");
    char buf[8];
    tide_buf b = {buf, 0, sizeof buf, fds[1], NULL};
    errno = 1234;
    for (int i = 0; i < 50; i++) {
      fmt_u64(&b, (uint64_t)i);
      fmt_str(&b, ",");
    }
    fmt_flush(&b);
    CHECK(b.len == 0, "fmt_flush left %zu bytes", b.len);
    CHECK(errno == 1234, "errno changed to %d", errno);
    close(fds[1]);
    char got[512] = "", want[512] = "";
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], got + n, sizeof got - 1 - n)) > 0) n += (size_t)r;
    got[n] = 0;
    close(fds[0]);
    size_t w = 0;
    for (int i = 0; i < 50; i++) w += (size_t)snprintf(want + w, sizeof want - w, "%d,", i);
    CHECK(strcmp(got, want) == 0, "through a pipe: \"%s\", want \"%s\"", got, want);
  }
  /* fmt_errno: the C library's own text (in the C locale the tests run in)
   * and the name, for every error of its table; a number for the rest. */
  {
    static const struct {
      int err;
      const char *name;
    } errs[] = {{ENOENT, "ENOENT"}, {EACCES, "EACCES"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},
                {EROFS, "EROFS"},   {ENOSPC, "ENOSPC"}, {ELOOP, "ELOOP"},     {EMFILE, "EMFILE"},
                {ENAMETOOLONG, "ENAMETOOLONG"},         {EPERM, "EPERM"},     {EBADF, "EBADF"}};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
      char buf[128], want[128];
      tide_buf b = {buf, 0, sizeof buf - 1, -1, NULL};
      fmt_errno(&b, errs[i].err);
      buf[b.len] = 0;
      snprintf(want, sizeof want, "%s (%s)", strerror(errs[i].err), errs[i].name);
      CHECK(strcmp(buf, want) == 0, "fmt_errno(%d) = \"%s\", want \"%s\"", errs[i].err, buf, want);
    }
    char buf[64];
    tide_buf b = {buf, 0, sizeof buf - 1, -1, NULL};
    fmt_errno(&b, 4095);
    buf[b.len] = 0;
    CHECK(strcmp(buf, "errno 4095") == 0, "fmt_errno(4095) = \"%s\"", buf);
  }
  return t_finish("fmt");
}
