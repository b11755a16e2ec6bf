/**
 * Answers index.html requested before app.js arrived (/object_info, /extensions from the page's own
 * server). Used once, and only when the editor talks to that same server; anything missing or refused
 * falls back to a normal request.
 */
type Prefetched = Partial<Record<'object_info' | 'extensions', Promise<unknown>>>;

export function takePrefetched<T>(key: 'object_info' | 'extensions', sameServer: boolean): Promise<T | null> {
  const all = (window as unknown as { __dditPrefetch?: Prefetched }).__dditPrefetch;
  const p = all?.[key];
  if (all) delete all[key];
  if (!p || !sameServer) return Promise.resolve(null);
  return p.then(
    (v) => (v ?? null) as T | null,
    () => null,
  );
}
