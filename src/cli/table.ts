// Plain aligned columns for list commands: readable, and `awk`-able (no value has spaces
// in the columns that can be split on; the last column may).

export function printTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  if (rows.length === 0) return;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
}
