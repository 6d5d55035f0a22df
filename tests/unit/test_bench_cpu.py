"""The benchmark's reading of the machine's CPU time (bench/cpu.py)."""

from __future__ import annotations

from bench.cpu import CpuTimes, parse_stat

STAT = """cpu  1000 50 300 5000 200 0 40 60 0 0
cpu0 500 25 150 2500 100 0 20 30 0 0
cpu1 500 25 150 2500 100 0 20 30 0 0
intr 123456 0 0
ctxt 987654
cpus_running 1
"""


def test_busy_idle_and_steal_are_summed_over_every_core_in_seconds() -> None:
    times = parse_stat(STAT, tick=100)
    # busy: user + nice + system + irq + softirq; idle: idle + iowait; "cpus_running" is not a core
    assert times == CpuTimes(busy=13.9, idle=52.0, steal=0.6, cores=2)


def test_a_round_is_the_difference_and_its_least_time_spreads_it_over_the_cores() -> None:
    later = parse_stat(STAT.replace("cpu  1000 50 300 5000 200", "cpu  2600 50 700 5400 200"), tick=100)
    round_ = later - parse_stat(STAT, tick=100)
    assert round_ == CpuTimes(busy=20.0, idle=4.0, steal=0.0, cores=2)
    assert round_.least_seconds == 10.0  # both cores busy from start to end
    assert round_.cores_busy(12.5) == 1.6
