import { useState } from 'preact/hooks';
import { ok, publicApi } from '../api';
import { ErrorMessage, Field, Notice, Page, useAction } from '../ui';

/** "Ny tilgang": the public application form for a company that wants to become a partner. */
export function Apply() {
  const [form, setForm] = useState({ companyName: '', organisationNumber: '', contactName: '', contactEmail: '', purpose: '' });
  const [done, setDone] = useState(false);
  const action = useAction();
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  if (done) {
    return (
      <Page title="Ny tilgang">
        <Notice>Thank you. Your application is received; we e-mail {form.contactEmail} when it has been reviewed.</Notice>
      </Page>
    );
  }
  return (
    <Page title="Ny tilgang">
      <p>Apply for access to the HUB API as a partner. An operator reviews the application; once approved, the contact person signs in with their e-mail address.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            await ok(publicApi.POST('/v1/applications', { body: form }));
            setDone(true);
          });
        }}
      >
        <Field label="Company name" name="companyName" required value={form.companyName} onInput={set('companyName')} error={action.error} autoComplete="organization" />
        <Field label="Organisation number" name="organisationNumber" required value={form.organisationNumber} onInput={set('organisationNumber')} error={action.error} hint="As registered, e.g. 912345678." />
        <Field label="Contact person" name="contactName" required value={form.contactName} onInput={set('contactName')} error={action.error} autoComplete="name" />
        <Field label="Contact e-mail" name="contactEmail" type="email" required value={form.contactEmail} onInput={set('contactEmail')} error={action.error} autoComplete="email" />
        <Field label="What will you build?" name="purpose" multiline required value={form.purpose} onInput={set('purpose')} error={action.error} />
        <ErrorMessage error={action.error} what="The application was not sent" />
        <button type="submit" disabled={action.busy}>
          Send application
        </button>
      </form>
    </Page>
  );
}
