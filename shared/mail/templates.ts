import type { NewMail } from './outbox.ts';

/**
 * The texts of hubhook's e-mails. Subjects never carry a secret: they are logged. Plain text
 * only; `publicUrl` (PUBLIC_URL) makes the routes links when it is set.
 */

const route = (publicUrl: string | undefined, path: string) => (publicUrl ? `${publicUrl}${path}` : path);

const signInSteps = (email: string, publicUrl: string | undefined) =>
  [
    `To sign in, ask for a one-time code for ${email}:`,
    `  POST ${route(publicUrl, '/v1/auth/sign-in')}  {"email": "${email}"}`,
    'A code arrives by e-mail; exchange it for a session token:',
    `  POST ${route(publicUrl, '/v1/auth/verify')}  {"email": "${email}", "code": "<the code>"}`,
    'If no e-mail arrives, contact support.',
  ].join('\n');

/** The one-time sign-in code. Sensitive: its body is never logged and is dropped once sent. */
export function signInCodeMail(input: { to: string; code: string; ttlMinutes: number }): NewMail {
  return {
    kind: 'sign-in-code',
    to: input.to,
    subject: 'Your hubhook sign-in code',
    text: [
      `Your sign-in code is: ${input.code}`,
      '',
      `It works once, for ${input.ttlMinutes} minutes, and allows 5 tries.`,
      'If you did not ask to sign in, ignore this e-mail: nobody can sign in without the code.',
    ].join('\n'),
    sensitive: true,
  };
}

/** A new user of a partner: how to sign in. */
export function invitationMail(input: { to: string; partnerName: string; invitedBy: string | null; publicUrl?: string }): NewMail {
  const by = input.invitedBy ? ` by ${input.invitedBy}` : '';
  return {
    kind: 'invitation',
    to: input.to,
    subject: `You have been given access to ${input.partnerName} on hubhook`,
    text: [`You were added as a user of ${input.partnerName}${by}.`, '', signInSteps(input.to, input.publicUrl)].join('\n'),
  };
}

/** An access application was approved: the applicant is now the partner's contact person. */
export function applicationApprovedMail(input: { to: string; companyName: string; publicUrl?: string }): NewMail {
  return {
    kind: 'application-approved',
    to: input.to,
    subject: `Your hubhook access application for ${input.companyName} is approved`,
    text: [
      `Your application for ${input.companyName} is approved, and you are its registered contact person.`,
      '',
      signInSteps(input.to, input.publicUrl),
    ].join('\n'),
  };
}

/** An access application was rejected, with the operator's reason. */
export function applicationRejectedMail(input: { to: string; companyName: string; reason: string }): NewMail {
  return {
    kind: 'application-rejected',
    to: input.to,
    subject: `Your hubhook access application for ${input.companyName}`,
    text: [`Your application for ${input.companyName} was not approved.`, '', `Reason: ${input.reason}`, '', 'Reply to support if you have questions.'].join(
      '\n',
    ),
  };
}

/** A subscription was disabled (its receiver answered 410 Gone, it kept failing, or an operator did it): why, and what to do. */
export function subscriptionDisabledMail(input: {
  to: string;
  partnerName: string;
  subscriptionId: string;
  url: string;
  reason: string;
  publicUrl?: string;
}): NewMail {
  return {
    kind: 'subscription-disabled',
    to: input.to,
    subject: `hubhook: a push subscription of ${input.partnerName} was disabled`,
    text: [
      `Subscription ${input.subscriptionId} (receiver ${input.url}) of ${input.partnerName} was disabled:`,
      `  ${input.reason}`,
      '',
      'Nothing is sent to it until it is enabled again.',
      `Read the notice and the delivery log: GET ${route(input.publicUrl, '/v1/notifications')} and GET ${route(input.publicUrl, `/v1/subscriptions/${input.subscriptionId}/messages`)}.`,
      'Once the receiver works again, ask support to enable the subscription.',
    ].join('\n'),
  };
}
