/* SPDX-License-Identifier: MIT */
/* A formatter that never allocates: text goes into a caller's fixed buffer,
 * flushed with write(2) when it fills if the buffer has a file descriptor. */
#define _GNU_SOURCE
#include "internal/fmt.h"

#include <errno.h>
#include <unistd.h>

void fmt_write_all(int fd, const char *p, size_t len) {
  int saved = errno;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    len -= (size_t)n;
  }
  errno = saved;
}

void fmt_flush(tide_buf *b) {
  if (b->file != NULL) {
    fwrite(b->p, 1, b->len, b->file);
    b->len = 0;
  } else if (b->fd >= 0) {
    if (b->len > 0) fmt_write_all(b->fd, b->p, b->len);
    b->len = 0;
  }
}

static void fmt_char(tide_buf *b, char c) {
  if (b->len == b->cap) fmt_flush(b);
  if (b->len < b->cap) b->p[b->len++] = c;
}

void fmt_str(tide_buf *b, const char *s) {
  while (*s) fmt_char(b, *s++);
}

void fmt_u64(tide_buf *b, uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) fmt_char(b, digits[--n]);
}

void fmt_i64(tide_buf *b, int64_t v) {
  if (v < 0) {
    fmt_char(b, '-');
    fmt_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    fmt_u64(b, (uint64_t)v);
  }
}

void fmt_hex(tide_buf *b, uint64_t v) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  fmt_str(b, "0x");
  while (n) fmt_char(b, digits[--n]);
}

/* Bytes with a binary unit and one decimal: "12.5 MiB". */
void fmt_size(tide_buf *b, uint64_t bytes) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  uint64_t whole = bytes, tenths = 0;
  while (whole >= 1024 && u < 4) {
    tenths = (whole % 1024) * 10 / 1024;
    whole /= 1024;
    u++;
  }
  fmt_u64(b, whole);
  if (u > 0) {
    fmt_char(b, '.');
    fmt_u64(b, tenths);
  }
  fmt_char(b, ' ');
  fmt_str(b, units[u]);
}

void fmt_errno(tide_buf *b, int err) {
  static const struct {
    int err;
    const char *name, *text;
  } known[] = {
      {EPERM, "EPERM", "Operation not permitted"},
      {ENOENT, "ENOENT", "No such file or directory"},
      {EINTR, "EINTR", "Interrupted system call"},
      {EIO, "EIO", "Input/output error"},
      {EBADF, "EBADF", "Bad file descriptor"},
      {ENOMEM, "ENOMEM", "Cannot allocate memory"},
      {EACCES, "EACCES", "Permission denied"},
      {EFAULT, "EFAULT", "Bad address"},
      {EBUSY, "EBUSY", "Device or resource busy"},
      {EEXIST, "EEXIST", "File exists"},
      {ENODEV, "ENODEV", "No such device"},
      {ENOTDIR, "ENOTDIR", "Not a directory"},
      {EISDIR, "EISDIR", "Is a directory"},
      {EINVAL, "EINVAL", "Invalid argument"},
      {ENFILE, "ENFILE", "Too many open files in system"},
      {EMFILE, "EMFILE", "Too many open files"},
      {ETXTBSY, "ETXTBSY", "Text file busy"},
      {EFBIG, "EFBIG", "File too large"},
      {ENOSPC, "ENOSPC", "No space left on device"},
      {EROFS, "EROFS", "Read-only file system"},
      {ENAMETOOLONG, "ENAMETOOLONG", "File name too long"},
      {ELOOP, "ELOOP", "Too many levels of symbolic links"},
      {EDQUOT, "EDQUOT", "Disk quota exceeded"},
      {ENXIO, "ENXIO", "No such device or address"},
      {EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"},
  };
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    if (known[i].err != err) continue;
    fmt_str(b, known[i].text);
    fmt_str(b, " (");
    fmt_str(b, known[i].name);
    fmt_str(b, ")");
    return;
  }
  fmt_str(b, "errno ");
  fmt_i64(b, err);
}
