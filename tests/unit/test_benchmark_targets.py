"""The benchmark report judges each target from the medians it is given."""

from benchmarks import report
from benchmarks.scenarios import connect, throughput


def _entry(rate, ratio=None):
    entry = {"metrics": {"rate": {"median": rate}}, "ratios": {}}
    if ratio is not None:
        entry["ratios"]["rate"] = {"median": ratio}
    return entry


def _checks(analysed):
    return {
        (check["impl"], check["what"]): check["met"]
        for check in report.check_targets([throughput], {"throughput": analysed})
    }


def test_ratio_target_and_lead_over_podsixnet():
    checks = _checks(
        {
            "pygnetic-enet": _entry(900.0, ratio=0.9),
            "pygnetic-tcp": _entry(50.0, ratio=0.3),
            "podsixnet": _entry(100.0),
        }
    )
    assert checks[("pygnetic-enet", "messages/s ratio ≥ 0.8")] is True
    assert checks[("pygnetic-tcp", "messages/s ratio ≥ 0.8")] is False
    assert checks[("pygnetic-enet", "ahead of PodSixNet (messages/s)")] is True
    assert checks[("pygnetic-tcp", "ahead of PodSixNet (messages/s)")] is False


def test_a_failed_podsixnet_run_is_not_counted_as_a_lead():
    checks = [
        check
        for check in report.check_targets(
            [throughput],
            {"throughput": {"pygnetic-tcp": _entry(500.0, ratio=0.3), "podsixnet": {}}},
        )
        if "PodSixNet" in check["what"]
    ]
    assert [check["met"] for check in checks] == [None]
    assert "not measured" in report.targets_text(checks)


def test_connect_has_no_targets():
    """A connect happens once a session and pygnetic's includes its handshake:
    neither a ratio to raw nor a lead over PodSixNet is judged, only reported."""
    assert all(metric.target is None for metric in connect.METRICS)
    mine = {"metrics": {"median_ms": {"median": 1.0}}, "ratios": {"median_ms": {"median": 5.0}}}
    pod = {"metrics": {"median_ms": {"median": 0.3}}, "ratios": {"median_ms": {"median": 1.2}}}
    analysed = {"connect": {"pygnetic-tcp": mine, "podsixnet": pod}}
    assert report.check_targets([connect], analysed) == []


def _runs(*rates):
    return {"runs": [{"rate": rate} for rate in rates]}


def test_pygnetic_is_paired_with_its_hand_written_floor():
    """A row with an ``Impl.floor`` gets its paired ratios to that row, round by round,
    printed under their own heading; a row without one, or whose floor did not run, none."""
    analysed = {
        "throughput": {
            "hand-enet": _runs(100.0, 200.0, 400.0),
            "pygnetic-enet": _runs(50.0, 150.0, 100.0),
            "pygnetic-tcp": _runs(10.0, 20.0, 30.0),  # hand-tcp did not run
        }
    }
    floors = report.floors([throughput], analysed)
    rate = floors["throughput"]["pygnetic-enet"]["rate"]
    assert (rate["median"], rate["min"], rate["max"]) == (0.5, 0.25, 0.75)
    assert set(floors["throughput"]) == {"pygnetic-enet"}
    text = report.floors_text([throughput], floors)
    assert "throughput / pygnetic-enet ÷ hand-enet: messages/s 0.50\u00d7 [0.25\u20130.75]" in text
    assert report.variants([throughput], analysed) == {}


def _cpu_runs(*values):
    return {"runs": [{"rate": 1.0, "server_cpu_us": value} for value in values]}


def test_a_variant_target_bounds_the_paired_ratio_to_the_row_it_varies():
    """Receiving through pygame events may cost the server at most 1.3 times the
    handler path per message: judged from the paired ratios, a row that
    failed every round missing it, and judged in throughput only."""
    handler = _cpu_runs(2.0, 2.0, 2.0)
    analysed = {
        "pygnetic-enet": handler,
        "pygnetic-enet-events": _cpu_runs(2.4, 2.8, 2.2),  # ratios 1.2, 1.4, 1.1
        "pygnetic-tcp": handler,
        "pygnetic-tcp-events": {"runs": [None, None, None]},
    }
    varied = report.variants([throughput], {"throughput": analysed})
    checks = {c["impl"]: c for c in report.check_variant_targets([throughput], varied)}
    events = checks["pygnetic-enet-events"]
    assert events["met"] is True and abs(events["value"] - 1.2) < 1e-9
    assert events["what"] == "server CPU per msg ÷ pygnetic-enet ≤ 1.3"
    assert checks["pygnetic-tcp-events"]["met"] is False
    assert checks["pygnetic-tcp-events"]["value"] is None
    assert report.check_variant_targets([connect], {"connect": varied["throughput"]}) == []
