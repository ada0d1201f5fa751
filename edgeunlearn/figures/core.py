"""The figures computed in the check itself (knowledge, ReLearn, TOFU, membership): their definitions."""

from edgeunlearn.figures import Figure, register

for figure in (
    Figure(
        "forget_known",
        "forget",
        "forget known",
        "share of forget items whose greedy answer still has the fact (keywords / ROUGE-L)",
        ("forget_known",),
        "pct",
        terminal=False,
    ),
    Figure(
        "retain_known",
        "retain",
        "retain known",
        "the same on the checked retain set (items training never saw unless the note says otherwise)",
        ("retain_known",),
        "pct",
        terminal=False,
    ),
    Figure(
        "general_known",
        "general",
        "general known",
        "the same on the built-in general-knowledge set, which no training reads",
        ("general_known",),
        "pct",
        terminal=False,
    ),
    Figure("kfr", "KFR", "KFR", "ReLearn knowledge forgetting rate (forget set)", ("kfr",), "pct"),
    Figure("krr", "KRR", "KRR", "ReLearn knowledge retention rate (checked retain set)", ("krr",), "pct"),
    Figure("forget_ls", "LS f", "LS forget", "Linguistic Score of forget answers", ("forget_linguistic", "ls"), "3"),
    Figure("retain_ls", "LS r", "LS retain", "Linguistic Score of retain answers", ("retain_linguistic", "ls"), "3"),
    Figure(
        "forget_truth_ratio_stat",
        "TR f",
        "truth ratio",
        "TOFU truth-ratio statistic on forget, mean min(R, 1/R)",
        ("forget_truth_ratio_stat",),
        "2",
        needs="TOFU fields",
    ),
    Figure(
        "model_utility",
        "MU r",
        "utility",
        "TOFU model utility on retain",
        ("retain_utility", "model_utility"),
        "2",
        needs="TOFU fields",
    ),
    Figure(
        "membership_auc",
        "AUC",
        "MIA AUC",
        "membership AUC forget vs holdout, min-k%++ (0.5: indistinguishable)",
        ("membership_auc", "min_k_plus_plus"),
        "2",
        needs="holdout",
    ),
    Figure(
        "forget_quality",
        "FQ",
        "forget quality",
        "TOFU forget quality: KS p-value vs the retain model (high: alike)",
        ("forget_quality",),
        "p",
        needs="retain model",
    ),
    Figure(
        "priv_leak",
        "Leak",
        "PrivLeak",
        "PrivLeak, MUSE's sign: (AUC − retain model's AUC) / retain model's AUC with MUSE's AUC (1 − member "
        "AUC); kept the data ≈ −100%, 0 ideal, min-k%++",
        ("priv_leak", "min_k_plus_plus"),
        "2",
        needs="retain model",
    ),
):
    register(figure)
