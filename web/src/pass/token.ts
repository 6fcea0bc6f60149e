// The GH1 pass token (../shared/contracts/PASS_TOKEN.md), byte for byte:
//   "GH1:" cid ":" step ":" base32(Ed25519 signature over "GH1:" cid ":" step)
// No imports on purpose: web/test/pass_token_vectors.mjs runs this file under Node against the
// contract's test vectors.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
export const DEFAULT_PERIOD = 15;

/** RFC 4648 base32, upper case, no padding (the spare low bits of the last character are zero). */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The step a token names at `unixSeconds`: floor(unix_seconds / period). */
export function stepAt(unixSeconds: number, period: number = DEFAULT_PERIOD): number {
  return Math.floor(unixSeconds / period);
}

/** Seconds until the next step begins (for the countdown). */
export function secondsLeft(unixSeconds: number, period: number = DEFAULT_PERIOD): number {
  return Math.max(1, Math.ceil((stepAt(unixSeconds, period) + 1) * period - unixSeconds));
}

/** The signed part of a token: "GH1:" cid ":" step (step in decimal, no leading zeros). */
export function message(cid: string, step: number): string {
  if (!/^[A-Z2-7]{16}$/.test(cid)) throw new Error(`not a credential id: ${cid}`);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`not a step: ${step}`);
  return `GH1:${cid}:${step}`;
}

/** The token for `step`, signed with the phone's key (a non-extractable CryptoKey works). */
export async function signToken(subtle: SubtleCrypto, key: CryptoKey, cid: string, step: number): Promise<string> {
  const text = message(cid, step);
  const signature = new Uint8Array(await subtle.sign({ name: "Ed25519" }, key, new TextEncoder().encode(text)));
  return `${text}:${base32(signature)}`;
}

/** Raw public key bytes → standard base64, padded (what bindPhone takes: 44 characters). */
export function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
