// Shared helpers for the tests that drive Prove's official server SDK (@prove-identity/prove-api
// 0.9.6, from the repo root's node_modules) against a running emulator.
//
//   EMULATOR_URL=http://127.0.0.1:7768 node --test --test-concurrency=1 tests/node/
//
// EMULATOR_URL is required; PROVE_CLIENT_ID / PROVE_CLIENT_SECRET default to the emulator's
// default project. Each test resets the emulator first, so the files run in any order, but one at
// a time (they share the emulator's journal and clock).

import assert from "node:assert/strict";
import { Proveapi } from "@prove-identity/prove-api";
import { HTTPClient } from "@prove-identity/prove-api/lib/http.js";
import { SDKValidationError } from "@prove-identity/prove-api/models/errors/index.js";

export const BASE_URL = required("EMULATOR_URL").replace(/\/+$/, "");
export const CLIENT_ID = process.env.PROVE_CLIENT_ID || "sandbox-client-id";
export const CLIENT_SECRET = process.env.PROVE_CLIENT_SECRET || "sandbox-client-secret";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} to the emulator's base URL, e.g. http://127.0.0.1:7768`);
  return value;
}

/**
 * A new SDK client (its own token cache, as a fresh backend process would have) and its wire log:
 * every request it sends, the hook's token calls included, as {method, path, status, authorization,
 * contentType, form}. Recorded with the SDK's public HTTPClient hooks.
 */
export function newSdk(serverURL = BASE_URL, { clientID = CLIENT_ID, clientSecret = CLIENT_SECRET } = {}) {
  const wire = [];
  const pending = new WeakMap();
  const httpClient = new HTTPClient()
    .addHook("beforeRequest", async (request) => {
      const contentType = request.headers.get("content-type") || "";
      const form = contentType.startsWith("application/x-www-form-urlencoded")
        ? Object.fromEntries(new URLSearchParams(await request.clone().text()))
        : undefined;
      pending.set(request, { method: request.method, path: new URL(request.url).pathname,
        authorization: request.headers.get("authorization"), contentType, form });
    })
    .addHook("response", (response, request) => {
      wire.push({ ...pending.get(request), status: response.status });
    });
  const sdk = new Proveapi({ serverURL, httpClient,
    security: { clientID, clientSecret } });
  return { sdk, wire };
}

// -- the emulator's control plane (plain fetch: these calls are not Prove's API) -----------------

async function control(method, path, body) {
  const reply = await fetch(`${BASE_URL}/__emulator${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await reply.json();
  assert.equal(reply.status, 200, `${method} /__emulator${path}: ${JSON.stringify(payload)}`);
  return payload;
}

export const emulator = {
  reset: () => control("POST", "/reset", {}),
  freeze: () => control("POST", "/clock", { freeze: true }),
  advance: (seconds) => control("POST", "/clock", { advance: seconds }),
  /** Create (or replace) a project, e.g. one narrowed to a product. */
  putProject: (clientId, settings) => control("PUT", `/projects/${clientId}`, settings),
  /** Make the emulator answer the next `times` calls of an endpoint with an HTTP error. */
  fault: (endpoint, status, times = 1) => control("POST", "/faults", { endpoint, status, times }),
  /** The request journal (what the emulator answered), oldest first, as "METHOD /path STATUS". */
  async journal() {
    const { requests } = await control("GET", "/requests?limit=500");
    return requests.map((r) => `${r.method} ${r.path} ${r.status}`);
  },
};

/** The journal lines for calls to a path, e.g. every `/token` call. */
export async function calls(path) {
  return (await emulator.journal()).filter((line) => line.split(" ")[1] === path);
}

// -- the SDK's own clock ----------------------------------------------------------------------------

/**
 * Shift the SDK's notion of "now" (Date.now, which its token hook reads) for one test, so it can
 * move in step with the emulator's clock. Restored by node:test when the test ends.
 */
export function sdkClock(t) {
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  t.mock.method(Date, "now", () => realNow() + offsetMs);
  return { advance: (seconds) => { offsetMs += seconds * 1000; } };
}

// -- SDK 0.9.6 and the string-typed verify fields -------------------------------------------------

// SDK 0.9.6 types these fields as objects (fixed in 0.11.1); Prove and the emulator send strings.
const OBJECT_TYPED_STRINGS = new Set(["success", "possessionResult", "verifyResult"]);

/**
 * The response and the JSON body of a verify / verify-status call made through the SDK.
 *
 * With 0.9.6 a faithful reply raises SDKValidationError; the error must be exactly that known
 * defect (every issue: an object-typed field that received a string), and its rawValue carries the
 * response and the body. A later SDK that parses the reply returns the same two things.
 */
export async function acceptedReply(call, key) {
  let result;
  try {
    result = await call;
  } catch (error) {
    if (!(error instanceof SDKValidationError)) throw error;
    assert.ok(error.cause?.issues, `SDKValidationError without schema issues: ${error.message}`);
    for (const issue of error.cause.issues) {
      const known = issue.path[0] === key && OBJECT_TYPED_STRINGS.has(issue.path[1])
        && issue.expected === "object" && issue.received === "string";
      assert.ok(known, `not the known 0.9.6 typing defect: ${JSON.stringify(issue)}`);
    }
    return { response: error.rawValue.HttpMeta.Response, body: error.rawValue[key] };
  }
  const parsedKey = key[0].toLowerCase() + key.slice(1);
  return { response: result.httpMeta.response, body: result[parsedKey] };
}

/** The error a rejected SDK call throws (fails the test if the call resolved). */
export async function rejection(call) {
  try {
    await call;
  } catch (error) {
    return error;
  }
  assert.fail("the SDK call was expected to throw");
}

export { assert };
