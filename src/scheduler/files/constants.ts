/** Limits and fixed values of file manifests. Units are in the names. */

/** The `v` field of every manifest this code writes and reads. */
export const MANIFEST_VERSION = 1
/** Most files one manifest may list (inputs and outputs alike). */
export const MAX_MANIFEST_ENTRIES = 100_000
/**
 * Largest encoded manifest, bytes. Checked before decoding, so a manifest of a million entries
 * (at least ~60 bytes each) is refused without being parsed.
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024
/** Longest path in a manifest, UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_PATH_BYTES = 4096
/** Longest single path segment (a file or directory name), UTF-8 bytes (Linux's NAME_MAX). */
export const MAX_NAME_BYTES = 255
