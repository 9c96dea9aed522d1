/**
 * Files of jobs, content-addressed: the manifest of a file tree (what inputs travel as and what
 * a job's /out becomes), the path rules, and trees on the local disk.
 */
export {
  createManifest, manifestOf, encodeManifest, encodedManifestBytes, decodeManifest, manifestCid, verifyFile, verifyFiles, EMPTY_MANIFEST
} from './manifest.ts'
export type { FileManifest, ManifestEntry, ManifestLimits, TreeFile } from './manifest.ts'
export { validatePath, compareBytewise, checkTree } from './paths.ts'
export type { PathRules } from './paths.ts'
export { scanInputs, readFileShared, readInputFiles, manifestOfDiskFiles, writeOutputTree } from './disk.ts'
export type { DiskFile } from './disk.ts'
export { MANIFEST_VERSION, MAX_MANIFEST_ENTRIES, MAX_MANIFEST_BYTES, MAX_PATH_BYTES, MAX_NAME_BYTES } from './constants.ts'
export * from './errors.ts'
