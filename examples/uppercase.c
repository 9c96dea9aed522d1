/*
 * Reads every text file under /in (recursively) and writes it upper-cased (ASCII letters) to
 * the same path under /out. Prints one line per file: "<path> <lines> <bytes>". Files are
 * visited in the sandbox's fixed order (names sorted bytewise), so the output is the same on
 * every peer.
 *
 *   depin submit examples/uppercase.wasm --in docs --out shouted --wait
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char buffer[16 * 1024];

static int transform(const char *from, const char *to, const char *shown) {
  FILE *in = fopen(from, "rb");
  if (in == NULL) { fprintf(stderr, "%s: %s\n", from, strerror(errno)); return 1; }
  FILE *out = fopen(to, "wb");
  if (out == NULL) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); fclose(in); return 1; }
  long long bytes = 0, lines = 0;
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, in)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (buffer[i] == '\n') lines++;
      buffer[i] = (char)toupper((unsigned char)buffer[i]);
    }
    if (fwrite(buffer, 1, n, out) != n) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); fclose(in); fclose(out); return 1; }
    bytes += (long long)n;
  }
  fclose(in);
  if (fclose(out) != 0) { fprintf(stderr, "%s: %s\n", to, strerror(errno)); return 1; }
  printf("%s %lld %lld\n", shown, lines, bytes);
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
      failed |= transform(from, to, child);
    }
  }
  closedir(dir);
  return failed;
}

int main(void) {
  return walk("");
}
