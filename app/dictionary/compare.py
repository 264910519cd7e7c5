"""The yardstick: the SAE against supervised dictionaries built from the known factors (Makelov, Lange,
Nanda 2024) on approximation, control and interpretability, and the two failure modes by name."""

import streamlit as st

from app import models
from app.dictionary import compute
from app.pickers import dictionary_picker
from app.ui import user_errors


def show() -> None:
    st.subheader("Compare with supervised dictionaries")
    st.caption("For each value of each factor, the supervised dictionary holds the mean of the (centred) features of "
               "the images with that value; a feature vector is approximated by the overall mean plus one vector per "
               "factor. It is what an SAE could find if its latents were exactly the factors: the yardstick "
               "(Makelov, Lange, Nanda, Towards Principled Evaluations of Sparse Autoencoders, 2024).")
    picked = dictionary_picker("cmp_pick")
    if not picked:
        return
    path = picked[1]
    if not st.button("Compare", type="primary", icon=":material/balance:", key="cmp_run"):
        st.caption("Patch tokens are compared where they lie on the main object (its mask), with that image's factors.")
        if st.session_state.get("cmp_done") != path:
            return
    st.session_state["cmp_done"] = path
    with user_errors():
        r = compute.comparison(path, models.stamp(path))
        a, b = st.columns(2)
        a.metric("Approximation: supervised dictionary", f"{r['supervised_ev']:.3f}", help="explained variance")
        b.metric("Approximation: SAE", f"{r['sae_ev']:.3f}", help="explained variance")
        st.caption(f"On {r['rows']} tokens. Control: edit a feature vector from one value to another and ask a linear "
                   "probe which value it now reads (supervised: a - u(old) + u(new); SAE: swap the latent with the best "
                   "F1 for the old value for the new value's). Interpretability: the best F1 of any single latent.")
        rows, failures = [], []
        for f, rep in r["factors"].items():
            names = r["vocab"][f]
            best = rep["best_f1"]
            rows.append({"factor": f, "control, supervised": round(rep["supervised_edit_rate"], 3),
                         "control, SAE": round(rep["sae_edit_rate"], 3),
                         "mean best F1 (SAE)": round(sum(best) / len(best), 3),
                         "probe F1 (linear)": round(sum(rep["probe_f1"]) / len(rep["probe_f1"]), 3)})
            for o in rep["over_splitting"]:
                failures.append(f"Over-splitting: {f} = {names[o['value']]} is spread over latents {o['latents'][:5]}, "
                                f"each precise, none with high recall (best F1 {o['best_f1']:.2f}).")
            for o in rep["occlusion"]:
                failures.append(f"Occlusion: {f} = {names[o['value']]} is read by a linear probe (F1 "
                                f"{o['probe_f1']:.2f}) but owns no latent (best F1 {o['best_f1']:.2f}).")
        st.dataframe(rows, hide_index=True)
        for line in failures[:30]:
            st.warning(line)
        if not failures:
            st.success("Neither failure mode appears at the default thresholds.")
        k = compute.kept(path, models.stamp(path))
        c, d = st.columns(2)
        c.metric("kNN on the labels: original features", f"{k['original']['knn']:.3f}")
        d.metric("kNN on the labels: SAE reconstruction", f"{k['reconstructed']['knn']:.3f}",
                 delta=f"{k['reconstructed']['knn'] - k['original']['knn']:+.3f}")
        st.caption(f"What the reconstruction keeps of the model's use: linear probe {k['original']['linear']:.3f} on "
                   f"the original features, {k['reconstructed']['linear']:.3f} on the reconstruction.")
