"""Where a published number came from: the machine line and the command line in every result file."""
from __future__ import annotations

import sys

from gankit import provenance


def test_the_command_is_the_one_typed_with_any_instruction_set_caps_in_front(monkeypatch):
    for var in provenance.ISA_CAPS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "argv", ["/usr/bin/gankit", "bench", "--set", "model.name=a b"])
    assert provenance.command() == "gankit bench --set 'model.name=a b'"
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--json", "out.json"])
    assert provenance.command() == "python benchmarks/x.py --json out.json"
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert provenance.command() == "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/x.py --json out.json"


def test_the_machine_line_says_when_the_instruction_set_was_capped(monkeypatch):
    for var in provenance.ISA_CAPS:
        monkeypatch.delenv(var, raising=False)
    plain = provenance.machine()
    assert "capped" not in plain and plain.endswith(")") and " cores (torch " in plain
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert "capped by MKL_ENABLE_INSTRUCTIONS=AVX2" in provenance.machine()
