"""Models saved before the "no code" outcome and softmax probabilities still load as they were."""

from __future__ import annotations

import pytest

from nokoding.model.config import ModelConfig

OLD = {  # a config.json as written before code_probability / no_code_class / predicts_sentiment existed
    "backbone_name": "me5-small", "backbone_source": "me5-small", "backbone_sha256": "0" * 64, "pooling": "mean",
    "text_prefix": "query: ", "max_length": 512, "hidden_size": 384, "code_ids": ["a.x", "a.y"],
    "code_names": {"a.x": "A / X", "a.y": "A / Y"}, "sentiment_labels": ["negative", "neutral"],
    "strategy": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ["query"]},
    "code_head": "cosine", "sentiment_head": "cosine", "category_aggregation": "max", "format": 1,
}


def test_old_config_keeps_sigmoid_codes_and_sentiment():
    cfg = ModelConfig.from_dict(dict(OLD))
    assert (cfg.code_probability, cfg.no_code_class, cfg.predicts_sentiment) == ("sigmoid", False, True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_no_code_outcome_needs_softmax_and_known_values_only():
    with pytest.raises(ValueError, match="no_code_class"):
        ModelConfig.from_dict({**OLD, "no_code_class": True})
    with pytest.raises(ValueError, match="code_probability"):
        ModelConfig.from_dict({**OLD, "code_probability": "tanh"})
    cfg = ModelConfig.from_dict({**OLD, "code_probability": "softmax", "no_code_class": True,
                                 "category_aggregation": "sum"})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
