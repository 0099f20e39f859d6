// The official server SDK with a path-prefixed serverURL (http://127.0.0.1:PORT/prove) against an
// emulator started with --path-prefix /prove, and Prove's rate limit as the SDK meets it.
//
// Not a *.test.mjs file: tests/test_server_sdk.py runs those against an emulator without a prefix.
// tests/test_path_prefix.py runs this one with EMULATOR_URL (the origin) and PATH_PREFIX set.

import { beforeEach, test } from "node:test";
import { SDKError } from "@prove-identity/prove-api/models/errors/index.js";
import { BASE_URL, CLIENT_ID, CLIENT_SECRET, acceptedReply, assert, emulator, newSdk, rejection } from "./support.mjs";

const PREFIX = process.env.PATH_PREFIX || "/prove";
const SERVER_URL = `${BASE_URL}${PREFIX}`;
const VERIFY = { firstName: "Casey", lastName: "Client", phoneNumber: "2025550101", possessionType: "none" };
const RETRIES = {
  strategy: "backoff",
  backoff: { initialInterval: 100, maxInterval: 3000, exponent: 1.5, maxElapsedTime: 10000 },
  retryConnectionErrors: false,
};

beforeEach(() => emulator.reset());

test("operations go under the prefix; the hook's /token goes to the root", async () => {
  const { sdk, wire } = newSdk(SERVER_URL);
  const started = await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");
  const status = await acceptedReply(
    sdk.v3.v3VerifyStatusRequest({ correlationId: started.body.correlationId }), "V3VerifyStatusResponse");

  assert.equal(status.body.success, "true");
  assert.deepEqual(wire.map((call) => `${call.method} ${call.path} ${call.status}`), [
    "POST /token 200", `POST ${PREFIX}/v3/verify 200`, `POST ${PREFIX}/v3/verify-status 200`]);
  assert.deepEqual(await emulator.journal(), wire.map((call) => `${call.method} ${call.path} ${call.status}`));
});

test("a direct v3TokenRequest keeps the prefix, and its token serves the prefixed API", async () => {
  const { sdk, wire } = newSdk(SERVER_URL);
  const reply = await sdk.v3.v3TokenRequest({
    grantType: "client_credentials", clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  assert.equal(wire.at(-1).path, `${PREFIX}/token`);
  assert.equal(reply.v3TokenResponse.tokenType, "Bearer");
  assert.equal(reply.v3TokenResponse.expiresIn, 3600);

  const api = await fetch(`${SERVER_URL}/v3/domain/id`, {
    headers: { authorization: `Bearer ${reply.v3TokenResponse.accessToken}` } });
  assert.equal(api.status, 200);
});

test("over the rate limit the SDK gets a generic SDKError 429 with Retry-After", async () => {
  await emulator.putProject("limited", { clientSecret: "limited-secret", rateLimit: 1 });
  await emulator.freeze();
  const { sdk } = newSdk(SERVER_URL, { clientID: "limited", clientSecret: "limited-secret" });
  await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");

  const error = await rejection(sdk.v3.v3VerifyRequest(VERIFY));
  assert.ok(error instanceof SDKError, `expected SDKError, got ${error}`);
  assert.equal(error.httpMeta.response.status, 429);
  assert.equal(error.httpMeta.response.headers.get("retry-after"), "1");
  assert.deepEqual((await emulator.journal()).slice(-2), [`POST ${PREFIX}/v3/verify 200`, `POST ${PREFIX}/v3/verify 429`]);
});

test("with retries on, the SDK waits Retry-After and the next attempt passes", async () => {
  await emulator.putProject("limited", { clientSecret: "limited-secret", rateLimit: 1 });
  const { sdk } = newSdk(SERVER_URL, { clientID: "limited", clientSecret: "limited-secret" });
  await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY), "V3VerifyResponse");

  const began = Date.now();
  const retried = await acceptedReply(sdk.v3.v3VerifyRequest(VERIFY, { retries: RETRIES }), "V3VerifyResponse");
  assert.equal(retried.response.status, 200);
  assert.ok(Date.now() - began >= 900, "the SDK waited the Retry-After second");
  assert.deepEqual(await emulator.journal(), [
    "POST /token 200", `POST ${PREFIX}/v3/verify 200`, `POST ${PREFIX}/v3/verify 429`, `POST ${PREFIX}/v3/verify 200`]);
});
