/* SPDX-License-Identifier: MIT */
/* Segments and spans (segment.c), through tide_malloc/tide_free and the
 * segment header: pages of several classes take slices that are marked used
 * and point back to their head; freeing every block and tide_trim() gives
 * the slices back; a pointer into a free slice is not a block. */
#include "unit.h"

#include <signal.h>
#include <sys/wait.h>

#define NCLASSES 6
static const size_t sizes[NCLASSES] = {16, 1000, 5000, 20000, 70000, 131071};
#define PER_CLASS 40

struct span {
  tide_segment *seg;
  unsigned head, count;
};

static struct span spans[NCLASSES * PER_CLASS];
static unsigned nspans;

static void note_span(tide_segment *seg, unsigned head, unsigned count) {
  for (unsigned i = 0; i < nspans; i++)
    if (spans[i].seg == seg && spans[i].head == head) return;
  REQUIRE(nspans < sizeof spans / sizeof spans[0], "too many pages");
  spans[nspans++] = (struct span){seg, head, count};
}

/* Does a child that calls tide_free(p) die by SIGABRT, saying why? */
static int free_aborts(void *p) {
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0, "pipe");
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    dup2(pipefd[1], 2);
    tide_free(p);
    _exit(0);
  }
  close(pipefd[1]);
  char msg[256] = "";
  ssize_t n = read(pipefd[0], msg, sizeof msg - 1);
  if (n > 0) msg[n] = 0;
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)) return 0;
  return strstr(msg, "tidemalloc: free(): invalid pointer") != NULL;
}

