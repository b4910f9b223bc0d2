"""The benchmark behind `keras-sam benchmark`: datasets, models, runner, report.

A package of its own beside the library (installed with it; its third-party
packages come with the `[benchmark]` extra): it imports `keras_sam`, never
the other way round, and the command line (`keras_sam_cli`) imports it only
to train (`command.benchmark`). `runner.run_benchmark(config, dataset)`
trains ERM and each variant on the same data and seeds, measuring flatness
with the library's `keras_sam.flatness`; `report.write_all(results, folder)`
writes the table, JSON, CSV and plot; `data.load(name)` loads a dataset.
"""
