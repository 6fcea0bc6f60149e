// This phone's pass key: an Ed25519 key pair made by WebCrypto as non-extractable (the private
// key can sign but never be read, not even by this app), kept as a CryptoKey object in this
// origin's IndexedDB with the credential id bindPhone gave it. The pass screen needs nothing
// else, so it works with the network off.
import { del, get, set } from "idb-keyval";
import { base64, DEFAULT_PERIOD, signToken, stepAt } from "./token";

const STORED = "gatehouse.passKey";

export interface StoredPass {
  cid: string;
  period: number;
  personId: string;
  privateKey: CryptoKey;
  publicKey: string; // base64 of the raw public key, as bound
}

/** Whether this browser can make and use a non-extractable Ed25519 key (secure context, recent WebCrypto). */
export async function ed25519Supported(): Promise<boolean> {
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) return false;
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

/** A new key pair: the private key stays non-extractable; the public key is exported raw. */
export async function newKeyPair(): Promise<{ privateKey: CryptoKey; publicKey: string }> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: base64(raw) };
}

export async function savePass(pass: StoredPass): Promise<void> {
  await set(STORED, pass);
}

export async function loadPass(): Promise<StoredPass | undefined> {
  return get<StoredPass>(STORED);
}

export async function forgetPass(): Promise<void> {
  await del(STORED);
}

/** The token for the current step of this device's clock. */
export async function currentToken(pass: StoredPass, nowMs: number = Date.now()): Promise<{ token: string; step: number }> {
  const step = stepAt(nowMs / 1000, pass.period || DEFAULT_PERIOD);
  return { token: await signToken(crypto.subtle, pass.privateKey, pass.cid, step), step };
}
