import type { Config } from '#shared/config';
import { createMailer, type Mailer } from '#shared/mail/mailer';
import { deliverMail } from '#shared/mail/outbox';
import type { JobHandler } from '../job.ts';

// One mailer per configuration: a worker process has one, tests may run several side by side.
const mailers = new WeakMap<Config, Mailer>();

function mailerFor(config: Config): Mailer {
  let mailer = mailers.get(config);
  if (!mailer) {
    mailer = createMailer(config);
    mailers.set(config, mailer);
  }
  return mailer;
}

/**
 * `mail/send-mail`: sends one outbox row (SMTP) or marks it delivered to the outbox.
 * Failure policy: an SMTP failure is recorded on the row and rethrown, so BullMQ retries it on
 * the catalog's schedule; after the last try the row is `failed`. Never blocks a request.
 */
export const sendMail: JobHandler<'mail', 'send-mail'> = async (data, { job, log, deps }) => {
  const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  await deliverMail(deps.db, mailerFor(deps.config), data.mailId, log, finalAttempt);
};
