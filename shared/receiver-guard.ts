/**
 * The SSRF guard as every request to a receiver applies it (verification and delivery): the
 * policy from the configuration, and the two connect-time checks a transport takes.
 *
 * Failure policy: fail closed, as `url-guard` does. Callers also run `checkUrl` on the URL
 * before every request: it is the only check an IP-literal host gets before `checkAddress`.
 */
import type { Config } from './config.ts';
import { classifyAddress, createGuardedLookup, isAllowed, type GuardPolicy } from './url-guard.ts';

/** The guard policy of this deployment: the allow-list, and https only in `production`. */
export function receiverPolicy(config: Pick<Config, 'allowPrivateReceivers' | 'env'>): GuardPolicy {
  return { allow: config.allowPrivateReceivers, httpsOnly: config.env === 'production' };
}

/** A transport's `checkAddress`: the reason an address is forbidden, or null when it is public or allow-listed. */
export function receiverAddressCheck(policy: GuardPolicy): (ip: string) => string | null {
  return (ip) => {
    const reason = classifyAddress(ip);
    return reason !== null && !isAllowed(ip, policy) ? reason : null;
  };
}

/**
 * The guard half of a transport's options: a lookup that refuses names resolving to forbidden
 * addresses, and the address check for IP literals and every connected socket.
 * Note: a host NAME on the allow-list admits what it resolves to in the lookup, but the socket
 * check sees only the address, so that address must be allow-listed too (as in the defaults).
 */
export function receiverGuardOptions(policy: GuardPolicy) {
  return { lookup: createGuardedLookup(policy), checkAddress: receiverAddressCheck(policy) };
}
