/**
 * random_get's bytes: an AES-256-CTR keystream keyed by the run's 32-byte seed, so the same seed
 * gives the same bytes in the same order, however the guest cuts its requests. Apart from the
 * shim (wasi-shim.ts) because it keeps its own state: made at the first random_get (most
 * programs never call it), then a piece of keystream at a time.
 */
import { createCipheriv, type Cipheriv } from 'node:crypto'

/**
 * random_get makes its keystream this many bytes at a time, into a buffer it then copies from: a
 * large request costs no buffer of its size outside the memory limit and never reaches the crypto
 * library's length limit (about 2^31 bytes a call, which used to trap), and a small one copies
 * from the buffer instead of calling the cipher (one cipher call per random_get of 1 byte took
 * ~0.8 µs, 8 times the rest of a cheap host call).
 */
const RANDOM_PIECE_BYTES = 64 * 1024

export class SeededRandom {
  private readonly seed: Uint8Array
  // Made when the first bytes are asked for: building a cipher costs more than a small
  // program's whole run. The stream is the same whenever it is made.
  private keystream: Cipheriv | undefined
  private zeros: Uint8Array | undefined // RANDOM_PIECE_BYTES of them, encrypted into the keystream
  private random = new Uint8Array(0) // the next RANDOM_PIECE_BYTES of the keystream
  private randomAt = 0 // how many of them earlier calls took

  constructor (seed: Uint8Array) {
    this.seed = seed
  }

  /** Writes the next `len` bytes of the stream into `into` at `at` (the caller checked the bounds). */
  fill (into: Uint8Array, at: number, len: number): void {
    // CTR is a stream: the same bytes whatever the pieces (and the calls) it is cut into
    for (let done = 0; done < len;) {
      if (this.randomAt === this.random.byteLength) {
        this.keystream ??= createCipheriv('aes-256-ctr', this.seed, new Uint8Array(16))
        this.zeros ??= new Uint8Array(RANDOM_PIECE_BYTES)
        this.random = this.keystream.update(this.zeros)
        this.randomAt = 0
      }
      const n = Math.min(this.random.byteLength - this.randomAt, len - done)
      into.set(this.random.subarray(this.randomAt, this.randomAt + n), at + done)
      this.randomAt += n
      done += n
    }
  }
}