int main(void) {
  u_glibc_off_brk();
  (void)u_heap();
  /* A pin of a class the test does not use keeps its segment alive. */
  void *volatile pin = tide_malloc(48);
  REQUIRE(pin, "tide_malloc(48)");
  tide_segment *pseg = segment_of(pin);
  tide_page *ppage = page_of_block(pseg, pin);
  REQUIRE(ppage, "the pin is not a block");
  unsigned phead = (unsigned)(ppage - pseg->pages);

  void *blocks[NCLASSES][PER_CLASS];
  for (int c = 0; c < NCLASSES; c++)
    for (int i = 0; i < PER_CLASS; i++) {
      size_t n = sizes[c];
      if (c == NCLASSES - 1 && i >= 4) n = 0; /* a few of the biggest class only */
      blocks[c][i] = n ? tide_malloc(n) : NULL;
      if (n) REQUIRE(blocks[c][i], "tide_malloc(%zu)", n);
      if (n) memset(blocks[c][i], c + 1, n);
    }

  for (int c = 0; c < NCLASSES; c++)
    for (int i = 0; i < PER_CLASS; i++) {
      void *p = blocks[c][i];
      if (!p) continue;
      tide_segment *seg = segment_of(p);
      REQUIRE(u_is_head(seg), "segment %p of block %p is not in the segment map", (void *)seg, p);
      REQUIRE(seg->kind == TIDE_SEG_BRK || seg->kind == TIDE_SEG_MMAP, "block %p (%zu bytes) in a segment of kind %u",
              p, sizes[c], seg->kind);
      CHECK(seg->heap == heap_get(), "segment %p is owned by heap %p, not this thread's", (void *)seg,
            (void *)seg->heap);
      CHECK(!(seg->free_slices & 1), "segment %p: the header slice is marked free", (void *)seg);
      tide_page *page = page_of_block(seg, p);
      REQUIRE(page, "block %p (%zu bytes) is not a block for page_of_block", p, sizes[c]);
      unsigned head = (unsigned)(page - seg->pages);
      unsigned bin = sizeclass_bin(sizes[c]);
      CHECK(head >= 1 && head + page->slice_count <= TIDE_SLICES, "page at slice %u of %u slices", head,
            page->slice_count);
      CHECK(page->bin == bin && page->block_size == tide_bin_size[bin], "block of %zu bytes in a page of bin %u (%u bytes)",
            sizes[c], page->bin, page->block_size);
      CHECK(page->slice_count == sizeclass_page_slices(bin), "class %u: page of %u slices, want %u", tide_bin_size[bin],
            page->slice_count, sizeclass_page_slices(bin));
      uint8_t *start = page_start(page);
      CHECK((uint8_t *)p >= start && (uint8_t *)p + sizes[c] <= start + ((size_t)page->slice_count << TIDE_SLICE_SHIFT),
            "block %p..+%zu outside its page %p..+%u slices", p, sizes[c], (void *)start, page->slice_count);
      CHECK((uint8_t *)p + sizes[c] <= seg->commit_end, "block %p..+%zu above the segment's commit_end %p", p,
            sizes[c], (void *)seg->commit_end);
      for (unsigned j = 0; j < page->slice_count; j++) {
        CHECK(seg->slice_page[head + j] == segment_page_offset(head), "slice %u of the page at %u: slice_page %u, want %u",
              head + j, head, seg->slice_page[head + j], segment_page_offset(head));
        CHECK(!(seg->free_slices >> (head + j) & 1), "slice %u of a live page is marked free", head + j);
        /* any address in that slice finds the head */
        tide_page *found = page_lookup(seg, (uint8_t *)seg + ((size_t)(head + j) << TIDE_SLICE_SHIFT) + 100);
        CHECK(found == page, "an address in slice %u finds page %p, not its head %p", head + j, (void *)found,
              (void *)page);
      }
      note_span(seg, head, page->slice_count);
    }
  /* Pages never share a slice. */
  for (unsigned a = 0; a < nspans; a++)
    for (unsigned b = a + 1; b < nspans; b++)
      if (spans[a].seg == spans[b].seg)
        CHECK(spans[a].head + spans[a].count <= spans[b].head || spans[b].head + spans[b].count <= spans[a].head,
              "pages at slices %u+%u and %u+%u overlap", spans[a].head, spans[a].count, spans[b].head, spans[b].count);
  printf("%u pages in use\n", nspans);

  /* Everything back. */
  for (int c = 0; c < NCLASSES; c++)
    for (int i = 0; i < PER_CLASS; i++)
      if (blocks[c][i]) {
        unsigned char *b = blocks[c][i];
        CHECK(b[0] == c + 1 && b[sizes[c] - 1] == c + 1, "block %p of class %d lost its contents", (void *)b, c);
        tide_free(b);
      }
  size_t given = tide_trim();
  printf("tide_trim gave back %zu bytes\n", given);
  CHECK(given > 0, "tide_trim() gave nothing back after %u pages were freed", nspans);

  /* The pin's segment is alive: its slices are free again, but for the
   * header and the pin's page. */
  REQUIRE(u_is_head(pseg), "the pinned segment %p left the segment map", (void *)pseg);
  uint64_t pin_bits = ((1ULL << ppage->slice_count) - 1) << phead;
  CHECK(pseg->free_slices == (~1ULL & ~pin_bits), "pinned segment: free_slices %#llx, want %#llx",
        (unsigned long long)pseg->free_slices, (unsigned long long)(~1ULL & ~pin_bits));
  unsigned checked_free = 0;
  for (unsigned s = 0; s < nspans; s++) {
    tide_segment *seg = spans[s].seg;
    if (seg != pseg) {
      /* any other segment is empty: gone, or (cached) with every slice free */
      if (u_is_head(seg))
        CHECK(seg->free_slices == ~1ULL, "segment %p: free_slices %#llx after trim, want all but the header",
              (void *)seg, (unsigned long long)seg->free_slices);
      continue;
    }
    for (unsigned j = 0; j < spans[s].count; j++)
      CHECK(seg->free_slices >> (spans[s].head + j) & 1, "slice %u is still used after free + trim",
            spans[s].head + j);
    CHECK(seg->pages[spans[s].head].block_size == 0, "the freed page at slice %u still has block_size %u",
          spans[s].head, seg->pages[spans[s].head].block_size);
    /* A pointer into a free slice is not a block (not even at its start). */
    for (unsigned j = 0; j < spans[s].count; j++) {
      uint8_t *slice = (uint8_t *)seg + ((size_t)(spans[s].head + j) << TIDE_SLICE_SHIFT);
      CHECK(page_of_block(seg, slice) == NULL, "page_of_block accepts the start of free slice %u",
            spans[s].head + j);
      CHECK(page_of_block(seg, slice + 16) == NULL && page_of_block(seg, slice + 1000) == NULL,
            "page_of_block accepts an address in free slice %u", spans[s].head + j);
    }
    checked_free++;
  }
  CHECK(checked_free > 0, "no page of the test was in the pinned segment");
  /* free() of such a pointer is reported, not followed. */
  for (unsigned s = 0; s < nspans; s++)
    if (spans[s].seg == pseg) {
      uint8_t *slice = (uint8_t *)pseg + ((size_t)spans[s].head << TIDE_SLICE_SHIFT);
      CHECK(free_aborts(slice), "tide_free(%p), the start of a free slice, did not abort with 'invalid pointer'",
            (void *)slice);
      CHECK(free_aborts(slice + 4096), "tide_free(%p), inside a free slice, did not abort with 'invalid pointer'",
            (void *)(slice + 4096));
      break;
    }
  /* Reuse: a new page of a freed class takes free slices again. */
  void *again = tide_malloc(70000);
  REQUIRE(again, "tide_malloc(70000) after trim");
  tide_page *ap = page_of_block(segment_of(again), again);
  CHECK(ap && !(segment_of(again)->free_slices >> (ap - segment_of(again)->pages) & 1),
        "a new page's head slice is marked free");
  tide_free(again);
  tide_free(pin);
  return t_finish("segment");
}
