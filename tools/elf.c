/* SPDX-License-Identifier: MIT */
/* elf.c — find one symbol's value in an ELF64 file (for `tide map`).
 *
 * Reads the section headers and looks the name up in .dynsym (exported
 * symbols of a shared library or PIE) and then .symtab (a static program
 * that was not stripped).  Only what is needed is read, with pread.
 */
#include "tide.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_at(int fd, void *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    done += (size_t)r;
  }
  return 0;
}

/* Looks name up in the symbol table section sym (strings in section str). */
static int search_table(int fd, const Elf64_Shdr *sym, const Elf64_Shdr *str, const char *name,
                        uint64_t *value) {
  if (sym->sh_entsize != sizeof(Elf64_Sym) || sym->sh_size > (1u << 30) ||
      str->sh_size > (1u << 30))
    return -1;
  size_t nsym = sym->sh_size / sizeof(Elf64_Sym);
  Elf64_Sym *syms = util_xmalloc(sym->sh_size);
  char *strs = util_xmalloc(str->sh_size + 1);
  int found = -1;
  if (read_at(fd, syms, sym->sh_size, sym->sh_offset) == 0 &&
      read_at(fd, strs, str->sh_size, str->sh_offset) == 0) {
    strs[str->sh_size] = 0;
    for (size_t i = 1; i < nsym; i++) {
      if (syms[i].st_name >= str->sh_size || syms[i].st_shndx == SHN_UNDEF)
        continue;
      if (strcmp(strs + syms[i].st_name, name) == 0) {
        *value = syms[i].st_value;
        found = 0;
        break;
      }
    }
  }
  free(syms);
  free(strs);
  return found;
}

int elf_find_symbol(const char *path, const char *name, uint64_t *value, int *type,
                    uint64_t *first_load_vaddr, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  int rc = -1;
  Elf64_Ehdr eh;
  Elf64_Shdr *sh = NULL;
  if (read_at(fd, &eh, sizeof eh, 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64) {
    snprintf(err, errlen, "%s is not a 64-bit ELF file", path);
    goto out;
  }
  *type = eh.e_type;
  *first_load_vaddr = 0;
  for (unsigned i = 0; i < eh.e_phnum && eh.e_phentsize == sizeof(Elf64_Phdr); i++) {
    Elf64_Phdr ph;
    if (read_at(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph) != 0)
      break;
    if (ph.p_type == PT_LOAD) {
      *first_load_vaddr = ph.p_vaddr & ~(uint64_t)(ph.p_align > 1 ? ph.p_align - 1 : 0);
      break;
    }
  }
  if (eh.e_shnum == 0 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > 65000) {
    snprintf(err, errlen, "%s has no section headers", path);
    goto out;
  }
  sh = util_xmalloc((size_t)eh.e_shnum * sizeof *sh);
  if (read_at(fd, sh, (size_t)eh.e_shnum * sizeof *sh, eh.e_shoff) != 0) {
    snprintf(err, errlen, "cannot read the section headers of %s", path);
    goto out;
  }
  static const uint32_t order[] = {SHT_DYNSYM, SHT_SYMTAB};
  for (int k = 0; k < 2 && rc != 0; k++) {
    for (unsigned i = 0; i < eh.e_shnum && rc != 0; i++) {
      if (sh[i].sh_type != order[k] || sh[i].sh_link >= eh.e_shnum)
        continue;
      if (search_table(fd, &sh[i], &sh[sh[i].sh_link], name, value) == 0)
        rc = 0;
    }
  }
  if (rc != 0)
    snprintf(err, errlen, "%s does not define %s", path, name);
out:
  free(sh);
  close(fd);
  return rc;
}
