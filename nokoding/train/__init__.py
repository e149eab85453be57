"""Fine-tuning coding models on hand-coded records.

:func:`train` is the entry point; :class:`TrainingArguments` holds the recipe;
:class:`CodingClassifier` wraps both in a scikit-learn-like estimator.
"""

from __future__ import annotations

from nokoding.train.arguments import TrainingArguments
from nokoding.train.data import TrainingDataError, TrainingExample, build_examples
from nokoding.train.estimator import CodingClassifier
from nokoding.train.trainer import train

__all__ = ["CodingClassifier", "TrainingArguments", "TrainingDataError", "TrainingExample", "build_examples", "train"]
