// deviceauth admin: decides reviews through the JSON API without leaving
// the page. The forms work without it (a POST, then back to the queue).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.decide")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const decision = event.submitter ? event.submitter.value : "";
      const out = form.querySelector(".outcome");
      for (const b of form.querySelectorAll("button")) b.disabled = true;
      try {
        const res = await fetch(form.dataset.api, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ decision, note: form.elements.note.value }),
        });
        const body = await res.json();
        if (!res.ok) throw new Error(body.message || body.error || String(res.status));
        out.textContent = body.action.review === "APPROVED" ? "Approved" : "Rejected";
        form.dataset.decided = body.action.review;
      } catch (err) {
        out.textContent = "Not decided: " + err.message;
        for (const b of form.querySelectorAll("button")) b.disabled = false;
      }
    });
  }
  // Tests wait for this: the script ran under the page's policy.
  document.body.dataset.script = "ready";
});
