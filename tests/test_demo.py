"""The offline demo runs the whole loop on bundled real pages."""

from __future__ import annotations

from pathlib import Path

from policywatch import demo


def test_demo_finds_both_real_changes_and_the_claim_at_risk(tmp_path: Path) -> None:
    """The demo's second check records two changes; OpenAI's removal of its
    advertising sentence puts the claim quoting it at risk; reports exist."""
    lines: list[str] = []
    results = demo.run(tmp_path / "demo", say=lines.append)

    outcomes = {r.key: r for r in results}
    assert {r.outcome for r in results} == {"changed"}
    openai = outcomes["openai-chatgpt/model-training"]
    assert openai.severity == "verdict-at-risk"
    assert openai.claims_at_risk == ("no-ad-profiles",)
    report = (
        tmp_path / "demo" / "reports" / f"change-{openai.change}.html"
    ).read_text()
    assert "advertising profiles" in report
    assert (tmp_path / "demo" / "snapshots" / "deepseek" / "privacy-policy.md").exists()
    assert any("Report:" in line for line in lines)
