"""``metrics.rows``: the compact rows ``summarize`` keeps, one a sample."""

from __future__ import annotations

from vlmfer.metrics.rows import EXTRA_KEYS, RowMaker
from vlmfer.metrics.summary import summarize
from vlmfer.types import Prediction, Step, Usage


def _pred(i: int, *, outcome: str = "ok") -> Prediction:
    # Names built at run time, as parsing gives them: equal strings, distinct objects
    # (a literal would be one shared constant, and the sharing check below could not fail).
    step = Step(name="answer", model="-".join(["gpt", "5.2"]), prompt_hash="h" * 64,
                text_sent="a long prompt " * 50, response_text="Happy", status="ok",
                usage=Usage(input_tokens=300 + i, output_tokens=2), cost_usd=0.001,
                model_version="-".join(["gpt", "5.2", "2026", "01", "01"]),
                details={"sent": {"temperature": 0.0, "max_tokens": 16},
                         "dropped": {}, "raw": {"big": "x" * 1000}})
    return Prediction(sample_id=f"s{i}", gold="Happy",
                      pred="Happy" if outcome == "ok" else None, outcome=outcome,
                      reason="HTTP 500" if outcome == "error" else "why not",
                      steps=[step], extra={"ranked": ["Happy", "Sad"], "notes": "x" * 500})


def test_a_row_keeps_what_the_metrics_read_and_shares_what_repeats() -> None:
    make = RowMaker()
    a, b = make(_pred(1)), make(_pred(2))
    (sa,), (sb,) = a.steps, b.steps
    assert sa.details is sb.details  # one shared mapping for equal request parameters
    assert dict(sa.details) == {"sent": {"temperature": 0.0, "max_tokens": 16}, "dropped": {}}
    assert sa.usage.input_tokens == 301 and sb.usage.input_tokens == 302
    assert sa.model is sb.model and sa.model_version is sb.model_version
    assert set(a.extra) == {"ranked"} <= set(EXTRA_KEYS)
    assert a.reason is None  # reasons are kept for errors only
    assert make(_pred(3, outcome="error")).reason == "HTTP 500"


def test_summarize_gives_the_same_numbers_from_records_and_from_mappings() -> None:
    preds = [_pred(i) for i in range(20)] + [_pred(20, outcome="error")]
    labels = ["Happy", "Sad"]
    from_records = summarize(preds, labels, n_boot=50)
    from_dicts = summarize([p.model_dump(mode="json") for p in preds], labels, n_boot=50)
    assert from_records == from_dicts
    assert from_records["usage"]["input_tokens"] == sum(300 + i for i in range(21))
    assert from_records["error_reasons"] == {"HTTP 500": 1}
    assert from_records["sent_parameters"]["gpt-5.2"]["sent"] == {"max_tokens": 16,
                                                                  "temperature": 0.0}
    assert "top_k" in from_records  # the ranked answers were kept in the rows
