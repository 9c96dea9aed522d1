/** How the CLI words files it wrote (light: no file-system or CID code, for wait.ts and job.ts). */

/** What a download wrote into an output directory. */
export interface Written { dir: string, files: number, bytes: number }

/** `2 files (11 bytes) in out/`. */
export function writtenText (written: Written): string {
  return `${written.files} file${written.files === 1 ? '' : 's'} (${written.bytes} bytes) written to ${written.dir}`
}
