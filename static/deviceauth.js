// deviceauth.js — the browser side of deviceauth's QR sign-in, and of a
// page that waits for a phone's answer, served by the deviceauth handler at
// <mount>/v1/deviceauth.js. No build step, no framework. Usage:
//
//   <img id="qr"> <span id="code"></span> <span id="state"></span>
//   <script src="/deviceauth/v1/deviceauth.js"></script>
//   <script>
//     const qr = DeviceAuth.qrSignIn({base: "/deviceauth", action: "signIn",
//       onChallenge: c => { qr_img.src = c.image; code.textContent = c.verificationCode; },
//       onState: s => { state.textContent = s; },
//       onSignedIn: () => location.assign("/") });
//     refreshButton.onclick = () => qr.refresh();
//   </script>
//
// and on an "approve on your phone" page (the challenge of a gated request):
//
//     DeviceAuth.waitChallenge({base: "/deviceauth", challengeId: id,
//       onState: s => { if (s === "APPROVED") continueForm.submit(); } });
(function (global) {
  "use strict";

  const FINAL = ["CONSUMED", "DENIED", "FAILED", "EXPIRED", "SUPERSEDED"];

  async function call(method, url, body) {
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // A proxy's error page is not JSON: keep the status, not a SyntaxError.
    const data = res.status === 204 ? {} : await res.json().catch(function () { return {}; });
    if (!res.ok) {
      const err = new Error(data.message || res.statusText);
      err.code = data.error;
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // pollState long-polls url (?since=S&wait=25s) while alive() is true,
  // calling onChange (which may return a promise) with each new state, until
  // APPROVED or a final state.
  async function pollState(url, since, alive, onChange, onError) {
    while (alive()) {
      let st;
      try {
        st = await call("GET", url + "?since=" + encodeURIComponent(since) + "&wait=25s");
      } catch (e) {
        // A refusal (404: not this browser's challenge) ends the wait; a
        // network error, 429 or 5xx is retried after a pause, or the page
        // would wait forever for a state it no longer watches.
        if (e.status && e.status < 500 && e.status !== 429) { onError(e); return; }
        await new Promise(function (resolve) { setTimeout(resolve, 3000); });
        continue;
      }
      if (st.state !== since && alive()) {
        since = st.state;
        await onChange(since);
        if (FINAL.includes(since) || since === "APPROVED") return;
      }
    }
  }

  // waitChallenge watches a challenge of the signed-in user (a gated
  // request's, from its challenge_required answer) by long-polling
  // GET <base>/v1/web/challenges/{id}: onState gets each new state until
  // APPROVED or a final one. It only reports; the page then retries the
  // request with its token. It returns {stop()}.
  function waitChallenge(opts) {
    const base = (opts.base || "/deviceauth").replace(/\/$/, "");
    const onState = opts.onState || function () {};
    const onError = opts.onError || function (e) { console.error("deviceauth:", e); };
    let stopped = false;
    pollState(base + "/v1/web/challenges/" + encodeURIComponent(opts.challengeId), opts.state || "PENDING",
      function () { return !stopped; }, onState, onError);
    return { stop: function () { stopped = true; } };
  }

  // qrSignIn creates a QR challenge, watches it (server-sent events, or
  // long-polling where EventSource fails) and completes the sign-in with a
  // POST once the phone approved. It returns {refresh(), stop()}.
  function qrSignIn(opts) {
    const base = (opts.base || "/deviceauth").replace(/\/$/, "");
    const onChallenge = opts.onChallenge || function () {};
    const onState = opts.onState || function () {};
    const onSignedIn = opts.onSignedIn || function () {};
    const onError = opts.onError || function (e) { console.error("deviceauth:", e); };
    let current = null;
    let source = null;
    let stopped = false;
    let generation = 0;

    function stopWatching() {
      if (source) { source.close(); source = null; }
    }

    async function handle(state, gen) {
      if (gen !== generation || stopped) return;
      onState(state);
      if (state === "APPROVED") {
        stopWatching();
        try {
          await call("POST", base + "/v1/qr/" + current.challengeId + "/complete");
          onState("CONSUMED");
          onSignedIn();
        } catch (e) { onError(e); }
      } else if (FINAL.includes(state)) {
        stopWatching();
      }
    }

    function longPoll(gen, since) {
      return pollState(base + "/v1/qr/" + current.challengeId, since,
        function () { return gen === generation && !stopped; },
        function (st) { return handle(st, gen); }, onError);
    }

    function watch(gen) {
      if (typeof EventSource === "undefined" || opts.longPoll) {
        longPoll(gen, current.state);
        return;
      }
      let last = current.state;
      let opened = false;
      source = new EventSource(base + "/v1/qr/" + current.challengeId + "/events", { withCredentials: true });
      source.addEventListener("state", function (ev) {
        opened = true;
        const st = JSON.parse(ev.data).state;
        if (st !== last) { last = st; handle(st, gen); }
      });
      source.onerror = function () {
        stopWatching();
        if (gen === generation && !stopped && !FINAL.includes(last)) longPoll(gen, last);
      };
      void opened;
    }

    async function start(replaces) {
      const gen = ++generation;
      stopWatching();
      try {
        const body = { action: opts.action || "signIn" };
        if (replaces) body.replaces = replaces;
        // The answer sets the challenge's own binding cookie: creations in
        // several tabs (or pages) at once do not disturb each other.
        current = await call("POST", base + "/v1/qr", body);
      } catch (e) { onError(e); return; }
      if (gen !== generation) return;
      onChallenge(current);
      onState(current.state);
      watch(gen);
    }

    start();
    return {
      refresh: function () { return start(current && current.challengeId); },
      stop: function () { stopped = true; stopWatching(); },
      challenge: function () { return current; },
    };
  }

  global.DeviceAuth = Object.assign(global.DeviceAuth || {}, { qrSignIn: qrSignIn, waitChallenge: waitChallenge, call: call });
})(window);
