"""Fit-only check at catalogue scale: EASE (automatic variant) and SASRec's softmax choice, timed.

Usage: DIGIREC_MAX_MEMORY_GB=1 python benchmarks/scale_fit_check.py DATA_DIR OUT.json
(loads with every catalogue item; quoted in benchmarks/results/scale_default_100k.*)
"""

import json
import resource
import sys
import time
from pathlib import Path

from digirec.cli.common import load_dataset
from digirec.data.sequences import user_sequences
from digirec.memory import memory_budget_bytes
from digirec.models.ease import EASEModel
from digirec.models.sasrec import SASRecConfig, SASRecModel, next_item_examples, softmax_plan

out = {}
t = time.perf_counter()
ds = load_dataset(sys.argv[1], include_catalog_items=True, default_duplicates="first")
out["load_seconds"] = time.perf_counter() - t
out["dataset"] = {"n_users": ds.n_users, "n_items": ds.n_items, "n_interactions": ds.n_interactions}
out["memory_budget_bytes"] = memory_budget_bytes()
print(out, flush=True)
seqs = user_sequences(ds)
cfg = SASRecConfig()
_, _, lengths = next_item_examples(seqs, cfg.max_len)
out["sasrec_softmax_plan"] = softmax_plan(cfg, lengths, ds.n_items)
print(out["sasrec_softmax_plan"], flush=True)
t = time.perf_counter()
ease = EASEModel().fit(ds)
out["ease_fit_seconds"] = time.perf_counter() - t
out["ease_fit_info"] = ease.fit_info_
print(out["ease_fit_seconds"], ease.fit_info_, flush=True)
t = time.perf_counter()
rec = ease.recommend([ds.user_map.to_list()[0]], k=10)
out["ease_recommend_one_user_seconds"] = time.perf_counter() - t
t = time.perf_counter()
sas = SASRecModel({"epochs": 1, "show_progress": False}).fit(ds)
out["sasrec_one_epoch_seconds"] = time.perf_counter() - t
out["sasrec_fit_info"] = sas.fit_info_
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out, indent=2), flush=True)
Path(sys.argv[2]).write_text(json.dumps(out, indent=2))
