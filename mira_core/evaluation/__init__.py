"""Proxy mid-training evaluation: does the selected half train as well as the whole?

A small GPT-2 is trained once on a general slice (the shared base), then continued on each arm's
kept records with a WSD schedule for the same number of tokens, and scored on the held-out sources.
Modules: `schedule` (the WSD learning rate, pure), `tokenizer` (byte-level BPE trained here, or
MiniLM's WordPiece), `data` (arms, streams, windows, the target), `train` (model, loops), `stats`
(seed summaries, the within-noise rule, the table). No orchestration imports: the stage's flow and
tasks live in flows/evaluate.py and tasks/evaluate.py.
"""
