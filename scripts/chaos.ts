// The crash-safety harness, full size: thousands of mixed tasks, the runtime SIGKILLed at seeded
// random moments and restarted each time, then every acknowledged task checked (final and correct,
// none lost or duplicated, no status backwards on the subscription, each email sent once).
// Exits 1 on any violation and keeps the data folder for a look; prints the seed to rerun with.
//
//   npm run chaos -- [--seed N] [--kills 12] [--tasks 3000] [--big-text-mb 3] [--keep] [--allow-email-window]
//
// --allow-email-window: an email sent twice because a kill landed between its outbox file and its
// sent record (the window send-email.ts documents) is listed, not counted as a violation.
import { parseArgs } from 'node:util';
import { formatChaosReport, runChaos } from '../test/helpers/chaos.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    kills: { type: 'string', default: '12' },
    tasks: { type: 'string', default: '3000' },
    'big-text-mb': { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    'allow-email-window': { type: 'boolean', default: false },
  },
});

const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const kills = Number(values.kills);
const tasks = Number(values.tasks);
const bigTextBytes = Math.round(Number(values['big-text-mb']) * 1_000_000);
for (const [name, value] of Object.entries({ seed, kills, tasks, bigTextBytes })) {
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${name} must be a whole number, got ${String(value)}\n`);
    process.exit(2);
  }
}

process.stdout.write(
  `chaos: seed ${seed}, ${kills} kills, ${tasks} tasks (rerun: npm run chaos -- --seed ${seed})\n`,
);
const report = await runChaos({
  seed,
  kills,
  tasks,
  bigTextBytes,
  cleanup: !values.keep,
  allowEmailCrashWindow: values['allow-email-window'],
  log: (line) => process.stdout.write(`  ${line}\n`),
});
process.stdout.write(`${formatChaosReport(report)}\n`);
if (report.violations.length > 0) {
  process.stdout.write(`Data folder kept: ${report.dataDir}\nRerun: npm run chaos -- --seed ${seed}\n`);
  process.exit(1);
}
