// The SDK's client-credentials hook against the emulator's POST /token: one token serves many
// calls, a 401 drops it, and it is refreshed when less than 60 s of it remain (platform-api §3.2).

import { beforeEach, test } from "node:test";
import { Error401, UnexpectedClientError } from "@prove-identity/prove-api/models/errors/index.js";
import {
  BASE_URL, CLIENT_ID, CLIENT_SECRET, acceptedReply, assert, calls, emulator, newSdk, rejection, sdkClock,
} from "./support.mjs";

// A backend-only persona with no possession check: verify answers at once.
const VERIFY = { firstName: "Casey", lastName: "Client", phoneNumber: "2025550101", possessionType: "none" };

/** One call the emulator must accept; returns the Authorization header the SDK sent with it. */
async function verify({ sdk, wire }) {
  const { response, body } = await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");
  assert.equal(response.status, 200);
  assert.equal(body.success, "true");
  return wire.at(-1).authorization;
}

beforeEach(() => emulator.reset());

test("one form-encoded /token call serves several API calls", async () => {
  const client = newSdk();
  const first = await acceptedReply(client.sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");
  const status = await acceptedReply(
    client.sdk.v3.v3VerifyStatusRequest({ correlationId: first.body.correlationId }), "V3VerifyStatusResponse");
  await verify(client);

  assert.equal(status.response.status, 200);
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", "POST /v3/verify 200", "POST /v3/verify-status 200", "POST /v3/verify 200"]);
  const [token, ...api] = client.wire;
  assert.deepEqual(token.form, { grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  assert.equal(token.authorization, null);
  assert.match(api[0].authorization, /^Bearer \S+$/);
  assert.deepEqual(api.map((call) => call.authorization), Array(3).fill(api[0].authorization));
});

test("the hook asks for /token at the origin even when serverURL has a path prefix", async () => {
  const { sdk, wire } = newSdk(`${BASE_URL}/prefix/api`);
  await sdk.v3.v3VerifyRequest(VERIFY).catch(() => {}); // only the token call is under test
  assert.deepEqual(wire.map((call) => call.path), ["/token", "/prefix/api/v3/verify"]);
  assert.deepEqual(await calls("/token"), ["POST /token 200"]);
});

test("after a 401 the SDK throws Error401 and the next call fetches a new token", async () => {
  const client = newSdk();
  const before = await verify(client);
  await emulator.fault("/v3/verify", 401);

  const error = await rejection(client.sdk.v3.v3VerifyRequest(VERIFY));
  assert.ok(error instanceof Error401, `expected Error401, got ${error}`);
  assert.equal(error.code, 8002);
  assert.deepEqual(Object.keys(error.data$).sort(), ["code", "message"]);
  assert.deepEqual(await calls("/token"), ["POST /token 200"]); // the failed call is not retried

  assert.notEqual(await verify(client), before);
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", "POST /v3/verify 200", "POST /v3/verify 401", "POST /token 200", "POST /v3/verify 200"]);
});

test("a 401 from verify-status drops the token too", async () => {
  const { sdk } = newSdk();
  const { body } = await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");
  await emulator.fault("/v3/verify-status", 401);
  const status = () => sdk.v3.v3VerifyStatusRequest({ correlationId: body.correlationId });

  assert.ok((await rejection(status())) instanceof Error401);
  assert.equal((await acceptedReply(status(), "V3VerifyStatusResponse")).response.status, 200);
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", "POST /v3/verify 200", "POST /v3/verify-status 401",
    "POST /token 200", "POST /v3/verify-status 200"]);
});

test("a failed token fetch surfaces as UnexpectedClientError; the API is not called", async () => {
  const client = newSdk();
  await emulator.fault("/token", 500);

  const error = await rejection(client.sdk.v3.v3VerifyRequest(VERIFY));
  assert.ok(error instanceof UnexpectedClientError, `expected UnexpectedClientError, got ${error}`);
  assert.match(error.message, /Unexpected status code/);
  await verify(client); // nothing was cached, so the next call asks for a token again
  assert.deepEqual(await emulator.journal(), ["POST /token 500", "POST /token 200", "POST /v3/verify 200"]);
});

test("moving only the emulator clock: the stale token gets 401, then the SDK fetches a new one", async () => {
  // The hook times its token on the Node clock, so it cannot know the emulator's clock moved.
  const client = newSdk();
  await verify(client);
  await emulator.advance(3600);

  const error = await rejection(client.sdk.v3.v3VerifyRequest(VERIFY));
  assert.ok(error instanceof Error401, `expected Error401, got ${error}`);
  assert.equal(error.code, 8002);
  assert.match(error.message, /expired/);

  await verify(client);
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", "POST /v3/verify 200", "POST /v3/verify 401", "POST /token 200", "POST /v3/verify 200"]);
});

test("moving both clocks: the hook refreshes the token once less than 60 s of it remain", async (t) => {
  const sdkTime = sdkClock(t);
  await emulator.freeze();
  const moveBoth = async (seconds) => {
    await emulator.advance(seconds);
    sdkTime.advance(seconds);
  };
  const client = newSdk();
  const first = await verify(client);

  await moveBoth(3530); // 70 s left: the cached token is still used
  assert.equal(await verify(client), first);
  assert.deepEqual(await calls("/token"), ["POST /token 200"]);

  await moveBoth(15); // 55 s left: refreshed before the call, so the emulator never answers 401
  assert.notEqual(await verify(client), first);
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", "POST /v3/verify 200", "POST /v3/verify 200", "POST /token 200", "POST /v3/verify 200"]);
});
