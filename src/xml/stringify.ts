import type { XmlElement } from './tree.js';

const TEXT_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const ATTR_ESCAPES: Readonly<Record<string, string>> = { ...TEXT_ESCAPES, '"': '&quot;' };

/**
 * Prints a tree: two-space indentation, double-quoted attributes, empty elements self-closed,
 * text-only content inline, and a trailing newline. Every text and attribute value is escaped.
 */
export function stringify(root: XmlElement): string {
  return `${printElement(root, '')}\n`;
}

// String concatenation into one accumulator (V8 builds it as a rope): this runs for every
// element of every guest, so it avoids arrays and closures per element.
function printElement(node: XmlElement, indent: string): string {
  const { name, attrs, children } = node;
  let out = `${indent}<${name}`;
  for (const [key, value] of attrs) out += ` ${key}="${escape(value, ATTR_ESCAPES)}"`;
  if (children.length === 0) return `${out}/>`;
  let textOnly = true;
  for (const child of children) if (typeof child !== 'string') textOnly = false;
  if (textOnly) {
    out += '>';
    for (const text of children) out += escape(text as string, TEXT_ESCAPES);
    return `${out}</${name}>`;
  }
  const inner = `${indent}  `;
  out += '>';
  for (const child of children) {
    out += `\n${typeof child === 'string' ? inner + escape(child, TEXT_ESCAPES) : printElement(child, inner)}`;
  }
  return `${out}\n${indent}</${name}>`;
}

/** True when a value holds a character that must be escaped or dropped. */
function needsEscape(text: string): boolean {
  // A char-code scan beats a regex on the short values that make up a domain.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x26 || code === 0x3c || code === 0x3e || code === 0x22)
      return true;
  }
  return false;
}

function escape(text: string, table: Readonly<Record<string, string>>): string {
  if (!needsEscape(text)) return text;
  // NOTE: XML 1.0 cannot carry control characters other than tab, newline and carriage return,
  // not even as character references, so they are dropped rather than producing XML libvirt refuses.
  return (
    text
      .replace(/[&<>"]/gu, (ch) => table[ch] ?? ch)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/gu, '')
  );
}
