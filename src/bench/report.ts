/** The shape every benchmark part reports, and its text and Markdown forms. */

export interface Target {
  readonly name: string;
  /** Human form of the target, e.g. ">= 25x Nova". */
  readonly goal: string;
  readonly value: number | undefined;
  readonly unit: string;
  readonly met: boolean | undefined;
}

export interface PartReport {
  readonly part: string;
  readonly figures: Readonly<Record<string, number | string>>;
  readonly targets: readonly Target[];
  readonly notes: readonly string[];
}

/** A fixed-width text table of one part. */
export function formatPart(report: PartReport): string {
  const lines = [`== ${report.part}`];
  for (const [key, value] of Object.entries(report.figures))
    lines.push(`  ${key.padEnd(34)} ${fmt(value)}`);
  for (const t of report.targets) {
    const verdict = t.met === undefined ? 'n/a' : t.met ? 'MET' : 'MISSED';
    lines.push(
      `  target ${t.name.padEnd(27)} ${t.goal.padEnd(18)} ${fmt(t.value)} ${t.unit}  ${verdict}`,
    );
  }
  for (const note of report.notes) lines.push(`  note: ${note}`);
  return lines.join('\n');
}

/** The Markdown section of one part. */
export function markdownPart(report: PartReport): string {
  const figures = Object.entries(report.figures).map(
    ([key, value]) => `| ${key} | ${fmt(value)} |`,
  );
  const targets = report.targets.map(
    (t) =>
      `| ${t.name} | ${t.goal} | ${fmt(t.value)} ${t.unit} | ${t.met === undefined ? 'n/a' : t.met ? 'met' : '**missed**'} |`,
  );
  return [
    `## ${report.part}`,
    '',
    '| Figure | Value |',
    '|---|---|',
    ...figures,
    '',
    ...(targets.length > 0
      ? ['| Target | Goal | Measured | Verdict |', '|---|---|---|---|', ...targets, '']
      : []),
    ...report.notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
}

function fmt(value: number | string | undefined): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100
    ? value.toFixed(0)
    : Math.abs(value) >= 1
      ? value.toFixed(2)
      : value.toPrecision(3);
}
