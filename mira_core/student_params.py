"""The params of the distill stage's students (section `distill`): one model per student kind.

Kept apart from config.py, which imports them into `Params` (and re-exports them), so each file stays short.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, field_validator

from mira_core.base_models import SMOLLM2_DIR
from mira_core.filter_params import Section


class HeadParams(Section):
    """The `head` student: a multi-output head on the frozen embeddings (the FineWeb-Edu recipe)."""

    model: Literal["ridge", "mlp"] = Field("ridge", description="ridge: closed-form ridge; mlp: one hidden layer.")
    stats: bool = Field(True, description="Read the document statistics beside the embedding (when embed made them).")
    ridge_alphas: list[PositiveFloat] = Field(
        default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0],
        description="ridge: L2 strengths tried per anchor by exact leave-one-out error on the standardised inputs; "
        "one value fixes it.", min_length=1)
    alpha: float = Field(1.0, gt=0, description="Weight decay (mlp).")
    hidden: int = Field(256, gt=0, description="Hidden units (mlp).")
    epochs: int = Field(200, gt=0, description="Full-batch training epochs (mlp).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (mlp).")
    balance: float = Field(
        0.0, ge=0, le=1, description="Per anchor, weight each training record by the count of its label value to the "
        "power -balance (as `trees.balance`); 0 unweighted.")


class LinearParams(Section):
    """The `linear` student: hashed word and character n-grams with ridge regression, no encoder."""

    n_features: int = Field(2**18, gt=0, le=2**24, description="Hash buckets (the weight matrix is n_anchors x "
                            "n_features; at most 2**24, the hasher's bound).")
    alpha: float = Field(1.0, gt=0, description="Ridge L2 strength.")
    max_chars: int = Field(100_000, gt=0, description="Characters of each record read, from its start: at the "
                           "default, all of a record that ingest.max_chars's default keeps (a chunk of 128 records "
                           "of 100,000 characters is featurized in about 650 MB).")
    stats: bool = Field(True, description="Append the document statistics (standardised) to the n-gram features.")
    balance: float = Field(
        0.0, ge=0, le=1, description="Per anchor, weight each training record by the count of its label value to the "
        "power -balance (as `trees.balance`); 0 unweighted.")


class FinetuneParams(Section):
    """The `finetune` student: the encoder itself fine-tuned with one regression output per anchor."""

    epochs: int = Field(2, gt=0, description="Passes over the training labels.")
    lr: float = Field(3e-5, gt=0, description="AdamW learning rate of the encoder (the head uses 10x).")
    batch_size: int = Field(16, gt=0, description="Records per step.")
    max_length: int = Field(128, gt=0, description="Tokens per record (the head of the record).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present (advised), else CPU.")


class GenerativeParams(Section):
    """The `generative` student: a causal LM fine-tuned to write every anchor's score and a one-line rationale."""

    model: str = Field(SMOLLM2_DIR, description="Local folder of the base causal LM (any Hugging Face causal LM with "
                       "its tokenizer), relative to the project. Default: SmolLM2-135M-Instruct, made offline by "
                       "`mira base-model smollm2` (`make smollm2`). Nothing is downloaded.")
    lora: bool = Field(False, description="Fine-tune LoRA adapters (peft) instead of every weight; they are merged into "
                       "the saved model.")
    lora_r: int = Field(8, gt=0, description="LoRA rank (with lora: true).")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling alpha (with lora: true).")
    epochs: int = Field(2, gt=0, description="Passes over the training labels.")
    lr: float = Field(5e-5, gt=0, description="AdamW learning rate (LoRA usually wants ~1e-4 to 1e-3).")
    batch_size: int = Field(8, gt=0, description="Records per training step.")
    max_input_tokens: int = Field(512, gt=0, description="Tokens of the prompt; the record is cut (head, middle, tail, "
                                  "as the teacher sees it) until it fits.")
    max_doc_chars: int = Field(4000, gt=0, description="Characters of a record shown in the prompt, before the token "
                               "cut.")
    max_new_tokens: int = Field(768, gt=0, description="Bound on each generated reply (all anchors' scores and "
                                "rationales); a reply cut by it does not parse.")
    rationale_chars: int = Field(120, gt=0, description="The teacher's rationales are cut to one line of this many "
                                 "characters in the training targets.")
    read: Literal["expected", "digit"] = Field("expected", description="expected: each anchor's score is the "
                                               "probability-weighted mean of the scale's digits where the model wrote "
                                               "it (a scale of single digits only: past 9 or below 0 it reads as "
                                               "digit); digit: the written integer.")
    predict_batch: int = Field(16, gt=0, description="Records generated at once (sorted by prompt length).")
    retry_temperature: float = Field(0.7, gt=0, description="Sampling temperature of the one retry of a reply that "
                                     "did not parse (the first try is greedy).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present (advised), else CPU.")


