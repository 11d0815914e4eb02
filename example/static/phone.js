// phone.js — the device side of the deviceauth wire protocol, in the
// browser, for the example's phone simulator (/phone). Everything here is
// docs/protocol.md, section by section; the page's buttons are in
// phone-ui.js. No build step, no framework, no dependency: WebCrypto,
// IndexedDB and fetch.
//
// The key is an ECDSA P-256 key made by WebCrypto with extractable: false,
// so the private key never leaves the browser's key store; the CryptoKey
// object itself is kept in IndexedDB. WebCrypto ECDSA signatures are raw
// r‖s, so the phone registers with signatureFormat "raw" (protocol.md,
// "Keys and signatures").
(function (global) {
  "use strict";

  const enc = new TextEncoder();
  const utf8 = (s) => enc.encode(s);

  // ---- Binary in JSON: base64url without padding (protocol.md, "Conventions").

  function b64(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }
  function b64url(bytes) {
    return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromB64url(s) {
    if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("not base64url: " + s);
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // ---- Signed messages (protocol.md, "Signed messages").
  //   message = label ‖ 0x00 ‖ field₁ ‖ field₂ ‖ …
  //   field   = uint32 big-endian length ‖ bytes

  function uint32be(n) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, false);
    return b;
  }
  function field(bytes) {
    return concat([uint32be(bytes.length), bytes]);
  }
  function frame(label, fields) {
    return concat([utf8(label), new Uint8Array([0]), ...fields.map(field)]);
  }

  // Registration proof of possession (v2): SHA-256 of the token's ASCII,
  // the algorithm, the public key bytes exactly as sent, name, platform and
  // the push token (none in a browser: an empty field).
  async function registrationMessage(token, algorithm, publicKey, name, platform) {
    return frame("deviceauth/v2/register",
      [await sha256(utf8(token)), utf8(algorithm), publicKey, utf8(name), utf8(platform), new Uint8Array(0)]);
  }

  // Details digest: SHA-256("deviceauth/v1/details" ‖ 0x00 ‖ field(message)
  // ‖ uint32be(count) ‖ field(label₁) ‖ field(value₁) ‖ …), over the details
  // exactly as received.
  async function detailsDigest(details) {
    const fields = details.fields || [];
    const parts = [frame("deviceauth/v1/details", [utf8(details.message || "")]), uint32be(fields.length)];
    for (const f of fields) parts.push(field(utf8(f.label)), field(utf8(f.value)));
    return sha256(concat(parts));
  }

  // Challenge response: challenge ID, nonce (decoded), action, credential
  // ID, decision, deny reason (or empty), code as typed (or empty), details
  // digest.
  async function responseMessage(r) {
    return frame("deviceauth/v1/response", [
      utf8(r.challengeId), fromB64url(r.nonce), utf8(r.action), utf8(r.credentialId),
      utf8(r.decision), utf8(r.denyReason || ""), utf8(r.verificationCode || ""),
      await detailsDigest(r.details),
    ]);
  }

  // ---- Keys (protocol.md, "Keys and signatures").

  const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
  const SIGN = { name: "ECDSA", hash: "SHA-256" };

  // newKey makes a P-256 key pair whose private key cannot be exported.
  function newKey() {
    return crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
  }
  // publicKeySPKI: the public half of a non-extractable pair is always
  // exportable; SPKI DER is one of the two forms the server takes.
  async function publicKeySPKI(keyPair) {
    return new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  }
  // sign returns the raw r‖s (64 bytes) ECDSA signature over msg with
  // SHA-256: both what signatureFormat "raw" means and what RFC 9421's
  // ecdsa-p256-sha256 wants.
  async function sign(keyPair, msg) {
    return new Uint8Array(await crypto.subtle.sign(SIGN, keyPair.privateKey, msg));
  }

  // ---- Device-signed requests: RFC 9421 (protocol.md, "Device-signed
  // requests (RFC 9421)").

  // sfString serialises an RFC 8941 string (IDs and nonces never need the
  // escapes, but a base of RFC 9421 must be exact).
  function sfString(s) {
    return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  // signatureParams is the value of "@signature-params" and of the
  // Signature-Input member: the covered components, then created, keyid,
  // nonce, alg and tag, in that order.
  function signatureParams(components, p) {
    return "(" + components.map((c) => '"' + c + '"').join(" ") + ")" +
      ";created=" + p.created + ";keyid=" + sfString(p.keyid) + ";nonce=" + sfString(p.nonce) +
      ';alg="ecdsa-p256-sha256";tag="deviceauth"';
  }

  // signatureBase builds the RFC 9421 signature base: one line per covered
  // component, then the "@signature-params" line, joined by "\n" with no
  // trailing newline. @query is "?" and the query ("?" alone for none).
  function signatureBase(m, params) {
    const lines = [
      '"@method": ' + m.method,
      '"@authority": ' + m.authority,
      '"@path": ' + m.path,
      '"@query": ?' + m.query,
    ];
    if (m.contentDigest) lines.push('"content-digest": ' + m.contentDigest);
    lines.push('"@signature-params": ' + params);
    return lines.join("\n");
  }

  // contentDigest is the RFC 9530 Content-Digest of a body: standard
  // base64 (with padding) of its SHA-256, as an RFC 8941 byte sequence.
  async function contentDigest(body) {
    return "sha-256=:" + b64(await sha256(body)) + ":";
  }

  function newNonce() {
    return b64url(crypto.getRandomValues(new Uint8Array(18))); // 24 characters of [A-Za-z0-9_-]
  }

  // signRequest returns the headers of a device-signed request to url
  // (absolute, under the server's base URL) with an optional body.
  // authority is the host of the server's PublicURL, which the server
  // checks; the path and query are those the browser sends.
  async function signRequest(keyPair, credentialId, method, url, body, now) {
    const u = new URL(url);
    const m = { method, authority: u.host, path: u.pathname, query: u.search.replace(/^\?/, "") };
    const components = ["@method", "@authority", "@path", "@query"];
    const headers = {};
    if (body && body.length) {
      m.contentDigest = headers["Content-Digest"] = await contentDigest(body);
      components.push("content-digest");
    }
    const params = signatureParams(components, {
      created: Math.floor((now || Date.now()) / 1000), keyid: credentialId, nonce: newNonce(),
    });
    const base = signatureBase(m, params);
    const sig = await sign(keyPair, utf8(base));
    headers["Signature-Input"] = "deviceauth=" + params;
    headers["Signature"] = "deviceauth=:" + b64(sig) + ":";
    return { headers, base };
  }

  // ---- QR payloads (protocol.md, "POST /v1/qr/{id}/claim"):
  //   <PublicURL>/v1/qr/claim#c=<challenge ID>&s=<claim secret>

  function parseQRPayload(payload) {
    let u;
    try { u = new URL(payload.trim()); } catch (e) { throw new Error("that is not a URL"); }
    if (!u.pathname.endsWith("/v1/qr/claim")) throw new Error("that is not a deviceauth QR code");
    const frag = new URLSearchParams(u.hash.replace(/^#/, ""));
    const challengeId = frag.get("c"), claimSecret = frag.get("s");
    if (!challengeId || !claimSecret) throw new Error("the QR code has no challenge or claim secret");
    return { server: u.origin + u.pathname.slice(0, -"/v1/qr/claim".length), challengeId, claimSecret };
  }

  // ---- The phone: one key, one credential, one server.

  class ProtocolError extends Error {
    constructor(status, body) {
      super((body && body.message) || "HTTP " + status);
      this.status = status;
      this.code = body && body.error;
      this.state = body && body.state;
    }
  }

  class Phone {
    // server is the base URL (Config.PublicURL), e.g.
    // "http://localhost:8080/deviceauth".
    constructor(server, keyPair, credentialId) {
      const u = new URL(server); // normalised as parseQRPayload normalises QR codes
      this.server = u.origin + u.pathname.replace(/\/$/, "");
      this.keyPair = keyPair;
      this.credentialId = credentialId || "";
    }

    async call(method, path, body, signed) {
      const url = this.server + path;
      const raw = body === undefined ? undefined : utf8(JSON.stringify(body));
      const headers = { Accept: "application/json" };
      if (raw) headers["Content-Type"] = "application/json";
      if (signed) Object.assign(headers, (await signRequest(this.keyPair, this.credentialId, method, url, raw)).headers);
      const res = await fetch(url, { method, headers, body: raw, credentials: "omit", cache: "no-store" });
      const text = await res.text();
      let data = {};
      try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
      if (!res.ok) throw new ProtocolError(res.status, data);
      return data;
    }

    // POST /v1/credentials — register this key with a registration token.
    async register(token, name, platform) {
      const publicKey = await publicKeySPKI(this.keyPair);
      const msg = await registrationMessage(token, "ES256", publicKey, name, platform);
      const cred = await this.call("POST", "/v1/credentials", {
        token, algorithm: "ES256", publicKey: b64url(publicKey), signatureFormat: "raw",
        signature: b64url(await sign(this.keyPair, msg)), name, platform,
      }, false);
      this.credentialId = cred.id;
      return cred;
    }

    // GET /v1/challenges (signed) — the user's pending challenges.
    async pending() {
      return (await this.call("GET", "/v1/challenges", undefined, true)).challenges;
    }

    // GET /v1/challenges/{id} (signed).
    challenge(id) {
      return this.call("GET", "/v1/challenges/" + encodeURIComponent(id), undefined, true);
    }

    // POST /v1/qr/{id}/claim (signed, with Content-Digest). Only codes of
    // this phone's server are claimed.
    async claim(payload) {
      const qr = parseQRPayload(payload);
      if (qr.server !== this.server) throw new Error("this QR code is for " + qr.server + ", not for this phone's server " + this.server);
      return this.call("POST", "/v1/qr/" + encodeURIComponent(qr.challengeId) + "/claim", { claimSecret: qr.claimSecret }, true);
    }

    // inAppChallenge reads the in-app challenge its app's backend handed
    // this phone over the app's own channel (TrackResult.InApp as JSON:
    // challengeId, nonce, action, details, expiresAt and, when the app
    // names one, credentialId) as the challenge to show and answer with
    // respond: one signature, no fetch (protocol.md, "In-app verification:
    // one signature, no fetch"). One that names another credential is
    // refused, as the server would refuse its answer.
    inAppChallenge(payload) {
      const p = payload || {};
      if (!p.challengeId || !p.nonce || !p.action) throw new Error("an in-app challenge needs challengeId, nonce and action");
      fromB64url(p.nonce); // throws if it is not base64url
      if (p.credentialId && p.credentialId !== this.credentialId) throw new Error("this in-app challenge names another credential");
      return {
        challengeId: p.challengeId, nonce: p.nonce, action: p.action, details: p.details || { message: "", fields: [] },
        expiresAt: p.expiresAt, state: "PENDING", method: "IN_APP", verificationCodeRequired: false,
      };
    }

    // POST /v1/challenges/{id}/response — approve (with the code the user
    // typed) or deny (with an optional reason such as "not_me"). The body
    // carries its own signature over the response message.
    async respond(ch, decision, opts) {
      opts = opts || {};
      const code = decision === "approve" ? (opts.verificationCode || "") : "";
      const reason = decision === "deny" ? (opts.denyReason || "") : "";
      const msg = await responseMessage({
        challengeId: ch.challengeId, nonce: ch.nonce, action: ch.action, credentialId: this.credentialId,
        decision, denyReason: reason, verificationCode: code, details: ch.details,
      });
      const body = { credentialId: this.credentialId, decision, signatureFormat: "raw", signature: b64url(await sign(this.keyPair, msg)) };
      if (code) body.verificationCode = code;
      if (reason) body.denyReason = reason;
      return this.call("POST", "/v1/challenges/" + encodeURIComponent(ch.challengeId) + "/response", body, false);
    }

    // DELETE /v1/credentials/{id} (signed) — unbind this phone.
    remove() {
      return this.call("DELETE", "/v1/credentials/" + encodeURIComponent(this.credentialId), undefined, true);
    }
  }

  // ---- Keeping the phone: IndexedDB stores the CryptoKeyPair itself
  // (structured clone keeps it non-extractable) with its credential.

  const DB = "deviceauth-phone", STORE = "phone", KEY = "current";

  function db() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function tx(mode, f) {
    const d = await db();
    try {
      return await new Promise((resolve, reject) => {
        const t = d.transaction(STORE, mode);
        const req = f(t.objectStore(STORE));
        t.oncomplete = () => resolve(req.result);
        t.onerror = () => reject(t.error);
        t.onabort = () => reject(t.error);
      });
    } finally { d.close(); }
  }
  // load returns the saved phone ({server, credentialId, name, keyPair,
  // createdAt}) or undefined.
  const load = () => tx("readonly", (s) => s.get(KEY));
  const save = (state) => tx("readwrite", (s) => s.put(state, KEY));
  const forget = () => tx("readwrite", (s) => s.delete(KEY));

  global.DeviceAuthPhone = {
    Phone, ProtocolError, newKey, publicKeySPKI, sign, parseQRPayload,
    store: { load, save, forget },
    // exposed for tests and for reading along with docs/protocol.md
    b64url, fromB64url, hex, utf8, frame, registrationMessage, detailsDigest, responseMessage,
    signatureParams, signatureBase, contentDigest, signRequest,
  };
})(window);
