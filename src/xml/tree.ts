/** Plain-data XML tree: easy to build, compare and print. */
export interface XmlElement {
  readonly name: string;
  /** Attribute order is the order written, so output is deterministic. */
  readonly attrs: readonly (readonly [string, string])[];
  readonly children: readonly XmlNode[];
}

/** An element or a text node. */
export type XmlNode = XmlElement | string;

/** Builds an element; `undefined` attributes and children are dropped, so optional parts read declaratively. */
export function el(
  name: string,
  attrs: Readonly<Record<string, string | number | undefined>> = {},
  ...children: readonly (XmlNode | undefined | false)[]
): XmlElement {
  // Plain loops: this runs for every element of every guest, so it avoids per-call closures.
  const pairs: (readonly [string, string])[] = [];
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined) pairs.push([key, typeof value === 'string' ? value : String(value)]);
  }
  const kept: XmlNode[] = [];
  for (const child of children) if (child !== undefined && child !== false) kept.push(child);
  return { name, attrs: pairs, children: kept };
}
