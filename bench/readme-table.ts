/**
 * The README's benchmark summary, taken from bench/RESULTS.md (the tables of
 * one full `bench/run.sh`), so the numbers in the manual are the measured
 * ones: `scripts/node.sh dist/bench/readme-table.js` prints the table, which
 * replaces the one under "## Benchmarks" in README.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** The sections whose first table is summarised, and their row label in the README. */
const SECTIONS: ReadonlyArray<[heading: RegExp, workload: string, unit: string]> = [
  [/^## Connect storm/, 'connect storm', 'connects/s'],
  [/^## Exec storm \(/, 'exec storm (10,000 × /bin/true)', 'execs/s'],
  [/^## Exec storm with [\d,]+ bytes of argv \(/, 'exec storm, 4 KiB argv', 'execs/s'],
  [/^## Exec storm with [\d,]+ bytes of argv, different/, 'exec storm, 4 KiB argv, each different', 'execs/s'],
];

function cells(line: string): string[] {
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

export function readmeTable(results: string): string {
  const lines = results.split('\n');
  const out = ['| workload | watcher | rate | slowdown | watcher CPU per 1,000 | peak RSS, MB | lost in kernel |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const [heading, workload, unit] of SECTIONS) {
    const start = lines.findIndex((l) => heading.test(l));
    if (start < 0) continue;
    const header = lines.findIndex((l, i) => i > start && l.startsWith('| Watcher'));
    let first = true;
    for (let i = header + 2; i < lines.length && lines[i]?.startsWith('|'); i++) {
      // Watcher, rate, slowdown, CPU, busy after, peak RSS, events per unit, lost in kernel.
      const [watcher, rate, slowdown, cpu, , rss, , lost] = cells(lines[i] as string);
      const ms = cpu === '–' ? '–' : `${cpu} ms`;
      out.push(`| ${first ? workload : ''} | ${watcher} | ${rate} ${unit} | ${slowdown} | ${ms} | ${rss} | ${lost} |`);
      first = false;
    }
  }
  return out.join('\n');
}

if (require.main === module) {
  process.stdout.write(`${readmeTable(readFileSync(path.join(ROOT, 'bench/RESULTS.md'), 'utf8'))}\n`);
}
