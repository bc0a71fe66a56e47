/**
 * Prints XML as the renderer walks its input: two-space indentation, double-quoted attributes,
 * empty elements self-closed, text-only content inline and a trailing newline. Every text and
 * attribute value is escaped. No element tree is built: a guest is rendered on every boot, and
 * building a tree and then printing it was two-thirds of the cost of a guest.
 */
export class XmlWriter {
  #out = '';
  /** Names of the elements open around the write position, outermost first. */
  readonly #open: string[] = [];
  /** True while the last start tag still waits for its `>` (or `/>` if nothing comes). */
  #startTagOpen = false;

  /**
   * Opens an element; its children follow, then end(). `attrs` is attribute text: from attr(),
   * or a literal such as ` state="on"` for a fixed value.
   */
  start(name: string, attrs = ''): void {
    this.#beginLine();
    this.#out += `<${name}${attrs}`;
    this.#open.push(name);
    this.#startTagOpen = true;
  }

  /** Closes the innermost open element; one with no children is self-closed. */
  end(): void {
    const name = this.#open.pop();
    if (name === undefined) throw new Error('XmlWriter.end() without an open element');
    if (this.#startTagOpen) {
      this.#out += '/>';
      this.#startTagOpen = false;
      return;
    }
    this.#out += `\n${indentation(this.#open.length)}</${name}>`;
  }

  /** An element with only text (inline), or self-closed when `text` is undefined. */
  leaf(name: string, attrs = '', text?: string): void {
    this.#beginLine();
    this.#out +=
      text === undefined
        ? `<${name}${attrs}/>`
        : `<${name}${attrs}>${escape(text, false)}</${name}>`;
  }

  /** The document; every element must have been closed. */
  done(): string {
    if (this.#open.length > 0)
      throw new Error(`XmlWriter: <${this.#open.join('>, <')}> not closed`);
    return `${this.#out}\n`;
  }

  #beginLine(): void {
    if (this.#startTagOpen) {
      this.#out += '>';
      this.#startTagOpen = false;
    }
    if (this.#out !== '') this.#out += `\n${indentation(this.#open.length)}`;
  }
}

/** ` name="value"` with the value escaped, or nothing when the value is undefined. */
export function attr(name: string, value: string | number | undefined): string {
  if (value === undefined) return '';
  return ` ${name}="${typeof value === 'number' ? String(value) : escape(value, true)}"`;
}

const INDENTS = Array.from({ length: 16 }, (_, depth) => '  '.repeat(depth));

function indentation(depth: number): string {
  return INDENTS[depth] ?? '  '.repeat(depth);
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

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

function escape(text: string, inAttribute: boolean): string {
  if (!needsEscape(text)) return text;
  // NOTE: XML 1.0 cannot carry control characters other than tab, newline and carriage return,
  // not even as character references, so they are dropped rather than producing XML libvirt refuses.
  return (
    text
      .replace(inAttribute ? /[&<>"]/gu : /[&<>]/gu, (ch) => ESCAPES[ch] ?? ch)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/gu, '')
  );
}
