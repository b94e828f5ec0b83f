/* SPDX-License-Identifier: MIT */
/* util.c — errors, sizes, strings and files for the tide tool. */
#include "tide.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vsay(const char *fmt, va_list ap) {
  fflush(stdout);
  fputs("tide: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void util_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
  exit(2);
}

void util_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
  exit(1);
}

void util_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
}

int util_fmt(char *dst, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(dst, len, fmt, ap);
  va_end(ap);
  return n;
}

void *util_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    util_die("out of memory");
  return p;
}

void *util_xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p)
    util_die("out of memory");
  return p;
}

char *util_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(util_xmalloc(n), s, n);
}

const char *util_size(uint64_t bytes, char *buf, size_t len) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    return buf;
  }
  double v = (double)bytes / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    u++;
  }
  /* 1023.96 would print as "1024.0"; move it up a unit instead. */
  if (v >= 1023.95 && u < 5) {
    v /= 1024.0;
    u++;
  }
  snprintf(buf, len, "%.1f %s", v, units[u]);
  return buf;
}

const char *util_sz(uint64_t bytes) {
  static char bufs[16][32];
  static unsigned next;
  char *b = bufs[next++ % 16];
  return util_size(bytes, b, sizeof bufs[0]);
}

const char *util_num(uint64_t n) {
  static char bufs[16][32];
  static unsigned next;
  char *b = bufs[next++ % 16];
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
  int out = 0;
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0)
      b[out++] = ',';
    b[out++] = tmp[i];
  }
  b[out] = 0;
  return b;
}

char *util_read_file(const char *path, size_t *lenp) {
  int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  size_t cap = 65536, len = 0;
  char *buf = util_xmalloc(cap + 1);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = util_xrealloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      if (fd)
        close(fd);
      free(buf);
      errno = e;
      return NULL;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  if (fd)
    close(fd);
  buf[len] = 0;
  if (lenp)
    *lenp = len;
  return buf;
}

static void sb_reserve(struct strbuf *sb, size_t more) {
  if (sb->len + more + 1 <= sb->cap)
    return;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + more + 1)
    cap *= 2;
  sb->buf = util_xrealloc(sb->buf, cap);
  sb->cap = cap;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...) {
  sb_reserve(sb, 128);
  for (;;) {
    size_t avail = sb->cap - sb->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->len, avail, fmt, ap);
    va_end(ap);
    if (n < 0) {
      sb->buf[sb->len] = 0;
      return;
    }
    if ((size_t)n < avail) {
      sb->len += (size_t)n;
      return;
    }
    sb_reserve(sb, (size_t)n);
  }
}

void sb_puts(struct strbuf *sb, const char *s) {
  size_t n = strlen(s);
  sb_reserve(sb, n);
  memcpy(sb->buf + sb->len, s, n + 1);
  sb->len += n;
}

void sb_xml(struct strbuf *sb, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
    case '&':
      sb_puts(sb, "&amp;");
      break;
    case '<':
      sb_puts(sb, "&lt;");
      break;
    case '>':
      sb_puts(sb, "&gt;");
      break;
    case '"':
      sb_puts(sb, "&quot;");
      break;
    case '\'':
      sb_puts(sb, "&apos;");
      break;
    default:
      /* Control characters are not allowed in XML 1.0. */
      if (c < 0x20 && c != '\t' && c != '\n')
        c = '?';
      sb_reserve(sb, 1);
      sb->buf[sb->len++] = (char)c;
      sb->buf[sb->len] = 0;
    }
  }
}

void sb_free(struct strbuf *sb) {
  free(sb->buf);
  sb->buf = NULL;
  sb->len = sb->cap = 0;
}

void sb_write_file(const struct strbuf *sb, const char *path) {
  int fd = strcmp(path, "-") == 0 ? 1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    util_die("cannot write '%s': %s", path, strerror(errno));
  size_t off = 0;
  while (off < sb->len) {
    ssize_t w = write(fd, sb->buf + off, sb->len - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      util_die("cannot write '%s': %s", path, strerror(errno));
    }
    off += (size_t)w;
  }
  if (fd != 1 && close(fd) != 0)
    util_die("cannot write '%s': %s", path, strerror(errno));
}

int util_is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

int util_opt_value(int argc, char **argv, int *i, const char *name, const char *short_name,
                   const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strcmp(a, name) == 0 || (short_name && strcmp(a, short_name) == 0)) {
    if (*i + 1 >= argc)
      util_usage_error("option '%s' needs a value", a);
    *value = argv[++*i];
    return 1;
  }
  if (strncmp(a, name, n) == 0 && a[n] == '=') {
    *value = a + n + 1;
    if (!**value)
      util_usage_error("option '%s' needs a value", name);
    return 1;
  }
  return 0;
}
