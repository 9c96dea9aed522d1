/*
 * echo: copies stdin to stdout byte for byte (like cat). The trivial job of the latency and
 * throughput benchmarks; plain read/write, no stdio, so the module stays small.
 */
#include <unistd.h>

int main(void) {
  static char buf[65536];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) return 1;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(1, buf + off, (size_t)(n - off));
      if (w <= 0) return 1;
      off += w;
    }
  }
}
