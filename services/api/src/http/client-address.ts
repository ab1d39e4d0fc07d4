import type { Request } from 'express';
import ipaddr from 'ipaddr.js';

/**
 * The caller's address for rate limiting: the socket's peer (`trust proxy` is off, so a client
 * cannot choose it with X-Forwarded-For). IPv4-mapped IPv6 counts as IPv4; other IPv6
 * addresses count per /64, since one host commonly holds a whole /64.
 */
export function clientAddress(req: Request): string {
  const raw = req.socket.remoteAddress ?? '';
  if (!ipaddr.isValid(raw)) return raw || 'unknown';
  let address = ipaddr.parse(raw);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toNormalizedString()}/64`;
}
