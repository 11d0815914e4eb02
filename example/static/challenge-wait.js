// challenge-wait.js — the "approve on your phone" page goes on by itself:
// DeviceAuth.waitChallenge (deviceauth.js, served by the deviceauth
// handler) long-polls the challenge's state, and once the phone answers —
// approved, or denied, expired, … — the page posts its Continue form, so
// the server either does what was asked or says in words why not.
//
// DeviceAuth.continueOnce posts that form at most once, whoever asks first
// (this script, the passkey button, or the user's own click), so that a
// second post never uses up what the first one did.
(function () {
  "use strict";
  const box = document.getElementById("approval");
  const form = document.getElementById("continue");
  if (!box || !form || !window.DeviceAuth) return;

  let sent = false;
  form.addEventListener("submit", function () { sent = true; });
  DeviceAuth.continueOnce = function () {
    if (sent) return;
    sent = true;
    form.submit();
  };

  const id = box.dataset.challengeId;
  if (!id || !DeviceAuth.waitChallenge) return;
  const says = {
    APPROVED: "Approved on your phone: going on…",
    DENIED: "Denied on your phone.",
    EXPIRED: "Expired.",
    FAILED: "Too many wrong codes.",
  };
  DeviceAuth.waitChallenge({
    base: "/deviceauth",
    challengeId: id,
    onState: function (state) {
      box.dataset.live = state;
      if (says[state]) document.getElementById("approval-state").textContent = says[state];
      if (state !== "PENDING") DeviceAuth.continueOnce();
    },
    onError: function () { /* Continue still works by hand */ },
  });
})();
