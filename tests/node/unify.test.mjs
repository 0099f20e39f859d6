// Unify through the official SDK. SDK 0.9.6 types unify's `success` as an object (fixed in 0.11.1),
// so each reply raises the known SDKValidationError: the request must have been accepted (HTTP 200)
// and the raw reply must be the documented one.

import { beforeEach, test } from "node:test";
import { acceptedReply, assert, emulator, newSdk } from "./support.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LORANT = "2001004014"; // a Unify test user (platform-api §7.5)

beforeEach(() => emulator.reset());

test("unify (none) -> unify-status possession_required -> unify-bind binds a Prove Key", async () => {
  const { sdk } = newSdk();
  const started = await acceptedReply(sdk.v3.v3UnifyRequest({ possessionType: "none", phoneNumber: LORANT }),
    "V3UnifyResponse");
  assert.equal(started.response.status, 200);
  assert.equal(started.body.success, "pending");
  assert.match(started.body.correlationId, UUID);
  const { correlationId } = started.body;

  const status = await acceptedReply(sdk.v3.v3UnifyStatusRequest({ correlationId }), "V3UnifyStatusResponse");
  assert.equal(status.response.status, 200);
  assert.deepEqual(status.body, { success: "possession_required", phoneNumber: LORANT });

  const bound = await acceptedReply(sdk.v3.v3UnifyBindRequest({ correlationId, phoneNumber: LORANT }),
    "V3UnifyBindResponse");
  assert.equal(bound.response.status, 200);
  assert.equal(bound.body.success, "true");
  assert.equal(bound.body.phoneNumber, LORANT);
  assert.match(bound.body.proveId, UUID);
  assert.match(bound.body.deviceId, UUID);
});

test("unify (desktop) hands out an authToken; the short-term user passes with no deviceId", async () => {
  const { sdk } = newSdk();
  const started = await acceptedReply(sdk.v3.v3UnifyRequest({
    possessionType: "desktop", phoneNumber: "2001004018", finalTargetUrl: "https://www.prove.com" }),
  "V3UnifyResponse");
  assert.equal(started.body.success, "pending");
  assert.equal(started.body.authToken.split(".").length, 3);
  const status = await acceptedReply(
    sdk.v3.v3UnifyStatusRequest({ correlationId: started.body.correlationId }), "V3UnifyStatusResponse");
  assert.equal(status.body.success, "true");
  assert.equal(status.body.phoneNumber, "2001004018");
  assert.match(status.body.proveId, UUID);
  assert.equal(status.body.deviceId, undefined);
});
