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
  return {
    name,
    attrs: Object.entries(attrs).flatMap(([key, value]) =>
      value === undefined ? [] : [[key, String(value)] as const],
    ),
    children: children.filter((child): child is XmlNode => child !== undefined && child !== false),
  };
}
