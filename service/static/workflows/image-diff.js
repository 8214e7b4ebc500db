// The image-set-difference workflow's page share: per hypothesis its held-out statistics and thumbnails
// of the images that support it in A and the counter-examples in B. Registered by name with the page
// core (app.js); every text goes in with textContent, images only as the result's data: URLs.
"use strict";
(() => {
  const {el, fmt, fmtP, download} = hypodisc.ui;

  function figure(e) {
    const img = el("img", {alt: e.name, title: e.caption || ""});
    if (typeof e.thumbnail === "string" && e.thumbnail.startsWith("data:image/")) img.src = e.thumbnail;
    return el("figure", {}, img, el("figcaption", {}, `${e.name} · ${fmt(e.score, 2)}`));
  }

  function strip(title, list) {
    return el("div", {class: "strip"}, el("span", {}, title), ...list.map(figure));
  }

  function hypothesis(h, i) {
    const ci = h.ci ? `[${fmt(h.ci[0], 2)}, ${fmt(h.ci[1], 2)}]` : "–";
    return el("div", {class: "hyp" + (h.significant ? " sig" : "")},
      el("h3", {}, `${i + 1}. ${h.hypothesis}${h.significant ? " *" : ""}`),
      el("p", {class: "stats"}, `V ${(h.validity > 0 ? "+" : "") + fmt(h.validity, 3)} ${ci} · p ${fmtP(h.p_value)} · ` +
        `q ${fmtP(h.q_value)} · AUROC ${fmt(h.auroc, 2)} · n ${h.n_a}/${h.n_b} · scored by ${h.scored_by}`),
      strip("supports it in A", h.support || []), strip("counter-examples in B", h.counter_examples || []));
  }

  function renderResult(result, jobId) {
    document.getElementById("image-diff-hypotheses").replaceChildren(...result.hypotheses.map(hypothesis));
    const sig = result.hypotheses.filter((h) => h.significant).length;
    const s = result.splits;
    document.getElementById("image-diff-summary").textContent =
      `${result.hypotheses.length} hypotheses shown of ${result.candidates.length} candidates, ${sig} significant at ` +
      `q < ${result.config.alpha} and V > ${result.config.min_validity} (* ); captioner ${result.captioner}, ranker ` +
      `${result.ranker}; statistics on ${s.confirm_a} A / ${s.confirm_b} B images the proposer never saw; ` +
      `model ${result.model || "none"}.`;
    document.getElementById("image-diff-warnings").replaceChildren(...(result.warnings || []).map((w) => el("li", {}, w)));
    document.getElementById("image-diff-result").hidden = false;
    download(result, `hypodisc-image-diff-${jobId}.json`);
  }

  hypodisc.register("image-diff", {render: renderResult});
})();
