// /v3/verify and /v3/verify-status through the official SDK. SDK 0.9.6 cannot parse these replies
// (see acceptedReply in support.mjs), so each test checks that the emulator accepted the call
// (HTTP 200 reached the SDK) and reads Prove's strings from the raw reply.

import { beforeEach, test } from "node:test";
import { acceptedReply, assert, emulator, newSdk } from "./support.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHORT_TERM_USER = { firstName: "Sheilakathryn", lastName: "Butrimovich", phoneNumber: "2001004011" };
const POSSESSION_FAILS = { firstName: "Casey", lastName: "Client", phoneNumber: "2025550102" };

function results(body) {
  return [body.success, body.possessionResult, body.verifyResult];
}

async function verify(sdk, request) {
  const reply = await acceptedReply(sdk.v3.v3VerifyRequest(request), "V3VerifyResponse");
  assert.equal(reply.response.status, 200);
  assert.match(reply.body.correlationId, UUID);
  return reply.body;
}

async function verifyStatus(sdk, correlationId) {
  const reply = await acceptedReply(sdk.v3.v3VerifyStatusRequest({ correlationId }), "V3VerifyStatusResponse");
  assert.equal(reply.response.status, 200);
  return reply.body;
}

beforeEach(() => emulator.reset());

test("short-term user, mobile: verify is pending, verify-status reports success and the identity", async () => {
  const { sdk } = newSdk();
  const started = await verify(sdk, { ...SHORT_TERM_USER, possessionType: "mobile" });
  assert.deepEqual(results(started), ["pending", "pending", "pending"]);
  assert.equal(started.authToken.split(".").length, 3); // a JWT for the client SDK

  const status = await verifyStatus(sdk, started.correlationId);
  assert.deepEqual(results(status), ["true", "success", "success"]);
  assert.match(status.identityId, UUID);
});

test("short-term user, desktop: the Instant Link flow settles the same way", async () => {
  const { sdk } = newSdk();
  const started = await verify(sdk, {
    ...SHORT_TERM_USER, possessionType: "desktop", finalTargetUrl: "https://app.example.com/done" });
  assert.deepEqual(results(started), ["pending", "pending", "pending"]);
  assert.deepEqual(results(await verifyStatus(sdk, started.correlationId)), ["true", "success", "success"]);
});

test("short-term user, no possession: verify answers at once", async () => {
  const { sdk } = newSdk();
  const reply = await verify(sdk, { ...SHORT_TERM_USER, possessionType: "none" });
  assert.deepEqual(results(reply), ["true", "not_applicable", "success"]);
  assert.equal(reply.authToken, undefined);
});

test("backend-only persona whose possession fails: verify-status reports the failure", async () => {
  const { sdk } = newSdk();
  const started = await verify(sdk, { ...POSSESSION_FAILS, possessionType: "mobile" });
  assert.deepEqual(results(started), ["pending", "pending", "pending"]);

  const status = await verifyStatus(sdk, started.correlationId);
  assert.deepEqual(results(status), ["false", "failed", "not_applicable"]);
  assert.equal(status.identityId, undefined);
});
