import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Field paths whose values are never written: tokens, keys and secrets, wherever they appear in
 * a logged object. Code must still not put secrets in messages; this is the safety net.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.apiKey',
  '*.accessKey',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.password',
  '*.code',
  'secret',
  'apiKey',
  'accessKey',
  'token',
];

/** Options for the root logger. */
export interface LoggerSettings {
  level: string;
  /** Pretty lines for a person at a terminal; JSON otherwise. Default: stdout is a TTY. */
  pretty?: boolean;
  /** Where to write (tests capture lines here); default stdout. */
  destination?: NodeJS.WritableStream;
}

/** The root pino logger; modules take child loggers from it (`requestId`, `jobId`, ...). */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: 'hubhook' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = settings.pretty ?? (process.stdout.isTTY === true && settings.destination === undefined);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
