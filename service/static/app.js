// hypodisc results pages: plain DOM, no build step. Every corpus text is inserted with
// textContent, never as HTML, so a text cannot inject markup or script into the page.
"use strict";
const hypodisc = (() => {
  const keyInput = () => document.getElementById("api-key");
  const apiKey = () => localStorage.getItem("hypodisc-api-key") || "";

  function setupKey() {
    const input = keyInput();
    input.value = apiKey();
    input.addEventListener("change", () => localStorage.setItem("hypodisc-api-key", input.value.trim()));
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (apiKey()) h["X-API-Key"] = apiKey();
    return h;
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.headers);
    const resp = await fetch(path, opts);
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      const err = (body && body.error) || {code: "http_" + resp.status, message: resp.statusText};
      throw Object.assign(new Error(err.code + ": " + err.message), {status: resp.status});
    }
    return body;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return node;
  }

  function showError(id, message) {
    const p = document.getElementById(id);
    p.textContent = message || "";
    p.hidden = !message;
  }

  const fmt = (x, d) => (x == null ? "–" : Number(x).toFixed(d));
  const fmtP = (x) => (x == null ? "–" : (x < 1e-3 ? Number(x).toExponential(1) : Number(x).toFixed(3)));
  const pct = (f) => Math.round(100 * f) + "%";
  const when = (s) => (s ? new Date(s + (s.endsWith("Z") ? "" : "Z")).toLocaleString() : "");

  // -- index page ---------------------------------------------------------------------------------
  function indexPage() {
    setupKey();
    const limit = 20;
    let offset = 0;
    let latest = 0;  // a slower, older refresh (say, with the previous key) must not overwrite a newer one
    async function refresh() {
      const mine = ++latest;
      try {
        const data = await api(`/v1/jobs?limit=${limit}&offset=${offset}`);
        if (mine !== latest) return;
        const tbody = document.querySelector("#jobs tbody");
        tbody.replaceChildren(...data.jobs.map((j) => el("tr", {"data-job-id": j.id},
          el("td", {}, when(j.created_at)), el("td", {}, j.workflow),
          el("td", {class: "status-" + j.status}, j.status), el("td", {}, j.stage || ""),
          el("td", {}, el("progress", {max: "1", value: String(j.progress)}), " " + pct(j.progress)),
          el("td", {}, el("a", {href: "/jobs/" + j.id}, j.id.slice(0, 12))))));
        document.getElementById("page-info").textContent =
          data.total ? `${offset + 1}–${Math.min(offset + limit, data.total)} of ${data.total}` : "no jobs yet";
        document.getElementById("prev-page").disabled = offset === 0;
        document.getElementById("next-page").disabled = offset + limit >= data.total;
        showError("jobs-error", "");
      } catch (e) {
        if (mine !== latest) return;
        if (e.status === 401 || e.status === 403) {  // another key's rows must not linger
          document.querySelector("#jobs tbody").replaceChildren();
          document.getElementById("page-info").textContent = "";
          document.getElementById("prev-page").disabled = document.getElementById("next-page").disabled = true;
        }
        showError("jobs-error", e.message);
      }
    }
    document.getElementById("prev-page").onclick = () => { offset = Math.max(0, offset - limit); refresh(); };
    document.getElementById("next-page").onclick = () => { offset += limit; refresh(); };
    keyInput().addEventListener("change", refresh);
    refresh();
    setInterval(refresh, 3000);

    for (const [name, spec] of Object.entries(WORKFLOWS)) if (spec.form) spec.form(name);
  }

  // -- job page -----------------------------------------------------------------------------------
  function showJob(j) {
    const status = document.getElementById("job-status");
    status.textContent = j.status + (j.attempts > 1 ? ` (attempt ${j.attempts})` : "");
    status.className = "status-" + j.status;
    document.getElementById("job-stage").textContent = j.stage || "";
    document.getElementById("job-progress").value = j.progress;
    document.getElementById("job-progress-pct").textContent = pct(j.progress);
    const c = (j.cost || []).reduce((t, s) => ({wall: t.wall + s.wall_s, judg: t.judg + s.judgments,
                                              tok: t.tok + s.prompt_tokens + s.completion_tokens}),
                                    {wall: 0, judg: 0, tok: 0});
    document.getElementById("job-cost").textContent =
      `${c.wall.toFixed(1)} s, ${c.judg} judgments, ${c.tok} tokens`;
    document.getElementById("cancel-job").disabled = !["queued", "running"].includes(j.status);
    if (j.error) showError("job-error", `${j.error_code}: ${j.error}`);
  }

  async function follow(jobId, onInfo) {
    // Server-Sent Events read through fetch, so the API key travels in a header.
    const resp = await fetch(`/v1/jobs/${jobId}/events`, {headers: headers()});
    if (!resp.ok || !resp.body) throw new Error("events: HTTP " + resp.status);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) onInfo(JSON.parse(data));
      }
    }
  }

  async function jobPage() {
    setupKey();
    keyInput().addEventListener("change", () => window.location.reload());  // try again with the new key
    const jobId = decodeURIComponent(window.location.pathname.split("/").pop());
    document.getElementById("job-id").textContent = jobId;
    document.getElementById("cancel-job").onclick = async () => {
      try { showJob(await api(`/v1/jobs/${jobId}/cancel`, {method: "POST"})); } catch (e) { showError("job-error", e.message); }
    };
    let last = null;
    const onInfo = (j) => { last = j; showJob(j); };
    try {
      onInfo(await api(`/v1/jobs/${jobId}`));
      const active = () => ["queued", "running"].includes(last.status);
      if (active()) {
        try {
          await follow(jobId, onInfo);
        } catch (e) {
          // no streaming: poll instead (below)
        }
        while (active()) {  // also when the stream ended before the job did
          await new Promise((r) => setTimeout(r, 1500));
          onInfo(await api(`/v1/jobs/${jobId}`));
        }
      }
      if (last.status === "succeeded") {
        const result = await api(`/v1/jobs/${jobId}/result`);
        const spec = WORKFLOWS[result.workflow || last.workflow];
        if (!spec) throw new Error(`this page cannot show a ${last.workflow} result yet; fetch it from /v1/jobs/${jobId}/result`);
        spec.render(result, jobId);
      }
    } catch (e) {
      if (!last) document.getElementById("job-status").textContent = "unknown";
      showError("job-error", e.message);
    }
  }

  // Each workflow's script (service/static/workflows/, named by its declaration, loaded by the pages
  // after this file) registers {render(result, jobId), form(name)?} under its name.
  const WORKFLOWS = {};
  function register(name, spec) { WORKFLOWS[name] = spec; }

  function download(result, name) {
    const link = document.getElementById("download-json");
    link.hidden = false;
    link.onclick = (ev) => {  // the result was fetched with the key header; save it as a file
      ev.preventDefault();
      const blob = new Blob([JSON.stringify(result, null, 2)], {type: "application/json"});
      const a = el("a", {href: URL.createObjectURL(blob), download: name});
      document.body.append(a);
      a.click();
      a.remove();
    };
  }

  const ui = {api, el, showError, fmt, fmtP, pct, download};
  return {indexPage, jobPage, register, ui};
})();
