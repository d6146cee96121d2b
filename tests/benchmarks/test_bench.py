"""The shared benchmark helpers: alternating order, medians, FLOP count, peak probe, and what
happens without the official code."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

# the benchmark scripts import their siblings (`import bench`), as when run as scripts
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench  # noqa: E402
import peak  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_alternate_calls_the_steps_in_turn_and_times_each_round():
    calls = []
    steps = {"official": lambda: calls.append("A"), "ours": lambda: calls.append("B")}
    rows = bench.alternate(steps, warmup=1, rounds=3, log=False)
    assert calls == ["A", "B"] * 4                      # one warm-up round, then three timed
    assert len(rows) == 3 and all(set(r) == {"official", "ours"} for r in rows)
    assert all(v >= 0 for r in rows for v in r.values())


def test_medians_are_per_step_over_the_same_rounds():
    rows = [{"a": 3.0, "b": 1.0}, {"a": 1.0, "b": 5.0}, {"a": 2.0, "b": 2.0}]
    assert bench.medians(rows) == {"a": 2.0, "b": 2.0}


def test_count_flops_counts_forward_and_backward_of_a_linear_layer():
    lin = torch.nn.Linear(32, 16, bias=False)
    x = torch.randn(8, 32, requires_grad=True)
    flop = bench.count_flops(lambda: lin(x).sum().backward())
    # forward 2*8*32*16; backward: grad wrt input and wrt weight, each as large again
    assert flop == 3 * 2 * 8 * 32 * 16


def test_efficiency_divides_by_the_time_and_the_peak():
    e = bench.efficiency(4e9, 2.0, peak_gflops=8.0)
    assert e == {"gflop_per_step": 4.0, "gflops_achieved": 2.0, "fraction_of_peak": 0.25,
                 "floor_s_at_peak": 0.5}
    assert bench.efficiency(4e9, 2.0, None)["fraction_of_peak"] is None
    assert bench.efficiency(4e9, 2.0, None)["floor_s_at_peak"] is None


def test_compare_gives_the_ratio_ours_could_reach_at_the_peak():
    # ours does an eighth of the official arithmetic; at a (made-up, tiny) peak it would take
    # flops / peak seconds, and the ceiling is the official median over that floor
    import time

    big, small = torch.randn(64, 64), torch.randn(32, 32)
    steps = {"official": lambda: (big @ big, time.sleep(0.02)),
             "ours": lambda: (small @ small, time.sleep(0.01))}
    peak = 1e-4                                         # GFLOP/s
    res = bench.compare(steps, warmup=0, rounds=3, sync=lambda: None, peak_gflops=peak)
    floor = 2 * 32 ** 3 / 1e9 / peak                    # 0.655 s
    assert res["ours_efficiency"]["floor_s_at_peak"] == round(floor, 4)
    assert res["official_efficiency"]["floor_s_at_peak"] == round(8 * floor, 4)
    assert res["ratio_ceiling_at_peak"] == pytest.approx(res["official_median_s"] / floor,
                                                         rel=0.02)
    assert res["ratio_official_over_ours"] == pytest.approx(
        res["official_median_s"] / res["ours_median_s"], rel=0.02)
    alone = bench.compare({"ours": steps["ours"]}, 0, 1, lambda: None, peak)
    assert alone["ratio_ceiling_at_peak"] is None


def test_peak_probe_measures_matmul_and_conv2d():
    p = peak.probe("cpu", torch.float32, seconds=0.05, n=128, conv_batch=1)
    assert p["matmul_gflops"] > 0 and p["conv2d_gflops"] > 0
    assert p["peak_gflops"] == max(p["matmul_gflops"], p["conv2d_gflops"])
    assert p["threads"] == torch.get_num_threads() and p["dtype"] == "float32"


def test_load_official_says_absent_without_a_checkout(tmp_path):
    module, info = bench.load_official(tmp_path / "nowhere")
    assert module is None
    assert info["status"] == "absent" and "nowhere" in info["reason"]


def _run(script, *args, tmp_path):
    out = tmp_path / f"{script}.json"
    proc = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--threads", "1",
                           "--peak-seconds", "0.05", "--warmup", "0", "--skip-default",
                           "--out", str(out), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_sen_step_without_the_official_code_records_ours_alone(tmp_path):
    res = _run("sen_step", "--batch", "2", "--frames", "64", "--rounds", "2",
               "--official", str(tmp_path / "absent"), tmp_path=tmp_path)
    cmp = res["comparison"]
    assert cmp["official"]["status"] == "absent"
    assert cmp["order"] == ["ours"] and cmp["ratio_official_over_ours"] is None
    assert len(cmp["rounds"]) == 2 and set(cmp["rounds"][0]) == {"ours_s"}
    assert cmp["ours_median_s"] > 0 and cmp["ours_efficiency"]["gflop_per_step"] > 0
    env = res["environment"]
    assert env["torch_threads"] == 1 and env["torch"] == torch.__version__
    assert len(env["loadavg"]) == 3 and env["cpu_model"]
    assert res["peak"]["peak_gflops"] > 0
    assert "official_cpu_s" not in res and "speedup_vs_official" not in res   # no reference times


def test_rdg_step_on_other_sizes_does_not_compare_with_the_official_code(tmp_path):
    res = _run("rdg_step", "--sizes", "16,32", "--batch", "2", "--rounds", "1",
               "--gen-batches", "1,2", tmp_path=tmp_path)
    cmp = res["comparison"]
    assert cmp["official"]["status"] == "not run" and "64,128,256" in cmp["official"]["reason"]
    assert cmp["config"]["image_sizes"] == [16, 32] and cmp["config"]["batch"] == 2
    assert set(res["generation_ms_per_image"]) == {"batch_1", "batch_2"}
    eff = cmp["ours_efficiency"]
    assert eff["gflops_achieved"] == pytest.approx(eff["gflop_per_step"] / cmp["ours_median_s"],
                                                   rel=0.01)


def test_the_default_profile_step_feeds_the_generator_what_params_yaml_makes_it_read(tmp_path):
    # with dg.condition_vlad the generator reads the SEN embedding followed by the VLAD: the
    # benchmark's batch must have that width (it once gave the embedding alone and crashed)
    from dataclasses import replace

    import rdg_step

    from s2igan.config import load_params

    dg, rs, rdg, emb, e, _ = rdg_step.default_profile(load_params(ROOT / "params.yaml"),
                                                      torch.device("cpu"), str(tmp_path))
    dg = replace(dg, condition_vlad=2)
    step, nets = rdg_step.our_step(dg, rs, replace(rdg, batch_size=4), emb, e,
                                   torch.device("cpu"))
    assert nets.generator.input_dim == 3 * e
    out = step()
    assert out["d_loss"] > 0 and torch.isfinite(torch.tensor(out["g_loss"]))


OFFICIAL = bench.DEFAULT_CHECKOUT


@pytest.mark.skipif(not (OFFICIAL / "models" / "model.py").is_file(),
                    reason="no checkout of the official code (benchmarks/get_official.sh)")
def test_the_compared_networks_have_the_official_sizes():
    """Same configuration: our paper-profile discriminators and speech encoder have exactly as
    many parameters as the official ones. The generators differ by 0.75 %: the official
    NEXT_STAGE_G convolves the condition tiled as 128 extra channels, ours adds it as a
    per-sample bias (a linear map), and ours is densely connected (Eq. 10: stage 2 also reads
    the upsampled h_0), which the official G_NET at 8cca123 is not."""
    import rdg_step
    import sen_step
    from s2igan.rdg.discriminator import make_discriminators
    from s2igan.rdg.generator import Generator
    from s2igan.sen.config import SENConfig
    from s2igan.sen.model import SpeechEncoder

    peer, info = bench.load_official(OFFICIAL)
    assert info["status"] == "present", info
    dg, _, _ = rdg_step.paper_configs(2)
    trainer = peer.build_gan(2, torch.nn.Identity())
    ours_g = bench.nparams(Generator(dg, rdg_step.SPEECH_DIM))
    official_g = bench.nparams(trainer.netG)
    assert ours_g == pytest.approx(official_g, rel=0.01) and ours_g != official_g
    g = trainer.netG
    assert bench.nparams(Generator(dg, rdg_step.SPEECH_DIM).init) == bench.nparams(g.h_net1)
    assert (bench.nparams(make_discriminators(dg, rdg_step.SPEECH_DIM))
            == sum(bench.nparams(d) for d in trainer.netsD))
    _, audio = sen_step.official_step(peer, 2, 64)
    assert bench.nparams(SpeechEncoder(SENConfig())) == bench.nparams(audio)


@pytest.mark.parametrize("native", [False, True])
def test_precisions_times_bf16_only_where_native(monkeypatch, native):
    import s2igan.device as device_mod   # noqa: PLC0415

    monkeypatch.setattr(device_mod, "bf16_native", lambda device: native)
    # a clock that only the steps move, so the ratio does not depend on the machine's load (a
    # real sleep overshot by 90 % on a busy CI machine)
    clock = [0.0]
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    seen = []

    def make_step(amp):   # a "bf16 step" that takes half as long as the float32 one
        seen.append(amp)

        def step():
            clock[0] += 0.01 if amp else 0.02
        return step

    out = bench.precisions(make_step, torch.device("cpu"), rounds=2, sync=lambda: None,
                           per_call=2)
    assert seen == ([False, True] if native else [False])
    assert out["bf16_native"] is native
    assert set(out["median_step_s"]) == ({"float32", "bf16_autocast"} if native else {"float32"})
    assert all(len(v) == 2 for v in out["step_s"].values())
    if native:
        assert out["median_step_s"] == {"float32": 0.01, "bf16_autocast": 0.005}  # 2 per call
        assert out["speedup_bf16"] == 2.0
    else:
        assert out["speedup_bf16"] is None
