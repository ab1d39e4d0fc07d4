import { describe, expect, it } from 'vitest';
import { carriesPartnerName, nameWarnings } from './naming.ts';

describe('carriesPartnerName', () => {
  it.each([
    ['Acme CRM', 'Acme'],
    ['ACME crm', 'Acme Software AB'],
    ['WebMegler Sync', 'Web Megler AS'],
    ['Eiendomsdata – Økonomi', 'Økonomi GmbH'],
    ['Ökonomi sync', 'Økonomi GmbH'.replace('Ø', 'Ö')],
    ['Sync by Näring', 'Naring'],
  ])('finds the company in %s (partner %s)', (product, partner) => {
    expect(carriesPartnerName(product, partner)).toBe(true);
  });

  it.each([
    ['CRM Integration', 'Acme Software AB'],
    ['Software Sync', 'Acme Software AB'],
    ['Estate export', 'Broker Data Solutions'],
  ])('misses the company in %s (partner %s)', (product, partner) => {
    expect(carriesPartnerName(product, partner)).toBe(false);
  });

  it('matches on the whole name when the partner name is only common words', () => {
    expect(carriesPartnerName('Data Solutions export', 'Data Solutions AS')).toBe(true);
    expect(carriesPartnerName('Data export', 'Data Solutions AS')).toBe(false);
  });
});

describe('nameWarnings', () => {
  it('warns on the name field, or not at all', () => {
    expect(nameWarnings('CRM Integration', 'Acme')).toEqual([{ code: 'name_without_partner_name', path: 'body.name', message: expect.stringContaining('Acme') }]);
    expect(nameWarnings('Acme CRM', 'Acme')).toEqual([]);
  });
});
