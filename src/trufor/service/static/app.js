// TruFor service page: upload, live status, history, result view. No framework, no build step, no CDN.
"use strict";
(() => {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const state = { offset: 0, limit: 20, selected: null, timer: null, thumbs: new Map(), views: [] };

  // ---------------------------------------------------------------- token (kept in this tab or browser)
  const KEY = "trufor-token";
  const getToken = () => sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
  function setToken(value, remember) {
    sessionStorage.removeItem(KEY); localStorage.removeItem(KEY);
    (remember ? localStorage : sessionStorage).setItem(KEY, value);
  }
  class NeedToken extends Error {}

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    const token = getToken();
    if (token) headers.set("Authorization", "Bearer " + token);
    const response = await fetch(path.startsWith("/api/") ? path : API + path, { ...options, headers });
    if (response.status === 401) { showTokenBox(getToken() ? "That token was refused." : ""); throw new NeedToken(); }
    return response;
  }
  async function json(path, options) {
    const r = await api(path, options);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`);
    return body;
  }
  async function blobUrl(path) {
    const r = await api(path);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return URL.createObjectURL(await r.blob());
  }
  function showTokenBox(message) {
    $("token-box").hidden = false;
    $("token-error").textContent = message || "";
    $("token").focus();
  }
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token").value.trim(), $("remember").checked);
    $("token-box").hidden = true;
    start();
  });

  // --------------------------------------------------------------------------------- upload
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => upload(e.dataTransfer.files));
  $("files").addEventListener("change", (e) => { upload(e.target.files); e.target.value = ""; });

  async function upload(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length) return;
    const status = $("upload-status");
    status.className = "";
    status.textContent = `Uploading ${files.length} file${files.length > 1 ? "s" : ""}…`;
    const form = new FormData();
    files.forEach((f) => form.append("files", f, f.name));
    try {
      const body = await json("/analyses", { method: "POST", body: form });
      const again = body.analyses.filter((a) => a.existing).length;
      status.textContent = `${body.analyses.length} queued` + (again ? ` (${again} already analysed: shown at once)` : "") + ".";
      state.offset = 0;
      await refresh();
      select(body.analyses[0].id);
    } catch (err) {
      if (err instanceof NeedToken) { status.textContent = "A token is needed: enter it above, then drop the files again."; return; }
      status.className = "error";
      status.textContent = "Refused: " + err.message;
    }
  }

  // -------------------------------------------------------------------------------- history
  // Model names and licences can carry a whole provenance: show the head, keep the rest in a tooltip.
  const short = (text, stop) => { const t = String(text || ""); const i = t.indexOf(stop); return i > 0 ? t.slice(0, i) : t; };
  const words = (a) => a.status === "done" ? `${a.score.toFixed(3)} · ${a.verdict}` : a.status === "failed" ? "failed" : a.status + "…";

  async function refresh() {
    clearTimeout(state.timer);
    let active = false;
    try {
      const page = await json(`/analyses?limit=${state.limit}&offset=${state.offset}`);
      renderList(page);
      active = page.items.some((a) => a.status === "queued" || a.status === "running");
      if (state.selected) {
        const sel = page.items.find((a) => a.id === state.selected.id);
        if (sel && sel.status !== state.selected.status) select(sel.id);
        else if (state.selected.status === "queued" || state.selected.status === "running") { active = true; select(state.selected.id); }
      }
    } catch (err) {
      if (err instanceof NeedToken) return;
    }
    state.timer = setTimeout(refresh, active ? 1000 : 5000);
  }

  function renderList(page) {
    const list = $("list");
    list.replaceChildren();
    if (!page.items.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "Nothing analysed yet."; list.append(li); }
    for (const a of page.items) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.id = a.id;
      b.setAttribute("aria-current", state.selected && state.selected.id === a.id ? "true" : "false");
      const img = document.createElement("img");
      img.alt = "";
      if (a.status === "done") thumb(a.id).then((u) => { img.src = u; }).catch(() => {});
      const text = document.createElement("span");
      const name = document.createElement("span"); name.className = "item-name"; name.textContent = a.filename;
      const meta = document.createElement("span"); meta.className = "item-meta st-" + a.status; meta.textContent = words(a);
      text.append(name, meta);
      b.append(img, text);
      b.addEventListener("click", () => select(a.id));
      li.append(b);
      list.append(li);
    }
    const last = Math.min(page.offset + page.limit, page.total);
    $("page").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
    $("prev").disabled = page.offset === 0;
    $("next").disabled = last >= page.total;
  }
  function thumb(id) {
    if (!state.thumbs.has(id)) state.thumbs.set(id, blobUrl(`/analyses/${id}/thumb.png`));
    return state.thumbs.get(id);
  }
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); refresh(); });
  $("next").addEventListener("click", () => { state.offset += state.limit; refresh(); });

  // --------------------------------------------------------------------------------- result
  const opacity = $("opacity");
  opacity.addEventListener("input", () => {
    $("r-map").style.opacity = String(opacity.value / 100);
    $("opacity-value").textContent = `${opacity.value} %`;
  });

  async function select(id) {
    let a;
    try { a = await json(`/analyses/${id}`); } catch (err) { return; }
    const changed = !state.selected || state.selected.id !== id || state.selected.status !== a.status;
    state.selected = a;
    document.querySelectorAll("#list button").forEach((b) => b.setAttribute("aria-current", b.dataset.id === id ? "true" : "false"));
    $("result").hidden = false;
    $("r-name").textContent = a.filename;
    const st = $("r-state");
    if (a.status !== "done") {
      $("r-body").hidden = true;
      st.className = "st-" + a.status;
      st.textContent = a.status === "failed" ? `Failed: ${a.error || "unknown error"}` :
        a.status === "running" ? "Analysing…" : "Waiting in the queue…";
      return;
    }
    st.textContent = "";
    if (!changed && !$("r-body").hidden) return;
    state.views.forEach((u) => URL.revokeObjectURL(u));
    state.views = [];
    const [image, map, conf] = await Promise.all(["image.png", "map.png", "conf.png"].map((n) => blobUrl(`/analyses/${id}/${n}`)));
    state.views.push(image, map, conf);
    $("r-image").src = image; $("r-map").src = map; $("r-conf").src = conf;
    $("r-map").style.opacity = String(opacity.value / 100);
    $("r-score").textContent = a.score.toFixed(3);
    $("r-words").textContent = a.verdict;
    $("r-explain").textContent = a.explanation || "";
    const facts = [
      ["Image", a.image_size ? `${a.image_size.width} × ${a.image_size.height} px` : ""],
      ["Mean confidence", a.summary.mean_confidence != null ? a.summary.mean_confidence.toFixed(2) : "–"],
      ["Model", short(a.model.name, " ("), a.model.name], ["Licence", short(a.model.licence, ":"), a.model.licence],
      ["Analysis", `${(a.timings.analysis_seconds || 0).toFixed(2)} s (total ${(a.timings.total_seconds || 0).toFixed(1)} s)`],
      ["SHA-256", a.sha256],
    ];
    const dl = $("r-facts"); dl.replaceChildren();
    for (const [k, v, full] of facts) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      if (full && full !== v) {
        const more = document.createElement("details"); const sum = document.createElement("summary");
        sum.textContent = v; const body = document.createElement("p"); body.className = "muted small"; body.textContent = full;
        more.append(sum, body); dd.replaceChildren(more);
      }
      dl.append(dt, dd);
    }
    $("r-warnings").textContent = a.warnings.length ? "Notes: " + a.warnings.join(" · ") : "";
    const downloads = $("r-downloads"); downloads.replaceChildren();
    for (const name of ["report.html", "report.json", "result.npz", "overlay.png", "figure.png", "map.png", "conf.png"]) {
      const link = document.createElement("a");
      link.href = `${API}/analyses/${id}/${name}`;
      link.textContent = name;
      link.addEventListener("click", (e) => { e.preventDefault(); download(id, name, a.filename); });
      downloads.append(link);
    }
    $("r-provenance").hidden = true;
    $("r-body").hidden = false;
    json(`/analyses/${id}/report.json`).then((rep) => {
      if (state.selected && state.selected.id === id) showProvenance(rep.provenance);
    }).catch(() => {});
  }

  // Same fields as report.html (service/report.py: provenance_facts).
  const C2PA_WORDS = { none: "no content credentials", invalid: "INVALID content credentials",
    "valid-untrusted": "valid, signer not trusted", trusted: "valid, trusted signer", "not-checked": "not checked", error: "unreadable" };
  function provenanceFacts(p) {
    const exif = p.exif || {};
    const dates = exif.datetime || {};
    let when = Object.entries(dates).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join("; ");
    if (exif.datetimes_disagree) when += " (they disagree)";
    const q = p.jpeg && p.jpeg.quality;
    const coding = q ? `quality ~${q.quality}, ` + (q.standard ? "standard IJG tables" : `custom tables (fit error ${Number(q.error || 0).toFixed(2)})`)
      : (p.jpeg ? "no quality estimate" : "not a JPEG");
    const c2pa = p.c2pa || {};
    let cred = C2PA_WORDS[c2pa.state] || c2pa.state || "–";
    if (c2pa.ai_generated) cred += ", AI-generated";
    return [
      ["Camera", exif.camera || (exif.present ? "EXIF without camera" : "no EXIF")],
      ["Software", exif.software || "–"],
      ["Date-times", when || "–"],
      ["JPEG coding", coding],
      ["Content credentials (C2PA)", cred],
      ["SHA-256", (p.file && p.file.sha256) || "–"],
      ["Summary", p.summary || ""],
    ];
  }
  function showProvenance(p) {
    const box = $("r-provenance");
    if (!p) { box.hidden = true; return; }
    const dl = $("r-prov-facts"); dl.replaceChildren();
    for (const [k, v] of provenanceFacts(p)) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = String(v);
      dl.append(dt, dd);
    }
    box.hidden = false;
  }

  async function download(id, name, filename) {
    const url = await blobUrl(`/analyses/${id}/${name}`);
    const link = document.createElement("a");
    link.href = url;
    link.download = `${filename.replace(/\.[^.]*$/, "")}.${name}`;
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  $("r-delete").addEventListener("click", async () => {
    const a = state.selected;
    if (!a || !confirm(`Delete the analysis of ${a.filename} and its files?`)) return;
    await api(`/analyses/${a.id}`, { method: "DELETE" });
    state.selected = null; $("result").hidden = true; refresh();
  });

  // ---------------------------------------------------------------------------------- start
  async function start() {
    try {
      const info = await json("/info");
      $("model").textContent = `Model: ${short(info.model.name, " (")} (licence: ${short(info.model.licence, ":")}) · files up to ${Math.round(info.max_upload_bytes / 2 ** 20)} MB`;
      $("model").title = `${info.model.name}\nLicence: ${info.model.licence}`;
      refresh();
    } catch (err) { /* the token box is shown */ }
  }
  start();
})();
