"""Profiles of the neurons that recur across real SmolLM2-135M attribution graphs (three "capital of"
prompts, three sums), and their clustering against the random controls."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tracing_model_or_skip
from hypodisc.errors import InputRejected

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from hypodisc.datasets.graph_profiles import (PromptSpec, embedding_influence, logit_effects,  # noqa: E402
                                              neuron_profiles, trace_prompts)
from hypodisc.verifiers.graph_clusters import cluster_profiles  # noqa: E402

PROMPTS = [PromptSpec("The capital of France is", " Paris"), PromptSpec("The capital of Germany is", " Berlin"),
           PromptSpec("The capital of Italy is", " Rome"), PromptSpec("2 + 3 ="), PromptSpec("4 + 1 ="),
           PromptSpec("6 + 2 =")]
MAX_NODES = 32


@pytest.fixture(scope="module")
def lm():
    return tracing_model_or_skip("smollm2-135m")


@pytest.fixture(scope="module")
def graphs(lm):
    return trace_prompts(lm.model, lm.tokenizer, PROMPTS, max_nodes=MAX_NODES)


@pytest.fixture(scope="module")
def profiles(lm, graphs):
    return neuron_profiles(graphs, lm.model, lm.tokenizer)


@pytest.mark.slow
def test_profiles_cover_exactly_the_recurring_neurons(graphs, profiles):
    seen: dict[tuple[int, int], set[int]] = {}
    for g, graph in enumerate(graphs):
        for node in graph.nodes:
            if node.kind == "feature":
                seen.setdefault((int(node.layer), node.feature), set()).add(g)
    assert {(p.layer, p.neuron) for p in profiles.profiles} == {k for k, gs in seen.items() if len(gs) >= 2}
    assert len(profiles.profiles) >= 3
    for p in profiles.profiles:
        for o in p.occurrences:
            node = graphs[o.graph].node(o.node_id)
            assert (int(node.layer), node.feature, node.ctx_idx) == (p.layer, p.neuron, o.ctx_idx)
        # two views of one mass: influence by token string and by position from the end
        assert p.by_token.sum() == pytest.approx(p.by_offset.sum(), rel=1e-9, abs=1e-12)
        # influence on one node sums to at most 1; a neuron kept at several positions of a graph adds them
        most = max(sum(o.graph == g for o in p.occurrences) for g in p.graphs)
        assert (p.by_token >= 0).all() and 0 < p.by_token.sum() <= most + 1e-9
        assert p.by_token.shape == (len(profiles.token_axis),) and p.by_offset.shape == (profiles.max_offset + 1,)
        assert p.logit_effect.shape == (len(profiles.logit_axis),)
        assert p.promoted[0][1] >= p.promoted[-1][1] > p.suppressed[-1][1] >= p.suppressed[0][1]
    assert set(profiles.token_axis) == {t for g in graphs for t in g.metadata.prompt_tokens}
    m = profiles.matrix()
    assert m.shape[0] == len(profiles.profiles) and np.allclose(np.linalg.norm(m, axis=1), 1)


@pytest.mark.slow
def test_embedding_influence_of_a_node_fed_by_embeddings_only_is_its_share_of_input(graphs):
    graph = graphs[0]
    kinds = {n.node_id: n.kind for n in graph.nodes}
    into: dict[str, list] = {}
    for link in graph.links:
        into.setdefault(link.target, []).append(link)
    fed = [t for t, links in into.items()
           if kinds[t] == "feature" and all(kinds[k.source] == "embedding" for k in links)]
    assert fed, "no neuron fed by embeddings only"
    infl = embedding_influence(graph)
    for target in fed:
        total = sum(abs(k.weight) for k in into[target])
        for k in into[target]:
            assert infl[target][graph.node(k.source).ctx_idx] == pytest.approx(abs(k.weight) / total)
        assert sum(infl[target].values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_logit_effect_is_the_last_layers_direct_effect_on_the_logit_up_to_the_final_norm_scale(lm):
    """Earlier neurons also reach the logit through later (frozen) attention; a last-layer neuron at the last
    position only through the final norm and the unembedding: direct effect = a · W_U(γ ⊙ w_down)[token] / rms,
    one ratio 1/rms for all of them."""
    from hypodisc.datasets.graph_tracing import LogitTarget, _activations, direct_effects

    ids = lm.tokenizer(PROMPTS[0].prompt)["input_ids"]
    (tok,) = lm.tokenizer.encode(PROMPTS[0].target, add_special_tokens=False)
    last_layer = len(lm.model.model.layers) - 1
    acts = _activations(lm.model, ids)[last_layer, -1]
    rows = direct_effects(lm.model, ids, [LogitTarget(tok)])
    pick = np.argsort(-np.abs(acts))[:6]
    effects = logit_effects(lm.model, [(last_layer, int(n)) for n in pick])[:, tok]
    ratios = rows.neurons[0, last_layer, -1, pick] / (acts[pick] * effects)
    assert (ratios > 0).all() and np.allclose(ratios, ratios[0], rtol=1e-3), ratios
    assert logit_effects(lm.model, [(3, 5), (3, 6)]).shape == (2, lm.model.lm_head.weight.shape[0])


@pytest.mark.slow
def test_recurring_neurons_cluster_better_than_random_partitions_and_deterministically(lm, graphs, profiles):
    report = cluster_profiles(profiles.matrix(), profiles.keys, seed=0, n_permutations=499, n_null=30)
    print(report.summary())
    assert report.within_similarity > report.control_mean
    assert report.p_partition < 0.05
    assert report.silhouette == max(report.silhouettes.values())
    again = neuron_profiles(graphs, lm.model, lm.tokenizer)
    assert np.array_equal(again.matrix(), profiles.matrix())
    assert cluster_profiles(again.matrix(), again.keys, seed=0, n_permutations=499, n_null=30) == report


@pytest.mark.slow
def test_nothing_recurs_in_more_graphs_than_there_are(lm, graphs):
    none = neuron_profiles(graphs, lm.model, lm.tokenizer, min_graphs=len(graphs) + 1)
    assert none.profiles == () and none.matrix().shape[0] == 0
    with pytest.raises(InputRejected, match="at least 3 recurring neurons") as info:
        cluster_profiles(none.matrix(), none.keys)
    assert info.value.code == "too_few_nodes"
