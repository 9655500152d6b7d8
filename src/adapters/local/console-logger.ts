import type { Logger } from '../../domain/task-type.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * The local runtime's logger: one JSON object per line when stderr is not a terminal (for log
 * tools), a short readable line when it is. Same fields either way.
 */
export function makeConsoleLogger(
  level: LogLevel,
  options: { json?: boolean; fields?: Record<string, unknown>; write?: (line: string) => void } = {},
): Logger {
  const json = options.json ?? !process.stderr.isTTY;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.fields ?? {};
  const log =
    (name: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (ORDER[name] < ORDER[level]) return;
      const all = { ...base, ...fields };
      if (json) {
        write(JSON.stringify({ time: new Date().toISOString(), level: name, message, ...all }));
      } else {
        const extra = Object.entries(all)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        write(
          `${new Date().toISOString().slice(11, 23)} ${name.toUpperCase().padEnd(5)} ${message}${extra ? ` ${extra}` : ''}`,
        );
      }
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => makeConsoleLogger(level, { ...options, json, fields: { ...base, ...fields } }),
  };
}
