// Prove's error envelope {code, message} as the SDK surfaces it: ErrorT for 400, Error401 for 401.

import { beforeEach, test } from "node:test";
import { Error401, ErrorT } from "@prove-identity/prove-api/models/errors/index.js";
import { CLIENT_ID, CLIENT_SECRET, assert, calls, emulator, newSdk, rejection } from "./support.mjs";

const DESKTOP = {
  firstName: "Sheilakathryn", lastName: "Butrimovich", phoneNumber: "2001004011", possessionType: "desktop",
  finalTargetUrl: "https://app.example.com/done",
};

/** The typed error of a call, with the journal's record that the emulator itself answered it. */
async function typedError(call, path, status, ErrorClass) {
  const error = await rejection(call);
  assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error}`);
  assert.deepEqual(Object.keys(error.data$).sort(), ["code", "message"]);
  assert.equal(error.code, error.data$.code);
  assert.equal(error.message, error.data$.message);
  assert.deepEqual((await calls(path)).at(-1), `POST ${path} ${status}`);
  return error;
}

beforeEach(() => emulator.reset());

test("an unknown possessionType is a 400 with code 8001 naming the field", async () => {
  const { sdk } = newSdk();
  const error = await typedError(
    sdk.v3.v3VerifyRequest({ ...DESKTOP, possessionType: "tablet" }), "/v3/verify", 400, ErrorT);
  assert.equal(error.code, 8001);
  assert.match(error.message, /possessionType/);
});

test("desktop without finalTargetUrl is a 400 with code 8001 naming the field", async () => {
  const { sdk } = newSdk();
  const { finalTargetUrl, ...withoutUrl } = DESKTOP;
  const error = await typedError(sdk.v3.v3VerifyRequest(withoutUrl), "/v3/verify", 400, ErrorT);
  assert.equal(error.code, 8001);
  assert.match(error.message, /finalTargetUrl/);
});

test("v3TokenRequest with bad credentials is a 401 with code 8002", async () => {
  const { sdk } = newSdk();
  const error = await typedError(
    sdk.v3.v3TokenRequest({ clientId: CLIENT_ID, clientSecret: "wrong", grantType: "client_credentials" }),
    "/token", 401, Error401);
  assert.equal(error.code, 8002);
});

test("v3TokenRequest with good credentials parses as a Bearer token", async () => {
  const { sdk } = newSdk();
  const { v3TokenResponse } = await sdk.v3.v3TokenRequest({
    clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
    grantType: "client_credentials" });
  assert.equal(v3TokenResponse.tokenType, "Bearer");
  assert.equal(v3TokenResponse.expiresIn, 3600);
  assert.ok(v3TokenResponse.accessToken);
});
