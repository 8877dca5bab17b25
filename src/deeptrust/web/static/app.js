/* deeptrust web page: check images, see why, correct the system. Vanilla JS, no dependencies, offline.
 *
 * API used: POST /v1/explain (one image), POST /v1/predict/batch (several), POST /v1/predict (fallback
 * when a model has no heatmap), POST /v1/feedback, GET /v1/models, GET /v1/review,
 * GET /v1/review/{id}/image, POST /v1/review/{id}, GET /v1/review/export. Errors: problem+json `detail`.
 *
 * Stable hooks for end-to-end tests (ids unless noted):
 *   #api-key          API key input (localStorage "deeptrust.apiKey"; sent as Authorization: Bearer)
 *   #tab-check #tab-review            the two tabs; #panel-check #panel-review their panels
 *   #file-input #choose-files #drop-zone   file picker (multiple), its button, drop target; paste anywhere
 *   #status           aria-live line: progress, errors, the verdict of a single check
 *   #result           single result: #verdict #model #p-ai (role=meter, aria-valuenow = p_ai,
 *                     data-threshold) #p-ai-text #evidence (li per entry, data-kind, data-signal)
 *                     #original #heatmap #opacity ("Heatmap opacity") #facts
 *   #wrong-button     opens #feedback for the single result
 *   #batch #results-table (th[data-key] buttons sort; tbody tr[data-testid=row-<i>])
 *                     [data-testid=wrong-<i>] per row, #download-csv
 *   #feedback         form: #correct-label (select) #feedback-comment #send-feedback #cancel-feedback
 *                     #feedback-status (aria-live)
 *   #review-list      li[data-testid=item-<id>] with [data-testid=approve-<id>], [data-testid=label-<id>]
 *                     (select), [data-testid=relabel-<id>]; #review-refresh #review-status #export-link
 */
