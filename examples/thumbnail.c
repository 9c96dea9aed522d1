/*
 * Makes thumbnails of the PGM images under /in (recursively): each image is shrunk by a
 * factor (box filter: every output pixel is the mean of a FACTOR x FACTOR block), optionally
 * inverted, and written as a binary PGM (P5) to the same path under /out. Reads P5 (binary)
 * and P2 (text) PGMs with a maxval up to 255; other files are skipped with a line on stderr.
 * Prints one line per image: "<path> <w>x<h> -> <w'>x<h'>".
 *
 *   args: [FACTOR [invert]]   FACTOR defaults to 4
 *
 *   depin submit examples/mandelbrot.wasm --arg 1024 --arg 768 --wait -o mandelbrot.pgm
 *   depin submit examples/thumbnail.wasm --in mandelbrot.pgm --arg 8 --arg invert --out thumbs --wait
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int factor = 4;
static int invert = 0;

/* Next header number of a PGM, skipping whitespace and # comments; -1 on error. */
static long read_number(FILE *f) {
  int c;
  for (;;) {
    c = fgetc(f);
    if (c == '#') { while (c != '\n' && c != EOF) c = fgetc(f); continue; }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    break;
  }
  if (c < '0' || c > '9') return -1;
  long n = 0;
  while (c >= '0' && c <= '9') {
    n = n * 10 + (c - '0');
    if (n > 1000000) return -1;
    c = fgetc(f);
  }
  return n; /* the one whitespace after the number was consumed */
}

static int thumbnail(const char *from, const char *to, const char *shown) {
  FILE *in = fopen(from, "rb");
  if (in == NULL) { fprintf(stderr, "%s: %s\n", from, strerror(errno)); return 1; }
  char magic[2];
  if (fread(magic, 1, 2, in) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '2')) {
    fprintf(stderr, "%s: not a PGM image, skipped\n", shown);
    fclose(in);
    return 0;
  }
  long w = read_number(in), h = read_number(in), maxval = read_number(in);
  if (w <= 0 || h <= 0 || maxval <= 0 || maxval > 255) {
    fprintf(stderr, "%s: unsupported PGM header, skipped\n", shown);
    fclose(in);
    return 0;
  }
  unsigned char *pixels = malloc((size_t)w * (size_t)h);
  if (pixels == NULL) { fprintf(stderr, "%s: out of memory\n", shown); fclose(in); return 1; }
  if (magic[1] == '5') {
    if (fread(pixels, 1, (size_t)(w * h), in) != (size_t)(w * h)) {
      fprintf(stderr, "%s: truncated image\n", shown); free(pixels); fclose(in); return 1;
    }
  } else {
    for (long i = 0; i < w * h; i++) {
      long v = read_number(in);
      if (v < 0) { fprintf(stderr, "%s: truncated image\n", shown); free(pixels); fclose(in); return 1; }
      pixels[i] = (unsigned char)v;
    }
  }
  fclose(in);

  long tw = (w + factor - 1) / factor, th = (h + factor - 1) / factor;
  FILE *out = fopen(to, "wb");
  if (out == NULL) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); free(pixels); return 1; }
  fprintf(out, "P5\n%ld %ld\n255\n", tw, th);
  for (long ty = 0; ty < th; ty++) {
    for (long tx = 0; tx < tw; tx++) {
      long sum = 0, count = 0;
      for (long y = ty * factor; y < (ty + 1) * factor && y < h; y++) {
        for (long x = tx * factor; x < (tx + 1) * factor && x < w; x++) {
          sum += pixels[y * w + x];
          count++;
        }
      }
      long v = (sum * 255 / maxval + count / 2) / count;
      fputc(invert ? 255 - (int)v : (int)v, out);
    }
  }
  free(pixels);
  if (fclose(out) != 0) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); return 1; }
  printf("%s %ldx%ld -> %ldx%ld\n", shown, w, h, tw, th);
  return 0;
}

static int walk(const char *rel) {
  char path[4096];
  snprintf(path, sizeof path, "/in%s%s", *rel ? "/" : "", rel);
  DIR *dir = opendir(path);
  if (dir == NULL) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); return 1; }
  int failed = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    char child[4096], from[4096], to[4096];
    snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", entry->d_name);
    snprintf(from, sizeof from, "/in/%s", child);
    snprintf(to, sizeof to, "/out/%s", child);
    if (entry->d_type == DT_DIR) {
      if (mkdir(to, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); failed = 1; continue; }
      failed |= walk(child);
    } else {
      failed |= thumbnail(from, to, child);
    }
  }
  closedir(dir);
  return failed;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    factor = atoi(argv[1]);
    if (factor < 1 || factor > 1024) { fprintf(stderr, "usage: thumbnail [FACTOR [invert]]\n"); return 2; }
  }
  if (argc > 2) {
    if (strcmp(argv[2], "invert") != 0) { fprintf(stderr, "usage: thumbnail [FACTOR [invert]]\n"); return 2; }
    invert = 1;
  }
  return walk("");
}
