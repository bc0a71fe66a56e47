/**
 * A linear-time matcher for the subset of Python's `re` syntax that Nova's list filters take
 * (`GET /servers?name=...` is `re.search(name, display_name)` in Nova). JavaScript's RegExp
 * backtracks, so `(a+)+$` against 26 `a`s and a `b` blocks the event loop for seconds; this one
 * compiles the pattern to a Thompson NFA and runs it as a Pike VM: time is O(pattern × text)
 * whatever the pattern is, and the program's size is capped.
 *
 * Supported: literals, `.`, classes (`[a-z]`, `[^...]`, `\d \w \s` and their negations inside
 * and outside classes), groups (`(...)`, `(?:...)`, `(?P<name>...)`), alternation, the quantifiers
 * `* + ? {m} {m,} {m,n}` and their lazy forms (laziness does not change whether a search
 * matches), anchors `^ $ \A \Z \b \B`, escapes (`\n \t \r \f \v \xhh \uhhhh`), and the global
 * inline flags `(?i)`, `(?s)`, `(?m)`, `(?x)` … at the start. Backreferences and lookaround need
 * backtracking and are refused as unsupported (`PyRegexError` with `kind: 'unsupported'`).
 */

/** Why a pattern cannot be used: it is not a valid Python regex, or not in the supported subset. */
export class PyRegexError extends Error {
  constructor(
    readonly kind: 'invalid' | 'unsupported',
    message: string,
  ) {
    super(message);
    this.name = 'PyRegexError';
  }
}

/** The most instructions one compiled pattern may have (bounds time per character). */
export const MAX_PROGRAM = 10_000;

type Test = (cp: number) => boolean;
type Node =
  | { readonly t: 'char'; readonly test: Test }
  | { readonly t: 'seq'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly items: readonly Node[] }
  | { readonly t: 'rep'; readonly node: Node; readonly min: number; readonly max: number }
  | { readonly t: 'assert'; readonly kind: Anchor };
type Anchor = 'bol' | 'eol' | 'start' | 'end' | 'word' | 'nonword';

interface Flags {
  i: boolean;
  s: boolean;
  m: boolean;
  x: boolean;
}

type Inst =
  | { op: 'char'; test: Test }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'assert'; kind: Anchor }
  | { op: 'match' };

/** A compiled pattern: `search(text)` is Python's `re.search(pattern, text) is not None`. */
export interface PyRegex {
  readonly source: string;
  search(text: string): boolean;
}

/** Compiles a Python regex; throws PyRegexError when it is invalid or unsupported. */
export function compilePyRegex(source: string): PyRegex {
  const parser = new Parser(source);
  const ast = parser.parse();
  const flags = parser.flags;
  const prog: Inst[] = [];
  emit(ast, prog);
  prog.push({ op: 'match' });
  return { source, search: (text) => run(prog, text, flags) };
}

const isWordCp = (cp: number): boolean =>
  (cp >= 48 && cp <= 57) ||
  (cp >= 65 && cp <= 90) ||
  (cp >= 97 && cp <= 122) ||
  cp === 95 ||
  (cp > 127 && /[\p{L}\p{N}_]/u.test(String.fromCodePoint(cp)));
const isDigitCp = (cp: number): boolean =>
  (cp >= 48 && cp <= 57) || (cp > 127 && /\p{Nd}/u.test(String.fromCodePoint(cp)));
const isSpaceCp = (cp: number): boolean =>
  (cp >= 9 && cp <= 13) || cp === 32 || (cp > 127 && /\s/u.test(String.fromCodePoint(cp)));

function fold(cp: number): number {
  const s = String.fromCodePoint(cp);
  const lower = s.toLowerCase();
  return lower.length === s.length ? (lower.codePointAt(0) ?? cp) : cp;
}

class Parser {
  readonly flags: Flags = { i: false, s: false, m: false, x: false };
  #pos = 0;
  readonly #cps: number[];

  constructor(readonly source: string) {
    this.#cps = Array.from(source, (ch) => ch.codePointAt(0) ?? 0);
  }

