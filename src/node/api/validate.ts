import type { z } from 'zod'
import { ApiError } from './errors.ts'

function parse<T> (schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
    throw new ApiError(400, 'ERR_BAD_REQUEST', `invalid ${where}: ${path}${issue.message}`)
  }
  return parsed.data
}

/** Validates a query string; 400 with the first problem. */
export function parseQuery<T> (schema: z.ZodType<T>, value: unknown): T {
  return parse(schema, value, 'query')
}

/** Validates a JSON body; 400 with the first problem. */
export function parseBody<T> (schema: z.ZodType<T>, value: unknown): T {
  return parse(schema, value, 'request body')
}

/** Validates path parameters (for a route whose wildcard keeps them out of a params schema); 400 with the first problem. */
export function parseParams<T> (schema: z.ZodType<T>, value: unknown): T {
  return parse(schema, value, 'path')
}
