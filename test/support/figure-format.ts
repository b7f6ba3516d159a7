/** How measured figures are printed: plain-text tables for the terminal, Markdown ones for a README. */
import type { Summary } from './stats.ts';

export type Row = string[];

/** A plain-text table, columns padded to their widest cell; numbers right-aligned. */
export function table(header: Row, rows: Row[]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const numeric = (text: string) => /^[\d.,x×%±()\s-]+$/.test(text) && /\d/.test(text);
  const line = (row: Row) =>
    row
      .map((cell, i) =>
        numeric(cell) && i > 0 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Markdown version of the same table. */
export function markdownTable(header: Row, rows: Row[]): string {
  const line = (row: Row) => `| ${row.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** `median (min-max)` of a summary. */
export function spreadText(summary: Summary, digits = 2, scale = 1): string {
  return `${fmt(summary.median * scale, digits)} (${fmt(summary.min * scale, digits)}-${fmt(summary.max * scale, digits)})`;
}

export function ratioText(summary: Summary): string {
  return `${fmt(summary.median, 2)}x (${fmt(summary.min, 2)}-${fmt(summary.max, 2)})`;
}

export const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MiB`;
