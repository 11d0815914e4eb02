// Run by TestNodeSDK (node_test.go) under node --test: the published
// @authsignal/node SDK, unchanged, against a deviceauth server with the
// compat/authsignal adapter. AS_SDK_DIR holds its node_modules, AS_BASE
// the server, AS_SECRET the server API's secret key; POST
// AS_BASE/test/approve {token} makes the user's compat phone approve the
// push of a track token and returns the browser's accessToken.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.AS_SDK_DIR, "index.js"));
const { Authsignal, AuthsignalError } = require("@authsignal/node");

const base = process.env.AS_BASE;
const client = new Authsignal({ apiSecretKey: process.env.AS_SECRET, apiUrl: base + "/as/v1", retries: 0 });

async function approve(token) {
  const res = await fetch(base + "/test/approve", { method: "POST", body: JSON.stringify({ token }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).accessToken;
}

test("track, a device approves, validateChallenge is valid once", async () => {
  const t = await client.track({
    userId: "alice",
    action: "transfer",
    attributes: { ipAddress: "203.0.113.7", userAgent: "node-test", redirectUrl: "https://example.com/done" },
  });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  assert.equal(t.isEnrolled, true);
  assert.ok(t.token.length > 0);
  assert.ok(t.idempotencyKey.length > 0);
  assert.deepEqual(t.enrolledVerificationMethods, ["PUSH"]);

  const accessToken = await approve(t.token);
  const v = await client.validateChallenge({ token: accessToken, userId: "alice" });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  assert.equal(v.userId, "alice");
  assert.equal(v.action, "transfer");
  assert.equal(v.idempotencyKey, t.idempotencyKey);
  assert.equal(v.weakBinding, true);

  const again = await client.validateChallenge({ token: accessToken, userId: "alice" });
  assert.equal(again.isValid, false);
});

test("a token validated for another user is not valid", async () => {
  const t = await client.track({ userId: "alice", action: "transfer" });
  const accessToken = await approve(t.token);
  const v = await client.validateChallenge({ token: accessToken, userId: "mallory" });
  assert.equal(v.isValid, false);
});

test("getAuthenticators lists the user's compat device", async () => {
  const list = await client.getAuthenticators({ userId: "alice" });
  assert.equal(list.length, 1);
  assert.equal(list[0].userId, "alice");
  assert.equal(list[0].verificationMethod, "PUSH");
  assert.match(list[0].userAuthenticatorId, /^ak_/);
});

test("errors map to AuthsignalError with the server's code", async () => {
  await assert.rejects(client.validateChallenge({ token: "dat_x" }), (err) => {
    assert.ok(err instanceof AuthsignalError);
    assert.equal(err.statusCode, 400);
    assert.equal(err.errorCode, "invalid_request");
    assert.match(err.errorDescription, /userId/);
    return true;
  });
  const wrong = new Authsignal({ apiSecretKey: "sk_wrong_0123456789abcd", apiUrl: base + "/as/v1", retries: 0 });
  await assert.rejects(wrong.track({ userId: "alice", action: "transfer" }), (err) => {
    assert.equal(err.statusCode, 401);
    assert.equal(err.errorCode, "unauthorized");
    return true;
  });
});
