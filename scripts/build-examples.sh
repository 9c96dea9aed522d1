#!/bin/sh
# Rebuilds every committed .wasm: the example jobs (examples/*.c) and the executor test
# fixtures (test/fixtures/wasm/*.c). The built modules are committed, so a fresh clone needs
# no compiler; run this after changing a C source.
#
# Needs clang with the wasm32 target, wasm-ld (lld) and wasi-libc. On Debian/Ubuntu:
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
# Environment: CC (default clang), WASI_SYSROOT (default /usr).
#
# A source may add linker/compiler flags with a first-lines comment: `// build-flags: ...`.
# Files included by others (no main of their own) are still built on their own; that is fine
# because each fixture is a complete program.
set -eu

cd "$(dirname "$0")/.."
CC=${CC:-clang}
SYSROOT=${WASI_SYSROOT:-/usr}

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-examples: $CC not found (apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2
  exit 1
fi

for src in examples/*.c test/fixtures/wasm/*.c; do
  out="${src%.c}.wasm"
  extra=$(sed -n 's|^// build-flags: ||p' "$src")
  # shellcheck disable=SC2086 # $extra is a list of flags
  "$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -Wl,--strip-all $extra "$src" -o "$out"
  echo "built $out ($(wc -c < "$out") bytes)"
done
