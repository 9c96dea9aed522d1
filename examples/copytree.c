/*
 * Copies every file under /in to the same path under /out, byte for byte, creating the
 * directories on the way. Prints one line per file: "<path> <bytes>". The identity job of the
 * file examples (and of bench/files.ts).
 *
 *   depin submit examples/copytree.wasm --in photos --out copied --wait
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char buffer[64 * 1024];

static int copy_file(const char *from, const char *to, const char *shown) {
  FILE *in = fopen(from, "rb");
  if (in == NULL) { fprintf(stderr, "%s: %s\n", from, strerror(errno)); return 1; }
  FILE *out = fopen(to, "wb");
  if (out == NULL) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); fclose(in); return 1; }
  long long total = 0;
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, in)) > 0) {
    if (fwrite(buffer, 1, n, out) != n) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); fclose(in); fclose(out); return 1; }
    total += (long long)n;
  }
  fclose(in);
  if (fclose(out) != 0) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); return 1; }
  printf("%s %lld\n", shown, total);
  return 0;
}

/* rel is "" for the top, else "a/b" */
static int copy_tree(const char *rel) {
  char from[4096], to[4096];
  snprintf(from, sizeof from, "/in%s%s", *rel ? "/" : "", rel);
  DIR *dir = opendir(from);
  if (dir == NULL) { fprintf(stderr, "%s: %s\n", from, strerror(errno)); return 1; }
  int failed = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    char child[4096];
    snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", entry->d_name);
    snprintf(from, sizeof from, "/in/%s", child);
    snprintf(to, sizeof to, "/out/%s", child);
    if (entry->d_type == DT_DIR) {
      if (mkdir(to, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); failed = 1; continue; }
      failed |= copy_tree(child);
    } else {
      failed |= copy_file(from, to, child);
    }
  }
  closedir(dir);
  return failed;
}

int main(void) {
  return copy_tree("");
}
