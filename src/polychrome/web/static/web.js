// The colorizing page: photos chosen, dropped or pasted are kept in this tab only; each is sent to
// POST /api/colorize, reduced to a preview size while the controls are moved (so an answer comes within a
// second) and whole, at full resolution, for the download. The server keeps nothing between requests.
// A video is sent to POST /api/videos and followed with GET /api/videos/{id} until it can be downloaded.
// Color hints are kept per photo as fractions of its width and height, so the same hint holds on the
// reduced preview, on the full-size download and however large the photo is shown; with them, how they act
// (spread over their region, or through the hint network), offered as far as GET /api/health says the
// server can.
"use strict";

(() => {
  const PREVIEW_PIXELS = 1_200_000;  // photos larger than this are previewed reduced to it
  const DEBOUNCE_MS = 120;
  const MAX_HINTS = 100;
  const CLICK_PIXELS = 5;
  const POLL_MS = 300;  // a press that moves less than this is a click (a hint), more a drag (compare)
  const $ = (id) => document.getElementById(id);
  const ui = {
    files: $("files"), drop: $("drop"), message: $("message"), work: $("work"), compare: $("compare"),
    before: $("before"), after: $("after"), split: $("split"), saturation: $("saturation"),
    temperature: $("temperature"), renderSize: $("render-size"), format: $("format"),
    download: $("download"), gallery: $("gallery"), timing: $("timing"), limits: $("limits"),
    hintMode: $("hint-mode"), hintColor: $("hint-color"), hintMethod: $("hint-method"), hints: $("hints"),
    marks: $("marks"),
  };
  const film = {
    section: $("films"), file: $("video-file"), note: $("video-note"), progress: $("video-progress"),
    status: $("video-status"), download: $("video-download"), cancel: $("video-cancel"),
    saturation: $("video-saturation"), temperature: $("video-temperature"),
  };
  const photos = [];
  let current = null;
  let limits = null;
  let timer = 0;
  let inFlight = false;
  let hinting = false;
  let press = null;
  let filmJob = null;  // the video being followed
  let filmName = "";  // where a press on the photo began while hinting: a click adds a hint, a drag compares

  function setState(state, message = "") {
    document.body.dataset.state = state;
    ui.message.textContent = message;
  }

  function settings() {
    return {
      saturation: ui.saturation.value, temperature: ui.temperature.value,
      render_size: ui.renderSize.value,
    };
  }

  function showSettings(photo) {
    ui.saturation.value = photo.settings.saturation;
    ui.temperature.value = photo.settings.temperature;
    ui.renderSize.value = photo.settings.render_size;
    showValues();
    showHints(photo);
  }

  // The hints as POST /api/colorize takes them: fractions (decimals strictly inside 0..1, which the API
  // reads as fractions) of the upright photo's width and height, and how they act.
  function hintFields(photo) {
    if (!photo.hints.length) return {};
    return {
      hints: JSON.stringify(photo.hints.map(({ x, y, color }) => ({ x, y, color }))),
      hint_method: photo.hintMethod,
    };
  }

  function fraction(value) {
    return Math.min(0.99999, Math.max(0.00001, Math.round(value * 1e5) / 1e5));
  }

  // The photo's own pixel size: the original's where the browser decoded it, else the server's answer,
  // which is the photo at full size.
  function pixelSize(photo) {
    return photo.size || { width: ui.after.naturalWidth, height: ui.after.naturalHeight };
  }

  function showHints(photo) {
    ui.hintMethod.value = photo.hintMethod;
    ui.hints.replaceChildren();
    ui.marks.replaceChildren();
    const { width, height } = pixelSize(photo);
    photo.hints.forEach((hint, index) => {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.style.left = `${hint.x * 100}%`;
      mark.style.top = `${hint.y * 100}%`;
      mark.style.background = hint.color;
      ui.marks.append(mark);
      const item = document.createElement("li");
      const color = document.createElement("input");
      color.type = "color";
      color.value = hint.color;
      color.setAttribute("aria-label", `color of hint ${index + 1}`);
      color.addEventListener("input", () => {
        hint.color = color.value;
        mark.style.background = hint.color;
        schedule();
      });
      const where = document.createElement("span");
      where.textContent = `at ${Math.floor(hint.x * width)}, ${Math.floor(hint.y * height)}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "remove";
      remove.setAttribute("aria-label", `remove hint ${index + 1}`);
      remove.addEventListener("click", () => {
        photo.hints.splice(photo.hints.indexOf(hint), 1);
        showHints(photo);
        schedule();
      });
      item.append(color, where, remove);
      ui.hints.append(item);
    });
  }

  // A hint where the photo was clicked, at the centre of the shown pixel under the pointer.
  function addHint(event) {
    const photo = current;
    if (!photo || photo.failed || !ui.after.naturalWidth) return;
    if (photo.hints.length >= MAX_HINTS) return setState("error", `at most ${MAX_HINTS} hints a photo`);
    const box = ui.after.getBoundingClientRect();
    const along = (offset, length, pixels) =>
      fraction((Math.min(pixels - 1, Math.max(0, Math.floor((offset / length) * pixels))) + 0.5) / pixels);
    photo.hints.push({
      x: along(event.clientX - box.left, box.width, ui.after.naturalWidth),
      y: along(event.clientY - box.top, box.height, ui.after.naturalHeight),
      color: ui.hintColor.value,
    });
    showHints(photo);
    schedule();
  }

  function setHinting(on) {
    hinting = on;
    ui.hintMode.setAttribute("aria-pressed", String(on));
    ui.compare.classList.toggle("hinting", on);
  }

  function showValues() {
    $("saturation-value").textContent = Number(ui.saturation.value).toFixed(2);
    $("temperature-value").textContent = Number(ui.temperature.value).toFixed(2);
  }

  // One request to the API; resolves to the image blob and the server's timings, rejects with its one-line
  // error.
  async function colorize(blob, name, options) {
    const form = new FormData();
    form.append("image", blob, name);
    for (const [key, value] of Object.entries(options)) form.append(key, value);
    const response = await fetch("/api/colorize", { method: "POST", body: form, cache: "no-store" });
    if (!response.ok) throw new Error(await reasonOf(response));
    return { blob: await response.blob(), timing: response.headers.get("Server-Timing") || "",
             disposition: response.headers.get("Content-Disposition") || "" };
  }

  async function reasonOf(response) {
    try {
      return (await response.json()).error || response.statusText;
    } catch {
      return response.statusText;  // not JSON: the status says it
    }
  }

  // A JPEG of the photo at most PREVIEW_PIXELS large, upright; the file itself when it is small enough or
  // the browser cannot decode it (the server reads more formats than the browser shows, TIFF among them).
  async function previewOf(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return { blob: file, shown: false, size: null };
    }
    const pixels = bitmap.width * bitmap.height;
    const size = { width: bitmap.width, height: bitmap.height };
    if (pixels <= PREVIEW_PIXELS) {
      bitmap.close();
      return { blob: file, shown: true, size };
    }
    const scale = Math.sqrt(PREVIEW_PIXELS / pixels);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    return { blob, shown: true, size };
  }

  function tooLarge(file) {
    return limits && file.size > limits.max_upload_bytes;
  }

  async function addFiles(fileList) {
    const files = Array.from(fileList || []);
    let first = null;
    for (const file of files) {
      const photo = {
        file, name: file.name || "pasted.png", settings: settings(), before: "", after: "", failed: "",
        preview: null, item: null, dirty: true, hints: [], hintMethod: ui.hintMethod.value, size: null,
      };
      photos.push(photo);
      addToGallery(photo);
      if (tooLarge(photo.file)) {
        fail(photo, `${photo.name} is over the ${(limits.max_upload_bytes / 1048576).toFixed(0)} MB limit`);
        continue;
      }
      first = first || photo;
    }
    if (first) select(first);
  }

  function addToGallery(photo) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.title = photo.name;
    const img = document.createElement("img");
    img.alt = photo.name;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = photo.name;
    button.append(img, name);
    button.addEventListener("click", () => select(photo));
    item.append(button);
    ui.gallery.append(item);
    photo.item = item;
  }

  function fail(photo, reason) {
    photo.failed = reason;
    photo.dirty = false;
    photo.item.classList.add("failed");
    if (photo === current) {
      ui.work.hidden = true;
      setState("error", reason);
    }
  }

  function select(photo) {
    current = photo;
    for (const li of ui.gallery.children) {
      li.firstElementChild.setAttribute("aria-current", String(li === photo.item));
    }
    if (photo.failed) {
      ui.work.hidden = true;
      return setState("error", photo.failed);
    }
    showSettings(photo);
    ui.work.hidden = false;
    ui.before.src = photo.before || "";
    ui.after.src = photo.after || photo.before || "";
    if (photo.after && !photo.dirty) setState("ready", "");
    else setState("working", `coloring ${photo.name}...`);
    pump();
  }

  // One request at a time: the shown photo's latest controls first, then the other photos of this visit
  // not colored yet, so the gallery fills in while the first one is looked at.
  async function pump() {
    if (inFlight) return;
    const photo = current && current.dirty ? current : photos.find((p) => p.dirty);
    if (!photo) return;
    inFlight = true;
    try {
      await render(photo);
    } finally {
      inFlight = false;
    }
    pump();
  }

  async function render(photo) {
    photo.dirty = false;
    const options = { ...photo.settings, format: "jpeg" };
    if (photo === current) setState("working", `coloring ${photo.name}...`);
    try {
      if (!photo.preview) {
        photo.preview = await previewOf(photo.file);
        photo.size = photo.preview.size;
        if (photo.preview.shown) photo.before = URL.createObjectURL(photo.preview.blob);
      }
      if (!photo.before) {  // a format the browser cannot show: the server shows its lightness instead
        const gray = await colorize(photo.preview.blob, photo.name, { ...options, saturation: 0 });
        photo.before = URL.createObjectURL(gray.blob);
      }
      const result = await colorize(photo.preview.blob, photo.name, { ...options, ...hintFields(photo) });
      if (photo.after) URL.revokeObjectURL(photo.after);
      photo.after = URL.createObjectURL(result.blob);
      photo.timing = describeTiming(result.timing);
      photo.item.querySelector("img").src = photo.after;
      if (photo === current && !photo.dirty) {
        ui.before.src = photo.before;
        ui.after.src = photo.after;
        await ui.after.decode().catch(() => {});
        ui.timing.textContent = photo.timing;
        showHints(photo);  // the shown pixel size is known now for a photo the browser could not decode
        setState("ready", "");
      }
    } catch (err) {
      fail(photo, `${photo.name}: ${err.message}`);
    }
  }

  function describeTiming(header) {
    const parts = header.split(",").map((p) => p.trim().match(/^(\w+);dur=(\d+)/)).filter(Boolean);
    const total = parts.reduce((sum, m) => sum + Number(m[2]), 0);
    return parts.length ? `preview colored in ${total} ms (${parts.map((m) => `${m[1]} ${m[2]}`).join(", ")})` : "";
  }

  function schedule() {
    showValues();
    if (!current || current.failed) return;
    current.settings = settings();
    current.dirty = true;
    setState("working", `coloring ${current.name}...`);
    clearTimeout(timer);
    timer = setTimeout(pump, DEBOUNCE_MS);
  }

  async function download() {
    const photo = current;
    if (!photo) return;
    ui.download.disabled = true;
    setState("working", `coloring ${photo.name} at full size...`);
    try {
      const options = { ...settings(), format: ui.format.value, ...hintFields(photo) };
      const result = await colorize(photo.file, photo.name, options);
      const match = /filename="([^"]+)"/.exec(result.disposition);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(result.blob);
      link.download = match ? match[1] : "colorized";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      setState("ready", `downloaded ${link.download}`);
    } catch (err) {
      setState("error", `${photo.name}: ${err.message}`);
    } finally {
      ui.download.disabled = false;
    }
  }

  function setSplit(percent) {
    const value = Math.min(100, Math.max(0, percent));
    ui.compare.style.setProperty("--split", `${value}%`);
    ui.split.value = String(Math.round(value));
  }

  function dragTo(event) {
    const box = ui.compare.getBoundingClientRect();
    setSplit(((event.clientX - box.left) / box.width) * 100);
  }

  ui.compare.addEventListener("pointerdown", (event) => {
    ui.compare.setPointerCapture(event.pointerId);
    if (hinting) press = { x: event.clientX, y: event.clientY, dragged: false };
    else dragTo(event);
  });
  ui.compare.addEventListener("pointermove", (event) => {
    if (!ui.compare.hasPointerCapture(event.pointerId)) return;
    if (press && !press.dragged) {
      if (Math.hypot(event.clientX - press.x, event.clientY - press.y) < CLICK_PIXELS) return;
      press.dragged = true;
    }
    dragTo(event);
  });
  ui.compare.addEventListener("pointerup", (event) => {
    if (press && !press.dragged) addHint(event);
    press = null;
  });
  ui.compare.addEventListener("pointercancel", () => { press = null; });
  ui.hintMode.addEventListener("click", () => setHinting(!hinting));
  ui.hintMethod.addEventListener("change", () => {
    if (!current) return;
    current.hintMethod = ui.hintMethod.value;
    if (current.hints.length) schedule();  // without hints the method changes nothing
  });
  ui.compare.addEventListener("dragstart", (event) => event.preventDefault());  // no image drag instead
  ui.split.addEventListener("input", () => setSplit(Number(ui.split.value)));
  for (const control of [ui.saturation, ui.temperature]) control.addEventListener("input", schedule);
  ui.renderSize.addEventListener("change", schedule);
  ui.download.addEventListener("click", download);
  ui.files.addEventListener("change", () => { addFiles(ui.files.files); ui.files.value = ""; });
  document.addEventListener("paste", (event) => addFiles(event.clipboardData && event.clipboardData.files));
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    addFiles(event.dataTransfer && event.dataTransfer.files);
  });

  function filmState(state, message = "") {
    film.section.dataset.state = state;
    film.status.textContent = message;
  }

  function showFilms(films) {
    if (!films || !films.available) {
      film.file.disabled = true;
      film.note.textContent = films ? `Videos are off on this server: ${films.reason}`
        : "The server did not say whether it colors videos.";
      return filmState("off");
    }
    film.file.disabled = false;
    film.note.textContent = `Up to ${films.limits.max_seconds} s and `
      + `${(films.limits.max_upload_bytes / 1048576).toFixed(0)} MB; set the colors before choosing it.`;
    filmState("idle");
  }

  // The video is sent with its own controls; the answer is its job, followed from there.
  async function addVideo(file) {
    if (!file) return;
    filmJob = null;
    filmName = file.name;
    film.file.disabled = true;
    film.download.hidden = true;
    film.progress.hidden = false;
    film.progress.removeAttribute("value");  // indeterminate until the film's frames are known
    filmState("uploading", `sending ${file.name}...`);
    const form = new FormData();
    form.append("video", file, file.name);
    form.append("saturation", film.saturation.value);
    form.append("temperature", film.temperature.value);
    try {
      const response = await fetch("/api/videos", { method: "POST", body: form, cache: "no-store" });
      if (!response.ok) throw new Error(await reasonOf(response));
      filmJob = await response.json();
      film.cancel.hidden = false;
      follow(filmJob);
    } catch (err) {
      endFilm("error", `${file.name}: ${err.message}`);
    }
  }

  function follow(job) {
    if (!filmJob || filmJob.id !== job.id) return;  // cancelled, or another video chosen
    if (job.frames_total) {
      film.progress.max = job.frames_total;
      film.progress.value = job.frames_done;
    }
    if (job.state === "done") {
      film.download.href = job.result;
      film.download.hidden = false;
      const notes = job.warnings.length ? ` (${job.warnings.join("; ")})` : "";
      return endFilm("done", `${job.name}: ${job.frames_done} frames colored${notes}`);
    }
    if (job.state === "failed") return endFilm("error", `${job.name}: ${job.error}`);
    const total = job.frames_total ? ` of ${job.frames_total}` : "";
    filmState("working", job.state === "queued" ? `${job.name}: waiting its turn...`
      : `${job.name}: coloring, ${job.frames_done}${total} frames done...`);
    setTimeout(async () => {
      try {
        const response = await fetch(`/api/videos/${encodeURIComponent(job.id)}`, { cache: "no-store" });
        if (!response.ok) throw new Error(await reasonOf(response));
        follow(await response.json());
      } catch (err) {
        if (filmJob && filmJob.id === job.id) endFilm("error", `${job.name}: ${err.message}`);
      }
    }, POLL_MS);
  }

  function endFilm(state, message) {
    film.cancel.hidden = true;
    film.file.disabled = false;
    if (state !== "done") film.progress.hidden = true;
    filmState(state, message);
  }

  async function cancelFilm() {
    const job = filmJob;
    if (!job) return;
    filmJob = null;
    await fetch(`/api/videos/${encodeURIComponent(job.id)}`, { method: "DELETE" }).catch(() => {});
    endFilm("idle", `${job.name}: cancelled`);
  }

  for (const [control, shown, digits] of [[film.saturation, "video-saturation-value", 2],
    [film.temperature, "video-temperature-value", 2]]) {
    control.addEventListener("input", () => { $(shown).textContent = Number(control.value).toFixed(digits); });
  }
  film.file.addEventListener("change", () => { addVideo(film.file.files[0]); film.file.value = ""; });
  film.cancel.addEventListener("click", cancelFilm);
  // The server keeps a colored video until it is downloaded once.
  film.download.addEventListener("click", () => setTimeout(() => {
    film.download.hidden = true;
    film.progress.hidden = true;
    filmState("downloaded", `${filmName}: downloaded`);
  }, 0));

  // Only the hint methods the server's model can take are offered (a model of one's own may have no hint
  // network); the first of them is what "auto" gives it.
  function offerHintMethods(methods) {
    if (!methods) return;
    for (const option of ui.hintMethod.options) {
      option.disabled = !methods.includes(option.value);
      option.hidden = option.disabled;
    }
    const offered = [...ui.hintMethod.options].filter((option) => !option.disabled);
    if (!offered.length) return;
    if (ui.hintMethod.selectedOptions[0].disabled) ui.hintMethod.value = offered[0].value;
    for (const photo of photos) {
      if (!methods.includes(photo.hintMethod)) photo.hintMethod = ui.hintMethod.value;
    }
  }

  fetch("/api/health", { cache: "no-store" })
    .then((response) => response.json())
    .then((health) => {
      limits = health.limits;
      ui.limits.textContent = `Up to ${(limits.max_upload_bytes / 1048576).toFixed(0)} MB and `
        + `${(limits.max_pixels / 1e6).toFixed(0)} megapixels a photo; model ${health.model}.`;
      for (const option of ui.renderSize.options) option.disabled = Number(option.value) > limits.max_render_size;
      showFilms(health.films);
      offerHintMethods(health.hint_methods);
    })
    .catch(() => showFilms(null));
  setSplit(50);
})();
