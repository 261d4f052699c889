/** Runs at most `limit` promises at once. */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const queue: Array<() => void> = []
  const next = () => {
    if (active >= limit) return
    const run = queue.shift()
    if (run) {
      active++
      run()
    }
  }
  return <T>(fn: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        fn().then(resolve, reject).finally(() => {
          active--
          next()
        })
      })
      next()
    })
}

/** Memoises an async function by key (one auth check per credential per run, one read per bucket…). */
export function memoize<T>(): (key: string, fn: () => Promise<T>) => Promise<T> {
  const cache = new Map<string, Promise<T>>()
  return (key, fn) => {
    let p = cache.get(key)
    if (!p) {
      p = fn()
      cache.set(key, p)
    }
    return p
  }
}
