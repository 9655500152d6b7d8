// Every benchmark adds its run to its section of bench/results/<date>.json (one file per day, UTC),
// beside the machine it ran on, so one file holds a day's figures, every run of them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export function machine(): Record<string, string | number> {
  const db = new DatabaseSync(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    sqlite,
  };
}

/** Adds `data` as a run of section `name` to today's results file; returns the file's path. */
export function recordResults(name: string, data: unknown): string {
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
  const results = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  results['machine'] = machine();
  const runs = Array.isArray(results[name]) ? (results[name] as unknown[]) : [];
  runs.push({
    measuredAt: new Date().toISOString(),
    command: `node ${process.argv
      .slice(1)
      .map((a) => a.replace(/^.*\/bench\//, 'bench/'))
      .join(' ')}`,
    ...(data as object),
  });
  results[name] = runs;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
