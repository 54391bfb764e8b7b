// The participant's side of the Turing test: fetch a pair, time the choice from the moment both photos are
// on screen, send it, repeat until the server says this person is done. The server alone knows which side
// is real; the page only ever learns two opaque image addresses.
"use strict";

(() => {
  const pair = document.getElementById("pair");
  const progress = document.getElementById("progress");
  const message = document.getElementById("message");
  const instructions = document.getElementById("instructions");
  const buttons = { left: document.getElementById("left"), right: document.getElementById("right") };
  let trial = null;
  let shownAt = 0;

  function setState(state) {
    document.body.dataset.state = state;
    for (const button of Object.values(buttons)) button.disabled = state !== "ready";
    pair.classList.toggle("waiting", state !== "ready");
  }

  async function call(url, options = {}) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store", ...options });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function load(img, src) {
    return new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("a photo did not load"));
      img.src = src;
    });
  }

  function fail(err) {
    setState("error");
    message.textContent = `Something went wrong (${err.message}). Reload the page to go on.`;
  }

  function finish(state) {
    setState("done");
    pair.hidden = true;
    instructions.hidden = true;
    message.textContent = state.answered > 0
      ? `Thank you! You have answered all ${state.answered} pairs.`
      : "Thank you! There are no photos left to show you.";
  }

  async function next() {
    setState("loading");
    try {
      const state = await call("/api/trial");
      progress.textContent = `${state.answered} of ${state.total} answered`;
      if (state.done) return finish(state);
      trial = state.trial;
      await Promise.all([load(buttons.left.firstElementChild, state.left),
                         load(buttons.right.firstElementChild, state.right)]);
      shownAt = performance.now();
      setState("ready");
    } catch (err) {
      fail(err);
    }
  }

  async function answer(side) {
    if (document.body.dataset.state !== "ready") return;
    const responseMs = Math.round(performance.now() - shownAt);
    setState("sending");
    try {
      await call("/api/answer", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ trial, choice: side, response_ms: responseMs }),
      });
    } catch (err) {
      return fail(err);
    }
    next();
  }

  buttons.left.addEventListener("click", () => answer("left"));
  buttons.right.addEventListener("click", () => answer("right"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") answer("left");
    else if (event.key === "ArrowRight") answer("right");
  });
  next();
})();
