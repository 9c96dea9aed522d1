/*
 * mandelbrot: renders the Mandelbrot set as a binary PGM (P5) image on stdout.
 *
 *   usage: mandelbrot [width [height [max-iterations]]]   (defaults 256 256 256)
 *
 * The view is the rectangle [-2.5, 1] x [-1.25, 1.25] of the complex plane. A pixel's grey
 * level is 255 * iterations / max-iterations for points that escape, 0 for points inside the
 * set. IEEE-754 doubles make the output bit-for-bit the same on every conforming machine.
 */
#include <stdio.h>
#include <stdlib.h>

static int parse_dim(const char *s, int max, const char *what) {
  char *end;
  long v = strtol(s, &end, 10);
  if (s[0] == '\0' || *end != '\0' || v < 1 || v > max) {
    fprintf(stderr, "mandelbrot: %s must be an integer in 1..%d\n", what, max);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char **argv) {
  int width = argc > 1 ? parse_dim(argv[1], 16384, "width") : 256;
  int height = argc > 2 ? parse_dim(argv[2], 16384, "height") : 256;
  int max_iter = argc > 3 ? parse_dim(argv[3], 1000000, "max-iterations") : 256;

  unsigned char *row = malloc((size_t)width);
  if (row == NULL) {
    fprintf(stderr, "mandelbrot: out of memory\n");
    return 1;
  }
  printf("P5\n%d %d\n255\n", width, height);
  for (int y = 0; y < height; y++) {
    double ci = -1.25 + 2.5 * (y + 0.5) / height;
    for (int x = 0; x < width; x++) {
      double cr = -2.5 + 3.5 * (x + 0.5) / width;
      double zr = 0.0, zi = 0.0;
      int i = 0;
      while (i < max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        i++;
      }
      row[x] = i >= max_iter ? 0 : (unsigned char)(255L * i / max_iter);
    }
    if (fwrite(row, 1, (size_t)width, stdout) != (size_t)width) return 1;
  }
  free(row);
  return fflush(stdout) == 0 ? 0 : 1;
}
