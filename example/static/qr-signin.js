// qr-signin.js — "Sign in with your phone" on the example's sign-in page:
// DeviceAuth.qrSignIn (the script deviceauth serves at
// /deviceauth/v1/deviceauth.js) shows a QR code, waits for a phone to claim
// and approve it, and completes the sign-in; then we go to the dashboard.
(function () {
  "use strict";
  const box = document.getElementById("qr-signin");
  if (!box || !window.DeviceAuth) return;
  const $ = (id) => document.getElementById(id);
  const says = {
    UNCLAIMED: "Waiting for your phone to scan the code.",
    PENDING: "Scanned. Type the code below on your phone, then approve.",
    APPROVED: "Approved: signing you in…",
    CONSUMED: "Signed in.",
    DENIED: "Denied on the phone. Press Refresh to try again.",
    FAILED: "Too many wrong codes. Press Refresh to try again.",
    EXPIRED: "The code expired. Press Refresh for a new one.",
    SUPERSEDED: "This code was replaced. Press Refresh.",
  };

  const qr = DeviceAuth.qrSignIn({
    base: box.dataset.base,
    onChallenge: function (c) {
      $("qr-image").src = c.image;
      $("qr-image").dataset.payload = c.payload; // for tests, and for the phone simulator
      $("qr-payload").textContent = c.payload;
      $("qr-code").textContent = c.verificationCode || "";
      $("qr-error").textContent = "";
      box.dataset.challenge = c.challengeId;
    },
    onState: function (s) {
      box.dataset.state = s;
      $("qr-state").textContent = says[s] || s;
    },
    onSignedIn: function () { location.assign("/"); },
    onError: function (e) {
      $("qr-error").textContent = e.message + (e.code ? " (" + e.code + ")" : "");
    },
  });
  $("qr-refresh").addEventListener("click", function () { qr.refresh(); });
})();
