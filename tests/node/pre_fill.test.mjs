// Pre-Fill through the official SDK. Unlike verify, these replies use booleans and maps, which SDK
// 0.9.6 types correctly: every step must parse without error.
//
// Only /v3/start for now. To add validate, challenge and complete, chain them on the previous
// step's `next`, e.g.
//   const validated = await step(sdk.v3.v3ValidateRequest({ correlationId }), "v3ValidateResponse");
//   assert.deepEqual(validated.next, { "v3-challenge": "/v3/challenge" });

import { beforeEach, test } from "node:test";
import { assert, emulator, newSdk } from "./support.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Milo Pinson, the Pre-Fill short-term user (platform-api §7.1): possession settles by itself.
const MILO = { phoneNumber: "2001001695" };

/** Run one SDK call that must succeed and parse; returns its parsed reply (`key` of the result). */
async function step(call, key) {
  const result = await call; // any SDK error (SDKValidationError included) fails the test
  assert.equal(result.httpMeta.response.status, 200);
  assert.ok(result[key], `the SDK result has no ${key}: ${Object.keys(result)}`);
  return result[key];
}

beforeEach(() => emulator.reset());

test("start (mobile) for Milo Pinson parses: authToken, correlationId, next v3-validate", async () => {
  const { sdk } = newSdk();
  const started = await step(sdk.v3.v3StartRequest({ ...MILO, flowType: "mobile" }), "v3StartResponse");
  assert.match(started.correlationId, UUID);
  assert.equal(started.authToken.split(".").length, 3); // a JWT for the client SDK
  assert.deepEqual(started.next, { "v3-validate": "/v3/validate" });
});
