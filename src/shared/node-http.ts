/**
 * `node:http`, loaded with `require`, not `import`.
 *
 * Why: an ES `import … from 'node:http'` makes Node build the module's ES namespace, which reads
 * every export, including the lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters of Node
 * 24's http module; reading them loads undici, Node's whole fetch stack (about 17 MiB of RSS in a
 * daemon or a client command that never uses it). `require` returns the CommonJS exports without
 * touching those getters.
 */
import { createRequire } from 'node:module'

export const http: typeof import('node:http') = createRequire(import.meta.url)('node:http')
