import type { XmlElement, XmlNode } from './tree.js';

const TEXT_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const ATTR_ESCAPES: Readonly<Record<string, string>> = { ...TEXT_ESCAPES, '"': '&quot;' };

/**
 * Prints a tree: two-space indentation, double-quoted attributes, empty elements self-closed,
 * text-only content inline, and a trailing newline. Every text and attribute value is escaped.
 */
export function stringify(root: XmlElement): string {
  return `${printElement(root, '')}\n`;
}

function printElement(node: XmlElement, indent: string): string {
  const attrs = node.attrs
    .map(([key, value]) => ` ${key}="${escape(value, ATTR_ESCAPES)}"`)
    .join('');
  const open = `${indent}<${node.name}${attrs}`;
  if (node.children.length === 0) return `${open}/>`;
  const texts = node.children.filter((child) => typeof child === 'string');
  if (texts.length === node.children.length) {
    return `${open}>${texts.map((text) => escape(text, TEXT_ESCAPES)).join('')}</${node.name}>`;
  }
  const inner = node.children.map((child: XmlNode) =>
    typeof child === 'string'
      ? `${indent}  ${escape(child, TEXT_ESCAPES)}`
      : printElement(child, `${indent}  `),
  );
  return `${open}>\n${inner.join('\n')}\n${indent}</${node.name}>`;
}

function escape(text: string, table: Readonly<Record<string, string>>): string {
  // NOTE: XML 1.0 cannot carry control characters other than tab, newline and carriage return,
  // not even as character references, so they are dropped rather than producing XML libvirt refuses.
  return (
    text
      .replace(/[&<>"]/gu, (ch) => table[ch] ?? ch)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/gu, '')
  );
}
