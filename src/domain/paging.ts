/**
 * Sorting and keyset paging as Nova and Glance do them (oslo.db's paginate_query): items are
 * ordered by the sort keys, then the page starts right after the marker item's place in that
 * order, whether or not the marker itself passes the filters.
 */

export type SortDir = 'asc' | 'desc';

/** One sort key and its direction. */
export interface SortSpec<K extends string> {
  readonly key: K;
  readonly dir: SortDir;
}

/** A sortable value; null sorts before everything (as SQLite and MySQL order NULL ascending). */
export type SortValue = string | number | boolean | null;

/** A comparator over the sort keys, each in its own direction. */
export function sortComparator<T, K extends string>(
  sort: readonly SortSpec<K>[],
  value: (item: T, key: K) => SortValue,
): (a: T, b: T) => number {
  return (a, b) => {
    for (const { key, dir } of sort) {
      const order = compareValues(value(a, key), value(b, key));
      if (order !== 0) return dir === 'asc' ? order : -order;
    }
    return 0;
  };
}

function compareValues(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const x = typeof a === 'boolean' ? Number(a) : a;
  const y = typeof b === 'boolean' ? Number(b) : b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The page of `items` (already filtered) in `compare` order: those after `marker` (when given),
 * at most `limit` of them (when given).
 */
export function pageOf<T>(
  items: readonly T[],
  compare: (a: T, b: T) => number,
  marker: T | undefined,
  limit: number | undefined,
): T[] {
  const sorted = [...items].sort(compare);
  const after = marker === undefined ? sorted : sorted.filter((item) => compare(item, marker) > 0);
  return limit === undefined ? after : after.slice(0, limit);
}
