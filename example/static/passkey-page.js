// passkey-page.js — the demo's passkey buttons, on top of
// DeviceAuth.passkey (passkey.js, served by package passkey at
// /deviceauth/v1/passkey/passkey.js):
//
//   sign-in page    #passkey-signin  "Sign in with a passkey" (with a
//                                    username typed: username-first)
//   devices page    #passkey-add     "Add a passkey", with the
//                                    addAuthenticator step-up when needed
//   challenge page  #passkey-stepup  "Approve with a passkey", shown when the
//                                    challenge offers PASSKEY and the user
//                                    has a passkey; then the page's
//                                    Continue form (#continue) is posted
//                                    again with the token it carries.
(function () {
  "use strict";

  const pk = window.DeviceAuth && window.DeviceAuth.passkey;
  if (!pk || !pk.supported()) return; // passkeys off, or an old browser: nothing to show

  function $(id) { return document.getElementById(id); }

  // WebAuthn refuses IP addresses: the demo's passkeys live at localhost.
  const onIP = /^[0-9.]+$/.test(location.hostname) || location.hostname.startsWith("[");

  function say(id, text) {
    const el = $(id);
    if (el) el.textContent = text;
  }

  function describe(e) {
    if (e && e.name === "NotAllowedError") {
      return "No passkey was used: the prompt was cancelled or timed out, or this device has no passkey for this site.";
    }
    if (e && e.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    if (e && e.code === "invalid_assertion") return "That passkey was not accepted.";
    return (e && e.message) || String(e);
  }

  function ipHint(id) {
    say(id, "Passkeys need a domain name: open http://localhost:" + location.port + location.pathname);
  }

  // The sign-in page.
  const signin = $("passkey-signin");
  if (signin) {
    signin.hidden = false;
    const button = $("passkey-signin-button");
    if (onIP) {
      ipHint("passkey-signin-error");
      button.disabled = true;
    }
    button.addEventListener("click", async function () {
      say("passkey-signin-error", "");
      const field = document.querySelector('input[name="username"]');
      const name = field ? field.value.trim() : "";
      try {
        if (name) await pk.signInWithUsername(name);
        else await pk.signIn();
        location.assign("/");
      } catch (e) {
        say("passkey-signin-error", describe(e));
      }
    });
  }

  // The devices page.
  const add = $("passkey-add");
  if (add) {
    add.hidden = false;
    let token = ""; // of an addAuthenticator challenge approved on the phone
    const button = $("passkey-add-button");
    if (onIP) {
      ipHint("passkey-add-error");
      button.disabled = true;
    }
    async function register() {
      say("passkey-add-error", "");
      try {
        await pk.register({ name: $("passkey-name").value, token: token });
        location.assign("/devices");
      } catch (e) {
        if (e.code === "challenge_required" && e.body) {
          // Only a phone can approve (a passkey would have done it already).
          token = e.body.token;
          say("passkey-add-challenge-id", e.body.challengeId);
          say("passkey-add-code", e.body.verificationCode || "");
          $("passkey-add-challenge").hidden = false;
          return;
        }
        if (e.code === "challenge_failed") {
          say("passkey-add-error", "Not approved (yet): approve on your phone and press Continue again, or reload to start over.");
          return;
        }
        say("passkey-add-error", describe(e));
      }
    }
    button.addEventListener("click", register);
    $("passkey-add-continue").addEventListener("click", register);
  }

  // The challenge page of a gated request.
  const step = $("passkey-stepup");
  if (step && !onIP) {
    const id = step.dataset.challengeId;
    // Ask first: the button shows only when a passkey can answer.
    pk.stepUpOptions(id).then(function (options) {
      step.hidden = false;
      $("passkey-stepup-button").addEventListener("click", async function () {
        say("passkey-stepup-error", "");
        try {
          await pk.stepUp(id, { options: options });
          // The same request again, with the token (once: challenge-wait.js
          // may be posting it too, having seen the approval).
          if (window.DeviceAuth.continueOnce) window.DeviceAuth.continueOnce();
          else $("continue").submit();
        } catch (e) {
          say("passkey-stepup-error", describe(e));
        }
      });
    }, function () { /* no passkey for this challenge */ });
  }
})();
