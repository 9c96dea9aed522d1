/**
 * Merges streams that each come newest first into one stream newest first, pulling from each
 * only as far as the merged stream is read (a list that stops after N items reads about N of
 * each). At equal times the item of the earlier source comes first. The sources are closed when
 * the merged stream is (a reader that stops early leaves no open iterator behind).
 */
export async function * mergeNewestFirst<T> (sources: Array<AsyncIterable<T> | Iterable<T>>, timeOf: (item: T) => number): AsyncGenerator<T> {
  const iterators = sources.map((s) => Symbol.asyncIterator in s ? s[Symbol.asyncIterator]() : toAsync(s[Symbol.iterator]()))
  const heads: Array<IteratorResult<T> | undefined> = []
  try {
    for (const it of iterators) heads.push(await it.next())
    for (;;) {
      let best = -1
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]
        if (head == null || head.done === true) continue
        if (best < 0 || timeOf(head.value) > timeOf((heads[best] as IteratorYieldResult<T>).value)) best = i
      }
      if (best < 0) return
      yield (heads[best] as IteratorYieldResult<T>).value
      heads[best] = await iterators[best].next()
    }
  } finally {
    await Promise.all(iterators.map(async (it, i) => { if (heads[i]?.done !== true) await it.return?.() }))
  }
}

function toAsync<T> (it: Iterator<T>): AsyncIterator<T> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined }
  }
}