class TreesParams(Section):
    """The `trees` student: boosted regression trees on the document statistics and a few embedding axes."""

    n_estimators: int = Field(100, gt=0, description="Boosting iterations (trees) per anchor.")
    learning_rate: float = Field(0.1, gt=0, le=1, description="Shrinkage of each tree's contribution.")
    max_depth: int = Field(3, gt=0, le=12, description="Depth of each tree.")
    min_samples_leaf: int = Field(5, gt=0, description="Fewest training rows in a leaf.")
    l2: float = Field(1.0, ge=0, description="L2 regularisation of the leaf values.")
    pca: int = Field(16, ge=0, description="Principal axes of the embedding given to the trees beside the statistics.")
    balance: float = Field(
        0.0, ge=0, le=1, description="Per anchor, weight each training record by the count of its label value to the "
        "power -balance, so that a score few records get (the floor a rare defect earns) is not averaged away: "
        "0 unweighted; 0.5 the square-root inverse frequency of imbalanced regression (Yang et al. 2021); 1 inverse.")


class AutoParams(Section):
    """The `auto` student: per anchor, the candidate kind with the best cross-validated agreement on train."""

    candidates: list[Literal["head", "linear", "trees", "finetune"]] = Field(
        default_factory=lambda: ["head", "linear", "trees"], min_length=1,
        description="Student kinds fitted and compared per anchor.")
    folds: int = Field(3, ge=2, le=10, description="Cross-validation folds over the training labels.")

    @field_validator("candidates")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):  # the stack keys its weights by kind: a repeat would lose one of them
            raise ValueError(f"lists a kind more than once: {v}")
        return v


class DistillParams(Section):
    """Students distilled from the labels: one per group, predicting every anchor at once."""

    student: Literal["head", "linear", "trees", "finetune", "generative", "auto"] = Field(
        "auto", description="auto: per anchor the best of auto.candidates by cross-validation on train; head: on "
        "frozen embeddings; linear: hashed n-grams + ridge; trees: boosted trees on document statistics; finetune: "
        "the encoder itself; generative: a causal LM writing each anchor's score and rationale."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Training seed.")
    head: HeadParams = Field(default_factory=HeadParams, description="Settings of the head student.")
    linear: LinearParams = Field(default_factory=LinearParams, description="Settings of the linear student.")
    trees: TreesParams = Field(default_factory=TreesParams, description="Settings of the trees student.")
    auto: AutoParams = Field(default_factory=AutoParams, description="Settings of the auto student.")
    finetune: FinetuneParams = Field(default_factory=FinetuneParams, description="Settings of the finetune student.")
    generative: GenerativeParams = Field(default_factory=GenerativeParams,
                                         description="Settings of the generative student.")

    def in_use(self) -> DistillParams:
        """These params with the sections of the kinds this run does not fit at their defaults: what the distill
        task is given, so its cache key holds only what the students read (a changed trees knob under a head
        student re-fitted every group under `mira run`; `dvc repro` re-runs the stage and is then served)."""
        kinds = {self.student, *(self.auto.candidates if self.student == "auto" else ())}
        unused = {k: type(getattr(self, k))() for k in ("head", "linear", "trees", "auto", "finetune", "generative")
                  if k not in kinds}
        return self.model_copy(update=unused)
