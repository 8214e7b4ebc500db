// The graph-clusters workflow's page share: one graph drawn as layers (rows, embeddings at the bottom,
// the logit on top) by token positions (columns), its neurons coloured by cluster and its links as lines;
// beside it each cluster's description, held-out scores against both controls, and its ablation.
// Every text goes in with textContent; the SVG is built element by element.
"use strict";
(() => {
  const {el, fmt, download} = hypodisc.ui;
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#7f7f7f"];

  function svg(tag, attrs) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  function neuronKey(n) {
    return n.feature_type === "logit" || n.layer === "E" ? null : `${n.layer}_${n.feature}`;
  }

  function drawGraph(graph, clusterOf) {
    const tokens = graph.metadata.prompt_tokens;
    const layers = graph.nodes.filter((n) => /^\d+$/.test(n.layer)).map((n) => Number(n.layer));
    const top = Math.max(1, ...layers);
    const colW = Math.max(70, Math.min(140, 900 / tokens.length)), rowH = 26, pad = 30;
    const width = pad * 2 + colW * tokens.length, height = pad * 2 + rowH * (top + 2);
    const root = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-label": `attribution graph of ${graph.metadata.prompt}`});
    const y = (n) => (n.layer === "E" ? height - pad : height - pad - rowH * (Number(n.layer) + 1));
    const slots = {};
    const pos = {};
    for (const n of graph.nodes) {
      const key = `${n.layer}:${n.ctx_idx}`;
      const k = (slots[key] = (slots[key] || 0) + 1);
      pos[n.node_id] = [pad + colW * n.ctx_idx + colW / 2 + ((k % 7) - 3) * 8, y(n)];
    }
    for (const l of graph.links) {
      const a = pos[l.source], b = pos[l.target];
      if (!a || !b) continue;
      root.append(svg("line", {x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: l.weight >= 0 ? "#999" : "#c99",
                               "stroke-opacity": 0.5, "stroke-width": 0.8}));
    }
    for (const n of graph.nodes) {
      const [cx, cy] = pos[n.node_id];
      const c = clusterOf[neuronKey(n)];
      const fill = c === undefined ? (n.layer === "E" || n.feature_type === "logit" ? "#333" : "#ccc") : COLOURS[c % COLOURS.length];
      const dot = svg("circle", {cx, cy, r: c === undefined ? 4 : 6, fill, "data-node": n.node_id,
                                 "data-cluster": c === undefined ? "" : `c${c}`});
      const title = svg("title", {});
      title.textContent = `${n.node_id} ${n.clerp || ""}`;
      dot.append(title);
      root.append(dot);
    }
    for (let l = 0; l <= top; l += Math.max(1, Math.ceil(top / 12))) {
      const label = svg("text", {x: 2, y: height - pad - rowH * (l + 1) + 4, "font-size": 10, fill: "#666"});
      label.textContent = `L${l}`;
      root.append(label);
    }
    tokens.forEach((t, i) => {
      const label = svg("text", {x: pad + colW * i + colW / 2, y: height - 8, "text-anchor": "middle", "font-size": 11});
      label.textContent = JSON.stringify(t);
      root.append(label);
    });
    return root;
  }

  function scoreLine(c, scorer) {
    const d = c.description;
    if (!d || !d.scores[scorer]) return null;
    const s = d.scores[scorer];
    const b = d.controls.borrowed ? d.controls.borrowed.scores[scorer] : null;
    const r = c.random_control[scorer];
    return `${scorer} ${fmt(s.score, 2)} [${fmt(s.ci_low, 2)}, ${fmt(s.ci_high, 2)}] · another cluster's ` +
      `${b ? fmt(b.score, 2) : "–"} · random set's ${r ? fmt(r.score, 2) : "–"}`;
  }

  function clusterBlock(c, i) {
    const toks = (list) => list.map((t) => JSON.stringify(t.token)).join(", ") || "–";
    const scores = Object.keys((c.description && c.description.scores) || {}).map((s) => scoreLine(c, s)).filter(Boolean);
    const causal = c.causal ? `ablation removes ${fmt(100 * c.causal.removed_share, 0)}% of the ${c.causal.metric} ` +
      `(random set: ${fmt(100 * c.causal.random_removed_share, 0)}%), ${c.causal.flips_ablated} answers flip; ` +
      `steering changes it by ${fmt(c.causal.steered_change, 2)}` : "no causal check";
    return el("div", {class: "cluster", "data-cluster": c.cluster_id},
      el("h3", {}, el("span", {class: "swatch", style: `background:${COLOURS[i % COLOURS.length]}`}),
         `${c.cluster_id}: ${c.label}`),
      el("p", {class: "stats"}, `${c.neurons.length} neurons in layers ${c.layers.join(", ")}; reads ${toks(c.inputs)}; ` +
         `promotes ${toks(c.promoted)}`),
      ...scores.map((s) => el("p", {class: "stats"}, s)),
      el("p", {class: "stats"}, causal));
  }

  function renderResult(result, jobId) {
    const clusterOf = {};
    result.clusters.forEach((c, i) => c.neurons.forEach((n) => { clusterOf[n] = i; }));
    const pick = document.getElementById("graph-clusters-pick");
    const drawing = document.getElementById("graph-clusters-drawing");
    const show = (k) => drawing.replaceChildren(drawGraph(result.graph_json[k], clusterOf));
    pick.replaceChildren(...result.graph_json.map((g, k) => el("option", {value: String(k)}, g.metadata.prompt)));
    pick.onchange = () => show(Number(pick.value));
    if (result.graph_json.length) show(0);
    document.getElementById("graph-clusters-list").replaceChildren(...result.clusters.map(clusterBlock));
    const cl = result.clustering;
    document.getElementById("graph-clusters-summary").textContent =
      `${result.graphs.length} graphs, ${cl.neurons} recurring neurons in ${cl.k} clusters (silhouette ` +
      `${fmt(cl.silhouettes[cl.k], 2)}, random-partition p ${fmt(cl.p_partition, 3)}; structured: ${cl.structured}); ` +
      `tracer ${result.tracer_model || "none (graphs given)"}, describer ${result.describer_model || "none"}.`;
    document.getElementById("graph-clusters-warnings").replaceChildren(...(result.warnings || []).map((w) => el("li", {}, w)));
    document.getElementById("graph-clusters-result").hidden = false;
    download(result, `hypodisc-graph-clusters-${jobId}.json`);
  }

  hypodisc.register("graph-clusters", {render: renderResult});
})();
