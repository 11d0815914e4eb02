// passkey.js — the browser side of deviceauth passkeys, served by the
// passkey handler at <mount>/v1/passkey/passkey.js. No build step, no
// framework. It adds DeviceAuth.passkey:
//
//   <script src="/deviceauth/v1/passkey/passkey.js"></script>
//   <script>
//     // Sign in (discoverable: the browser offers the user's passkeys).
//     await DeviceAuth.passkey.signIn();            // → {userId, credentialId}
//     await DeviceAuth.passkey.signInWithUsername("ada");
//     // Add a passkey for the signed-in user. When the user already has a
//     // credential the server asks for an approved addAuthenticator
//     // challenge first: with a passkey it is done here; otherwise the error
//     // has code "challenge_required" and err.body.{challengeId, token,
//     // methods}: approve on the phone, then register({token}).
//     await DeviceAuth.passkey.register({name: "Laptop"});
//     // Step up a gated request: on its 401 challenge_required, approve the
//     // challenge with a passkey, then retry the request with the token the
//     // 401 gave (Deviceauth-Token header, or the form's hidden field).
//     await DeviceAuth.passkey.stepUp(challengeId);
//   </script>
//
// The server's options are go-webauthn's {"publicKey": …} with binary
// members as base64url; they are unwrapped and decoded here, and the
// credential goes back as PublicKeyCredential.toJSON() gives it (built by
// hand where toJSON is missing). The base path is taken from this
// script's URL; pass {base: "/deviceauth"} to override it.
(function (global) {
  "use strict";

  const me = document.currentScript;
  const scriptBase = me && me.src ? new URL(me.src, location.href).pathname.replace(/\/v1\/passkey\/passkey\.js$/, "") : "/deviceauth";

  function baseOf(opts) {
    return ((opts && opts.base) || scriptBase).replace(/\/$/, "");
  }

  // base64url without padding ⇄ ArrayBuffer.
  function encode(buf) {
    const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decode(str) {
    const s = String(str).replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(s + "===".slice((s.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  // call POSTs body as JSON and returns the JSON answer; a refusal throws an
  // Error with code (the "error" member), status and body.
  async function call(url, body, headers) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: JSON.stringify(body === undefined ? {} : body),
    });
    const text = await res.text();
    let data = {};
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = {}; }
    }
    if (!res.ok) {
      const err = new Error(data.message || res.statusText);
      err.code = data.error;
      err.status = res.status;
      err.body = data;
      throw err;
    }
    return data;
  }

  function descriptors(list) {
    return list && list.map(function (d) { return Object.assign({}, d, { id: decode(d.id) }); });
  }

  // creationOptions and requestOptions unwrap {"publicKey": …} and decode
  // its binary members for navigator.credentials.
  function creationOptions(json) {
    const o = Object.assign({}, json.publicKey || json);
    o.challenge = decode(o.challenge);
    o.user = Object.assign({}, o.user, { id: decode(o.user.id) });
    if (o.excludeCredentials) o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }
  function requestOptions(json) {
    const o = Object.assign({}, json.publicKey || json);
    o.challenge = decode(o.challenge);
    if (o.allowCredentials) o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  // serialize is PublicKeyCredential.toJSON(), or the same JSON built by
  // hand (RegistrationResponseJSON / AuthenticationResponseJSON).
  function serialize(cred) {
    if (typeof cred.toJSON === "function") {
      try { return cred.toJSON(); } catch (e) { /* build it below */ }
    }
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      clientExtensionResults: typeof cred.getClientExtensionResults === "function" ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) },
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      out.response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
      if (typeof r.getAuthenticatorData === "function") out.response.authenticatorData = encode(r.getAuthenticatorData());
      if (typeof r.getPublicKey === "function") {
        const pk = r.getPublicKey();
        if (pk) out.response.publicKey = encode(pk);
      }
      if (typeof r.getPublicKeyAlgorithm === "function") out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) out.response.userHandle = encode(r.userHandle);
    }
    return out;
  }

  // register adds a passkey for the signed-in user. opts: name, token (of
  // an approved addAuthenticator challenge), stepUp (false: never step up
  // with a passkey here), signal, base.
  async function register(opts) {
    opts = opts || {};
    const base = baseOf(opts);
    let options;
    try {
      options = await call(base + "/v1/passkey/registration/options", { name: opts.name || "" },
        opts.token ? { "Deviceauth-Token": opts.token } : {});
    } catch (e) {
      const methods = (e.body && e.body.methods) || [];
      if (e.code === "challenge_required" && !opts.token && opts.stepUp !== false && methods.indexOf("PASSKEY") >= 0) {
        await stepUp(e.body.challengeId, { base: base, signal: opts.signal });
        return register(Object.assign({}, opts, { token: e.body.token }));
      }
      throw e;
    }
    const cred = await navigator.credentials.create({ publicKey: creationOptions(options), signal: opts.signal });
    return call(base + "/v1/passkey/registration", serialize(cred));
  }

  async function login(body, opts) {
    opts = opts || {};
    const base = baseOf(opts);
    const options = await call(base + "/v1/passkey/login/options", body);
    const req = { publicKey: requestOptions(options), signal: opts.signal };
    if (opts.mediation) req.mediation = opts.mediation;
    const cred = await navigator.credentials.get(req);
    return call(base + "/v1/passkey/login", serialize(cred));
  }

  // signIn signs in with a discoverable passkey (no username); the server
  // sets the session cookie. opts: signal, mediation, base.
  function signIn(opts) { return login({}, opts); }

  // signInWithUsername signs in as username with one of its passkeys.
  function signInWithUsername(username, opts) { return login({ username: String(username) }, opts); }

  function challengeURL(base, challengeId) {
    return base + "/v1/web/challenges/" + encodeURIComponent(challengeId) + "/passkey";
  }

  // stepUpOptions fetches the request options for answering challenge
  // challengeId with a passkey; it fails (code not_found) when the user has
  // no passkey or the challenge does not offer PASSKEY.
  function stepUpOptions(challengeId, opts) {
    return call(challengeURL(baseOf(opts), challengeId) + "/options", {});
  }

  // stepUp approves challenge challengeId with a passkey assertion bound to
  // its action and details. opts: options (from stepUpOptions), signal,
  // base. Afterwards retry the gated request with the challenge's token.
  async function stepUp(challengeId, opts) {
    opts = opts || {};
    const options = opts.options || await stepUpOptions(challengeId, opts);
    const cred = await navigator.credentials.get({ publicKey: requestOptions(options), signal: opts.signal });
    return call(challengeURL(baseOf(opts), challengeId), serialize(cred));
  }

  // supported reports whether this browser can use passkeys at all.
  function supported() {
    return typeof global.PublicKeyCredential === "function" && !!(navigator.credentials && navigator.credentials.get);
  }

  global.DeviceAuth = Object.assign(global.DeviceAuth || {}, {
    passkey: {
      register: register,
      signIn: signIn,
      signInWithUsername: signInWithUsername,
      stepUp: stepUp,
      stepUpOptions: stepUpOptions,
      supported: supported,
      serialize: serialize,
      base64url: { encode: encode, decode: decode },
    },
  });
})(window);