  parse(): Node {
    this.#leadingFlags();
    const node = this.#alternation();
    if (this.#pos < this.#cps.length) {
      throw this.#invalid(`unbalanced parenthesis at position ${this.#pos}`);
    }
    return node;
  }

  #invalid(why: string): PyRegexError {
    return new PyRegexError('invalid', why);
  }

  #peek(offset = 0): string | undefined {
    const cp = this.#cps[this.#pos + offset];
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  #leadingFlags(): void {
    // Python 3.11+ allows global inline flags only at the start of the pattern.
    for (;;) {
      if (this.#peek() !== '(' || this.#peek(1) !== '?') return;
      let j = 2;
      const letters: string[] = [];
      for (;;) {
        const ch = this.#peek(j);
        if (ch !== undefined && 'aiLmsux'.includes(ch)) {
          letters.push(ch);
          j++;
          continue;
        }
        if (ch === ')' && letters.length > 0) break;
        return;
      }
      for (const letter of letters) {
        if (letter === 'i' || letter === 's' || letter === 'm' || letter === 'x') {
          this.flags[letter] = true;
        }
      }
      this.#pos += j + 1;
    }
  }

  #skipVerbose(): void {
    if (!this.flags.x) return;
    for (;;) {
      const ch = this.#peek();
      if (ch !== undefined && /\s/u.test(ch)) this.#pos++;
      else if (ch === '#') {
        while (this.#peek() !== undefined && this.#peek() !== '\n') this.#pos++;
      } else return;
    }
  }

  #alternation(): Node {
    const items = [this.#sequence()];
    while (this.#peek() === '|') {
      this.#pos++;
      items.push(this.#sequence());
    }
    const [only] = items;
    return items.length === 1 && only !== undefined ? only : { t: 'alt', items };
  }

  #sequence(): Node {
    const items: Node[] = [];
    for (;;) {
      this.#skipVerbose();
      const ch = this.#peek();
      if (ch === undefined || ch === '|' || ch === ')') break;
      const atom = this.#atom();
      items.push(this.#quantified(atom));
    }
    return { t: 'seq', items };
  }

  #quantified(atom: Node): Node {
    let node = atom;
    let quantified = false;
    for (;;) {
      this.#skipVerbose();
      const ch = this.#peek();
      let min: number;
      let max: number;
      if (ch === '*') [min, max] = [0, Infinity];
      else if (ch === '+') [min, max] = [1, Infinity];
      else if (ch === '?') [min, max] = [0, 1];
      else if (ch === '{') {
        const counted = this.#counted();
        if (counted === undefined) return node;
        [min, max] = counted;
      } else return node;
      if (ch !== '{') this.#pos++;
      if (quantified) throw this.#invalid(`multiple repeat at position ${this.#pos - 1}`);
      if (node.t === 'assert') {
        throw this.#invalid(`nothing to repeat at position ${this.#pos - 1}`);
      }
      // A lazy (`*?`) or possessive (`*+`, Python 3.11) mark does not change whether it matches.
      if (this.#peek() === '?' || this.#peek() === '+') this.#pos++;
      node = { t: 'rep', node, min, max };
      quantified = true;
    }
  }

  /** `{m}`, `{m,}`, `{,n}`, `{m,n}` at the cursor (consumed), or undefined for a literal `{`. */
  #counted(): [number, number] | undefined {
    const rest = this.#cps
      .slice(this.#pos)
      .map((cp) => String.fromCodePoint(cp))
      .join('');
    const found = /^\{(\d*)(,?)(\d*)\}/u.exec(rest);
    if (found === null) return undefined;
    const [text, lo = '', comma = '', hi = ''] = found;
    if (lo === '' && comma === '') return undefined;
    const min = lo === '' ? 0 : Number(lo);
    const max = comma === '' ? min : hi === '' ? Infinity : Number(hi);
    if (max < min) throw this.#invalid(`min repeat greater than max repeat`);
    if (min > MAX_PROGRAM || (max !== Infinity && max > MAX_PROGRAM)) {
      throw new PyRegexError('unsupported', `the repeat count ${text} is too large`);
    }
    this.#pos += Array.from(text).length;
    return [min, max];
  }

  #atom(): Node {
    const ch = this.#peek();
    if (ch === '(') return this.#group();
    if (ch === '[') return this.#charClass();
    if (ch === '*' || ch === '+' || ch === '?') {
      throw this.#invalid(`nothing to repeat at position ${this.#pos}`);
    }
    if (ch === '{' && this.#counted() !== undefined) {
      throw this.#invalid(`nothing to repeat at position ${this.#pos}`);
    }
    this.#pos++;
    if (ch === '.') {
      const dotAll = this.flags.s;
      return { t: 'char', test: (cp) => dotAll || cp !== 10 };
    }
    if (ch === '^') return { t: 'assert', kind: 'bol' };
    if (ch === '$') return { t: 'assert', kind: 'eol' };
    if (ch === '\\') return this.#escape(false);
    return this.#literal(this.#cps[this.#pos - 1] ?? 0);
  }

  #literal(cp: number): Node {
    if (!this.flags.i) return { t: 'char', test: (c) => c === cp };
    const folded = fold(cp);
    return { t: 'char', test: (c) => c === cp || fold(c) === folded };
  }

  #group(): Node {
    const start = this.#pos;
    this.#pos++; // (
    if (this.#peek() === '?') {
      const next = this.#peek(1);
      if (next === ':') {
        this.#pos += 2;
      } else if (next === 'P' && this.#peek(2) === '<') {
        const close = this.#cps.indexOf(62, this.#pos); // >
        if (close < 0) throw this.#invalid(`missing >, unterminated name at position ${start}`);
        this.#pos = close + 1;
      } else if (next === '<' && this.#peek(2) !== '=' && this.#peek(2) !== '!') {
        const close = this.#cps.indexOf(62, this.#pos);
        if (close < 0) throw this.#invalid(`missing >, unterminated name at position ${start}`);
        this.#pos = close + 1;
      } else if (next === '#') {
        const close = this.#cps.indexOf(41, this.#pos); // )
        if (close < 0) throw this.#invalid(`missing ), unterminated comment at position ${start}`);
        this.#pos = close + 1;
        return { t: 'seq', items: [] };
      } else if (
        next === '=' ||
        next === '!' ||
        next === '<' ||
        (next === 'P' && this.#peek(2) === '=') ||
        next === '('
      ) {
        throw new PyRegexError(
          'unsupported',
          `lookaround, backreferences and conditionals (at position ${start}) need backtracking, which vpmu does not do`,
        );
      } else {
        throw this.#invalid(`unknown extension ?${next ?? ''} at position ${start + 1}`);
      }
    }
    const node = this.#alternation();
    if (this.#peek() !== ')') {
      throw this.#invalid(`missing ), unterminated subpattern at position ${start}`);
    }
    this.#pos++;
    return node;
  }

  /** An escape after `\`; inside a class it yields only character tests. */
  #escape(inClass: boolean): Node {
    const ch = this.#peek();
    if (ch === undefined) throw this.#invalid('bad escape (end of pattern)');
    this.#pos++;
    const set = (test: Test): Node => ({ t: 'char', test });
    switch (ch) {
      case 'd':
        return set(isDigitCp);
      case 'D':
        return set((cp) => !isDigitCp(cp));
      case 'w':
        return set(isWordCp);
      case 'W':
        return set((cp) => !isWordCp(cp));
      case 's':
        return set(isSpaceCp);
      case 'S':
        return set((cp) => !isSpaceCp(cp));
      case 'n':
        return this.#literal(10);
      case 't':
        return this.#literal(9);
      case 'r':
        return this.#literal(13);
      case 'f':
        return this.#literal(12);
      case 'v':
        return this.#literal(11);
      case 'a':
        return this.#literal(7);
      case 'x':
      case 'u':
      case 'U': {
        const width = ch === 'x' ? 2 : ch === 'u' ? 4 : 8;
        const hex = this.#cps
          .slice(this.#pos, this.#pos + width)
          .map((c) => String.fromCodePoint(c))
          .join('');
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`, 'u').test(hex)) {
          throw this.#invalid(`incomplete escape \\${ch}${hex}`);
        }
        this.#pos += width;
        return this.#literal(Number.parseInt(hex, 16));
      }
      case '0':
        return this.#literal(0);
      default:
        break;
    }
    if (!inClass) {
      if (ch === 'A') return { t: 'assert', kind: 'start' };
      if (ch === 'Z') return { t: 'assert', kind: 'end' };
      if (ch === 'b') return { t: 'assert', kind: 'word' };
      if (ch === 'B') return { t: 'assert', kind: 'nonword' };
    } else if (ch === 'b') {
      return this.#literal(8);
    }
    if (/[1-9]/u.test(ch)) {
      throw new PyRegexError(
        'unsupported',
        `backreferences (\\${ch}) need backtracking, which vpmu does not do`,
      );
    }
    if (/[A-Za-z]/u.test(ch)) throw this.#invalid(`bad escape \\${ch}`);
    return this.#literal(this.#cps[this.#pos - 1] ?? 0);
  }

  #charClass(): Node {
    const start = this.#pos;
    this.#pos++; // [
    let negate = false;
    if (this.#peek() === '^') {
      negate = true;
      this.#pos++;
    }
    const tests: Test[] = [];
    let first = true;
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) throw this.#invalid(`unterminated character set at position ${start}`);
      if (ch === ']' && !first) {
        this.#pos++;
        break;
      }
      first = false;
      const lo = this.#classAtom();
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== undefined) {
        this.#pos++;
        const hi = this.#classAtom();
        if (typeof lo !== 'number' || typeof hi !== 'number') {
          throw this.#invalid(`bad character range at position ${start}`);
        }
        if (hi < lo) throw this.#invalid(`bad character range at position ${start}`);
        tests.push(
          this.flags.i
            ? (cp) => (cp >= lo && cp <= hi) || inRangeFolded(cp, lo, hi)
            : (cp) => cp >= lo && cp <= hi,
        );
      } else if (typeof lo === 'number') {
        tests.push(this.flags.i ? (cp) => cp === lo || fold(cp) === fold(lo) : (cp) => cp === lo);
      } else {
        tests.push(lo);
      }
    }
    return {
      t: 'char',
      test: (cp) => tests.some((test) => test(cp)) !== negate,
    };
  }

  /** A code point, or a class test such as `\d`. */
  #classAtom(): number | Test {
    const ch = this.#peek();
    if (ch !== '\\') {
      this.#pos++;
      return this.#cps[this.#pos - 1] ?? 0;
    }
    this.#pos++;
    const escaped = this.#peek();
    const node = this.#escape(true);
    if (node.t !== 'char') throw this.#invalid('bad escape in a character set');
    if (escaped !== undefined && 'dDwWsS'.includes(escaped)) return node.test;
    // A single-character escape: recover its code point by probing is wasteful; re-derive it.
    return escapedCodePoint(escaped ?? '', this.#cps, this.#pos);
  }
}

function inRangeFolded(cp: number, lo: number, hi: number): boolean {
  const s = String.fromCodePoint(cp);
  for (const variant of [s.toLowerCase(), s.toUpperCase()]) {
    const v = variant.codePointAt(0) ?? cp;
    if (Array.from(variant).length === 1 && v >= lo && v <= hi) return true;
  }
  return false;
}

/** The code point a one-character escape (already consumed) stands for. */
function escapedCodePoint(letter: string, cps: readonly number[], pos: number): number {
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7, b: 8, '0': 0 };
  const known = simple[letter];
  if (known !== undefined) return known;
  if (letter === 'x' || letter === 'u' || letter === 'U') {
    const width = letter === 'x' ? 2 : letter === 'u' ? 4 : 8;
    const hex = cps
      .slice(pos - width, pos)
      .map((c) => String.fromCodePoint(c))
      .join('');
    return Number.parseInt(hex, 16);
  }
  return letter.codePointAt(0) ?? 0;
}

function emit(node: Node, prog: Inst[]): void {
  if (prog.length > MAX_PROGRAM) {
    throw new PyRegexError(
      'unsupported',
      `the pattern is too complex (more than ${MAX_PROGRAM} steps per character)`,
    );
  }
  switch (node.t) {
    case 'char':
      prog.push({ op: 'char', test: node.test });
      return;
    case 'assert':
      prog.push({ op: 'assert', kind: node.kind });
      return;
    case 'seq':
      for (const item of node.items) emit(item, prog);
      return;
    case 'alt': {
      const jumps: { op: 'jmp'; x: number }[] = [];
      node.items.forEach((item, index) => {
        if (index < node.items.length - 1) {
          const split: Inst = { op: 'split', x: prog.length + 1, y: -1 };
          prog.push(split);
          emit(item, prog);
          const jump = { op: 'jmp' as const, x: -1 };
          prog.push(jump);
          jumps.push(jump);
          split.y = prog.length;
        } else {
          emit(item, prog);
        }
      });
      for (const jump of jumps) jump.x = prog.length;
      return;
    }
    case 'rep': {
      for (let i = 0; i < node.min; i++) emit(node.node, prog);
      if (node.max === Infinity) {
        const split: Inst = { op: 'split', x: prog.length + 1, y: -1 };
        const at = prog.length;
        prog.push(split);
        emit(node.node, prog);
        prog.push({ op: 'jmp', x: at });
        split.y = prog.length;
      } else {
        const splits: { op: 'split'; x: number; y: number }[] = [];
        for (let i = node.min; i < node.max; i++) {
          const split = { op: 'split' as const, x: prog.length + 1, y: -1 };
          prog.push(split);
          splits.push(split);
          emit(node.node, prog);
        }
        for (const split of splits) split.y = prog.length;
      }
      return;
    }
  }
}

/** Pike VM: every thread advances in lock step, one set of at most prog.length states per step. */
function run(prog: readonly Inst[], text: string, flags: Flags): boolean {
  const cps = Array.from(text, (ch) => ch.codePointAt(0) ?? 0);
  const n = cps.length;
  const seen = new Int32Array(prog.length).fill(-1);
  let current: number[] = [];
  let next: number[] = [];
  let generation = 0;

  const holds = (kind: Anchor, i: number): boolean => {
    const before = i > 0 ? (cps[i - 1] ?? -1) : -1;
    const after = i < n ? (cps[i] ?? -1) : -1;
    switch (kind) {
      case 'start':
        return i === 0;
      case 'end':
        return i === n;
      case 'bol':
        return i === 0 || (flags.m && before === 10);
      case 'eol':
        return i === n || (after === 10 && (flags.m || i === n - 1));
      case 'word':
      case 'nonword': {
        const boundary = (before >= 0 && isWordCp(before)) !== (after >= 0 && isWordCp(after));
        return kind === 'word' ? boundary : !boundary;
      }
    }
  };

  // Adds pc and its epsilon closure at position i; true when MATCH is reachable.
  const add = (list: number[], start: number, i: number): boolean => {
    const stack = [start];
    let matched = false;
    while (stack.length > 0) {
      const pc = stack.pop() ?? 0;
      const inst = prog[pc];
      if (inst === undefined || seen[pc] === generation) continue;
      seen[pc] = generation;
      switch (inst.op) {
        case 'match':
          matched = true;
          break;
        case 'char':
          list.push(pc);
          break;
        case 'jmp':
          stack.push(inst.x);
          break;
        case 'split':
          stack.push(inst.y, inst.x);
          break;
        case 'assert':
          if (holds(inst.kind, i)) stack.push(pc + 1);
          break;
      }
    }
    return matched;
  };

  for (let i = 0; ; i++) {
    // Search semantics: a new attempt starts at every position.
    if (add(current, 0, i)) return true;
    if (i === n) return false;
    generation++;
    next.length = 0;
    const cp = cps[i] ?? -1;
    for (const pc of current) {
      const inst = prog[pc] as Inst & { op: 'char' };
      if (inst.test(cp) && add(next, pc + 1, i + 1)) return true;
    }
    // `next` was built under the new generation, so the next start's closure skips its states.
    [current, next] = [next, current];
  }
}
