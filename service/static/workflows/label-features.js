// The feature-labelling workflow's page share: the job page's table of explanations and scores.
// Registered by name with the page core (app.js); every text goes in with textContent, never as HTML.
"use strict";
(() => {
  const {el, fmt, pct, download} = hypodisc.ui;

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

  hypodisc.register("label-features", {render: renderLabels});
})();
