/*
 * wordcount: reads stdin to the end and prints "LINES WORDS BYTES\n", counted like wc:
 * lines are newline characters, words are maximal runs of non-whitespace bytes
 * (space, \t, \n, \v, \f, \r separate words), bytes are all bytes read.
 *
 *   usage: wordcount < input
 */
#include <stdio.h>
#include <unistd.h>

static int is_space(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

int main(void) {
  static unsigned char buf[65536];
  unsigned long long lines = 0, words = 0, bytes = 0;
  int in_word = 0;
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0) {
      perror("wordcount: read");
      return 1;
    }
    if (n == 0) break;
    bytes += (unsigned long long)n;
    for (ssize_t i = 0; i < n; i++) {
      unsigned char c = buf[i];
      if (c == '\n') lines++;
      if (is_space(c)) {
        in_word = 0;
      } else if (!in_word) {
        in_word = 1;
        words++;
      }
    }
  }
  printf("%llu %llu %llu\n", lines, words, bytes);
  return 0;
}
