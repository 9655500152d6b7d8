// Writes .env.example from the settings table in src/config/local-config.ts, so the two never drift.
import { writeFileSync } from 'node:fs';
import { LOCAL_SETTINGS } from '../src/config/local-config.ts';

const lines = [
  '# Settings of the local runtime (npm start). Copy to .env and change what you need;',
  '# environment variables override .env. Empty means the default shown in the comment.',
  '',
];
for (const [name, setting] of Object.entries(LOCAL_SETTINGS)) {
  lines.push(`# ${setting.doc}${setting.default ? ` Default: ${setting.default}` : ''}`);
  lines.push(`${name}=${name === 'API_KEY' || name === 'SMTP_URL' ? '' : setting.default}`);
  lines.push('');
}
writeFileSync(new URL('../.env.example', import.meta.url), lines.join('\n'));
