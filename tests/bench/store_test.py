"""runs.jsonl: appended run by run, resumed, never silently overwritten."""

import json

import pytest

from keras_sam_bench import store


def test_records_are_appended_as_they_finish_and_resume_reads_them(tmp_path):
    folder = str(tmp_path / "out")
    first = store.RunStore(folder, {"epochs": 2})
    first.add("final/erm/0", {"test_accuracy": 80.0})
    lines = (tmp_path / "out" / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["config", "run"]
    # An interrupted run: the second record never came. Resume trains only it.
    resumed = store.RunStore(folder, {"epochs": 2}, resume=True)
    trained = []

    def train(name):
        return lambda: trained.append(name) or {"test_accuracy": 1.0}

    assert resumed.run("final/erm/0", train("erm")) == {"test_accuracy": 80.0}
    resumed.run("final/sam/0", train("sam"))
    assert trained == ["sam"]
    assert set(store.RunStore(folder, {"epochs": 2}, resume=True).records) == {
        "final/erm/0", "final/sam/0"}


def test_an_output_folder_with_results_is_not_overwritten(tmp_path):
    folder = str(tmp_path / "out")
    store.RunStore(folder, {"epochs": 2}).add("final/erm/0", {"test_accuracy": 80.0})
    with pytest.raises(store.StoreError, match="already holds results.*--resume.*--overwrite"):
        store.RunStore(folder, {"epochs": 2})
    fresh = store.RunStore(folder, {"epochs": 2}, overwrite=True)
    assert fresh.records == {}
    assert len((tmp_path / "out" / "runs.jsonl").read_text().splitlines()) == 1


def test_resume_refuses_other_arguments_and_missing_files(tmp_path):
    folder = str(tmp_path / "out")
    with pytest.raises(store.StoreError, match="nothing to resume"):
        store.RunStore(folder, {"epochs": 2}, resume=True)
    store.RunStore(folder, {"epochs": 2, "seeds": [0]})
    with pytest.raises(store.StoreError, match="epochs: 2 then, 3 now"):
        store.RunStore(folder, {"epochs": 3, "seeds": [0]}, resume=True)
