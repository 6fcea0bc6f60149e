// Runs src/pass/token.ts under Node against PASS_TOKEN.md's test vectors (tests/test_web_pass_token.py
// runs this script): the seed's public key, the cid, the step and the token text, byte for byte.
// Usage: node test/pass_token_vectors.mjs  (prints "ok" and exits 0, or throws)
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { webcrypto } from "node:crypto";
import { transformWithOxc } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "../src/pass/token.ts"), "utf8");
const { code } = await transformWithOxc(source, "token.ts", { lang: "ts" });
const out = join(mkdtempSync(join(tmpdir(), "gh1-")), "token.mjs");
writeFileSync(out, code);
const token = await import(pathToFileURL(out).href);

const subtle = webcrypto.subtle;
const hex = (text) => Uint8Array.from(text.match(/../g).map((b) => parseInt(b, 16)));
// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the 32 bytes.
const pkcs8 = (seed) => new Uint8Array([...hex("302e020100300506032b657004220420"), ...seed]);
const importSeed = (seed) => subtle.importKey("pkcs8", pkcs8(seed), { name: "Ed25519" }, false, ["sign"]);

const seed = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const key = await importSeed(seed);
// The public key, as bindPhone takes it.
const jwk = await subtle.exportKey("jwk", await subtle.importKey("pkcs8", pkcs8(seed), { name: "Ed25519" }, true, ["sign"]));
const raw = Buffer.from(jwk.x, "base64url");
assert.equal(token.base64(new Uint8Array(raw)), "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=");

const cid = token.base32(hex("0123456789abcdef0123"));
assert.equal(cid, "AERUKZ4JVPG66AJD");
assert.equal(token.stepAt(1795000000, 15), 119666666);
assert.equal(token.stepAt(1795000015, 15), 119666667);
assert.equal(token.secondsLeft(1795000000, 15), 5); // 119666667 * 15 = 1795000005

assert.equal(
  await token.signToken(subtle, key, cid, 119666666),
  "GH1:AERUKZ4JVPG66AJD:119666666:JE672J5FMMSTMWYPLQKMTL52EK2DTAJE2PDFFPNAIEXPS4RJ66ZQCOZJWHFXSVZBNIXEEJEHREM642BUOI5CBSU62HJRBPUV23RZ4CA",
);
assert.equal(
  await token.signToken(subtle, key, cid, 119666667),
  "GH1:AERUKZ4JVPG66AJD:119666667:2VFDSYFS2H7LSO7R5CP23IBQJ7SKT3S5GE3CQMQHZVEDTVUWFIHGA7RZSQZVWQYV34WQH4MKUI4UU32HGMOISK3VLCY3XC4EA6MA6BA",
);
const other = await importSeed(new Uint8Array(32).fill(7));
assert.equal(
  await token.signToken(subtle, other, cid, 119666666),
  "GH1:AERUKZ4JVPG66AJD:119666666:2V7VA76X5PNO4CL6S2PZPXVCWMIWG2GKDFIZRUVWX3ADH7T5AHVEUU575T2AM3PDPBYQ5DOWGBVNAECXKXU4OAR7NRVFGK2LW3HR6AI",
);
assert.equal((await token.signToken(subtle, key, cid, 119666666)).length, 134);
assert.throws(() => token.message("aeruKZ4JVPG66AJD", 1));
assert.throws(() => token.message(cid, -1));
console.log("ok");
