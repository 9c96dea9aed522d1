/*
 * The fixed workload behind measureFuelRate (fuel-rate.ts embeds the module built from this):
 * a mix of integer arithmetic, a division, float arithmetic and memory traffic that never
 * ends by itself; the fuel limit stops it. No libc, no imports.
 *
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export=_start -Wl,--strip-all \
 *     src/scheduler/executor/metering/fuel-rate.c -o fuel-rate.wasm
 */
static unsigned table[1024];
volatile unsigned sink;

void _start(void) {
  unsigned x = 12345;
  double f = 1.0;
  for (unsigned i = 0;; i++) {
    x = x * 1103515245u + 12345u;
    unsigned slot = (x >> 8) & 1023u;
    table[slot] += x / (i | 1u);
    f = f * 0.999999 + (double)(table[(slot * 7u) & 1023u] & 255u);
    if ((i & 0xffffu) == 0) sink = x ^ (unsigned)f;
  }
}
