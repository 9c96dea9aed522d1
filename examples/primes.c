/*
 * primes: counts the primes below N by trial division and prints the count.
 *
 *   usage: primes [N]        (default 4000000: about 1 s natively with gcc -O2)
 *
 * CPU-bound, no allocation, one line of output: the benchmark job of bench/cpu.ts.
 * primes 100 prints 25; primes 4000000 prints 283146.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_N 4000000u

static int is_prime(uint32_t n) {
  if (n < 2) return 0;
  /* 64-bit square so d * d cannot wrap for n close to 2^32 */
  for (uint32_t d = 2; (uint64_t)d * d <= n; d++) {
    if (n % d == 0) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  uint32_t n = DEFAULT_N;
  if (argc > 1) {
    char *end;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (argv[1][0] == '\0' || *end != '\0' || v > UINT32_MAX) {
      fprintf(stderr, "usage: primes [N]  (N: integer below 2^32)\n");
      return 2;
    }
    n = (uint32_t)v;
  }
  uint32_t count = 0;
  for (uint32_t i = 2; i < n; i++) count += is_prime(i);
  printf("%u\n", count);
  return 0;
}
