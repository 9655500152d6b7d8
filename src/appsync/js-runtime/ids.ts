import { randomBytes, randomUUID } from 'node:crypto';

const CROCKFORD_BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** KSUID epoch: 2014-05-13T16:53:20Z, per the KSUID spec. */
const KSUID_EPOCH_SECONDS = 1_400_000_000;

/** `util.autoId()`: a random (v4) UUID. */
export function autoId(): string {
  return randomUUID();
}

/**
 * `util.autoUlid()`: 26 Crockford base32 characters, 48 bits of millisecond time then 80 random bits, so IDs
 * sort by creation time.
 */
export function autoUlid(now: number = Date.now()): string {
  let time = now;
  const timeChars: string[] = [];
  for (let i = 0; i < 10; i++) {
    timeChars.unshift(CROCKFORD_BASE32.charAt(time % 32));
    time = Math.floor(time / 32);
  }
  // 256 is a multiple of 32, so the low 5 bits of a random byte are uniform.
  const random = Array.from(randomBytes(16), (byte) => CROCKFORD_BASE32.charAt(byte & 31));
  return timeChars.join('') + random.join('');
}

/** `util.autoKsuid()`: 27 base62 characters encoding a 32-bit timestamp and 128 random bits. */
export function autoKsuid(now: number = Date.now()): string {
  const bytes = Buffer.alloc(20);
  bytes.writeUInt32BE(Math.floor(now / 1000) - KSUID_EPOCH_SECONDS, 0);
  randomBytes(16).copy(bytes, 4);
  let n = BigInt('0x' + bytes.toString('hex'));
  let out = '';
  while (n > 0n) {
    out = BASE62.charAt(Number(n % 62n)) + out;
    n /= 62n;
  }
  return out.padStart(27, '0');
}
