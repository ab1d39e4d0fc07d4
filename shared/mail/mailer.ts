import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

/**
 * Sending e-mail. With `SMTP_URL` set, mail goes to that server through nodemailer; without it,
 * the outbox table is the delivery (a developer reads it at `GET /v1/ops/outbox`) and nothing is
 * sent. Either way the mail row is written first, by the request, and handed over by a job.
 */

/** One message to send. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Where mail goes. `send` throws on any failure; the caller (a queue job) retries. */
export interface Mailer {
  readonly transport: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<{ messageId: string | null }>;
}

// A mail server that stalls must fail the job (to be retried), not hold it for an hour.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000 };

/** Sends through an SMTP server. */
export class SmtpMailer implements Mailer {
  readonly transport = 'smtp' as const;
  private readonly transporter: nodemailer.Transporter;

  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.transporter = nodemailer.createTransport({ url, ...SMTP_TIMEOUTS });
  }

  async send(message: MailMessage): Promise<{ messageId: string | null }> {
    const info = await this.transporter.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text });
    return { messageId: typeof info.messageId === 'string' ? info.messageId : null };
  }
}

/** No mail server: the outbox row is the delivery, so there is nothing to do. */
export class OutboxMailer implements Mailer {
  readonly transport = 'outbox' as const;
  async send(): Promise<{ messageId: string | null }> {
    return { messageId: null };
  }
}

/** The mailer the configuration asks for: SMTP when `SMTP_URL` is set, else the outbox. */
export function createMailer(config: Pick<Config, 'smtpUrl' | 'mailFrom'>): Mailer {
  return config.smtpUrl ? new SmtpMailer(config.smtpUrl, config.mailFrom) : new OutboxMailer();
}
