// Pre-Fill and Prove Identity through the official SDK. Unlike verify, these replies use booleans
// and maps, which SDK 0.9.6 types correctly: every step must parse without error.

import { beforeEach, test } from "node:test";
import { Error403 } from "@prove-identity/prove-api/models/errors/index.js";
import { assert, emulator, newSdk, rejection } from "./support.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Milo Pinson, the Pre-Fill short-term user (platform-api §7.1): possession settles by itself.
const MILO = { phoneNumber: "2001001695" };
const MILO_INDIVIDUAL = {
  firstName: "Milo", lastName: "Pinson", dob: "1981-01-17", ssn: "847350596",
  addresses: [{ address: "6377 Birchwood Hill", city: "Littleton", region: "CO", postalCode: "80161-2001" }],
  emailAddresses: ["mpinsonm@dyndns.org"],
};

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

test("start -> validate -> challenge -> complete for Milo Pinson, each reply parsed by the SDK", async () => {
  const { sdk } = newSdk();
  const { correlationId } = await step(
    sdk.v3.v3StartRequest({ ...MILO, flowType: "desktop", finalTargetUrl: "https://www.prove.com" }),
    "v3StartResponse");
  const validated = await step(sdk.v3.v3ValidateRequest({ correlationId }), "v3ValidateResponse");
  assert.deepEqual(validated, {
    success: true, challengeMissing: true, phoneNumber: "2001001695", next: { "v3-challenge": "/v3/challenge" } });
  const challenged = await step(sdk.v3.v3ChallengeRequest({ correlationId, dob: "1981-01-17" }),
    "v3ChallengeResponse");
  assert.equal(challenged.success, true);
  assert.deepEqual(challenged.next, { "v3-complete": "/v3/complete" });
  assert.deepEqual(challenged.individual, MILO_INDIVIDUAL);
  const completed = await step(
    sdk.v3.v3CompleteRequest({ correlationId, individual: challenged.individual }), "v3CompleteResponse");
  assert.deepEqual(completed, { success: true, next: { done: "done" } });
});

test("a step out of order surfaces as the SDK's Error403 with code 8003", async () => {
  const { sdk } = newSdk();
  const { correlationId } = await step(sdk.v3.v3StartRequest({ ...MILO, flowType: "mobile" }), "v3StartResponse");
  const error = await rejection(sdk.v3.v3ChallengeRequest({ correlationId, dob: "1981-01-17" }));
  assert.ok(error instanceof Error403, `expected Error403, got ${error}`);
  assert.equal(error.data$.code, 8003);
  assert.match(error.data$.message, /step not allowed/);
});

test("Prove Identity (a prove-identity project): validate goes to complete, which returns idv and kyc", async () => {
  await emulator.putProject("identity-project", { clientSecret: "identity-secret", product: "prove-identity" });
  const { sdk } = newSdk(undefined, { clientID: "identity-project", clientSecret: "identity-secret" });
  const { correlationId } = await step(
    sdk.v3.v3StartRequest({ phoneNumber: "2001004000", flowType: "mobile" }), "v3StartResponse");
  const validated = await step(sdk.v3.v3ValidateRequest({ correlationId }), "v3ValidateResponse");
  assert.deepEqual(validated.next, { "v3-complete": "/v3/complete" });
  assert.equal(validated.challengeMissing, false);
  const completed = await step(sdk.v3.v3CompleteRequest({ correlationId, individual: {
    firstName: "Martina", lastName: "Goodram", ssn: "490959347" } }), "v3CompleteResponse");
  assert.equal(completed.success, true);
  assert.equal(completed.idv.multiCIPConfidence, "high");
  assert.equal(completed.idv.dataSource1.identifiers.ssn, true);
  assert.equal(completed.kyc.totalHits, 0);
});