"use strict";
(() => {
  const $ = (selector) => document.querySelector(selector);
  const KEY_STORE = "deeptrust.apiKey";
  const BATCH_MAX = 32; // the server's default DEEPTRUST_MAX_BATCH_IMAGES
  const state = { models: null, single: null, rows: [], sort: { key: "", dir: 1 }, target: null, urls: [], reviewUrls: [] };

  /* ---------- small helpers ---------- */

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...children.filter((c) => c !== null && c !== undefined));
    return el;
  }
  const fmtP = (p) => (typeof p === "number" ? p.toFixed(3) : "");
  const fmtBytes = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);
  const isAi = (r) => (r.verdict ? r.verdict.label !== "real" : r.p_ai >= r.threshold); // fused verdict
  const FUSED = { ai: "AI-generated, by its evidence", real: "A real photo, by its evidence", tampered: "Tampered Content Credentials" };
  function say(el, text, error) {
    el.textContent = text;
    el.classList.toggle("error", !!error);
  }
  function objectUrl(blob, bucket) {
    const url = URL.createObjectURL(blob);
    (bucket || state.urls).push(url);
    return url;
  }
  function revokeAll(bucket) {
    bucket.forEach((u) => URL.revokeObjectURL(u));
    bucket.length = 0;
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(status, message, type) {
      super(message);
      this.status = status;
      this.type = type || "";
    }
  }
  function headers(extra) {
    const key = localStorage.getItem(KEY_STORE);
    return Object.assign(key ? { Authorization: `Bearer ${key}` } : {}, extra || {});
  }
  async function api(path, { method = "GET", body, json, accept = "application/json" } = {}) {
    const hdrs = headers({ Accept: accept });
    if (json !== undefined) {
      hdrs["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(path, { method, headers: hdrs, body });
    } catch (err) {
      throw new ApiError(0, `Cannot reach the server (${err.message}).`);
    }
    if (res.ok) return res;
    let detail = `${res.status} ${res.statusText}`.trim();
    let type = "";
    try {
      const problem = await res.json();
      detail = problem.detail || problem.title || detail;
      type = problem.type || "";
    } catch (_) { /* not JSON: keep the status line */ }
    if (res.status === 401) detail += " Enter an API key (top right).";
    throw new ApiError(res.status, detail, type);
  }
  const getJson = async (path, options) => (await api(path, options)).json();

  async function loadModels() {
    if (state.models) return state.models;
    try {
      state.models = await getJson("/v1/models");
    } catch (_) {
      return null; // optional: class names then come from the result's scores
    }
    return state.models;
  }
  function classNames(result) {
    const cards = (state.models && state.models.models) || [];
    const card = cards.find((m) => result.model && m.name === result.model.name);
    if (card && card.class_names) return card.class_names;
    return Object.keys(result.scores || {});
  }
  function allClassNames() {
    const names = new Set();
    ((state.models && state.models.models) || []).forEach((m) => (m.class_names || []).forEach((c) => names.add(c)));
    return [...names];
  }

  /* ---------- checking images ---------- */

  function resetResults() {
    revokeAll(state.urls);
    $("#result").hidden = true;
    $("#batch").hidden = true;
    closeFeedback();
    state.single = null;
    state.rows = [];
  }

  async function check(fileList) {
    const files = [...fileList].filter((f) => !f.type || f.type.startsWith("image/"));
    if (!files.length) return say($("#status"), "No image files in that selection.", true);
    resetResults();
    $("#choose-files").disabled = true;
    $("#drop-zone").classList.add("busy");
    loadModels();
    try {
      if (files.length === 1) await checkOne(files[0]);
      else await checkMany(files);
    } catch (err) {
      say($("#status"), err.message, true);
    } finally {
      $("#choose-files").disabled = false;
      $("#drop-zone").classList.remove("busy");
    }
  }

  function upload(file, field) {
    const form = new FormData();
    form.append(field, file, file.name || "pasted-image.png");
    return form;
  }

  async function checkOne(file) {
    say($("#status"), `Checking ${file.name || "the pasted image"}…`);
    let data;
    let heatmap = true;
    try {
      data = await getJson("/v1/explain", { method: "POST", body: upload(file, "file") });
    } catch (err) {
      if (err.status !== 422 || !/no-heatmap/.test(err.type)) throw err;
      heatmap = false; // this model cannot explain itself; still give the verdict
      data = await getJson("/v1/predict", { method: "POST", body: upload(file, "file") });
    }
    showSingle(file, data, heatmap);
  }

  function verdictText(r) {
    const v = r.verdict;
    if (v && v.basis === "evidence") return `${FUSED[v.label] || v.label} (the pixels alone: ${r.label})`;
    return isAi(r) ? `Likely AI-generated (${r.label})` : `Looks like a real photo (${r.label})`;
  }

  function showSingle(file, r, heatmap) {
    state.single = { file, result: r };
    const verdict = $("#verdict");
    verdict.textContent = verdictText(r);
    verdict.className = isAi(r) ? "verdict-ai" : "verdict-real";
    $("#model").textContent = `Model ${r.model.name} ${r.model.version}`;
    const bar = $("#p-ai");
    bar.setAttribute("aria-valuenow", r.p_ai);
    bar.setAttribute("aria-valuetext", `p(AI) ${fmtP(r.p_ai)}, threshold ${fmtP(r.threshold)}`);
    bar.dataset.threshold = r.threshold;
    bar.classList.toggle("over", r.p_ai >= r.threshold); // the pixel score, whatever the verdict
    $("#p-ai-fill").style.width = `${(r.p_ai * 100).toFixed(1)}%`;
    $("#p-ai-threshold").style.left = `${(r.threshold * 100).toFixed(1)}%`;
    $("#p-ai-text").textContent = `p(AI) = ${fmtP(r.p_ai)}; threshold ${fmtP(r.threshold)} (at or above: AI)`;
    $("#original").src = objectUrl(file);
    const heat = $("#heatmap");
    heat.hidden = !heatmap;
    $("#opacity").disabled = !heatmap;
    $("#heatmap-note").textContent = heatmap
      ? "Red: evidence of AI generation. Blue: evidence of a real photo."
      : "This model gives no heatmap.";
    if (heatmap) heat.src = `data:image/png;base64,${r.heatmap_png}`;
    applyOpacity();
    showEvidence(r);
    showFacts(r);
    $("#result").hidden = false;
    $("#wrong-button").setAttribute("aria-expanded", "false");
    say($("#status"), `${verdictText(r)}: p(AI) ${fmtP(r.p_ai)} against threshold ${fmtP(r.threshold)}.`);
  }

  function showEvidence(r) {
    const items = (r.evidence || []).map((e) =>
      h("li", { "data-kind": e.kind, "data-signal": e.signal, class: `ev-${e.signal}` }, h("strong", { text: `${e.kind} · ${e.signal} · ${e.strength}: ` }), e.detail));
    if (r.verdict) items.push(h("li", { class: "muted", text: `Verdict rule ${r.verdict.rule}: ${r.verdict.reason}` }));
    if (!(r.evidence || []).length) items.unshift(h("li", { class: "muted", text: "No evidence beyond the pixels (no Content Credentials, IPTC source type or generator metadata)." }));
    $("#evidence").replaceChildren(...items);
  }

  function showFacts(r) {
    const im = r.image || {};
    const total = r.timings_ms && r.timings_ms.total;
    const facts = [
      ["Size", `${im.width} × ${im.height} px`],
      ["Format", im.format],
      ["Bytes", im.bytes !== undefined ? `${im.bytes.toLocaleString()} (${fmtBytes(im.bytes)})` : ""],
      ["SHA-256", im.sha256],
      ["Scores", Object.entries(r.scores || {}).map(([c, p]) => `${c} ${fmtP(p)}`).join(", ")],
      ["Time", total !== undefined ? `${Math.round(total)} ms` : ""],
      ["Request", r.request_id],
    ];
    $("#facts").replaceChildren(
      ...facts.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v, class: k === "SHA-256" ? "mono" : null })]),
    );
  }

  function applyOpacity() {
    $("#heatmap").style.opacity = $("#opacity").value / 100;
  }

  async function checkMany(files) {
    for (let start = 0; start < files.length; start += BATCH_MAX) {
      const chunk = files.slice(start, start + BATCH_MAX);
      say($("#status"), `Checking images ${start + 1}–${start + chunk.length} of ${files.length}…`);
      const form = new FormData();
      chunk.forEach((f) => form.append("files", f, f.name));
      const body = await getJson("/v1/predict/batch", { method: "POST", body: form });
      body.results.forEach((item, i) => state.rows.push(toRow(chunk[i], item, start + i)));
      renderTable();
      $("#batch").hidden = false;
    }
    const failed = state.rows.filter((r) => !r.ok).length;
    const ai = state.rows.filter((r) => r.ok && isAi(r.result)).length;
    say($("#status"), `Checked ${state.rows.length} images: ${ai} likely AI-generated, ${failed} could not be read.`);
  }

  function toRow(file, item, index) {
    const r = item.ok ? item.result || item : null; // the result may be nested or inline
    const im = (r && r.image) || {};
    return {
      index,
      file,
      ok: !!item.ok,
      result: r,
      filename: item.filename || file.name,
      label: r ? r.label : "",
      verdict: r && r.verdict ? r.verdict.label : "",
      p_ai: r ? r.p_ai : null,
      threshold: r ? r.threshold : null,
      size: im.width ? im.width * im.height : null,
      width: im.width,
      height: im.height,
      bytes: im.bytes !== undefined ? im.bytes : file.size,
      error: item.ok ? "" : (item.error && (item.error.detail || item.error.title)) || "failed",
      thumb: objectUrl(file),
    };
  }

  function renderTable() {
    const { key, dir } = state.sort;
    const rows = [...state.rows];
    if (key) {
      rows.sort((a, b) => {
        const x = a[key];
        const y = b[key];
        if (x === y) return a.index - b.index;
        if (x === null || x === undefined || x === "") return 1; // blanks last either way
        if (y === null || y === undefined || y === "") return -1;
        return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
      });
    }
    document.querySelectorAll("#results-table th[data-key]").forEach((th) => {
      th.setAttribute("aria-sort", th.dataset.key === key ? (dir > 0 ? "ascending" : "descending") : "none");
    });
    $("#results-table tbody").replaceChildren(...rows.map(tableRow));
  }

  function tableRow(row) {
    const r = row.result;
    const labelCell = row.ok
      ? h("td", { class: isAi(r) ? "verdict-ai" : "verdict-real", text: row.verdict ? `${row.verdict} (${row.label})` : row.label, title: r.verdict ? r.verdict.reason : null })
      : h("td", { class: "error", text: row.error });
    const wrong = row.ok
      ? h("button", { type: "button", class: "secondary small", "data-testid": `wrong-${row.index}`, text: "Wrong?", "aria-label": `Wrong? ${row.filename}`, onclick: () => openFeedback(row.file, r) })
      : null;
    return h(
      "tr",
      { "data-testid": `row-${row.index}` },
      h("td", {}, row.ok ? h("img", { src: row.thumb, alt: "", class: "thumb", loading: "lazy" }) : null),
      h("td", { class: "name", text: row.filename }),
      labelCell,
      h("td", { class: "num", text: row.ok ? fmtP(row.p_ai) : "" }),
      h("td", { class: "num wide", text: row.width ? `${row.width}×${row.height}` : "" }),
      h("td", { class: "num wide", text: row.bytes !== undefined ? fmtBytes(row.bytes) : "" }),
      h("td", {}, wrong),
    );
  }

  function sortBy(key) {
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderTable();
  }

  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`; // no formulas in spreadsheets
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function downloadCsv() {
    const cols = ["filename", "ok", "label", "p_ai", "threshold", "model", "model_version", "width", "height", "format", "bytes", "sha256", "error", "verdict", "verdict_rule", "evidence"];
    const lines = [cols.join(",")];
    for (const row of state.rows) {
      const r = row.result || {};
      const im = r.image || {};
      const m = r.model || {};
      const v = r.verdict || {};
      const ev = (r.evidence || []).map((e) => `${e.kind}:${e.signal}:${e.strength}`).join(" ");
      const values = [row.filename, row.ok, row.label, r.p_ai, r.threshold, m.name, m.version, im.width, im.height, im.format, row.bytes, im.sha256, row.error, v.label, v.rule, ev];
      lines.push(values.map(csvCell).join(","));
    }
    const link = h("a", { href: objectUrl(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" })), download: "deeptrust-results.csv" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /* ---------- feedback ("Wrong?") ---------- */

  async function openFeedback(file, result) {
    state.target = { file, result };
    await loadModels();
    const others = classNames(result).filter((c) => c !== result.label);
    $("#correct-label").replaceChildren(...others.map((c) => h("option", { value: c, text: c })));
    $("#feedback-about").textContent = `${file.name || "Pasted image"}: the model said ${result.label} (p(AI) ${fmtP(result.p_ai)}).`;
    $("#feedback-comment").value = "";
    say($("#feedback-status"), "");
    $("#send-feedback").disabled = false;
    $("#feedback").hidden = false;
    $("#wrong-button").setAttribute("aria-expanded", String(state.single && state.single.file === file));
    $("#correct-label").focus();
  }

  function closeFeedback() {
    $("#feedback").hidden = true;
    $("#wrong-button").setAttribute("aria-expanded", "false");
    state.target = null;
  }

  async function sendFeedback(event) {
    event.preventDefault();
    const target = state.target;
    if (!target) return;
    const r = target.result;
    const form = upload(target.file, "file");
    form.append("predicted_label", r.label);
    form.append("corrected_label", $("#correct-label").value);
    form.append("p_ai", String(r.p_ai));
    form.append("model_version", r.model.version);
    const comment = $("#feedback-comment").value.trim();
    if (comment) form.append("comment", comment);
    $("#send-feedback").disabled = true;
    say($("#feedback-status"), "Sending…");
    try {
      const body = await getJson("/v1/feedback", { method: "POST", body: form });
      say($("#feedback-status"), `Thank you: sent for review as item #${body.id} (${body.status}).`);
    } catch (err) {
      say($("#feedback-status"), err.message, true);
      $("#send-feedback").disabled = false;
    }
  }

  /* ---------- review (moderators) ---------- */

  async function loadReview() {
    const status = $("#review-status");
    say(status, "Loading the review queue…");
    revokeAll(state.reviewUrls);
    $("#review-list").replaceChildren();
    await loadModels();
    let body;
    try {
      body = await getJson("/v1/review?status=pending&limit=50");
    } catch (err) {
      const hint = err.status === 403 ? "Review needs the moderator role: enter a moderator API key (top right)." : err.message;
      return say(status, hint, true);
    }
    const items = body.items || [];
    $("#review-list").replaceChildren(...items.map(reviewItem));
    const total = typeof body.total === "number" ? body.total : items.length;
    const more = total > items.length ? ` (the first ${items.length} shown)` : "";
    say(status, total ? `${total} ${total === 1 ? "item" : "items"} waiting for review${more}.` : "Nothing waiting for review.");
    loadThumbnails(items);
  }

  function reason(item) {
    if (item.origin === "flag") return `Flagged: a user says ${item.corrected_label}; the model said ${item.predicted_label}`;
    return `Borderline: the model said ${item.predicted_label}, close to the threshold`;
  }

  function reviewItem(item) {
    const labels = new Set([...allClassNames(), item.predicted_label, item.corrected_label].filter(Boolean));
    const keep = item.corrected_label || item.predicted_label;
    const other = [...labels].find((c) => c !== keep); // relabelling to what approve gives is pointless
    const select = h("select", { "data-testid": `label-${item.id}`, id: `label-${item.id}`, "aria-label": `New label for item ${item.id}` },
      ...[...labels].map((c) => h("option", { value: c, text: c, selected: c === other })));
    const when = item.created_at ? new Date(item.created_at).toLocaleString() : "";
    return h(
      "li",
      { "data-testid": `item-${item.id}`, class: "review-item" },
      h("img", { class: "thumb big", alt: `Image of item ${item.id}`, "data-id": item.id }),
      h(
        "div",
        { class: "review-body" },
        h("p", { class: "reason", text: reason(item) }),
        h("p", { class: "muted", text: `#${item.id} · p(AI) ${fmtP(item.p_ai)} · threshold ${fmtP(item.threshold)} · model ${item.model_version} · ${when}` }),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", "data-testid": `approve-${item.id}`, text: `Approve as ${keep}`, onclick: () => decide(item, "approve") }),
          select,
          h("button", { type: "button", class: "secondary", "data-testid": `relabel-${item.id}`, text: "Relabel", onclick: () => decide(item, "relabel", select.value) }),
        ),
      ),
    );
  }

  async function loadThumbnails(items) {
    const queue = [...items];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const img = document.querySelector(`#review-list img[data-id="${item.id}"]`);
        try {
          // fetch, not <img src>: the image needs the Authorization header
          const res = await api(item.image_url || `/v1/review/${item.id}/image`, { accept: "image/*" });
          if (img) img.src = objectUrl(await res.blob(), state.reviewUrls);
        } catch (_) {
          if (img) img.alt = `Image of item ${item.id} is not available`;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async function decide(item, action, label) {
    const li = document.querySelector(`[data-testid="item-${item.id}"]`);
    li.querySelectorAll("button, select").forEach((el) => (el.disabled = true));
    try {
      const updated = await getJson(`/v1/review/${item.id}`, { method: "POST", json: label ? { action, label } : { action } });
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      const verb = action === "approve" ? "approved" : "relabelled";
      say($("#review-status"), `Item #${item.id} ${verb} as ${updated.final_label || label || ""}.`);
      const focusTarget = next && next.querySelector("button");
      (focusTarget || $("#review-refresh")).focus();
    } catch (err) {
      li.querySelectorAll("button, select").forEach((el) => (el.disabled = false));
      say($("#review-status"), err.message, true);
    }
  }

  async function downloadExport(event) {
    event.preventDefault();
    say($("#review-status"), "Preparing the export…");
    try {
      const blob = await (await api("/v1/review/export", { accept: "application/gzip" })).blob();
      const link = h("a", { href: objectUrl(blob, state.reviewUrls), download: "deeptrust-reviewed.tar.gz" });
      document.body.append(link);
      link.click();
      link.remove();
      say($("#review-status"), `Export downloaded (${fmtBytes(blob.size)}).`);
    } catch (err) {
      say($("#review-status"), err.message, true);
    }
  }

  /* ---------- tabs, key, wiring ---------- */

  function selectTab(name, focus) {
    for (const tab of ["check", "review"]) {
      const on = tab === name;
      const button = $(`#tab-${tab}`);
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      $(`#panel-${tab}`).hidden = !on;
      if (on && focus) button.focus();
    }
    if (name === "review") loadReview();
    history.replaceState(null, "", name === "review" ? "#review" : location.pathname + location.search);
  }

  function wire() {
    const key = $("#api-key");
    key.value = localStorage.getItem(KEY_STORE) || "";
    key.addEventListener("change", () => {
      const value = key.value.trim();
      if (value) localStorage.setItem(KEY_STORE, value);
      else localStorage.removeItem(KEY_STORE);
      state.models = null;
      if (!$("#panel-review").hidden) loadReview();
    });
    $("#tab-check").addEventListener("click", () => selectTab("check"));
    $("#tab-review").addEventListener("click", () => selectTab("review"));
    $(".tabs").addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") selectTab($("#panel-check").hidden ? "check" : "review", true);
    });

    const input = $("#file-input");
    $("#choose-files").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      if (input.files.length) check(input.files);
      input.value = ""; // choosing the same file again still fires change
    });
    const zone = $("#drop-zone");
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    // Outside the zone too: a dropped file must never make the browser navigate away from the page.
    document.addEventListener("dragover", (e) => e.preventDefault());
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length && !$("#panel-check").hidden) check(e.dataTransfer.files);
    });
    document.addEventListener("paste", (e) => {
      const files = e.clipboardData ? [...e.clipboardData.files] : [];
      if (!files.length) return; // ordinary text paste into a field
      e.preventDefault();
      selectTab("check");
      check(files);
    });

    $("#opacity").addEventListener("input", applyOpacity);
    $("#wrong-button").addEventListener("click", () => {
      if ($("#feedback").hidden && state.single) openFeedback(state.single.file, state.single.result);
      else closeFeedback();
    });
    $("#feedback").addEventListener("submit", sendFeedback);
    $("#cancel-feedback").addEventListener("click", closeFeedback);
    document.querySelectorAll("#results-table th[data-key] button").forEach((b) => b.addEventListener("click", () => sortBy(b.parentElement.dataset.key)));
    $("#download-csv").addEventListener("click", downloadCsv);
    $("#review-refresh").addEventListener("click", loadReview);
    $("#export-link").addEventListener("click", downloadExport);
    if (location.hash === "#review") selectTab("review");
  }

  wire();
})();
