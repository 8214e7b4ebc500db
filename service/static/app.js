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

    const lines = (s) => s.split("\n").map((t) => t.trim()).filter((t) => t);
    document.getElementById("diff-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target.elements;
      const body = {a: lines(f.a.value), b: lines(f.b.value)};
      if (f.goal.value.trim()) body.goal = f.goal.value.trim();
      if (lines(f.hypotheses.value).length) body.hypotheses = lines(f.hypotheses.value);
      try {
        if (f.config.value.trim()) body.config = JSON.parse(f.config.value);
      } catch (e) {
        showError("submit-error", "config is not valid JSON: " + e.message);
        return;
      }
      const button = document.getElementById("submit-diff");
      button.disabled = true;
      showError("submit-error", "");
      try {
        const job = await api("/v1/jobs/diff", {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify(body)});
        window.location.href = "/jobs/" + job.id;
      } catch (e) {
        showError("submit-error", e.message);
        button.disabled = false;
      }
    });
  }

  // -- job page -----------------------------------------------------------------------------------
  function ciScale(hypotheses) {
    // one symmetric axis for every row, zero in the middle, wide enough for the widest interval:
    // cosine validities are a few hundredths, and on a fixed [-1, 1] axis their bars would vanish
    const far = Math.max(0, ...hypotheses.filter((h) => h.ci).map((h) => Math.max(Math.abs(h.ci[0]), Math.abs(h.ci[1]))));
    return [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1].find((s) => far <= s) || 1;
  }

  function ciBar(h, scale) {
    // validity and its CI on a [-scale, scale] axis, zero in the middle
    const x = (v) => Math.max(0, Math.min(100, 50 + 50 * v / scale));
    const box = el("span", {class: "ci", title: `V ${fmt(h.validity, 3)}, 95% CI [${fmt(h.ci[0], 3)}, ${fmt(h.ci[1], 3)}]`});
    box.append(el("span", {class: "zero"}));
    const bar = el("span", {class: "bar"});
    bar.style.left = x(h.ci[0]) + "%";
    bar.style.width = Math.max(1, x(h.ci[1]) - x(h.ci[0])) + "%";
    const dot = el("span", {class: "dot"});
    dot.style.left = x(h.validity) + "%";
    box.append(bar, dot);
    return box;
  }

  function examples(title, list) {
    return el("details", {class: "examples"}, el("summary", {}, `${title} (${list.length})`),
      el("ul", {}, ...list.map((e) => el("li", {}, el("span", {class: "score"}, fmt(e.score, 2) + " "), e.text))));
  }

  function renderResult(result, jobId) {
    const tbody = document.querySelector("#hypotheses tbody");
    const scale = ciScale(result.hypotheses);
    document.getElementById("ci-scale").textContent = `axis ±${scale}`;
    tbody.replaceChildren(...result.hypotheses.map((h, i) => el("tr", {class: h.significant ? "sig" : ""},
      el("td", {class: "num"}, String(i + 1)),
      el("td", {class: "hyp"}, el("div", {}, h.hypothesis),
        examples("support from A", h.support || []), examples("counter-examples from B", h.counter_examples || [])),
      el("td", {class: "num"}, (h.validity > 0 ? "+" : "") + fmt(h.validity, 3)),
      el("td", {class: "num"}, h.ci ? ciBar(h, scale) : "–", h.ci ? ` [${fmt(h.ci[0], 2)}, ${fmt(h.ci[1], 2)}]` : ""),
      el("td", {class: "num"}, fmtP(h.p_value)), el("td", {class: "num"}, fmtP(h.q_value)),
      el("td", {class: "num"}, fmt(h.auroc, 2)), el("td", {class: "num"}, `${h.n_a}/${h.n_b}`))));
    const sig = result.hypotheses.filter((h) => h.significant).length;
    document.getElementById("result-summary").textContent =
      `${result.hypotheses.length} hypotheses shown of ${result.candidates.length} candidates, ${sig} significant ` +
      `at q < ${result.config.alpha}` + (result.score_kind === "p_yes" ? ` and V > ${result.config.min_validity}` : "") +
      `; scores: ${result.score_kind}; separability AUROC ` +
      `${fmt(result.separability.cv_auroc, 2)} (${result.separability.verdict}); model ${result.model || "none"}.`;
    document.getElementById("warnings").replaceChildren(...(result.warnings || []).map((w) => el("li", {}, w)));
    document.getElementById("result").hidden = false;
    download(result, `hypodisc-diff-${jobId}.json`);
  }

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

  function scoreCell(f, name) {
    const s = (f.scores || {})[name];
    if (!s) return el("td", {class: "num", title: (f.skipped || {})[name] || "not run"}, "–");
    const b = f.controls && f.controls.borrowed ? f.controls.borrowed.scores[name] : null;
    return el("td", {class: "num", title: `${s.metric}; 95% CI [${fmt(s.ci_low, 3)}, ${fmt(s.ci_high, 3)}]; ` +
                                           `n ${s.n_positive}+${s.n_negative}`},
      `${fmt(s.score, 2)} [${fmt(s.ci_low, 2)}, ${fmt(s.ci_high, 2)}]`,
      el("span", {class: "control"}, b ? ` vs ${fmt(b.score, 2)}` : ""));
  }

  function shownExample(ex) {
    // fired tokens as <mark> elements, each token inserted as text
    return el("li", {class: "shown"}, ...ex.tokens.map((t, i) => ex.fired[i]
      ? el("mark", {title: `activation ${fmt(ex.activations[i], 3)}`}, t) : document.createTextNode(t)));
  }

  function candidateList(f) {
    const cands = f.candidates || [];
    if (cands.length < 2) return "";
    return el("details", {class: "candidates"}, el("summary", {}, `candidates (${cands.length})`),
      el("ul", {}, ...cands.map((c) => el("li", {class: c.chosen ? "chosen" : "rejected"},
        el("span", {class: "source"}, `${c.source}: `), c.text,
        el("span", {class: "score"}, " " + Object.entries(c.validation || {}).map(([k, v]) => `${k} ${fmt(v, 2)}`)
          .join(", ") + (c.chosen ? " (chosen)" : ""))))));
  }

  function renderLabels(result, jobId) {
    const names = result.config.scorers;
    const head = document.querySelector("#labels thead tr");
    head.replaceChildren(el("th", {}, "feature"), el("th", {}, "explanation"),
      ...names.map((n) => el("th", {title: "score [95% CI] vs the borrowed-explanation control"}, n)));
    document.querySelector("#labels tbody").replaceChildren(...result.features.map((f) => el("tr", {},
      el("td", {}, f.feature_id, el("div", {class: "control"}, f.split.mode === "crossfit"
        ? `cross-fitted, ${f.split.folds} folds` : "")),
      el("td", {class: "hyp"}, el("div", {}, f.explanation || "(no explanation)"),
        f.controls && f.controls.borrowed ? el("div", {class: "control"}, `control: “${f.controls.borrowed.explanation}” ` +
                                                      `(from ${f.controls.borrowed.from_feature})`) : "",
        candidateList(f),
        (f.shown || []).length ? el("details", {class: "examples"},
          el("summary", {}, `examples the explainer saw (${f.shown.length})`),
          el("ul", {}, ...f.shown.map(shownExample))) : ""),
      ...names.map((n) => scoreCell(f, n)))));
    const parts = Object.entries(result.summary).map(([n, s]) => `${n} mean ${fmt(s.mean, 2)}` +
      (s.mean_borrowed == null ? "" : ` vs borrowed ${fmt(s.mean_borrowed, 2)} (beats it on ${pct(s.beats_borrowed)})`) +
      (s.mean_always_no == null ? "" : `, always-no ${fmt(s.mean_always_no, 2)}`));
    document.getElementById("labels-summary").textContent =
      `${result.features.length} features, ${fmt(result.features_per_hour, 0)} features/hour with ` +
      `${result.model || "no LLM"}. ${parts.join("; ")}.`;
    document.getElementById("labels-warnings").replaceChildren(...(result.warnings || []).map((w) => el("li", {}, w)));
    document.getElementById("labels-result").hidden = false;
    download(result, `hypodisc-labels-${jobId}.json`);
  }

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
        const render = RENDERERS[result.workflow || last.workflow];
        if (!render) throw new Error(`this page cannot show a ${last.workflow} result yet; fetch it from /v1/jobs/${jobId}/result`);
        render(result, jobId);
      }
    } catch (e) {
      if (!last) document.getElementById("job-status").textContent = "unknown";
      showError("job-error", e.message);
    }
  }

  // One renderer per workflow in the registry (hypodisc.workflows.registry); a test checks none is missing.
  const RENDERERS = {
    "diff": renderResult,
    "label-features": renderLabels,
  };

  return {indexPage, jobPage};
})();
