"""The benchmark behind `keras-sam benchmark`: models, runner, flatness, report.

`runner.run_benchmark(config, dataset)` trains ERM and each variant on the
same data and seeds; `report.write_all(results, folder)` writes the table,
JSON, CSV and plot.
"""
