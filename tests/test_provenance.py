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


def test_a_bare_cpu_name_gets_cpuids_family_and_model(monkeypatch, tmp_path):
    import builtins

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path,
                                                                          *a, **k))
    assert provenance.machine().startswith("AMD EPYC family 23 model 1 (")
    cpuinfo.write_text("cpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel(R) Xeon(R) Platinum 8480C\n")
    assert provenance.machine().startswith("Intel(R) Xeon(R) Platinum 8480C (")  # a full name stays as it is
