/**
 * A value built on the first call, then shared by every later call of the container; a failed
 * build is forgotten, so the next invocation tries again instead of failing forever. For client
 * modules kept off the cold-start path: `onFirstUse(() => import('./adapters/opensearch.ts').then(...))`
 * (in a bundle the module stays inline, evaluated on that first import()).
 */
export function onFirstUse<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined
  return () => {
    if (!built) {
      built = build()
      built.catch(() => {
        built = undefined
      })
    }
    return built
  }
}
