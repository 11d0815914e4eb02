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

  const words = {
    rate_limited: "Too many attempts. Wait a minute, then press Refresh.",
    unavailable: "Something went wrong on our side. Press Refresh in a moment.",
    challenge_failed: "This sign-in was not approved for this browser. Press Refresh to try again.",
    not_found: "This code is no longer valid. Press Refresh for a new one.",
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
      // Words for the user; the API's code only in the console.
      $("qr-error").textContent = words[e.code] || "Something went wrong. Press Refresh to try again.";
      console.warn("deviceauth:", e.code, e.message);
    },
  });
  $("qr-refresh").addEventListener("click", function () { qr.refresh(); });
})();
