/**
 * The Redis Cluster hash slot of a key, computed as Redis does (CRC16/XMODEM of the key, or of
 * its first non-empty `{...}`, modulo 16384). hubhook uses it to choose shard hash tags whose
 * slots are spread over the slot space (`shards.ts`); Redis itself remains the judge.
 */

/** Hash slots of a Redis Cluster. */
export const SLOTS = 16_384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16/XMODEM of the UTF-8 bytes of `text`. */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8')) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/** The part of a key Redis hashes: its first non-empty `{tag}`, else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** The cluster hash slot of `key` (as CLUSTER KEYSLOT answers). */
export function keySlot(key: string): number {
  return crc16(hashTagOf(key)) % SLOTS;
}
