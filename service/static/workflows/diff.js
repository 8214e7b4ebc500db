// The text-difference workflow's page share: the index page's submit form and the job page's table.
// Registered by name with the page core (app.js); every text goes in with textContent, never as HTML.
"use strict";
(() => {
  const {api, el, showError, fmt, fmtP, download} = hypodisc.ui;

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

  function form() {
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

  hypodisc.register("diff", {render: renderResult, form});
})();
