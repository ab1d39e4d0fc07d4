import { useState } from 'preact/hooks';
import { credentials, ok, publicApi } from '../api';
import { ErrorMessage, Field, Notice, Page, navigate, useAction } from '../ui';

/** Partner sign-in: ask for a code by e-mail, then enter it. */
export function SignIn() {
  const [email, setEmail] = useState('');
  const [code, setCode] = useState('');
  const [sent, setSent] = useState(false);
  // An address registered with several partners: the API asks which one to sign in to.
  const [partners, setPartners] = useState<{ id: string; name: string }[] | null>(null);
  const [partnerId, setPartnerId] = useState('');
  const ask = useAction();
  const verify = useAction();
  return (
    <Page title="Sign in">
      <p>Sign in with the e-mail address registered for your company. We e-mail you a one-time code.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void ask.run(async () => {
            await ok(publicApi.POST('/v1/auth/sign-in', { body: { email } }));
            setSent(true);
          });
        }}
      >
        <Field label="E-mail" name="email" type="email" autoComplete="email" required value={email} onInput={setEmail} error={ask.error} />
        <ErrorMessage error={ask.error} />
        <button type="submit" disabled={ask.busy}>
          Send code
        </button>
      </form>
      {sent ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void verify.run(async () => {
              const body = partners && partnerId ? { email, code: code.trim(), partnerId } : { email, code: code.trim() };
              const answer = await ok(publicApi.POST('/v1/auth/verify', { body }));
              if (answer.status === 'choose_partner') {
                setPartners(answer.partners);
                setPartnerId(answer.partners[0]?.id ?? '');
                return;
              }
              credentials.set('partner', answer.token);
              navigate('/products');
            });
          }}
        >
          <Notice>If {email} is registered, a code is on its way. It is valid for 10 minutes.</Notice>
          <Field label="Code from the e-mail" name="code" autoComplete="one-time-code" required value={code} onInput={setCode} error={verify.error} />
          {partners ? (
            <fieldset>
              <legend>Your address belongs to several companies. Which one do you sign in to?</legend>
              {partners.map((p) => (
                <label key={p.id}>
                  <input type="radio" name="partner" value={p.id} checked={partnerId === p.id} onChange={() => setPartnerId(p.id)} /> {p.name}
                </label>
              ))}
            </fieldset>
          ) : null}
          <ErrorMessage error={verify.error} />
          <button type="submit" disabled={verify.busy}>
            Sign in
          </button>
        </form>
      ) : null}
      <p>
        No access yet? <a href="#/apply">Ny tilgang – apply for partner access</a>.
      </p>
    </Page>
  );
}
