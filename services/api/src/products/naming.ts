import type { WarningView } from './schema.ts';

/**
 * A generic name should carry the company name. Installations see
 * products from many partners side by side; "CRM sync" says nothing about whose it is. The
 * rule is advice, not a refusal: the product is saved and the answer carries a warning.
 *
 * A name carries the company name when it contains the partner's name (ignoring case, accents,
 * spacing and punctuation), or one of the distinctive words of it: legal forms ("AB", "GmbH")
 * and words every software company uses ("Software", "Solutions") do not count on their own.
 */

const LEGAL_FORMS = new Set([
  'ab', 'as', 'asa', 'aps', 'oy', 'oyj', 'hf', 'ehf', 'gmbh', 'ag', 'kg', 'ug', 'bv', 'nv', 'sa', 'sas', 'sarl', 'srl', 'spa',
  'ltd', 'limited', 'llc', 'llp', 'inc', 'incorporated', 'corp', 'corporation', 'co', 'company', 'plc', 'pty', 'holding', 'holdings', 'group',
]);

const COMMON_WORDS = new Set([
  'the', 'and', 'of', 'software', 'solutions', 'solution', 'systems', 'system', 'technology', 'technologies', 'tech', 'digital', 'data',
  'it', 'consulting', 'services', 'service', 'labs', 'lab', 'studio', 'media', 'partner', 'partners', 'integration', 'integrations',
]);

/** Lower-cased words, accents removed; letters and digits of any script count. */
function words(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** True when `productName` carries `partnerName` (see the module comment). */
export function carriesPartnerName(productName: string, partnerName: string): boolean {
  const productWords = words(productName);
  const partnerWords = words(partnerName).filter((w) => !LEGAL_FORMS.has(w));
  const core = partnerWords.length > 0 ? partnerWords : words(partnerName);
  if (core.length === 0) return true;
  // "Web Megler" is carried by "WebMegler Sync": compare with the spaces gone too.
  if (productWords.join('').includes(core.join(''))) return true;
  const distinctive = core.filter((w) => !COMMON_WORDS.has(w) && w.length >= 2);
  const product = new Set(productWords);
  return distinctive.some((w) => product.has(w));
}

/** The warnings a product name earns (none when it carries the partner's name). */
export function nameWarnings(productName: string, partnerName: string, path = 'body.name'): WarningView[] {
  if (carriesPartnerName(productName, partnerName)) return [];
  return [
    {
      code: 'name_without_partner_name',
      path,
      message: `the name "${productName}" does not contain your company name "${partnerName}"; installations see products of many partners side by side, so a generic name should carry it`,
    },
  ];
}
