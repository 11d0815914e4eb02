// phone-ui.js — the buttons of the phone simulator page (/phone). The
// protocol is in phone.js; this file only reads inputs and writes text.
// Everything the server sends is shown with textContent, never as HTML.
(function () {
  "use strict";
  const P = window.DeviceAuthPhone;
  const $ = (id) => document.getElementById(id);
  const root = $("phone");
  const server = root.dataset.server; // Config.PublicURL, from the app
  let phone = null; // a P.Phone once enrolled
  let current = null; // the challenge being answered
  let polling = null;

  function show(id, on) { $(id).hidden = !on; }
  function say(text) { $("phone-result").textContent = text; $("phone-error").textContent = ""; }
  function fail(e) {
    const code = e && e.code ? " (" + e.status + " " + e.code + (e.state ? ", " + e.state : "") + ")" : "";
    $("phone-error").textContent = (e && e.message ? e.message : String(e)) + code;
  }
  // run wraps a button's work: one at a time, errors shown.
  function run(f) {
    return async function () {
      const buttons = root.querySelectorAll("button");
      buttons.forEach((b) => { b.disabled = true; });
      $("phone-error").textContent = "";
      try { await f(); } catch (e) { fail(e); } finally { buttons.forEach((b) => { b.disabled = false; }); }
    };
  }
  function line(parent, label, value) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    parent.append(dt, dd);
  }

  async function refreshView() {
    const saved = await P.store.load();
    phone = null;
    if (saved && saved.server === new P.Phone(server).server) {
      phone = new P.Phone(saved.server, saved.keyPair, saved.credentialId);
      $("phone-status").textContent = "Enrolled: “" + saved.name + "”, credential " + saved.credentialId +
        ", key ECDSA P-256 (not extractable), server " + saved.server;
      root.dataset.credential = saved.credentialId;
    } else if (saved) {
      $("phone-status").textContent = "This browser's phone is enrolled with another server (" + saved.server +
        "). Forget it to enrol with this one.";
      root.dataset.credential = "";
    } else {
      $("phone-status").textContent = "Not enrolled yet.";
      root.dataset.credential = "";
    }
    show("enrol-section", !phone);
    show("device-section", !!phone);
    show("forget-other", !!saved && !phone);
    if (!phone) closeChallenge();
    if (phone && !polling) {
      polling = setInterval(() => { if (!document.hidden && !current) listPending(true).catch(() => {}); }, 5000);
    }
  }

  // ---- Enrol

  // getToken asks the app for a registration token for the user signed in
  // in this browser (POST /deviceauth/v1/web/registration-tokens). A user
  // who already has a device must approve adding this one on it first: the
  // answer is then 401 challenge_required with a challenge token, which the
  // next press sends back in the Deviceauth-Token header.
  let stepUp = null;
  async function getToken() {
    const headers = stepUp ? { "Deviceauth-Token": stepUp.token } : {};
    const res = await fetch(server + "/v1/web/registration-tokens", { method: "POST", headers, credentials: "same-origin" });
    const data = await res.json().catch(() => ({}));
    if (res.status === 401 && data.error === "challenge_required") {
      stepUp = data;
      say("You already have a device: approve adding this one on it" +
        (data.verificationCode ? " with the code " + data.verificationCode : "") + ", then press the button again.");
      root.dataset.stepUp = data.challengeId;
      return;
    }
    if (res.status === 401) throw new Error("Sign in to the app in this browser first (or paste a token).");
    if (res.status === 403 && data.error === "challenge_failed" && stepUp) {
      throw new Error("Not approved yet (or denied, or expired). Approve it on your other device and press again, or reload this page to start over.");
    }
    if (!res.ok) throw new P.ProtocolError(res.status, data);
    stepUp = null;
    delete root.dataset.stepUp;
    $("reg-token").value = data.token;
    say("Got a registration token for the signed-in user; it works once, for 10 minutes.");
  }

  async function register() {
    const token = $("reg-token").value.trim();
    const name = $("device-name").value.trim() || "Browser phone";
    if (!token) throw new Error("Paste a registration token first.");
    const keyPair = await P.newKey();
    const p = new P.Phone(server, keyPair);
    const cred = await p.register(token, name, "web");
    await P.store.save({ server: p.server, credentialId: cred.id, name: cred.name, keyPair, createdAt: cred.createdAt });
    $("reg-token").value = "";
    say("Registered as " + cred.id + ".");
    await refreshView();
  }

  // ---- Pending challenges

  // inAppList asks the app, over its own channel — GET /phone/in-app with
  // this browser's session, standing for a mobile app's sign-in to its
  // backend — for the in-app challenges its backend tracked for the
  // signed-in user: payloads to answer with one signature, which deviceauth
  // neither lists nor serves. null when no one is signed in.
  async function inAppList() {
    const res = await fetch("/phone/in-app", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    if (res.status === 401) return null;
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new P.ProtocolError(res.status, data);
    return data.challenges || [];
  }

  function pendingItem(ul, id, text, open, inApp) {
    const li = document.createElement("li");
    li.dataset.challenge = id;
    if (inApp) li.dataset.inApp = "1";
    const span = document.createElement("span");
    span.textContent = text + " ";
    const b = document.createElement("button");
    b.textContent = "Answer";
    b.className = "answer";
    b.addEventListener("click", open);
    li.append(span, b);
    ul.append(li);
  }

  async function listPending(quiet) {
    if (!phone) return;
    const [list, inApp] = await Promise.all([phone.pending(), inAppList()]);
    const ul = $("pending");
    ul.replaceChildren();
    for (const p of inApp || []) {
      pendingItem(ul, p.challengeId, "In the app — " + p.action + ": " + ((p.details && p.details.message) || summary(p)),
        run(async () => openChallenge(phone.inAppChallenge(p))), true);
    }
    for (const ch of list) {
      pendingItem(ul, ch.challengeId, ch.action + ": " + (ch.details.message || summary(ch)), () => openChallenge(ch), false);
    }
    const n = list.length + (inApp || []).length;
    $("pending-empty").hidden = n > 0;
    $("in-app-signed-out").hidden = inApp !== null;
    if (!quiet) say(n + " pending challenge" + (n === 1 ? "" : "s") + ".");
  }

  async function claim() {
    const ch = await phone.claim($("qr-payload").value);
    $("qr-payload").value = "";
    say("Claimed the QR code: check where the browser is, then approve.");
    openChallenge(ch);
  }

  // ---- One challenge

  function openChallenge(ch) {
    current = ch;
    root.dataset.open = ch.challengeId;
    $("ch-action").textContent = ch.action;
    const details = [ch.details.message, ...(ch.details.fields || []).map((f) => f.label + ": " + f.value)];
    $("ch-details").textContent = details.filter((s) => s).join("\n") || summary(ch);
    const where = $("ch-where");
    where.replaceChildren();
    if (ch.origin) line(where, "page", ch.origin);
    if (ch.clientIp) line(where, "from", ch.clientIp);
    if (ch.userAgent) line(where, "browser", ch.userAgent);
    line(where, "challenge", ch.challengeId + " (" + ch.method + ")");
    if (ch.method === "IN_APP") line(where, "via", "the app's own channel: answered with one signature, never fetched");
    line(where, "expires", dateTime(new Date(ch.expiresAt)));
    $("ch-code").value = "";
    show("code-label", ch.verificationCodeRequired);
    show("challenge-section", true);
    if (ch.verificationCodeRequired) $("ch-code").focus();
  }

  // dateTime is the one date format of the demo (its pages and the
  // terminal phone): local "2006-01-02 15:04:05".
  function dateTime(d) {
    const two = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  // summary says what a challenge without details asks (a QR sign-in):
  // the action, and where it comes from, which the lines below detail.
  function summary(ch) {
    const verb = ch.action === "signIn" ? "Sign in" : "Approve " + ch.action;
    return verb + (ch.origin ? " on " + ch.origin : ch.clientIp ? " from " + ch.clientIp : "");
  }

  function closeChallenge() {
    current = null;
    delete root.dataset.open;
    show("challenge-section", false);
  }

  async function answer(decision, denyReason) {
    if (!current) return;
    const code = $("ch-code").value.trim();
    if (decision === "approve" && current.verificationCodeRequired && !code) {
      throw new Error("Type the code shown on the other screen.");
    }
    const ch = current;
    try {
      const res = await phone.respond(ch, decision, { verificationCode: code, denyReason });
      say((decision === "approve" ? "Approved" : "Denied") + ": " + ch.challengeId + " is " + res.state + ".");
      root.dataset.last = res.state;
      closeChallenge();
    } catch (e) {
      if (e.code === "challenge_closed" || e.state === "FAILED") closeChallenge();
      throw e;
    }
    await listPending(true);
  }

  async function remove() {
    try { await phone.remove(); } catch (e) {
      if (e.status !== 401 && e.status !== 404) throw e; // already unknown to the server
    }
    await P.store.forget();
    say("This phone is removed from the account and its key is deleted.");
    await refreshView();
  }

  async function forgetOther() {
    await P.store.forget();
    say("Forgot the other server's phone.");
    await refreshView();
  }

  $("get-token").addEventListener("click", run(getToken));
  $("register").addEventListener("click", run(register));
  $("refresh-pending").addEventListener("click", run(() => listPending(false)));
  $("claim").addEventListener("click", run(claim));
  $("approve").addEventListener("click", run(() => answer("approve")));
  $("deny").addEventListener("click", run(() => answer("deny")));
  $("deny-not-me").addEventListener("click", run(() => answer("deny", "not_me")));
  $("close").addEventListener("click", closeChallenge);
  $("remove").addEventListener("click", run(remove));
  $("forget-other").addEventListener("click", run(forgetOther));

  if (!window.isSecureContext || !crypto.subtle || !window.indexedDB) {
    fail("This page needs WebCrypto and IndexedDB: open it over https, or at http://localhost / 127.0.0.1.");
    return;
  }
  const here = new URL(server);
  if (here.origin !== location.origin) {
    fail("Open this page at " + here.origin + "/phone: the phone talks to " + server + ", and signs for that host.");
  }
  refreshView().then(() => { root.dataset.ready = "1"; if (phone) return listPending(true); }).catch(fail);
})();
