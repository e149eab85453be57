"""Fine-tuning coding models on hand-coded records.

:func:`train` is the entry point; :class:`TrainingArguments` holds the recipe;
:class:`CodingClassifier` wraps both in a scikit-learn-like estimator.
"""

from __future__ import annotations

from nokoding.training.arguments import TrainingArguments
from nokoding.training.data import TrainingDataError, TrainingExample, build_examples
from nokoding.training.estimator import CodingClassifier
from nokoding.training.trainer import train

__all__ = ["CodingClassifier", "TrainingArguments", "TrainingDataError", "TrainingExample", "build_examples", "train"]
